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
        let kv = self
            .lock()
            .get(&deploy.app)
            .map(|h| h.kv.clone())
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
                let ticker = deploy.tick.map(|every| spawn_ticker(worker.clone(), every, self.services.clone()));
                self.lock().insert(deploy.app.clone(), Hosted { worker: worker.clone(), kv, ticker });
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

    /// Each application's key-value store, to persist the ones whose
    /// [`Kv::changes`] moved.
    pub fn stores(&self) -> Vec<(String, Arc<Mutex<Kv>>)> {
        self.lock().iter().map(|(app, h)| (app.clone(), h.kv.clone())).collect()
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
        let workers: Vec<_> = self.lock().values().map(|h| h.worker.clone()).collect();
        workers.iter().filter(|w| w.deliver(Event::Telemetry(sample.clone())).is_err()).count()
    }

    /// Hands a message to one application.
    pub fn message(&self, app: &str, payload: Vec<u8>) -> Result<(), WorkerError> {
        let worker = self.lock().get(app).map(|h| h.worker.clone()).ok_or(WorkerError::Stopped)?;
        worker.deliver(Event::Message(payload))
    }

    /// Hands a message to one application and waits until it was handled,
    /// in its turn among the events queued before it: delivered, or why
    /// not (no version running; the version failed while handling it).
    pub async fn send(&self, app: &str, payload: Vec<u8>) -> Result<Delivery, WorkerError> {
        let Some(worker) = self.lock().get(app).map(|h| h.worker.clone()) else {
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
fn spawn_ticker(worker: Arc<Worker>, every: Duration, services: Arc<dyn Services>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            interval.tick().await;
            if let Err(WorkerError::Stopped) = worker.deliver(Event::Tick(services.now_ms())) {
                return;
            }
        }
    })
}
