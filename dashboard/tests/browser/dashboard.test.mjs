// The dashboard end to end, in headless Chromium against a real
// `wasmbed up` with a QEMU device running our firmware, a TMP105
// temperature sensor attached: sign in, the setup page, the device coming
// Online, a canary rollout, app log and serial console, the terminal
// (allowed and refused), disconnect and connect, a second version,
// rollback, the thermostat example following the sensor as the dashboard
// sets it (device and fleet charts), a message to the echo example, the
// audit log, the activity chart of a page opened afresh, the overview and
// the devices page on a 390 px phone screen, a viewer's view.
//
// One screenshot per step in target/browser-artifacts/. Run it with
// `cargo xtask browser-test` (or as part of `cargo xtask test`).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { paths, startPlatform, stopPlatform } from './platform.mjs';

// QEMU runs under software emulation on a loaded 2-core machine: be patient.
const DEVICE_ONLINE_MS = 180_000;
const ROLLOUT_MS = 180_000;
const UI_MS = 20_000;

const P = paths();
fs.rmSync(P.artifacts, { recursive: true, force: true });
fs.mkdirSync(P.artifacts, { recursive: true });

let platform;
let profile;
let context;
let page;
let step = 0;
const pageErrors = [];
const DEVICE = 'e2e-an385-0';
/** The sensor the device is created with, and the room it starts in (°C; a TMP105 at 12 bits keeps 1/16 °C). */
const SENSOR = 'temp0';
const ROOM_C = 21.5;
const HOT_C = 31.5;
/** A sample a second reaches the page within a few seconds; QEMU on a loaded machine is slower. */
const TELEMETRY_MS = 90_000;

before(async () => {
  platform = await startPlatform(P, P.artifacts);
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wasmbed-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: P.chromium,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-quic',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(UI_MS);
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await context?.close().catch(() => {});
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  if (platform) {
    const left = await stopPlatform(platform);
    assert.deepEqual(left, [], `QEMU processes outlived the platform: ${left.join(', ')}`);
  }
  console.log(`artifacts: ${P.artifacts}`);
});

let broken = null;

/**
 * A numbered step with a screenshot at its end, whether it passed or not.
 * Steps build on each other: after a failure the rest fail at once, naming it.
 */
function stepTest(name, fn) {
  test(name, async () => {
    step += 1;
    if (broken) throw new Error(`not run: step ${broken} failed`);
    const file = path.join(P.artifacts, `${String(step).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
    try {
      await fn();
      await page.screenshot({ path: `${file}.png`, fullPage: true, animations: 'disabled' });
    } catch (e) {
      broken = `${step} (${name})`;
      await page.screenshot({ path: `${file}-FAILED.png`, fullPage: true, animations: 'disabled' }).catch(() => {});
      throw e;
    }
    assert.deepEqual(pageErrors, [], 'the page threw');
  });
}

const alert = () => page.getByRole('alert');

stepTest('sign in with the admin token wasmbed up printed', async () => {
  await page.goto(platform.api + '/');
  await page.getByLabel('API token').fill('wbt_not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  // A refused token is a readable sentence, not a status code.
  await alert().first().waitFor();
  await page.getByLabel('API token').fill(platform.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Set up Wasmbed' }).waitFor();
  await page.getByRole('status', { name: 'Live updates: live' }).waitFor();
});

stepTest('setup: the gateway devices dial', async () => {
  const table = page.getByRole('table', { name: 'Gateway addresses' });
  await table.getByText('gateway-0').waitFor();
  await table.getByText(/^10\.0\.2\.2:\d+$/).waitFor();
  await page.getByRole('button', { name: 'Use this gateway' }).click();
});

stepTest('setup: create an mps2-an385 QEMU device', async () => {
  // The board too small for a runtime says so: its apps run on its gateway.
  await page.getByRole('row').filter({ hasText: 'stm32vldiscovery' }).filter({ hasText: 'no WebAssembly runtime' }).waitFor();
  await page.getByLabel('Number of mps2-an385 devices').fill('1');
  await page.getByLabel('Name prefix').fill('e2e');
  // A TMP105 on I2C bus 0, as QEMU emulates it on the MPS2 boards.
  await page.getByLabel('Attach a sensor to each new device').check();
  assert.equal(await page.getByLabel('Sensor name').inputValue(), SENSOR);
  assert.equal(await page.getByLabel('Sensor kind').inputValue(), 'tmp105');
  assert.equal(await page.getByLabel('Sensor address').inputValue(), 'i2c:0:0x48');
  await page.getByLabel('Initial value').fill(String(ROOM_C));
  await page.getByRole('button', { name: 'Create 1 device' }).click();
  await page.getByRole('table', { name: 'New devices' }).locator(`tr[data-device="${DEVICE}"]`).waitFor();
});

stepTest('the device comes Online', async () => {
  await page
    .getByRole('table', { name: 'New devices' })
    .locator(`tr[data-device="${DEVICE}"] .badge[data-value="Online"]`)
    .waitFor({ timeout: DEVICE_ONLINE_MS });
});

stepTest('setup: a bad rollout strategy is refused with a readable message', async () => {
  await page.getByRole('button', { name: 'Continue to the first app' }).click();
  await page.getByLabel('Application name').fill('hello');
  await page.getByLabel('Module (.wasm)').setInputFiles(path.join(P.apps, 'hello.wasm'));
  await page.getByLabel('Strategy').selectOption('canary');
  await page.getByLabel('Steps', { exact: true }).fill('100%,50%');
  await page.getByRole('status', { name: 'Matched devices' }).getByText(DEVICE).waitFor();
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await alert().filter({ hasText: 'spec.strategy.steps' }).waitFor();
});

stepTest('deploy hello with a canary and watch the rollout complete', async () => {
  await page.getByLabel('Steps', { exact: true }).fill('1,100%');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL('**/applications/hello');
  await page.locator('[aria-label="Rollout"][data-phase="Completed"]').waitFor({ timeout: ROLLOUT_MS });
  const bar = page.getByRole('progressbar', { name: 'Rollout progress' });
  assert.equal(await bar.getAttribute('aria-valuenow'), '1');
  assert.equal(await bar.getAttribute('aria-valuemax'), '1');
  const steps = page.getByRole('table', { name: 'Rollout steps' });
  assert.equal(await steps.locator('tbody tr').count(), 2);
});

stepTest('the app log and the serial console show the device output', async () => {
  await page.getByRole('table', { name: 'Devices running the app' }).getByRole('link', { name: DEVICE }).click();
  await page.getByRole('heading', { name: DEVICE }).waitFor();
  await page.getByRole('log', { name: 'App log' }).getByText('hello from wasmbed').first().waitFor({ timeout: 60_000 });
  await page.getByRole('log', { name: 'Serial console' }).getByText(`online: enrolled as ${DEVICE}`).waitFor({ timeout: 60_000 });
  await page.getByRole('table', { name: 'Apps on the device' }).locator('.badge[data-value="running"]').waitFor();
});

stepTest('terminal: status runs', async () => {
  await page.getByLabel('Terminal command').fill('status');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const entry = page.getByRole('log', { name: 'Terminal output' }).locator('.term-entry').last();
  await entry.waitFor({ timeout: 60_000 });
  assert.equal(await entry.getAttribute('data-outcome'), 'ok', await entry.innerText());
});

stepTest('terminal: a command off the allow-list is refused', async () => {
  await page.getByLabel('Terminal command').fill('rm -rf /');
  await page.getByRole('button', { name: 'Run', exact: true }).click();
  const entries = page.getByRole('log', { name: 'Terminal output' }).locator('.term-entry');
  await entries.nth(1).waitFor({ timeout: 60_000 });
  assert.equal(await entries.nth(1).getAttribute('data-outcome'), 'refused', await entries.nth(1).innerText());
});

stepTest('disconnect stops the QEMU device, connect brings it back Online', async () => {
  await page.getByRole('button', { name: 'Disconnect (stop QEMU)' }).click();
  await page.getByRole('button', { name: 'Connect (start QEMU)' }).waitFor({ timeout: 60_000 });
  await page.locator('h1 .badge:not([data-value="Online"])').waitFor({ timeout: 60_000 });
  await page.getByRole('button', { name: 'Connect (start QEMU)' }).click();
  await page.locator('h1 .badge[data-value="Online"]').waitFor({ timeout: DEVICE_ONLINE_MS });
});

stepTest('deploy version 2 (ticker) to the same devices', async () => {
  await page.goto(platform.api + '/applications/hello');
  await page.getByRole('link', { name: 'Deploy a new version' }).click();
  await page.getByRole('heading', { name: 'Deploy a new version of hello' }).waitFor();
  assert.equal(await page.getByLabel('Version', { exact: true }).inputValue(), '2');
  await page.getByLabel('Module (.wasm)').setInputFiles(path.join(P.apps, 'ticker.wasm'));
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL('**/applications/hello');
  await page.locator('[aria-label="Rollout"][data-revision="2"][data-phase="Completed"]').waitFor({ timeout: ROLLOUT_MS });
  await page.locator('tr[data-revision="2"]').getByText('current').waitFor();
});

stepTest('roll back to revision 1 in one click', async () => {
  await page.getByRole('button', { name: 'Roll back to revision 1' }).click();
  await page.locator('[aria-label="Rollout"][data-revision="1"][data-phase="Completed"]').waitFor({ timeout: ROLLOUT_MS });
  await page.locator('tr[data-revision="1"]').getByText('current').waitFor();
  const onDevice = page.getByRole('table', { name: 'Devices running the app' }).locator('tr', { hasText: DEVICE });
  await onDevice.locator('td:nth-child(3)', { hasText: /^1$/ }).waitFor({ timeout: ROLLOUT_MS });
  await onDevice.locator('.badge[data-value="running"]').waitFor({ timeout: ROLLOUT_MS });
});

/** Waits until the chart named `name` shows `value` as its latest. */
async function chartFollows(name, value, timeout = TELEMETRY_MS) {
  await page.getByRole('figure', { name }).waitFor({ timeout });
  await page.locator(`figure[aria-label="${name}"] .latest[data-value="${value}"]`).waitFor({ timeout });
}

/** Deploys `app` (its module from the apps folder) to the demo devices, all at once, and waits for the rollout. */
async function deploy(app, { groups, hardware = '', config = '' }) {
  await page.goto(`${platform.api}/applications/new`);
  await page.getByLabel('Application name', { exact: true }).fill(app);
  await page.getByLabel('Module (.wasm)', { exact: true }).setInputFiles(path.join(P.apps, `${app}.wasm`));
  for (const g of ['log', 'time', 'device', 'telemetry', 'config', 'messages']) {
    await page.getByRole('group', { name: 'Capabilities' }).getByLabel(g, { exact: true }).setChecked(groups.includes(g));
  }
  await page.getByLabel('Hardware', { exact: true }).fill(hardware);
  await page.getByLabel('Configuration', { exact: true }).fill(config);
  await page.getByLabel('Target devices (label selector)', { exact: true }).fill('app=demo');
  // A select's name is its label and its options: match the start.
  await page.getByRole('combobox', { name: /^Strategy/ }).selectOption('all-at-once');
  await page.getByRole('button', { name: 'Deploy', exact: true }).click();
  await page.waitForURL(`**/applications/${app}`);
  await page.locator('[aria-label="Rollout"][data-phase="Completed"]').waitFor({ timeout: ROLLOUT_MS });
  await page.getByRole('table', { name: 'Devices running the app' }).locator('tr', { hasText: DEVICE }).locator('.badge[data-value="running"]').waitFor({ timeout: ROLLOUT_MS });
}

stepTest('deploy the thermostat with its hardware grants and config', async () => {
  await deploy('thermostat', { groups: ['log', 'time', 'telemetry', 'config'], hardware: 'gpio:led0, i2c:0:0x48', config: 'threshold_c=30' });
  const spec = page.getByRole('region', { name: 'Specification' });
  const granted = (await spec.locator('dt', { hasText: /^capabilities$/ }).locator('xpath=following-sibling::dd').innerText()).split(', ');
  assert.deepEqual([...granted].sort(), ['config', 'gpio:led0', 'i2c:0:0x48', 'log', 'telemetry', 'time']);
  await spec.getByText('threshold_c=30').waitFor();
});

stepTest('the device page shows the sensor and charts the temperature the thermostat reads', async () => {
  await page.getByRole('table', { name: 'Devices running the app' }).getByRole('link', { name: DEVICE }).click();
  await page.getByRole('heading', { name: DEVICE }).waitFor();
  const sensor = page.getByRole('table', { name: 'Sensors' }).locator(`tr[data-sensor="${SENSOR}"]`);
  await sensor.locator(`.sensor-value[data-value="${ROOM_C}"]`).waitFor({ timeout: 60_000 });
  await chartFollows(`temp_c on ${DEVICE}`, ROOM_C);
  // Below the threshold: the LED stays off, and the app said so.
  await page.getByRole('log', { name: 'App log' }).getByText(`temperature ${ROOM_C.toFixed(2)} C: LED 0 off`).first().waitFor({ timeout: 60_000 });
  // The app's counters, as the device reports them: nothing denied, no hardware error.
  const counters = page.getByRole('table', { name: 'Apps on the device' }).locator('tr[data-slot="thermostat"]');
  await counters.locator('[data-counter="denied"]', { hasText: /^0$/ }).waitFor({ timeout: 60_000 });
  await counters.locator('[data-counter="hwErrors"]', { hasText: /^0$/ }).waitFor();
});

stepTest('a value the sensor cannot measure is refused with the platform’s reason', async () => {
  const form = page.getByRole('form', { name: `Set ${SENSOR}` });
  await form.getByLabel(`${SENSOR} (°C)`).fill('500');
  await form.getByRole('button', { name: 'Set' }).click();
  await alert().filter({ hasText: 'outside what a tmp105 measures' }).waitFor();
});

stepTest('setting the sensor from the dashboard: the chart follows, the thermostat turns the LED on', async () => {
  const form = page.getByRole('form', { name: `Set ${SENSOR}` });
  await form.getByLabel(`${SENSOR} (°C)`).fill(String(HOT_C));
  await form.getByRole('button', { name: 'Set' }).click();
  await page.getByRole('table', { name: 'Sensors' }).locator(`tr[data-sensor="${SENSOR}"] .sensor-value[data-value="${HOT_C}"]`).waitFor();
  // The chart had the room's temperature; now it follows the new one, live,
  // and its window holds both.
  await chartFollows(`temp_c on ${DEVICE}`, HOT_C);
  const chart = page.getByRole('figure', { name: `temp_c on ${DEVICE}` });
  assert.match(await chart.getByRole('img').getAttribute('aria-label'), new RegExp(`from ${ROOM_C} to ${HOT_C}; latest ${HOT_C}$`));
  await page.getByRole('log', { name: 'App log' }).getByText(`temperature ${HOT_C.toFixed(2)} C: LED 0 on`).first().waitFor({ timeout: 60_000 });
});

stepTest('the application page charts the fleet’s temperature', async () => {
  await page.goto(`${platform.api}/applications/thermostat`);
  // One device: the newest step's min, mean and max are its value; the window holds the room's too.
  await chartFollows('temp_c across thermostat', HOT_C);
  const fleet = page.getByRole('figure', { name: 'temp_c across thermostat' });
  await fleet.getByText('1 device reporting').waitFor();
  assert.match(await fleet.getByRole('img').getAttribute('aria-label'), new RegExp(`from ${ROOM_C} to ${HOT_C}; latest ${HOT_C}$`));
  await page.getByLabel('Time window').selectOption('1 h');
  await chartFollows('temp_c across thermostat', HOT_C);
});

stepTest('a message from the dashboard reaches the echo app: delivered', async () => {
  await deploy('echo', { groups: ['log', 'time', 'telemetry', 'messages'] });
  await page.getByLabel('Message to echo', { exact: true }).fill('hello from the dashboard');
  await page.getByRole('combobox', { name: /^To\b/ }).selectOption(DEVICE);
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  await page.getByRole('table', { name: 'Deliveries to echo' }).locator(`tr[data-device="${DEVICE}"] .badge[data-value="delivered"]`).waitFor({ timeout: 60_000 });
  // On the device: the app logged it, and an app without a handler says so.
  await page.goto(`${platform.api}/devices/${DEVICE}`);
  await page.getByRole('log', { name: 'App log' }).getByText('hello from the dashboard').first().waitFor({ timeout: 60_000 });
  const toThermostat = page.locator('.send-message[data-app="thermostat"]');
  await toThermostat.getByLabel('Message to thermostat', { exact: true }).fill('ping');
  await toThermostat.getByRole('button', { name: 'Send' }).click();
  await page.getByRole('table', { name: 'Deliveries to thermostat' }).locator(`tr[data-device="${DEVICE}"] .badge[data-value="no-handler"]`).waitFor({ timeout: 60_000 });
  // The message's length is telemetry too.
  await chartFollows(`msg_len on ${DEVICE}`, 'hello from the dashboard'.length);
});

stepTest('the audit log records the deploys and the refused command', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  const table = page.getByRole('table', { name: 'Audit entries' });
  await table.locator('tr[data-action="app.deploy"]').first().waitFor();
  await page.getByLabel('Outcome').selectOption('refused');
  await table.locator('tr[data-action="device.terminal"][data-outcome="refused"]').first().waitFor();
  await table.getByText('rm -rf /').first().waitFor();
  await page.waitForFunction(() => [...document.querySelectorAll('tr[data-outcome]')].every((r) => r.getAttribute('data-outcome') === 'refused'));
});

stepTest('the overview counts the fleet', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('link', { name: '1 Online' }).waitFor();
  await page.getByRole('img', { name: /Heartbeats and app failures/ }).waitFor();
  // The device heartbeats every 5 s: the chart counts them as they arrive.
  await page.getByText(/heartbeats \([1-9]\d*\)/).waitFor();
});

/** Waits for a heartbeat bar on the chart whose bucket had ended by `before` (Unix ms; null: by now). */
function heartbeatBarEndedBy(before, timeout = UI_MS) {
  return page.waitForFunction(
    (t) =>
      [...document.querySelectorAll('figure.chart rect.bar-hb')].some(
        (r) => Number(r.getAttribute('data-start-ms')) + Number(r.closest('figure')?.getAttribute('data-bucket-ms')) <= (t ?? Date.now()),
      ),
    before,
    { timeout },
  );
}

stepTest('a page opened afresh shows the platform’s recent activity at once', async () => {
  // First a bucket that has ended with a heartbeat in it (the device
  // heartbeats every 5 s): the platform has counted that one too.
  await heartbeatBarEndedBy(null, 60_000);
  // After a reload, a bucket that ended before the page opened holds
  // heartbeats the page cannot have seen itself: only the platform's count
  // brings it.
  const opened = Date.now();
  await page.reload();
  await page.getByRole('img', { name: /Heartbeats and app failures/ }).waitFor();
  await heartbeatBarEndedBy(opened);
  await page.getByText(/heartbeats \([1-9]\d*\)/).waitFor();
});

/** Fails naming what sticks out when the page is wider than the window (it would scroll sideways). */
async function assertNoSidewaysScroll(what) {
  const r = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    wide: [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 0.5 && !e.closest('.table-scroll'))
      .slice(0, 5)
      .map((e) => `<${e.tagName.toLowerCase()} class="${e.className}"> ends at ${Math.round(e.getBoundingClientRect().right)} px`),
  }));
  assert.ok(r.scrollWidth <= r.innerWidth, `${what} scrolls sideways at ${r.innerWidth} px (${r.scrollWidth} px wide): ${r.wide.join('; ')}`);
}

stepTest('on a 390 px phone screen the overview does not scroll sideways', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(platform.api + '/');
  await page.getByRole('link', { name: '1 Online' }).waitFor();
  await page.getByRole('table').first().waitFor();
  await assertNoSidewaysScroll('the overview');
});

stepTest('on a 390 px phone screen the devices page does not scroll sideways', async () => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices' }).click();
  await page.getByRole('table', { name: 'Devices' }).locator(`tr[data-device="${DEVICE}"]`).waitFor();
  await assertNoSidewaysScroll('the devices page');
  await page.setViewportSize({ width: 1280, height: 900 });
});

stepTest('a viewer token sees the fleet but no controls', async () => {
  // Tokens are made through the API (the dashboard has no token page yet).
  const res = await fetch(`${platform.api}/api/v1/tokens`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${platform.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'e2e-viewer', role: 'viewer' }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  const { token } = await res.json();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('e2e-viewer').waitFor();
  await page.goto(`${platform.api}/devices/${DEVICE}`);
  await page.locator('h1 .badge[data-value="Online"]').waitFor();
  assert.equal(await page.getByRole('button', { name: /Disconnect|Connect|Delete device|^Set$|^Send$/ }).count(), 0);
  assert.equal(await page.getByLabel('Terminal command').isDisabled(), true);
  await page.getByText('Running commands needs the operator role.').waitFor();
  await page.getByText('Setting a sensor needs the operator role.').waitFor();
  await page.getByText('Sending messages needs the operator role.').first().waitFor();
  // Reading is a viewer's right: the sensor's value and the chart are there.
  await page.getByRole('table', { name: 'Sensors' }).locator(`.sensor-value[data-value="${HOT_C}"]`).waitFor();
  await chartFollows(`temp_c on ${DEVICE}`, HOT_C);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await page.getByText('Reading the audit log needs the operator role.').waitFor();
});
