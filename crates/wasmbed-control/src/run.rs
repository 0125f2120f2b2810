//! The reconcilers as one task over a [`Store`]: event-driven, batched,
//! level-triggered.
//!
//! The task keeps its own copy of every resource, refreshed from the
//! store's watch (an informer: one read per event, a full re-list when the
//! watch lagged), marks what an event makes stale, and reconciles the
//! stale resources in batches:
//!
//! - a **Device** gets its phase and conditions ([`crate::lifecycle`]) and,
//!   when it has none or its gateway is dead, a gateway assignment
//!   ([`crate::gateways`]);
//! - a **Gateway** gets its health;
//! - an **Application** gets its next status ([`crate::rollout::reconcile`]),
//!   recomputed when it changes or when a device it targets changes phase
//!   or app states (heartbeats alone do not wake it).
//!
//! A revision asking for native code is compiled per target board
//! ([`crate::native`]) before its manifest is signed, in the background:
//! the application keeps its status until its builds end, and nothing
//! else waits.
//!
//! Time-driven work (heartbeat deadlines, soak times, gateway reports) is
//! checked every `tick_ms`. A failed write is retried on the next tick.
//! Modules no application uses are swept every quarter of their grace
//! period ([`crate::modules`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use tracing::{debug, info, warn};
use wasmbed_model::{
    AppObservation, Application, Device, DevicePhase, DeviceStatusPatch, Event, EventKind, Gateway, GatewayStatusPatch,
    RolloutPhase, Runtime, Store, StoreError,
};

use crate::desired::{desired_apps, targets, targets_board};
use crate::gateways;
use crate::lifecycle::{heartbeat_deadline, lifecycle};
use crate::modules::{Sweeper, used};
use crate::native::{self, NativeBuilder};
use crate::rollout::reconcile_fleet;
use crate::signing::{CheckError, ModuleCheck, SharedKey, sign_manifests, with_signed_condition};

pub use wasmbed_model::clock::Clock;

/// Settings of the reconcilers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ControlConfig {
    /// How often time-driven work is checked.
    pub tick_ms: u64,
    /// Assign devices to gateways (off when the platform has a single
    /// endpoint, e.g. a Kubernetes Service in front of the gateways).
    pub assign_gateways: bool,
    /// How long a module stays unused before it is deleted; `None` keeps
    /// every module.
    pub module_grace_ms: Option<u64>,
    /// The app-signing key deploys are signed with (`None`: deploys go out
    /// unsigned, and devices that pin a key refuse them).
    pub signer: Option<SharedKey>,
    /// What checks a module validates before it is signed (`None`: the
    /// store holds only modules the API validated).
    pub module_check: Option<Arc<dyn ModuleCheck>>,
    /// What compiles revisions asking for native code (`None`: every board
    /// runs them interpreted, and their status says so).
    pub native: Option<Arc<dyn NativeBuilder>>,
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            tick_ms: 250,
            assign_gateways: true,
            module_grace_ms: Some(wasmbed_model::defaults::MODULE_GRACE_MS),
            signer: None,
            module_check: None,
            native: None,
        }
    }
}

impl ControlConfig {
    /// With a different tick.
    pub fn with_tick_ms(mut self, ms: u64) -> Self {
        self.tick_ms = ms.max(10);
        self
    }

    /// Without gateway assignment.
    pub fn without_gateway_assignment(mut self) -> Self {
        self.assign_gateways = false;
        self
    }

    /// With another grace for unused modules (`None`: keep them all).
    pub fn with_module_grace_ms(mut self, ms: Option<u64>) -> Self {
        self.module_grace_ms = ms;
        self
    }

    /// Signing deploys with `key` (replaced in place when it rotates).
    pub fn with_signer(mut self, key: SharedKey) -> Self {
        self.signer = Some(key);
        self
    }

    /// Checking every module with `check` before signing it.
    pub fn with_module_check(mut self, check: Arc<dyn ModuleCheck>) -> Self {
        self.module_check = Some(check);
        self
    }

    /// Compiling native revisions with `builder`.
    pub fn with_native_builder(mut self, builder: Arc<dyn NativeBuilder>) -> Self {
        self.native = Some(builder);
        self
    }
}

/// What a device's applications care about: a change of it re-reconciles them.
#[derive(PartialEq)]
struct Relevant {
    phase: DevicePhase,
    apps: Vec<AppObservation>,
    labels: wasmbed_model::Labels,
}

fn relevant(d: &Device) -> Relevant {
    Relevant { phase: d.status.phase, apps: d.status.session.apps.clone(), labels: d.spec.labels.clone() }
}

#[derive(Clone, Copy)]
enum Kind {
    Device,
    App,
    Gateway,
}

#[derive(Default)]
struct Dirty {
    devices: BTreeSet<String>,
    apps: BTreeSet<String>,
    gateways: BTreeSet<String>,
}

struct Reconciler {
    store: Arc<dyn Store>,
    clock: Clock,
    cfg: ControlConfig,
    devices: BTreeMap<String, Device>,
    apps: BTreeMap<String, Application>,
    gateways: BTreeMap<String, Gateway>,
    dirty: Dirty,
    modules: Sweeper,
    next_sweep_ms: u64,
    /// Id of the key the last pass signed with.
    signed_with: Option<[u8; 8]>,
    /// What the module check said of each module digest it was asked
    /// about (verdicts only: a module it could not read is asked again).
    checked: BTreeMap<String, Result<(), CheckError>>,
    /// Applications whose module could not be checked: reconciled again
    /// at the next tick.
    recheck: BTreeSet<String>,
    /// Native builds running and ended.
    builds: native::Builds,
}

/// Runs every reconciler until `shutdown` turns true.
pub async fn run(store: Arc<dyn Store>, clock: Clock, cfg: ControlConfig, mut shutdown: watch::Receiver<bool>) {
    let mut events = store.watch();
    let tick = Duration::from_millis(cfg.tick_ms);
    let (builds, mut builds_ended) = native::Builds::new(cfg.native.clone());
    let mut r = Reconciler {
        store,
        clock,
        cfg,
        devices: BTreeMap::new(),
        apps: BTreeMap::new(),
        gateways: BTreeMap::new(),
        dirty: Dirty::default(),
        modules: Sweeper::default(),
        next_sweep_ms: 0,
        signed_with: None,
        checked: BTreeMap::new(),
        recheck: BTreeSet::new(),
        builds,
    };
    r.relist().await;
    info!("control plane reconcilers running");
    let mut timer = tokio::time::interval(tick);
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => {
                match ev {
                    Ok(ev) => r.observe(ev).await,
                    Err(RecvError::Lagged(n)) => {
                        debug!("watch lagged by {n}: re-listing");
                        r.relist().await;
                    }
                    Err(RecvError::Closed) => return,
                }
                // Take what else has arrived, so a burst is one batch.
                loop {
                    match events.try_recv() {
                        Ok(ev) => r.observe(ev).await,
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => r.relist().await,
                        Err(_) => break,
                    }
                }
            }
            Some(ended) = builds_ended.recv() => {
                let waiting = r.builds.ended(ended);
                r.dirty.apps.extend(waiting);
            }
            _ = timer.tick() => r.timers(),
            _ = shutdown.changed() => return,
        }
        r.reconcile_dirty().await;
        r.sweep_modules().await;
    }
}

/// Puts `fresh` in place of the copy of `name` (removes it when gone) and
/// marks a present one for reconciling; returns the copy it replaced.
fn refresh<T>(
    copies: &mut BTreeMap<String, T>,
    dirty: &mut BTreeSet<String>,
    name: &str,
    fresh: Option<T>,
) -> Option<T> {
    match fresh {
        Some(x) => {
            dirty.insert(name.to_owned());
            copies.insert(name.to_owned(), x)
        }
        None => copies.remove(name),
    }
}

impl Reconciler {
    fn now(&self) -> u64 {
        (self.clock)()
    }

    async fn relist(&mut self) {
        match (self.store.list_devices().await, self.store.list_applications().await, self.store.list_gateways().await)
        {
            (Ok(d), Ok(a), Ok(g)) => {
                self.devices = d.into_iter().map(|x| (x.meta.name.clone(), x)).collect();
                self.apps = a.into_iter().map(|x| (x.meta.name.clone(), x)).collect();
                self.gateways = g.into_iter().map(|x| (x.meta.name.clone(), x)).collect();
                self.dirty.devices.extend(self.devices.keys().cloned());
                self.dirty.apps.extend(self.apps.keys().cloned());
                self.dirty.gateways.extend(self.gateways.keys().cloned());
            }
            (d, a, g) => {
                let err = d.err().or(a.err()).or(g.err()).map(|e| e.to_string()).unwrap_or_default();
                warn!("cannot list resources: {err}; retrying on the next event");
            }
        }
    }

    /// Refreshes the copy of what `ev` names and marks what it makes stale.
    async fn observe(&mut self, ev: Event) {
        match ev.kind {
            EventKind::Device => {
                let fresh = if ev.deleted { Ok(None) } else { self.store.get_device(&ev.name).await };
                let Ok(fresh) = fresh else { return };
                let old = refresh(&mut self.devices, &mut self.dirty.devices, &ev.name, fresh);
                let fresh = self.devices.get(&ev.name);
                let changed = match (&old, fresh) {
                    (Some(o), Some(n)) => relevant(o) != relevant(n),
                    _ => true,
                };
                if changed {
                    for d in [old.as_ref(), fresh].into_iter().flatten() {
                        let hit: Vec<String> = self
                            .apps
                            .values()
                            .filter(|a| targets(a, &d.spec.labels) || targets_board(a, d))
                            .map(|a| a.meta.name.clone())
                            .collect();
                        self.dirty.apps.extend(hit);
                    }
                }
            }
            EventKind::Application => {
                let fresh = if ev.deleted { Ok(None) } else { self.store.get_application(&ev.name).await };
                let Ok(fresh) = fresh else { return };
                refresh(&mut self.apps, &mut self.dirty.apps, &ev.name, fresh);
                // Devices' Synced conditions depend on what their apps assign.
                if !ev.status_only || ev.deleted {
                    self.dirty.devices.extend(self.devices.keys().cloned());
                }
            }
            EventKind::Gateway => {
                let fresh = if ev.deleted { Ok(None) } else { self.store.get_gateway(&ev.name).await };
                let Ok(fresh) = fresh else { return };
                let gone = fresh.is_none();
                refresh(&mut self.gateways, &mut self.dirty.gateways, &ev.name, fresh);
                // Edge applications' rollouts read what gateways report.
                self.dirty.apps.extend(
                    self.apps.values().filter(|a| a.spec.runtime == Runtime::Edge).map(|a| a.meta.name.clone()),
                );
                if gone {
                    // Its devices need another one.
                    self.dirty.devices.extend(
                        self.devices
                            .values()
                            .filter(|d| d.spec.gateway.as_deref() == Some(&ev.name))
                            .map(|d| d.meta.name.clone()),
                    );
                }
            }
        }
    }

    /// Deletes modules unused for their grace, when a sweep is due.
    async fn sweep_modules(&mut self) {
        let Some(grace) = self.cfg.module_grace_ms else { return };
        let now = self.now();
        if now < self.next_sweep_ms {
            return;
        }
        self.next_sweep_ms = now + (grace / 4).max(self.cfg.tick_ms);
        // Read afresh, not from the copy: a deploy written a moment ago counts.
        let (stored, apps) = match (self.store.list_modules().await, self.store.list_applications().await) {
            (Ok(m), Ok(a)) => (m, a),
            (m, a) => {
                let err = m.err().or(a.err()).map(|e| e.to_string()).unwrap_or_default();
                warn!("module sweep skipped: {err}");
                return;
            }
        };
        for digest in self.modules.sweep(&stored, &used(&apps), now, grace) {
            match self.store.delete_module(&digest).await {
                Ok(()) => info!(module = %digest, "module deleted: no application or kept revision uses it"),
                Err(e) => warn!(module = %digest, "deleting an unused module: {e}; tried again after another grace"),
            }
        }
    }

    /// Marks what time alone made stale.
    fn timers(&mut self) {
        let now = self.now();
        self.dirty.apps.append(&mut self.recheck);
        // A rotated key signs every application's manifests again.
        let key_id = self.cfg.signer.as_ref().and_then(|k| k.read().ok().map(|k| k.id()));
        if key_id != self.signed_with {
            self.signed_with = key_id;
            self.dirty.apps.extend(self.apps.keys().cloned());
        }
        for d in self.devices.values() {
            let late = d.status.phase == DevicePhase::Online && heartbeat_deadline(&d.status).is_none_or(|t| now > t);
            if late {
                self.dirty.devices.insert(d.meta.name.clone());
            }
        }
        for g in self.gateways.values() {
            if gateways::health(g, now) != g.status.health {
                self.dirty.gateways.insert(g.meta.name.clone());
            }
        }
        for a in self.apps.values() {
            // Soak times and resumed rollouts move with time.
            if a.status.rollout.as_ref().is_some_and(|ro| ro.phase == RolloutPhase::Progressing)
                || a.status.observed_generation != a.meta.generation
            {
                self.dirty.apps.insert(a.meta.name.clone());
            }
        }
        // Devices left without a healthy gateway.
        if self.cfg.assign_gateways {
            for d in self.devices.values() {
                let dead = d.spec.gateway.as_deref().is_none_or(|g| {
                    self.gateways
                        .get(g)
                        .is_none_or(|gw| gateways::health(gw, now) == wasmbed_model::GatewayHealth::Unhealthy)
                });
                if dead && !self.gateways.is_empty() {
                    self.dirty.devices.insert(d.meta.name.clone());
                }
            }
        }
    }

    async fn reconcile_dirty(&mut self) {
        let now = self.now();
        let mut failed: Vec<(Kind, String, StoreError)> = Vec::new();
        for name in std::mem::take(&mut self.dirty.gateways) {
            let Some(g) = self.gateways.get(&name) else { continue };
            let h = gateways::health(g, now);
            if h != g.status.health {
                info!(gateway = %name, "gateway is {h:?}");
                if let Err(e) = self.store.patch_gateway_status(&name, GatewayStatusPatch::Health(h)).await {
                    failed.push((Kind::Gateway, name, e));
                }
            }
        }
        let dirty_devices = std::mem::take(&mut self.dirty.devices);
        if !dirty_devices.is_empty() {
            let apps: Vec<Application> = self.apps.values().cloned().collect();
            let gws: Vec<Gateway> = self.gateways.values().cloned().collect();
            // Counted only if some device needs placing, with the moves
            // made before in this pass.
            let mut load: Option<BTreeMap<String, u32>> = None;
            let mut moves: Vec<(Option<String>, String)> = Vec::new();
            for name in dirty_devices {
                let Some(d) = self.devices.get(&name) else { continue };
                let (phase, conditions) = lifecycle(d, &desired_apps(d, &apps), now);
                if phase != d.status.phase || conditions != d.status.conditions {
                    if phase != d.status.phase {
                        info!(device = %name, "{} → {}", d.status.phase.as_str(), phase.as_str());
                    }
                    let patch = DeviceStatusPatch::Lifecycle { phase, conditions };
                    if let Err(e) = self.store.patch_device_status(&name, patch).await {
                        failed.push((Kind::Device, name.clone(), e));
                    }
                }
                if !self.cfg.assign_gateways {
                    continue;
                }
                let (devices, slot, made) = (&self.devices, &mut load, &moves);
                let Some(g) = gateways::assign_lazily(d, &gws, now, move || counted_load(slot, devices.values(), made))
                else {
                    continue;
                };
                let mut moved = d.clone();
                info!(device = %name, from = ?moved.spec.gateway, to = %g, "gateway assigned");
                match load.as_mut() {
                    Some(l) => move_one(l, moved.spec.gateway.as_deref(), &g),
                    None => moves.push((moved.spec.gateway.clone(), g.clone())),
                }
                moved.spec.gateway = Some(g);
                if let Err(e) = self.store.update_device_spec(&moved).await {
                    failed.push((Kind::Device, name, e));
                }
            }
        }
        let dirty_apps = std::mem::take(&mut self.dirty.apps);
        if !dirty_apps.is_empty() {
            let devices: Vec<&Device> = self.devices.values().collect();
            let gateways: Vec<&Gateway> = self.gateways.values().collect();
            for name in dirty_apps {
                let Some(a) = self.apps.get(&name) else { continue };
                let mut next = reconcile_fleet(a, &devices, &gateways, now);
                if a.spec.runtime == Runtime::Device {
                    // Built before signing: the manifest names the artifacts.
                    let boards = native::target_boards(a, devices.iter().copied());
                    if self.builds.advance(&name, &mut next, &boards) {
                        // Reconciled again when its builds end.
                        continue;
                    }
                    next = native::with_condition(&a.status.conditions, next, now);
                }
                // Edge components are compiled (and so checked) by the
                // gateway that runs them; device modules are not.
                let device = a.spec.runtime == Runtime::Device;
                let mut unavailable: BTreeMap<String, CheckError> = BTreeMap::new();
                if let Some(check) = self.cfg.module_check.as_ref().filter(|_| device) {
                    for digest in native::sent_digests(&next) {
                        if self.checked.contains_key(&digest) {
                            continue;
                        }
                        match check.check(&digest).await {
                            Ok(()) => {
                                self.checked.insert(digest, Ok(()));
                            }
                            Err(e @ CheckError::Invalid(_)) => {
                                warn!(app = %name, "module {digest} is not signed: {e}");
                                self.checked.insert(digest, Err(e));
                            }
                            // Not a verdict: asked again at the next tick.
                            Err(e) => {
                                debug!(app = %name, "module {digest} is not signed yet: {e}");
                                self.recheck.insert(name.clone());
                                unavailable.insert(digest, e);
                            }
                        }
                    }
                }
                if let Some(key) = self.cfg.signer.as_ref().and_then(|k| k.read().ok()) {
                    let (check, checked) = (device && self.cfg.module_check.is_some(), &self.checked);
                    let refused = |d: &str| match checked.get(d) {
                        _ if !check => None,
                        Some(Ok(())) => None,
                        Some(Err(e)) => Some(e.clone()),
                        None => {
                            Some(unavailable.get(d).cloned().unwrap_or(CheckError::Unavailable("unchecked".into())))
                        }
                    };
                    sign_manifests(&name, &mut next, &key, |d| refused(d).is_none());
                    if device {
                        next = with_signed_condition(&a.status.conditions, next, refused, now);
                    }
                }
                if next == a.status {
                    continue;
                }
                let (before, after) = (a.status.rollout.as_ref(), next.rollout.as_ref());
                if before.map(|r| (r.revision, r.phase, r.step)) != after.map(|r| (r.revision, r.phase, r.step))
                    && let Some(ro) = after
                {
                    info!(app = %name, revision = ro.revision, step = ro.step, phase = ro.phase.as_str(), "rollout");
                }
                // On success the event of this write refreshes the copy.
                if let Err(e) = self.store.update_application_status(&name, &next).await {
                    failed.push((Kind::App, name, e));
                }
            }
        }
        for (kind, name, e) in failed {
            self.retry_later(kind, name, &e);
        }
    }

    fn retry_later(&mut self, kind: Kind, name: String, e: &StoreError) {
        match e {
            StoreError::NotFound { .. } => return,
            StoreError::Conflict { .. } => debug!("{name}: {e}; retrying"),
            _ => warn!("{name}: {e}; retrying"),
        }
        let set = match kind {
            Kind::Device => &mut self.dirty.devices,
            Kind::App => &mut self.dirty.apps,
            Kind::Gateway => &mut self.dirty.gateways,
        };
        set.insert(name);
    }
}

/// The fleet's load in `slot`, counted now if it was not (from `devices`
/// and the `moves` made since they were read).
fn counted_load<'a, 'd>(
    slot: &'a mut Option<BTreeMap<String, u32>>,
    devices: impl Iterator<Item = &'d Device>,
    moves: &[(Option<String>, String)],
) -> &'a BTreeMap<String, u32> {
    slot.get_or_insert_with(|| {
        let mut l = gateways::load(devices);
        for (from, to) in moves {
            move_one(&mut l, from.as_deref(), to);
        }
        l
    })
}

/// Counts a device moved from gateway `from` to `to` in `load`.
fn move_one(load: &mut BTreeMap<String, u32>, from: Option<&str>, to: &str) {
    if let Some(n) = from.and_then(|f| load.get_mut(f)) {
        *n = n.saturating_sub(1);
    }
    *load.entry(to.to_owned()).or_insert(0) += 1;
}
