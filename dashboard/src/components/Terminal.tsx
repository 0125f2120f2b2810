// The device terminal: one command at a time, relayed to the device over
// its session. The device runs only the commands on its allow-list and
// says "refused" to anything else; the platform audits every command.

import { useState, type FormEvent, type KeyboardEvent } from 'react';
import { TERMINAL_COMMANDS, type TerminalAnswer } from '../api/types';
import { useAuth } from '../state/auth';
import { TextField } from './fields';

interface Entry {
  command: string;
  /** `error`: the platform could not run it (device not connected, no answer in time, busy). */
  outcome: TerminalAnswer['outcome'] | 'error';
  output: string;
  refusedBy?: string | null;
}

export function Terminal({ device, online }: { device: string; online: boolean }) {
  const { api, can } = useAuth();
  const [command, setCommand] = useState('');
  const [entries, setEntries] = useState<Entry[]>([]);
  const [back, setBack] = useState(0);
  const [busy, setBusy] = useState(false);
  const allowed = can('operator');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const c = command.trim();
    if (!c) return;
    setBack(0);
    setBusy(true);
    let entry: Entry;
    try {
      const r = await api.terminal(device, c);
      entry = { command: c, outcome: r.outcome, output: r.output, refusedBy: r.refused_by };
    } catch (err) {
      entry = { command: c, outcome: 'error', output: err instanceof Error ? err.message : String(err) };
    }
    setEntries((es) => [...es, entry]);
    setCommand('');
    setBusy(false);
  };

  // Up and down walk through earlier commands, as in a shell.
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    const past = entries.map((x) => x.command);
    const n = Math.max(0, Math.min(past.length, back + (e.key === 'ArrowUp' ? 1 : -1)));
    setBack(n);
    setCommand(n === 0 ? '' : (past[past.length - n] ?? ''));
    e.preventDefault();
  };

  return (
    <div className="terminal">
      <pre className="console" role="log" aria-label="Terminal output" tabIndex={0}>
        {entries.length === 0 && <span className="muted">Commands: {TERMINAL_COMMANDS.join(', ')}</span>}
        {entries.map((x, i) => (
          <div key={i} className={`term-entry term-${x.outcome}`} data-outcome={x.outcome}>
            <div className="term-cmd">$ {x.command}</div>
            {x.outcome !== 'ok' && (
              <div className="term-outcome">
                [{x.outcome === 'error' ? 'not run' : x.outcome}
                {x.refusedBy ? ` by the ${x.refusedBy}` : ''}]
              </div>
            )}
            {x.output && <div>{x.output}</div>}
          </div>
        ))}
      </pre>
      <form onSubmit={(e) => void submit(e)} className="row">
        <TextField
          label="Terminal command"
          className="grow"
          value={command}
          onValue={setCommand}
          onKeyDown={onKey}
          placeholder={online ? 'status' : 'the device is not online'}
          disabled={!allowed}
          spellCheck={false}
          autoComplete="off"
        />
        <button type="submit" disabled={busy || !allowed || command.trim() === ''}>
          {busy ? 'Running…' : 'Run'}
        </button>
      </form>
      {!allowed && <p className="muted">Running commands needs the operator role.</p>}
    </div>
  );
}
