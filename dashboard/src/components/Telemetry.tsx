// What apps publish, on the device and application pages: a time window
// to choose, then one chart per metric — a device's own series, or an
// application's min, mean and max across its devices.

import { useState } from 'react';
import type { Application, Device } from '../api/types';
import { gatesOf, parseGate, slotsOf } from '../model';
import { useFleet, useNow } from '../state/fleet-context';
import {
  DEFAULT_WINDOW,
  drawable,
  fleetDrawable,
  fleetSince,
  latestOf,
  toColumns,
  WINDOW_NAMES,
  WINDOWS,
  type WindowName,
} from '../state/telemetry';
import { useDeviceMetrics, useDeviceSeries, useFleetSeries, useMetricsSeen } from '../state/telemetry-hooks';
import { Empty, ErrorBanner } from './common';
import { SelectField } from './fields';
import { TelemetryChart, type Bound } from './TelemetryChart';

/** Columns a chart draws at most (two SVG units each). */
const COLUMNS = 300;

function WindowSelect({ value, onValue }: { value: WindowName; onValue: (w: WindowName) => void }) {
  return (
    <div className="row">
      <SelectField label="Time window" options={WINDOW_NAMES} value={value} onValue={onValue} />
    </div>
  );
}

function DeviceMetricChart({ device, metric, slot, windowName, now }: { device: string; metric: string; slot: string; windowName: WindowName; now: number }) {
  const { series, error } = useDeviceSeries(device, metric, windowName);
  const latest = latestOf(series);
  const to = Math.max(now, latest?.tMs ?? 0);
  const from = to - WINDOWS[windowName].ms;
  return (
    <div>
      <ErrorBanner error={error} />
      <TelemetryChart
        label={`${metric} on ${device}`}
        metric={metric}
        windowName={windowName}
        fromMs={from}
        toMs={to}
        items={toColumns(drawable(series), from, to, COLUMNS)}
        latest={latest}
        note={<span className="muted"> — published by {slot}</span>}
      />
    </div>
  );
}

/** A device's metrics, each with the slot that publishes it: what the platform holds, what the device last reported, what the stream brought. */
export function DeviceTelemetry({ device }: { device: Device }) {
  const name = device.meta.name;
  const [windowName, setWindowName] = useState<WindowName>(DEFAULT_WINDOW);
  const now = useNow();
  const { metrics, seen, error } = useDeviceMetrics(name);
  const slots = new Map<string, string>();
  for (const a of device.status?.session?.apps ?? []) for (const m of Object.keys(a.metrics ?? {})) slots.set(m, a.name);
  for (const m of metrics) slots.set(m.metric, m.app);
  for (const [m, slot] of seen) slots.set(m, slot);
  const shown = [...slots].sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="telemetry-section">
      <WindowSelect value={windowName} onValue={setWindowName} />
      <ErrorBanner error={error} />
      {shown.length === 0 ? (
        <Empty>No app on this device has published telemetry yet.</Empty>
      ) : (
        <div className="charts">
          {shown.map(([metric, slot]) => (
            <DeviceMetricChart key={`${name}/${metric}/${windowName}`} device={name} metric={metric} slot={slot} windowName={windowName} now={now} />
          ))}
        </div>
      )}
    </div>
  );
}

function FleetMetricChart({ app, metric, windowName, bounds, now }: { app: string; metric: string; windowName: WindowName; bounds: Bound[]; now: number }) {
  const { view, devices, error } = useFleetSeries(app, metric, windowName);
  const last = view?.buckets[view.buckets.length - 1] ?? null;
  const to = Math.max(now, last?.tMs ?? 0);
  const from = to - WINDOWS[windowName].ms;
  const step = WINDOWS[windowName].stepMs / 1000;
  return (
    <div>
      <ErrorBanner error={error} />
      <TelemetryChart
        label={`${metric} across ${app}`}
        metric={metric}
        windowName={windowName}
        fromMs={from}
        toMs={to}
        items={view ? toColumns(fleetDrawable(fleetSince(view, from), to), from, to, COLUMNS) : []}
        latest={last}
        bounds={bounds}
        note={
          <span className="muted">
            {' '}
            — min, mean and max per {step} s{devices !== null && `, ${devices} device${devices === 1 ? '' : 's'} reporting`}
          </span>
        }
      />
    </div>
  );
}

/** An application's metrics: those its devices last reported, and any new one the stream brings; its canary gates drawn on them. */
export function FleetTelemetry({ app }: { app: Application }) {
  const name = app.meta.name;
  const { state } = useFleet();
  const [windowName, setWindowName] = useState<WindowName>(DEFAULT_WINDOW);
  const now = useNow();
  const seen = useMetricsSeen({ app: name });
  const metrics = new Set<string>(seen.keys());
  for (const d of Object.values(state.devices)) for (const s of slotsOf(name, d)) for (const m of Object.keys(s.metrics ?? {})) metrics.add(m);
  const gates = gatesOf(app).flatMap((g) => {
    const p = parseGate(g);
    return p ? [{ metric: p.metric, bound: { value: p.bound, label: g } }] : [];
  });
  return (
    <div className="telemetry-section">
      <WindowSelect value={windowName} onValue={setWindowName} />
      {metrics.size === 0 ? (
        <Empty>No device has reported telemetry from this application yet.</Empty>
      ) : (
        <div className="charts">
          {[...metrics].sort().map((metric) => (
            <FleetMetricChart
              key={`${name}/${metric}/${windowName}`}
              app={name}
              metric={metric}
              windowName={windowName}
              bounds={gates.filter((g) => g.metric === metric).map((g) => g.bound)}
              now={now}
            />
          ))}
        </div>
      )}
    </div>
  );
}
