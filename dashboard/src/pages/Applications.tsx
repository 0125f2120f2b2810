import { RolloutPhaseBadge } from '../components/badges';
import { Empty, ProgressBar, Section, Table } from '../components/common';
import { DeployForm } from '../components/DeployForm';
import { strategyLabel } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { Link, navigate, useLocation } from '../router';

export function Applications() {
  const { state } = useFleet();
  const { can } = useAuth();
  const apps = Object.values(state.applications).sort((a, b) => a.meta.name.localeCompare(b.meta.name));
  return (
    <div className="page">
      <h1>Applications</h1>
      <Section
        title="Deployed"
        actions={
          can('operator') && (
            <Link to="/applications/new" className="button primary">
              Deploy an app
            </Link>
          )
        }
      >
        {apps.length === 0 ? (
          <Empty>No applications yet.</Empty>
        ) : (
          <Table aria-label="Applications">
            <thead>
              <tr>
                <th>name</th>
                <th>version</th>
                <th>revision</th>
                <th>targets</th>
                <th>strategy</th>
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
                  <td>{a.status?.revision ?? '–'}</td>
                  <td>
                    <code>{a.spec.selector || '(every device)'}</code>
                  </td>
                  <td>{strategyLabel(a)}</td>
                  <td>{a.status?.rollout ? <RolloutPhaseBadge value={a.status.rollout.phase} /> : '–'}</td>
                  <td>
                    <ProgressBar label={`${a.meta.name} running`} value={a.status?.running ?? 0} max={a.status?.desired ?? 0} failed={a.status?.failed ?? 0} />
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

export function NewDeployment() {
  const { state } = useFleet();
  const { query } = useLocation();
  const existing = state.applications[query.get('app') ?? ''];
  return (
    <div className="page">
      <h1>{existing ? `Deploy a new version of ${existing.meta.name}` : 'Deploy an app'}</h1>
      <Section title="Module, capabilities, targets, strategy">
        <DeployForm existing={existing} onDeployed={(a) => navigate(`/applications/${a.meta.name}`)} />
      </Section>
    </div>
  );
}
