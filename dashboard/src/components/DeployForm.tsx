// Upload a module, choose what it may do, where it goes and how it rolls
// out. Two requests: POST /modules (the bytes, checked by the agent's own
// validator), then PUT /applications/{name} naming the module by digest.

import { useState, type FormEvent } from 'react';
import { sha256Hex } from '../api/client';
import { CAPABILITIES, STRATEGY_TYPES, type Application, type DeployRequest, type ModuleInfo, type Strategy, type StrategyType } from '../api/types';
import { parseSelector } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { ErrorBanner, useAction } from './common';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

function strategyOf(type: StrategyType, f: { maxUnavailable: string; steps: string; soakMs: string; maxFailures: string }): Strategy {
  const soakMs = Number(f.soakMs) || 0;
  switch (type) {
    case 'all-at-once':
      return { type };
    case 'rolling':
      return { type, maxUnavailable: f.maxUnavailable.trim() };
    case 'canary':
      return {
        type,
        steps: f.steps.split(',').map((s) => s.trim()).filter(Boolean),
        soakMs,
        maxFailures: Number(f.maxFailures) || 0,
      };
    case 'blue-green':
      return { type, soakMs };
  }
}

export function DeployForm({ existing, onDeployed }: { existing?: Application; onDeployed: (a: Application) => void }) {
  const { api } = useAuth();
  const { state } = useFleet();
  const spec = existing?.spec;
  const s = spec?.strategy;
  const [name, setName] = useState(existing?.meta.name ?? '');
  const [file, setFile] = useState<File | null>(null);
  const [version, setVersion] = useState(spec ? nextVersion(spec.version) : '1');
  const [caps, setCaps] = useState<string[]>(spec?.capabilities ?? ['log', 'time']);
  const [selector, setSelector] = useState(spec?.selector ?? 'app=demo');
  const [type, setType] = useState<StrategyType>(s?.type ?? 'all-at-once');
  const [maxUnavailable, setMaxUnavailable] = useState(s?.type === 'rolling' ? s.maxUnavailable : '25%');
  const [steps, setSteps] = useState(s?.type === 'canary' ? s.steps.join(',') : '1,50%,100%');
  const [soakMs, setSoakMs] = useState(s && 'soakMs' in s ? String(s.soakMs ?? 0) : '0');
  const [maxFailures, setMaxFailures] = useState(s?.type === 'canary' ? String(s.maxFailures ?? 0) : '0');
  const [fuel, setFuel] = useState('');
  const [pages, setPages] = useState('');
  const [tickMs, setTickMs] = useState('');
  const [module, setModule] = useState<ModuleInfo | null>(null);
  const { run, busy, error, setError } = useAction();

  const sel = parseSelector(selector);
  const matched = 'matches' in sel ? Object.values(state.devices).filter((d) => sel.matches(d.spec.labels ?? {})) : [];

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!NAME.test(name)) return setError('Application name: 1-63 characters of a-z, 0-9 and -, not starting or ending with -');
    if (!file) return setError('Choose the module (.wasm) to deploy');
    void run(async () => {
      const bytes = await file.arrayBuffer();
      const m = await api.uploadModule(bytes, await sha256Hex(bytes));
      setModule(m);
      const limits: DeployRequest['limits'] = {};
      if (fuel) limits.fuelPerCall = Number(fuel);
      if (pages) limits.maxMemoryPages = Number(pages);
      if (tickMs) limits.tickMs = Number(tickMs);
      const app = await api.deploy(name, {
        version: version.trim(),
        digest: m.digest,
        capabilities: caps,
        limits,
        selector: selector.trim(),
        strategy: strategyOf(type, { maxUnavailable, steps, soakMs, maxFailures }),
      });
      onDeployed(app);
    });
  };

  const toggle = (c: string) => setCaps(caps.includes(c) ? caps.filter((x) => x !== c) : [...caps, c]);

  return (
    <form className="deploy" onSubmit={submit} aria-label="Deploy an application">
      <div className="row">
        <label>
          Application name
          <input value={name} onChange={(e) => setName(e.target.value)} disabled={!!existing} required placeholder="hello" />
        </label>
        <label>
          Version
          <input value={version} onChange={(e) => setVersion(e.target.value)} required maxLength={64} />
        </label>
      </div>
      <label>
        Module (.wasm)
        <input type="file" accept=".wasm,application/wasm" onChange={(e) => setFile(e.target.files?.[0] ?? null)} required />
      </label>
      {module && (
        <p className="muted" role="status">
          Uploaded {module.size} bytes, SHA-256 <code>{module.digest.slice(0, 16)}…</code>, imports{' '}
          {module.imports.length ? module.imports.join(', ') : 'none'}.
        </p>
      )}
      <fieldset>
        <legend>Capabilities</legend>
        {CAPABILITIES.map((c) => (
          <label key={c} className="check">
            <input type="checkbox" checked={caps.includes(c)} onChange={() => toggle(c)} />
            {c}
          </label>
        ))}
        <p className="muted">The device links only the granted groups: a module importing anything else is refused.</p>
      </fieldset>
      <label>
        Target devices (label selector)
        <input value={selector} onChange={(e) => setSelector(e.target.value)} placeholder="empty: every device" />
      </label>
      {'error' in sel ? (
        <ErrorBanner error={sel.error} />
      ) : (
        <p className="muted" role="status" aria-label="Matched devices">
          Matches {matched.length} device{matched.length === 1 ? '' : 's'}
          {matched.length > 0 && `: ${matched.slice(0, 8).map((d) => d.meta.name).join(', ')}${matched.length > 8 ? ', …' : ''}`}
        </p>
      )}
      <fieldset>
        <legend>Rollout strategy</legend>
        <label>
          Strategy
          <select value={type} onChange={(e) => setType(e.target.value as StrategyType)}>
            {STRATEGY_TYPES.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        {type === 'rolling' && (
          <label>
            Max unavailable
            <input value={maxUnavailable} onChange={(e) => setMaxUnavailable(e.target.value)} placeholder="25% or 2" />
          </label>
        )}
        {type === 'canary' && (
          <>
            <label>
              Steps
              <input value={steps} onChange={(e) => setSteps(e.target.value)} placeholder="1,10%,50%,100%" />
            </label>
            <label>
              Failures tolerated per step
              <input type="number" min={0} value={maxFailures} onChange={(e) => setMaxFailures(e.target.value)} />
            </label>
          </>
        )}
        {(type === 'canary' || type === 'blue-green') && (
          <label>
            Soak time (ms)
            <input type="number" min={0} value={soakMs} onChange={(e) => setSoakMs(e.target.value)} />
          </label>
        )}
      </fieldset>
      <details>
        <summary>Limits (defaults: 1,000,000 fuel per call, 2 pages, tick 1000 ms)</summary>
        <div className="row">
          <label>
            Fuel per call
            <input type="number" min={1} value={fuel} onChange={(e) => setFuel(e.target.value)} />
          </label>
          <label>
            Memory pages (64 KiB)
            <input type="number" min={0} max={16} value={pages} onChange={(e) => setPages(e.target.value)} />
          </label>
          <label>
            Tick (ms)
            <input type="number" min={10} value={tickMs} onChange={(e) => setTickMs(e.target.value)} />
          </label>
        </div>
      </details>
      <ErrorBanner error={error} onDismiss={() => setError(null)} />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Deploying…' : 'Deploy'}
      </button>
    </form>
  );
}

/** "1" → "2", "1.4" → "1.5", otherwise the same label (the user edits it). */
function nextVersion(v: string): string {
  const m = /^(.*?)(\d+)$/.exec(v);
  return m ? `${m[1]}${Number(m[2]) + 1}` : v;
}
