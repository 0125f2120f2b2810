//! The edge tier on a gateway: the applications of `runtime: edge` it runs
//! as WebAssembly components (`wasmbed-edge`), each on its own worker, fed
//! the samples of the devices this gateway serves and its tick; and the
//! boards wired to it ([`LinkedBoard`]).
//!
//! A deploy compiles, links for the grants and stages the new version off
//! the async runtime (its `init` may call a board, which blocks), then
//! commits it between two events; a version that fails to stage leaves the
//! running one serving. Every lifecycle step is logged and sent on the
//! journal the gateway's owner audits.

pub(crate) mod apps;
pub(crate) mod attached;
mod board;
mod vouch;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use thiserror::Error;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use wasmbed_edge::kv::Kv;
use wasmbed_edge::worker::{Status, WorkerError};
use wasmbed_edge::{
    BoardPort, Context, EdgeEngine, Event, Failure, Grants, Lifecycle, Limits, LoadError, NoPrevious, Sample, Services,
    Slot, SlotState, Version, Worker, stage,
};
use wasmbed_model::{EdgeStep, EdgeStepKind};
use wasmbed_protocol::Delivery;

pub use board::LinkedBoard;
pub use vouch::{PinnedKey, Unvouched};

/// One version of an edge application, as the control plane assigns it.
#[derive(Clone)]
pub struct EdgeDeploy {
    /// The application.
    pub app: String,
    /// Its revision and version label.
    pub version: Version,
    /// The component binary.
    pub component: Arc<[u8]>,
    /// What it may import.
    pub grants: Grants,
    /// Its config.
    pub config: BTreeMap<String, String>,
    /// The board it drives, for an application that targets one.
    pub board: Option<Arc<dyn BoardPort>>,
    /// Its tick interval (none: never ticked).
    pub tick: Option<Duration>,
    /// Its key-value store as the platform kept it, taken when the
    /// application is not running here yet (a running one keeps its own).
    pub state: Option<Kv>,
    /// Fed events from the start (`false`: a blue-green revision installed
    /// beside the running one, idle until switched to).
    pub active: bool,
}

impl std::fmt::Debug for EdgeDeploy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeDeploy")
            .field("app", &self.app)
            .field("version", &self.version)
            .field("bytes", &self.component.len())
            .field("grants", &self.grants)
            .finish()
    }
}

/// Why a deploy did not take.
#[derive(Debug, Error)]
pub enum EdgeDeployError {
    /// The component could not be loaded (invalid, too large, an import
    /// not granted).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The new version failed to start; the running one (if any) serves on.
    #[error("{0}")]
    Start(Failure),
    /// The application's worker is gone.
    #[error(transparent)]
    Worker(#[from] WorkerError),
    /// No thread could be started for it.
    #[error("no worker thread: {0}")]
    Thread(String),
}

/// A lifecycle step of an edge application on this gateway, as the
/// status reports it; the runner numbers and times it.
pub type JournalEntry = EdgeStep;

/// The step `step` of the application in `slot`, not yet numbered.
fn journal_entry(slot: &str, step: Lifecycle) -> EdgeStep {
    let (kind, at, other, reason) = match step {
        Lifecycle::Started { version, replaced } => (EdgeStepKind::Started, Some(version), replaced, None),
        Lifecycle::StageFailed { version, failure } => {
            (EdgeStepKind::StageFailed, Some(version), None, Some(failure.to_string()))
        }
        Lifecycle::Failed { version, failure } => {
            (EdgeStepKind::Failed, Some(version), None, Some(failure.to_string()))
        }
        Lifecycle::RolledBack { from, to } => (EdgeStepKind::RolledBack, Some(to), from, None),
        Lifecycle::Stopped => (EdgeStepKind::Stopped, None, None, None),
    };
    EdgeStep {
        seq: 0,
        at_ms: 0,
        slot: slot.to_string(),
        kind,
        revision: at.as_ref().map(|v| v.revision),
        version: at.map(|v| v.label),
        other: other.map(|v| v.revision),
        reason,
    }
}

struct Hosted {
    worker: Arc<Worker>,
    kv: Arc<Mutex<Kv>>,
    /// The slot its state is kept under (blue-green revisions share it).
    state_key: String,
    /// Whether it is fed events: a blue-green revision installed beside the
    /// running one is instantiated, initialised and idle.
    active: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Drop for Hosted {
    fn drop(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
    }
}

/// The edge applications this gateway runs.
pub struct EdgeHost {
    engine: EdgeEngine,
    services: Arc<dyn Services>,
    apps: Mutex<BTreeMap<String, Hosted>>,
    journal: mpsc::UnboundedSender<JournalEntry>,
}

impl std::fmt::Debug for EdgeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgeHost").field("apps", &self.apps().len()).finish()
    }
}

impl EdgeHost {
    /// A host for components within `limits`; the journal's receiver is
    /// returned beside it.
    pub fn new(
        limits: Limits,
        services: Arc<dyn Services>,
    ) -> Result<(Self, mpsc::UnboundedReceiver<JournalEntry>), LoadError> {
        let (journal, rx) = mpsc::unbounded_channel();
        let engine = EdgeEngine::new(limits)?;
        Ok((Self { engine, services, apps: Mutex::new(BTreeMap::new()), journal }, rx))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Hosted>> {
        self.apps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The applications hosted, by name.
    pub fn apps(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Runs `deploy`'s version: the first one of its application, or a hot
    /// swap of the running one.
    pub async fn deploy(&self, deploy: EdgeDeploy) -> Result<(), EdgeDeployError> {
        let state_key = wasmbed_control::desired::unversioned_slot(&deploy.app);
        let kv = {
            let apps = self.lock();
            let shared = apps.get(&deploy.app).or_else(|| apps.values().find(|h| h.state_key == state_key));
            shared.map(|h| h.kv.clone())
        }
        .unwrap_or_else(|| Arc::new(Mutex::new(deploy.state.clone().unwrap_or_default())));
        let cx = Context {
            app: deploy.app.as_str().into(),
            config: Arc::new(deploy.config.clone()),
            kv: kv.clone(),
            services: self.services.clone(),
            board: deploy.board.clone(),
        };
        let engine = self.engine.clone();
        let (component, grants, version) = (deploy.component.clone(), deploy.grants, deploy.version.clone());
        // Compiling takes milliseconds and init may block on a board: off
        // the async runtime.
        let staged = tokio::task::spawn_blocking(move || {
            let prepared = engine.prepare(&engine.compile(&component)?, grants)?;
            Ok::<_, EdgeDeployError>(stage(&engine, &prepared, version, cx))
        })
        .await
        .map_err(|e| EdgeDeployError::Thread(e.to_string()));
        let staged = match staged.and_then(|s| s.and_then(|s| s.map_err(EdgeDeployError::Start))) {
            Ok(s) => s,
            Err(e) => {
                warn!(app = %deploy.app, version = %deploy.version, "edge version did not start ({e}); the running one serves on");
                self.refused(&deploy.app, &deploy.version, &e.to_string());
                return Err(e);
            }
        };
        let existing = self.lock().get(&deploy.app).map(|h| h.worker.clone());
        let worker = match existing {
            Some(w) => w,
            None => {
                let journal = self.journal.clone();
                let worker = Worker::spawn(Slot::new(deploy.app.clone()), move |app, step| {
                    info!(app, step = ?step, "edge application");
                    let _ = journal.send(journal_entry(app, step));
                })
                .map_err(|e| EdgeDeployError::Thread(e.to_string()))?;
                let worker = Arc::new(worker);
                let active = Arc::new(AtomicBool::new(deploy.active));
                let ticker =
                    deploy.tick.map(|every| spawn_ticker(worker.clone(), active.clone(), every, self.services.clone()));
                let hosted = Hosted { worker: worker.clone(), kv, state_key, active, ticker };
                self.lock().insert(deploy.app.clone(), hosted);
                worker
            }
        };
        let w = worker.clone();
        tokio::task::spawn_blocking(move || w.commit(staged))
            .await
            .map_err(|e| EdgeDeployError::Thread(e.to_string()))??;
        Ok(())
    }

    /// Puts an application's previous version back.
    pub async fn rollback(&self, app: &str) -> Result<Result<Version, NoPrevious>, WorkerError> {
        let worker = self.lock().get(app).map(|h| h.worker.clone()).ok_or(WorkerError::Stopped)?;
        tokio::task::spawn_blocking(move || worker.rollback()).await.map_err(|_| WorkerError::Stopped)?
    }

    /// An application's status.
    pub async fn status(&self, app: &str) -> Result<Status, WorkerError> {
        let worker = self.lock().get(app).map(|h| h.worker.clone()).ok_or(WorkerError::Stopped)?;
        tokio::task::spawn_blocking(move || worker.status()).await.map_err(|_| WorkerError::Stopped)?
    }

    /// Records that `version` of `app` was not started, and why (a refusal
    /// before it reached this host, or a failed stage): a `StageFailed` step.
    pub fn refused(&self, app: &str, version: &Version, why: &str) {
        let _ = self.journal.send(EdgeStep {
            kind: EdgeStepKind::StageFailed,
            revision: Some(version.revision),
            version: Some(version.label.clone()),
            reason: Some(why.to_string()),
            ..journal_entry(app, Lifecycle::Stopped)
        });
    }

    /// Each key-value store, by the slot it is kept under, to persist the
    /// ones whose [`Kv::changes`] moved.
    pub fn stores(&self) -> Vec<(String, Arc<Mutex<Kv>>)> {
        let apps = self.lock();
        let stores: BTreeMap<&str, &Arc<Mutex<Kv>>> = apps.values().map(|h| (h.state_key.as_str(), &h.kv)).collect();
        stores.into_iter().map(|(key, kv)| (key.to_string(), kv.clone())).collect()
    }

    /// Whether a hosted slot keeps its state under `key`.
    pub fn keeps(&self, key: &str) -> bool {
        self.lock().values().any(|h| h.state_key == key)
    }

    /// Feeds an application events (`true`), or leaves it installed and
    /// idle (`false`: a blue-green revision beside the running one, or the
    /// one kept after a switch); whether it is hosted.
    pub fn set_active(&self, app: &str, active: bool) -> bool {
        self.lock().get(app).map(|h| h.active.store(active, Ordering::Relaxed)).is_some()
    }

    /// Whether an application is hosted and fed events.
    fn worker_if_active(&self, app: &str) -> Option<Arc<Worker>> {
        self.lock().get(app).filter(|h| h.active.load(Ordering::Relaxed)).map(|h| h.worker.clone())
    }

    /// Stops an application and drops its versions (its kv store with it:
    /// the platform keeps the persistent copy).
    pub async fn remove(&self, app: &str) {
        let hosted = self.lock().remove(app);
        if let Some(h) = hosted {
            // Joining the worker waits for the event in progress.
            // (The worker journals the slot's Stopped step as it ends.)
            let _ = tokio::task::spawn_blocking(move || drop(h)).await;
        }
    }

    /// Hands a device sample to every application (each takes the metrics
    /// it subscribed to); returns how many queues were full.
    pub fn sample(&self, sample: &Sample) -> usize {
        let workers: Vec<_> =
            self.lock().values().filter(|h| h.active.load(Ordering::Relaxed)).map(|h| h.worker.clone()).collect();
        workers.iter().filter(|w| w.deliver(Event::Telemetry(sample.clone())).is_err()).count()
    }

    /// Hands a message to one application.
    pub fn message(&self, app: &str, payload: Vec<u8>) -> Result<(), WorkerError> {
        let worker = self.worker_if_active(app).ok_or(WorkerError::Stopped)?;
        worker.deliver(Event::Message(payload))
    }

    /// Hands a message to one application and waits until it was handled,
    /// in its turn among the events queued before it: delivered, or why
    /// not (no version running; the version failed while handling it).
    pub async fn send(&self, app: &str, payload: Vec<u8>) -> Result<Delivery, WorkerError> {
        let Some(worker) = self.worker_if_active(app) else {
            return Ok(Delivery::NotRunning);
        };
        tokio::task::spawn_blocking(move || {
            let before = worker.status()?;
            if !matches!(before.state, SlotState::Running(_)) {
                return Ok(Delivery::NotRunning);
            }
            worker.deliver(Event::Message(payload))?;
            worker.settle()?;
            let after = worker.status()?;
            Ok(if after.counters.failures > before.counters.failures { Delivery::Failed } else { Delivery::Delivered })
        })
        .await
        .map_err(|_| WorkerError::Stopped)?
    }
}

/// Delivers `Tick(now)` every `every`; a tick that finds the queue full is
/// skipped (the next one comes soon).
fn spawn_ticker(
    worker: Arc<Worker>,
    active: Arc<AtomicBool>,
    every: Duration,
    services: Arc<dyn Services>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            if !active.load(Ordering::Relaxed) {
                continue;
            }
            if let Err(WorkerError::Stopped) = worker.deliver(Event::Tick(services.now_ms())) {
                return;
            }
        }
    })
}
