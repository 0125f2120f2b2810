// First-run setup: sign in (done by the time this shows), check the
// gateway devices will dial, create the first devices, deploy the first app.

import { useState } from 'react';
import { AddDevices } from '../components/AddDevices';
import { deviceColumns, deviceRow, gatewayColumns } from '../components/columns';
import { Page, Section } from '../components/common';
import { DataTable } from '../components/DataTable';
import { DeployForm } from '../components/DeployForm';
import { nameOf } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { Link, navigate } from '../router';

const STEPS = ['Sign in', 'Gateway', 'Devices', 'First app'] as const;

const GATEWAY_COLUMNS = [
  { ...gatewayColumns.name, head: 'gateway' },
  { ...gatewayColumns.hostEndpoint, head: 'devices on this host dial' },
  { ...gatewayColumns.qemuEndpoint, head: 'QEMU devices dial' },
  gatewayColumns.health,
];

const DEVICE_COLUMNS = [{ ...deviceColumns.name, head: 'device' }, deviceColumns.board, deviceColumns.phase];

export function Setup() {
  const { me } = useAuth();
  const { state } = useFleet();
  const [step, setStep] = useState(1);
  const [created, setCreated] = useState<string[]>([]);
  const gateways = Object.values(state.gateways);
  const devices = created.map((n) => state.devices[n]).filter((d) => d !== undefined);

  return (
    <Page title="Set up Wasmbed" className="setup">
      <ol className="steps" aria-label="Setup progress">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={i === step ? 'step' : undefined} className={i < step ? 'done' : i === step ? 'current' : ''}>
            {i < step ? '✓ ' : `${i + 1}. `}
            {s}
          </li>
        ))}
      </ol>
      <Section title={`Step 1: signed in`}>
        <p>
          Signed in as <strong>{me?.name}</strong> with role <strong>{me?.role}</strong>.
        </p>
      </Section>

      {step === 1 && (
        <Section title="Step 2: gateway">
          <DataTable
            label="Gateway addresses"
            columns={GATEWAY_COLUMNS}
            rows={gateways}
            rowKey={nameOf}
            empty="No gateway has registered yet; it does within a few seconds of the platform starting."
          />
          <p>
            Each device’s identity bundle names these addresses, its own gateway first. They are set when the platform starts (
            <code>wasmbed up --gateway HOST:PORT --gateways N</code>); the API offers no way to change them while it runs.
          </p>
          <button type="button" className="primary" onClick={() => setStep(2)} disabled={gateways.length === 0}>
            Use this gateway
          </button>
        </Section>
      )}

      {step === 2 && (
        <Section title="Step 3: first devices">
          <p>Choose how many devices of each board to create. Each gets its identity now; QEMU devices start at once.</p>
          <AddDevices defaultCounts={{ 'mps2-an385': 1 }} onCreated={(ds) => setCreated((c) => [...c, ...ds.map((d) => d.meta.name)])} />
          {devices.length > 0 && (
            <DataTable label="New devices" columns={DEVICE_COLUMNS} rows={devices} rowKey={nameOf} rowAttributes={deviceRow} />
          )}
          <button type="button" className="primary" onClick={() => setStep(3)} disabled={Object.keys(state.devices).length === 0}>
            Continue to the first app
          </button>
        </Section>
      )}

      {step === 3 && (
        <Section title="Step 4: first app">
          <p>
            Upload a WebAssembly module (for example <code>apps/target/wasm32-unknown-unknown/release/hello.wasm</code>, built by{' '}
            <code>cargo xtask apps</code>) and choose where it runs.
          </p>
          <DeployForm onDeployed={(a) => navigate(`/applications/${a.meta.name}`)} />
          <p>
            <Link to="/">Skip: go to the overview</Link>
          </p>
        </Section>
      )}
    </Page>
  );
}
