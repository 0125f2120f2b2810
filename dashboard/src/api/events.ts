// The live event stream (`GET /api/v1/events`): a snapshot on connect, then
// one event per change. The connection is kept up with backoff; a reconnect
// gets a fresh snapshot, so nothing is lost while it was down. A `lagged`
// event means the server dropped events for us: reconnect at once.
// `telemetry` events (one per sample) are not changes to a resource: they
// go to the charts, never into the fleet state.

import { Api, ApiError, errorMessage } from './client';
import { SseParser } from './sse';
import type { Application, Deleted, Device, Gateway, Heartbeat, LogLine, Snapshot, TelemetrySample } from './types';

/** Events that change the fleet state (state/fleet.ts). */
export type FleetEvent =
  | { type: 'snapshot'; data: Snapshot }
  | { type: 'device'; data: Device }
  | { type: 'heartbeat'; data: Heartbeat }
  | { type: 'application'; data: Application }
  | { type: 'gateway'; data: Gateway }
  | { type: 'deleted'; data: Deleted }
  | { type: 'log'; data: LogLine };

/** Everything the stream delivers. */
export type StreamEvent = FleetEvent | { type: 'telemetry'; data: TelemetrySample };

export type StreamState =
  | { kind: 'connecting' }
  | { kind: 'live' }
  | { kind: 'reconnecting'; error: string; retryInMs: number }
  | { kind: 'refused'; error: ApiError };

const KNOWN = new Set<string>(['snapshot', 'device', 'heartbeat', 'application', 'gateway', 'deleted', 'log', 'telemetry'] satisfies StreamEvent['type'][]);
/** The server comments every 15 s; this much silence means the connection is dead. */
const SILENCE_MS = 45_000;
const BACKOFF_MS = [500, 1000, 2000, 4000, 8000];

/** Parses one message into an event; `null` for kinds this dashboard does not know (newer servers). */
export function parseEvent(event: string, data: string): StreamEvent | 'lagged' | null {
  if (event === 'lagged') return 'lagged';
  if (!KNOWN.has(event)) return null;
  return { type: event, data: JSON.parse(data) as unknown } as StreamEvent;
}

export interface StreamHandlers {
  onEvent: (e: StreamEvent) => void;
  onState: (s: StreamState) => void;
}

/** Opens the stream and keeps it open until the returned function is called. */
export function openEventStream(api: Api, h: StreamHandlers): () => void {
  let stopped = false;
  let attempt = 0;
  let current: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;

  const retry = (error: string) => {
    if (stopped) return;
    const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)] ?? 8000;
    attempt += 1;
    h.onState({ kind: 'reconnecting', error, retryInMs: delay });
    timer = setTimeout(connect, delay);
  };

  const connect = async () => {
    if (stopped) return;
    const ctrl = new AbortController();
    current = ctrl;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const feed = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => ctrl.abort(new Error('no data for 45 s')), SILENCE_MS);
    };
    h.onState({ kind: 'connecting' });
    try {
      feed();
      const res = await fetch(api.url('/events'), {
        headers: api.headers({ Accept: 'text/event-stream' }),
        signal: ctrl.signal,
        cache: 'no-store',
      });
      if (!res.ok) {
        const err = new ApiError(res.status, errorMessage(res.status, await res.text(), 'event stream'));
        // A refused token will not get better by retrying.
        if (res.status === 401 || res.status === 403) {
          clearTimeout(watchdog);
          h.onState({ kind: 'refused', error: err });
          return;
        }
        throw err;
      }
      if (!res.body) throw new Error('the answer has no body');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) throw new Error('the platform closed the stream');
        feed();
        for (const m of parser.push(value)) {
          const e = parseEvent(m.event, m.data);
          if (e === 'lagged') throw new Error('too slow for the stream; reconnecting for a fresh snapshot');
          if (e === null) continue;
          if (e.type === 'snapshot') {
            attempt = 0;
            h.onState({ kind: 'live' });
          }
          h.onEvent(e);
        }
      }
    } catch (e) {
      clearTimeout(watchdog);
      if (stopped) return;
      ctrl.abort();
      retry(e instanceof Error ? e.message : String(e));
    }
  };

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    current?.abort();
  };
}
