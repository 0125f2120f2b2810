import { GatewayHealthBadge } from '../components/badges';
import { Empty, Section, Table } from '../components/common';
import { ago, isSimulated } from '../model';
import { useFleet, useNow } from '../state/fleet-context';

export function Gateways() {
  const { state } = useFleet();
  const now = useNow();
  const gateways = Object.values(state.gateways).sort((a, b) => a.meta.name.localeCompare(b.meta.name));
  const devices = Object.values(state.devices);
  return (
    <div className="page">
      <h1>Gateways</h1>
      <Section title="Gateways devices connect to">
        {gateways.length === 0 ? (
          <Empty>No gateway has registered yet.</Empty>
        ) : (
          <Table aria-label="Gateways">
            <thead>
              <tr>
                <th>name</th>
                <th>health</th>
                <th>endpoint (host devices)</th>
                <th>endpoint (QEMU devices)</th>
                <th>sessions</th>
                <th>assigned devices</th>
                <th>last report</th>
              </tr>
            </thead>
            <tbody>
              {gateways.map((g) => {
                const assigned = devices.filter((d) => d.spec.gateway === g.meta.name);
                return (
                  <tr key={g.meta.name}>
                    <td>{g.meta.name}</td>
                    <td>
                      <GatewayHealthBadge value={g.status?.health ?? 'Unknown'} />
                    </td>
                    <td>
                      <code>{g.spec.endpoint}</code>
                    </td>
                    <td>
                      <code>{g.spec.deviceEndpoint ?? g.spec.endpoint}</code>
                    </td>
                    <td>
                      {g.status?.sessions ?? 0} of {g.spec.capacity}
                    </td>
                    <td>
                      {assigned.length} ({assigned.filter(isSimulated).length} simulated)
                    </td>
                    <td>{ago(g.status?.lastSeenMs, now)}</td>
                  </tr>
                );
              })}
            </tbody>
          </Table>
        )}
        <p className="muted">
          Sessions are mutual TLS 1.3; QEMU devices reach the host through QEMU user networking, which maps the host’s loopback to
          10.0.2.2.
        </p>
      </Section>
    </div>
  );
}
