//! The edge applications the rollouts assign to this gateway
//! ([`wasmbed_control::desired_edge_apps`]), kept running on its
//! [`EdgeHost`], and what they do reported in the gateway's status as one
//! observation per slot — the same shape devices report theirs in, so the
//! rollout engine gates and rolls back edge applications as it does device
//! ones.
//!
//! The components are fed the samples this gateway's devices publish, log
//! into the gateway's log book under the gateway's name, publish derived
//! samples under it too, and message device apps through their sessions.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::runtime::Handle;
use tracing::{info, warn};
use wasmbed_edge::kv::Kv;
use wasmbed_edge::{EdgeError, Grants, Level, Limits, Sample, Services, SlotState, Version};
use wasmbed_model::{
    AppObservation, AppState, DesiredApp, EDGE_JOURNAL_KEPT, EdgeStep, GatewayStatusPatch, Gauge, LogLine,
    TelemetrySample,
};

use super::{EdgeDeploy, EdgeDeployError, EdgeHost};
use crate::Gateway;
use wasmbed_protocol::Delivery;

/// How long a component's message to a device may wait for its delivery.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// The gateway as its components see it.
struct GatewayServices {
    gateway: Weak<Gateway>,
    runtime: Handle,
    /// The latest value of each metric each slot published, for metric gates.
    metrics: Mutex<BTreeMap<String, BTreeMap<String, Gauge>>>,
}

impl GatewayServices {
    fn gateway(&self) -> Result<Arc<Gateway>, EdgeError> {
        self.gateway.upgrade().ok_or_else(|| EdgeError::Unavailable("the gateway is stopping".into()))
    }
}

impl Services for GatewayServices {
    fn now_ms(&self) -> i64 {
        self.gateway.upgrade().map_or(0, |g| i64::try_from((g.clock)()).unwrap_or(i64::MAX))
    }

    fn log(&self, app: &str, level: Level, line: &str) {
        let Some(gw) = self.gateway.upgrade() else { return };
        let level = match level {
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        app_log(&gw, app, level, line);
    }

    fn publish(&self, app: &str, metric: &str, value: f64) -> Result<(), EdgeError> {
        let gw = self.gateway()?;
        if let Ok(mut m) = self.metrics.lock() {
            m.entry(app.to_string()).or_default().insert(metric.to_string(), Gauge(value));
        }
        gw.telemetry.record([TelemetrySample {
            device: gw.cfg.name.clone(),
            app: app.to_string(),
            revision: None,
            metric: metric.to_string(),
            t_ms: (gw.clock)(),
            value,
        }]);
        Ok(())
    }

    fn send(&self, device: &str, app: &str, payload: &[u8]) -> Result<(), EdgeError> {
        let gw = self.gateway()?;
        let sent = self.runtime.block_on(async {
            tokio::time::timeout(SEND_TIMEOUT, gw.send_message(device, app, payload.to_vec())).await
        });
        match sent {
            Err(_) => Err(EdgeError::Unavailable(format!("{device} did not answer within {SEND_TIMEOUT:?}"))),
            Ok(Err(e)) => Err(EdgeError::Unavailable(e.to_string())),
            Ok(Ok(reply)) => match reply.delivery {
                Delivery::Delivered => Ok(()),
                other => Err(EdgeError::Failed(format!("{device}: {other:?}"))),
            },
        }
    }
}

/// Where one slot stands on this gateway, as reported.
#[derive(Debug, Clone)]
struct Reported {
    desired: DesiredApp,
    state: AppState,
    reason: Option<String>,
}

/// The latest lifecycle steps, numbered, as the status reports them.
#[derive(Debug, Default)]
struct Journal {
    next: u64,
    steps: VecDeque<EdgeStep>,
}

impl Journal {
    /// Goes on from the steps a previous run of this gateway reported.
    fn continuing(earlier: Vec<EdgeStep>) -> Self {
        let next = earlier.iter().map(|s| s.seq + 1).max().unwrap_or(1);
        let mut j = Self { next, steps: earlier.into() };
        j.trim();
        j
    }

    fn push(&mut self, mut step: EdgeStep, at_ms: u64) {
        step.seq = self.next;
        step.at_ms = at_ms;
        self.next += 1;
        self.steps.push_back(step);
        self.trim();
    }

    fn trim(&mut self) {
        while self.steps.len() > EDGE_JOURNAL_KEPT {
            self.steps.pop_front();
        }
    }
}

/// Runs the edge applications assigned to `gw` until aborted.
pub(crate) async fn run(gw: Arc<Gateway>, wake: Arc<tokio::sync::Notify>) {
    let services = Arc::new(GatewayServices {
        gateway: Arc::downgrade(&gw),
        runtime: Handle::current(),
        metrics: Mutex::new(BTreeMap::new()),
    });
    let (host, mut journal) = match EdgeHost::new(Limits::default(), services.clone()) {
        Ok(h) => h,
        Err(e) => {
            warn!(gateway = %gw.cfg.name, "no edge runtime on this gateway: {e}");
            return;
        }
    };
    let host = Arc::new(host);
    if let Ok(mut h) = gw.edge_host.lock() {
        *h = Arc::downgrade(&host);
    }
    // Steps are numbered on from the last this gateway reported, so the
    // audit follower, which goes by number, sees a restart's steps as new.
    let earlier = match gw.store.get_gateway(&gw.cfg.name).await {
        Ok(Some(g)) => g.status.edge_journal,
        _ => Vec::new(),
    };
    let steps = Arc::new(Mutex::new(Journal::continuing(earlier)));
    {
        let (name, steps, wake, gw) = (gw.cfg.name.clone(), steps.clone(), wake.clone(), Arc::downgrade(&gw));
        tokio::spawn(async move {
            while let Some(step) = journal.recv().await {
                match &step.reason {
                    Some(why) => {
                        warn!(gateway = %name, slot = %step.slot, kind = ?step.kind, revision = ?step.revision, %why, "edge application")
                    }
                    None => {
                        info!(gateway = %name, slot = %step.slot, kind = ?step.kind, revision = ?step.revision, "edge application")
                    }
                }
                let Some(gw) = gw.upgrade() else { return };
                if let Ok(mut j) = steps.lock() {
                    j.push(step, (gw.clock)());
                }
                // Reported (and so audited) now, not at the next interval.
                wake.notify_one();
            }
        });
    }
    // Device samples reach every component (each takes what it subscribed to).
    let feed = {
        let (host, mut samples) = (host.clone(), gw.telemetry.follow());
        tokio::spawn(async move {
            loop {
                match samples.recv().await {
                    Ok(s) => {
                        let at_ms = i64::try_from(s.t_ms).unwrap_or(i64::MAX);
                        let sample = Sample { device: s.device, app: s.app, metric: s.metric, value: s.value, at_ms };
                        host.sample(&sample);
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        })
    };
    let mut reported: BTreeMap<String, Reported> = BTreeMap::new();
    // Changes of each slot's key-value store when it was last written to
    // the store (written at most once per round: a change waits for the
    // next report at the latest).
    let mut persisted: BTreeMap<String, u64> = BTreeMap::new();
    // Per application, the highest manifest floor accepted: older
    // manifests are replays.
    let mut floors: BTreeMap<String, u64> = BTreeMap::new();

    let mut last_report: Option<(Vec<AppObservation>, Vec<EdgeStep>)> = None;
    let mut every = tokio::time::interval(Duration::from_millis(u64::from(gw.cfg.report_ms)));
    loop {
        tokio::select! {
            _ = wake.notified() => {}
            _ = every.tick() => {}
        }
        let desired = wanted(&gw).await;
        converge(&gw, &host, &services, &desired, &mut reported, &mut floors).await;
        persist(&gw, &host, &mut persisted).await;
        let apps = observe(&host, &services, &reported).await;
        let journal: Vec<EdgeStep> = steps.lock().map(|j| j.steps.iter().cloned().collect()).unwrap_or_default();
        // Written when it changed (a status write is a store write).
        let report = (apps, journal);
        if last_report.as_ref() != Some(&report) {
            let patch = GatewayStatusPatch::Edge { apps: report.0.clone(), journal: report.1.clone() };
            match gw.store.patch_gateway_status(&gw.cfg.name, patch).await {
                Ok(()) => last_report = Some(report),
                Err(e) => warn!(gateway = %gw.cfg.name, "cannot report edge applications: {e}"),
            }
        }
        if feed.is_finished() {
            return;
        }
    }
}

/// One slot this gateway should run: what, and for which attached board.
#[derive(Debug, Clone)]
struct Wanted {
    app: DesiredApp,
    /// The device whose board the slot drives.
    board: Option<String>,
}

/// What the rollouts assign to this gateway, and to the boards it holds.
async fn wanted(gw: &Gateway) -> Vec<Wanted> {
    let apps = gw.applications();
    let mut out: Vec<Wanted> = wasmbed_control::desired_edge_apps(&gw.cfg.name, &apps)
        .into_iter()
        .map(|app| Wanted { app, board: None })
        .collect();
    for device in gw.attached_boards() {
        let Ok(Some(d)) = gw.store.get_device(&device).await else { continue };
        out.extend(
            wasmbed_control::desired_board_apps(&d, &apps)
                .into_iter()
                .map(|app| Wanted { app, board: Some(device.clone()) }),
        );
    }
    out
}

/// Deploys, rolls back and removes until the host runs what is desired.
async fn converge(
    gw: &Arc<Gateway>,
    host: &EdgeHost,
    services: &GatewayServices,
    desired: &[Wanted],
    reported: &mut BTreeMap<String, Reported>,
    floors: &mut BTreeMap<String, u64>,
) {
    for gone in reported.keys().filter(|s| !desired.iter().any(|w| &w.app.slot == *s)).cloned().collect::<Vec<_>>() {
        host.remove(&gone).await;
        reported.remove(&gone);
        // The application left this gateway: so does what it kept (unless
        // a blue-green revision beside it shares the store).
        let key = wasmbed_control::desired::unversioned_slot(&gone);
        if !host.keeps(&key)
            && let Err(e) = gw.store.delete_edge_state(&gw.cfg.name, &key).await
        {
            warn!(gateway = %gw.cfg.name, slot = %gone, "cannot delete the kept key-value store: {e}");
        }
    }
    for w in desired {
        let d = &w.app;
        let serving = if d.run { AppState::Running } else { AppState::Stopped };
        if let Some(r) = reported.get_mut(&d.slot)
            && r.desired.revision == d.revision
            && r.desired.digest == d.digest
        {
            // The same version: a blue-green switch only turns events on or off.
            if r.desired.run != d.run && r.state != AppState::Failed && host.set_active(&d.slot, d.run) {
                r.desired.run = d.run;
                r.state = serving;
            }
            continue;
        }
        // Metrics gate the revision that published them: start afresh.
        if let Ok(mut m) = services.metrics.lock() {
            m.remove(&d.slot);
        }
        // The previous version is kept instantiated: going back is a swap.
        let status = host.status(&d.slot).await.ok();
        if status.as_ref().and_then(|s| s.previous.as_ref()).is_some_and(|v| v.revision == d.revision)
            && let Ok(Ok(v)) = host.rollback(&d.slot).await
        {
            info!(gateway = %gw.cfg.name, slot = %d.slot, version = %v, "edge application rolled back");
            host.set_active(&d.slot, d.run);
            reported.insert(d.slot.clone(), Reported { desired: d.clone(), state: serving, reason: None });
            continue;
        }
        if status.as_ref().is_some_and(|s| s.state == SlotState::Running(version(d))) {
            host.set_active(&d.slot, d.run);
            reported.insert(d.slot.clone(), Reported { desired: d.clone(), state: serving, reason: None });
            continue;
        }
        let (state, reason) = match deploy(gw, host, w, floors).await {
            Ok(()) => {
                host.set_active(&d.slot, d.run);
                (serving, None)
            }
            Err(why) => (AppState::Failed, Some(why)),
        };
        reported.insert(d.slot.clone(), Reported { desired: d.clone(), state, reason });
    }
}

fn version(d: &DesiredApp) -> Version {
    Version { revision: d.revision, label: d.version.clone() }
}

/// Deploys one desired version; why not, as the observation's reason.
async fn deploy(
    gw: &Arc<Gateway>,
    host: &EdgeHost,
    w: &Wanted,
    floors: &mut BTreeMap<String, u64>,
) -> Result<(), String> {
    let d = &w.app;
    let refuse = |why: String| {
        host.refused(&d.slot, &version(d), &why);
        why
    };
    let grants = Grants::parse(&d.capabilities).map_err(|e| refuse(e.to_string()))?;
    let component =
        gw.module(&d.digest).await.ok_or_else(|| refuse(format!("component {} is not in the store", d.digest)))?;
    // Only what the control plane signed runs here.
    let key = gw.cfg.app_key.read().ok().and_then(|k| k.clone()).ok_or_else(|| {
        refuse("unsigned: this gateway pins no app-signing key yet, so it can check no manifest".to_string())
    })?;
    let chain = gw.cfg.trust_chain.read().map(|c| c.clone()).unwrap_or_default();
    let floor = floors.get(&d.app).copied().unwrap_or(0);
    let manifest = super::vouch::check(&key, &chain, d, &component, floor).map_err(|e| refuse(e.to_string()))?;
    floors.insert(d.app.clone(), floor.max(manifest.floor));
    let deploy = EdgeDeploy {
        app: d.slot.clone(),
        version: version(d),
        component: component.as_slice().into(),
        grants,
        config: d.config.clone(),
        // Exactly the board the slot is for, on whichever link holds it.
        board: w.board.as_ref().map(|device| {
            let port = super::LinkedBoard::attached(Arc::downgrade(gw), device.clone(), Handle::current());
            Arc::new(port) as Arc<dyn wasmbed_edge::BoardPort>
        }),
        tick: Some(Duration::from_millis(u64::from(d.limits.tick_ms))),
        // A store already hosted (this slot's, or a blue-green revision's
        // beside it) is the one it uses; else the one the platform kept.
        state: match wasmbed_control::desired::unversioned_slot(&d.slot) {
            key if host.keeps(&key) => None,
            key => kept_state(gw, &key).await,
        },
        active: d.run,
    };
    match host.deploy(deploy).await {
        Ok(()) => Ok(()),
        Err(EdgeDeployError::Start(f)) => Err(f.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// The key-value store the platform kept for `slot` on this gateway. One
/// that cannot be read is kept aside (as `<slot>#unreadable`, so nothing
/// is lost) and the application starts with an empty store,
/// saying so in its log.
async fn kept_state(gw: &Gateway, slot: &str) -> Option<Kv> {
    let name = &gw.cfg.name;
    let bytes = match gw.store.get_edge_state(name, slot).await {
        Ok(b) => b?,
        Err(e) => {
            warn!(gateway = %name, slot, "cannot read the kept key-value store: {e}");
            return None;
        }
    };
    match Kv::decode(&bytes) {
        Ok((kv, 0)) => Some(kv),
        Ok((kv, left_out)) => {
            note(gw, slot, &format!("{left_out} entries of its kept key-value store are past the limits: left out"));
            Some(kv)
        }
        Err(e) => {
            let aside = format!("{slot}#unreadable");
            let kept = gw.store.put_edge_state(name, &aside, &bytes).await;
            let whither = if kept.is_ok() { format!("kept as {aside}") } else { "and could not be kept aside".into() };
            note(gw, slot, &format!("its kept key-value store is unreadable ({e}), {whither}; starting empty"));
            None
        }
    }
}

/// A line in an application's log: the gateway's log book, under the
/// gateway's name.
fn app_log(gw: &Gateway, app: &str, level: &str, line: &str) {
    gw.logs.push(LogLine {
        device: gw.cfg.name.clone(),
        app: app.to_string(),
        uptime_ms: 0,
        received_ms: (gw.clock)(),
        line: format!("[{level}] {line}"),
    });
}

/// A warning about an application, in its log as from the gateway.
fn note(gw: &Gateway, slot: &str, line: &str) {
    warn!(gateway = %gw.cfg.name, slot, "{line}");
    app_log(gw, slot, "warn", line);
}

/// Writes the stores that changed since `persisted` says they were written.
async fn persist(gw: &Gateway, host: &EdgeHost, persisted: &mut BTreeMap<String, u64>) {
    let _ordered = gw.edge_writes.lock().await;
    for (slot, kv) in host.stores() {
        let Some((changes, bytes)) = kv
            .lock()
            .ok()
            .and_then(|kv| (persisted.get(&slot) != Some(&kv.changes())).then(|| (kv.changes(), kv.encode())))
        else {
            continue;
        };
        match gw.store.put_edge_state(&gw.cfg.name, &slot, &bytes).await {
            Ok(()) => {
                persisted.insert(slot, changes);
            }
            Err(e) => warn!(gateway = %gw.cfg.name, %slot, "cannot keep the key-value store: {e}"),
        }
    }
}

/// Writes every slot's key-value store, changed or not: a gateway stopping
/// in order loses none of what its components kept.
pub(crate) async fn keep_all(gw: &Gateway) {
    let Some(host) = gw.edge_host.lock().ok().and_then(|h| h.upgrade()) else { return };
    persist(gw, &host, &mut BTreeMap::new()).await;
}

/// One observation per slot: what was deployed, and whether its version
/// still runs (a trap after the deploy fails it).
async fn observe(
    host: &EdgeHost,
    services: &GatewayServices,
    reported: &BTreeMap<String, Reported>,
) -> Vec<AppObservation> {
    let metrics = services.metrics.lock().map(|m| m.clone()).unwrap_or_default();
    let mut out = Vec::with_capacity(reported.len());
    for (slot, r) in reported {
        let (mut state, mut reason) = (r.state, r.reason.clone());
        if state == AppState::Running
            && let Ok(s) = host.status(slot).await
            && let SlotState::Failed { version, failure } = s.state
            && version.revision == r.desired.revision
        {
            state = AppState::Failed;
            reason = Some(failure.to_string());
        }
        out.push(AppObservation {
            name: slot.clone(),
            version: r.desired.version.clone(),
            digest: r.desired.digest.clone(),
            state,
            revision: Some(r.desired.revision),
            reason,
            counters: None,
            metrics: metrics.get(slot).cloned().unwrap_or_default(),
        });
    }
    out
}

impl Gateway {
    /// Delivers `payload` to the edge application in `slot` on this
    /// gateway and waits until its `on-message` handled it (in turn with
    /// the events queued before it): the same answers as a device's.
    pub async fn send_edge_message(&self, slot: &str, payload: Vec<u8>) -> Result<Delivery, crate::CommandError> {
        if payload.len() > wasmbed_protocol::MAX_MESSAGE_LEN {
            return Err(crate::CommandError::MessageTooLarge(payload.len()));
        }
        let Some(host) = self.edge_host.lock().ok().and_then(|h| h.upgrade()) else {
            return Ok(Delivery::NotRunning);
        };
        match host.send(slot, payload).await {
            Ok(d) => Ok(d),
            Err(wasmbed_edge::worker::WorkerError::Full) => Err(crate::CommandError::Busy(slot.to_string())),
            Err(wasmbed_edge::worker::WorkerError::Stopped) => Ok(Delivery::NotRunning),
        }
    }
}
