import { describe, expect, it } from 'vitest';
import type { Aggregate, Point, SeriesRange } from '../api/types';
import {
  addToFleet,
  append,
  BUCKET_MS,
  bound,
  combine,
  drawable,
  emptySeries,
  fleetDrawable,
  fleetFromRange,
  fleetSince,
  latestOf,
  MAX_BUCKETS,
  merge,
  toColumns,
  valueRange,
} from './telemetry';

const T = 1_700_000_040_000; // a whole minute
const pt = (s: number, value: number): Point => ({ tMs: T + s * 1000, value });
const agg = (tMs: number, min: number, mean: number, max: number, count: number): Aggregate => ({ tMs, min, mean, max, count });

describe('merging a range and live samples', () => {
  it('is the same whichever arrives first, with a sample in both once', () => {
    const range: SeriesRange = { buckets: [agg(T - 2 * BUCKET_MS, 19, 20, 21, 60)], points: [pt(0, 21), pt(1, 21.5), pt(2, 22)] };
    // The stream delivered 2 s (also in the range) and 3 s (after it) before the range came back.
    const live = append(append(emptySeries, pt(2, 22)), pt(3, 22.5));
    const rangeFirst = append(append(merge(emptySeries, range), pt(2, 22)), pt(3, 22.5));
    const liveFirst = merge(live, range);
    expect(liveFirst).toEqual(rangeFirst);
    expect(liveFirst.points).toEqual([pt(0, 21), pt(1, 21.5), pt(2, 22), pt(3, 22.5)]);
    expect(liveFirst.buckets).toEqual(range.buckets);
  });

  it('keeps two different values at the same time, and puts a late sample in its place', () => {
    let s = merge(emptySeries, { buckets: [], points: [pt(0, 1), pt(2, 3)] });
    s = append(s, pt(1, 2));
    s = append(s, pt(2, 4));
    expect(s.points).toEqual([pt(0, 1), pt(1, 2), pt(2, 3), pt(2, 4)]);
  });

  it('keeps the fuller of two buckets of the same minute, and no bucket where points say more', () => {
    const a: SeriesRange = { buckets: [agg(T - BUCKET_MS, 1, 2, 3, 10)], points: [] };
    const b: SeriesRange = { buckets: [agg(T - BUCKET_MS, 1, 2.5, 4, 40)], points: [] };
    expect(merge(a, b).buckets).toEqual([agg(T - BUCKET_MS, 1, 2.5, 4, 40)]);
    // A point inside that minute: the bucket does not end by it, so the point wins.
    expect(merge(a, { buckets: [], points: [{ tMs: T - 1000, value: 9 }] }).buckets).toEqual([]);
  });
});

describe('bounding', () => {
  it('folds the oldest points into minute buckets, whole minutes at a time, keeping every value counted', () => {
    // 150 points, one a second, from a whole minute: 2.5 minutes.
    const points = Array.from({ length: 150 }, (_, i) => pt(i, i));
    const s = bound({ buckets: [], points }, 100);
    // 50 too many: the first minute (0..59) is folded whole.
    expect(s.points.length).toBe(90);
    expect(s.points[0]).toEqual(pt(60, 60));
    expect(s.buckets).toEqual([agg(T, 0, 29.5, 59, 60)]);
    const counted = s.buckets.reduce((n, k) => n + k.count, 0) + s.points.length;
    expect(counted).toBe(150);
    // Every bucket ends by the first point (the platform's rule, which merge keeps).
    expect(s.buckets.every((k) => k.tMs + BUCKET_MS <= (s.points[0]?.tMs ?? Infinity))).toBe(true);
  });

  it('stays within the bound however many samples the stream brings', () => {
    let s = emptySeries;
    for (let i = 0; i < 1000; i++) s = append(s, pt(i, Math.sin(i)), 120);
    expect(s.points.length).toBeLessThanOrEqual(120);
    expect(s.buckets.reduce((n, k) => n + k.count, 0) + s.points.length).toBe(1000);
    expect(latestOf(s)).toEqual(agg(T + 999_000, Math.sin(999), Math.sin(999), Math.sin(999), 1));
  });

  it('keeps at most a day of buckets', () => {
    const buckets = Array.from({ length: MAX_BUCKETS + 5 }, (_, i) => agg(T + i * BUCKET_MS, 0, 0, 0, 1));
    const s = bound({ buckets, points: [] });
    expect(s.buckets.length).toBe(MAX_BUCKETS);
    expect(s.buckets[0]?.tMs).toBe(T + 5 * BUCKET_MS);
  });

  it('changes nothing within the bound', () => {
    const s: SeriesRange = { buckets: [], points: [pt(0, 1)] };
    expect(bound(s)).toBe(s);
  });
});

describe('what a chart draws', () => {
  it('dates buckets at their middle, before the points', () => {
    const s: SeriesRange = { buckets: [agg(T - BUCKET_MS, 1, 2, 3, 60)], points: [pt(0, 5)] };
    expect(drawable(s)).toEqual([agg(T - BUCKET_MS / 2, 1, 2, 3, 60), agg(T, 5, 5, 5, 1)]);
  });

  it('draws at most one aggregate per column, keeping extremes and the count-weighted mean', () => {
    const items = Array.from({ length: 100 }, (_, i) => agg(T + i * 1000, i, i, i, 1));
    const cols = toColumns(items, T, T + 100_000, 10);
    expect(cols.length).toBe(10);
    expect(cols[0]).toEqual(agg(T + 5000, 0, 4.5, 9, 10));
    expect(cols[9]).toEqual(agg(T + 95_000, 90, 94.5, 99, 10));
    expect(cols.reduce((n, k) => n + k.count, 0)).toBe(100);
  });

  it('leaves out what is outside the window and leaves few values as they are', () => {
    const items = [agg(T - 1, 0, 0, 0, 1), agg(T + 10, 1, 1, 1, 1), agg(T + 20, 2, 2, 2, 1), agg(T + 101, 3, 3, 3, 1)];
    expect(toColumns(items, T, T + 100, 10)).toEqual([agg(T + 10, 1, 1, 1, 1), agg(T + 20, 2, 2, 2, 1)]);
  });

  it('widens the scale around its data, also around a flat line', () => {
    expect(valueRange([agg(T, 10, 15, 20, 2)])).toEqual({ lo: 9, hi: 21 });
    expect(valueRange([agg(T, 10, 10, 10, 1)])).toEqual({ lo: 9, hi: 11 });
    expect(valueRange([])).toBeNull();
  });

  it('combines aggregates by count', () => {
    expect(combine(agg(T, 1, 2, 3, 1), agg(T + 5, 0, 6, 9, 3))).toEqual(agg(T, 0, 5, 9, 4));
  });
});

describe('a fleet series', () => {
  const STEP = 5000;

  it('adds the stream’s samples to the platform’s steps, on the platform’s grid from the range’s start', () => {
    const from = T + 1234; // the grid starts at `from`, not on a whole step
    const view = fleetFromRange({ stepMs: STEP, devices: 2, buckets: [agg(from, 20, 21, 22, 2)] }, from, from + 60_000, []);
    const v = addToFleet(addToFleet(view, { tMs: from + 4999, value: 24 }), { tMs: from + 5000, value: 30 });
    expect(v.buckets).toEqual([agg(from, 20, 22, 24, 3), agg(from + 5000, 30, 30, 30, 1)]);
  });

  it('counts a sample that came before the range only when the range cannot hold it', () => {
    const from = T;
    const to = T + 60_000;
    const r = { stepMs: STEP, devices: 1, buckets: [agg(to - 5000, 1, 1, 1, 1)] };
    // The first is dated within the range (so it is in the answer), the second after it.
    const v = fleetFromRange(r, from, to, [
      { tMs: to - 10, value: 1 },
      { tMs: to + 10, value: 3 },
    ]);
    expect(v.buckets).toEqual([agg(to - 5000, 1, 1, 1, 1), agg(to, 3, 3, 3, 1)]);
  });

  it('drops steps the window has moved past, and dates steps at their middle, the one still filling at now', () => {
    const v = { originMs: T, stepMs: STEP, buckets: [agg(T, 1, 1, 1, 1), agg(T + STEP, 2, 2, 2, 1)] };
    expect(fleetSince(v, T + STEP).buckets).toEqual([agg(T + STEP, 2, 2, 2, 1)]);
    expect(fleetSince(v, T + 1)).toBe(v);
    expect(fleetDrawable(v, T + 2 * STEP).map((k) => k.tMs)).toEqual([T + STEP / 2, T + STEP * 1.5]);
    // A second into the second step: it is drawn at now, inside the chart.
    expect(fleetDrawable(v, T + STEP + 1000).map((k) => k.tMs)).toEqual([T + STEP / 2, T + STEP + 1000]);
  });
});
