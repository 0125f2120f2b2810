import { RolloutProgress } from '../components/Rollout';
import { AppStateBadge, ConditionSummary, RevisionOutcomeBadge, RolloutPhaseBadge } from '../components/badges';
import { DeviceLink, Targets } from '../components/columns';
import { ErrorBanner, Facts, Missing, Page, Section, useAction } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import { SendMessage } from '../components/SendMessage';
import { FleetTelemetry } from '../components/Telemetry';
import type { AppObservation, Application, Revision, RolloutControl } from '../api/types';
import { ago, edgeSlotsOf, gatesOf, nativeBuilds, pairsText, rollbackTarget, slotsOf, strategyLabel } from '../model';
import { useAuth } from '../state/auth';
import { useFleet, useNow } from '../state/fleet-context';
import { Link, navigate } from '../router';

/** A slot of this application on a device, or (an edge application) on a gateway. */
type Placed = { device: string; slot: AppObservation };

const placedColumns = (onGateways: boolean): Column<Placed>[] => [
  { head: onGateways ? 'gateway' : 'device', cell: ({ device }) => (onGateways ? device : <DeviceLink name={device} />) },
  { head: 'slot', cell: ({ slot }) => slot.name },
  { head: 'revision', cell: ({ slot }) => slot.revision ?? '–' },
  {
    head: 'state',
    cell: ({ slot }) => (
      <>
        <AppStateBadge value={slot.state} />
        {slot.reason ? ` ${slot.reason}` : ''}
      </>
    ),
  },
];

function Controls({ app }: { app: Application }) {
  const { api, can } = useAuth();
  const { run, busy, error, setError } = useAction();
  if (!can('operator')) return null;
  const name = app.meta.name;
  const phase = app.status?.rollout?.phase;
  const moving = phase === 'Progressing' || phase === 'Paused';
  const control = (verb: RolloutControl, label: string) => (
    <button type="button" disabled={busy} onClick={() => void run(() => api.rolloutControl(name, verb))}>
      {label}
    </button>
  );
  const remove = () => {
    if (!confirm(`Remove ${name} from every device?`)) return;
    void run(async () => {
      await api.deleteApplication(name);
      navigate('/applications');
    });
  };
  return (
    <div className="controls">
      <div className="row">
        <Link to={`/applications/new?app=${encodeURIComponent(name)}`} className="button primary">
          Deploy a new version
        </Link>
        {moving && (app.spec.paused ? control('resume', 'Resume rollout') : control('pause', 'Pause rollout'))}
        {moving && control('abort', 'Abort rollout')}
        <button type="button" className="danger" disabled={busy} onClick={remove}>
          Remove application
        </button>
      </div>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
    </div>
  );
}

function History({ app, now }: { app: Application; now: number }) {
  const { api, can } = useAuth();
  const { run, busy, error, setError } = useAction();
  const st = app.status ?? {};
  const history = [...(st.history ?? [])].reverse();
  const stable = st.stableRevision;
  const target = rollbackTarget(app);
  const current = (r: Revision) => st.revision === r.revision;
  const columns: Column<Revision>[] = [
    {
      head: 'revision',
      cell: (r) => (
        <>
          {r.revision} {current(r) && <span className="tag">current</span>}{' '}
          {stable === r.revision && <span className="tag">stable</span>}
        </>
      ),
    },
    { head: 'version', cell: (r) => r.template.version },
    {
      head: 'module',
      cell: (r) => (
        <>
          <code title={r.template.digest}>{r.template.digest.slice(0, 12)}</code> ({r.template.size} B)
        </>
      ),
    },
    { head: 'capabilities', cell: (r) => r.template.capabilities.join(', ') },
    { head: 'code', cell: (r) => codeOf(r) },
    { head: 'created', cell: (r) => ago(r.createdMs, now) },
    {
      head: 'outcome',
      cell: (r) =>
        current(r) && st.rollout?.revision === r.revision ? (
          <RolloutPhaseBadge value={st.rollout.phase} />
        ) : r.outcome ? (
          <>
            <RevisionOutcomeBadge value={r.outcome} />
            {r.outcomeMessage && <span className="muted"> {r.outcomeMessage}</span>}
          </>
        ) : (
          '–'
        ),
    },
    {
      head: '',
      cell: (r) =>
        !current(r) &&
        can('operator') && (
          <button type="button" disabled={busy} onClick={() => void run(() => api.rollback(app.meta.name, r.revision))}>
            Roll back to {r.revision}
          </button>
        ),
    },
  ];
  return (
    <>
      {target !== null && can('operator') && (
        <button type="button" className="primary" disabled={busy} onClick={() => void run(() => api.rollback(app.meta.name, target))}>
          Roll back to revision {target}
        </button>
      )}
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <DataTable
        label="Revision history"
        columns={columns}
        rows={history}
        rowKey={(r) => r.revision}
        rowAttributes={(r) => ({ 'data-revision': r.revision })}
        empty="No revision yet."
      />
    </>
  );
}

/** A revision's code in one phrase: interpreted, or native on how many of its boards. */
function codeOf(r: Revision): string {
  const builds = nativeBuilds(r);
  const execution = r.template.execution ?? 'interpreted';
  if (execution === 'interpreted') return 'interpreted';
  const native = builds.filter((b) => b.runs === 'native').length;
  return `${execution}: native on ${native} of ${builds.length} board${builds.length === 1 ? '' : 's'}`;
}

/** Each board's native build of the rollout's revision. */
function NativeCode({ app }: { app: Application }) {
  const st = app.status ?? {};
  const rev = (st.history ?? []).find((r) => r.revision === st.rollout?.revision);
  const rows = rev ? nativeBuilds(rev) : [];
  type Row = (typeof rows)[number];
  const columns: Column<Row>[] = [
    { head: 'board', cell: (b) => b.board },
    { head: 'runs', cell: (b) => <span className={b.runs === 'native' ? 'tag' : 'muted'}>{b.runs}</span> },
    {
      head: 'code or reason',
      cell: (b) => (b.digest ? <>{b.detail}, <code title={b.digest}>{b.digest.slice(0, 12)}</code></> : b.detail),
    },
  ];
  return (
    <DataTable
      label="Native builds"
      columns={columns}
      rows={rows}
      rowKey={(b) => b.board}
      rowAttributes={(b) => ({ 'data-board': b.board })}
      empty="No board built yet."
    />
  );
}

export function ApplicationDetail({ name }: { name: string }) {
  const { state } = useFleet();
  const now = useNow();
  const app = state.applications[name];
  if (!app) {
    return (
      <Missing name={name} loaded={state.loaded}>
        There is no application {name}. <Link to="/applications">All applications</Link>
      </Missing>
    );
  }
  const sp = app.spec;
  const edge = sp.runtime === 'edge';
  const placed = (
    edge
      ? Object.values(state.gateways).flatMap((g) => edgeSlotsOf(name, g).map((slot) => ({ device: g.meta.name, slot })))
      : Object.values(state.devices).flatMap((d) => slotsOf(name, d).map((slot) => ({ device: d.meta.name, slot })))
  ).sort((a, b) => a.device.localeCompare(b.device));
  // Messages go to each gateway, or to each board an edge app drives (its slot `app@board`).
  const targets = placed.map(({ device, slot }) => (edge && slot.name.includes('@') ? slot.name.slice(slot.name.indexOf('@') + 1) : device));

  return (
    <Page
      title={
        <>
          {name} <span className="muted">version {sp.version}</span>
        </>
      }
    >
      <Controls app={app} />
      <Section title="Rollout">
        <RolloutProgress app={app} now={now} />
      </Section>
      <div className="columns">
        <Section title="Specification">
          <Facts
            items={[
              ['module', <code key="d" title={sp.digest}>{sp.digest.slice(0, 16)}… ({sp.size} B)</code>],
              ['capabilities', sp.capabilities?.join(', ') || 'none'],
              ...(edge ? [] : [['execution', sp.execution ?? 'interpreted'] as [string, string]]),
              ['targets', <Targets key="s" app={app} />],
              ['strategy', strategyLabel(app)],
              ['metric gates', gatesOf(app).join(', ') || 'none'],
              ['config', pairsText(sp.config) ? <code key="c">{pairsText(sp.config)}</code> : 'none'],
              [
                'limits',
                sp.limits
                  ? `${sp.limits.fuelPerCall.toLocaleString()} fuel per call, ${sp.limits.maxMemoryPages} pages, tick ${sp.limits.tickMs} ms`
                  : 'the platform’s defaults',
              ],
            ]}
          />
          {(app.status?.conditions ?? []).map((c) => (
            <p key={c.type}>
              <ConditionSummary c={c} />
            </p>
          ))}
        </Section>
        <Section title={edge ? 'On gateways' : 'On devices'}>
          <DataTable
            label={edge ? 'Gateways running the app' : 'Devices running the app'}
            columns={placedColumns(edge)}
            rows={placed}
            rowKey={({ device, slot }) => `${device}/${slot.name}`}
            empty={edge ? 'No gateway reports this app yet.' : 'No device reports this app yet.'}
          />
        </Section>
      </div>
      {!edge && (sp.execution ?? 'interpreted') !== 'interpreted' && (
        <Section title="Native code">
          <NativeCode app={app} />
        </Section>
      )}
      <Section title="Telemetry">
        <FleetTelemetry key={name} app={app} />
      </Section>
      <Section title="Messages">
        <SendMessage key={name} app={name} devices={[...new Set(targets)]} edge={edge} />
      </Section>
      <Section title="History">
        <History app={app} now={now} />
      </Section>
    </Page>
  );
}
