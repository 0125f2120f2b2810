//! [`RedbStore`]: the store's handle and shared state, opening a file, and
//! the [`Store`] impl, which dispatches to the parts in the sibling
//! modules (cache, write path, status flusher, modules).
//!
//! Guarantees: a spec, module or application-status write returns after
//! its transaction committed durably, and the cache and the event follow
//! the commit. Device and gateway status writes change the cache (and send
//! their event) at once and are committed shortly after, durably within
//! seconds (see [`Store::patch_device_status`] on [`RedbStore`]). Events go
//! out in the order the cache changed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use redb::Database;
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast};
use wasmbed_model::{
    Application, ApplicationStatus, Device, DeviceStatusPatch, Event, Gateway, GatewayStatusPatch, Store, StoreError,
    WatchStream,
};

use crate::cache::{Cache, load};
use crate::flusher::{self, Flusher};
use crate::schema::{backend, init_schema};
use crate::write::Put;

/// The clock the store stamps `meta.created_ms` with: Unix milliseconds.
pub use wasmbed_model::clock::Clock;

/// Events buffered per watcher before it lags and must re-list.
const WATCH_CAPACITY: usize = 8192;

/// The embedded [`Store`]: one redb file, with every Device and Application
/// cached in memory.
///
/// Reads and lists are served from the cache and never touch the disk;
/// module bytes are read from the file. Only one process may have the file
/// open (redb locks it).
pub struct RedbStore {
    inner: Arc<Inner>,
    /// Serializes writes so that check, commit, cache update and event are
    /// one step. A tokio mutex: waiting writers yield instead of parking a
    /// runtime thread.
    writer: Arc<Mutex<()>>,
    path: PathBuf,
    /// Stopped (and its thread joined) on drop.
    flusher: Option<Flusher>,
}

/// What the store's handle, its blocking writes and the flusher thread
/// share. Its methods live with their job: reads in `cache`, writes in
/// `write`, staged statuses in `flusher`, module bytes in `modules`.
pub(crate) struct Inner {
    pub(crate) db: Database,
    pub(crate) cache: RwLock<Cache>,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) clock: Clock,
    /// Clock reading at the last durable commit.
    pub(crate) last_durable_ms: AtomicU64,
    /// Committed write transactions since open, for tests.
    pub(crate) commits: AtomicU64,
    /// Device and gateway statuses written to the cache and not yet
    /// committed: (table, name) → encoded status. Taken with the cache's
    /// write lock held, so a delete cannot slip between the two.
    pub(crate) pending: std::sync::Mutex<BTreeMap<(&'static str, String), Vec<u8>>>,
    /// Held while the flusher commits and while a resource is deleted, so
    /// a deleted resource's status row is never written back.
    pub(crate) flushing: std::sync::Mutex<()>,
}

impl Drop for RedbStore {
    /// Stops the flusher and commits what it had not, durably.
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            flusher.stop();
        }
        if let Err(e) = self.inner.flush_statuses(true) {
            flusher::warn(&e);
        }
    }
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the store at `path`, creating the file and its parent
    /// directories if missing, and loads every resource into memory.
    ///
    /// Fails on a file written by a newer schema, on a corrupt record (the
    /// error names it), or when another process has the file open.
    pub fn open(path: &Path) -> Result<Arc<Self>, StoreError> {
        Self::open_with_clock(path, wasmbed_model::clock::system())
    }

    /// [`RedbStore::open`] with the clock passed in (Unix milliseconds). It
    /// stamps `meta.created_ms` and paces status flushes.
    pub fn open_with_clock(path: &Path, clock: Clock) -> Result<Arc<Self>, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| StoreError::Backend(format!("creating {}: {e}", parent.display())))?;
        }
        let shown = path.display();
        let db = Database::create(path).map_err(|e| backend(format_args!("opening {shown}"), e))?;
        init_schema(&db).map_err(|e| match e {
            StoreError::Backend(msg) => StoreError::Backend(format!("{shown}: {msg}")),
            other => other,
        })?;
        let cache = load(&db).map_err(|e| match e {
            StoreError::Backend(msg) => StoreError::Backend(format!("{shown}: {msg}")),
            other => other,
        })?;
        let now = clock();
        let (events, _) = broadcast::channel(WATCH_CAPACITY);
        let inner = Arc::new(Inner {
            db,
            cache: RwLock::new(cache),
            events,
            clock,
            last_durable_ms: AtomicU64::new(now),
            commits: AtomicU64::new(0),
            pending: Default::default(),
            flushing: Default::default(),
        });
        let flusher = Flusher::start(&inner)?;
        Ok(Arc::new(Self { inner, writer: Arc::new(Mutex::new(())), path: path.to_owned(), flusher: Some(flusher) }))
    }

    /// The file this store lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a write with the writer lock held.
    ///
    /// A durable commit waits for an fsync (milliseconds on a real disk, far
    /// more on an SD card), so it runs on the blocking pool rather than
    /// stalling a runtime thread; `spawn_blocking` works on a current-thread
    /// runtime too, where `block_in_place` would panic. A non-durable commit
    /// takes tens of microseconds and runs in place, saving the hand-off.
    /// Either way the lock is never held across an await of anything but the
    /// write itself, so nothing can deadlock on it.
    async fn write<T: Send + 'static>(
        &self,
        offload: bool,
        f: impl FnOnce(&Inner) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let guard: OwnedMutexGuard<()> = Arc::clone(&self.writer).lock_owned().await;
        if !offload {
            return f(&self.inner);
        }
        let inner = Arc::clone(&self.inner);
        // If the caller's future is dropped meanwhile, the write still
        // completes, cache and event included: the store stays consistent.
        tokio::task::spawn_blocking(move || {
            let result = f(&inner);
            drop(guard);
            result
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store write task failed: {e}")))?
    }

    /// Commits the statuses written so far, durably (tests; drop does it too).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush_statuses(true)
    }

    /// The shared state, for the unit tests of the modules that extend it.
    #[cfg(test)]
    pub(crate) fn inner(&self) -> &Inner {
        &self.inner
    }

    #[cfg(test)]
    pub(crate) fn commits(&self) -> u64 {
        self.inner.commits.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[async_trait]
impl Store for RedbStore {
    async fn create_device(&self, device: Device) -> Result<Device, StoreError> {
        self.write(true, move |inner| inner.put::<Device>(device.meta, device.spec, Put::Create)).await
    }

    async fn get_device(&self, name: &str) -> Result<Option<Device>, StoreError> {
        self.inner.get(name)
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StoreError> {
        self.inner.list()
    }

    async fn update_device_spec(&self, device: &Device) -> Result<Device, StoreError> {
        let device = device.clone();
        self.write(true, move |inner| inner.put::<Device>(device.meta, device.spec, Put::Replace)).await
    }

    /// Status writes come at heartbeat rate, so they do not wait for the
    /// disk: the change is made in the cache (and its event sent) at once,
    /// and a flusher thread commits the changes of the last
    /// [`STATUS_COMMIT_INTERVAL_MS`](crate::STATUS_COMMIT_INTERVAL_MS) in one
    /// transaction, without an fsync
    /// ([`Durability::None`](redb::Durability::None)), and durably at least
    /// every [`STATUS_FLUSH_INTERVAL_MS`](crate::STATUS_FLUSH_INTERVAL_MS)
    /// (and when the store is dropped). Any
    /// durable spec or module write makes them durable too. The trade: a
    /// crash or power loss drops the status writes of the last few seconds.
    /// Nothing is lost that matters: the gateway re-observes a status when
    /// its device reconnects, and the reconcilers re-derive theirs. A status
    /// equal to the stored one is not written and emits no event.
    async fn patch_device_status(&self, name: &str, patch: DeviceStatusPatch) -> Result<(), StoreError> {
        self.inner.stage_status::<Device>(name, |st| st.apply(patch))
    }

    async fn delete_device(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(true, move |inner| inner.delete::<Device>(&name)).await
    }

    /// Creates the application when the name is free (the given
    /// `resource_version` must then be 0) or replaces its spec (it must be
    /// the stored one).
    async fn put_application(&self, app: &Application) -> Result<Application, StoreError> {
        let app = app.clone();
        self.write(true, move |inner| inner.put::<Application>(app.meta, app.spec, Put::Either)).await
    }

    async fn get_application(&self, name: &str) -> Result<Option<Application>, StoreError> {
        self.inner.get(name)
    }

    async fn list_applications(&self) -> Result<Vec<Application>, StoreError> {
        self.inner.list()
    }

    /// Durable: the status holds the rollout's progress and revision
    /// history, which a restarted control plane resumes from. A no-op
    /// when unchanged.
    async fn update_application_status(&self, name: &str, status: &ApplicationStatus) -> Result<(), StoreError> {
        let (name, status) = (name.to_owned(), status.clone());
        self.write(true, move |inner| inner.update_status::<Application>(&name, true, |st| *st = status)).await
    }

    async fn delete_application(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(true, move |inner| inner.delete::<Application>(&name)).await
    }

    /// As [`RedbStore::put_application`].
    async fn put_gateway(&self, gateway: &Gateway) -> Result<Gateway, StoreError> {
        let gw = gateway.clone();
        self.write(true, move |inner| inner.put::<Gateway>(gw.meta, gw.spec, Put::Either)).await
    }

    async fn get_gateway(&self, name: &str) -> Result<Option<Gateway>, StoreError> {
        self.inner.get(name)
    }

    async fn list_gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        self.inner.list()
    }

    /// Lazily durable, like device status.
    async fn patch_gateway_status(&self, name: &str, patch: GatewayStatusPatch) -> Result<(), StoreError> {
        self.inner.stage_status::<Gateway>(name, |st| st.apply(patch))
    }

    async fn delete_gateway(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(true, move |inner| inner.delete::<Gateway>(&name)).await
    }

    /// Stores module bytes durably. The digest is not verified here (the API
    /// checks it before storing); it is lowercased, as in lookups.
    async fn put_module(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let (digest, bytes) = (digest.to_ascii_lowercase(), bytes.to_vec());
        self.write(true, move |inner| inner.put_module(&digest, &bytes)).await
    }

    /// Reads module bytes from the file, on the blocking pool.
    async fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let digest = digest.to_ascii_lowercase();
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.get_module(&digest))
            .await
            .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }

    /// Lists module digests from the file, on the blocking pool.
    async fn list_modules(&self) -> Result<Vec<String>, StoreError> {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.list_modules())
            .await
            .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }

    /// Deletes module bytes durably.
    async fn delete_module(&self, digest: &str) -> Result<(), StoreError> {
        let digest = digest.to_ascii_lowercase();
        self.write(true, move |inner| inner.delete_module(&digest)).await
    }

    async fn put_edge_state(&self, gateway: &str, slot: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let (key, bytes) = (crate::modules::edge_state_key(gateway, slot), bytes.to_vec());
        self.write(true, move |inner| inner.put_edge_state(&key, &bytes)).await
    }

    async fn get_edge_state(&self, gateway: &str, slot: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let (key, inner) = (crate::modules::edge_state_key(gateway, slot), Arc::clone(&self.inner));
        tokio::task::spawn_blocking(move || inner.get_edge_state(&key))
            .await
            .map_err(|e| StoreError::Backend(format!("store read task failed: {e}")))?
    }

    async fn delete_edge_state(&self, gateway: &str, slot: &str) -> Result<(), StoreError> {
        let key = crate::modules::edge_state_key(gateway, slot);
        self.write(true, move |inner| inner.delete_edge_state(&key)).await
    }

    fn watch(&self) -> WatchStream {
        self.inner.events.subscribe()
    }
}
