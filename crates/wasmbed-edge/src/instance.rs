//! One running version of an application: a component instance in its own
//! store, called one export at a time under a deadline. A call that fails
//! leaves the instance unusable (a trap may stop it anywhere), so a failure
//! consumes it.

use std::fmt;

use std::time::{Duration, Instant};
use thiserror::Error;

use wasmtime::{Store, Trap, UpdateDeadline};

use crate::bindings::wasmbed::edge::types::Sample;
use crate::engine::{EdgeEngine, Prepared};
use crate::host::{CallCounters, Context, HostState};
use crate::limits::Limiter;

/// Why a version stopped (or never started).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Failure {
    /// Instantiation failed (its initial memory is over the limit, the
    /// engine's pool is full, ...).
    #[error("could not instantiate: {0}")]
    Instantiate(String),
    /// `init` returned an error.
    #[error("init failed: {0}")]
    Init(String),
    /// A call ran past its deadline and was interrupted.
    #[error("{export} ran past its deadline of {deadline_ms} ms and was stopped")]
    Deadline {
        /// The export called.
        export: &'static str,
        /// The deadline.
        deadline_ms: u64,
    },
    /// Memory or a table would have grown past its limit.
    #[error("{export}: {why}")]
    Limit {
        /// The export called.
        export: &'static str,
        /// Which limit, and how far.
        why: String,
    },
    /// The component trapped.
    #[error("{export} trapped: {why}")]
    Trap {
        /// The export called.
        export: &'static str,
        /// Wasmtime's account of the trap.
        why: String,
    },
}

/// One event a version handles.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A device sample (delivered only if the version subscribed to it).
    Telemetry(Sample),
    /// A message sent to the application.
    Message(Vec<u8>),
    /// The application's tick, with the time.
    Tick(i64),
}

impl Event {
    /// The export that handles it.
    pub fn export(&self) -> &'static str {
        match self {
            Self::Telemetry(_) => "on-telemetry",
            Self::Message(_) => "on-message",
            Self::Tick(_) => "on-tick",
        }
    }
}

/// What a delivered event came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The export ran to completion.
    Handled,
    /// A sample of a metric the version did not subscribe to.
    NotSubscribed,
}

/// A running version.
pub struct Instance {
    store: Store<HostState>,
    bindings: crate::bindings::Component,
    deadline_ticks: u64,
    deadline_ms: u64,
}

impl fmt::Debug for Instance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Instance").field("state", self.store.data()).finish()
    }
}

impl Instance {
    /// Instantiates `prepared` and runs its `init`.
    pub fn start(engine: &EdgeEngine, prepared: &Prepared, cx: Context) -> Result<Self, Failure> {
        let limits = *engine.limits();
        let mut store = Store::new(engine.engine(), HostState::new(cx, Limiter::new(&limits)));
        store.limiter(|s| &mut s.limiter);
        store.set_epoch_deadline(limits.deadline_ticks());
        // At the deadline, time spent waiting on the host (a board's
        // answer) is given back; the component's own time, or the call's
        // whole time past the wall limit, stops it.
        let (deadline, wall) = (limits.call_deadline, limits.call_wall_limit);
        store.epoch_deadline_callback(move |cx| {
            let state = cx.data();
            let elapsed = state.call_started.elapsed();
            let own = elapsed.saturating_sub(state.host_time);
            if own >= deadline || elapsed >= wall {
                return Ok(UpdateDeadline::Interrupt);
            }
            Ok(UpdateDeadline::Continue(crate::limits::ticks(deadline - own)))
        });
        let bindings = match prepared.pre.instantiate(&mut store) {
            Ok(b) => b,
            Err(e) => {
                let why = store.data_mut().limiter.denied.take().unwrap_or_else(|| format!("{e:#}"));
                return Err(Failure::Instantiate(why));
            }
        };
        let deadline_ms = u64::try_from(limits.call_deadline.as_millis()).unwrap_or(u64::MAX);
        let mut instance = Self { store, bindings, deadline_ticks: limits.deadline_ticks(), deadline_ms };
        match instance.call("init", |b, s| b.call_init(s))? {
            Ok(()) => Ok(instance),
            Err(why) => Err(Failure::Init(why)),
        }
    }

    /// Delivers one event.
    pub fn deliver(self, event: &Event) -> Result<(Self, Delivery), Failure> {
        let mut this = self;
        let delivery = this.deliver_mut(event)?;
        Ok((this, delivery))
    }

    /// Delivers one event in place; on failure the instance must be
    /// dropped (the runtime's slot does so).
    pub(crate) fn deliver_mut(&mut self, event: &Event) -> Result<Delivery, Failure> {
        match event {
            Event::Telemetry(s) => {
                if !self.store.data().subscribed(&s.metric) {
                    return Ok(Delivery::NotSubscribed);
                }
                self.call("on-telemetry", |b, st| b.call_on_telemetry(st, s))?;
            }
            Event::Message(p) => self.call("on-message", |b, st| b.call_on_message(st, p))?,
            Event::Tick(now) => self.call("on-tick", |b, st| b.call_on_tick(st, *now))?,
        }
        Ok(Delivery::Handled)
    }

    /// What the version's host calls were refused or failed.
    pub fn counters(&self) -> CallCounters {
        self.store.data().counters
    }

    /// The metrics it subscribed to.
    pub fn subscriptions(&self) -> &[String] {
        &self.store.data().subscriptions
    }

    fn call<R>(
        &mut self,
        export: &'static str,
        f: impl FnOnce(&crate::bindings::Component, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, Failure> {
        let state = self.store.data_mut();
        state.call_started = Instant::now();
        state.host_time = Duration::ZERO;
        self.store.set_epoch_deadline(self.deadline_ticks);
        f(&self.bindings, &mut self.store).map_err(|e| {
            if let Some(why) = self.store.data_mut().limiter.denied.take() {
                Failure::Limit { export, why }
            } else if e.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
                Failure::Deadline { export, deadline_ms: self.deadline_ms }
            } else {
                Failure::Trap { export, why: format!("{e:#}") }
            }
        })
    }
}
