//! The whole platform in one process: the embedded store, the PKI, one or
//! more gateways, the control plane's reconcilers, the HTTP API and the
//! QEMU manager, wired together over one [`Store`]. `wasmbed up` runs this;
//! benchmarks and end-to-end tests start the same thing on free ports.
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasmbed_platform::PlatformError> {
//! let dir = std::path::Path::new(".wasmbed");
//! let platform = wasmbed_platform::Platform::start(wasmbed_platform::PlatformConfig::new(dir).with_api()).await?;
//! println!("API on {}", platform.api_url().unwrap_or_default());
//! platform.shutdown().await;
//! # Ok(()) }
//! ```

mod app_keys;
pub mod fixtures;
mod upgrade;

pub use app_keys::{AppKeyInfo, AppKeys};
pub use wasmbed_builder::{AotBuilder, NativeTools};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;
use wasmbed_control::ControlConfig;
use wasmbed_control::provisioning::Provisioner;
use wasmbed_gateway::{Gateway, GatewayConfig};
use wasmbed_model::clock::{self, unix_ms};
use wasmbed_model::{
    AttachedPeripheral, Device, DeviceSpec, Labels, LogBook, Meta, SIM_BOARD, SensorError, Sensors, Store, StoreError,
    TelemetryBook, defaults,
};
use wasmbed_pki::{AppSigning, Pki, PkiError};
use wasmbed_protocol::IdentityBundle;
use wasmbed_qemu::manager::{ManagerConfig, QemuManager};

/// Why the platform could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlatformError {
    /// The data directory or a listener could not be set up.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store at {path}: {source}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The CA or the gateways' identity could not be set up.
    #[error("PKI: {0}")]
    Pki(#[from] PkiError),
    /// The API's token store could not be opened.
    #[error("tokens: {0}")]
    Auth(#[from] wasmbed_api::auth::AuthError),
    /// The audit log could not be opened.
    #[error("{0}")]
    Audit(#[from] wasmbed_api::audit::AuditError),
    /// A setting is out of range.
    #[error("{0}")]
    Config(String),
}

/// What to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PlatformConfig {
    /// Store, PKI and device folders live here.
    pub data_dir: PathBuf,
    /// One gateway per address (port 0: a free port).
    pub gateways: Vec<SocketAddr>,
    /// Serve the HTTP API here (`None`: no API).
    pub api: Option<SocketAddr>,
    /// Heartbeat interval devices are told to keep.
    pub heartbeat_ms: u32,
    /// Sessions per gateway.
    pub max_sessions: usize,
    /// How often gateways report themselves.
    pub report_ms: u32,
    /// Firmware images per board: `Some` runs the QEMU manager.
    pub firmware: Option<BTreeMap<String, PathBuf>>,
    /// Reconciler settings.
    pub control: ControlConfig,
    /// The built dashboard to serve at `/` (`dashboard/dist`).
    pub dashboard: Option<PathBuf>,
    /// The compilers native revisions are built with (unless `control`
    /// brings its own builder).
    pub native_tools: NativeTools,
}

impl PlatformConfig {
    /// One gateway on a free loopback port, no API, no QEMU manager.
    pub fn new(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            gateways: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            api: None,
            heartbeat_ms: defaults::HEARTBEAT_MS,
            max_sessions: defaults::MAX_SESSIONS,
            report_ms: defaults::GATEWAY_REPORT_MS,
            firmware: None,
            control: ControlConfig::default(),
            dashboard: None,
            native_tools: NativeTools::default(),
        }
    }

    /// With the API on a free loopback port.
    pub fn with_api(mut self) -> Self {
        self.api = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        self
    }

    /// With `n` gateways on free loopback ports.
    pub fn with_gateways(mut self, n: usize) -> Self {
        self.gateways = vec![SocketAddr::from(([127, 0, 0, 1], 0)); n];
        self
    }

    /// With a heartbeat interval.
    pub fn with_heartbeat_ms(mut self, ms: u32) -> Self {
        self.heartbeat_ms = ms;
        self
    }

    /// With the QEMU manager and these firmware images.
    pub fn with_firmware(mut self, firmware: BTreeMap<String, PathBuf>) -> Self {
        self.firmware = Some(firmware);
        self
    }

    /// With faster reconcilers and gateway reports (tests).
    pub fn quick(mut self) -> Self {
        self.control = self.control.with_tick_ms(50);
        self.report_ms = 200;
        self
    }
}

/// A running platform.
pub struct Platform {
    /// Every resource.
    pub store: Arc<dyn Store>,
    /// The CA and identities.
    pub pki: Arc<Pki>,
    /// Recent app log lines.
    pub logs: Arc<LogBook>,
    /// What the devices' apps published (every gateway records here).
    pub telemetry: Arc<TelemetryBook>,
    /// The gateways, in the order of their addresses.
    pub gateways: Vec<Arc<Gateway>>,
    /// Where each gateway listens.
    pub gateway_addrs: Vec<SocketAddr>,
    /// Where the API listens.
    pub api_addr: Option<SocketAddr>,
    /// The QEMU manager, when one runs.
    pub manager: Option<Arc<QemuManager>>,
    /// Simulated devices run in this process register their peripherals
    /// here ([`wasmbed_sim::SimOptions::with_peripherals`]), so the API can
    /// set their sensors.
    pub simulated: wasmbed_sim::SimRegistry,
    /// Per-device folders (console, bundle).
    pub devices_dir: PathBuf,
    /// API tokens.
    pub tokens: Arc<wasmbed_api::Tokens>,
    /// The first admin token's secret, when this start created it (print
    /// it once; only its hash is kept).
    pub admin_token: Option<String>,
    /// The app-signing keys (rotation).
    pub app_keys: Arc<AppKeys>,
    stop: watch::Sender<bool>,
    gateway_tasks: Vec<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Platform")
            .field("gateways", &self.gateway_addrs)
            .field("api", &self.api_addr)
            .finish_non_exhaustive()
    }
}

impl Platform {
    /// Opens the store and PKI in the data directory and starts everything.
    pub async fn start(cfg: PlatformConfig) -> Result<Self, PlatformError> {
        if cfg.gateways.is_empty() {
            return Err(PlatformError::Config("at least one gateway is needed".into()));
        }
        let io = |what: String| move |source| PlatformError::Io { what, source };
        let dir = &cfg.data_dir;
        std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
        let pki = Arc::new(Pki::open_or_create(&dir.join("pki"), SystemTime::now())?);
        // The app-signing key lives apart from the CA; only the control
        // plane signs with it, and every bundle pins its public half.
        let signing = AppSigning::open_or_create(&dir.join("app-signing"), |b| rand::fill(b))?;
        let app_keys = Arc::new(AppKeys::new(signing, pki.clone()));
        let (signer, trust_chain) = (app_keys.signer(), app_keys.chain());
        let store_path = dir.join("wasmbed.redb");
        let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&store_path)
            .map_err(|source| PlatformError::Store { path: store_path.clone(), source })?;
        // Before any gateway accepts a connection: devices from before
        // identities were recorded get the certificate their bundle holds.
        upgrade::record_stored_identities(store.as_ref(), &pki).await;
        let logs = Arc::new(LogBook::new(1000));
        let telemetry = Arc::new(TelemetryBook::default());

        let sans = ["localhost".to_string(), "127.0.0.1".to_string(), wasmbed_model::host_from_guest()];
        let server_id = pki.gateway_identity(&sans, SystemTime::now())?;
        let tls = wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server_id)?;
        let mut listeners = Vec::new();
        for addr in &cfg.gateways {
            listeners.push(TcpListener::bind(addr).await.map_err(io(format!("cannot listen on {addr}")))?);
        }
        let gateway_addrs: Vec<SocketAddr> = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<Result<_, _>>()
            .map_err(io("listener address".into()))?;
        // Each gateway's board-link listener: on the loopback only, where
        // the QEMU manager connects attached boards' link UARTs.
        let mut board_listeners = Vec::new();
        for _ in &cfg.gateways {
            let listener =
                TcpListener::bind("127.0.0.1:0").await.map_err(io("cannot listen for board links".into()))?;
            let addr = listener.local_addr().map_err(io("listener address".into()))?;
            board_listeners.push((listener, addr));
        }
        let gateways: Vec<Arc<Gateway>> = gateway_addrs
            .iter()
            .zip(&board_listeners)
            .enumerate()
            .map(|(i, (addr, (_, board_addr)))| {
                let gw_cfg = GatewayConfig::default()
                    .with_name(&format!("gateway-{i}"))
                    .with_heartbeat_ms(cfg.heartbeat_ms)
                    .with_max_sessions(cfg.max_sessions)
                    .with_report_ms(cfg.report_ms)
                    .with_trust_chain(trust_chain.clone())
                    .with_app_key(app_keys.pinned())
                    // QEMU user networking shows the host's loopback as 10.0.2.2.
                    .with_endpoints(&addr.to_string(), Some(&wasmbed_model::guest_loopback(addr.port())))
                    .with_board_link_endpoint(&board_addr.to_string());
                Gateway::new(gw_cfg, tls.clone(), store.clone(), logs.clone(), telemetry.clone(), clock::system())
            })
            .collect();

        let (stop, stop_rx) = watch::channel(false);
        let gateway_tasks = gateways
            .iter()
            .zip(listeners)
            .map(|(gw, listener)| {
                let (gw, rx) = (gw.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    if let Err(e) = gw.run(listener, rx).await {
                        tracing::error!("gateway stopped: {e}");
                    }
                })
            })
            .collect();
        let mut control = cfg.control.clone().with_signer(signer.clone());
        if control.module_check.is_none() {
            control = control.with_module_check(Arc::new(wasmbed_api::StoredModuleCheck::new(store.clone())));
        }
        if control.native.is_none() {
            let cache = dir.join("native-cache");
            control = control.with_native_builder(Arc::new(AotBuilder::new(store.clone(), cache, &cfg.native_tools)));
        }
        let mut tasks =
            vec![tokio::spawn(wasmbed_control::run(store.clone(), clock::system(), control, stop_rx.clone()))];
        for (gw, (listener, _)) in gateways.iter().zip(board_listeners) {
            let (gw, pki, rx) = (gw.clone(), pki.clone(), stop_rx.clone());
            tasks.push(tokio::spawn(async move {
                if let Err(e) = gw.serve_boards(listener, pki, rx).await {
                    tracing::error!("board-link listener stopped: {e}");
                }
            }));
        }

        let devices_dir = dir.join("devices");
        let gateway_port = gateway_addrs[0].port();
        let manager = cfg.firmware.clone().map(|firmware| {
            let m = QemuManager::new(
                ManagerConfig::new(devices_dir.clone(), firmware, gateway_port),
                store.clone(),
                pki.clone(),
            );
            tasks.push(tokio::spawn(m.clone().run(stop_rx.clone())));
            m
        });

        let simulated = wasmbed_sim::SimRegistry::default();
        let tokens = Arc::new(wasmbed_api::Tokens::open(&dir.join("auth").join("tokens.json"))?);
        let admin_token = tokens.ensure_admin(rand::random(), unix_ms())?;
        let mut api_addr = None;
        if let Some(addr) = cfg.api {
            let listener = TcpListener::bind(addr).await.map_err(io(format!("cannot listen on {addr}")))?;
            api_addr = Some(listener.local_addr().map_err(io("listener address".into()))?);
            let parts = ApiParts {
                store: &store,
                pki: &pki,
                logs: &logs,
                telemetry: &telemetry,
                gateways: &gateways,
                tokens: &tokens,
                audit: Arc::new(wasmbed_api::AuditLog::open(&dir.join("audit.log"))?),
                gateway_port,
                consoles: devices_dir.clone(),
                dashboard: cfg.dashboard.clone(),
                app_keys: &app_keys,
                sensors: Some(Arc::new(PlatformSensors {
                    store: store.clone(),
                    qemu: manager.clone(),
                    simulated: simulated.clone(),
                })),
            };
            let state = api_state(parts);
            let rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                if let Err(e) = wasmbed_api::serve(listener, state, rx).await {
                    tracing::error!("API stopped: {e}");
                }
            }));
        }
        info!(gateways = ?gateway_addrs, api = ?api_addr, "platform started");
        Ok(Self {
            store,
            pki,
            logs,
            telemetry,
            gateways,
            gateway_addrs,
            api_addr,
            manager,
            simulated,
            devices_dir,
            tokens,
            admin_token,
            app_keys,
            stop,
            gateway_tasks,
            tasks,
        })
    }

    /// `http://addr` of the API, if it runs.
    pub fn api_url(&self) -> Option<String> {
        self.api_addr.map(|a| format!("http://{a}"))
    }

    /// The first gateway's port.
    pub fn gateway_port(&self) -> u16 {
        self.gateway_addrs[0].port()
    }

    /// Creates simulated devices `<prefix>-0..n` (each assigned a gateway)
    /// and returns their identity bundles, listing every gateway.
    pub async fn create_sim_devices(
        &self,
        prefix: &str,
        n: usize,
        labels: &Labels,
    ) -> Result<Vec<IdentityBundle>, PlatformError> {
        let store_err = |source| PlatformError::Store { path: self.devices_dir.clone(), source };
        let gateways = self.store.list_gateways().await.map_err(store_err)?;
        let devices = self.store.list_devices().await.map_err(store_err)?;
        let mut provisioner = Provisioner::new(gateways, &devices, unix_ms(), self.gateway_port());
        let mut bundles = Vec::with_capacity(n);
        for i in 0..n {
            let name = format!("{prefix}-{i}");
            let mut d = Device {
                meta: Meta::named(&name),
                spec: DeviceSpec { board: SIM_BOARD.into(), labels: labels.clone(), ..Default::default() },
                status: Default::default(),
            };
            provisioner.assign(&mut d);
            // A new key, recorded as the device is created (the only
            // certificate its gateway will accept).
            let now = SystemTime::now();
            d.spec.identity = Some(self.pki.reissue_device(&name, now)?.record(now)?);
            let d = self.store.create_device(d).await.map_err(store_err)?;
            let endpoints = provisioner.endpoints(&d);
            bundles.push(self.pki.bundle(&name, SIM_BOARD, &endpoints, rand::random(), now)?);
        }
        Ok(bundles)
    }

    /// Enrolled sessions over every gateway.
    pub fn sessions(&self) -> usize {
        self.gateways.iter().map(|g| g.session_count()).sum()
    }

    /// Kills gateway `i` as a crash would (see [`Gateway::kill`]).
    pub fn kill_gateway(&self, i: usize) {
        if let Some(g) = self.gateways.get(i) {
            g.kill();
        }
    }

    /// Stops everything: QEMU devices, sessions (closed cleanly), the API.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
        for t in self.gateway_tasks {
            let _ = tokio::time::timeout(Duration::from_secs(6), t).await;
        }
    }
}

struct ApiParts<'a> {
    store: &'a Arc<dyn Store>,
    pki: &'a Arc<Pki>,
    logs: &'a Arc<LogBook>,
    telemetry: &'a Arc<TelemetryBook>,
    gateways: &'a [Arc<Gateway>],
    tokens: &'a Arc<wasmbed_api::Tokens>,
    audit: Arc<wasmbed_api::AuditLog>,
    gateway_port: u16,
    consoles: PathBuf,
    dashboard: Option<PathBuf>,
    app_keys: &'a Arc<AppKeys>,
    sensors: Option<Arc<dyn wasmbed_model::Sensors>>,
}

fn api_state(p: ApiParts<'_>) -> wasmbed_api::ApiState {
    let gws = p.gateways.to_vec();
    let terminal: Arc<dyn wasmbed_api::Terminal> =
        Arc::new(GatewayTerminal { store: p.store.clone(), gateways: p.gateways.to_vec() });
    wasmbed_api::ApiState {
        store: p.store.clone(),
        pki: p.pki.clone(),
        logs: p.logs.clone(),
        telemetry: p.telemetry.clone(),
        tokens: p.tokens.clone(),
        audit: p.audit,
        events: wasmbed_api::EventHub::start(p.store.clone(), p.logs.clone(), p.telemetry.clone(), clock::system()),
        terminal: Some(terminal),
        sensors: p.sensors,
        signing: Some(p.app_keys.clone()),
        gateway_port: p.gateway_port,
        gateway: Arc::new(move || {
            use std::sync::atomic::Ordering::Relaxed;
            let mut c = wasmbed_api::GatewayCounters::default();
            for gw in &gws {
                let st = gw.stats();
                c.sessions += gw.session_count();
                c.heartbeats += st.heartbeats.load(Relaxed);
                c.handshake_failures += st.handshake_failures.load(Relaxed);
                c.protocol_errors += st.protocol_errors.load(Relaxed);
                c.deploys += st.deploys.load(Relaxed);
                c.handshake_timeouts += st.handshake_timeouts.load(Relaxed);
                c.refused_handshakes += st.refused_handshakes.load(Relaxed);
                c.handshakes_evicted += st.handshakes_evicted.load(Relaxed);
                c.refused_over_cap += st.refused_over_cap.load(Relaxed);
                c.refused_identities += st.refused_identities.load(Relaxed);
                c.write_timeouts += st.write_timeouts.load(Relaxed);
                c.app_entries_dropped += st.app_entries_dropped.load(Relaxed);
                c.refused_boards += st.refused_boards.load(Relaxed);
            }
            c
        }),
        random: Arc::new(rand::random),
        now: Arc::new(SystemTime::now),
        consoles: Some(p.consoles),
        dashboard: p.dashboard,
        counters: Arc::default(),
    }
}

/// Terminal commands and app messages through whichever of this
/// platform's gateways holds the device's session (the one its status
/// names first).
struct GatewayTerminal {
    store: Arc<dyn Store>,
    gateways: Vec<Arc<Gateway>>,
}

impl GatewayTerminal {
    /// The gateways, the one the device's status names first.
    async fn in_order(&self, device: &str) -> Vec<&Arc<Gateway>> {
        let holder = self.store.get_device(device).await.ok().flatten().and_then(|d| d.status.session.gateway);
        let mut order: Vec<&Arc<Gateway>> = self.gateways.iter().collect();
        order.sort_by_key(|g| Some(g.config().name.as_str()) != holder.as_deref());
        order
    }
}

#[async_trait::async_trait]
impl wasmbed_api::Terminal for GatewayTerminal {
    async fn run(
        &self,
        device: &str,
        name: &str,
        args: &[String],
    ) -> Result<wasmbed_api::TerminalAnswer, wasmbed_api::TerminalError> {
        use wasmbed_api::TerminalError as E;
        use wasmbed_gateway::{CommandError, CommandLine};
        let line = CommandLine::new(name, args.iter().cloned()).map_err(|e| E::NoAnswer(e.to_string()))?;
        for gw in self.in_order(device).await {
            match gw.run_command(device, line.clone()).await {
                Ok(reply) => {
                    return Ok(wasmbed_api::TerminalAnswer {
                        outcome: reply.outcome,
                        output: reply.output,
                        refused_by: None,
                    });
                }
                Err(CommandError::NotConnected(_)) => continue,
                Err(CommandError::Busy(_)) => return Err(E::Busy),
                Err(e) => return Err(E::NoAnswer(e.to_string())),
            }
        }
        Err(E::NotConnected)
    }

    async fn send_message(
        &self,
        device: &str,
        app: &str,
        payload: &[u8],
    ) -> Result<wasmbed_api::Delivery, wasmbed_api::TerminalError> {
        use wasmbed_api::TerminalError as E;
        use wasmbed_gateway::CommandError;
        for gw in self.in_order(device).await {
            match gw.send_message(device, app, payload.to_vec()).await {
                Ok(reply) => return Ok(reply.delivery),
                Err(CommandError::NotConnected(_)) => continue,
                Err(CommandError::Busy(_)) => return Err(E::Busy),
                Err(CommandError::MessageTooLarge(_)) => return Ok(wasmbed_api::Delivery::TooLarge),
                Err(e) => return Err(E::NoAnswer(e.to_string())),
            }
        }
        Err(E::NotConnected)
    }

    async fn send_edge_message(
        &self,
        gateway: &str,
        slot: &str,
        payload: &[u8],
    ) -> Result<wasmbed_api::Delivery, wasmbed_api::TerminalError> {
        use wasmbed_api::TerminalError as E;
        use wasmbed_gateway::CommandError;
        let gw = self.gateways.iter().find(|g| g.config().name == gateway).ok_or(E::NotConnected)?;
        match gw.send_edge_message(slot, payload.to_vec()).await {
            Ok(d) => Ok(d),
            Err(CommandError::Busy(_)) => Err(E::Busy),
            Err(CommandError::MessageTooLarge(_)) => Ok(wasmbed_api::Delivery::TooLarge),
            Err(e) => Err(E::NoAnswer(e.to_string())),
        }
    }
}

/// Sensors as this platform reaches them: a simulated device running in
/// this process through its handle, a QEMU device through the QEMU
/// manager. A simulated device run elsewhere (`wasmbed sim`) is out of
/// reach: [`SensorError::NoEmulator`].
struct PlatformSensors {
    store: Arc<dyn Store>,
    qemu: Option<Arc<QemuManager>>,
    simulated: wasmbed_sim::SimRegistry,
}

impl PlatformSensors {
    /// The declared sensor `sensor` of `device`, on its simulated
    /// peripherals; one the simulator does not model by default (it
    /// attaches `temp0` at `i2c:0:0x48`) is attached now, at its initial
    /// value (0 °C without one, as QEMU's).
    async fn simulated(
        &self,
        h: &wasmbed_sim::SimHandle,
        device: &str,
        sensor: &str,
    ) -> Result<AttachedPeripheral, SensorError> {
        let d = match self.store.get_device(device).await {
            Ok(Some(d)) => d,
            Ok(None) => return Err(SensorError::NoSuchDevice { device: device.into() }),
            Err(e) => return Err(SensorError::Emulator(format!("cannot read device {device}: {e}"))),
        };
        let p = SensorError::find(&d, sensor)?.clone();
        if !h.sensors().contains(&p.name) {
            let Ok(wasmbed_protocol::Resource::I2c { bus, addr }) = p.resource() else {
                return Err(SensorError::Emulator(format!("the simulator cannot attach {} at {}", p.kind, p.at)));
            };
            let initial = p.initial.map_or(0.0, |g| g.0);
            h.attach_tmp105(&p.name, bus, addr, initial).map_err(|e| SensorError::Emulator(e.to_string()))?;
        }
        Ok(p)
    }

    /// Nothing here runs `device`: say so, after the checks any platform makes.
    async fn unreachable(&self, device: &str, sensor: &str) -> SensorError {
        match self.store.get_device(device).await {
            Ok(Some(d)) => match SensorError::find(&d, sensor) {
                Ok(_) => SensorError::NoEmulator { device: device.into(), board: d.spec.board },
                Err(e) => e,
            },
            Ok(None) => SensorError::NoSuchDevice { device: device.into() },
            Err(e) => SensorError::Emulator(format!("cannot read device {device}: {e}")),
        }
    }
}

#[async_trait::async_trait]
impl Sensors for PlatformSensors {
    async fn set(&self, device: &str, sensor: &str, value: f64) -> Result<f64, SensorError> {
        if let Some(h) = self.simulated.get(device) {
            let p = self.simulated(&h, device, sensor).await?;
            let value = SensorError::in_range(&p, value)?;
            h.set_sensor(&p.name, value).map_err(|e| SensorError::Emulator(e.to_string()))?;
            return Ok(h.sensor(&p.name).unwrap_or(value));
        }
        match &self.qemu {
            Some(q) => q.set(device, sensor, value).await,
            None => Err(self.unreachable(device, sensor).await),
        }
    }

    async fn get(&self, device: &str, sensor: &str) -> Result<f64, SensorError> {
        if let Some(h) = self.simulated.get(device) {
            let p = self.simulated(&h, device, sensor).await?;
            return h.sensor(&p.name).ok_or_else(|| SensorError::Emulator(format!("{} is not attached", p.name)));
        }
        match &self.qemu {
            Some(q) => q.get(device, sensor).await,
            None => Err(self.unreachable(device, sensor).await),
        }
    }
}
