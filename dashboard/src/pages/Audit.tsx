// The audit log: every mutating request and terminal command, newest first.
// The event stream does not carry audit entries, so the list is re-read
// when the filters change and every few seconds.

import { useEffect, useState } from 'react';
import { AUDIT_OUTCOMES, type AuditEntry, type AuditOutcome } from '../api/types';
import { AuditOutcomeBadge } from '../components/badges';
import { Empty, ErrorBanner, Page, Section } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import { Filters, SelectField, TextField } from '../components/fields';
import { useAuth } from '../state/auth';
import { setQueryParam, useLocation } from '../router';

const REREAD_MS = 3000;

const COLUMNS: Column<AuditEntry>[] = [
  { head: 'time', cell: (e) => new Date(e.atMs).toLocaleString() },
  {
    head: 'actor',
    cell: (e) => (
      <>
        {e.actor}
        {e.role ? <span className="muted"> ({e.role})</span> : null}
        {e.tokenId ? <span className="muted"> · {e.tokenId}</span> : null}
      </>
    ),
  },
  { head: 'action', cell: (e) => <code>{e.action}</code> },
  { head: 'target', cell: (e) => e.target ?? '' },
  { head: 'outcome', cell: (e) => <AuditOutcomeBadge value={e.outcome} /> },
  { head: 'status', cell: (e) => e.status ?? '' },
  { head: 'facts', cell: (e) => <code>{Object.entries(e.facts ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}</code> },
  { head: 'detail', cell: (e) => <code>{e.detail ?? ''}</code> },
];

export function Audit() {
  const { api, can } = useAuth();
  const { query } = useLocation();
  const [entries, setEntries] = useState<AuditEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const actor = query.get('actor') ?? '';
  const action = query.get('action') ?? '';
  const outcomeParam = query.get('outcome') ?? '';
  // Anything else in the address is no filter (the platform would refuse it).
  const outcome = AUDIT_OUTCOMES.find((o): o is AuditOutcome => o === outcomeParam);
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
    <Page title="Audit log">
      <Section title="Entries">
        {!allowed ? (
          <Empty>Reading the audit log needs the operator role.</Empty>
        ) : (
          <>
            <Filters label="Filter audit entries">
              <TextField label="Actor" value={actor} onValue={(v) => setQueryParam('actor', v)} placeholder="token name" />
              <TextField label="Action" value={action} onValue={(v) => setQueryParam('action', v)} placeholder="app.deploy" />
              <SelectField label="Outcome" any="any" options={AUDIT_OUTCOMES} value={outcome ?? ''} onValue={(v) => setQueryParam('outcome', v)} />
              <TextField label="Since" type="datetime-local" value={since} onValue={(v) => setQueryParam('since', v)} />
              <TextField label="At most" type="number" min={1} max={1000} value={limit} onValue={(v) => setQueryParam('limit', v)} />
            </Filters>
            <ErrorBanner error={error} />
            {entries === null ? (
              <Empty>Loading…</Empty>
            ) : (
              <DataTable
                label="Audit entries"
                columns={COLUMNS}
                rows={entries}
                rowKey={(e, i) => `${e.atMs}-${i}`}
                rowAttributes={(e) => ({ 'data-action': e.action, 'data-outcome': e.outcome })}
                empty="No entry matches."
              />
            )}
          </>
        )}
      </Section>
    </Page>
  );
}
