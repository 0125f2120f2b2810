// A message to an application, on one device or on every device it
// targets (POST /applications/{name}/messages), and what became of it on
// each: delivered, or why the app did not take it, or why the device was
// not asked. An edge application is reached on each gateway it runs on (or
// board it drives), and results are named by those. The platform checks
// the payload (its size) and audits the send.

import { useState, type FormEvent } from 'react';
import type { MessageResult } from '../api/types';
import { useAuth } from '../state/auth';
import { DeliveryBadge } from './badges';
import { DeviceLink } from './columns';
import { Badge, ErrorBanner, useAction } from './common';
import { DataTable, type Column } from './DataTable';
import { SelectField, TextField } from './fields';

/** Results named by device (linked), or by gateway for an edge application. */
const resultColumns = (onGateways: boolean): Column<MessageResult>[] => [
  { head: onGateways ? 'target' : 'device', cell: (r) => (onGateways ? r.device : <DeviceLink name={r.device} />) },
  {
    head: 'result',
    cell: (r) =>
      r.delivery ? (
        <DeliveryBadge value={r.delivery} />
      ) : (
        <>
          <Badge value="not-asked" tone="bad" label="not asked" /> {r.error}
        </>
      ),
  },
];

/**
 * `device`: the one device this control sends to (a device's page);
 * otherwise `devices` are offered beside "every device" (an application's
 * page) — for an edge application (`edge`), its gateways and boards.
 */
export function SendMessage({
  app,
  device,
  devices = [],
  edge = false,
}: {
  app: string;
  device?: string;
  devices?: readonly string[];
  edge?: boolean;
}) {
  const { api, can } = useAuth();
  const [payload, setPayload] = useState('');
  const [to, setTo] = useState('');
  const [results, setResults] = useState<{ payload: string; results: MessageResult[] } | null>(null);
  const { run, busy, error, setError } = useAction();
  if (!can('operator')) return <p className="muted">Sending messages needs the operator role.</p>;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const target = device ?? (to || undefined);
    void run(async () => {
      const r = await api.sendMessage(app, { payload, device: target });
      setResults({ payload, results: r });
    });
  };

  return (
    <div className="send-message" data-app={app}>
      <form className="row" onSubmit={submit} aria-label={`Send a message to ${app}`}>
        <TextField label={`Message to ${app}`} className="grow" value={payload} onValue={setPayload} spellCheck={false} autoComplete="off" />
        {device === undefined && <SelectField label="To" options={devices} value={to} onValue={setTo} any={edge ? 'every target' : 'every device'} />}
        <button type="submit" disabled={busy}>
          {busy ? 'Sending…' : 'Send'}
        </button>
      </form>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      {results && (
        <DataTable
          label={`Deliveries to ${app}`}
          columns={resultColumns(edge)}
          rows={results.results}
          rowKey={(r) => r.device}
          rowAttributes={(r) => ({ 'data-device': r.device, 'data-delivery': r.delivery ?? 'not-asked' })}
          empty={`Nothing runs ${app}: “${results.payload}” went nowhere.`}
        />
      )}
    </div>
  );
}
