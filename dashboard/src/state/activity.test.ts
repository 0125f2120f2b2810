import { describe, expect, it } from 'vitest';
import { count, emptyActivity, fromPlatform, slots, WINDOW_MS } from './activity';

const T = 1_700_000_000_000; // a multiple of 10 s
const B = 10_000;

describe('count', () => {
  it('adds to the bucket holding the time and drops buckets older than the window', () => {
    let a = count(emptyActivity, T + 1, 1, 0);
    a = count(a, T + 9_999, 1, 1);
    expect(a.buckets).toEqual([{ startMs: T, heartbeats: 2, failures: 1 }]);
    a = count(a, T + WINDOW_MS + 5, 1, 0);
    expect(a.buckets).toEqual([{ startMs: T + WINDOW_MS, heartbeats: 1, failures: 0 }]);
  });

  it('follows the platform’s bucket phase and width', () => {
    // A platform whose buckets start 3 s past the epoch grid, 5 s wide.
    let a = fromPlatform({ bucketMs: 5_000, buckets: [{ startMs: T + 3_000, heartbeats: 1, failures: 0 }] });
    a = count(a, T + 7_999, 1, 0);
    a = count(a, T + 8_000, 1, 0);
    expect(a.buckets).toEqual([
      { startMs: T + 3_000, heartbeats: 2, failures: 0 },
      { startMs: T + 8_000, heartbeats: 1, failures: 0 },
    ]);
  });

  it('changes nothing for nothing', () => {
    expect(count(emptyActivity, T, 0, 0)).toBe(emptyActivity);
  });
});

describe('fromPlatform', () => {
  it('orders buckets oldest first and drops empty ones', () => {
    const a = fromPlatform({
      bucketMs: B,
      buckets: [
        { startMs: T + B, heartbeats: 1, failures: 0 },
        { startMs: T, heartbeats: 0, failures: 0 },
        { startMs: T - B, heartbeats: 0, failures: 2 },
      ],
    });
    expect(a.buckets.map((b) => b.startMs)).toEqual([T - B, T + B]);
  });
});

describe('slots', () => {
  it('is one slot per bucket over the window ending now, each bucket in the slot its start falls in', () => {
    const now = T + 4_000;
    const s = slots(
      {
        bucketMs: B,
        buckets: [
          { startMs: T - WINDOW_MS, heartbeats: 7, failures: 0 }, // just outside
          { startMs: T - WINDOW_MS + B, heartbeats: 3, failures: 0 }, // the oldest slot
          { startMs: T + 2_000, heartbeats: 5, failures: 1 }, // off the grid: the newest slot
        ],
      },
      now,
    );
    expect(s).toHaveLength(WINDOW_MS / B);
    expect(s[0]).toEqual({ startMs: T - WINDOW_MS + B, heartbeats: 3, failures: 0 });
    expect(s[s.length - 1]).toEqual({ startMs: T, heartbeats: 5, failures: 1 });
    expect(s.reduce((n, b) => n + b.heartbeats, 0)).toBe(8);
  });
});
