import { useState } from 'react';
import { AddDevices } from '../components/AddDevices';
import { DevicePhaseBadge } from '../components/badges';
import { Empty, ErrorBanner, Section, Table } from '../components/common';
import { AppStates, DeviceKind } from '../components/DeviceKind';
import { DEVICE_PHASES } from '../api/types';
import { ago, parseSelector, phaseOf } from '../model';
import { useAuth } from '../state/auth';
import { useFleet, useNow } from '../state/fleet-context';
import { Link, navigate, useLocation } from '../router';

function setQuery(key: string, value: string) {
  const q = new URLSearchParams(location.search);
  if (value) q.set(key, value);
  else q.delete(key);
  const s = q.toString();
  navigate(`/devices${s ? `?${s}` : ''}`, true);
}

export function Devices() {
  const { state, boards } = useFleet();
  const { can } = useAuth();
  const { query } = useLocation();
  const now = useNow();
  const [adding, setAdding] = useState(false);
  const phase = query.get('phase') ?? '';
  const board = query.get('board') ?? '';
  const selector = query.get('selector') ?? '';
  const text = query.get('q') ?? '';

  const sel = parseSelector(selector);
  const all = Object.values(state.devices).sort((a, b) => a.meta.name.localeCompare(b.meta.name));
  const shown = all.filter(
    (d) =>
      (!phase || phaseOf(d) === phase) &&
      (!board || d.spec.board === board) &&
      (!text || d.meta.name.includes(text)) &&
      ('matches' in sel ? sel.matches(d.spec.labels ?? {}) : true),
  );
  const boardNames = [...new Set([...boards.map((b) => b.name), ...all.map((d) => d.spec.board)])].sort();

  return (
    <div className="page">
      <h1>Devices</h1>
      <Section
        title="Fleet"
        actions={
          can('operator') && (
            <button type="button" onClick={() => setAdding(!adding)} aria-expanded={adding}>
              {adding ? 'Close' : 'Add devices'}
            </button>
          )
        }
      >
        {adding && <AddDevices onCreated={() => setAdding(false)} />}
        <div className="filters" role="search" aria-label="Filter devices">
          <label>
            Name
            <input type="search" value={text} onChange={(e) => setQuery('q', e.target.value)} placeholder="contains…" />
          </label>
          <label>
            Phase
            <select value={phase} onChange={(e) => setQuery('phase', e.target.value)}>
              <option value="">any</option>
              {DEVICE_PHASES.map((p) => (
                <option key={p}>{p}</option>
              ))}
            </select>
          </label>
          <label>
            Board
            <select value={board} onChange={(e) => setQuery('board', e.target.value)}>
              <option value="">any</option>
              {boardNames.map((b) => (
                <option key={b}>{b}</option>
              ))}
            </select>
          </label>
          <label>
            Label selector
            <input value={selector} onChange={(e) => setQuery('selector', e.target.value)} placeholder="app=demo,!canary" />
          </label>
        </div>
        <ErrorBanner error={'error' in sel ? sel.error : null} />
        <p className="muted" role="status">
          {shown.length} of {all.length} devices
        </p>
        {shown.length === 0 ? (
          <Empty>{all.length === 0 ? 'No devices yet.' : 'No device matches these filters.'}</Empty>
        ) : (
          <Table aria-label="Devices">
            <thead>
              <tr>
                <th>name</th>
                <th>board</th>
                <th>phase</th>
                <th>last heartbeat</th>
                <th>gateway</th>
                <th>apps</th>
                <th>labels</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((d) => (
                <tr key={d.meta.name} data-device={d.meta.name}>
                  <td>
                    <Link to={`/devices/${encodeURIComponent(d.meta.name)}`}>{d.meta.name}</Link>
                  </td>
                  <td>
                    {d.spec.board} <DeviceKind d={d} />
                  </td>
                  <td>
                    <DevicePhaseBadge value={phaseOf(d)} />
                  </td>
                  <td>{ago(d.status?.session?.lastHeartbeatMs, now)}</td>
                  <td>{d.status?.session?.gateway ?? d.spec.gateway ?? '–'}</td>
                  <td>
                    <AppStates d={d} />
                  </td>
                  <td>
                    {Object.entries(d.spec.labels ?? {}).map(([k, v]) => (
                      <code key={k} className="label">
                        {k}={v}
                      </code>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Section>
    </div>
  );
}
