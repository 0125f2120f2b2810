// Heartbeats and app failures per bucket over the last ten minutes, as the
// platform counted them up to the last snapshot and the stream since. The
// bars are an SVG stretched to the box (so the chart keeps its height on
// a phone); the labels are text beside it, so they are never stretched.

import type { Activity } from '../api/types';
import { slots, WINDOW_MS } from '../state/activity';

const W = 600;
const H = 100;

export function ActivityChart({ activity, now }: { activity: Activity; now: number }) {
  const shown = slots(activity, now);
  const max = Math.max(1, ...shown.map((s) => Math.max(s.heartbeats, s.failures)));
  const bw = W / shown.length;
  const h = (v: number) => (v / max) * H;
  const total = shown.reduce((a, s) => ({ hb: a.hb + s.heartbeats, f: a.f + s.failures }), { hb: 0, f: 0 });
  const per = activity.bucketMs % 1000 === 0 ? `${activity.bucketMs / 1000} s` : `${activity.bucketMs} ms`;
  const minutes = Math.round(WINDOW_MS / 60_000);
  return (
    <figure className="chart" data-bucket-ms={activity.bucketMs}>
      <div className="chart-plot">
        <span className="tick tick-max">{max}</span>
        <span className="tick tick-zero">0</span>
        <svg
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`Heartbeats and app failures per ${per}, last ${minutes} minutes`}
        >
          {shown.map((s, i) => (
            <g key={s.startMs}>
              {s.heartbeats > 0 && (
                <rect
                  x={i * bw}
                  y={H - h(s.heartbeats)}
                  width={bw * 0.55}
                  height={h(s.heartbeats)}
                  className="bar-hb"
                  data-start-ms={s.startMs}
                  data-heartbeats={s.heartbeats}
                >
                  <title>{`${new Date(s.startMs).toLocaleTimeString()}: ${s.heartbeats} heartbeats`}</title>
                </rect>
              )}
              {s.failures > 0 && (
                <rect
                  x={i * bw + bw * 0.5}
                  y={H - h(s.failures)}
                  width={bw * 0.45}
                  height={h(s.failures)}
                  className="bar-fail"
                  data-start-ms={s.startMs}
                  data-failures={s.failures}
                >
                  <title>{`${new Date(s.startMs).toLocaleTimeString()}: ${s.failures} app failures`}</title>
                </rect>
              )}
            </g>
          ))}
          <line x1={0} x2={W} y1={H} y2={H} className="axis" vectorEffect="non-scaling-stroke" />
        </svg>
      </div>
      <div className="chart-x" aria-hidden="true">
        <span className="tick">−{minutes} min</span>
        <span className="tick">now</span>
      </div>
      <figcaption>
        <span className="key key-hb" /> heartbeats ({total.hb}) <span className="key key-fail" /> app failures ({total.f}) — per{' '}
        {per}, counted by the platform
      </figcaption>
    </figure>
  );
}
