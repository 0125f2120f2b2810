// An application's rollout as it happens: phase, a progress bar, and the
// statistics of each step, re-rendered on every `application` event.

import type { Application, StepStatus } from '../api/types';
import { ago } from '../model';
import { RolloutPhaseBadge } from './badges';
import { Empty, Notice, ProgressBar } from './common';
import { DataTable, type Column } from './DataTable';

const stepColumns = (now: number): Column<StepStatus>[] => [
  { head: 'step', cell: (s) => s.step },
  { head: 'target', cell: (s) => s.target },
  { head: 'updated', cell: (s) => s.updated },
  { head: 'running', cell: (s) => s.running },
  { head: 'failed', cell: (s) => s.failed },
  { head: 'offline', cell: (s) => s.pendingOffline },
  { head: 'started', cell: (s) => ago(s.startedMs, now, '–') },
  { head: 'gate passed', cell: (s) => ago(s.completedMs, now, '–') },
];

export function RolloutProgress({ app, now }: { app: Application; now: number }) {
  const st = app.status ?? {};
  const ro = st.rollout;
  if (!ro) return <Empty>No rollout yet: the control plane has not picked this application up.</Empty>;
  const desired = st.desired ?? 0;
  const steps = st.steps ?? [];
  return (
    <div className="rollout" aria-label="Rollout" data-phase={ro.phase} data-revision={ro.revision}>
      <p>
        Revision {ro.revision}
        {ro.previous ? ` replacing ${ro.previous}` : ''}
        {ro.rollback ? ' (a rollback: applied at once, no gates)' : ''} — <RolloutPhaseBadge value={ro.phase} />
        {app.spec.paused && ro.phase !== 'Paused' ? ' (pause requested)' : ''}
      </p>
      {ro.message && <Notice>{ro.message}</Notice>}
      <ProgressBar label="Rollout progress" value={st.running ?? 0} max={desired} failed={st.failed ?? 0} />
      <p className="muted" aria-label="Rollout counts">
        {st.updated ?? 0} updated, {st.running ?? 0} running, {st.failed ?? 0} failed, {st.pendingOffline ?? 0} offline
        (waiting) of {desired} targeted
      </p>
      {steps.length > 0 && (
        <DataTable
          label="Rollout steps"
          columns={stepColumns(now)}
          rows={steps}
          rowKey={(_, i) => i}
          rowAttributes={(_, i) => ({ className: i === (ro.step ?? 0) && ro.phase === 'Progressing' ? 'current' : '' })}
        />
      )}
    </div>
  );
}
