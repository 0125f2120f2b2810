// First-run setup: sign in (done by the time this shows), check the
// gateway devices will dial, create the first devices, deploy the first app.

import { useState } from 'react';
import { AddDevices } from '../components/AddDevices';
import { DevicePhaseBadge, GatewayHealthBadge } from '../components/badges';
import { Empty, Section, Table } from '../components/common';
import { DeployForm } from '../components/DeployForm';
import { phaseOf } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { Link, navigate } from '../router';
import { DeviceKind } from '../components/DeviceKind';

const STEPS = ['Sign in', 'Gateway', 'Devices', 'First app'] as const;

export function Setup() {
  const { me } = useAuth();
  const { state } = useFleet();
  const [step, setStep] = useState(1);
  const [created, setCreated] = useState<string[]>([]);
  const gateways = Object.values(state.gateways);
  const devices = created.map((n) => state.devices[n]).filter((d) => d !== undefined);

  return (
    <div className="page setup">
      <h1>Set up Wasmbed</h1>
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
          {gateways.length === 0 ? (
            <Empty>No gateway has registered yet; it does within a few seconds of the platform starting.</Empty>
          ) : (
            <Table aria-label="Gateway addresses">
              <thead>
                <tr>
                  <th>gateway</th>
                  <th>devices on this host dial</th>
                  <th>QEMU devices dial</th>
                  <th>health</th>
                </tr>
              </thead>
              <tbody>
                {gateways.map((g) => (
                  <tr key={g.meta.name}>
                    <td>{g.meta.name}</td>
                    <td>
                      <code>{g.spec.endpoint}</code>
                    </td>
                    <td>
                      <code>{g.spec.deviceEndpoint ?? g.spec.endpoint}</code>
                    </td>
                    <td>
                      <GatewayHealthBadge value={g.status?.health ?? 'Unknown'} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
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
            <Table aria-label="New devices">
              <thead>
                <tr>
                  <th>device</th>
                  <th>board</th>
                  <th>phase</th>
                </tr>
              </thead>
              <tbody>
                {devices.map((d) => (
                  <tr key={d.meta.name} data-device={d.meta.name}>
                    <td>
                      <Link to={`/devices/${d.meta.name}`}>{d.meta.name}</Link>
                    </td>
                    <td>
                      {d.spec.board} <DeviceKind d={d} />
                    </td>
                    <td>
                      <DevicePhaseBadge value={phaseOf(d)} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
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
    </div>
  );
}
