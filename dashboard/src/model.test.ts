import { describe, expect, it } from 'vitest';
import type { Board, Device, Gateway, Revision } from './api/types';
import { ago, appOfSlot, byName, edgeSlotsOf, formatValue, isAttached, nativeBuilds, pairsText, parseGate, parsePairs, slotsOf, words } from './model';

describe('model', () => {
  it('says what each board runs for a native revision, and why a board falls back', () => {
    const template = { version: '1', digest: 'ab', size: 1, capabilities: [], limits: { fuelPerCall: 1, maxMemoryPages: 1, tickMs: 10 } };
    const rev = (execution: 'interpreted' | 'auto', native: Revision['native']) =>
      ({ revision: 1, createdMs: 0, template: { ...template, execution }, native }) as Revision;
    const builds: Revision['native'] = [
      { board: 'mps2-an385', state: 'Built', artifact: { board: 'mps2-an385', digest: 'cd'.repeat(32), size: 8610, compiler: 'gcc' } },
      { board: 'sim', state: 'Failed', reason: 'the host simulator runs no native code: interpreted' },
    ];
    expect(nativeBuilds(rev('auto', builds))).toEqual([
      { board: 'mps2-an385', runs: 'native', detail: '8610 B', digest: 'cd'.repeat(32) },
      { board: 'sim', runs: 'interpreted', detail: 'the host simulator runs no native code: interpreted' },
    ]);
    expect(nativeBuilds(rev('interpreted', builds))).toEqual([]);
  });

  it('names the application of every slot slotsOf finds for it', () => {
    const d = { status: { session: { apps: [{ name: 'hello' }, { name: 'hello.r2' }, { name: 'hello-world' }] } } } as unknown as Device;
    expect(slotsOf('hello', d).map((s) => appOfSlot(s.name))).toEqual(['hello', 'hello']);
    expect(appOfSlot('hello-world')).toBe('hello-world');
  });

  it('finds an edge application on a gateway, one slot per board it drives', () => {
    const edge = [{ name: 'blink' }, { name: 'blink@vld-1' }, { name: 'blinker' }, { name: 'blink.r3' }, { name: 'blink.r3@vld-2' }];
    const g = { status: { edge } } as unknown as Gateway;
    expect(edgeSlotsOf('blink', g).map((s) => s.name)).toEqual(['blink', 'blink@vld-1', 'blink.r3', 'blink.r3@vld-2']);
    expect(edgeSlotsOf('blink', {} as Gateway)).toEqual([]);
  });

  it('says how long ago, or what the caller calls no time', () => {
    expect(ago(1_000, 13_000)).toBe('12 s ago');
    expect(ago(undefined, 13_000)).toBe('never');
    expect(ago(null, 13_000, '–')).toBe('–');
  });

  it('tells an attached board from the board list', () => {
    const boards = [
      { name: 'stm32vldiscovery', emulated: true, attached: true, supported: true },
      { name: 'mps2-an385', emulated: true, attached: false, supported: true },
    ] as Board[];
    const on = (board: string) => ({ spec: { board } }) as Device;
    expect(isAttached(on('stm32vldiscovery'), boards)).toBe(true);
    expect(isAttached(on('mps2-an385'), boards)).toBe(false);
    expect(isAttached(on('unknown'), boards)).toBe(false);
  });

  it('lists resources in name order', () => {
    const r = (name: string) => ({ meta: { name } }) as Device;
    expect(byName([r('b'), r('a')]).map((x) => x.meta.name)).toEqual(['a', 'b']);
  });

  it('reads key=value pairs back from the text it writes, naming the field of a bad term', () => {
    expect(parsePairs('config', ' threshold_c=30 , mode = eco,')).toEqual({ threshold_c: '30', mode: 'eco' });
    expect(parsePairs('config', pairsText({ a: '1', b: 'x' }))).toEqual({ a: '1', b: 'x' });
    expect(parsePairs('config', 'threshold_c')).toBe('config: "threshold_c" is not key=value');
    expect(parsePairs('labels', '=x')).toBe('labels: "=x" is not key=value');
    expect(words(' gpio:led0, ,i2c:0:0x48 ')).toEqual(['gpio:led0', 'i2c:0:0x48']);
  });

  it('reads a metric gate the platform accepted, and nothing else', () => {
    expect(parseGate('temp_c < 80')).toEqual({ metric: 'temp_c', op: '<', bound: 80 });
    expect(parseGate(' error_rate<=0.01 ')).toEqual({ metric: 'error_rate', op: '<=', bound: 0.01 });
    expect(parseGate('temp_c > -5e1')).toEqual({ metric: 'temp_c', op: '>', bound: -50 });
    expect(parseGate('temp_c == 80')).toBeNull();
    expect(parseGate('temp_c < 8.0.0')).toBeNull();
  });

  it('shows metric values short', () => {
    expect(formatValue(31.5)).toBe('31.5');
    expect(formatValue(21.4375)).toBe('21.44');
    expect(formatValue(0.00125)).toBe('0.0013');
    expect(formatValue(12)).toBe('12');
    expect(formatValue(-0.5)).toBe('-0.5');
  });
});
