// What a device is (simulated or our firmware in QEMU) and its apps' states, as badges.

import type { Device } from '../api/types';
import { isSimulated } from '../model';
import { AppStateBadge } from './badges';

export function DeviceKind({ d }: { d: Device }) {
  return isSimulated(d) ? (
    <span className="tag sim" title="The device agent running on the platform's host, not firmware">
      simulated
    </span>
  ) : (
    <span className="tag qemu" title="Our firmware running in QEMU's emulation of this board">
      QEMU
    </span>
  );
}

export function AppStates({ d }: { d: Device }) {
  const apps = d.status?.session?.apps ?? [];
  if (apps.length === 0) return <span className="muted">none</span>;
  return (
    <>
      {apps.map((a) => (
        <AppStateBadge key={a.name} value={a.state} label={`${a.name} ${a.state}`} />
      ))}
    </>
  );
}
