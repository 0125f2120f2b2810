// Columns that tables on several pages share: how a device, application or
// gateway shows in a row, written once. A page lists the ones it wants and
// may rename a heading ({ ...appColumns.name, head: 'application' }).

import type { ReactNode } from 'react';
import type { Application, Device, Gateway } from '../api/types';
import { healthOf, phaseOf, qemuEndpoint } from '../model';
import { Link } from '../router';
import { DevicePhaseBadge, GatewayHealthBadge, RolloutPhaseBadge } from './badges';
import { ProgressBar } from './common';
import type { Column, RowAttributes } from './DataTable';
import { DeviceKind } from './DeviceKind';

export function DeviceLink({ name }: { name: string }) {
  return <Link to={`/devices/${encodeURIComponent(name)}`}>{name}</Link>;
}

/** A link to an application's page; `children` default to its name. */
export function AppLink({ name, children }: { name: string; children?: ReactNode }) {
  return <Link to={`/applications/${encodeURIComponent(name)}`}>{children ?? name}</Link>;
}

/** An application's label selector; the empty one targets every device. */
export function Targets({ app }: { app: Application }) {
  const every = app.spec.runtime === 'edge' ? '(every gateway)' : '(every device)';
  return <code>{app.spec.selector || every}</code>;
}

/** Where an application runs: devices (a core module) or gateways (an edge component). */
export function runtimeLabel(app: Application): string {
  return app.spec.runtime === 'edge' ? 'edge (gateways)' : 'device';
}

/** How many of the devices an application targets run it: a bar, then "n of m". */
function Running({ app }: { app: Application }) {
  const running = app.status?.running ?? 0;
  const desired = app.status?.desired ?? 0;
  return (
    <>
      <ProgressBar label={`${app.meta.name} running`} value={running} max={desired} failed={app.status?.failed ?? 0} />
      {running} of {desired}
    </>
  );
}

export const deviceColumns = {
  name: { head: 'name', cell: (d) => <DeviceLink name={d.meta.name} /> },
  board: {
    head: 'board',
    cell: (d) => (
      <>
        {d.spec.board} <DeviceKind d={d} />
      </>
    ),
  },
  phase: { head: 'phase', cell: (d) => <DevicePhaseBadge value={phaseOf(d)} /> },
} satisfies Record<string, Column<Device>>;

/** A device's row carries its name, for tests to find it by. */
export const deviceRow = (d: Device): RowAttributes => ({ 'data-device': d.meta.name });

export const appColumns = {
  name: { head: 'name', cell: (a) => <AppLink name={a.meta.name} /> },
  version: { head: 'version', cell: (a) => a.spec.version },
  runtime: { head: 'runs on', cell: runtimeLabel },
  rollout: { head: 'rollout', cell: (a) => (a.status?.rollout ? <RolloutPhaseBadge value={a.status.rollout.phase} /> : '–') },
  running: { head: 'running', cell: (a) => <Running app={a} /> },
} satisfies Record<string, Column<Application>>;

export const gatewayColumns = {
  name: { head: 'name', cell: (g) => g.meta.name },
  health: { head: 'health', cell: (g) => <GatewayHealthBadge value={healthOf(g)} /> },
  hostEndpoint: { head: 'endpoint (host devices)', cell: (g) => <code>{g.spec.endpoint}</code> },
  qemuEndpoint: { head: 'endpoint (QEMU devices)', cell: (g) => <code>{qemuEndpoint(g)}</code> },
  edge: {
    head: 'edge applications',
    cell: (g) =>
      (g.status?.edge ?? []).map((o) => `${o.name} r${o.revision ?? '?'} ${o.state}${o.reason ? `: ${o.reason}` : ''}`).join('; ') || '–',
  },
} satisfies Record<string, Column<Gateway>>;
