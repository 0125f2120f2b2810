// A small typed client over fetch. Every failure becomes an ApiError whose
// message is what the server said (`{"error": "..."}`) or, failing that, a
// sentence naming the request and the status.

import type {
  Application,
  AttachedPeripheral,
  AuditEntry,
  AuditQuery,
  Board,
  ConsoleChunk,
  DeployRequest,
  Device,
  FleetQuery,
  FleetSeries,
  Gateway,
  HistoryEntry,
  LogLine,
  MessageRequest,
  MessageResult,
  MetricSummary,
  ModuleInfo,
  NewDevice,
  RollbackRequest,
  RolloutControl,
  SensorReading,
  SensorValue,
  SeriesQuery,
  SeriesRange,
  TerminalAnswer,
  TerminalRequest,
  WhoAmI,
} from './types';

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

const STATUS_TEXT: Record<number, string> = {
  401: 'not signed in, or the token is not valid (any more)',
  403: 'your token’s role does not allow this',
  404: 'not found',
  413: 'too large',
  502: 'the platform is not reachable',
  503: 'the platform is not reachable',
  504: 'the platform did not answer in time',
};

/** The readable message of an error answer: the server's `error` field, else a sentence about the status. */
export function errorMessage(status: number, body: string, what: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && 'error' in parsed) {
      const e = (parsed as { error: unknown }).error;
      if (typeof e === 'string' && e.trim() !== '') return e;
    }
  } catch {
    // Not JSON: a proxy's or server's plain-text page.
  }
  const text = body.trim();
  const known = STATUS_TEXT[status];
  if (text && text.length <= 200 && !text.startsWith('<')) return `${what}: ${text} (HTTP ${status})`;
  return `${what}: ${known ?? 'failed'} (HTTP ${status})`;
}

export type TokenSource = () => string | null;

export class Api {
  private readonly token: TokenSource;
  private readonly base: string;

  constructor(token: TokenSource, base = '') {
    this.token = token;
    this.base = base;
  }

  headers(extra?: Record<string, string>): Record<string, string> {
    const h: Record<string, string> = { ...extra };
    const t = this.token();
    if (t) h.Authorization = `Bearer ${t}`;
    return h;
  }

  url(path: string): string {
    return `${this.base}/api/v1${path}`;
  }

  async request<T>(method: string, path: string, body?: unknown, raw?: BodyInit): Promise<T> {
    const what = `${method} ${path.split('?')[0]}`;
    let res: Response;
    try {
      res = await fetch(this.url(path), {
        method,
        headers: this.headers(
          raw !== undefined
            ? { 'Content-Type': 'application/wasm' }
            : body !== undefined
              ? { 'Content-Type': 'application/json' }
              : undefined,
        ),
        body: raw ?? (body !== undefined ? JSON.stringify(body) : undefined),
      });
    } catch (e) {
      throw new ApiError(0, `${what}: the platform is not reachable (${e instanceof Error ? e.message : String(e)})`);
    }
    const text = await res.text();
    if (!res.ok) throw new ApiError(res.status, errorMessage(res.status, text, what));
    if (res.status === 204 || text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(res.status, `${what}: the answer is not JSON`);
    }
  }

  whoami = () => this.request<WhoAmI>('GET', '/auth/whoami');
  boards = () => this.request<Board[]>('GET', '/boards');
  devices = () => this.request<Device[]>('GET', '/devices');
  gateways = () => this.request<Gateway[]>('GET', '/gateways');
  createDevice = (name: string, board: string, labels: Record<string, string>, peripherals: AttachedPeripheral[] = []) =>
    this.request<Device>('POST', '/devices', { name, board, labels, peripherals } satisfies NewDevice);
  deleteDevice = (name: string) => this.request<void>('DELETE', `/devices/${enc(name)}`);
  connect = (name: string) => this.request<Device>('POST', `/devices/${enc(name)}/connect`);
  disconnect = (name: string) => this.request<Device>('POST', `/devices/${enc(name)}/disconnect`);
  logs = (name: string, tail = 200) => this.request<LogLine[]>('GET', `/devices/${enc(name)}/logs?tail=${tail}`);
  console = (name: string, offset: number) =>
    this.request<ConsoleChunk>('GET', `/devices/${enc(name)}/console?offset=${offset}`);
  terminal = (name: string, command: string) =>
    this.request<TerminalAnswer>('POST', `/devices/${enc(name)}/terminal`, { command } satisfies TerminalRequest);
  sensors = (name: string) => this.request<SensorReading[]>('GET', `/devices/${enc(name)}/sensors`);
  setSensor = (name: string, sensor: string, value: number) =>
    this.request<SensorReading>('PUT', `/devices/${enc(name)}/sensors/${enc(sensor)}`, { value } satisfies SensorValue);
  deviceMetrics = (name: string) => this.request<MetricSummary[]>('GET', `/devices/${enc(name)}/telemetry`);
  deviceSeries = (name: string, metric: string, q: SeriesQuery) =>
    this.request<SeriesRange>('GET', `/devices/${enc(name)}/telemetry/${enc(metric)}${query(q)}`);

  uploadModule = (bytes: ArrayBuffer, digest: string | null) =>
    this.request<ModuleInfo>('POST', `/modules${digest ? `?digest=${digest}` : ''}`, undefined, bytes);
  deploy = (name: string, req: DeployRequest) => this.request<Application>('PUT', `/applications/${enc(name)}`, req);
  deleteApplication = (name: string) => this.request<void>('DELETE', `/applications/${enc(name)}`);
  rolloutControl = (name: string, verb: RolloutControl) =>
    this.request<Application>('POST', `/applications/${enc(name)}/${verb}`);
  rollback = (name: string, revision?: number) =>
    this.request<Application>('POST', `/applications/${enc(name)}/rollback`, (revision === undefined ? {} : { revision }) satisfies RollbackRequest);
  history = (name: string) => this.request<HistoryEntry[]>('GET', `/applications/${enc(name)}/history`);
  fleetSeries = (name: string, metric: string, q: FleetQuery) =>
    this.request<FleetSeries>('GET', `/applications/${enc(name)}/telemetry/${enc(metric)}${query(q)}`);
  sendMessage = (name: string, req: MessageRequest) =>
    this.request<MessageResult[]>('POST', `/applications/${enc(name)}/messages`, req);

  audit = (q: AuditQuery) => this.request<AuditEntry[]>('GET', `/audit${query(q)}`);
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** `?k=v&...` of the parameters that are set, or nothing. */
function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const qs = p.toString();
  return qs ? `?${qs}` : '';
}

/** Hex SHA-256 of the bytes, when the browser offers WebCrypto (secure contexts only; loopback is one). */
export async function sha256Hex(bytes: ArrayBuffer): Promise<string | null> {
  if (typeof crypto === 'undefined' || !crypto.subtle) return null;
  const d = await crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(d), (b) => b.toString(16).padStart(2, '0')).join('');
}
