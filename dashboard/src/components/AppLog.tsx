// The lines a device's apps logged: the recent ones from the platform's
// log book, then each new one as the event stream delivers it.

import { useEffect, useRef, useState } from 'react';
import type { LogLine } from '../api/types';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { ErrorBanner } from './common';

export function AppLog({ device }: { device: string }) {
  const { api } = useAuth();
  const { state } = useFleet();
  const [recent, setRecent] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);
  const live = state.logs[device] ?? [];

  useEffect(() => {
    api.logs(device).then(setRecent, (e: Error) => setError(e.message));
  }, [api, device]);

  // Recent lines older than the first live one, then the live ones: no line twice.
  const firstLive = live[0]?.receivedMs ?? Infinity;
  const lines = [...recent.filter((l) => l.receivedMs < firstLive), ...live];

  useEffect(() => {
    const el = pre.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [lines.length]);

  return (
    <div>
      <ErrorBanner error={error} />
      <pre ref={pre} className="console" role="log" aria-label="App log" tabIndex={0}>
        {lines.length === 0
          ? 'no app has logged anything yet'
          : lines.map((l, i) => (
              <div key={i}>
                <span className="muted">{new Date(l.receivedMs).toLocaleTimeString()} </span>
                <span className="log-app">[{l.app}]</span> {l.line}
              </div>
            ))}
      </pre>
    </div>
  );
}
