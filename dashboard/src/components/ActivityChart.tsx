// Heartbeats and app failures per bucket over the last ten minutes, as the
// platform counted them up to the last snapshot and the stream since. The
// bars are an SVG stretched to the box (so the chart keeps its height on
// a phone); the labels are text beside it, so they are never stretched.

import { Fragment } from 'react';
import type { Activity } from '../api/types';
import { slots, WINDOW_MS } from '../state/activity';

const W = 600;
const H = 100;

/**
 * What the chart counts, side by side in each bucket: where a bar starts and
 * how wide it is (as parts of the bucket's width), its class (its colour
 * and the caption's key: bar-hb, key-hb) and what one is called.
 */
const SERIES = [
  { count: 'heartbeats', x: 0, width: 0.55, css: 'hb', what: 'heartbeats' },
  { count: 'failures', x: 0.5, width: 0.45, css: 'fail', what: 'app failures' },
] as const;

export function ActivityChart({ activity, now }: { activity: Activity; now: number }) {
  const shown = slots(activity, now);
  const max = Math.max(1, ...SERIES.flatMap(({ count }) => shown.map((s) => s[count])));
  const bw = W / shown.length;
  const h = (v: number) => (v / max) * H;
  const total = (count: (typeof SERIES)[number]['count']) => shown.reduce((a, s) => a + s[count], 0);
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
              {SERIES.map(
                ({ count, x, width, css, what }) =>
                  s[count] > 0 && (
                    <rect
                      key={count}
                      x={(i + x) * bw}
                      y={H - h(s[count])}
                      width={bw * width}
                      height={h(s[count])}
                      className={`bar-${css}`}
                      data-start-ms={s.startMs}
                      {...{ [`data-${count}`]: s[count] }}
                    >
                      <title>{`${new Date(s.startMs).toLocaleTimeString()}: ${s[count]} ${what}`}</title>
                    </rect>
                  ),
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
        {SERIES.map(({ count, css, what }) => (
          <Fragment key={count}>
            <span className={`key key-${css}`} /> {what} ({total(count)}){' '}
          </Fragment>
        ))}
        — per {per}, counted by the platform
      </figcaption>
    </figure>
  );
}
