import { useState } from 'react';
import { AddDevices } from '../components/AddDevices';
import { deviceColumns, deviceRow } from '../components/columns';
import { ErrorBanner, Page, Section } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import { AppStates } from '../components/DeviceKind';
import { Filters, SelectField, TextField } from '../components/fields';
import { DEVICE_PHASES, type Device } from '../api/types';
import { ago, byName, nameOf, parseSelector, phaseOf } from '../model';
import { useAuth } from '../state/auth';
import { useFleet, useNow } from '../state/fleet-context';
import { setQueryParam, useLocation } from '../router';

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
  const all = byName(Object.values(state.devices));
  const shown = all.filter(
    (d) =>
      (!phase || phaseOf(d) === phase) &&
      (!board || d.spec.board === board) &&
      (!text || d.meta.name.includes(text)) &&
      ('matches' in sel ? sel.matches(d.spec.labels ?? {}) : true),
  );
  const boardNames = [...new Set([...boards.map((b) => b.name), ...all.map((d) => d.spec.board)])].sort();

  const columns: Column<Device>[] = [
    deviceColumns.name,
    deviceColumns.board,
    deviceColumns.phase,
    { head: 'last heartbeat', cell: (d) => ago(d.status?.session?.lastHeartbeatMs, now) },
    { head: 'gateway', cell: (d) => d.status?.session?.gateway ?? d.spec.gateway ?? '–' },
    { head: 'apps', cell: (d) => <AppStates d={d} /> },
    {
      head: 'labels',
      cell: (d) =>
        Object.entries(d.spec.labels ?? {}).map(([k, v]) => (
          <code key={k} className="label">
            {k}={v}
          </code>
        )),
    },
  ];

  return (
    <Page title="Devices">
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
        <Filters label="Filter devices">
          <TextField label="Name" type="search" value={text} onValue={(v) => setQueryParam('q', v)} placeholder="contains…" />
          <SelectField label="Phase" any="any" options={DEVICE_PHASES} value={phase} onValue={(v) => setQueryParam('phase', v)} />
          <SelectField label="Board" any="any" options={boardNames} value={board} onValue={(v) => setQueryParam('board', v)} />
          <TextField label="Label selector" value={selector} onValue={(v) => setQueryParam('selector', v)} placeholder="app=demo,!canary" />
        </Filters>
        <ErrorBanner error={'error' in sel ? sel.error : null} />
        <p className="muted" role="status">
          {shown.length} of {all.length} devices
        </p>
        <DataTable
          label="Devices"
          columns={columns}
          rows={shown}
          rowKey={nameOf}
          rowAttributes={deviceRow}
          empty={all.length === 0 ? 'No devices yet.' : 'No device matches these filters.'}
        />
      </Section>
    </Page>
  );
}
