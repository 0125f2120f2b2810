import { ActivityChart } from '../components/ActivityChart';
import { DevicePhaseBadge, GatewayHealthBadge, RolloutPhaseBadge } from '../components/badges';
import { Empty, ProgressBar, Section, Table } from '../components/common';
import { DEVICE_PHASES, type DevicePhase } from '../api/types';
import { ago, isSimulated, phaseOf } from '../model';
import { useFleet, useNow } from '../state/fleet-context';
import { Link } from '../router';

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

  return (
    <div className="page">
      <h1>Fleet overview</h1>
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
          {byBoard.size === 0 ? (
            <Empty>
              No devices yet. <Link to="/setup">Set up the first ones</Link>.
            </Empty>
          ) : (
            <Table>
              <thead>
                <tr>
                  <th>board</th>
                  <th>devices</th>
                  <th>phases</th>
                </tr>
              </thead>
              <tbody>
                {[...byBoard].sort(([a], [b]) => a.localeCompare(b)).map(([board, phases]) => (
                  <tr key={board}>
                    <td>
                      <Link to={`/devices?board=${board}`}>{board === 'sim' ? 'sim (simulator)' : board}</Link>
                    </td>
                    <td>{[...phases.values()].reduce((a, b) => a + b, 0)}</td>
                    <td>
                      {[...phases].map(([p, n]) => (
                        <DevicePhaseBadge key={p} value={p} label={`${n} ${p}`} />
                      ))}
                    </td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </Section>

        <Section title="Gateways">
          {gateways.length === 0 ? (
            <Empty>No gateway has registered yet.</Empty>
          ) : (
            <Table>
              <thead>
                <tr>
                  <th>gateway</th>
                  <th>health</th>
                  <th>sessions</th>
                  <th>last report</th>
                </tr>
              </thead>
              <tbody>
                {gateways.map((g) => (
                  <tr key={g.meta.name}>
                    <td>
                      <Link to="/gateways">{g.meta.name}</Link>
                    </td>
                    <td>
                      <GatewayHealthBadge value={g.status?.health ?? 'Unknown'} />
                    </td>
                    <td>
                      {g.status?.sessions ?? 0} / {g.spec.capacity}
                    </td>
                    <td>{ago(g.status?.lastSeenMs, now)}</td>
                  </tr>
                ))}
              </tbody>
            </Table>
          )}
        </Section>
      </div>

      <Section title="Applications">
        {apps.length === 0 ? (
          <Empty>
            No applications yet. <Link to="/applications/new">Deploy one</Link>.
          </Empty>
        ) : (
          <Table>
            <thead>
              <tr>
                <th>application</th>
                <th>version</th>
                <th>rollout</th>
                <th>running</th>
              </tr>
            </thead>
            <tbody>
              {apps.map((a) => (
                <tr key={a.meta.name}>
                  <td>
                    <Link to={`/applications/${a.meta.name}`}>{a.meta.name}</Link>
                  </td>
                  <td>{a.spec.version}</td>
                  <td>{a.status?.rollout ? <RolloutPhaseBadge value={a.status.rollout.phase} /> : '–'}</td>
                  <td>
                    <ProgressBar
                      label={`${a.meta.name} running`}
                      value={a.status?.running ?? 0}
                      max={a.status?.desired ?? 0}
                      failed={a.status?.failed ?? 0}
                    />
                    {a.status?.running ?? 0} of {a.status?.desired ?? 0}
                  </td>
                </tr>
              ))}
            </tbody>
          </Table>
        )}
      </Section>
    </div>
  );
}
