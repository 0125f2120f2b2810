// Creates devices of chosen boards: one row per board, a count each.
// Boards that cannot host a runtime are listed with the platform's reason.

import { useState, type FormEvent } from 'react';
import type { Board, Device } from '../api/types';
import { boardRefusal } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { ErrorBanner, Notice, useAction } from './common';
import { DataTable, type Column } from './DataTable';
import { TextField } from './fields';

function parseLabels(s: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const raw of s.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    const i = t.indexOf('=');
    if (i <= 0 || i === t.length - 1) return `labels: "${t}" is not key=value`;
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

function boardNote(b: Board): string {
  if (b.name === 'sim') return 'the device agent on the platform’s host, not firmware: simulated';
  return b.emulated ? 'our firmware in QEMU' : 'hardware';
}

export function AddDevices({ onCreated, defaultCounts }: { onCreated?: (d: Device[]) => void; defaultCounts?: Record<string, number> }) {
  const { api } = useAuth();
  const { boards, boardsError, state } = useFleet();
  const [counts, setCounts] = useState<Record<string, number>>(defaultCounts ?? {});
  const [prefix, setPrefix] = useState('dev');
  const [labels, setLabels] = useState('app=demo');
  const [created, setCreated] = useState<string[]>([]);
  const { run, busy, error, setError } = useAction();

  const supported = boards.filter((b) => !boardRefusal(b));
  const refused = boards.filter((b) => boardRefusal(b));
  const total = Object.values(counts).reduce((a, b) => a + b, 0);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const l = parseLabels(labels);
    if (typeof l === 'string') return setError(l);
    void run(async () => {
      const made: Device[] = [];
      let n = 0;
      for (const b of supported) {
        for (let i = 0; i < (counts[b.name] ?? 0); i++) {
          // Next free name: prefix-<board>-<n>, so a second batch does not collide with the first.
          let name: string;
          do name = `${prefix}-${b.name === 'sim' ? 'sim' : b.name.replace(/^mps2-/, '')}-${n++}`;
          while (state.devices[name] || made.some((d) => d.meta.name === name));
          made.push(await api.createDevice(name, b.name, l));
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
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {created.length > 0 && <p role="status">Created {created.join(', ')}.</p>}
      <button type="submit" className="primary" disabled={busy || total === 0}>
        {busy ? 'Creating…' : `Create ${total} device${total === 1 ? '' : 's'}`}
      </button>
    </form>
  );
}
