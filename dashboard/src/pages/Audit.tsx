// The audit log: every mutating request and terminal command, newest first.
// The event stream does not carry audit entries, so the list is re-read
// when the filters change and every few seconds.

import { useEffect, useState } from 'react';
import type { AuditEntry } from '../api/types';
import { AuditOutcomeBadge } from '../components/badges';
import { Empty, ErrorBanner, Section, Table } from '../components/common';
import { useAuth } from '../state/auth';
import { navigate, useLocation } from '../router';

const REREAD_MS = 3000;

function setQuery(key: string, value: string) {
  const q = new URLSearchParams(location.search);
  if (value) q.set(key, value);
  else q.delete(key);
  const s = q.toString();
  navigate(`/audit${s ? `?${s}` : ''}`, true);
}

export function Audit() {
  const { api, can } = useAuth();
  const { query } = useLocation();
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const actor = query.get('actor') ?? '';
  const action = query.get('action') ?? '';
  const outcome = query.get('outcome') ?? '';
  const since = query.get('since') ?? '';
  const limit = query.get('limit') ?? '200';
  const allowed = can('operator');

  useEffect(() => {
    if (!allowed) return;
    let stopped = false;
    const load = () =>
      api
        .audit({
          actor,
          action,
          outcome,
          since: since ? new Date(since).getTime() : undefined,
          limit: Number(limit) || 200,
        })
        .then(
          (e) => !stopped && (setEntries(e), setError(null)),
          (e: Error) => !stopped && setError(e.message),
        );
    void load();
    const t = setInterval(load, REREAD_MS);
    return () => {
      stopped = true;
      clearInterval(t);
    };
  }, [api, allowed, actor, action, outcome, since, limit]);

  return (
    <div className="page">
      <h1>Audit log</h1>
      <Section title="Entries">
        {!allowed ? (
          <Empty>Reading the audit log needs the operator role.</Empty>
        ) : (
          <>
            <div className="filters" role="search" aria-label="Filter audit entries">
              <label>
                Actor
                <input value={actor} onChange={(e) => setQuery('actor', e.target.value)} placeholder="token name" />
              </label>
              <label>
                Action
                <input value={action} onChange={(e) => setQuery('action', e.target.value)} placeholder="app.deploy" />
              </label>
              <label>
                Outcome
                <select value={outcome} onChange={(e) => setQuery('outcome', e.target.value)}>
                  <option value="">any</option>
                  <option>ok</option>
                  <option>refused</option>
                  <option>denied</option>
                  <option>failed</option>
                </select>
              </label>
              <label>
                Since
                <input type="datetime-local" value={since} onChange={(e) => setQuery('since', e.target.value)} />
              </label>
              <label>
                At most
                <input type="number" min={1} max={1000} value={limit} onChange={(e) => setQuery('limit', e.target.value)} />
              </label>
            </div>
            <ErrorBanner error={error} />
            {entries === null ? (
              <Empty>Loading…</Empty>
            ) : entries.length === 0 ? (
              <Empty>No entry matches.</Empty>
            ) : (
              <Table aria-label="Audit entries">
                <thead>
                  <tr>
                    <th>time</th>
                    <th>actor</th>
                    <th>action</th>
                    <th>target</th>
                    <th>outcome</th>
                    <th>status</th>
                    <th>detail</th>
                  </tr>
                </thead>
                <tbody>
                  {entries.map((e, i) => (
                    <tr key={`${e.atMs}-${i}`} data-action={e.action} data-outcome={e.outcome}>
                      <td>{new Date(e.atMs).toLocaleString()}</td>
                      <td>
                        {e.actor}
                        {e.role ? <span className="muted"> ({e.role})</span> : null}
                      </td>
                      <td>
                        <code>{e.action}</code>
                      </td>
                      <td>{e.target ?? ''}</td>
                      <td>
                        <AuditOutcomeBadge value={e.outcome} />
                      </td>
                      <td>{e.status ?? ''}</td>
                      <td>
                        <code>{e.detail ?? ''}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </Table>
            )}
          </>
        )}
      </Section>
    </div>
  );
}
