import { describe, expect, it } from 'vitest';
import type { TelemetrySample } from '../api/types';
import { matches, TelemetryFeed } from './telemetry-feed';

const sample = (device: string, app: string, metric: string, value = 1): TelemetrySample => ({ device, app, metric, tMs: 1, value, revision: null });

describe('TelemetryFeed', () => {
  it('hands each subscriber only the samples its filter matches, until it unsubscribes', () => {
    const feed = new TelemetryFeed();
    const got: string[] = [];
    const off = feed.subscribe({ device: 'd1', metric: 'temp_c' }, { sample: (s) => got.push(`${s.device}/${s.metric}`), resync: () => got.push('resync') });
    feed.publish(sample('d1', 'thermostat', 'temp_c'));
    feed.publish(sample('d2', 'thermostat', 'temp_c'));
    feed.publish(sample('d1', 'thermostat', 'msg_len'));
    feed.resync();
    off();
    feed.publish(sample('d1', 'thermostat', 'temp_c'));
    feed.resync();
    expect(got).toEqual(['d1/temp_c', 'resync']);
  });

  it('lets one listener subscribe twice and end each subscription alone', () => {
    const feed = new TelemetryFeed();
    let n = 0;
    const l = { sample: () => (n += 1), resync: () => {} };
    const off1 = feed.subscribe({}, l);
    feed.subscribe({}, l);
    off1();
    feed.publish(sample('d', 'a', 'm'));
    expect(n).toBe(1);
  });

  it('matches an application on every slot of it (blue-green keeps `app.rN` beside `app`)', () => {
    expect(matches({ app: 'thermostat' }, sample('d', 'thermostat.r3', 'temp_c'))).toBe(true);
    expect(matches({ app: 'thermostat' }, sample('d', 'thermostat-2', 'temp_c'))).toBe(false);
    expect(matches({}, sample('d', 'x', 'y'))).toBe(true);
  });
});
