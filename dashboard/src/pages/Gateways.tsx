import { gatewayColumns } from '../components/columns';
import { Page, Section } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import type { Gateway } from '../api/types';
import { ago, byName, isSimulated, nameOf } from '../model';
import { useFleet, useNow } from '../state/fleet-context';

export function Gateways() {
  const { state } = useFleet();
  const now = useNow();
  const devices = Object.values(state.devices);
  const assigned = (g: Gateway) => devices.filter((d) => d.spec.gateway === g.meta.name);
  const columns: Column<Gateway>[] = [
    gatewayColumns.name,
    gatewayColumns.health,
    gatewayColumns.hostEndpoint,
    gatewayColumns.qemuEndpoint,
    { head: 'sessions', cell: (g) => `${g.status?.sessions ?? 0} of ${g.spec.capacity}` },
    {
      head: 'assigned devices',
      cell: (g) => {
        const ds = assigned(g);
        return `${ds.length} (${ds.filter(isSimulated).length} simulated)`;
      },
    },
    { head: 'last report', cell: (g) => ago(g.status?.lastSeenMs, now) },
    gatewayColumns.edge,
  ];
  return (
    <Page title="Gateways">
      <Section title="Gateways devices connect to">
        <DataTable label="Gateways" columns={columns} rows={byName(Object.values(state.gateways))} rowKey={nameOf} empty="No gateway has registered yet." />
        <p className="muted">
          Sessions are mutual TLS 1.3; QEMU devices reach the host through QEMU user networking, which maps the host’s loopback to
          10.0.2.2. Gateways also run the edge applications (WebAssembly components under wasmtime) whose selector matches
          their <code>gateway=NAME</code> label.
        </p>
      </Section>
    </Page>
  );
}
