// The sensors wired to a device (its spec's peripherals) and what each
// measures now, as the emulator reports it (GET /devices/{name}/sensors);
// an operator sets what one measures (PUT .../sensors/{sensor}) — the way
// to drive the physical world an app reads. The platform checks the value
// against the sensor's range and says why when it cannot set it.

import { useEffect, useState, type FormEvent } from 'react';
import type { Device, SensorReading } from '../api/types';
import { formatValue, phaseOf } from '../model';
import { useAuth } from '../state/auth';
import { Empty, ErrorBanner, useAction } from './common';
import { DataTable, type Column } from './DataTable';
import { TextField } from './fields';

/** How often the values are read again while the page is open. */
const REFRESH_MS = 10_000;

function SetSensor({ device, sensor, onSet }: { device: string; sensor: SensorReading; onSet: (r: SensorReading) => void }) {
  const { api } = useAuth();
  const [value, setValue] = useState(sensor.value === null || sensor.value === undefined ? '' : String(sensor.value));
  const { run, busy, error, setError } = useAction();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v)) return setError(`${sensor.name}: “${value}” is not a number`);
    void run(async () => onSet(await api.setSensor(device, sensor.name, v)));
  };
  return (
    <>
      <form className="row" onSubmit={submit} aria-label={`Set ${sensor.name}`}>
        <TextField label={`${sensor.name} (${sensor.unit})`} type="number" step="any" value={value} onValue={setValue} required />
        <button type="submit" disabled={busy}>
          {busy ? 'Setting…' : 'Set'}
        </button>
      </form>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
    </>
  );
}

export function Sensors({ device }: { device: Device }) {
  const { api, can } = useAuth();
  const name = device.meta.name;
  const [readings, setReadings] = useState<SensorReading[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const declared = (device.spec.peripherals ?? []).map((p) => p.name).join(',');
  // What a sensor reads changes when someone sets it, and its emulator may
  // have restarted (it restores the values): read again then.
  const phase = phaseOf(device);
  const started = device.status?.process?.startedMs;

  useEffect(() => {
    let open = true;
    if (!declared) return;
    const read = () =>
      api.sensors(name).then(
        (r) => {
          if (!open) return;
          setReadings(r);
          setError(null);
        },
        (e: Error) => open && setError(e.message),
      );
    void read();
    // Someone else (the CLI, another page) may set them too.
    const timer = setInterval(read, REFRESH_MS);
    return () => {
      open = false;
      clearInterval(timer);
    };
  }, [api, name, declared, phase, started]);

  if (!declared) return <Empty>No sensor is attached to this device.</Empty>;

  const replace = (r: SensorReading) => setReadings((rs) => (rs ?? []).map((x) => (x.name === r.name ? r : x)));
  const columns: Column<SensorReading>[] = [
    { head: 'sensor', cell: (r) => r.name },
    { head: 'kind', cell: (r) => `${r.kind} (${r.quantity})` },
    { head: 'at', cell: (r) => <code>{r.at}</code> },
    {
      head: 'measures now',
      cell: (r) =>
        r.value === null || r.value === undefined ? (
          <span className="muted">{r.error ?? 'unknown'}</span>
        ) : (
          <span className="sensor-value" data-value={r.value}>
            {formatValue(r.value)} {r.unit}
          </span>
        ),
    },
    { head: 'range', cell: (r) => `${formatValue(r.min)} to ${formatValue(r.max)} ${r.unit}` },
  ];
  if (can('operator')) columns.push({ head: 'set', cell: (r) => <SetSensor device={name} sensor={r} onSet={replace} /> });

  return (
    <>
      <ErrorBanner error={error} />
      {readings && (
        <DataTable label="Sensors" columns={columns} rows={readings} rowKey={(r) => r.name} rowAttributes={(r) => ({ 'data-sensor': r.name })} />
      )}
      {!can('operator') && <p className="muted">Setting a sensor needs the operator role.</p>}
    </>
  );
}
