//! A slot on its own thread, fed from one queue: events, commits and
//! rollbacks are handled in the order they were sent, so a swap falls
//! between two events and none is lost or handled twice. Staging (the
//! slow half of a swap) runs on the caller's thread while the old version
//! keeps handling events.
//!
//! The queue is bounded: an event that finds it full is refused at once
//! (and counted by the caller) rather than stalling the gateway.

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::{self, JoinHandle};

use crate::instance::Event;
use crate::slot::{Lifecycle, NoPrevious, Slot, SlotCounters, SlotState, Staged, Version};

/// Events and commands waiting for the slot, at most.
pub const QUEUE: usize = 4096;

enum Command {
    Event(Event),
    Commit(Box<Staged>, mpsc::SyncSender<()>),
    Rollback(mpsc::SyncSender<Result<Version, NoPrevious>>),
    Status(mpsc::SyncSender<Status>),
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
/// queue is drained.
#[derive(Debug)]
pub struct Worker {
    tx: Option<SyncSender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts a thread for `slot`; each lifecycle step goes to `journal`
    /// as it happens.
    pub fn spawn(mut slot: Slot, journal: impl Fn(&str, Lifecycle) + Send + 'static) -> std::io::Result<Self> {
        let (tx, rx): (SyncSender<Command>, Receiver<Command>) = mpsc::sync_channel(QUEUE);
        let thread = thread::Builder::new().name(format!("edge-{}", slot.app())).spawn(move || {
            let flush = |slot: &mut Slot| {
                for step in slot.take_journal() {
                    journal(slot.app(), step);
                }
            };
            for command in rx {
                match command {
                    Command::Event(e) => slot.deliver(&e),
                    Command::Commit(staged, done) => {
                        slot.commit(*staged);
                        let _ = done.send(());
                    }
                    Command::Rollback(done) => {
                        let _ = done.send(slot.rollback());
                    }
                    Command::Status(reply) => {
                        let _ = reply.send(Status {
                            state: slot.state().clone(),
                            previous: slot.previous().cloned(),
                            counters: slot.counters(),
                        });
                    }
                }
                flush(&mut slot);
            }
            slot.stop();
            flush(&mut slot);
        })?;
        Ok(Self { tx: Some(tx), thread: Some(thread) })
    }

    fn sender(&self) -> Result<&SyncSender<Command>, WorkerError> {
        self.tx.as_ref().ok_or(WorkerError::Stopped)
    }

    /// Queues an event, refusing it when the queue is full.
    pub fn deliver(&self, event: Event) -> Result<(), WorkerError> {
        self.sender()?.try_send(Command::Event(event)).map_err(|e| match e {
            TrySendError::Full(_) => WorkerError::Full,
            TrySendError::Disconnected(_) => WorkerError::Stopped,
        })
    }

    /// Swaps `staged` in after the events queued before it; returns once
    /// it handles events.
    pub fn commit(&self, staged: Staged) -> Result<(), WorkerError> {
        let (done, wait) = mpsc::sync_channel(1);
        self.sender()?.send(Command::Commit(Box::new(staged), done)).map_err(|_| WorkerError::Stopped)?;
        wait.recv().map_err(|_| WorkerError::Stopped)
    }

    /// Puts the previous version back, after the events queued before.
    pub fn rollback(&self) -> Result<Result<Version, NoPrevious>, WorkerError> {
        let (done, wait) = mpsc::sync_channel(1);
        self.sender()?.send(Command::Rollback(done)).map_err(|_| WorkerError::Stopped)?;
        wait.recv().map_err(|_| WorkerError::Stopped)
    }

    /// The slot's status, after the events queued before.
    pub fn status(&self) -> Result<Status, WorkerError> {
        let (reply, wait) = mpsc::sync_channel(1);
        self.sender()?.send(Command::Status(reply)).map_err(|_| WorkerError::Stopped)?;
        wait.recv().map_err(|_| WorkerError::Stopped)
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
