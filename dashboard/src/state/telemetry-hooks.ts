// The telemetry a chart shows: its range read from the platform when it
// opens (and again after the stream reconnects), then every sample the
// feed brings, merged by state/telemetry.ts. A chart is keyed by what it
// shows (device or application, metric, window), so a new choice is a new
// chart with empty state rather than a mix of two.

import { useCallback, useEffect, useState } from 'react';
import type { MetricSummary, Point } from '../api/types';
import { useAuth } from './auth';
import { useFleet } from './fleet-context';
import {
  addToFleet,
  append,
  emptySeries,
  fleetFromRange,
  fleetSince,
  merge,
  type FleetView,
  type WindowName,
  WINDOWS,
} from './telemetry';
import type { SampleFilter } from './telemetry-feed';

/** Bumps when the stream reconnects, so an effect depending on it reads its range again. */
function useResyncs(): [number, () => void] {
  const [n, setN] = useState(0);
  return [n, useCallback(() => setN((x) => x + 1), [])];
}

/** One metric of one device: the range of the window, then live samples. */
export function useDeviceSeries(device: string, metric: string, windowName: WindowName) {
  const { api } = useAuth();
  const { telemetry } = useFleet();
  const [series, setSeries] = useState(emptySeries);
  const [error, setError] = useState<string | null>(null);
  const [resyncs, resynced] = useResyncs();
  const { ms } = WINDOWS[windowName];

  useEffect(() => {
    let open = true;
    const off = telemetry.subscribe(
      { device, metric },
      { sample: (s) => setSeries((cur) => append(cur, { tMs: s.tMs, value: s.value })), resync: resynced },
    );
    api.deviceSeries(device, metric, { from: Math.max(0, Date.now() - ms) }).then(
      (r) => {
        if (!open) return;
        setError(null);
        setSeries((cur) => merge(cur, r));
      },
      (e: Error) => open && setError(e.message),
    );
    return () => {
      open = false;
      off();
    };
  }, [api, telemetry, device, metric, ms, resyncs, resynced]);

  return { series, error };
}

/** One metric of one application across its devices: min, mean and max per step. */
export function useFleetSeries(app: string, metric: string, windowName: WindowName) {
  const { api } = useAuth();
  const { telemetry } = useFleet();
  const [view, setView] = useState<FleetView | null>(null);
  const [devices, setDevices] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [resyncs, resynced] = useResyncs();
  const { ms, stepMs } = WINDOWS[windowName];

  useEffect(() => {
    let open = true;
    // Samples that arrive before the range: kept until it does.
    let early: Point[] | null = [];
    const off = telemetry.subscribe(
      { app, metric },
      {
        sample: (s) => {
          const p = { tMs: s.tMs, value: s.value };
          if (early) early.push(p);
          else setView((v) => v && fleetSince(addToFleet(v, p), Date.now() - ms));
        },
        resync: resynced,
      },
    );
    const to = Date.now();
    const from = Math.max(0, to - ms);
    api.fleetSeries(app, metric, { from, to, step: stepMs }).then(
      (r) => {
        if (!open) return;
        setError(null);
        setDevices(r.devices);
        setView(fleetFromRange(r, from, to, early ?? []));
        early = null;
      },
      (e: Error) => {
        if (!open) return;
        setError(e.message);
        early = null;
      },
    );
    return () => {
      open = false;
      off();
    };
  }, [api, telemetry, app, metric, ms, stepMs, resyncs, resynced]);

  return { view, devices, error };
}

/** The metrics a device publishes: what the platform holds (read once), then any new one a sample names. */
export function useDeviceMetrics(device: string) {
  const { api } = useAuth();
  const [metrics, setMetrics] = useState<MetricSummary[]>([]);
  const seen = useMetricsSeen({ device });
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let open = true;
    api.deviceMetrics(device).then(
      (m) => open && setMetrics(m),
      (e: Error) => open && setError(e.message),
    );
    return () => {
      open = false;
    };
  }, [api, device]);
  return { metrics, seen, error };
}

/** Metric names (with the slot that published each) the feed brought for `filter` since the page opened. */
export function useMetricsSeen(filter: SampleFilter): Map<string, string> {
  const { telemetry } = useFleet();
  const [seen, setSeen] = useState<Map<string, string>>(new Map());
  const { device, app, metric } = filter;
  useEffect(
    () =>
      telemetry.subscribe(
        { device, app, metric },
        {
          sample: (s) => setSeen((m) => (m.get(s.metric) === s.app ? m : new Map(m).set(s.metric, s.app))),
          resync: () => {},
        },
      ),
    [telemetry, device, app, metric],
  );
  return seen;
}
