//! Lazily durable status writes: device and gateway statuses, which come at
//! heartbeat rate, change the cache at once and are committed by a thread.
//!
//! Guarantees: a staged status is committed at most
//! [`STATUS_COMMIT_INTERVAL_MS`] later (plus the commit's own time), durably
//! within [`STATUS_FLUSH_INTERVAL_MS`], and durably when the store is
//! dropped; a commit that fails keeps its statuses for the next round; a
//! deleted resource's status row is never written back. Assumes: deletes
//! take the `flushing` lock and drop the resource's pending status under
//! it (see `Inner::delete`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmbed_model::{Device, Gateway, StoreError};

use crate::cache::Kind;
use crate::schema;
use crate::store::Inner;
use crate::write::{Op, not_found};

/// Device and gateway status writes are made durable at least this often,
/// which bounds what a crash can lose.
pub const STATUS_FLUSH_INTERVAL_MS: u64 = 5_000;

/// How often the flusher commits the device and gateway statuses written
/// since its last round (visible at once in the cache either way).
pub const STATUS_COMMIT_INTERVAL_MS: u64 = 100;

/// The thread that commits staged statuses every
/// [`STATUS_COMMIT_INTERVAL_MS`]. It holds the store's state weakly, so it
/// never keeps a dropped store alive.
pub(crate) struct Flusher {
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl Flusher {
    pub(crate) fn start(inner: &Arc<Inner>) -> Result<Self, StoreError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let weak = Arc::downgrade(inner);
        let thread = std::thread::Builder::new()
            .name("wasmbed-store-flush".into())
            .spawn(move || {
                let every = Duration::from_millis(STATUS_COMMIT_INTERVAL_MS);
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(e) = inner.flush_statuses(false) {
                        warn(&e);
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the status flusher: {e}")))?;
        Ok(Self { stop, thread })
    }

    /// Stops the thread, after the round in progress if there is one.
    pub(crate) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// A failed background commit has no caller to return to.
pub(crate) fn warn(e: &StoreError) {
    eprintln!("wasmbed store: cannot commit statuses: {e}");
}

impl Inner {
    /// A status change made in the cache at once and committed by the
    /// flusher (at most [`STATUS_COMMIT_INTERVAL_MS`] later, durably within
    /// [`STATUS_FLUSH_INTERVAL_MS`]): heartbeats never wait for the disk.
    /// A change that changes nothing emits no event.
    pub(crate) fn stage_status<K: Kind>(
        &self,
        name: &str,
        change: impl FnOnce(&mut K::Status),
    ) -> Result<(), StoreError> {
        {
            let mut cache = self.cache_mut()?;
            let Some(entry) = K::map_mut(&mut cache).get_mut(name) else { return Err(not_found(K::NAME, name)) };
            let mut status = entry.status().clone();
            change(&mut status);
            if status == *entry.status() {
                return Ok(());
            }
            let bytes = schema::encode(K::NAME, name, &status)?;
            *entry = K::assemble(entry.meta().clone(), entry.spec().clone(), status);
            self.pending.lock().unwrap_or_else(PoisonError::into_inner).insert((K::NAME, name.to_owned()), bytes);
        }
        self.emit(K::EVENT, name, false, true);
        Ok(())
    }

    /// Commits the staged statuses; durably when `durable` or when the last
    /// durable commit is [`STATUS_FLUSH_INTERVAL_MS`] old.
    pub(crate) fn flush_statuses(&self, durable: bool) -> Result<(), StoreError> {
        let _flushing = self.flushing.lock().unwrap_or_else(PoisonError::into_inner);
        let staged = std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        let due =
            (self.clock)().saturating_sub(self.last_durable_ms.load(Ordering::Relaxed)) >= STATUS_FLUSH_INTERVAL_MS;
        if staged.is_empty() && !durable {
            return Ok(());
        }
        let table = |kind: &str| if kind == Device::NAME { Device::STATUS } else { Gateway::STATUS };
        let ops: Vec<Op<'_>> =
            staged.iter().map(|((kind, name), bytes)| Op::Put(table(kind), name.as_str(), bytes.as_slice())).collect();
        let result = self.commit(format_args!("writing {} statuses", ops.len()), durable || due, &ops);
        if result.is_err() {
            // Kept for the next round, unless newer ones were staged meanwhile.
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            for (k, v) in staged {
                pending.entry(k).or_insert(v);
            }
        }
        result
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::sync::atomic::AtomicU64;

    use redb::{Database, ReadableDatabase, ReadableTable};
    use wasmbed_model::{
        Application, ApplicationSpec, ApplicationStatus, DeviceStatusPatch, Meta, SessionStatus, Store,
    };
    use wasmbed_testkit::device;

    use super::*;
    use crate::RedbStore;
    use crate::schema::DEVICE_STATUS;

    fn heartbeat(ms: u64) -> DeviceStatusPatch {
        DeviceStatusPatch::Session(SessionStatus { last_heartbeat_ms: Some(ms), ..SessionStatus::default() })
    }

    #[tokio::test]
    async fn unchanged_status_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        store.create_device(device("dev-1")).await.unwrap();
        store
            .put_application(&Application {
                meta: Meta { name: "demo".into(), ..Meta::default() },
                spec: ApplicationSpec { selector: "a=b".into(), ..ApplicationSpec::new("1", &"ab".repeat(32), 1) },
                status: ApplicationStatus::default(),
            })
            .await
            .unwrap();
        let watch = store.watch();
        let app_status = ApplicationStatus { desired: 2, ..ApplicationStatus::default() };

        store.patch_device_status("dev-1", heartbeat(1)).await.unwrap();
        store.update_application_status("demo", &app_status).await.unwrap();
        assert_eq!(watch.len(), 2);
        let commits = store.commits();
        store.inner().flush_statuses(false).unwrap();
        assert_eq!(store.commits(), commits + 1, "the staged status, in one commit");

        store.patch_device_status("dev-1", heartbeat(1)).await.unwrap();
        store.update_application_status("demo", &app_status).await.unwrap();
        // The default status of a fresh device is "unchanged" too.
        store.create_device(device("dev-2")).await.unwrap();
        store.patch_device_status("dev-2", DeviceStatusPatch::Session(SessionStatus::default())).await.unwrap();
        let after_create = store.commits();
        store.inner().flush_statuses(false).unwrap();
        store.put_module(&"cd".repeat(32), b"m").await.unwrap();
        let after_module = store.commits();
        store.put_module(&"cd".repeat(32), b"m").await.unwrap();

        assert_eq!(after_module, after_create + 1, "nothing was staged: only the module committed");
        assert_eq!(store.commits(), after_module, "unchanged writes commit nothing");
        assert_eq!(watch.len(), 3, "only the create emitted");
    }

    #[tokio::test]
    async fn status_writes_flush_on_the_interval() {
        let now = Arc::new(AtomicU64::new(1_000));
        let clock = {
            let now = Arc::clone(&now);
            Arc::new(move || now.load(Ordering::Relaxed))
        };
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open_with_clock(&dir.path().join("s.redb"), clock).unwrap();
        store.create_device(device("dev-1")).await.unwrap();
        let durable_at = || store.inner().last_durable_ms.load(Ordering::Relaxed);
        assert_eq!(durable_at(), 1_000);

        now.store(1_000 + STATUS_FLUSH_INTERVAL_MS - 1, Ordering::Relaxed);
        store.patch_device_status("dev-1", heartbeat(1)).await.unwrap();
        assert_eq!(store.get_device("dev-1").await.unwrap().unwrap().status.session.last_heartbeat_ms, Some(1));
        store.inner().flush_statuses(false).unwrap();
        assert_eq!(durable_at(), 1_000, "not due yet: no fsync");

        now.store(1_000 + STATUS_FLUSH_INTERVAL_MS, Ordering::Relaxed);
        store.patch_device_status("dev-1", heartbeat(2)).await.unwrap();
        store.inner().flush_statuses(false).unwrap();
        assert_eq!(durable_at(), 1_000 + STATUS_FLUSH_INTERVAL_MS, "due: this one was durable");
    }

    #[tokio::test]
    async fn a_deleted_device_status_is_not_written_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = RedbStore::open(&path).unwrap();
        store.create_device(device("dev-1")).await.unwrap();
        store.patch_device_status("dev-1", heartbeat(1)).await.unwrap();
        store.delete_device("dev-1").await.unwrap();
        store.inner().flush_statuses(true).unwrap();
        drop(store);
        let txn = Database::create(&path).unwrap().begin_read().unwrap();
        let rows = txn.open_table(DEVICE_STATUS).unwrap().iter().unwrap().count();
        assert_eq!(rows, 0, "no status row without its device");
    }
}
