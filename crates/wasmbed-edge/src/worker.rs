//! A slot on its own thread, fed from two queues: commands (commits,
//! rollbacks, status) go ahead of waiting events, and each is carried out
//! between two events — so a swap neither waits for a backlog of events
//! nor loses or doubles one: every event is handled once, by whichever
//! version is running when its turn comes. Staging (the slow half of a
//! swap) runs on the caller's thread while the old version keeps handling
//! events.
//!
//! The event queue is bounded: an event that finds it full is refused at
//! once (and counted by the caller) rather than stalling the gateway.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use crate::instance::Event;
use crate::slot::{Lifecycle, NoPrevious, Slot, SlotCounters, SlotState, Staged, Version};

/// Events waiting for the slot, at most.
pub const QUEUE: usize = 4096;

enum Command {
    Commit(Box<Staged>, mpsc::SyncSender<()>),
    Rollback(mpsc::SyncSender<Result<Version, NoPrevious>>),
    Status(mpsc::SyncSender<Status>),
}

/// What waits in the event queue: events, and markers that answer once
/// every event queued before them was handled.
enum Queued {
    Event(Event),
    Settled(mpsc::SyncSender<()>),
}

#[derive(Default)]
struct Queues {
    commands: VecDeque<Command>,
    events: VecDeque<Queued>,
    closed: bool,
}

/// The queues and the worker's wake-up.
#[derive(Default)]
struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // The worker never panics holding the lock; a poisoned one still
        // holds consistent queues.
        self.queues.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Next {
    Command(Command),
    Queued(Queued),
}

/// A slot's state and counts at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// Where it stands.
    pub state: SlotState,
    /// The version kept for rollback.
    pub previous: Option<Version>,
    /// Its event counts.
    pub counters: SlotCounters,
}

/// Why a command did not reach the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WorkerError {
    /// The queue is full; the event was not queued.
    #[error("the application's queue is full")]
    Full,
    /// The worker has stopped.
    #[error("the application's worker has stopped")]
    Stopped,
}

/// The handle of a slot's thread; dropping it stops the thread once the
/// queues are drained.
pub struct Worker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.shared.lock();
        f.debug_struct("Worker").field("events", &q.events.len()).field("commands", &q.commands.len()).finish()
    }
}

impl Worker {
    /// Starts a thread for `slot`; each lifecycle step goes to `journal`
    /// as it happens.
    pub fn spawn(mut slot: Slot, journal: impl Fn(&str, Lifecycle) + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let queues = shared.clone();
        let thread = thread::Builder::new().name(format!("edge-{}", slot.app())).spawn(move || {
            while let Some(next) = queues.next() {
                match next {
                    Next::Queued(Queued::Event(e)) => slot.deliver(&e),
                    Next::Queued(Queued::Settled(done)) => {
                        let _ = done.send(());
                    }
                    Next::Command(Command::Commit(staged, done)) => {
                        slot.commit(*staged);
                        let _ = done.send(());
                    }
                    Next::Command(Command::Rollback(done)) => {
                        let _ = done.send(slot.rollback());
                    }
                    Next::Command(Command::Status(reply)) => {
                        let _ = reply.send(Status {
                            state: slot.state().clone(),
                            previous: slot.previous().cloned(),
                            counters: slot.counters(),
                        });
                    }
                }
                for step in slot.take_journal() {
                    journal(slot.app(), step);
                }
            }
            slot.stop();
            for step in slot.take_journal() {
                journal(slot.app(), step);
            }
        })?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Queues an event, refusing it when the queue is full.
    pub fn deliver(&self, event: Event) -> Result<(), WorkerError> {
        let mut q = self.shared.lock();
        if q.closed {
            return Err(WorkerError::Stopped);
        }
        if q.events.len() >= QUEUE {
            return Err(WorkerError::Full);
        }
        q.events.push_back(Queued::Event(event));
        drop(q);
        self.shared.ready.notify_one();
        Ok(())
    }

    fn command<R>(&self, make: impl FnOnce(mpsc::SyncSender<R>) -> Command) -> Result<R, WorkerError> {
        let (reply, wait) = mpsc::sync_channel(1);
        {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(WorkerError::Stopped);
            }
            q.commands.push_back(make(reply));
        }
        self.shared.ready.notify_one();
        wait.recv().map_err(|_| WorkerError::Stopped)
    }

    /// Swaps `staged` in after the event being handled; returns once it
    /// handles events.
    pub fn commit(&self, staged: Staged) -> Result<(), WorkerError> {
        self.command(|done| Command::Commit(Box::new(staged), done))
    }

    /// Puts the previous version back after the event being handled.
    pub fn rollback(&self) -> Result<Result<Version, NoPrevious>, WorkerError> {
        self.command(Command::Rollback)
    }

    /// The slot's status (events still queued are not counted yet).
    pub fn status(&self) -> Result<Status, WorkerError> {
        self.command(Command::Status)
    }

    /// Returns once every event queued so far was handled.
    pub fn settle(&self) -> Result<(), WorkerError> {
        let (done, wait) = mpsc::sync_channel(1);
        {
            let mut q = self.shared.lock();
            if q.closed {
                return Err(WorkerError::Stopped);
            }
            q.events.push_back(Queued::Settled(done));
        }
        self.shared.ready.notify_one();
        wait.recv().map_err(|_| WorkerError::Stopped)
    }
}

impl Shared {
    /// The next command, else the next event; `None` once closed and
    /// drained.
    fn next(&self) -> Option<Next> {
        let mut q = self.lock();
        loop {
            if let Some(c) = q.commands.pop_front() {
                return Some(Next::Command(c));
            }
            if let Some(e) = q.events.pop_front() {
                return Some(Next::Queued(e));
            }
            if q.closed {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
