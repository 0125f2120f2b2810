//! The gateway: the fleet's kubelet.
//!
//! Devices connect over TLS 1.3 with a client certificate signed by the
//! platform CA. For each device the gateway holds one session (a newer
//! connection with the same identity replaces the older one), answers
//! enrollment, tracks heartbeats, diffs the apps the device should run
//! against what it reports and sends what is missing, and writes what it
//! observes to the session part of the device's status. It makes no
//! rollout decisions: what a device should run comes from
//! [`wasmbed_control::desired_apps`], read off the applications' rollouts.
//! Liveness verdicts (Online, Unreachable) are the device reconciler's,
//! from the heartbeat times the gateway records.
//!
//! A gateway registers itself as a `Gateway` resource and reports its
//! sessions every `report_ms`, which is how the control plane knows it is
//! alive and how many devices it holds.
//!
//! Layers, outermost first: [`Gateway::run`] (accept loop, handshake slots
//! per source (`admission`), session cap, shutdown) → `session` (one
//! device: framing, enrollment, liveness; its writes through `outbox`,
//! its connection a `tls::DeviceTls`, which holds no buffer while idle) →
//! `sync` (the pure diff of desired against reported apps, and when a
//! deploy refused for lack of room is retried: [`RetryPolicy`]). Beside them,
//! `terminal` relays commands to a device's session and matches answers
//! ([`Gateway::run_command`]), `turned`, the one summary line per
//! interval of connections turned away before authentication, and
//! `refusals`, which certificate a device may enroll with (only the one
//! recorded on its spec) and the cap on log lines about those it refuses,
//! and [`edge`], the edge tier: components and attached boards (whose
//! links [`Gateway::serve_boards`] accepts on a second listener).
//!
//! ```no_run
//! # async fn demo(gw: std::sync::Arc<wasmbed_gateway::Gateway>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let (_stop, stop_rx) = tokio::sync::watch::channel(false);
//! gw.run(listener, stop_rx).await
//! # }
//! ```

mod admission;
pub mod edge;
mod outbox;
mod refusals;
mod session;
mod sync;
mod terminal;
mod tls;
mod turned;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, watch};
use tracing::{debug, info, warn};
use wasmbed_model::clock::Clock;
use wasmbed_model::defaults;
use wasmbed_model::{
    Application, Attempt, DeviceStatusPatch, EventKind, Gateway as GatewayResource, GatewaySpec, GatewayStatusPatch,
    LogBook, Meta, Store, StoreError, TelemetryBook, retry_on_conflict,
};

pub use sync::{Action, RETRY_NOTE, RetryPolicy, Room, plan};
pub use terminal::{CommandError, CommandLine, CommandOutcome, CommandReply, MAX_COMMANDS_IN_FLIGHT, MessageReply};

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
    /// Authenticated sessions held at once (a connection takes a slot once
    /// its client certificate was accepted).
    pub max_sessions: usize,
    /// Handshakes in progress at once, before authentication (see
    /// `admission`: a stale one gives way when they run out).
    pub max_handshakes: usize,
    /// Handshakes in progress from one source address (IPv4, IPv6 /64).
    /// Everything behind one NAT shares it, as do devices on this host:
    /// QEMU user networking and the olimex UART link arrive from 127.0.0.1.
    pub max_handshakes_per_source: usize,
    /// Largest frame accepted from a device.
    pub max_frame_len: usize,
    /// Time allowed for the TLS handshake, and then for the Enroll message.
    pub handshake_timeout: Duration,
    /// How long a device may take no bytes of a write before its session
    /// is closed (a device that stops reading must not hold a task).
    pub write_timeout: Duration,
    /// How often connections turned away before authentication are
    /// summed up in one warning.
    pub summary_interval: Duration,
    /// How long [`Gateway::run_command`] waits for a device's answer.
    pub command_timeout: Duration,
    /// Address devices on this host dial, as registered in the Gateway
    /// resource (default: the listener's address).
    pub endpoint: Option<String>,
    /// Address emulated devices dial (QEMU: 10.0.2.2:port), if different.
    pub device_endpoint: Option<String>,
    /// Address of its board-link listener ([`Gateway::serve_boards`]),
    /// registered for the QEMU manager to connect attached boards to.
    pub board_link_endpoint: Option<String>,
    /// How often the gateway reports itself into the store.
    pub report_ms: u32,
    /// How deploys a device refused for lack of room are retried.
    pub deploy_retry: RetryPolicy,
    /// Announcements of the app-signing keys after the first, in order:
    /// sent to every device after `Welcome`, so one that pins an older key
    /// moves to the current one (shared: a rotation appends to it).
    pub trust_chain: TrustChain,
    /// The app-signing key this gateway pins, which edge components'
    /// signed manifests are checked against (moved along `trust_chain`).
    /// Shared, so that a gateway that learns it after its start (in
    /// Kubernetes, from the controller) sets it here. Until it is set, edge
    /// components are refused as unsigned.
    pub app_key: AppKeyPin,
}

/// The app-signing key a gateway pins for edge components, once known.
pub type AppKeyPin = Arc<std::sync::RwLock<Option<edge::PinnedKey>>>;

/// The app-signing key announcements a gateway relays (it cannot make
/// them: it holds no signing key).
pub type TrustChain = Arc<std::sync::RwLock<Vec<wasmbed_protocol::Signed>>>;

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            name: "gateway-0".into(),
            heartbeat_ms: defaults::HEARTBEAT_MS,
            missed_heartbeats: defaults::MISSED_HEARTBEATS,
            max_sessions: defaults::MAX_SESSIONS,
            // A handshake costs a task and TLS state (~10 KB) whether or not
            // it will finish: far fewer than sessions, and still more than
            // a fleet that dials in at once holds (the simulator keeps 256
            // in flight; the gateway finishes ~1,000 a second).
            max_handshakes: 1024,
            // Half the pool: one source cannot take it all, and a fleet
            // behind one NAT (or all of `wasmbed up`'s devices) is paced
            // by it, never locked out (stale handshakes give way).
            max_handshakes_per_source: 512,
            max_frame_len: wasmbed_protocol::MAX_FRAME_LEN,
            // A device's handshake takes milliseconds to a few hundred
            // (QEMU under load); an idle connection gets no longer than this.
            handshake_timeout: Duration::from_secs(5),
            // Longer than a chunk takes over the slowest link (a UART).
            write_timeout: Duration::from_secs(10),
            summary_interval: Duration::from_secs(10),
            // Generous: a device may be busy installing a module first.
            command_timeout: Duration::from_secs(5),
            endpoint: None,
            device_endpoint: None,
            board_link_endpoint: None,
            report_ms: defaults::GATEWAY_REPORT_MS,
            deploy_retry: RetryPolicy::DEFAULT,
            trust_chain: TrustChain::default(),
            app_key: AppKeyPin::default(),
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

    /// With other limits on handshakes in progress: in all, and from one
    /// source address.
    pub fn with_handshake_limits(mut self, max: usize, per_source: usize) -> Self {
        self.max_handshakes = max;
        self.max_handshakes_per_source = per_source;
        self
    }

    /// With a different handshake timeout.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// With a different write timeout.
    pub fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
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

    /// With the addresses registered for devices (host, and emulated devices).
    pub fn with_endpoints(mut self, endpoint: &str, device_endpoint: Option<&str>) -> Self {
        self.endpoint = Some(endpoint.into());
        self.device_endpoint = device_endpoint.map(String::from);
        self
    }

    /// With the address of its board-link listener registered.
    pub fn with_board_link_endpoint(mut self, endpoint: &str) -> Self {
        self.board_link_endpoint = Some(endpoint.into());
        self
    }

    /// With a different report interval.
    pub fn with_report_ms(mut self, ms: u32) -> Self {
        self.report_ms = ms.max(10);
        self
    }

    /// With a different retry policy for deploys refused for lack of room.
    pub fn with_deploy_retry(mut self, policy: RetryPolicy) -> Self {
        self.deploy_retry = policy;
        self
    }

    /// Relaying the app-signing key announcements in `chain`.
    pub fn with_trust_chain(mut self, chain: TrustChain) -> Self {
        self.trust_chain = chain;
        self
    }

    /// Pinning `key` for edge components' manifests.
    pub fn with_app_key(self, key: edge::PinnedKey) -> Self {
        if let Ok(mut k) = self.app_key.write() {
            *k = Some(key);
        }
        self
    }

    /// Pinning the key `pin` holds, or will (set by whoever learns it).
    pub fn with_app_key_pin(mut self, pin: AppKeyPin) -> Self {
        self.app_key = pin;
        self
    }

    fn liveness_window(&self) -> Duration {
        Duration::from_millis(u64::from(self.heartbeat_ms) * u64::from(self.missed_heartbeats.max(1)))
    }
}

/// Counters, for status endpoints and tests.
#[derive(Debug, Default)]
pub struct GatewayStats {
    /// TLS handshakes that failed (bad, expired or missing client
    /// certificate) or timed out.
    pub handshake_failures: AtomicU64,
    /// Of those, handshakes that timed out.
    pub handshake_timeouts: AtomicU64,
    /// Connections closed at accept: no handshake slot was free.
    pub refused_handshakes: AtomicU64,
    /// Stale handshakes closed to make room for a newer connection.
    pub handshakes_evicted: AtomicU64,
    /// Sessions ended by a protocol error.
    pub protocol_errors: AtomicU64,
    /// Sessions that completed enrollment.
    pub enrollments: AtomicU64,
    /// Heartbeats received.
    pub heartbeats: AtomicU64,
    /// Authenticated connections refused because the session cap was reached.
    pub refused_over_cap: AtomicU64,
    /// Modules sent to devices (one per deploy of a slot).
    pub deploys: AtomicU64,
    /// Enrollments refused because the certificate was not the device's
    /// current one (an old bundle after a re-issue or a re-creation).
    pub refused_identities: AtomicU64,
    /// Sessions closed because their device took no bytes for the write timeout.
    pub write_timeouts: AtomicU64,
    /// App entries from devices not kept: invalid (name, version) or past
    /// [`wasmbed_protocol::MAX_DEVICE_APPS`] per device.
    pub app_entries_dropped: AtomicU64,
    /// Board links refused: a wrong or re-issued link key, a name that is
    /// no attached board's device (see [`Gateway::serve_boards`]).
    pub refused_boards: AtomicU64,
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
    telemetry: Arc<TelemetryBook>,
    /// Device-facing TLS (see `tls`).
    tls: Arc<rustls::ServerConfig>,
    clock: Clock,
    sessions: Mutex<HashMap<String, SessionEntry>>,
    apps: RwLock<Arc<Vec<Application>>>,
    /// What of the applications decides device assignments, to wake
    /// sessions only when that changed (not on every count update).
    assignments: Mutex<Vec<String>>,
    modules: Mutex<HashMap<String, Arc<Vec<u8>>>>,
    chunks: outbox::ChunkCache,
    /// Session slots (authenticated sessions only).
    permits: Arc<Semaphore>,
    handshakes: Arc<admission::Admission>,
    turned: turned::Turned,
    /// Set by [`Gateway::kill`]: everything stops at once, as if the process died.
    killed: watch::Sender<bool>,
    next_session: AtomicU64,
    stats: GatewayStats,
    /// Caps the log lines about refused certificates.
    refusal_log: refusals::LogThrottle,
    /// Wakes the edge applications' runner when applications change.
    edge_wake: Arc<Notify>,
    /// Boards attached over their serial links, by device name.
    attached: edge::attached::Attached,
    /// The edge applications' host while its runner runs.
    edge_host: std::sync::Mutex<std::sync::Weak<edge::EdgeHost>>,
    /// Held while a key-value store is encoded and written, so writes land
    /// in the order they were encoded: the round running as the gateway
    /// stops cannot overwrite what the stop wrote with an older copy.
    edge_writes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Gateway {
    /// A gateway over `store`, accepting TLS with `tls` (see
    /// `wasmbed_pki::tls::server_config`: TLS 1.3, client certificates
    /// required), recording app logs in `logs` and samples in `telemetry`.
    pub fn new(
        cfg: GatewayConfig,
        tls: Arc<rustls::ServerConfig>,
        store: Arc<dyn Store>,
        logs: Arc<LogBook>,
        telemetry: Arc<TelemetryBook>,
        clock: Clock,
    ) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(cfg.max_sessions)),
            handshakes: admission::Admission::new(cfg.max_handshakes, cfg.max_handshakes_per_source),
            turned: turned::Turned::default(),
            chunks: outbox::ChunkCache::default(),
            killed: watch::channel(false).0,
            cfg,
            store,
            logs,
            telemetry,
            tls,
            clock,
            sessions: Mutex::default(),
            apps: RwLock::default(),
            assignments: Mutex::default(),
            modules: Mutex::default(),
            next_session: AtomicU64::new(1),
            stats: GatewayStats::default(),
            refusal_log: refusals::LogThrottle::default(),
            edge_wake: Arc::new(Notify::new()),
            attached: edge::attached::Attached::default(),
            edge_host: std::sync::Mutex::default(),
            edge_writes: tokio::sync::Mutex::const_new(()),
        })
    }

    /// What the devices' apps published (shared with whoever serves it).
    pub fn telemetry(&self) -> &Arc<TelemetryBook> {
        &self.telemetry
    }

    /// Settings.
    pub fn config(&self) -> &GatewayConfig {
        &self.cfg
    }

    /// Counters.
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// Handshakes in progress now (connections not yet authenticated).
    pub fn handshakes_in_progress(&self) -> usize {
        self.handshakes.in_progress()
    }

    /// Devices holding an enrolled session now.
    pub fn session_count(&self) -> usize {
        self.sessions.lock().map(|s| s.len()).unwrap_or(0)
    }

    /// Stops the gateway the way a crash would: sessions are dropped without
    /// a TLS close or a last status write, and it stops reporting. For
    /// failover tests; [`Gateway::run`] returns at once.
    pub fn kill(&self) {
        let _ = self.killed.send(true);
    }

    pub(crate) fn kill_signal(&self) -> watch::Receiver<bool> {
        self.killed.subscribe()
    }

    /// Accepts devices until `shutdown` turns true, then ends every session
    /// (devices see a TLS close) and returns once they are gone (at most 5 s).
    pub async fn run(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        self.refresh_apps().await;
        let addr = listener.local_addr()?;
        self.register_self(addr).await;
        self.close_stale_sessions().await;
        let watcher = tokio::spawn(self.clone().watch_store());
        let reporter = tokio::spawn(self.clone().report());
        let edge = tokio::spawn(edge::apps::run(self.clone(), self.edge_wake.clone()));
        let mut killed = self.kill_signal();
        let mut summary = tokio::time::interval(self.cfg.summary_interval);
        summary.tick().await;
        info!(%addr, gateway = %self.cfg.name, "gateway listening");
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
                    let ticket = match self.handshakes.admit(peer.ip(), std::time::Instant::now()) {
                        admission::Admit::Yes { ticket, evicted } => {
                            if evicted {
                                self.stats.handshakes_evicted.fetch_add(1, Ordering::Relaxed);
                                self.turned.count(turned::Why::Evicted);
                            }
                            ticket
                        }
                        admission::Admit::No => {
                            self.stats.refused_handshakes.fetch_add(1, Ordering::Relaxed);
                            self.turned.count(turned::Why::NoRoom);
                            debug!(%peer, "no handshake slot; connection refused");
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(session::serve(self.clone(), tcp, peer, ticket, shutdown.clone()));
                }
                _ = summary.tick() => self.summarize(),
                _ = shutdown.changed() => break,
                _ = killed.changed() => {
                    warn!(gateway = %self.cfg.name, "gateway killed");
                    watcher.abort();
                    reporter.abort();
                    edge.abort();
                    return Ok(());
                }
            }
        }
        info!("gateway shutting down");
        drop(listener);
        let all = self.cfg.max_sessions as u32;
        let _ = tokio::time::timeout(Duration::from_secs(5), self.permits.acquire_many(all)).await;
        watcher.abort();
        reporter.abort();
        // What components kept since the last round is written first.
        let _ = tokio::time::timeout(Duration::from_secs(5), edge::apps::keep_all(&self)).await;
        edge.abort();
        Ok(())
    }

    /// One warning for everything turned away before authentication since
    /// the last one.
    fn summarize(&self) {
        let Some(s) = self.turned.take() else { return };
        let every = self.cfg.summary_interval;
        match self.handshakes.busiest() {
            Some((source, n)) => {
                warn!(gateway = %self.cfg.name, "in the last {every:?}: {s}; busiest source now {source} with {n} handshakes in progress")
            }
            None => warn!(gateway = %self.cfg.name, "in the last {every:?}: {s}"),
        }
    }

    /// Creates or updates this gateway's resource (endpoint and capacity).
    async fn register_self(&self, addr: std::net::SocketAddr) {
        let spec = GatewaySpec {
            endpoint: self.cfg.endpoint.clone().unwrap_or_else(|| addr.to_string()),
            device_endpoint: self.cfg.device_endpoint.clone(),
            board_link_endpoint: self.cfg.board_link_endpoint.clone(),
            capacity: u32::try_from(self.cfg.max_sessions).unwrap_or(u32::MAX),
        };
        let registered = retry_on_conflict(|| async {
            let existing = self.store.get_gateway(&self.cfg.name).await?;
            if existing.as_ref().is_some_and(|g| g.spec == spec) {
                return Ok(());
            }
            let meta = existing.map_or_else(|| Meta::named(&self.cfg.name), |g| g.meta);
            let gw = GatewayResource { meta, spec: spec.clone(), status: Default::default() };
            self.store.put_gateway(&gw).await?;
            Ok::<_, Attempt<StoreError>>(())
        })
        .await;
        if let Err(e) = registered {
            warn!("cannot register gateway {}: {e}", self.cfg.name);
        }
    }

    /// Reports sessions and liveness until aborted.
    async fn report(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(u64::from(self.cfg.report_ms)));
        loop {
            tick.tick().await;
            let patch = GatewayStatusPatch::Report {
                sessions: u32::try_from(self.session_count()).unwrap_or(u32::MAX),
                at_ms: (self.clock)(),
                report_ms: self.cfg.report_ms,
            };
            if let Err(e) = self.store.patch_gateway_status(&self.cfg.name, patch).await {
                debug!("cannot report gateway status: {e}");
            }
        }
    }

    /// A gateway that just started holds no session: devices its previous
    /// run left marked connected are not (the device reconciler would find
    /// out from their heartbeats, but sooner is clearer).
    async fn close_stale_sessions(&self) {
        let Ok(devices) = self.store.list_devices().await else { return };
        for d in devices {
            let s = &d.status.session;
            if s.connected && s.gateway.as_deref() == Some(self.cfg.name.as_str()) {
                let mut s = s.clone();
                s.connected = false;
                let _ = self.store.patch_device_status(&d.meta.name, DeviceStatusPatch::Session(s)).await;
            }
        }
    }

    /// Re-reads the applications; true when device assignments changed.
    async fn refresh_apps(&self) -> bool {
        match self.store.list_applications().await {
            Ok(apps) => {
                let key: Vec<String> = apps.iter().map(assignment_key).collect();
                let changed = self.assignments.lock().map(|mut k| std::mem::replace(&mut *k, key.clone()) != key);
                if let Ok(mut slot) = self.apps.write() {
                    *slot = Arc::new(apps);
                }
                changed.unwrap_or(true)
            }
            Err(e) => {
                warn!("cannot list applications: {e}");
                false
            }
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
                Ok(ev) if ev.kind == EventKind::Application => {
                    // Rollouts live in application statuses.
                    if self.refresh_apps().await {
                        self.resync_all();
                        self.edge_wake.notify_one();
                    }
                }
                Ok(ev) if ev.status_only || ev.kind == EventKind::Gateway => {}
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

    /// The DeployChunk frames of `module` (digest `digest`) for `slot`,
    /// encoded by the first session that needs them and shared after.
    fn chunk_frames(&self, slot: &str, digest: &str, module: &[u8]) -> Option<Arc<[u8]>> {
        self.chunks
            .get(slot, digest, module)
            .map_err(|e| warn!(slot, digest, "cannot encode the module's chunks: {e}"))
            .ok()
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

/// What of an application decides which device runs what: its selector,
/// strategy, revisions and rollout stage — not its counts.
fn assignment_key(a: &Application) -> String {
    let ro = a.status.rollout.as_ref().map(|r| {
        (r.revision, r.previous, r.phase, r.step, r.rollback, r.touched.len(), r.touched.iter().next_back().cloned())
    });
    let revs: Vec<u64> = a.status.history.iter().map(|r| r.revision).collect();
    format!("{}|{}|{:?}|{:?}|{revs:?}", a.meta.name, a.spec.selector, a.spec.strategy, ro)
}
