// An application's rollout as it happens: phase, a progress bar, and the
// statistics of each step, re-rendered on every `application` event.

import type { Application } from '../api/types';
import { ago } from '../model';
import { RolloutPhaseBadge } from './badges';
import { Empty, ProgressBar, Table } from './common';

export function RolloutProgress({ app, now }: { app: Application; now: number }) {
  const st = app.status ?? {};
  const ro = st.rollout;
  if (!ro) return <Empty>No rollout yet: the control plane has not picked this application up.</Empty>;
  const desired = st.desired ?? 0;
  return (
    <div className="rollout" aria-label="Rollout" data-phase={ro.phase} data-revision={ro.revision}>
      <p>
        Revision {ro.revision}
        {ro.previous ? ` replacing ${ro.previous}` : ''}
        {ro.rollback ? ' (a rollback: applied at once, no gates)' : ''} — <RolloutPhaseBadge value={ro.phase} />
        {app.spec.paused && ro.phase !== 'Paused' ? ' (pause requested)' : ''}
      </p>
      {ro.message && (
        <p className="notice" role="note">
          {ro.message}
        </p>
      )}
      <ProgressBar label="Rollout progress" value={st.running ?? 0} max={desired} failed={st.failed ?? 0} />
      <p className="muted" aria-label="Rollout counts">
        {st.updated ?? 0} updated, {st.running ?? 0} running, {st.failed ?? 0} failed, {st.pendingOffline ?? 0} offline
        (waiting) of {desired} targeted
      </p>
      {(st.steps ?? []).length > 0 && (
        <Table aria-label="Rollout steps">
          <thead>
            <tr>
              <th>step</th>
              <th>target</th>
              <th>updated</th>
              <th>running</th>
              <th>failed</th>
              <th>offline</th>
              <th>started</th>
              <th>gate passed</th>
            </tr>
          </thead>
          <tbody>
            {(st.steps ?? []).map((s, i) => (
              <tr key={i} className={i === (ro.step ?? 0) && ro.phase === 'Progressing' ? 'current' : ''}>
                <td>{s.step}</td>
                <td>{s.target}</td>
                <td>{s.updated}</td>
                <td>{s.running}</td>
                <td>{s.failed}</td>
                <td>{s.pendingOffline}</td>
                <td>{s.startedMs ? ago(s.startedMs, now) : '–'}</td>
                <td>{s.completedMs ? ago(s.completedMs, now) : '–'}</td>
              </tr>
            ))}
          </tbody>
        </Table>
      )}
    </div>
  );
}
