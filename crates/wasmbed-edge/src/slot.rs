//! One application on one gateway: the version that handles its events,
//! the previous one kept for rollback, and every lifecycle step in a
//! journal the gateway audits.
//!
//! A hot swap has two halves. [`stage`] instantiates the new version and
//! runs its `init` — on any thread, while the old version keeps handling
//! events. [`Slot::commit`] then swaps the two between two events: the
//! slot is driven by one thread (see [`crate::worker`]), so every event is
//! handled once, by the version running when its turn comes.
//! A version whose `init` fails never reaches the slot: the old one keeps
//! serving.

use std::fmt;

use crate::engine::{EdgeEngine, Prepared};
use crate::host::{CallCounters, Context};
use crate::instance::{Delivery, Event, Failure, Instance};

/// Which version of an application (the control plane's revision).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version {
    /// The application's revision.
    pub revision: u64,
    /// The version label it was deployed with.
    pub label: String,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "revision {} ({})", self.revision, self.label)
    }
}

/// A version instantiated and initialised, ready to be committed.
#[derive(Debug)]
pub struct Staged {
    version: Version,
    instance: Instance,
}

impl Staged {
    /// Which version it is.
    pub fn version(&self) -> &Version {
        &self.version
    }
}

/// Instantiates `prepared` as `version` and runs its `init`.
pub fn stage(engine: &EdgeEngine, prepared: &Prepared, version: Version, cx: Context) -> Result<Staged, Failure> {
    Instance::start(engine, prepared, cx).map(|instance| Staged { version, instance })
}

/// A step in an application's life on this gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lifecycle {
    /// A version was committed: it handles events from now on.
    Started {
        /// The version.
        version: Version,
        /// The one it replaced (kept for rollback), if any.
        replaced: Option<Version>,
    },
    /// A version could not be staged; the running one (if any) kept serving.
    StageFailed {
        /// The version.
        version: Version,
        /// Why.
        failure: Failure,
    },
    /// The running version failed while handling an event and was dropped.
    Failed {
        /// The version.
        version: Version,
        /// Why.
        failure: Failure,
    },
    /// The previous version was put back.
    RolledBack {
        /// The version dropped or set aside.
        from: Option<Version>,
        /// The version running again.
        to: Version,
    },
    /// The application was removed from this gateway.
    Stopped,
}

/// Where the slot stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState {
    /// Nothing committed yet.
    Empty,
    /// A version handles events.
    Running(Version),
    /// The running version failed; events are dropped (and counted) until
    /// a new version is committed or the previous one rolled back.
    Failed {
        /// The version that failed.
        version: Version,
        /// Why.
        failure: Failure,
    },
}

/// Event counts of a slot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlotCounters {
    /// Events an export handled.
    pub handled: u64,
    /// Samples of metrics the running version did not subscribe to.
    pub unsubscribed: u64,
    /// Events that arrived with no running version.
    pub dropped: u64,
    /// Versions that failed while running.
    pub failures: u64,
    /// Versions committed.
    pub swaps: u64,
    /// Rollbacks.
    pub rollbacks: u64,
}

/// Why a rollback could not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no previous version is kept on this gateway")]
pub struct NoPrevious;

/// One application on this gateway.
pub struct Slot {
    app: String,
    active: Option<Staged>,
    previous: Option<Staged>,
    state: SlotState,
    counters: SlotCounters,
    journal: Vec<Lifecycle>,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot").field("app", &self.app).field("state", &self.state).finish()
    }
}

impl Slot {
    /// A slot with nothing running.
    pub fn new(app: impl Into<String>) -> Self {
        Self {
            app: app.into(),
            active: None,
            previous: None,
            state: SlotState::Empty,
            counters: SlotCounters::default(),
            journal: Vec::new(),
        }
    }

    /// The application's name.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Where it stands.
    pub fn state(&self) -> &SlotState {
        &self.state
    }

    /// Its event counts.
    pub fn counters(&self) -> SlotCounters {
        self.counters
    }

    /// The running version's host-call counters.
    pub fn call_counters(&self) -> Option<CallCounters> {
        self.active.as_ref().map(|s| s.instance.counters())
    }

    /// The version kept for rollback.
    pub fn previous(&self) -> Option<&Version> {
        self.previous.as_ref().map(|s| &s.version)
    }

    /// The lifecycle steps since the last call.
    pub fn take_journal(&mut self) -> Vec<Lifecycle> {
        std::mem::take(&mut self.journal)
    }

    /// Records that a version could not be staged (the slot is unchanged).
    pub fn stage_failed(&mut self, version: Version, failure: Failure) {
        self.journal.push(Lifecycle::StageFailed { version, failure });
    }

    /// Makes `staged` the running version; the one it replaces is kept for
    /// rollback (and the one kept before it is dropped).
    pub fn commit(&mut self, staged: Staged) {
        let version = staged.version.clone();
        let replaced = self.active.take();
        let replaced_version = replaced.as_ref().map(|s| s.version.clone());
        if replaced.is_some() {
            self.previous = replaced;
        }
        self.active = Some(staged);
        self.state = SlotState::Running(version.clone());
        self.counters.swaps += 1;
        self.journal.push(Lifecycle::Started { version, replaced: replaced_version });
    }

    /// Puts the previous version back; the current one (if still running)
    /// becomes the previous.
    pub fn rollback(&mut self) -> Result<Version, NoPrevious> {
        let back = self.previous.take().ok_or(NoPrevious)?;
        let to = back.version.clone();
        let from = match self.active.take() {
            Some(current) => {
                let v = current.version.clone();
                self.previous = Some(current);
                Some(v)
            }
            None => match &self.state {
                SlotState::Failed { version, .. } => Some(version.clone()),
                _ => None,
            },
        };
        self.active = Some(back);
        self.state = SlotState::Running(to.clone());
        self.counters.rollbacks += 1;
        self.journal.push(Lifecycle::RolledBack { from, to: to.clone() });
        Ok(to)
    }

    /// Hands one event to the running version.
    pub fn deliver(&mut self, event: &Event) {
        let Some(active) = self.active.as_mut() else {
            self.counters.dropped += 1;
            return;
        };
        match active.instance.deliver_mut(event) {
            Ok(Delivery::Handled) => self.counters.handled += 1,
            Ok(Delivery::NotSubscribed) => self.counters.unsubscribed += 1,
            Err(failure) => {
                // A trapped instance may be stopped anywhere: drop it.
                let version = active.version.clone();
                self.active = None;
                self.counters.failures += 1;
                self.counters.dropped += 1;
                self.state = SlotState::Failed { version: version.clone(), failure: failure.clone() };
                self.journal.push(Lifecycle::Failed { version, failure });
            }
        }
    }

    /// Removes every version.
    pub fn stop(&mut self) {
        self.active = None;
        self.previous = None;
        self.state = SlotState::Empty;
        self.journal.push(Lifecycle::Stopped);
    }
}
