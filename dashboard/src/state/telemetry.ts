// What a telemetry chart holds and draws. A chart starts from what the
// platform kept (a range query) and adds each sample the event stream
// delivers after; the two overlap, arrive in either order, and are merged
// in time order with no sample twice. Memory is bounded: past MAX_POINTS
// the oldest points are folded into one-minute buckets, as the platform
// folds its own. Pure: times are passed in.
//
// Two shapes:
// - a device's series (SeriesRange): full-rate points, and buckets
//   (min, mean, max, count) before the first of them;
// - an application's fleet series (FleetView): one bucket per step from an
//   origin, over every device's points in it.
// Both are drawn as Aggregates dated at the middle of what they cover
// (a point is an aggregate of one), at most one per column of the chart.

import type { Aggregate, FleetSeries, Point, SeriesRange } from '../api/types';

/** Full-rate points a chart keeps: an hour at one sample a second (about 60 KB). */
export const MAX_POINTS = 3600;
/** Width of the buckets older points are folded into: the platform's (its downsampled series are one-minute buckets). */
export const BUCKET_MS = 60_000;
/** Buckets a chart keeps: a day of them. */
export const MAX_BUCKETS = 24 * 60;

/** The time windows a chart offers, and the step a fleet chart asks for in each (60 steps). */
export const WINDOWS = {
  '5 min': { ms: 5 * 60_000, stepMs: 5_000 },
  '15 min': { ms: 15 * 60_000, stepMs: 15_000 },
  '1 h': { ms: 60 * 60_000, stepMs: 60_000 },
} as const satisfies Record<string, { ms: number; stepMs: number }>;
export type WindowName = keyof typeof WINDOWS;
export const WINDOW_NAMES = Object.keys(WINDOWS) as WindowName[];
export const DEFAULT_WINDOW: WindowName = '5 min';

export const emptySeries: SeriesRange = { buckets: [], points: [] };

/** One aggregate of `a` and `b` (the count-weighted mean), dated as `a`. */
export function combine(a: Aggregate, b: Aggregate): Aggregate {
  const count = a.count + b.count;
  return {
    tMs: a.tMs,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    mean: count > 0 ? (a.mean * a.count + b.mean * b.count) / count : a.mean,
    count,
  };
}

/** A point as an aggregate of one. */
export function single({ tMs, value }: Point): Aggregate {
  return { tMs, min: value, mean: value, max: value, count: 1 };
}

/** Start of the bucket of `bucketMs` holding `tMs`, aligned as the platform aligns its own. */
function bucketStart(tMs: number, bucketMs: number): number {
  return tMs - (tMs % bucketMs);
}

/**
 * `a` and `b` as one series, then bounded: points in time order, a point
 * in both (same time, same value) once; of two buckets of the same minute
 * the fuller (both summarise that minute; adding them would count it
 * twice); and only buckets that ended by the first point, as the platform
 * answers (where there are points, they say more).
 */
export function merge(a: SeriesRange, b: SeriesRange, maxPoints = MAX_POINTS): SeriesRange {
  const points = [...a.points, ...b.points].sort((x, y) => x.tMs - y.tMs || x.value - y.value);
  const unique = points.filter((p, i) => {
    const prev = points[i - 1];
    return !prev || prev.tMs !== p.tMs || prev.value !== p.value;
  });
  const byStart = new Map<number, Aggregate>();
  for (const k of [...a.buckets, ...b.buckets]) {
    const old = byStart.get(k.tMs);
    if (!old || k.count > old.count) byStart.set(k.tMs, k);
  }
  const first = unique[0]?.tMs ?? Infinity;
  const buckets = [...byStart.values()].filter((k) => k.tMs + BUCKET_MS <= first).sort((x, y) => x.tMs - y.tMs);
  return bound({ buckets, points: unique }, maxPoints);
}

/** Adds one point: the stream's newest, usually after the last one held. */
export function append(s: SeriesRange, p: Point, maxPoints = MAX_POINTS): SeriesRange {
  const last = s.points[s.points.length - 1];
  if (last && p.tMs <= last.tMs) return merge(s, { buckets: [], points: [p] }, maxPoints);
  return bound({ buckets: s.buckets, points: [...s.points, p] }, maxPoints);
}

/**
 * At most `maxPoints` points and MAX_BUCKETS buckets: the oldest points
 * are folded into buckets, whole minutes at a time (so every bucket still
 * ends by the first point), and the oldest buckets go.
 */
export function bound(s: SeriesRange, maxPoints = MAX_POINTS): SeriesRange {
  const excess = s.points.length - maxPoints;
  if (excess <= 0 && s.buckets.length <= MAX_BUCKETS) return s;
  let { buckets, points } = s;
  const oldest = points[excess - 1];
  if (excess > 0 && oldest) {
    const cut = bucketStart(oldest.tMs, BUCKET_MS) + BUCKET_MS;
    const keep = points.findIndex((p) => p.tMs >= cut);
    const folded = keep < 0 ? points : points.slice(0, keep);
    points = keep < 0 ? [] : points.slice(keep);
    buckets = [...buckets];
    for (const p of folded) {
      const start = bucketStart(p.tMs, BUCKET_MS);
      const last = buckets[buckets.length - 1];
      if (last && last.tMs === start) buckets[buckets.length - 1] = combine(last, single(p));
      else buckets.push({ ...single(p), tMs: start });
    }
  }
  return { buckets: buckets.slice(-MAX_BUCKETS), points };
}

/** The newest point, or failing that the newest bucket's mean. */
export function latestOf(s: SeriesRange): Aggregate | null {
  const p = s.points[s.points.length - 1];
  if (p) return single(p);
  return s.buckets[s.buckets.length - 1] ?? null;
}

/** A series as a chart draws it: buckets dated at their middle, then the points. */
export function drawable(s: SeriesRange): Aggregate[] {
  return [...s.buckets.map((k) => ({ ...k, tMs: k.tMs + BUCKET_MS / 2 })), ...s.points.map(single)];
}

/**
 * What a chart of `columns` columns draws from `fromMs` to `toMs`: the
 * aggregates dated within it, in time order; when there are more than
 * columns, those of each column combined into one dated at its middle (so
 * the smallest and largest value survive, and the mean is weighed by count).
 */
export function toColumns(items: readonly Aggregate[], fromMs: number, toMs: number, columns: number): Aggregate[] {
  const inside = items.filter((k) => k.tMs >= fromMs && k.tMs <= toMs).sort((x, y) => x.tMs - y.tMs);
  if (inside.length <= columns || toMs <= fromMs) return inside;
  const width = (toMs - fromMs) / columns;
  const out: Aggregate[] = [];
  let col = -1;
  for (const k of inside) {
    const c = Math.min(columns - 1, Math.floor((k.tMs - fromMs) / width));
    const last = out[out.length - 1];
    if (c === col && last) out[out.length - 1] = combine(last, k);
    else out.push({ ...k, tMs: fromMs + (c + 0.5) * width });
    col = c;
  }
  return out;
}

/** The values a chart's scale spans: its data's, widened a little so a flat line is not on the edge. */
export function valueRange(items: readonly Aggregate[]): { lo: number; hi: number } | null {
  if (items.length === 0) return null;
  let lo = Infinity;
  let hi = -Infinity;
  for (const k of items) {
    lo = Math.min(lo, k.min);
    hi = Math.max(hi, k.max);
  }
  const pad = hi > lo ? (hi - lo) * 0.1 : Math.max(1, Math.abs(hi) * 0.05);
  return { lo: lo - pad, hi: hi + pad };
}

/**
 * An application's metric over its devices: a bucket per `stepMs` from
 * `originMs` (the platform's grid: it starts its steps at the range's
 * `from`), oldest first.
 */
export interface FleetView {
  originMs: number;
  stepMs: number;
  buckets: Aggregate[];
}

/**
 * The platform's answer for the range from `originMs` to `toMs`, plus the
 * samples the stream delivered meanwhile that it cannot hold: those dated
 * after `toMs` (the platform dates a sample as it records it, before the
 * stream sends it, so one dated by `toMs` is in the answer).
 */
export function fleetFromRange(r: FleetSeries, originMs: number, toMs: number, early: readonly Point[]): FleetView {
  let view: FleetView = { originMs, stepMs: r.stepMs > 0 ? r.stepMs : 1000, buckets: r.buckets };
  for (const p of early) if (p.tMs > toMs) view = addToFleet(view, p);
  return view;
}

/** Adds one device's sample to the step holding it. */
export function addToFleet(view: FleetView, p: Point): FleetView {
  const { originMs, stepMs } = view;
  const start = originMs + Math.floor((p.tMs - originMs) / stepMs) * stepMs;
  const buckets = [...view.buckets];
  const i = buckets.findIndex((k) => k.tMs === start);
  const old = buckets[i];
  if (old) buckets[i] = combine(old, single(p));
  else {
    buckets.push({ ...single(p), tMs: start });
    buckets.sort((x, y) => x.tMs - y.tMs);
  }
  return { ...view, buckets };
}

/** A fleet view without the steps that ended by `fromMs` (the chart's window has moved past them). */
export function fleetSince(view: FleetView, fromMs: number): FleetView {
  const buckets = view.buckets.filter((k) => k.tMs + view.stepMs > fromMs);
  return buckets.length === view.buckets.length ? view : { ...view, buckets };
}

/**
 * A fleet view as a chart draws it: each step dated at its middle, but
 * none after `nowMs` (the step still filling is drawn at now, not
 * past the chart's edge).
 */
export function fleetDrawable(view: FleetView, nowMs: number): Aggregate[] {
  return view.buckets.map((k) => ({ ...k, tMs: Math.min(k.tMs + view.stepMs / 2, Math.max(k.tMs, nowMs)) }));
}
