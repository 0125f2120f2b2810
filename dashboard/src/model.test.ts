import { describe, expect, it } from 'vitest';
import type { Device } from './api/types';
import { ago, appOfSlot, byName, slotsOf } from './model';

describe('model', () => {
  it('names the application of every slot slotsOf finds for it', () => {
    const d = { status: { session: { apps: [{ name: 'hello' }, { name: 'hello.r2' }, { name: 'hello-world' }] } } } as unknown as Device;
    expect(slotsOf('hello', d).map((s) => appOfSlot(s.name))).toEqual(['hello', 'hello']);
    expect(appOfSlot('hello-world')).toBe('hello-world');
  });

  it('says how long ago, or what the caller calls no time', () => {
    expect(ago(1_000, 13_000)).toBe('12 s ago');
    expect(ago(undefined, 13_000)).toBe('never');
    expect(ago(null, 13_000, '–')).toBe('–');
  });

  it('lists resources in name order', () => {
    const r = (name: string) => ({ meta: { name } }) as Device;
    expect(byName([r('b'), r('a')]).map((x) => x.meta.name)).toEqual(['a', 'b']);
  });
});
