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
export type AppCounters = Schemas['AppCounters'];
export type ProcessState = Schemas['ProcessState'];
export type NewDevice = Schemas['NewDevice'];
export type AttachedPeripheral = Schemas['AttachedPeripheral'];
export type SensorKind = Schemas['SensorKind'];
export type SensorReading = Schemas['SensorReading'];
export type SensorValue = Schemas['SensorValue'];

export type Application = Schemas['Application'];
export type Runtime = Schemas['Runtime'];
export type Execution = Schemas['Execution'];
export type NativeBuild = Schemas['NativeBuild'];
export type Limits = Schemas['Limits'];
export type Strategy = Schemas['Strategy'];
export type StrategyType = Strategy['type'];
export type MetricGate = Schemas['MetricGate'];
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

// What apps publish (`GET .../telemetry...`) and messages to apps.
export type Point = Schemas['Point'];
export type Aggregate = Schemas['Aggregate'];
export type SeriesRange = Schemas['SeriesRange'];
export type MetricSummary = Schemas['MetricSummary'];
export type FleetSeries = Schemas['FleetSeries'];
export type SeriesQuery = NonNullable<operations['device_series']['parameters']['query']>;
export type FleetQuery = NonNullable<operations['fleet_series']['parameters']['query']>;
export type MessageRequest = Schemas['MessageRequest'];
export type MessageResult = Schemas['MessageResult'];
export type Delivery = Schemas['Delivery'];
export type AuditQuery = NonNullable<operations['audit']['parameters']['query']>;

// The event stream's payloads (`GET /api/v1/events`) and the platform's
// count of recent activity.
export type Snapshot = Schemas['Snapshot'];
export type Heartbeat = Schemas['Heartbeat'];
export type Deleted = Schemas['Deleted'];
export type Activity = Schemas['Activity'];
export type ActivityBucket = Schemas['ActivityBucket'];
export type TelemetrySample = Schemas['TelemetrySample'];

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

export const SENSOR_KINDS = every<SensorKind>({ tmp105: true });

export const STRATEGY_TYPES = every<StrategyType>({ 'all-at-once': true, rolling: true, canary: true, 'blue-green': true });

/**
 * Capability groups (docs/api.md; the document types capabilities as plain
 * strings). Hardware is granted by name beside them (`gpio:led0`,
 * `i2c:0:0x48`, `spi:0`, `adc:0`, `uart:1`), which only the platform
 * parses: it refuses a malformed one naming it.
 */
export const CAPABILITIES = ['log', 'time', 'device', 'telemetry', 'config', 'messages'] as const;

/** Where an application runs: devices (a core module) or gateways (an edge component). */
export const RUNTIMES = every<Runtime>({ device: true, edge: true });

/** How a device app runs: interpreted, native code compiled per board, or native where a board has it. */
export const EXECUTIONS = every<Execution>({ interpreted: true, native: true, auto: true });

/**
 * The interfaces an edge component may be granted (wit/wasmbed-edge.wit;
 * the platform refuses any other, naming it).
 */
export const EDGE_CAPABILITIES = ['log', 'clocks', 'config', 'kv', 'telemetry', 'messages', 'attached-board', 'wasi'] as const;

/** An audit entry's outcomes, in the order the filter offers them (the document's `Outcome`). */
export const AUDIT_OUTCOMES = ['ok', 'refused', 'denied', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/** Terminal commands the device accepts (docs/api.md; the device enforces the same list). */
export const TERMINAL_COMMANDS = ['status', 'apps', 'mem', 'uptime', 'restart-app NAME', 'reboot'];
