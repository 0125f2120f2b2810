// Small facts about resources the pages share.

import type { Application, Board, Device, DevicePhase, Gateway, GatewayHealth, Meta, MetricGate, Revision } from './api/types';

export const SIM_BOARD = 'sim';

/** The device is the host simulator (the agent on the platform's host), not firmware. */
export function isSimulated(d: Device): boolean {
  return d.spec.board === SIM_BOARD || d.status?.session?.simulated === true;
}

/** The platform runs this device's QEMU process (so it has a serial console and can be connected/disconnected). */
export function isEmulated(d: Device, boards: Board[]): boolean {
  const b = boards.find((b) => b.name === d.spec.board);
  return b ? b.emulated : d.spec.board !== SIM_BOARD;
}

/** The device is an attached board: no WebAssembly runtime, driven over a serial link by its gateway, where its apps run. */
export function isAttached(d: Device, boards: Board[]): boolean {
  return boards.find((b) => b.name === d.spec.board)?.attached === true;
}

/** Why devices of this board cannot be created, or null when they can. */
export function boardRefusal(b: Board): string | null {
  if (b.supported) return null;
  return b.reason?.trim() || 'the platform does not support devices of this board';
}

export function phaseOf(d: Device): DevicePhase {
  return d.status?.phase ?? 'Provisioning';
}

/** A gateway that has not reported yet is of unknown health. */
export function healthOf(g: Gateway): GatewayHealth {
  return g.status?.health ?? 'Unknown';
}

/** The address QEMU devices dial: the gateway's own for them, else the one host devices dial. */
export function qemuEndpoint(g: Gateway): string {
  return g.spec.deviceEndpoint ?? g.spec.endpoint;
}

/** Resources in name order. */
export function byName<R extends { meta: Meta }>(resources: Iterable<R>): R[] {
  return [...resources].sort((a, b) => a.meta.name.localeCompare(b.meta.name));
}

export function nameOf(r: { meta: Meta }): string {
  return r.meta.name;
}

/**
 * `k=v,k2=v2` as a map (labels, an application's config); a sentence
 * naming `field` and the bad term when one is not `key=value`.
 */
export function parsePairs(field: string, s: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const raw of s.split(',')) {
    const t = raw.trim();
    if (t === '') continue;
    const i = t.indexOf('=');
    if (i <= 0 || i === t.length - 1) return `${field}: "${t}" is not key=value`;
    out[t.slice(0, i).trim()] = t.slice(i + 1).trim();
  }
  return out;
}

/** A map as `parsePairs` reads it. */
export function pairsText(m: Record<string, string> | undefined): string {
  return Object.entries(m ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** Comma-separated words, trimmed, empty ones dropped. */
export function words(s: string): string[] {
  return s
    .split(',')
    .map((w) => w.trim())
    .filter(Boolean);
}

/**
 * A canary metric gate (`temp_c < 80`) read for display: which metric it
 * bounds, how, and the bound. The platform parses and enforces gates; this
 * reads one it accepted (the form its schema's pattern gives), so a chart
 * can draw the bound. `null` for anything else.
 */
export function parseGate(g: MetricGate): { metric: string; op: '<' | '<=' | '>' | '>='; bound: number } | null {
  const m = /^\s*([a-z][a-z0-9_.]{0,31})\s*(<=|>=|<|>)\s*([-+0-9.eE]+)\s*$/.exec(g);
  const bound = Number(m?.[3]);
  if (!m || !m[1] || !Number.isFinite(bound)) return null;
  return { metric: m[1], op: m[2] as '<' | '<=' | '>' | '>=', bound };
}

/** The canary metric gates of an application's strategy (none for other strategies). */
export function gatesOf(a: Application): MetricGate[] {
  const s = a.spec.strategy;
  return s?.type === 'canary' ? (s.gates ?? []) : [];
}

/** A metric value for people: whole numbers as they are, else 2 decimals (4 below 1), trailing zeros dropped. */
export function formatValue(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(Math.abs(v) < 1 ? 4 : 2).replace(/\.?0+$/, '');
}

/** Kubernetes-style equality selector, as crates/wasmbed-model/src/selector.rs parses it. */
export function parseSelector(s: string): { matches: (labels: Record<string, string>) => boolean } | { error: string } {
  const reqs: ((l: Record<string, string>) => boolean)[] = [];
  const valid = (p: string) => p.length > 0 && p.length <= 253 && /^[A-Za-z0-9._/-]+$/.test(p);
  if (s.trim() !== '') {
    for (const raw of s.split(',')) {
      const term = raw.trim();
      if (term === '') return { error: 'empty term between commas' };
      let k: string;
      let v: string | null = null;
      let test: (l: Record<string, string>) => boolean;
      if (term.includes('!=')) {
        [k, v] = splitOnce(term, '!=');
        const key = k, val = v;
        test = (l) => l[key] !== val;
      } else if (term.includes('=')) {
        [k, v] = term.includes('==') ? splitOnce(term, '==') : splitOnce(term, '=');
        const key = k, val = v;
        test = (l) => l[key] === val;
      } else if (term.startsWith('!')) {
        k = term.slice(1).trim();
        const key = k;
        test = (l) => !(key in l);
      } else {
        k = term;
        const key = k;
        test = (l) => key in l;
      }
      if (!valid(k)) return { error: `invalid selector term "${term}": key must be 1-253 characters of [A-Za-z0-9._/-]` };
      if (v !== null && !valid(v))
        return { error: `invalid selector term "${term}": value must be 1-253 characters of [A-Za-z0-9._/-]` };
      reqs.push(test);
    }
  }
  return { matches: (labels) => reqs.every((r) => r(labels)) };
}

function splitOnce(s: string, sep: string): [string, string] {
  const i = s.indexOf(sep);
  return [s.slice(0, i).trim(), s.slice(i + sep.length).trim()];
}

/** The slots of an application on a device: its name, or `<name>.r<rev>` beside another revision (blue-green). */
export function slotsOf(app: string, d: Device) {
  return (d.status?.session?.apps ?? []).filter((a) => a.name === app || a.name.startsWith(`${app}.r`));
}

/** An edge slot without its blue-green revision: `watch.r3` is `watch`, `blink.r3@vld-1` is `blink@vld-1`. */
export function unversionedSlot(slot: string): string {
  const at = slot.indexOf('@');
  const head = at < 0 ? slot : slot.slice(0, at);
  return appOfSlot(head) + (at < 0 ? '' : slot.slice(at));
}

/** The slots of edge application `app` a gateway reports: the app's own (each blue-green revision), and one per board it drives (`app@device`). */
export function edgeSlotsOf(app: string, g: Gateway) {
  return (g.status?.edge ?? []).filter((a) => {
    const key = unversionedSlot(a.name);
    return key === app || key.startsWith(`${app}@`);
  });
}

/** The application a slot belongs to: the slot's name without a blue-green `.r<rev>` suffix (the inverse of slotsOf). */
export function appOfSlot(slot: string): string {
  return slot.replace(/\.r\d+$/, '');
}

export function strategyLabel(a: Application): string {
  // The platform's default when a spec names none (docs/api.md).
  const s = a.spec.strategy ?? { type: 'all-at-once' };
  switch (s.type) {
    case 'canary':
      return `canary ${s.steps.join(' → ')}`;
    case 'rolling':
      return `rolling, max unavailable ${s.maxUnavailable}`;
    default:
      return s.type;
  }
}

/** "12 s ago", "3 min ago"; `never` (by default 'never') for no time. */
export function ago(ms: number | null | undefined, now: number, never = 'never'): string {
  if (!ms) return never;
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(ms).toLocaleString();
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '–';
  if (n < 1024) return `${n} B`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

/**
 * What "roll back" means to an operator: the stable revision when the
 * current one is not it (a rollout in progress or failed), else the newest
 * earlier revision that completed.
 */
export function rollbackTarget(app: Application): number | null {
  const st = app.status ?? {};
  const stable = st.stableRevision;
  if (stable !== null && stable !== undefined && stable !== st.revision) return stable;
  const earlier = [...(st.history ?? [])]
    .reverse()
    .find((r) => r.revision !== st.revision && r.outcome === 'Completed');
  return earlier?.revision ?? null;
}

/**
 * What each board's devices run for a revision: native code (its size and
 * digest) or the interpreter (and why). Empty for an interpreted revision.
 */
export function nativeBuilds(r: Revision): { board: string; runs: 'native' | 'interpreted'; detail: string; digest?: string }[] {
  if ((r.template.execution ?? 'interpreted') === 'interpreted') return [];
  return (r.native ?? []).map((b) =>
    b.state === 'Built' && b.artifact
      ? { board: b.board, runs: 'native', detail: `${b.artifact.size} B`, digest: b.artifact.digest }
      : { board: b.board, runs: 'interpreted', detail: b.reason ?? 'no native build' },
  );
}
