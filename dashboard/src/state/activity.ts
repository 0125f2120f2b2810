// Heartbeats and app failures per bucket over the last ten minutes. The
// platform counts them (the snapshot's `activity`); the page takes that
// count on every snapshot and adds what the stream delivers after it.
// Pure: times are passed in.

import type { Activity, ActivityBucket } from '../api/types';

/** What the chart shows. */
export const WINDOW_MS = 10 * 60_000;
/** Bucket width until the platform says otherwise (it counts in 10 s buckets). */
export const BUCKET_MS = 10_000;

export const emptyActivity: Activity = { bucketMs: BUCKET_MS, buckets: [] };

/** The platform's count, oldest bucket first, empty buckets dropped. */
export function fromPlatform(a: Activity): Activity {
  const bucketMs = a.bucketMs > 0 ? a.bucketMs : BUCKET_MS;
  const buckets = a.buckets.filter((b) => b.heartbeats > 0 || b.failures > 0).sort((x, y) => x.startMs - y.startMs);
  return { bucketMs, buckets };
}

/**
 * Adds to the bucket holding `atMs`, dropping buckets older than the
 * window. New buckets follow the phase of the last one, so the page's
 * buckets line up with the platform's however it aligns them.
 */
export function count(activity: Activity, atMs: number, heartbeats: number, failures: number): Activity {
  if (heartbeats === 0 && failures === 0) return activity;
  const { bucketMs } = activity;
  const last = activity.buckets[activity.buckets.length - 1];
  const origin = last?.startMs ?? 0;
  const start = origin + Math.floor((atMs - origin) / bucketMs) * bucketMs;
  const buckets = activity.buckets.filter((b) => b.startMs > atMs - WINDOW_MS);
  const i = buckets.findIndex((b) => b.startMs === start);
  const old = buckets[i];
  if (old) {
    buckets[i] = { ...old, heartbeats: old.heartbeats + heartbeats, failures: old.failures + failures };
  } else {
    buckets.push({ startMs: start, heartbeats, failures });
    buckets.sort((x, y) => x.startMs - y.startMs);
  }
  return { bucketMs, buckets };
}

/**
 * The window ending at `now` as one slot per bucket width, oldest first;
 * each bucket goes into the slot its start falls in.
 */
export function slots(activity: Activity, now: number): ActivityBucket[] {
  const { bucketMs } = activity;
  const n = Math.max(1, Math.round(WINDOW_MS / bucketMs));
  const first = (Math.floor(now / bucketMs) - (n - 1)) * bucketMs;
  const out = Array.from({ length: n }, (_, i) => ({ startMs: first + i * bucketMs, heartbeats: 0, failures: 0 }));
  for (const b of activity.buckets) {
    const slot = out[Math.floor((b.startMs - first) / bucketMs)];
    if (!slot) continue; // outside the window
    slot.heartbeats += b.heartbeats;
    slot.failures += b.failures;
  }
  return out;
}
