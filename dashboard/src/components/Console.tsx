// A QEMU device's serial console, read from the platform as it grows
// (`GET /devices/{name}/console?offset=N`; the API has no push for it).

import { useEffect, useRef, useState } from 'react';
import { useAuth } from '../state/auth';
import { ErrorBanner } from './common';

const POLL_MS = 1000;
/** Characters kept on screen. */
const KEEP = 200_000;

export function SerialConsole({ device }: { device: string }) {
  const { api } = useAuth();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const pre = useRef<HTMLPreElement>(null);

  useEffect(() => {
    let offset = 0;
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setText('');
    const poll = async () => {
      try {
        // Drain what is there (64 KiB per answer), then wait.
        for (;;) {
          const chunk = await api.console(device, offset);
          if (stopped) return;
          setError(null);
          // A console shorter than our offset was rotated: the server restarts from 0.
          if (chunk.next < offset) setText('');
          const grew = chunk.next !== offset;
          offset = chunk.next;
          if (chunk.text) setText((t) => (t + chunk.text).slice(-KEEP));
          if (!grew || chunk.text.length < 32 * 1024) break;
        }
      } catch (e) {
        if (stopped) return;
        setError(e instanceof Error ? e.message : String(e));
      }
      if (!stopped) timer = setTimeout(poll, POLL_MS);
    };
    void poll();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [api, device]);

  useEffect(() => {
    const el = pre.current;
    if (el && el.scrollHeight - el.scrollTop - el.clientHeight < 80) el.scrollTop = el.scrollHeight;
  }, [text]);

  return (
    <div>
      <ErrorBanner error={error} />
      <pre ref={pre} className="console" role="log" aria-label="Serial console" tabIndex={0}>
        {text || (error ? '' : 'waiting for output…')}
      </pre>
    </div>
  );
}
