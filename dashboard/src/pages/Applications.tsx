import { appColumns, Targets } from '../components/columns';
import { Page, Section } from '../components/common';
import { DataTable, type Column } from '../components/DataTable';
import { DeployForm } from '../components/DeployForm';
import type { Application } from '../api/types';
import { byName, nameOf, strategyLabel } from '../model';
import { useAuth } from '../state/auth';
import { useFleet } from '../state/fleet-context';
import { Link, navigate, useLocation } from '../router';

const COLUMNS: Column<Application>[] = [
  appColumns.name,
  appColumns.version,
  appColumns.runtime,
  { head: 'revision', cell: (a) => a.status?.revision ?? '–' },
  { head: 'targets', cell: (a) => <Targets app={a} /> },
  { head: 'strategy', cell: strategyLabel },
  appColumns.rollout,
  appColumns.running,
];

export function Applications() {
  const { state } = useFleet();
  const { can } = useAuth();
  return (
    <Page title="Applications">
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
        <DataTable label="Applications" columns={COLUMNS} rows={byName(Object.values(state.applications))} rowKey={nameOf} empty="No applications yet." />
      </Section>
    </Page>
  );
}

export function NewDeployment() {
  const { state } = useFleet();
  const { query } = useLocation();
  const existing = state.applications[query.get('app') ?? ''];
  return (
    <Page title={existing ? `Deploy a new version of ${existing.meta.name}` : 'Deploy an app'}>
      <Section title="Module, capabilities, targets, strategy">
        <DeployForm existing={existing} onDeployed={(a) => navigate(`/applications/${a.meta.name}`)} />
      </Section>
    </Page>
  );
}
