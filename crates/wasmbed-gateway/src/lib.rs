//! The gateway: the fleet's kubelet.
//!
//! Devices connect over TLS 1.3 with a client certificate signed by the
//! platform CA. For each device the gateway holds one session (a newer
//! connection with the same identity replaces the older one), answers
//! enrollment, tracks heartbeats, diffs the apps the device should run
//! against what it reports and sends what is missing, and writes what it
//! observes to the device's status. It makes no rollout decisions: what a
//! device should run comes from [`wasmbed_control::desired_apps`].
//!
//! Layers, outermost first: [`Gateway::run`] (accept loop, session cap,
//! shutdown) → `session` (one device: framing, enrollment, liveness) →
//! `sync` (the pure diff of desired against reported apps). Beside them,
//! `terminal` relays commands to a device's session and matches answers
//! ([`Gateway::run_command`]).
//!
//! ```no_run
//! # async fn demo(gw: std::sync::Arc<wasmbed_gateway::Gateway>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (_stop, stop_rx) = tokio::sync::watch::channel(false);
//! gw.run(listener, stop_rx).await
//! # }
//! ```

mod session;
mod sync;
mod terminal;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, info, warn};
use wasmbed_model::{Application, DevicePhase, EventKind, LogBook, Store};

pub use sync::{Action, plan};
pub use terminal::{CommandError, CommandLine, CommandOutcome, CommandReply, MAX_COMMANDS_IN_FLIGHT};

/// Wall-clock time source, Unix milliseconds (passed in so tests control it).
pub type WallClock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Gateway settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct GatewayConfig {
    /// Name written into device status.
    pub name: String,
    /// Heartbeat interval devices are told to keep.
    pub heartbeat_ms: u32,
    /// Heartbeats a device may miss before it is Unreachable.
    pub missed_heartbeats: u32,
    /// Concurrent sessions (including handshakes in progress).
    pub max_sessions: usize,
    /// Largest frame accepted from a device.
    pub max_frame_len: usize,
    /// Time allowed for the TLS handshake and the Enroll message.
    pub handshake_timeout: Duration,
    /// How long [`Gateway::run_command`] waits for a device's answer.
    pub command_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            name: "gateway-0".into(),
            heartbeat_ms: 5_000,
            missed_heartbeats: 3,
            max_sessions: 20_000,
            max_frame_len: wasmbed_protocol::MAX_FRAME_LEN,
            handshake_timeout: Duration::from_secs(10),
            // Generous: a device may be busy installing a module first.
            command_timeout: Duration::from_secs(5),
        }
    }
}

impl GatewayConfig {
    /// With a different heartbeat interval.
    pub fn with_heartbeat_ms(mut self, ms: u32) -> Self {
        self.heartbeat_ms = ms;
        self
    }

    /// With a different session cap.
    pub fn with_max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }

    /// With a different terminal command timeout.
    pub fn with_command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = timeout;
        self
    }

    /// With a different name.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.into();
        self
    }

    fn liveness_window(&self) -> Duration {
        Duration::from_millis(u64::from(self.heartbeat_ms) * u64::from(self.missed_heartbeats.max(1)))
    }
}

/// Counters, for status endpoints and tests.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// TLS handshakes that failed (bad, expired or missing client certificate).
    pub handshake_failures: AtomicU64,
    /// Sessions ended by a protocol error.
    pub protocol_errors: AtomicU64,
    /// Sessions that completed enrollment.
    pub enrollments: AtomicU64,
    /// Heartbeats received.
    pub heartbeats: AtomicU64,
    /// Connections refused because the session cap was reached.
    pub refused_over_cap: AtomicU64,
}

struct SessionEntry {
    id: u64,
    /// Wakes the session to re-sync (its device or the applications changed).
    resync: Arc<Notify>,
    /// Tells the session to end because a newer one replaced it.
    replaced: watch::Sender<bool>,
    /// Terminal commands for the session.
    commands: Arc<terminal::Inbox>,
}

/// A running gateway. Create with [`Gateway::new`], serve with [`Gateway::run`].
pub struct Gateway {
    cfg: GatewayConfig,
    store: Arc<dyn Store>,
    logs: Arc<LogBook>,
    acceptor: TlsAcceptor,
    clock: WallClock,
    sessions: Mutex<HashMap<String, SessionEntry>>,
    apps: RwLock<Arc<Vec<Application>>>,
    modules: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    permits: Arc<Semaphore>,
    next_session: AtomicU64,
    stats: GatewayStats,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over `store`, accepting TLS with `tls` (see
    /// `wasmbed_pki::tls::server_config`: TLS 1.3, client certificates required).
    pub fn new(
        cfg: GatewayConfig,
        tls: Arc<rustls::ServerConfig>,
        store: Arc<dyn Store>,
        logs: Arc<LogBook>,
        clock: WallClock,
    ) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(cfg.max_sessions)),
            cfg,
            store,
            logs,
            acceptor: TlsAcceptor::from(tls),
            clock,
            sessions: Mutex::default(),
            apps: RwLock::default(),
            modules: Mutex::default(),
            next_session: AtomicU64::new(1),
            stats: GatewayStats::default(),
        })
    }

    /// Settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// Devices holding an enrolled session now.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Accepts devices until `shutdown` turns true, then ends every session
    /// (devices see a TLS close) and returns once they are gone (at most 5 s).
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        self.refresh_apps().await;
        let watcher = tokio::spawn(self.clone().watch_store());
        let sweeper = tokio::spawn(self.clone().sweep_liveness());
        info!(addr = %listener.local_addr()?, gateway = %self.cfg.name, "gateway listening");
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            // Out of descriptors and the like: back off, keep serving.
                            warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                        self.stats.refused_over_cap.fetch_add(1, Ordering::Relaxed);
                        warn!(%peer, max = self.cfg.max_sessions, "session cap reached; connection refused");
                        continue;
                    };
                    let _ = tcp.set_nodelay(true);
                    let gw = self.clone();
                    let stop = shutdown.clone();
                    tokio::spawn(async move {
                        session::serve(gw, tcp, peer, stop).await;
                        drop(permit);
                    });
                }
                _ = shutdown.changed() => break,
            }
        }
        info!("gateway shutting down");
        drop(listener);
        let all = self.cfg.max_sessions as u32;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.permits.acquire_many(all)).await;
        watcher.abort();
        sweeper.abort();
        Ok(())
    }

    async fn refresh_apps(&self) {
        match self.store.list_applications().await {
            Ok(apps) => {
                if let Ok(mut slot) = self.apps.write() {
                    *slot = Arc::new(apps);
                }
            }
            Err(e) => warn!("cannot list applications: {e}"),
        }
    }

    fn applications(&self) -> Arc<Vec<Application>> {
        self.apps.read().map(|a| a.clone()).unwrap_or_default()
    }

    fn resync_all(&self) {
        if let Ok(s) = self.sessions.lock() {
            for e in s.values() {
                e.resync.notify_one();
            }
        }
    }

    /// Turns store changes into session wake-ups (one watcher for all
    /// sessions, so a status write does not wake thousands of tasks).
    async fn watch_store(self: Arc<Self>) {
        let mut events = self.store.watch();
        loop {
            match events.recv().await {
                Ok(ev) if ev.status_only => {}
                Ok(ev) if ev.kind == EventKind::Application => {
                    self.refresh_apps().await;
                    self.resync_all();
                }
                Ok(ev) => {
                    if let Ok(s) = self.sessions.lock()
                        && let Some(e) = s.get(&ev.name)
                    {
                        e.resync.notify_one();
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    debug!("store watch lagged by {n}; re-syncing everything");
                    self.refresh_apps().await;
                    self.resync_all();
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Marks devices this gateway last saw Online as Unreachable when their
    /// heartbeats stopped and no session holds them (covers a restart of the
    /// gateway, where no session task is left to notice).
    async fn sweep_liveness(self: Arc<Self>) {
        let window = self.cfg.liveness_window();
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(self.cfg.heartbeat_ms.max(100))));
        loop {
            tick.tick().await;
            let Ok(devices) = self.store.list_devices().await else { continue };
            let now = (self.clock)();
            for d in devices {
                let st = &d.status;
                let stale = st.last_heartbeat_ms.is_none_or(|t| now.saturating_sub(t) > window.as_millis() as u64);
                let mine = st.gateway.as_deref() == Some(self.cfg.name.as_str());
                // The session map is only consulted for the few stale candidates.
                let live = || self.sessions.lock().map(|s| s.contains_key(&d.meta.name)).unwrap_or(true);
                if st.phase == DevicePhase::Online && mine && stale && !live() {
                    let mut st = st.clone();
                    st.phase = DevicePhase::Unreachable;
                    info!(device = %d.meta.name, "no heartbeat for {window:?}: Unreachable");
                    let _ = self.store.update_device_status(&d.meta.name, &st).await;
                }
            }
        }
    }

    /// Module bytes by digest, cached (deploying to a fleet reads one module
    /// once, not once per device).
    async fn module(&self, digest: &str) -> Option<Arc<Vec<u8>>> {
        if let Some(m) = self.modules.lock().ok().and_then(|c| c.get(digest).cloned()) {
            return Some(m);
        }
        let bytes = Arc::new(self.store.get_module(digest).await.ok()??);
        if let Ok(mut cache) = self.modules.lock() {
            if cache.len() >= 64 {
                cache.clear();
            }
            cache.insert(digest.to_string(), bytes.clone());
        }
        Some(bytes)
    }

    /// Registers a session for `device`, ending any older one.
    fn register(&self, device: &str, commands: Arc<terminal::Inbox>) -> (u64, Arc<Notify>, watch::Receiver<bool>) {
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        let resync = Arc::new(Notify::new());
        let (tx, rx) = watch::channel(false);
        let entry = SessionEntry { id, resync: resync.clone(), replaced: tx, commands };
        if let Ok(mut s) = self.sessions.lock()
            && let Some(old) = s.insert(device.to_string(), entry)
        {
            info!(device, "new session replaces the previous one");
            let _ = old.replaced.send(true);
        }
        (id, resync, rx)
    }

    /// Removes the session if it is still the registered one; true if it was.
    fn unregister(&self, device: &str, id: u64) -> bool {
        let Ok(mut s) = self.sessions.lock() else { return false };
        if s.get(device).is_some_and(|e| e.id == id) {
            s.remove(device);
            true
        } else {
            false
        }
    }
}
