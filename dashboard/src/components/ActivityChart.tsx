// Heartbeats and app failures per 10 s over the last ten minutes, drawn
// as SVG bars. Counted from the event stream since this page opened (the
// API keeps no history of them).

import { BUCKET_MS, BUCKETS, type Bucket } from '../state/fleet';

const W = 1000;
const H = 160;
const PAD = 24;

export function ActivityChart({ activity, now }: { activity: Bucket[]; now: number }) {
  const end = Math.floor(now / BUCKET_MS) * BUCKET_MS;
  const slots = Array.from({ length: BUCKETS }, (_, i) => {
    const start = end - (BUCKETS - 1 - i) * BUCKET_MS;
    return activity.find((b) => b.startMs === start) ?? { startMs: start, heartbeats: 0, failures: 0 };
  });
  const max = Math.max(1, ...slots.map((s) => Math.max(s.heartbeats, s.failures)));
  const bw = (W - PAD) / BUCKETS;
  const y = (v: number) => H - PAD - (v / max) * (H - PAD * 1.5);
  const total = slots.reduce((a, s) => ({ hb: a.hb + s.heartbeats, f: a.f + s.failures }), { hb: 0, f: 0 });
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Heartbeats and app failures per 10 seconds, last 10 minutes">
        <line x1={PAD} x2={W} y1={H - PAD} y2={H - PAD} className="axis" />
        <text x={2} y={y(max) + 4} className="tick">
          {max}
        </text>
        <text x={2} y={H - PAD} className="tick">
          0
        </text>
        {slots.map((s, i) => (
          <g key={s.startMs}>
            {s.heartbeats > 0 && (
              <rect x={PAD + i * bw} y={y(s.heartbeats)} width={bw * 0.55} height={H - PAD - y(s.heartbeats)} className="bar-hb">
                <title>{`${new Date(s.startMs).toLocaleTimeString()}: ${s.heartbeats} heartbeats`}</title>
              </rect>
            )}
            {s.failures > 0 && (
              <rect x={PAD + i * bw + bw * 0.5} y={y(s.failures)} width={bw * 0.45} height={H - PAD - y(s.failures)} className="bar-fail">
                <title>{`${new Date(s.startMs).toLocaleTimeString()}: ${s.failures} app failures`}</title>
              </rect>
            )}
          </g>
        ))}
        <text x={PAD} y={H - 6} className="tick">
          −10 min
        </text>
        <text x={W - 30} y={H - 6} className="tick">
          now
        </text>
      </svg>
      <figcaption>
        <span className="key key-hb" /> heartbeats ({total.hb}) <span className="key key-fail" /> app failures ({total.f}) — per
        10 s, seen since this page opened
      </figcaption>
    </figure>
  );
}
