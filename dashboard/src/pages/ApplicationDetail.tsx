import { RolloutProgress } from '../components/Rollout';
import { AppStateBadge, ConditionBadge, RevisionOutcomeBadge, RolloutPhaseBadge } from '../components/badges';
import { Empty, ErrorBanner, Facts, Section, Table, useAction } from '../components/common';
import type { Application } from '../api/types';
import { ago, rollbackTarget, slotsOf, strategyLabel } from '../model';
import { useAuth } from '../state/auth';
import { useFleet, useNow } from '../state/fleet-context';
import { Link, navigate } from '../router';

function Controls({ app }: { app: Application }) {
  const { api, can } = useAuth();
  const { run, busy, error, setError } = useAction();
  if (!can('operator')) return null;
  const name = app.meta.name;
  const phase = app.status?.rollout?.phase;
  const moving = phase === 'Progressing' || phase === 'Paused';
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
        {moving &&
          (app.spec.paused ? (
            <button type="button" disabled={busy} onClick={() => void run(() => api.rolloutControl(name, 'resume'))}>
              Resume rollout
            </button>
          ) : (
            <button type="button" disabled={busy} onClick={() => void run(() => api.rolloutControl(name, 'pause'))}>
              Pause rollout
            </button>
          ))}
        {moving && (
          <button type="button" disabled={busy} onClick={() => void run(() => api.rolloutControl(name, 'abort'))}>
            Abort rollout
          </button>
        )}
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
  return (
    <>
      {target !== null && can('operator') && (
        <button type="button" className="primary" disabled={busy} onClick={() => void run(() => api.rollback(app.meta.name, target))}>
          Roll back to revision {target}
        </button>
      )}
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {history.length === 0 ? (
        <Empty>No revision yet.</Empty>
      ) : (
        <Table aria-label="Revision history">
          <thead>
            <tr>
              <th>revision</th>
              <th>version</th>
              <th>module</th>
              <th>capabilities</th>
              <th>created</th>
              <th>outcome</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {history.map((r) => {
              const current = st.revision === r.revision;
              return (
                <tr key={r.revision} data-revision={r.revision}>
                  <td>
                    {r.revision} {current && <span className="tag">current</span>} {stable === r.revision && <span className="tag">stable</span>}
                  </td>
                  <td>{r.template.version}</td>
                  <td>
                    <code title={r.template.digest}>{r.template.digest.slice(0, 12)}</code> ({r.template.size} B)
                  </td>
                  <td>{r.template.capabilities.join(', ')}</td>
                  <td>{ago(r.createdMs, now)}</td>
                  <td>
                    {current && st.rollout?.revision === r.revision ? (
                      <RolloutPhaseBadge value={st.rollout.phase} />
                    ) : r.outcome ? (
                      <>
                        <RevisionOutcomeBadge value={r.outcome} />
                        {r.outcomeMessage && <span className="muted"> {r.outcomeMessage}</span>}
                      </>
                    ) : (
                      '–'
                    )}
                  </td>
                  <td>
                    {!current && can('operator') && (
                      <button type="button" disabled={busy} onClick={() => void run(() => api.rollback(app.meta.name, r.revision))}>
                        Roll back to {r.revision}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </Table>
      )}
    </>
  );
}

export function ApplicationDetail({ name }: { name: string }) {
  const { state } = useFleet();
  const now = useNow();
  const app = state.applications[name];
  if (!app) {
    return (
      <div className="page">
        <h1>{name}</h1>
        <Empty>{state.loaded ? <>There is no application {name}. <Link to="/applications">All applications</Link></> : 'Loading…'}</Empty>
      </div>
    );
  }
  const sp = app.spec;
  const placed = Object.values(state.devices)
    .flatMap((d) => slotsOf(name, d).map((slot) => ({ device: d.meta.name, slot })))
    .sort((a, b) => a.device.localeCompare(b.device));

  return (
    <div className="page">
      <h1>
        {name} <span className="muted">version {sp.version}</span>
      </h1>
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
              ['targets', <code key="s">{sp.selector || '(every device)'}</code>],
              ['strategy', strategyLabel(app)],
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
              <ConditionBadge value={c.status} label={`${c.type}: ${c.status}`} /> {c.reason}
              {c.message ? ` — ${c.message}` : ''}
            </p>
          ))}
        </Section>
        <Section title="On devices">
          {placed.length === 0 ? (
            <Empty>No device reports this app yet.</Empty>
          ) : (
            <Table aria-label="Devices running the app">
              <thead>
                <tr>
                  <th>device</th>
                  <th>slot</th>
                  <th>revision</th>
                  <th>state</th>
                </tr>
              </thead>
              <tbody>
                {placed.map(({ device, slot }) => (
                  <tr key={`${device}/${slot.name}`}>
                    <td>
                      <Link to={`/devices/${encodeURIComponent(device)}`}>{device}</Link>
                    </td>
                    <td>{slot.name}</td>
                    <td>{slot.revision ?? '–'}</td>
                    <td>
                      <AppStateBadge value={slot.state} />
                      {slot.reason ? ` ${slot.reason}` : ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </Section>
      </div>
      <Section title="History">
        <History app={app} now={now} />
      </Section>
    </div>
  );
}
