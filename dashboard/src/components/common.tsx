// Small building blocks shared by the pages.

import { useCallback, useState, type ReactNode } from 'react';

/** An API error (or any failure) as a sentence, announced to screen readers. */
export function ErrorBanner({ error, onDismiss }: { error: string | null; onDismiss?: () => void }) {
  if (!error) return null;
  return (
    <div className="error" role="alert">
      <span>{error}</span>
      {onDismiss && (
        <button type="button" className="link" aria-label="Dismiss error" onClick={onDismiss}>
          ×
        </button>
      )}
    </div>
  );
}

export function Notice({ children }: { children: ReactNode }) {
  return (
    <div className="notice" role="note">
      {children}
    </div>
  );
}

/** What a state means at a glance; each is a colour in styles.css. */
export type Tone = 'ok' | 'busy' | 'warn' | 'bad' | 'muted';

/**
 * A state name as a coloured pill. Pages use the typed badges of
 * ./badges.tsx, which choose the tone; `data-value` carries the state for
 * tests.
 */
export function Badge({ value, tone, label }: { value: string; tone: Tone | undefined; label?: string }) {
  // `undefined`: a state this build does not know (a newer platform).
  return (
    <span className={`badge ${tone ?? 'muted'}`} data-value={value}>
      {label ?? value}
    </span>
  );
}

export function ProgressBar({ label, value, max, failed = 0 }: { label: string; value: number; max: number; failed?: number }) {
  const pct = max > 0 ? Math.min(100, (value / max) * 100) : 0;
  const bad = max > 0 ? Math.min(100 - pct, (failed / max) * 100) : 0;
  return (
    <div
      className="progress"
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={max}
      aria-valuenow={value}
      aria-valuetext={`${value} of ${max}${failed ? `, ${failed} failed` : ''}`}
    >
      <div className="progress-ok" style={{ width: `${pct}%` }} />
      <div className="progress-bad" style={{ width: `${bad}%` }} />
    </div>
  );
}

/**
 * Runs an async action, tracking whether it is running and its error
 * message. The action's result is returned; a failure resolves to undefined.
 */
export function useAction(): {
  run: <T>(f: () => Promise<T>) => Promise<T | undefined>;
  busy: boolean;
  error: string | null;
  setError: (e: string | null) => void;
} {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async <T,>(f: () => Promise<T>) => {
    setBusy(true);
    setError(null);
    try {
      return await f();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { run, busy, error, setError };
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section className="card" aria-labelledby={id}>
      <header className="card-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** Definition list of label → value pairs. */
export function Facts({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="facts">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A page: its heading, then its sections. */
export function Page({ title, className, children }: { title: ReactNode; className?: string; children: ReactNode }) {
  return (
    <div className={className ? `page ${className}` : 'page'}>
      <h1>{title}</h1>
      {children}
    </div>
  );
}

/** The page of one named resource the fleet does not hold: still loading, or gone (`children` says which and links back). */
export function Missing({ name, loaded, children }: { name: string; loaded: boolean; children: ReactNode }) {
  return (
    <Page title={name}>
      <Empty>{loaded ? children : 'Loading…'}</Empty>
    </Page>
  );
}
