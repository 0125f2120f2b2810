import { useEffect, useRef } from 'react';
import type { StreamState } from './api/events';
import { ErrorBanner, Page } from './components/common';
import { useAuth } from './state/auth';
import { FleetProvider, useFleet } from './state/fleet-context';
import { Link, match, navigate, useLocation } from './router';
import { ApplicationDetail } from './pages/ApplicationDetail';
import { Applications, NewDeployment } from './pages/Applications';
import { Audit } from './pages/Audit';
import { DeviceDetail } from './pages/DeviceDetail';
import { Devices } from './pages/Devices';
import { Gateways } from './pages/Gateways';
import { Login } from './pages/Login';
import { Overview } from './pages/Overview';
import { Setup } from './pages/Setup';

const NAV: [string, string][] = [
  ['/', 'Overview'],
  ['/devices', 'Devices'],
  ['/applications', 'Applications'],
  ['/gateways', 'Gateways'],
  ['/audit', 'Audit log'],
  ['/setup', 'Setup'],
];

function StreamIndicator({ s }: { s: StreamState }) {
  const [cls, text, title] =
    s.kind === 'live'
      ? ['ok', 'live', 'Receiving live updates']
      : s.kind === 'connecting'
        ? ['busy', 'connecting…', 'Opening the event stream']
        : s.kind === 'reconnecting'
          ? ['warn', `reconnecting in ${Math.round(s.retryInMs / 1000)} s`, s.error]
          : ['bad', 'refused', s.error.message];
  return (
    <span className={`stream badge ${cls}`} role="status" aria-label={`Live updates: ${text}`} title={title}>
      ● {text}
    </span>
  );
}

function PageAt({ path }: { path: string }) {
  let p: Record<string, string> | null;
  if (path === '/' || path === '') return <Overview />;
  if (path === '/setup') return <Setup />;
  if (path === '/devices') return <Devices />;
  if ((p = match('/devices/:name', path))) return <DeviceDetail name={p.name ?? ''} />;
  if (path === '/applications') return <Applications />;
  if (path === '/applications/new') return <NewDeployment />;
  if ((p = match('/applications/:name', path))) return <ApplicationDetail name={p.name ?? ''} />;
  if (path === '/gateways') return <Gateways />;
  if (path === '/audit') return <Audit />;
  return (
    <Page title="Not found">
      <p>
        Nothing here. <Link to="/">Overview</Link>
      </p>
    </Page>
  );
}

function Shell() {
  const { me, signOut, can } = useAuth();
  const { state, stream } = useFleet();
  const { path } = useLocation();
  const sent = useRef(false);

  // First run: an empty fleet opens the setup page, once per page load.
  useEffect(() => {
    if (sent.current || !state.loaded) return;
    sent.current = true;
    const empty = Object.keys(state.devices).length === 0 && Object.keys(state.applications).length === 0;
    if (empty && path === '/' && can('operator')) navigate('/setup', true);
  }, [state.loaded, state.devices, state.applications, path, can]);

  const section = '/' + (path.split('/')[1] ?? '');
  return (
    <div className="app">
      <header className="top">
        <Link to="/" className="brand">
          Wasmbed
        </Link>
        <nav aria-label="Main">
          {NAV.filter(([to]) => to !== '/setup' || can('operator')).map(([to, label]) => (
            <Link key={to} to={to} aria-current={section === to ? 'page' : undefined}>
              {label}
            </Link>
          ))}
        </nav>
        <StreamIndicator s={stream} />
        <span className="who">
          {me?.name} <span className="muted">({me?.role})</span>
        </span>
        <button type="button" className="link" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <ErrorBanner
        error={
          stream.kind === 'reconnecting'
            ? `Live updates interrupted: ${stream.error}. Reconnecting; what is shown may be stale.`
            : stream.kind === 'refused'
              ? stream.error.message
              : null
        }
      />
      <main>{state.loaded ? <PageAt path={path} /> : <p className="empty">Connecting to the platform…</p>}</main>
    </div>
  );
}

export function App() {
  const { me } = useAuth();
  if (!me) return <Login />;
  return (
    <FleetProvider>
      <Shell />
    </FleetProvider>
  );
}
