import { describe, expect, it } from 'vitest';
import type { Activity, Application, AppState, Device, RevisionOutcome } from '../api/types';
import { parseSelector, rollbackTarget } from '../model';
import { emptyActivity } from './activity';
import { emptyFleet, fleetReducer } from './fleet';

function device(name: string, hb: number | null, apps: { name: string; state: AppState }[] = []): Device {
  return {
    meta: { name },
    spec: { board: 'mps2-an385', labels: { app: 'demo' } },
    status: {
      phase: 'Online',
      session: { lastHeartbeatMs: hb, apps: apps.map((a) => ({ ...a, version: '1', digest: 'd', revision: 1 })) },
    },
  };
}

function snapshot(devices: Device[], activity: Activity = emptyActivity) {
  return { type: 'snapshot' as const, data: { devices, applications: [], gateways: [], activity } };
}

describe('fleetReducer', () => {
  it('replaces everything on a snapshot and keeps the page’s log lines across reconnects', () => {
    let s = fleetReducer(emptyFleet, { event: snapshot([device('a', 1)]), atMs: 0 });
    s = fleetReducer(s, { event: { type: 'log', data: { device: 'a', app: 'hello', uptimeMs: 1, receivedMs: 2, line: 'hi' } }, atMs: 0 });
    s = fleetReducer(s, { event: snapshot([device('b', 1)]), atMs: 0 });
    expect(Object.keys(s.devices)).toEqual(['b']);
    expect(s.loaded).toBe(true);
    expect(s.logs.a?.length).toBe(1);
  });

  it('applies a heartbeat event to the device it names and counts it', () => {
    let s = fleetReducer(emptyFleet, { event: snapshot([device('a', 1, [{ name: 'hello', state: 'running' }])]), atMs: 0 });
    s = fleetReducer(s, { event: { type: 'heartbeat', data: { name: 'a', lastHeartbeatMs: 99, uptimeMs: 5, freeMemory: 7 } }, atMs: 0 });
    expect(s.devices.a?.status?.session?.lastHeartbeatMs).toBe(99);
    expect(s.devices.a?.status?.session?.apps?.[0]?.name).toBe('hello');
    expect(s.activity.buckets).toEqual([{ startMs: 0, heartbeats: 1, failures: 0 }]);
    const unknown = fleetReducer(s, { event: { type: 'heartbeat', data: { name: 'ghost', lastHeartbeatMs: 1 } }, atMs: 0 });
    expect(Object.keys(unknown.devices)).toEqual(['a']);
  });

  it('counts a heartbeat when lastHeartbeatMs moves, and an app failure once', () => {
    let s = fleetReducer(emptyFleet, { event: snapshot([device('a', 1)]), atMs: 0 });
    s = fleetReducer(s, { event: { type: 'device', data: device('a', 2) }, atMs: 1000 });
    s = fleetReducer(s, { event: { type: 'device', data: device('a', 2, [{ name: 'hello', state: 'failed' }]) }, atMs: 2000 });
    s = fleetReducer(s, { event: { type: 'device', data: device('a', 3, [{ name: 'hello', state: 'failed' }]) }, atMs: 3000 });
    expect(s.activity.buckets).toEqual([{ startMs: 0, heartbeats: 2, failures: 1 }]);
  });

  it('takes the platform’s activity from each snapshot and counts the stream on top of it', () => {
    const t = 1_700_000_000_000;
    const platform = { bucketMs: 10_000, buckets: [{ startMs: t - 20_000, heartbeats: 4, failures: 1 }, { startMs: t, heartbeats: 2, failures: 0 }] };
    let s = fleetReducer(emptyFleet, { event: { type: 'heartbeat', data: { name: 'a', lastHeartbeatMs: 1 } }, atMs: t });
    s = fleetReducer(s, { event: snapshot([device('a', 1)], platform), atMs: t + 1000 });
    // The platform's count, not the page's: it already holds what the page saw before.
    expect(s.activity).toEqual(platform);
    s = fleetReducer(s, { event: { type: 'heartbeat', data: { name: 'a', lastHeartbeatMs: 2 } }, atMs: t + 2000 });
    s = fleetReducer(s, { event: { type: 'heartbeat', data: { name: 'a', lastHeartbeatMs: 3 } }, atMs: t + 12_000 });
    expect(s.activity.buckets).toEqual([
      { startMs: t - 20_000, heartbeats: 4, failures: 1 },
      { startMs: t, heartbeats: 3, failures: 0 },
      { startMs: t + 10_000, heartbeats: 1, failures: 0 },
    ]);
    // A reconnect's snapshot brings the platform's count again, which covers the gap.
    const later = { bucketMs: 10_000, buckets: [{ startMs: t + 60_000, heartbeats: 9, failures: 0 }] };
    s = fleetReducer(s, { event: snapshot([device('a', 3)], later), atMs: t + 65_000 });
    expect(s.activity).toEqual(later);
  });

  it('forgets a deleted device and its logs', () => {
    let s = fleetReducer(emptyFleet, { event: snapshot([device('a', 1)]), atMs: 0 });
    s = fleetReducer(s, { event: { type: 'deleted', data: { kind: 'device', name: 'a' } }, atMs: 0 });
    expect(s.devices).toEqual({});
  });
});

describe('parseSelector', () => {
  it('matches as the platform does', () => {
    const s = parseSelector('app=demo, !canary, site!=lab');
    if (!('matches' in s)) throw new Error(s.error);
    expect(s.matches({ app: 'demo' })).toBe(true);
    expect(s.matches({ app: 'demo', canary: 'x' })).toBe(false);
    expect(s.matches({ app: 'demo', site: 'lab' })).toBe(false);
    expect(parseSelector('')).toHaveProperty('matches');
    expect(parseSelector('app=,x')).toHaveProperty('error');
    expect(parseSelector('a,,b')).toHaveProperty('error');
  });
});

describe('rollbackTarget', () => {
  const app = (revision: number, stable: number | null, outcomes: (RevisionOutcome | null)[]): Application => ({
    meta: { name: 'a' },
    spec: { version: '1', digest: 'd', size: 1, capabilities: [], limits: { fuelPerCall: 1, maxMemoryPages: 1, tickMs: 10 }, selector: '', strategy: { type: 'all-at-once' } },
    status: {
      revision,
      stableRevision: stable,
      history: outcomes.map((outcome, i) => ({ revision: i + 1, createdMs: 0, outcome, template: { version: '1', digest: 'd', size: 1, capabilities: [], limits: { fuelPerCall: 1, maxMemoryPages: 1, tickMs: 10 } } })),
    },
  });
  it('is the stable revision while another is current, else the newest earlier completed one', () => {
    expect(rollbackTarget(app(3, 2, ['Completed', 'Completed', null]))).toBe(2);
    expect(rollbackTarget(app(3, 3, ['Completed', 'RolledBack', 'Completed']))).toBe(1);
    expect(rollbackTarget(app(1, 1, ['Completed']))).toBeNull();
  });
});
