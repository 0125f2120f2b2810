import { ActivityChart } from '../components/ActivityChart';
import { appColumns, gatewayColumns } from '../components/columns';
import { DevicePhaseBadge } from '../components/badges';
import { Page, Section } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import { DEVICE_PHASES, type DevicePhase, type Gateway } from '../api/types';
import { ago, isSimulated, nameOf, phaseOf } from '../model';
import { useFleet, useNow } from '../state/fleet-context';
import { Link } from '../router';

/** A board and how many of its devices are in each phase. */
type BoardRow = [board: string, phases: Map<DevicePhase, number>];

const BOARD_COLUMNS: Column<BoardRow>[] = [
  { head: 'board', cell: ([board]) => <Link to={`/devices?board=${board}`}>{board === 'sim' ? 'sim (simulator)' : board}</Link> },
  { head: 'devices', cell: ([, phases]) => [...phases.values()].reduce((a, b) => a + b, 0) },
  { head: 'phases', cell: ([, phases]) => [...phases].map(([p, n]) => <DevicePhaseBadge key={p} value={p} label={`${n} ${p}`} />) },
];

const APP_COLUMNS = [{ ...appColumns.name, head: 'application' }, appColumns.version, appColumns.rollout, appColumns.running];

export function Overview() {
  const { state } = useFleet();
  const now = useNow();
  const devices = Object.values(state.devices);
  const apps = Object.values(state.applications);
  const gateways = Object.values(state.gateways);

  const byPhase = new Map<DevicePhase, number>(DEVICE_PHASES.map((p) => [p, 0]));
  const byBoard = new Map<string, Map<DevicePhase, number>>();
  for (const d of devices) {
    const phase = phaseOf(d);
    byPhase.set(phase, (byPhase.get(phase) ?? 0) + 1);
    const row = byBoard.get(d.spec.board) ?? new Map<DevicePhase, number>();
    row.set(phase, (row.get(phase) ?? 0) + 1);
    byBoard.set(d.spec.board, row);
  }
  const simulated = devices.filter(isSimulated).length;

  const gatewayTable: Column<Gateway>[] = [
    { head: 'gateway', cell: (g) => <Link to="/gateways">{g.meta.name}</Link> },
    gatewayColumns.health,
    { head: 'sessions', cell: (g) => `${g.status?.sessions ?? 0} / ${g.spec.capacity}` },
    { head: 'last report', cell: (g) => ago(g.status?.lastSeenMs, now) },
  ];

  return (
    <Page title="Fleet overview">
      <div className="tiles" aria-label="Devices by phase">
        {[...byPhase].map(([phase, n]) => (
          <Link key={phase} to={`/devices?phase=${phase}`} className="tile" aria-label={`${n} ${phase}`}>
            <span className="tile-n">{n}</span>
            <DevicePhaseBadge value={phase} />
          </Link>
        ))}
        <div className="tile">
          <span className="tile-n">{devices.length}</span>
          <span>devices ({simulated} simulated)</span>
        </div>
      </div>

      <Section title="Activity">
        <ActivityChart activity={state.activity} now={now} />
      </Section>

      <div className="columns">
        <Section title="Devices by board">
          <DataTable
            columns={BOARD_COLUMNS}
            rows={[...byBoard].sort(([a], [b]) => a.localeCompare(b))}
            rowKey={([board]) => board}
            empty={
              <>
                No devices yet. <Link to="/setup">Set up the first ones</Link>.
              </>
            }
          />
        </Section>

        <Section title="Gateways">
          <DataTable columns={gatewayTable} rows={gateways} rowKey={nameOf} empty="No gateway has registered yet." />
        </Section>
      </div>

      <Section title="Applications">
        <DataTable
          columns={APP_COLUMNS}
          rows={apps}
          rowKey={nameOf}
          empty={
            <>
              No applications yet. <Link to="/applications/new">Deploy one</Link>.
            </>
          }
        />
      </Section>
    </Page>
  );
}
