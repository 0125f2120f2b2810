import { AppLog } from '../components/AppLog';
import { SerialConsole } from '../components/Console';
import { Terminal } from '../components/Terminal';
import { AppStateBadge, ConditionSummary, DevicePhaseBadge, ProcessStateBadge } from '../components/badges';
import { AppLink } from '../components/columns';
import { Empty, ErrorBanner, Facts, Missing, Notice, Page, Section, useAction } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import { SendMessage } from '../components/SendMessage';
import { Sensors } from '../components/Sensors';
import { DeviceTelemetry } from '../components/Telemetry';
import type { AppCounters, AppObservation, Device } from '../api/types';
import { ago, appOfSlot, bytes, duration, formatValue, isAttached, isEmulated, isSimulated, phaseOf } from '../model';
import { useAuth } from '../state/auth';
import { useFleet, useNow } from '../state/fleet-context';
import { Link, navigate } from '../router';
import { DeviceKind } from '../components/DeviceKind';

/**
 * What each counter an app reports is called in the apps table, and
 * whether a count above zero is a problem to point at (calls that did not
 * reach the world) or just activity.
 */
const COUNTERS: Record<keyof AppCounters, { head: string; problem: boolean }> = {
  denied: { head: 'denied calls', problem: true },
  hwErrors: { head: 'hardware errors', problem: true },
  droppedSamples: { head: 'dropped samples', problem: true },
  samples: { head: 'samples', problem: false },
  messages: { head: 'messages', problem: false },
};

const COUNTER_COLUMNS: Column<AppObservation>[] = (Object.keys(COUNTERS) as (keyof AppCounters)[]).map((key) => ({
  head: COUNTERS[key].head,
  cell: (a) => {
    const n = a.counters?.[key];
    if (n === undefined) return '–';
    return (
      <span className={COUNTERS[key].problem && n > 0 ? 'count warn' : 'count'} data-counter={key}>
        {n}
      </span>
    );
  },
}));

const APP_COLUMNS: Column<AppObservation>[] = [
  { head: 'slot', cell: (a) => <AppLink name={appOfSlot(a.name)}>{a.name}</AppLink> },
  { head: 'version', cell: (a) => a.version },
  { head: 'revision', cell: (a) => a.revision ?? '–' },
  { head: 'state', cell: (a) => <AppStateBadge value={a.state} /> },
  { head: 'reason', cell: (a) => a.reason ?? '' },
  ...COUNTER_COLUMNS,
  {
    head: 'latest metrics',
    cell: (a) =>
      Object.entries(a.metrics ?? {})
        .map(([m, v]) => `${m} ${formatValue(v)}`)
        .join(', ') || '–',
  },
];

function Power({ d }: { d: Device }) {
  const { api, can } = useAuth();
  const { run, busy, error, setError } = useAction();
  const stopped = d.spec.disconnected === true || d.status?.process?.state === 'Stopped';
  if (!can('operator')) return null;
  return (
    <div className="row">
      {stopped ? (
        <button type="button" className="primary" disabled={busy} onClick={() => void run(() => api.connect(d.meta.name))}>
          Connect (start QEMU)
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => void run(() => api.disconnect(d.meta.name))}>
          Disconnect (stop QEMU)
        </button>
      )}
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
    </div>
  );
}

function Remove({ name }: { name: string }) {
  const { api, can } = useAuth();
  const { run, busy, error } = useAction();
  if (!can('operator')) return null;
  const remove = () => {
    if (!confirm(`Delete device ${name}? Its identity is revoked and its QEMU process stops.`)) return;
    void run(async () => {
      await api.deleteDevice(name);
      navigate('/devices');
    });
  };
  return (
    <>
      <button type="button" className="danger" disabled={busy} onClick={remove}>
        Delete device
      </button>
      <ErrorBanner error={error} />
    </>
  );
}

/** A message control for each application on the device. */
function Messages({ device, apps }: { device: string; apps: string[] }) {
  const { can } = useAuth();
  if (apps.length === 0) return <Empty>No app runs on the device.</Empty>;
  if (!can('operator')) return <p className="muted">Sending messages needs the operator role.</p>;
  return apps.map((app) => <SendMessage key={`${device}/${app}`} app={app} device={device} />);
}

export function DeviceDetail({ name }: { name: string }) {
  const { state, boards } = useFleet();
  const now = useNow();
  const d = state.devices[name];
  if (!d) {
    return (
      <Missing name={name} loaded={state.loaded}>
        There is no device {name} (any more). <Link to="/devices">All devices</Link>
      </Missing>
    );
  }
  const s = d.status?.session;
  const p = d.status?.process;
  const emulated = isEmulated(d, boards);
  const sim = isSimulated(d);
  const attached = isAttached(d, boards);
  const phase = phaseOf(d);

  return (
    <Page
      title={
        <>
          {name} <DevicePhaseBadge value={phase} /> <DeviceKind d={d} />
          {attached && (
            <span className="tag attached" title="Driven by its gateway over a serial link; no WebAssembly runtime">
              attached
            </span>
          )}
        </>
      }
    >
      {sim && (
        <Notice>
          This is a <strong>simulated</strong> device: the device agent running on the platform’s host, not firmware on a
          board. It has no serial console and cannot be connected or disconnected from here.
        </Notice>
      )}
      {attached && (
        <Notice>
          This is an <strong>attached board</strong>: it has no WebAssembly runtime. Its firmware serves its UARTs, SPI,
          LEDs and timers over a serial link to its gateway{s?.gateway ? ` (${s.gateway})` : ''}, and its apps run there
          as edge components. Its terminal answers <code>status</code> and <code>uptime</code>.
        </Notice>
      )}
      <div className="columns">
        <Section title="Device" actions={<Remove name={name} />}>
          <Facts
            items={[
              ['board', d.spec.board],
              ['phase', <DevicePhaseBadge key="p" value={phase} />],
              ['last heartbeat', <span key="hb" title={s?.lastHeartbeatMs ? new Date(s.lastHeartbeatMs).toLocaleString() : ''}>{ago(s?.lastHeartbeatMs, now)}</span>],
              ['session', s?.connected ? `connected to ${s.gateway ?? '?'}` : 'not connected'],
              ['assigned gateway', d.spec.gateway ?? '–'],
              ['uptime', duration(s?.uptimeMs)],
              ['free memory', bytes(s?.freeMemory)],
              ['firmware', s?.firmwareVersion ?? '–'],
              ['labels', Object.entries(d.spec.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(', ') || '–'],
              ['created', d.meta.createdMs ? new Date(d.meta.createdMs).toLocaleString() : '–'],
            ]}
          />
          {s?.lastError && <ErrorBanner error={`Last session error: ${s.lastError}`} />}
          {(d.status?.conditions ?? []).length > 0 && (
            <ul className="conditions" aria-label="Conditions">
              {(d.status?.conditions ?? []).map((c) => (
                <li key={c.type}>
                  <ConditionSummary c={c} />
                </li>
              ))}
            </ul>
          )}
        </Section>

        {emulated && (
          <Section title="QEMU process">
            <Facts
              items={[
                ['state', p ? <ProcessStateBadge key="s" value={p.state} /> : 'not started'],
                ['restarts', String(p?.restarts ?? 0)],
                ['started', ago(p?.startedMs, now, '–')],
                ['message', p?.message ?? '–'],
              ]}
            />
            <Power d={d} />
          </Section>
        )}
      </div>

      <Section title="Apps">
        <DataTable
          label="Apps on the device"
          columns={APP_COLUMNS}
          rows={s?.apps ?? []}
          rowKey={(a) => a.name}
          rowAttributes={(a) => ({ 'data-slot': a.name })}
          empty="No app reported by the device."
        />
      </Section>

      <Section title="Sensors">
        <Sensors key={name} device={d} />
      </Section>

      <Section title="Telemetry">
        <DeviceTelemetry key={name} device={d} />
      </Section>

      <Section title="Messages to apps">
        <Messages device={name} apps={[...new Set((s?.apps ?? []).map((a) => appOfSlot(a.name)))]} />
      </Section>

      <Section title="App log">
        <AppLog device={name} />
      </Section>

      {emulated && (
        <Section title="Serial console">
          <SerialConsole device={name} />
        </Section>
      )}

      <Section title="Terminal">
        <Terminal device={name} online={phase === 'Online'} />
      </Section>
    </Page>
  );
}
