//! The QEMU manager: one supervised QEMU process per Device of an emulated
//! board.
//!
//! - A device's identity bundle is written into its folder, like a factory
//!   programming flash: once, and again only when the fleet's gateways
//!   change (keeping its key and seed) or its identity does. It lists
//!   every gateway, the device's own first, and holds the identity recorded
//!   on the Device (the one the PKI last issued for it); a device with none
//!   recorded, or one the PKI no longer holds, gets a new one, recorded by
//!   the manager. A running device whose recorded identity changes (its
//!   bundle was re-issued) is restarted with the new one.
//! - The process's state goes into the `process` part of the Device's
//!   status (Running, Restarting, Stopped, Failed with the reason).
//! - Every start gets a fresh per-boot seed and the host's time.
//! - An attached board (the stm32vldiscovery) gets its provisioning record
//!   (its name and the link key recorded on the Device) in its flash page
//!   instead of a bundle, no seed and no network: its link UART is
//!   connected to its gateway's board-link listener (`boardLinkEndpoint`
//!   of its Gateway; it waits, as for a restart, until one is registered).
//! - The serial console is appended to `console.log` in the device folder
//!   (rotated at 1 MiB), with a marker line per start and exit; QEMU's own
//!   messages go to `qemu.log` there (rewritten per start).
//! - A firmware reset (watchdog, panic, hard fault, terminal `reboot`)
//!   resets the board in place, as hardware does, keeping the RAM where the
//!   firmware's crash journal lives; the firmware counts its warm resets
//!   and mixes the count into the seed. Only a QEMU that exits (killed,
//!   crashed) is started again, with a new seed, backing off exponentially
//!   when it keeps exiting; `restarts` counts those, not board resets
//!   (the console has a `boot: warm reset N` line for each).
//! - Deleting the Device or stopping the manager kills its process group;
//!   the group is also killed if the platform process itself dies
//!   ([`ProcessGroup`]), so no QEMU outlives the platform.
//! - The peripherals a Device's spec declares are attached to its QEMU,
//!   which listens for QMP on `qmp.sock` in the device folder. The manager
//!   is the platform's [`Sensors`]: a value set is applied through QMP and
//!   remembered, and every start (the first, and each restart) sets each
//!   sensor to its remembered value, else the spec's initial one, with the
//!   CPU held (`-S`) until they are in place — the world outside a board
//!   does not reboot with it. A change to the declared peripherals
//!   restarts the device.

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::{broadcast::error::RecvError, watch};
use tokio::task::JoinHandle;
use wasmbed_control::provisioning::Provisioner;
use wasmbed_model::clock::unix_ms;
use wasmbed_model::{
    AttachedPeripheral, Device, DeviceStatusPatch, EventKind, Gauge, ProcessState, ProcessStatus, SensorError, Sensors,
    Store, record_identity,
};
use wasmbed_pki::{Fingerprint, Pki};
use wasmbed_protocol::IdentityBundle;

use crate::qmp::{Qmp, QmpError};
use crate::{
    Launch, ProcessGroup, QemuPeripheral, Transport, emulated as machine, mac_for, socket_path, write_boot_seed,
    write_private,
};

/// Console files are rotated past this size (one old file is kept).
const CONSOLE_MAX: u64 = 1024 * 1024;
/// Bounds each QMP command.
const QMP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a QEMU just started has to open its QMP socket.
const QMP_READY: Duration = Duration::from_secs(5);

/// What the manager needs to know.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Per-device folders live here (`<dir>/<device>/`).
    pub dir: PathBuf,
    /// Firmware ELF per board.
    pub firmware: BTreeMap<String, PathBuf>,
    /// The gateway's TCP port on the host (devices dial 10.0.2.2:port),
    /// used when the store lists no Gateway.
    pub gateway_port: u16,
    /// First restart delay; doubles per quick exit up to `restart_max`.
    pub restart_base: Duration,
    /// Longest restart delay.
    pub restart_max: Duration,
}

impl ManagerConfig {
    /// Defaults: restarts after 0.5 s, backing off to 30 s.
    pub fn new(dir: PathBuf, firmware: BTreeMap<String, PathBuf>, gateway_port: u16) -> Self {
        Self {
            dir,
            firmware,
            gateway_port,
            restart_base: Duration::from_millis(500),
            restart_max: Duration::from_secs(30),
        }
    }

    /// Finds `wasmbed-fw-<board>` ELFs in `dir` for every QEMU board.
    pub fn firmware_in(dir: &Path) -> BTreeMap<String, PathBuf> {
        wasmbed_model::board_table::BOARDS
            .iter()
            .filter(|b| machine(b.name).is_some())
            .map(|b| (b.name.to_string(), dir.join(b.image_name().to_string())))
            .filter(|(_, p)| p.is_file())
            .collect()
    }
}

/// One running device as the manager sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Running {
    /// Device name.
    pub device: String,
    /// QEMU's pid (also its process group), if it is up right now.
    pub pid: Option<u32>,
    /// Times QEMU was started.
    pub starts: u32,
}

struct Supervised {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    state: Arc<Mutex<Running>>,
    /// The gateway assignment it was started with (a UART device is
    /// cabled to its gateway's port, so a new assignment restarts it).
    gateway: Option<String>,
    /// The peripherals it was started with (a change restarts it).
    peripherals: Vec<AttachedPeripheral>,
    /// Fingerprint of the certificate in the bundle its QEMU runs with (a
    /// different one recorded on the Device restarts it).
    provisioned: Arc<Mutex<Option<String>>>,
}

/// Whether `d`'s recorded identity is no longer the one its running QEMU
/// was provisioned with (its bundle was re-issued). Nothing recorded, or
/// nothing provisioned yet, is no change: the manager is about to do both.
fn reissued(d: &Device, s: &Supervised) -> bool {
    let provisioned = s.provisioned.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match (&d.spec.identity, provisioned.as_deref()) {
        (Some(recorded), Some(running)) => !recorded.accepts(running),
        _ => false,
    }
}

/// The host ports of a device's gateway endpoints (each `address:port`,
/// the address as the device sees the host), in its order of preference;
/// `fallback` when none parses.
fn gateway_ports(endpoints: &[String], fallback: u16) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    for port in endpoints.iter().filter_map(|e| e.rsplit_once(':')).filter_map(|(_, p)| p.parse().ok()) {
        // QEMU refuses the same forward twice.
        if !ports.contains(&port) {
            ports.push(port);
        }
    }
    if ports.is_empty() { vec![fallback] } else { ports }
}

/// A device's sensors as the manager drives them.
#[derive(Default)]
struct DeviceSensors {
    /// What the platform set each sensor to (reapplied at every start).
    values: Mutex<BTreeMap<String, f64>>,
    /// One QMP conversation at a time (QEMU serves one client per socket).
    qmp: tokio::sync::Mutex<()>,
}

/// Keeps one QEMU per emulated Device.
pub struct QemuManager {
    cfg: ManagerConfig,
    store: Arc<dyn Store>,
    pki: Arc<Pki>,
    devices: Mutex<HashMap<String, Supervised>>,
    /// Per device, kept while it exists (across restarts and disconnects).
    sensors: Mutex<HashMap<String, Arc<DeviceSensors>>>,
}

impl std::fmt::Debug for QemuManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QemuManager").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl QemuManager {
    /// A manager; nothing runs until [`run`](Self::run).
    pub fn new(cfg: ManagerConfig, store: Arc<dyn Store>, pki: Arc<Pki>) -> Arc<Self> {
        Arc::new(Self { cfg, store, pki, devices: Mutex::default(), sensors: Mutex::default() })
    }

    /// The folder of a device (bundle, seed, console).
    pub fn device_dir(&self, device: &str) -> PathBuf {
        self.cfg.dir.join(device)
    }

    /// Devices being supervised, by name.
    pub fn running(&self) -> Vec<Running> {
        let devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut v: Vec<Running> = devices
            .values()
            .map(|s| s.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
            .collect();
        v.sort_by(|a, b| a.device.cmp(&b.device));
        v
    }

    /// Follows the store until `stop` turns true, then stops every QEMU.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut events = self.store.watch();
        self.reconcile().await;
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                ev = events.recv() => match ev {
                    Ok(ev) if ev.kind == EventKind::Device && !ev.status_only => {
                        if self.concerns(&ev.name, ev.deleted).await {
                            self.reconcile().await;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.reconcile().await,
                    Err(RecvError::Closed) => break,
                },
            }
        }
        let all: Vec<Supervised> = {
            let mut devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            devices.drain().map(|(_, s)| s).collect()
        };
        for s in &all {
            let _ = s.stop.send(true);
        }
        for s in all {
            let _ = s.task.await;
        }
    }

    /// Whether a change of device `name` can change what runs: it is one
    /// this manager supervises, or one of an emulated board. (Reconciling
    /// reads the whole fleet; a fleet of simulated devices changing must
    /// not make every change cost the fleet's size.)
    async fn concerns(&self, name: &str, deleted: bool) -> bool {
        if self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(name) {
            return true;
        }
        if deleted {
            return false;
        }
        match self.store.get_device(name).await {
            Ok(Some(d)) => machine(&d.spec.board).is_some(),
            Ok(None) => false,
            Err(_) => true,
        }
    }

    /// Level-triggered: start what should run, stop what should not.
    async fn reconcile(self: &Arc<Self>) {
        let list = match self.store.list_devices().await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("qemu manager: cannot list devices: {e}");
                return;
            }
        };
        let emulated: Vec<Device> = list.into_iter().filter(|d| machine(&d.spec.board).is_some()).collect();
        let exists: std::collections::BTreeSet<String> = emulated.iter().map(|d| d.meta.name.clone()).collect();
        // A device an operator disconnected exists but does not run.
        let wanted: BTreeMap<String, Device> =
            emulated.into_iter().filter(|d| !d.spec.disconnected).map(|d| (d.meta.name.clone(), d)).collect();
        let mut devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let recable = |name: &String, s: &Supervised| {
            wanted.get(name).is_some_and(|d| {
                machine(&d.spec.board).is_some_and(|b| b.transport() == Some(Transport::Uart))
                    && d.spec.gateway != s.gateway
                    || d.spec.peripherals != s.peripherals
                    || reissued(d, s)
            })
        };
        let gone: Vec<String> = devices
            .iter()
            .filter(|(name, s)| !wanted.contains_key(*name) || s.task.is_finished() || recable(name, s))
            .map(|(name, _)| name.clone())
            .collect();
        // A device restarted in place (re-cabled, re-issued, or its
        // supervisor ended): the new supervisor waits for the old one, so
        // two never provision, record an identity or report a state for the
        // same device at once (the old one's "stopped" landing after the
        // new one's "running" would hide a device that runs).
        let mut predecessors: HashMap<String, JoinHandle<()>> = HashMap::new();
        for name in gone {
            let Some(s) = devices.remove(&name) else { continue };
            let _ = s.stop.send(true);
            if wanted.contains_key(&name) {
                predecessors.insert(name, s.task);
            } else if exists.contains(&name) {
                tracing::info!(device = %name, "device disconnected by an operator: stopping its QEMU");
            } else {
                tracing::info!(device = %name, "device deleted: stopping its QEMU");
                self.sensors.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&name);
                let dir = self.device_dir(&name);
                // Remove the folder (the bundle holds the key) once QEMU is gone.
                tokio::spawn(async move {
                    let _ = s.task.await;
                    let _ = std::fs::remove_dir_all(dir);
                });
            }
        }
        for (name, device) in wanted {
            if devices.contains_key(&name) {
                continue;
            }
            let (stop_tx, stop_rx) = watch::channel(false);
            let state = Arc::new(Mutex::new(Running { device: name.clone(), pid: None, starts: 0 }));
            let gateway = device.spec.gateway.clone();
            let peripherals = device.spec.peripherals.clone();
            let provisioned = Arc::new(Mutex::new(None));
            let previous = predecessors.remove(&name);
            let me = self.clone();
            let (st, pr) = (state.clone(), provisioned.clone());
            let task = tokio::spawn(async move {
                if let Some(previous) = previous {
                    let _ = previous.await;
                }
                me.supervise(device, stop_rx, st, pr).await;
            });
            devices.insert(name, Supervised { stop: stop_tx, task, state, gateway, peripherals, provisioned });
        }
    }

    async fn supervise(
        self: Arc<Self>,
        device: Device,
        mut stop: watch::Receiver<bool>,
        state: Arc<Mutex<Running>>,
        provisioned: Arc<Mutex<Option<String>>>,
    ) {
        let name = device.meta.name.clone();
        let board = device.spec.board.clone();
        let Some(m) = machine(&board) else { return };
        let Some(kernel) = self.cfg.firmware.get(&board).cloned() else {
            tracing::warn!(device = %name, %board, "no firmware image for this board in this installation; not starting it");
            self.failed(&name, &format!("no firmware image for board {board} in this installation")).await;
            return;
        };
        let dir = self.device_dir(&name);
        let console = dir.join("console.log");
        let mut delay = self.cfg.restart_base;
        let mut restarts = 0u32;
        loop {
            // Re-read at every start: the fleet's gateways may have changed.
            let device = match self.store.get_device(&name).await {
                Ok(Some(d)) => d,
                _ => device.clone(),
            };
            // An attached board is cabled to its gateway's board-link
            // listener, which may not be registered yet (the platform is
            // starting): wait for it as for a restart.
            let link_port = match m.attached() {
                None => None,
                Some(_) => match self.board_link_port(&device).await {
                    Some(port) => Some(port),
                    None => {
                        let why = "waiting for its gateway's board-link listener";
                        self.process(&name, ProcessState::Restarting, restarts, Some(why.into())).await;
                        tokio::select! {
                            _ = stop.changed() => {
                                self.process(&name, ProcessState::Stopped, restarts, Some("stopped by the platform".into())).await;
                                return;
                            }
                            _ = tokio::time::sleep(delay) => {}
                        }
                        delay = (delay * 2).min(self.cfg.restart_max);
                        continue;
                    }
                },
            };
            let endpoints = self.endpoints(&device).await;
            let provisioning = match link_port {
                Some(_) => self.ensure_provisioning(&dir, &device, &provisioned).await,
                None => self.ensure_bundle(&dir, &device, &endpoints, &provisioned).await,
            };
            let bundle = match provisioning {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(device = %name, "cannot provision: {e}");
                    self.failed(&name, &format!("cannot write identity bundle: {e}")).await;
                    return;
                }
            };
            rotate(&console);
            // Agent boards read a per-boot seed; attached boards have none.
            let seed_path = dir.join("seed.bin");
            let seed: [u8; 32] = rand::random();
            let seeded =
                if m.agent().is_some() { write_boot_seed(&seed_path, seed, unix_ms()).map(Some) } else { Ok(None) };
            let seed_path = match seeded {
                Ok(s) => s.map(|()| seed_path),
                Err(e) => {
                    tracing::error!(device = %name, "cannot write boot seed: {e}");
                    self.failed(&name, &format!("cannot write boot seed: {e}")).await;
                    return;
                }
            };
            let attached: Result<Vec<QemuPeripheral>, _> =
                device.spec.peripherals.iter().map(|p| QemuPeripheral::new(m, p)).collect();
            let qmp = self.qmp_socket(&name);
            let (attached, qmp) = match (attached, socket_path(&qmp)) {
                (Ok(a), Ok(q)) => (a, q.to_path_buf()),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::error!(device = %name, "cannot start: {e}");
                    self.failed(&name, &e.to_string()).await;
                    return;
                }
            };
            let _ = std::fs::remove_file(&qmp);
            let sensors = self.device_sensors(&name);
            let presets = sensors.presets(&device.spec.peripherals, &attached);
            let launch = Launch {
                board: m,
                kernel: kernel.clone(),
                bundle: Some(bundle.clone()),
                seed: seed_path,
                console: console.clone(),
                mac: m.agent().map(|_| mac_for(&name)),
                gateway_ports: match link_port {
                    Some(port) => vec![port],
                    None => gateway_ports(&endpoints, self.cfg.gateway_port),
                },
                peripherals: attached,
                qmp: Some(qmp.clone()),
                paused: !presets.is_empty(),
                app_uarts: self.app_uarts(&dir),
            };
            // QEMU's own messages go to a file, not a pipe: nobody reads a
            // pipe while QEMU runs, and a full one (a socket link retrying
            // every second, say) would stall the device.
            let qemu_log = dir.join("qemu.log");
            let stderr = match std::fs::File::create(&qemu_log) {
                Ok(f) => Stdio::from(f),
                Err(e) => {
                    tracing::error!(device = %name, "cannot write {}: {e}", qemu_log.display());
                    self.failed(&name, &format!("cannot write {}: {e}", qemu_log.display())).await;
                    return;
                }
            };
            let mut cmd = launch.command();
            cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(stderr);
            let mut qemu = match ProcessGroup::spawn(&mut cmd) {
                Ok(q) => q,
                Err(e) => {
                    tracing::error!(device = %name, "cannot start qemu-system-arm: {e}");
                    self.failed(&name, &format!("cannot start qemu-system-arm: {e}")).await;
                    return;
                }
            };
            let started = Instant::now();
            {
                let mut st = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                st.pid = Some(qemu.id());
                st.starts += 1;
            }
            tracing::info!(device = %name, %board, pid = qemu.id(), "QEMU device started");
            let exit = match preset(&sensors, &qmp, &presets).await {
                Err(e) => {
                    qemu.kill();
                    format!("cannot set its sensors before starting the CPU: {e}")
                }
                Ok(()) => {
                    self.process(&name, ProcessState::Running, restarts, None).await;
                    loop {
                        tokio::select! {
                            _ = stop.changed() => {
                                qemu.kill();
                                marker(&console, "stopped by the platform");
                                state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pid = None;
                                self.process(&name, ProcessState::Stopped, restarts, Some("stopped by the platform".into())).await;
                                return;
                            }
                            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                        }
                        match qemu.child_mut().try_wait() {
                            Ok(Some(status)) => break status.to_string(),
                            Ok(None) => {}
                            Err(e) => break e.to_string(),
                        }
                    }
                }
            };
            let last = last_line(&qemu_log);
            drop(qemu);
            state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pid = None;
            if started.elapsed() > Duration::from_secs(60) {
                delay = self.cfg.restart_base;
            }
            let why = match last.trim() {
                "" => exit,
                err => format!("{exit}: {err}"),
            };
            tracing::warn!(device = %name, "QEMU exited ({why}); restarting in {delay:?}");
            marker(&console, &format!("QEMU exited ({why}); restarting in {} ms", delay.as_millis()));
            self.process(&name, ProcessState::Restarting, restarts, Some(format!("exited ({why})"))).await;
            tokio::select! {
                _ = stop.changed() => {
                    self.process(&name, ProcessState::Stopped, restarts, Some("stopped by the platform".into())).await;
                    return;
                }
                _ = tokio::time::sleep(delay) => {}
            }
            restarts = restarts.saturating_add(1);
            delay = (delay * 2).min(self.cfg.restart_max);
        }
    }

    /// The far end of app serial port `port` of `device` (a Unix socket
    /// QEMU listens on while the device runs; see [`Launch::app_uarts`]).
    pub fn app_uart(&self, device: &str, port: u8) -> PathBuf {
        crate::app_uart_socket(&self.device_dir(device), port)
    }

    /// Where a device's app UART sockets go, if their paths fit a socket
    /// address (else its app ports are connected to nothing, said once).
    fn app_uarts(&self, dir: &Path) -> Option<PathBuf> {
        let longest = crate::app_uart_socket(dir, u8::MAX);
        match socket_path(&longest) {
            Ok(_) => {
                for port in 0..=u8::MAX {
                    let _ = std::fs::remove_file(crate::app_uart_socket(dir, port));
                }
                Some(dir.to_path_buf())
            }
            Err(e) => {
                tracing::warn!("app serial ports connected to nothing: {e}");
                None
            }
        }
    }

    /// The QMP socket of a device's QEMU.
    pub fn qmp_socket(&self, device: &str) -> PathBuf {
        self.device_dir(device).join("qmp.sock")
    }

    fn device_sensors(&self, device: &str) -> Arc<DeviceSensors> {
        let mut all = self.sensors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        all.entry(device.to_string()).or_default().clone()
    }

    /// The device named `device` as the store has it, or `NoSuchDevice`.
    async fn device(&self, device: &str) -> Result<Device, SensorError> {
        match self.store.get_device(device).await {
            Ok(Some(d)) => Ok(d),
            Ok(None) => Err(SensorError::NoSuchDevice { device: device.into() }),
            Err(e) => Err(SensorError::Emulator(format!("cannot read device {device}: {e}"))),
        }
    }

    /// A QMP session with `d`'s QEMU, if it runs now, and the device's
    /// sensor state (whose lock the caller holds while talking).
    fn reach(&self, d: &Device) -> Result<(&'static crate::Board, Arc<DeviceSensors>), SensorError> {
        let name = &d.meta.name;
        let Some(m) = machine(&d.spec.board) else {
            return Err(SensorError::NoEmulator { device: name.clone(), board: d.spec.board.clone() });
        };
        let up = {
            let devices = self.devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            devices
                .get(name)
                .is_some_and(|s| s.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pid.is_some())
        };
        if !up {
            let why = match &d.status.process {
                _ if d.spec.disconnected => "disconnected by an operator".to_string(),
                Some(p) => {
                    let state = match p.state {
                        ProcessState::Running => "its QEMU is starting",
                        ProcessState::Restarting => "its QEMU is restarting",
                        ProcessState::Stopped => "its QEMU is stopped",
                        ProcessState::Failed => "its QEMU cannot start",
                    };
                    match &p.message {
                        Some(m) => format!("{state} ({m})"),
                        None => state.to_string(),
                    }
                }
                None => "its QEMU has not started".to_string(),
            };
            return Err(SensorError::NotRunning { device: name.clone(), why });
        }
        Ok((m, self.device_sensors(name)))
    }

    /// The 32-bit word at physical address `addr` in a running device, as
    /// its bus answers (QEMU's `xp /1wx`): e.g. the MPS2 FPGAIO LED
    /// register at 0x4002_8000, to see the LEDs without asking the firmware.
    pub async fn read_word(&self, device: &str, addr: u32) -> Result<u32, SensorError> {
        let d = self.device(device).await?;
        let (_, sensors) = self.reach(&d)?;
        let _one = sensors.qmp.lock().await;
        let mut q = connect_when_ready(&self.qmp_socket(device)).await.map_err(emulator)?;
        q.read_word(u64::from(addr)).await.map_err(emulator)
    }

    /// Gateway addresses for the device's bundle, its own first.
    async fn endpoints(&self, device: &Device) -> Vec<String> {
        let gateways = self.store.list_gateways().await.unwrap_or_default();
        Provisioner::new(gateways, &[], unix_ms(), self.cfg.gateway_port).endpoints(device)
    }

    /// The host port of the board-link listener of `device`'s gateway (or,
    /// unassigned or its gateway taking no board links, of any gateway that
    /// takes them), if one is registered.
    async fn board_link_port(&self, device: &Device) -> Option<u16> {
        let gateways = self.store.list_gateways().await.unwrap_or_default();
        let port = |g: &wasmbed_model::Gateway| {
            g.spec.board_link_endpoint.as_deref()?.rsplit_once(':')?.1.parse::<u16>().ok().filter(|p| *p > 0)
        };
        let own = gateways.iter().find(|g| device.spec.gateway.as_deref() == Some(g.meta.name.as_str()));
        own.and_then(port).or_else(|| gateways.iter().find_map(port))
    }

    async fn process(&self, name: &str, state: ProcessState, restarts: u32, message: Option<String>) {
        let started_ms = (state == ProcessState::Running).then(unix_ms);
        let p = ProcessStatus { state, restarts, started_ms, message };
        if let Err(e) = self.store.patch_device_status(name, DeviceStatusPatch::Process(Some(p))).await {
            tracing::debug!(device = %name, "cannot write process status: {e}");
        }
    }

    async fn failed(&self, name: &str, why: &str) {
        self.process(name, ProcessState::Failed, 0, Some(why.to_string())).await;
    }

    /// Writes an attached board's provisioning record (its name and the link
    /// key recorded on the Device; a new key, recorded, when the PKI holds
    /// none or not that one), and notes in `provisioned` the key's
    /// fingerprint.
    async fn ensure_provisioning(
        &self,
        dir: &Path,
        device: &Device,
        provisioned: &Mutex<Option<String>>,
    ) -> Result<PathBuf, String> {
        use std::os::unix::fs::DirBuilderExt;
        let name = device.meta.name.as_str();
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
        let recorded = device.spec.identity.as_ref();
        let stored = self.pki.link_key(name).map_err(|e| e.to_string())?;
        let (key, new) = match stored {
            Some(k) if recorded.is_some_and(|r| r.accepts(&k.fingerprint().to_string())) => (k, false),
            _ => (self.pki.reissue_link_key(name).map_err(|e| e.to_string())?, true),
        };
        let record = self.pki.provisioning(name, &key).map_err(|e| e.to_string())?;
        let path = dir.join("provisioning.bin");
        write_private(&path, &record.encode()).map_err(|e| e.to_string())?;
        *provisioned.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(key.fingerprint().to_string());
        if new {
            let identity = key.record(SystemTime::now());
            record_identity(self.store.as_ref(), name, identity).await.map_err(|e| e.to_string())?;
            tracing::info!(device = %name, "new link key issued and recorded");
        }
        Ok(path)
    }

    /// Writes the device's bundle unless one for these gateways and its
    /// recorded identity exists (see the module docs), and notes in
    /// `provisioned` the certificate it holds.
    async fn ensure_bundle(
        &self,
        dir: &Path,
        device: &Device,
        gateways: &[String],
        provisioned: &Mutex<Option<String>>,
    ) -> Result<PathBuf, String> {
        use std::os::unix::fs::DirBuilderExt;
        let (name, board) = (device.meta.name.as_str(), device.spec.board.as_str());
        let recorded = device.spec.identity.as_ref();
        let is_recorded = |cert: &[u8]| recorded.is_some_and(|r| r.accepts(&Fingerprint::of(cert).to_string()));
        let provision = |cert: &[u8]| {
            *provisioned.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
                Some(Fingerprint::of(cert).to_string());
        };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| e.to_string())?;
        let path = dir.join("bundle.bin");
        let old = std::fs::read(&path).ok().and_then(|b| IdentityBundle::from_bytes(&b).ok());
        let seed = match &old {
            Some(b)
                if b.gateways().eq(gateways.iter().map(String::as_str))
                    && b.board == board
                    && b.device_id == name
                    && is_recorded(&b.cert_der) =>
            {
                provision(&b.cert_der);
                return Ok(path);
            }
            // Re-provisioned for new gateways or a new identity: the device keeps its seed.
            Some(b) => b.seed.as_slice().try_into().unwrap_or_else(|_| rand::random()),
            None => rand::random(),
        };
        let now = SystemTime::now();
        let stored = self.pki.device_identity(name, now).map_err(|e| e.to_string())?;
        // None recorded, or the PKI no longer holds the recorded one: a new
        // identity, recorded once the bundle holding it is written.
        let new = if is_recorded(&stored.cert_der) {
            None
        } else {
            let id = self.pki.reissue_device(name, now).map_err(|e| e.to_string())?;
            Some(id.record(now).map_err(|e| e.to_string())?)
        };
        let bundle = self.pki.bundle(name, board, gateways, seed, now).map_err(|e| e.to_string())?;
        write_private(&path, &bundle.to_bytes()).map_err(|e| e.to_string())?;
        provision(&bundle.cert_der);
        if let Some(identity) = new {
            record_identity(self.store.as_ref(), name, identity).await.map_err(|e| e.to_string())?;
            tracing::info!(device = %name, "new identity issued and recorded");
        }
        Ok(path)
    }
}

#[async_trait::async_trait]
impl Sensors for QemuManager {
    async fn set(&self, device: &str, sensor: &str, value: f64) -> Result<f64, SensorError> {
        let d = self.device(device).await?;
        let p = SensorError::find(&d, sensor)?;
        let value = SensorError::in_range(p, value)?;
        let (board, sensors) = self.reach(&d)?;
        let qp = QemuPeripheral::new(board, p).map_err(|e| SensorError::Emulator(e.to_string()))?;
        let _one = sensors.qmp.lock().await;
        let mut q = connect_when_ready(&self.qmp_socket(device)).await.map_err(emulator)?;
        q.qom_set(&qp.qom_path(), qp.property(), qp.to_qemu(value).into()).await.map_err(emulator)?;
        let now = q.qom_get(&qp.qom_path(), qp.property()).await.map_err(emulator)?;
        sensors.values.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(sensor.into(), value);
        tracing::info!(device, sensor, value, "sensor set");
        Ok(qp.from_qemu(now))
    }

    async fn get(&self, device: &str, sensor: &str) -> Result<f64, SensorError> {
        let d = self.device(device).await?;
        let p = SensorError::find(&d, sensor)?;
        let (board, sensors) = self.reach(&d)?;
        let qp = QemuPeripheral::new(board, p).map_err(|e| SensorError::Emulator(e.to_string()))?;
        let _one = sensors.qmp.lock().await;
        let mut q = connect_when_ready(&self.qmp_socket(device)).await.map_err(emulator)?;
        let now = q.qom_get(&qp.qom_path(), qp.property()).await.map_err(emulator)?;
        Ok(qp.from_qemu(now))
    }
}

impl DeviceSensors {
    /// What to set before the CPU starts: per attached peripheral, the
    /// value the platform set, else the spec's initial one. Values of
    /// sensors no longer declared are forgotten.
    fn presets(&self, declared: &[AttachedPeripheral], attached: &[QemuPeripheral]) -> Vec<(QemuPeripheral, f64)> {
        let mut values = self.values.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        values.retain(|name, _| declared.iter().any(|p| &p.name == name));
        declared
            .iter()
            .zip(attached)
            .filter_map(|(p, q)| {
                let v = values.get(&p.name).copied().or(p.initial.map(|Gauge(v)| v))?;
                Some((q.clone(), v))
            })
            .collect()
    }
}

/// Sets each sensor of a QEMU started paused, then starts its CPU.
async fn preset(sensors: &DeviceSensors, qmp: &Path, presets: &[(QemuPeripheral, f64)]) -> Result<(), QmpError> {
    if presets.is_empty() {
        return Ok(());
    }
    let _one = sensors.qmp.lock().await;
    let mut q = connect_when_ready(qmp).await?;
    for (p, v) in presets {
        q.qom_set(&p.qom_path(), p.property(), p.to_qemu(*v).into()).await?;
    }
    q.cont().await
}

/// A QMP session, waiting for a QEMU just started to open its socket.
async fn connect_when_ready(path: &Path) -> Result<Qmp, QmpError> {
    let start = Instant::now();
    loop {
        match Qmp::connect(path, QMP_TIMEOUT).await {
            Err(QmpError::Connect { .. }) if start.elapsed() < QMP_READY => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            r => return r,
        }
    }
}

fn emulator(e: QmpError) -> SensorError {
    SensorError::Emulator(e.to_string())
}

/// The last line QEMU wrote (why it exited), at most 500 characters.
fn last_line(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or_default().chars().take(500).collect()
}

fn rotate(console: &Path) {
    if std::fs::metadata(console).is_ok_and(|m| m.len() > CONSOLE_MAX) {
        let _ = std::fs::rename(console, console.with_extension("log.1"));
    }
}

/// A line from the platform in the device's console log.
fn marker(console: &Path, text: &str) {
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(console) {
        let _ = writeln!(f, "--- wasmbed: {text} ---");
    }
}
