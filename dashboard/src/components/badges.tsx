// One badge per kind of state, each with its own exhaustive table of tones
// typed by the generated unions: a state the API gains fails tsc here
// until someone decides how it looks.

import type {
  AppState,
  AuditEntry,
  AuditOutcome,
  Condition,
  ConditionStatus,
  Delivery,
  DevicePhase,
  GatewayHealth,
  ProcessState,
  RevisionOutcome,
  RolloutPhase,
} from '../api/types';
import { Badge, type Tone } from './common';

function stateBadge<S extends string>(tones: Record<S, Tone>) {
  return function StateBadge({ value, label }: { value: S; label?: string }) {
    return <Badge value={value} tone={tones[value]} label={label} />;
  };
}

export const DevicePhaseBadge = stateBadge<DevicePhase>({
  Provisioning: 'busy',
  Connecting: 'busy',
  Online: 'ok',
  Unreachable: 'warn',
  Failed: 'bad',
});

export const ProcessStateBadge = stateBadge<ProcessState>({
  Running: 'ok',
  Restarting: 'busy',
  Stopped: 'muted',
  Failed: 'bad',
});

export const AppStateBadge = stateBadge<AppState>({
  installing: 'busy',
  running: 'ok',
  stopped: 'muted',
  failed: 'bad',
  rejected: 'bad',
});

export const RolloutPhaseBadge = stateBadge<RolloutPhase>({
  Progressing: 'busy',
  Paused: 'warn',
  Completed: 'ok',
  RolledBack: 'bad',
  Aborted: 'warn',
});

/** How a revision's last rollout ended. */
export const RevisionOutcomeBadge = stateBadge<RevisionOutcome>({
  Completed: 'ok',
  RolledBack: 'bad',
  Aborted: 'warn',
  Superseded: 'muted',
});

export const GatewayHealthBadge = stateBadge<GatewayHealth>({
  Unknown: 'muted',
  Healthy: 'ok',
  Unhealthy: 'bad',
});

/** What became of a message on a device: taken by the app, or why not. */
export const DeliveryBadge = stateBadge<Delivery>({
  delivered: 'ok',
  'not-running': 'warn',
  'no-handler': 'warn',
  failed: 'bad',
  'too-large': 'bad',
});

/** A condition's status; the label usually names the condition too. */
export const ConditionBadge = stateBadge<ConditionStatus>({
  True: 'ok',
  False: 'muted',
  Unknown: 'muted',
});

/** A condition: its status as a badge naming it, then why. */
export function ConditionSummary({ c }: { c: Condition }) {
  return (
    <>
      <ConditionBadge value={c.status} label={`${c.type}: ${c.status}`} /> {c.reason}
      {c.message ? ` — ${c.message}` : ''}
    </>
  );
}

/** `refused`: bad input or a command the device refused; `denied`: no token or too low a role. */
export const AuditOutcomeBadge = stateBadge<AuditEntry['outcome']>({
  ok: 'ok',
  refused: 'warn',
  denied: 'bad',
  failed: 'bad',
} satisfies Record<AuditOutcome, Tone>);
