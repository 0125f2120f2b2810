// Friendly names for the API's types. The shapes themselves are generated
// from docs/openapi.json into ./openapi.gen.ts (`npm run gen:api`); this
// module only names them, and derives the constant lists the pages need in
// a way tsc checks against the generated unions.

import type { components, operations } from './openapi.gen';

type Schemas = components['schemas'];

export type Meta = Schemas['Meta'];
export type Condition = Schemas['Condition'];
export type ConditionStatus = Schemas['ConditionStatus'];

export type Device = Schemas['Device'];
export type DevicePhase = Schemas['DevicePhase'];
export type SessionStatus = Schemas['SessionStatus'];
export type AppObservation = Schemas['AppObservation'];
export type AppState = AppObservation['state'];
export type ProcessState = Schemas['ProcessState'];
export type NewDevice = Schemas['NewDevice'];

export type Application = Schemas['Application'];
export type Limits = Schemas['Limits'];
export type Strategy = Schemas['Strategy'];
export type StrategyType = Strategy['type'];
export type RolloutPhase = Schemas['RolloutPhase'];
export type StepStatus = Schemas['StepStatus'];
export type RolloutControl = Schemas['RolloutControl'];
export type Revision = Schemas['Revision'];
export type RevisionOutcome = Schemas['RevisionOutcome'];
export type HistoryEntry = Schemas['HistoryEntry'];
export type DeployRequest = Schemas['DeployRequest'];
export type RollbackRequest = Schemas['RollbackRequest'];
export type ModuleInfo = Schemas['ModuleInfo'];

export type Gateway = Schemas['Gateway'];
export type GatewayHealth = Schemas['GatewayHealth'];
export type Board = Schemas['BoardInfo'];

export type Role = Schemas['Role'];
export type WhoAmI = Schemas['WhoAmI'];
export type ConsoleChunk = Schemas['ConsoleChunk'];
export type LogLine = Schemas['LogLine'];
export type TerminalRequest = Schemas['TerminalRequest'];
export type TerminalAnswer = Schemas['TerminalAnswer'];
export type AuditEntry = Schemas['AuditEntry'];
export type AuditQuery = NonNullable<operations['audit']['parameters']['query']>;

// The event stream's payloads (`GET /api/v1/events`) and the platform's
// count of recent activity.
export type Snapshot = Schemas['Snapshot'];
export type Heartbeat = Schemas['Heartbeat'];
export type Deleted = Schemas['Deleted'];
export type Activity = Schemas['Activity'];
export type ActivityBucket = Schemas['ActivityBucket'];

/**
 * Every member of a string union, in the order written. The argument must
 * name each member once and nothing else, so tsc fails here when the API
 * gains or loses one.
 */
function every<T extends string>(members: Record<T, true>): T[] {
  return Object.keys(members) as T[];
}

/** Device phases in lifecycle order. */
export const DEVICE_PHASES = every<DevicePhase>({ Provisioning: true, Connecting: true, Online: true, Unreachable: true, Failed: true });

export const STRATEGY_TYPES = every<StrategyType>({ 'all-at-once': true, rolling: true, canary: true, 'blue-green': true });

/** Capability groups of ABI v1 (docs/api.md; the document types capabilities as plain strings). */
export const CAPABILITIES = ['log', 'time', 'device'] as const;

/** An audit entry's outcomes (docs/api.md; the document types the outcome as a plain string). */
export const AUDIT_OUTCOMES = ['ok', 'refused', 'denied', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Terminal commands the device accepts (docs/api.md; the device enforces the same list). */
export const TERMINAL_COMMANDS = ['status', 'apps', 'mem', 'uptime', 'restart-app NAME', 'reboot'];
