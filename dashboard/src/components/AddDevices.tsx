// Creates devices of chosen boards: one row per board, a count each.
// Boards that cannot host a runtime are listed with the platform's reason.

import { useState, type FormEvent } from 'react';
import { SENSOR_KINDS, type AttachedPeripheral, type Board, type Device, type SensorKind } from '../api/types';
import { boardRefusal, parsePairs } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { ErrorBanner, Notice, useAction } from './common';
import { DataTable, type Column } from './DataTable';
import { CheckField, SelectField, TextField } from './fields';

function boardNote(b: Board): string {
  if (b.name === 'sim') return 'the device agent on the platform’s host, not firmware: simulated';
  // Too small for a runtime: wired to its gateway, which runs its apps as edge components.
  if (b.attached) return 'an attached board in QEMU: no WebAssembly runtime, its apps run on its gateway';
  return b.emulated ? 'our firmware in QEMU' : 'hardware';
}

export function AddDevices({ onCreated, defaultCounts }: { onCreated?: (d: Device[]) => void; defaultCounts?: Record<string, number> }) {
  const { api } = useAuth();
  const { boards, boardsError, state } = useFleet();
  const [counts, setCounts] = useState<Record<string, number>>(defaultCounts ?? {});
  const [prefix, setPrefix] = useState('dev');
  const [labels, setLabels] = useState('app=demo');
  const [created, setCreated] = useState<string[]>([]);
  const [withSensor, setWithSensor] = useState(false);
  const [sensor, setSensor] = useState({ name: 'temp0', kind: 'tmp105' as SensorKind, at: 'i2c:0:0x48', initial: '21.5' });
  const { run, busy, error, setError } = useAction();

  const supported = boards.filter((b) => !boardRefusal(b));
  const refused = boards.filter((b) => boardRefusal(b));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const l = parsePairs('labels', labels);
    if (typeof l === 'string') return setError(l);
    const initial = sensor.initial.trim() === '' ? null : Number(sensor.initial);
    if (initial !== null && !Number.isFinite(initial)) return setError(`Initial value: “${sensor.initial}” is not a number`);
    // The platform checks the rest (the name, that the board has that bus, the range) and names what is wrong.
    const peripherals: AttachedPeripheral[] = withSensor ? [{ name: sensor.name.trim(), kind: sensor.kind, at: sensor.at.trim(), initial }] : [];
    void run(async () => {
      const made: Device[] = [];
      let n = 0;
      for (const b of supported) {
        for (let i = 0; i < (counts[b.name] ?? 0); i++) {
          // Next free name: prefix-<board>-<n>, so a second batch does not collide with the first.
          let name: string;
          do name = `${prefix}-${b.name === 'sim' ? 'sim' : b.name.replace(/^mps2-/, '')}-${n++}`;
          while (state.devices[name] || made.some((d) => d.meta.name === name));
          made.push(await api.createDevice(name, b.name, l, peripherals));
          setCreated(made.map((d) => d.meta.name));
        }
      }
      onCreated?.(made);
      return made;
    });
  };

  const columns: Column<Board>[] = [
    { head: 'board', cell: (b) => b.name },
    { head: 'what it is', cell: boardNote },
    {
      head: 'devices to add',
      cell: (b) => (
        <input
          type="number"
          min={0}
          max={100}
          aria-label={`Number of ${b.name} devices`}
          value={counts[b.name] ?? 0}
          onChange={(e) => setCounts({ ...counts, [b.name]: Math.max(0, Number(e.target.value) || 0) })}
        />
      ),
    },
  ];

  return (
    <form className="add-devices" onSubmit={submit} aria-label="Add devices">
      <ErrorBanner error={boardsError} />
      <DataTable columns={columns} rows={supported} rowKey={(b) => b.name} />
      {refused.map((b) => (
        <Notice key={b.name}>
          <strong>{b.name}</strong> cannot host a device here: {boardRefusal(b)}
        </Notice>
      ))}
      <div className="row">
        <TextField label="Name prefix" value={prefix} onValue={setPrefix} pattern="[a-z0-9]([a-z0-9-]*[a-z0-9])?" required />
        <TextField label="Labels" value={labels} onValue={setLabels} placeholder="app=demo,site=lab" />
      </div>
      <fieldset>
        <legend>Sensors</legend>
        <CheckField label="Attach a sensor to each new device" checked={withSensor} onChecked={setWithSensor} />
        {withSensor && (
          <>
            <TextField label="Sensor name" value={sensor.name} onValue={(name) => setSensor({ ...sensor, name })} required />
            <SelectField label="Sensor kind" options={SENSOR_KINDS} value={sensor.kind} onValue={(kind) => setSensor({ ...sensor, kind })} />
            <TextField label="Sensor address" value={sensor.at} onValue={(at) => setSensor({ ...sensor, at })} placeholder="i2c:0:0x48" required />
            <TextField label="Initial value" type="number" step="any" value={sensor.initial} onValue={(v) => setSensor({ ...sensor, initial: v })} />
            <p className="muted">The device’s emulator attaches it; the device’s page shows and sets what it measures.</p>
          </>
        )}
      </fieldset>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {created.length > 0 && <p role="status">Created {created.join(', ')}.</p>}
      <button type="submit" className="primary" disabled={busy || total === 0}>
        {busy ? 'Creating…' : `Create ${total} device${total === 1 ? '' : 's'}`}
      </button>
    </form>
  );
}
