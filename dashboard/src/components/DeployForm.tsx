// Upload a module, choose what it may do, where it goes and how it rolls
// out. Two requests: POST /modules (the bytes, checked by the agent's own
// validator), then PUT /applications/{name} naming the module by digest.

import { useState, type FormEvent } from 'react';
import { sha256Hex } from '../api/client';
import {
  CAPABILITIES,
  EDGE_CAPABILITIES,
  EXECUTIONS,
  RUNTIMES,
  STRATEGY_TYPES,
  type Application,
  type DeployRequest,
  type Execution,
  type ModuleInfo,
  type Runtime,
  type Strategy,
  type StrategyType,
} from '../api/types';
import { pairsText, parsePairs, parseSelector, words } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { ErrorBanner, useAction } from './common';
import { CheckField, SelectField, TextField } from './fields';

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Groups are checkboxes; the rest of an application's capabilities name hardware. */
const isGroup = (c: string) => (CAPABILITIES as readonly string[]).includes(c) || (EDGE_CAPABILITIES as readonly string[]).includes(c);

function strategyOf(type: StrategyType, f: { maxUnavailable: string; steps: string; soakMs: string; maxFailures: string; gates: string }): Strategy {
  const soakMs = Number(f.soakMs) || 0;
  switch (type) {
    case 'all-at-once':
      return { type };
    case 'rolling':
      return { type, maxUnavailable: f.maxUnavailable.trim() };
    case 'canary':
      return {
        type,
        steps: words(f.steps),
        soakMs,
        maxFailures: Number(f.maxFailures) || 0,
        gates: words(f.gates),
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
  const [runtime, setRuntime] = useState<Runtime>(spec?.runtime ?? 'device');
  const edge = runtime === 'edge';
  const [execution, setExecution] = useState<Execution>(spec?.execution ?? 'interpreted');
  const [file, setFile] = useState<File | null>(null);
  const [version, setVersion] = useState(spec ? nextVersion(spec.version) : '1');
  const [caps, setCaps] = useState<string[]>((spec?.capabilities ?? ['log', 'time']).filter(isGroup));
  const [hardware, setHardware] = useState((spec?.capabilities ?? []).filter((c) => !isGroup(c)).join(', '));
  const [config, setConfig] = useState(pairsText(spec?.config));
  const [selector, setSelector] = useState(spec?.selector ?? 'app=demo');
  const [type, setType] = useState<StrategyType>(s?.type ?? 'all-at-once');
  const [maxUnavailable, setMaxUnavailable] = useState(s?.type === 'rolling' ? s.maxUnavailable : '25%');
  const [steps, setSteps] = useState(s?.type === 'canary' ? s.steps.join(',') : '1,50%,100%');
  const [soakMs, setSoakMs] = useState(s && 'soakMs' in s ? String(s.soakMs ?? 0) : '0');
  const [maxFailures, setMaxFailures] = useState(s?.type === 'canary' ? String(s.maxFailures ?? 0) : '0');
  const [gates, setGates] = useState(s?.type === 'canary' ? (s.gates ?? []).join(', ') : '');
  const [fuel, setFuel] = useState('');
  const [pages, setPages] = useState('');
  const [tickMs, setTickMs] = useState('');
  const [module, setModule] = useState<ModuleInfo | null>(null);
  const { run, busy, error, setError } = useAction();

  const sel = parseSelector(selector);
  // Edge applications choose gateways, which carry gateway=<name>.
  const targets = edge
    ? Object.values(state.gateways).map((g) => ({ name: g.meta.name, labels: { gateway: g.meta.name } as Record<string, string> }))
    : Object.values(state.devices).map((d) => ({ name: d.meta.name, labels: d.spec.labels ?? {} }));
  const matched = 'matches' in sel ? targets.filter((t) => sel.matches(t.labels)) : [];
  const noun = edge ? 'gateway' : 'device';

  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!NAME.test(name)) return setError('Application name: 1-63 characters of a-z, 0-9 and -, not starting or ending with -');
    if (!file) return setError('Choose the module (.wasm) to deploy');
    const cfg = parsePairs('config', config);
    if (typeof cfg === 'string') return setError(cfg);
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
        capabilities: edge ? caps : [...caps, ...words(hardware)],
        config: cfg,
        limits,
        selector: selector.trim(),
        strategy: strategyOf(type, { maxUnavailable, steps, soakMs, maxFailures, gates }),
        runtime,
        execution: edge ? 'interpreted' : execution,
      });
      onDeployed(app);
    });
  };

  const toggle = (c: string) => setCaps(caps.includes(c) ? caps.filter((x) => x !== c) : [...caps, c]);

  return (
    <form className="deploy" onSubmit={submit} aria-label="Deploy an application">
      <div className="row">
        <TextField label="Application name" value={name} onValue={setName} disabled={!!existing} required placeholder="hello" />
        <TextField label="Version" value={version} onValue={setVersion} required maxLength={64} />
      </div>
      <SelectField label="Runs on" options={RUNTIMES} value={runtime} onValue={(r) => {
        setRuntime(r);
        setCaps(r === 'edge' ? ['log'] : ['log', 'time']);
      }} />
      {!edge && <SelectField label="Execution" options={EXECUTIONS} value={execution} onValue={setExecution} />}
      <label>
        {edge ? 'Component (.wasm)' : 'Module (.wasm)'}
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
        {(edge ? EDGE_CAPABILITIES : CAPABILITIES).map((c) => (
          <CheckField key={c} label={c} checked={caps.includes(c)} onChecked={() => toggle(c)} />
        ))}
        {edge ? (
          <p className="muted">
            The gateway links only what is granted: a component importing anything else (WASI included) is refused at deploy, naming the
            import. It runs under wasmtime on every gateway the selector matches, hot-swapped between events.
          </p>
        ) : (
          <>
            <TextField label="Hardware" className="grow" value={hardware} onValue={setHardware} placeholder="gpio:led0, i2c:0:0x48" spellCheck={false} />
            <p className="muted">
              The device links only what is granted: a module importing anything else is refused, and a call to hardware outside the grant
              (another pin, another I2C address) fails and is counted. Hardware the targeted devices lack is refused at deploy.
            </p>
          </>
        )}
      </fieldset>
      <TextField label="Configuration" value={config} onValue={setConfig} placeholder="threshold_c=30, mode=eco" spellCheck={false} />
      <TextField
        label={edge ? 'Target gateways (label selector)' : 'Target devices (label selector)'}
        value={selector}
        onValue={setSelector}
        placeholder={edge ? 'empty: every gateway; gateway=gateway-0' : 'empty: every device'}
      />
      {'error' in sel ? (
        <ErrorBanner error={sel.error} />
      ) : (
        <p className="muted" role="status" aria-label="Matched devices">
          Matches {matched.length} {noun}
          {matched.length === 1 ? '' : 's'}
          {matched.length > 0 && `: ${matched.slice(0, 8).map((t) => t.name).join(', ')}${matched.length > 8 ? ', …' : ''}`}
        </p>
      )}
      <fieldset>
        <legend>Rollout strategy</legend>
        <SelectField label="Strategy" options={STRATEGY_TYPES} value={type} onValue={setType} />
        {type === 'rolling' && (
          <TextField label="Max unavailable" value={maxUnavailable} onValue={setMaxUnavailable} placeholder="25% or 2" />
        )}
        {type === 'canary' && (
          <>
            <TextField label="Steps" value={steps} onValue={setSteps} placeholder="1,10%,50%,100%" />
            <TextField label="Failures tolerated per step" type="number" min={0} value={maxFailures} onValue={setMaxFailures} />
            <TextField label="Metric gates" value={gates} onValue={setGates} placeholder="temp_c < 80, error_rate < 0.01" spellCheck={false} />
          </>
        )}
        {(type === 'canary' || type === 'blue-green') && (
          <TextField label="Soak time (ms)" type="number" min={0} value={soakMs} onValue={setSoakMs} />
        )}
      </fieldset>
      <details>
        <summary>Limits (defaults: 1,000,000 fuel per call, 2 pages, tick 1000 ms)</summary>
        <div className="row">
          <TextField label="Fuel per call" type="number" min={1} value={fuel} onValue={setFuel} />
          <TextField label="Memory pages (64 KiB)" type="number" min={0} max={16} value={pages} onValue={setPages} />
          <TextField label="Tick (ms)" type="number" min={10} value={tickMs} onValue={setTickMs} />
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
