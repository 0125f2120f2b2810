// The dashboard's picture of the fleet, built only from the event stream:
// the snapshot replaces everything, each later event replaces one resource.
// Pure: the time an event arrived is passed in, so tests need no clock.

import type { FleetEvent } from '../api/events';
import type { Activity, Application, AppState, Device, Gateway, LogLine } from '../api/types';
import { count, emptyActivity, fromPlatform } from './activity';

/** App log lines kept per device. */
export const LOG_LINES = 500;

export interface FleetState {
  /** A snapshot has arrived since the page opened. */
  loaded: boolean;
  devices: Record<string, Device>;
  applications: Record<string, Application>;
  gateways: Record<string, Gateway>;
  /** App log lines per device, oldest first, as the stream delivered them. */
  logs: Record<string, LogLine[]>;
  /** Heartbeats and app failures: the platform's count at the last snapshot, plus the stream's since. */
  activity: Activity;
}

export const emptyFleet: FleetState = {
  loaded: false,
  devices: {},
  applications: {},
  gateways: {},
  logs: {},
  activity: emptyActivity,
};

export type FleetAction = { event: FleetEvent; atMs: number };

/** App states that count as a failure on the activity chart (the platform counts by the same rule). */
const FAILED: ReadonlySet<AppState> = new Set<AppState>(['failed', 'rejected']);

function byName<T extends { meta: { name: string } }>(items: T[]): Record<string, T> {
  const out: Record<string, T> = {};
  for (const i of items) out[i.meta.name] = i;
  return out;
}

/** What changed between two versions of a device: a new heartbeat, apps that newly failed. */
export function deviceChange(prev: Device | undefined, next: Device): { heartbeat: boolean; failures: number } {
  const before = prev?.status?.session;
  const after = next.status?.session;
  const hb = after?.lastHeartbeatMs ?? null;
  const heartbeat = hb !== null && hb !== (before?.lastHeartbeatMs ?? null);
  let failures = 0;
  for (const app of after?.apps ?? []) {
    if (!FAILED.has(app.state)) continue;
    const old = before?.apps?.find((a) => a.name === app.name);
    const same = old && FAILED.has(old.state) && old.digest === app.digest && old.revision === app.revision;
    if (!same) failures += 1;
  }
  return { heartbeat, failures };
}

function without<T>(rec: Record<string, T>, name: string): Record<string, T> {
  if (!(name in rec)) return rec;
  const out = { ...rec };
  delete out[name];
  return out;
}

export function fleetReducer(state: FleetState, { event, atMs }: FleetAction): FleetState {
  switch (event.type) {
    case 'snapshot':
      // Logs are this page's own history: a reconnect keeps them. Activity
      // is the platform's: each snapshot brings its count, which includes
      // whatever happened while this page was not connected.
      return {
        ...state,
        loaded: true,
        devices: byName(event.data.devices ?? []),
        applications: byName(event.data.applications ?? []),
        gateways: byName(event.data.gateways ?? []),
        activity: fromPlatform(event.data.activity),
      };
    case 'device': {
      const d = event.data;
      const { heartbeat, failures } = deviceChange(state.devices[d.meta.name], d);
      return {
        ...state,
        devices: { ...state.devices, [d.meta.name]: d },
        activity: count(state.activity, atMs, heartbeat ? 1 : 0, failures),
      };
    }
    case 'heartbeat': {
      const hb = event.data;
      const d = state.devices[hb.name];
      // A heartbeat of a device this page does not know yet: the next
      // device event (or snapshot) brings it.
      if (!d) return state;
      const session = { ...(d.status?.session ?? {}), lastHeartbeatMs: hb.lastHeartbeatMs, uptimeMs: hb.uptimeMs, freeMemory: hb.freeMemory };
      const next: Device = { ...d, status: { ...(d.status ?? {}), session } };
      return {
        ...state,
        devices: { ...state.devices, [hb.name]: next },
        activity: count(state.activity, atMs, 1, 0),
      };
    }
    case 'application':
      return { ...state, applications: { ...state.applications, [event.data.meta.name]: event.data } };
    case 'gateway':
      return { ...state, gateways: { ...state.gateways, [event.data.meta.name]: event.data } };
    case 'deleted': {
      const { kind, name } = event.data;
      switch (kind) {
        case 'device':
          return { ...state, devices: without(state.devices, name), logs: without(state.logs, name) };
        case 'application':
          return { ...state, applications: without(state.applications, name) };
        case 'gateway':
          return { ...state, gateways: without(state.gateways, name) };
      }
      return state; // a kind this dashboard does not know (a newer platform)
    }
    case 'log': {
      const l = event.data;
      const lines = [...(state.logs[l.device] ?? []), l];
      return { ...state, logs: { ...state.logs, [l.device]: lines.slice(-LOG_LINES) } };
    }
  }
}
