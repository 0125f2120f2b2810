// One metric over a time window, drawn from what state/telemetry.ts hands
// it: a band from the smallest to the largest value of each column (where
// a column summarises several values: a folded minute, a fleet step) and
// the mean as a line. Like the activity chart, the SVG is stretched to
// its box and the labels are text beside it. For people who do not see
// it: the figure is named, the latest value is text, the SVG's name
// summarises the window, and the values are a table behind a disclosure.

import type { ReactNode } from 'react';
import type { Aggregate } from '../api/types';
import { formatValue } from '../model';
import { valueRange } from '../state/telemetry';
import { DataTable, type Column } from './DataTable';

const W = 600;
const H = 120;
/** Rows of the table fallback: the newest values. */
const TABLE_ROWS = 30;

/** A horizontal line across the chart: a canary gate's bound. */
export interface Bound {
  value: number;
  label: string;
}

function time(ms: number): string {
  return new Date(ms).toLocaleTimeString();
}

/** A value, or the range and mean of several. */
function valueText(k: Aggregate): string {
  if (k.min === k.max) return formatValue(k.mean);
  return `mean ${formatValue(k.mean)} (${formatValue(k.min)} to ${formatValue(k.max)})`;
}

/** What the chart shows, in one sentence: its SVG's accessible name. */
export function summary(metric: string, windowName: string, items: readonly Aggregate[], latest: Aggregate | null): string {
  if (items.length === 0) return `${metric}: no values in the last ${windowName}`;
  const lo = Math.min(...items.map((k) => k.min));
  const hi = Math.max(...items.map((k) => k.max));
  const n = items.reduce((a, k) => a + k.count, 0);
  const last = latest ? `; latest ${valueText(latest)}` : '';
  return `${metric} over the last ${windowName}: ${n} value${n === 1 ? '' : 's'} from ${formatValue(lo)} to ${formatValue(hi)}${last}`;
}

const COLUMNS: Column<Aggregate>[] = [
  { head: 'time', cell: (k) => time(k.tMs) },
  { head: 'value', cell: (k) => (k.count > 1 ? formatValue(k.mean) : formatValue(k.min)) },
  { head: 'min', cell: (k) => formatValue(k.min) },
  { head: 'max', cell: (k) => formatValue(k.max) },
  { head: 'values', cell: (k) => k.count },
];

export function TelemetryChart({
  label,
  metric,
  windowName,
  fromMs,
  toMs,
  items,
  latest,
  bounds = [],
  note,
}: {
  /** The figure's accessible name (`temp_c on dev-0`). */
  label: string;
  metric: string;
  /** How the window is called (`5 min`). */
  windowName: string;
  fromMs: number;
  toMs: number;
  /** What to draw, in time order, at most one per column (state/telemetry.ts: toColumns). */
  items: readonly Aggregate[];
  /** The newest value, also when it is older than the window. */
  latest: Aggregate | null;
  bounds?: readonly Bound[];
  /** Said after the latest value (how many devices, the step). */
  note?: ReactNode;
}) {
  const range = valueRange(items) ?? { lo: 0, hi: 1 };
  const x = (t: number) => ((t - fromMs) / Math.max(1, toMs - fromMs)) * W;
  const y = (v: number) => H - ((v - range.lo) / (range.hi - range.lo)) * H;
  const line = items.map((k) => `${x(k.tMs).toFixed(1)},${y(k.mean).toFixed(1)}`).join(' ');
  const spread = items.some((k) => k.max > k.min);
  const band = spread
    ? [...items.map((k) => `${x(k.tMs).toFixed(1)},${y(k.max).toFixed(1)}`), ...[...items].reverse().map((k) => `${x(k.tMs).toFixed(1)},${y(k.min).toFixed(1)}`)].join(' ')
    : '';
  const only = items.length === 1 ? items[0] : undefined;
  const shown = bounds.filter((b) => b.value >= range.lo && b.value <= range.hi);
  const rows = items.slice(-TABLE_ROWS).reverse();
  return (
    <figure className="chart telemetry" aria-label={label} data-metric={metric}>
      <figcaption>
        <strong>{metric}</strong>{' '}
        {latest ? (
          <>
            latest{' '}
            <span className="latest" data-value={latest.mean}>
              {valueText(latest)}
            </span>{' '}
            at {time(latest.tMs)}
          </>
        ) : (
          'no value yet'
        )}
        {note}
        {bounds.length > 0 && <span className="muted"> — gate {bounds.map((b) => b.label).join(', ')}</span>}
      </figcaption>
      <div className="chart-plot">
        <span className="tick tick-max">{items.length ? formatValue(range.hi) : ''}</span>
        <span className="tick tick-zero">{items.length ? formatValue(range.lo) : ''}</span>
        <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={summary(metric, windowName, items, latest)}>
          {band && <polygon points={band} className="band" />}
          {items.length > 1 && <polyline points={line} className="mean" vectorEffect="non-scaling-stroke" />}
          {/* One value is a line too short to see: a short dash where it is. */}
          {only && <line x1={x(only.tMs) - 3} x2={x(only.tMs) + 3} y1={y(only.mean)} y2={y(only.mean)} className="mean" vectorEffect="non-scaling-stroke" />}
          {shown.map((b) => (
            <line key={b.label} x1={0} x2={W} y1={y(b.value)} y2={y(b.value)} className="bound" vectorEffect="non-scaling-stroke">
              <title>{b.label}</title>
            </line>
          ))}
          <line x1={0} x2={W} y1={H} y2={H} className="axis" vectorEffect="non-scaling-stroke" />
        </svg>
      </div>
      <div className="chart-x" aria-hidden="true">
        <span className="tick">−{windowName}</span>
        <span className="tick">now</span>
      </div>
      <details>
        <summary>Values ({items.length})</summary>
        <DataTable label={`${label}: values`} columns={COLUMNS} rows={rows} rowKey={(k, i) => `${k.tMs}/${i}`} empty="No values in this window." />
      </details>
    </figure>
  );
}
