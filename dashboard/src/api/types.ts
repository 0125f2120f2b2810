// The API's JSON, as docs/api.md and crates/wasmbed-model define it
// (camelCase). Only what the dashboard reads is typed; fields the server
// may omit are optional.

export interface Meta {
  name: string;
  resourceVersion?: number;
  generation?: number;
  createdMs?: number;
}

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
  lastTransitionMs?: number;
}

export type DevicePhase = 'Provisioning' | 'Connecting' | 'Online' | 'Unreachable' | 'Failed';
export const DEVICE_PHASES: DevicePhase[] = ['Provisioning', 'Connecting', 'Online', 'Unreachable', 'Failed'];

export interface AppObservation {
  name: string;
  version: string;
  digest: string;
  /** `installing`, `running`, `stopped`, `failed` or `rejected`. */
  state: string;
  revision?: number | null;
  reason?: string | null;
}

export interface SessionStatus {
  connected?: boolean;
  gateway?: string | null;
  simulated?: boolean;
  lastHeartbeatMs?: number | null;
  heartbeatMs?: number | null;
  uptimeMs?: number | null;
  freeMemory?: number | null;
  firmwareVersion?: string | null;
  apps?: AppObservation[];
  lastError?: string | null;
}

export type ProcessState = 'Running' | 'Restarting' | 'Stopped' | 'Failed';

export interface ProcessStatus {
  state: ProcessState;
  restarts?: number;
  startedMs?: number | null;
  message?: string | null;
}

export interface Device {
  meta: Meta;
  spec: {
    board: string;
    labels?: Record<string, string>;
    gateway?: string | null;
    /**
     * QEMU devices: the operator stopped its process (`POST .../disconnect`).
     * docs/api.md calls this `spec.enabled` (inverted); the API writes `disconnected`.
     */
    disconnected?: boolean;
  };
  status?: {
    phase?: DevicePhase;
    conditions?: Condition[];
    session?: SessionStatus;
    process?: ProcessStatus | null;
  };
}

export interface Limits {
  fuelPerCall: number;
  maxMemoryPages: number;
  tickMs: number;
}

export type Strategy =
  | { type: 'all-at-once' }
  | { type: 'rolling'; maxUnavailable: string }
  | { type: 'canary'; steps: string[]; soakMs?: number; maxFailures?: number }
  | { type: 'blue-green'; soakMs?: number };

export type StrategyType = Strategy['type'];
export const STRATEGY_TYPES: StrategyType[] = ['all-at-once', 'rolling', 'canary', 'blue-green'];

export type RolloutPhase = 'Progressing' | 'Paused' | 'Completed' | 'RolledBack' | 'Aborted';

export interface RolloutStatus {
  revision: number;
  rollback?: boolean;
  previous?: number | null;
  phase: RolloutPhase;
  step?: number;
  stepStartedMs?: number;
  touched?: string[];
  message?: string | null;
}

export interface StepStatus {
  step: string;
  target: number;
  updated: number;
  running: number;
  failed: number;
  pendingOffline: number;
  startedMs?: number | null;
  completedMs?: number | null;
}

export interface AppTemplate {
  version: string;
  digest: string;
  size: number;
  capabilities: string[];
  limits: Limits;
}

export interface Revision {
  revision: number;
  template: AppTemplate;
  createdMs: number;
  outcome?: string | null;
}

export interface Application {
  meta: Meta;
  spec: {
    version: string;
    digest: string;
    size: number;
    capabilities: string[];
    limits: Limits;
    selector: string;
    strategy: Strategy;
    paused?: boolean;
    abortRevision?: number | null;
  };
  status?: {
    observedGeneration?: number;
    revision?: number | null;
    stableRevision?: number | null;
    rollout?: RolloutStatus | null;
    desired?: number;
    updated?: number;
    running?: number;
    failed?: number;
    pendingOffline?: number;
    steps?: StepStatus[];
    conditions?: Condition[];
    history?: Revision[];
  };
}

export interface HistoryEntry extends Revision {
  current: boolean;
  stable: boolean;
  phase?: RolloutPhase | null;
}

export type GatewayHealth = 'Unknown' | 'Healthy' | 'Unhealthy';

export interface Gateway {
  meta: Meta;
  spec: { endpoint: string; deviceEndpoint?: string | null; capacity: number };
  status?: { sessions?: number; lastSeenMs?: number | null; reportMs?: number | null; health?: GatewayHealth };
}

export interface Board {
  name: string;
  /** Devices of it run our firmware in QEMU. */
  emulated: boolean;
  /** Devices of it can be created. */
  supported: boolean;
  /** Why not, when they cannot. */
  reason?: string | null;
}

export type Role = 'viewer' | 'operator' | 'admin';

export interface WhoAmI {
  name: string;
  role: Role;
  id: string;
}

export interface ModuleInfo {
  digest: string;
  size: number;
  imports: string[];
}

export interface DeployRequest {
  version: string;
  digest: string;
  capabilities?: string[];
  limits?: Partial<Limits>;
  selector?: string;
  strategy?: Strategy;
}

export interface ConsoleChunk {
  next: number;
  text: string;
}

export interface LogLine {
  device: string;
  app: string;
  uptimeMs: number;
  receivedMs: number;
  line: string;
}

/**
 * A log line as the platform sends it. docs/api.md documents camelCase
 * (`uptimeMs`, `receivedMs`); the model's `LogLine` serializes snake_case
 * today (no `rename_all`), in `log` events and `GET .../logs` alike. Both
 * are read here, in one place, until the two agree.
 */
export function logLine(raw: unknown): LogLine {
  const r = (raw ?? {}) as Record<string, unknown>;
  const num = (a: unknown, b: unknown) => (typeof a === 'number' ? a : typeof b === 'number' ? b : 0);
  return {
    device: String(r.device ?? ''),
    app: String(r.app ?? ''),
    uptimeMs: num(r.uptimeMs, r.uptime_ms),
    receivedMs: num(r.receivedMs, r.received_ms),
    line: String(r.line ?? ''),
  };
}

export type TerminalOutcome = 'ok' | 'refused' | 'failed';

export interface TerminalResult {
  outcome: TerminalOutcome;
  output: string;
  /** Who refused: `platform` (the allow-list, checked before any round trip) or `device`. */
  refused_by?: 'platform' | 'device';
}

export interface AuditEntry {
  atMs: number;
  actor: string;
  role?: string | null;
  action: string;
  target?: string | null;
  outcome: string;
  status?: number | null;
  detail?: string | null;
}

export interface Snapshot {
  devices: Device[];
  applications: Application[];
  gateways: Gateway[];
}

/** Capability groups of ABI v1 (docs/api.md). */
export const CAPABILITIES = ['log', 'time', 'device'] as const;

/** Terminal commands the device accepts (docs/api.md; the device enforces the same list). */
export const TERMINAL_COMMANDS = ['status', 'apps', 'mem', 'uptime', 'restart-app NAME', 'reboot'];
