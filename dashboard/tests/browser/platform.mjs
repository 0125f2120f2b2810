// Starts a real `wasmbed up` for the browser test and stops it without
// leaving anything behind: its own process group, servers on 127.0.0.1
// port 0, a temporary data directory.

import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../../..');

/** Paths the test needs, overridable from the environment (xtask passes them). */
export function paths() {
  const p = {
    bin: process.env.WASMBED_BIN ?? path.join(ROOT, 'target/release/wasmbed'),
    firmware: process.env.WASMBED_FIRMWARE_DIR ?? path.join(ROOT, 'target/firmware'),
    dashboard: process.env.WASMBED_DASHBOARD_DIR ?? path.join(ROOT, 'dashboard/dist'),
    apps: process.env.WASMBED_APPS_DIR ?? path.join(ROOT, 'apps/target/wasm32-unknown-unknown/release'),
    chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
    artifacts: process.env.WASMBED_BROWSER_ARTIFACTS ?? path.join(ROOT, 'target/browser-artifacts'),
  };
  const need = [
    [p.bin, 'the wasmbed binary (cargo build --release -p wasmbed-cli)'],
    [path.join(p.firmware, 'wasmbed-fw-mps2-an385'), 'the mps2-an385 firmware (cargo xtask firmware)'],
    [path.join(p.dashboard, 'index.html'), 'the built dashboard (cargo xtask dashboard)'],
    [path.join(p.apps, 'hello.wasm'), 'the example apps (cargo xtask apps)'],
    [p.chromium, 'Chromium (apt-get install chromium)'],
  ];
  for (const [f, what] of need) if (!fs.existsSync(f)) throw new Error(`missing ${what}: ${f}`);
  return p;
}

/**
 * Runs `wasmbed up` until its banner is complete; resolves to its API URL
 * and the admin token it printed once.
 */
export async function startPlatform(p, logDir) {
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-browser-'));
  const args = ['--data-dir', data, 'up', '--listen', '127.0.0.1:0', '--gateway', '127.0.0.1:0', '--firmware-dir', p.firmware, '--dashboard-dir', p.dashboard];
  const child = spawn(p.bin, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'info' } });
  const out = fs.createWriteStream(path.join(logDir, 'wasmbed-up.stdout.log'));
  const err = fs.createWriteStream(path.join(logDir, 'wasmbed-up.stderr.log'));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b) => {
    stdout += b;
    out.write(b);
  });
  child.stderr.on('data', (b) => {
    stderr += b;
    err.write(b);
  });
  const platform = { child, data, stdout: () => stdout, stderr: () => stderr, api: '', token: '' };
  // However this process ends (a failed assertion, Ctrl-C, a timeout), the
  // platform's process group ends with it; its QEMUs follow it (pdeathsig).
  const killGroup = () => {
    if (platform.stopped) return; // its group id may belong to someone else by now
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    fs.rmSync(data, { recursive: true, force: true });
  };
  process.once('exit', killGroup);
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      killGroup();
      process.exit(130);
    });
  }
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => fail('did not finish starting within 120 s'), 120_000);
    const tick = setInterval(() => {
      if (/^Stop with Ctrl-C\./m.test(stdout)) done();
    }, 100);
    function fail(why) {
      clearTimeout(deadline);
      clearInterval(tick);
      reject(new Error(`wasmbed up ${why}\n--- stdout\n${stdout}\n--- stderr (last 3000 chars)\n${stderr.slice(-3000)}`));
    }
    function done() {
      clearTimeout(deadline);
      clearInterval(tick);
      resolve();
    }
    child.on('exit', (code, sig) => fail(`exited (${code ?? sig}) before it was up`));
  });
  const api = /^\s*api:\s+(http:\/\/127\.0\.0\.1:\d+)/m.exec(stdout)?.[1];
  const token = /admin token:\s+(wbt_\S+)/.exec(stdout)?.[1];
  if (!api) throw new Error(`wasmbed up printed no "api: http://127.0.0.1:PORT" line:\n${stdout}`);
  if (!token) {
    throw new Error(`wasmbed up printed no "admin token: wbt_..." line on its first start (docs/api.md says it does):\n${stdout}`);
  }
  platform.api = api;
  platform.token = token;
  return platform;
}

/** PIDs of QEMU processes started for this data directory. */
export function qemuOf(data) {
  let out = '';
  try {
    out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out
    .split('\n')
    .filter((l) => l.includes('qemu-system') && l.includes(data))
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

/** SIGTERM to the platform's process group, SIGKILL after 15 s; then no QEMU of ours may remain. */
export async function stopPlatform(platform) {
  const { child } = platform;
  const gone = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', r)));
  const kill = (sig) => {
    try {
      process.kill(-child.pid, sig);
    } catch {
      // Already gone.
    }
  };
  kill('SIGTERM');
  const timer = setTimeout(() => kill('SIGKILL'), 15_000);
  await gone;
  clearTimeout(timer);
  kill('SIGKILL'); // anything left in the group
  platform.stopped = true;
  // QEMU dies with the platform (pdeathsig); give the kernel a moment, then look.
  let left = [];
  for (let i = 0; i < 50; i++) {
    left = qemuOf(platform.data);
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone meanwhile.
    }
  }
  fs.rmSync(platform.data, { recursive: true, force: true });
  return left;
}
