//! [`RedbStore`]: the cache, the write path and the [`Store`] impl.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast};
use wasmbed_model::{
    Application, ApplicationStatus, Device, DeviceStatusPatch, Event, EventKind, Gateway, GatewayStatusPatch, Meta,
    Store, StoreError, WatchStream,
};

use crate::schema::{
    self, ALL_TABLES, APP_SPECS, APP_STATUS, DEVICE_SPECS, DEVICE_STATUS, GATEWAY_SPECS, GATEWAY_STATUS, META, MODULES,
    SCHEMA_VERSION, SCHEMA_VERSION_KEY, SpecRecord, Table,
};

/// The clock the store stamps `meta.created_ms` with: Unix milliseconds.
pub use wasmbed_model::clock::Clock;

/// Events buffered per watcher before it lags and must re-list.
const WATCH_CAPACITY: usize = 8192;

/// Device and gateway status writes are made durable at least this often,
/// which bounds what a crash can lose.
pub const STATUS_FLUSH_INTERVAL_MS: u64 = 5_000;

/// How often the flusher commits the device and gateway statuses written
/// since its last round (visible at once in the cache either way).
pub const STATUS_COMMIT_INTERVAL_MS: u64 = 100;

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
    /// Stops the status flusher (and its thread, joined on drop).
    flusher: Option<(std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>)>,
}

struct Inner {
    db: Database,
    cache: RwLock<Cache>,
    events: broadcast::Sender<Event>,
    clock: Clock,
    /// Clock reading at the last durable commit.
    last_durable_ms: AtomicU64,
    /// Committed write transactions since open, for tests.
    commits: AtomicU64,
    /// Device and gateway statuses written to the cache and not yet
    /// committed: (table, name) → encoded status. Taken with the cache's
    /// write lock held, so a delete cannot slip between the two.
    pending: std::sync::Mutex<BTreeMap<(&'static str, String), Vec<u8>>>,
    /// Held while the flusher commits and while a resource is deleted, so
    /// a deleted resource's status row is never written back.
    flushing: std::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    devices: BTreeMap<String, Device>,
    applications: BTreeMap<String, Application>,
    gateways: BTreeMap<String, Gateway>,
}

/// A resource kind the store keeps: its tables, its cache map, its parts.
/// The write paths below are written once for every kind.
trait Kind: Clone + Send + Sync + 'static {
    type Spec: Serialize + DeserializeOwned + Clone + PartialEq + Send + 'static;
    type Status: Serialize + DeserializeOwned + Clone + PartialEq + Default + Send + 'static;
    const NAME: &'static str;
    const EVENT: EventKind;
    const SPECS: Table;
    const STATUS: Table;
    fn assemble(meta: Meta, spec: Self::Spec, status: Self::Status) -> Self;
    fn meta(&self) -> &Meta;
    fn spec(&self) -> &Self::Spec;
    fn status(&self) -> &Self::Status;
    fn map(cache: &Cache) -> &BTreeMap<String, Self>;
    fn map_mut(cache: &mut Cache) -> &mut BTreeMap<String, Self>;
}

macro_rules! kind {
    ($ty:ty, $spec:ty, $status:ty, $name:literal, $event:ident, $specs:ident, $statuses:ident, $field:ident) => {
        impl Kind for $ty {
            type Spec = $spec;
            type Status = $status;
            const NAME: &'static str = $name;
            const EVENT: EventKind = EventKind::$event;
            const SPECS: Table = $specs;
            const STATUS: Table = $statuses;
            fn assemble(meta: Meta, spec: $spec, status: $status) -> Self {
                Self { meta, spec, status }
            }
            fn meta(&self) -> &Meta {
                &self.meta
            }
            fn spec(&self) -> &$spec {
                &self.spec
            }
            fn status(&self) -> &$status {
                &self.status
            }
            fn map(cache: &Cache) -> &BTreeMap<String, Self> {
                &cache.$field
            }
            fn map_mut(cache: &mut Cache) -> &mut BTreeMap<String, Self> {
                &mut cache.$field
            }
        }
    };
}

kind!(
    Device,
    wasmbed_model::DeviceSpec,
    wasmbed_model::DeviceStatus,
    "device",
    Device,
    DEVICE_SPECS,
    DEVICE_STATUS,
    devices
);
kind!(
    Application,
    wasmbed_model::ApplicationSpec,
    ApplicationStatus,
    "application",
    Application,
    APP_SPECS,
    APP_STATUS,
    applications
);
kind!(
    Gateway,
    wasmbed_model::GatewaySpec,
    wasmbed_model::GatewayStatus,
    "gateway",
    Gateway,
    GATEWAY_SPECS,
    GATEWAY_STATUS,
    gateways
);

impl Drop for RedbStore {
    /// Stops the flusher and commits what it had not, durably.
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.flusher.take() {
            drop(stop);
            let _ = thread.join();
        }
        if let Err(e) = self.inner.flush_statuses(true) {
            tracing_warn(&e);
        }
    }
}

fn tracing_warn(e: &StoreError) {
    eprintln!("wasmbed store: cannot commit statuses: {e}");
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn backend(context: impl fmt::Display, e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(format!("{context}: {}", e.into()))
}

fn poisoned() -> StoreError {
    StoreError::Backend("store cache poisoned by a panic during an earlier write; reopen the store".into())
}

fn not_found(kind: &'static str, name: &str) -> StoreError {
    StoreError::NotFound { kind, name: name.to_owned() }
}

fn conflict(kind: &'static str, name: &str) -> StoreError {
    StoreError::Conflict { kind, name: name.to_owned() }
}

fn next_version(kind: &'static str, meta: &Meta) -> Result<u64, StoreError> {
    meta.resource_version
        .checked_add(1)
        .ok_or_else(|| StoreError::Backend(format!("{kind} {:?}: resource_version exhausted", meta.name)))
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
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let weak = Arc::downgrade(&inner);
        let thread = std::thread::Builder::new()
            .name("wasmbed-store-flush".into())
            .spawn(move || {
                let every = std::time::Duration::from_millis(STATUS_COMMIT_INTERVAL_MS);
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let Some(inner) = weak.upgrade() else { return };
                    if let Err(e) = inner.flush_statuses(false) {
                        tracing_warn(&e);
                    }
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the status flusher: {e}")))?;
        Ok(Arc::new(Self {
            inner,
            writer: Arc::new(Mutex::new(())),
            path: path.to_owned(),
            flusher: Some((stop, thread)),
        }))
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

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }
}

/// Stamps a fresh file with [`SCHEMA_VERSION`], refuses any other version,
/// and creates missing tables.
fn init_schema(db: &Database) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(|e| backend("starting schema check", e))?;
    {
        let mut meta = txn.open_table(META).map_err(|e| backend("opening table meta", e))?;
        let stored =
            meta.get(SCHEMA_VERSION_KEY).map_err(|e| backend("reading schema version", e))?.map(|v| v.value().to_vec());
        match stored {
            None => {
                meta.insert(SCHEMA_VERSION_KEY, SCHEMA_VERSION.to_string().as_bytes())
                    .map_err(|e| backend("writing schema version", e))?;
            }
            Some(bytes) => match schema::parse_version(&bytes) {
                Some(SCHEMA_VERSION) => {}
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(StoreError::Backend(format!(
                        "schema version {v} is newer than this build understands ({SCHEMA_VERSION}); \
                         use a newer wasmbed or another data directory"
                    )));
                }
                Some(v @ 1) => {
                    return Err(StoreError::Backend(format!(
                        "schema version {v} was written by a wasmbed before rollouts and gateways \
                         ({SCHEMA_VERSION} now); it cannot be read: use a new data directory \
                         (devices and applications must be created again)"
                    )));
                }
                _ => {
                    return Err(StoreError::Backend(format!(
                        "unknown schema version {:?} (this build understands {SCHEMA_VERSION})",
                        String::from_utf8_lossy(&bytes)
                    )));
                }
            },
        }
    }
    for table in ALL_TABLES {
        txn.open_table(table).map_err(|e| backend(format_args!("creating table {}", table_name(&table)), e))?;
    }
    txn.commit().map_err(|e| backend("committing schema", e))
}

fn table_name(table: &Table) -> &str {
    redb::TableHandle::name(table)
}

/// Reads every spec row with its status row.
fn load_kind<S: DeserializeOwned, St: DeserializeOwned + Default>(
    txn: &redb::ReadTransaction,
    specs: Table,
    statuses: Table,
) -> Result<Vec<(String, Meta, S, St)>, StoreError> {
    let open = |t: Table| txn.open_table(t).map_err(|e| backend(format_args!("opening table {}", table_name(&t)), e));
    let spec_table = open(specs)?;
    let status_table = open(statuses)?;
    let mut out = Vec::new();
    let rows = spec_table.iter().map_err(|e| backend(format_args!("reading table {}", table_name(&specs)), e))?;
    for row in rows {
        let (key, value) = row.map_err(|e| backend(format_args!("reading table {}", table_name(&specs)), e))?;
        let name = schema::decode_key(&specs, key.value())?;
        let record: SpecRecord<S> = schema::decode(&specs, &name, value.value())?;
        if record.meta.name != name {
            return Err(StoreError::Backend(format!(
                "corrupt record {name:?} in table {}: it names itself {:?}",
                table_name(&specs),
                record.meta.name
            )));
        }
        let status = match status_table
            .get(key.value())
            .map_err(|e| backend(format_args!("reading table {}", table_name(&statuses)), e))?
        {
            Some(bytes) => schema::decode(&statuses, &name, bytes.value())?,
            None => St::default(),
        };
        out.push((name, record.meta, record.spec, status));
    }
    // A status row without a spec row cannot be written (deletes remove
    // both in one transaction); were one there, nothing would read it.
    Ok(out)
}

fn load_into<K: Kind>(txn: &redb::ReadTransaction, cache: &mut Cache) -> Result<(), StoreError> {
    for (name, meta, spec, status) in load_kind::<K::Spec, K::Status>(txn, K::SPECS, K::STATUS)? {
        K::map_mut(cache).insert(name, K::assemble(meta, spec, status));
    }
    Ok(())
}

fn load(db: &Database) -> Result<Cache, StoreError> {
    let txn = db.begin_read().map_err(|e| backend("starting load", e))?;
    let mut cache = Cache::default();
    load_into::<Device>(&txn, &mut cache)?;
    load_into::<Application>(&txn, &mut cache)?;
    load_into::<Gateway>(&txn, &mut cache)?;
    Ok(cache)
}

/// A row to write or remove.
enum Op<'a> {
    Put(Table, &'a str, &'a [u8]),
    Remove(Table, &'a str),
}

/// How a spec write treats an existing resource.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Put {
    /// The name must be free.
    Create,
    /// The resource must exist at the given version.
    Replace,
    /// Create when the given version is 0 and the name is free, else replace.
    Either,
}

impl Inner {
    fn cache(&self) -> Result<RwLockReadGuard<'_, Cache>, StoreError> {
        self.cache.read().map_err(|_| poisoned())
    }

    fn cache_mut(&self) -> Result<RwLockWriteGuard<'_, Cache>, StoreError> {
        self.cache.write().map_err(|_| poisoned())
    }

    fn emit(&self, kind: EventKind, name: &str, deleted: bool, status_only: bool) {
        // No receivers is not an error: nobody is watching.
        let _ = self.events.send(Event { kind, name: name.to_owned(), deleted, status_only });
    }

    /// Applies `ops` in one transaction and commits it.
    fn commit(&self, what: fmt::Arguments<'_>, durable: bool, ops: &[Op<'_>]) -> Result<(), StoreError> {
        let run = || -> Result<(), redb::Error> {
            let mut txn: WriteTransaction = self.db.begin_write()?;
            txn.set_durability(if durable { Durability::Immediate } else { Durability::None })?;
            for op in ops {
                match *op {
                    Op::Put(table, key, value) => {
                        txn.open_table(table)?.insert(key.as_bytes(), value)?;
                    }
                    Op::Remove(table, key) => {
                        txn.open_table(table)?.remove(key.as_bytes())?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| backend(what, e))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        if durable {
            self.last_durable_ms.store((self.clock)(), Ordering::Relaxed);
        }
        Ok(())
    }

    fn spec_bytes<S: Serialize>(kind: &str, meta: &Meta, spec: &S) -> Result<Vec<u8>, StoreError> {
        #[derive(Serialize)]
        struct Ref<'a, S> {
            meta: &'a Meta,
            spec: &'a S,
        }
        schema::encode(kind, &meta.name, &Ref { meta, spec })
    }

    /// Writes a spec (durably). The status is never written here: a new
    /// resource starts with the default status, a replaced one keeps its own.
    /// `generation` moves only when the spec changes.
    fn put<K: Kind>(&self, meta: Meta, spec: K::Spec, mode: Put) -> Result<K, StoreError> {
        let name = meta.name;
        let (meta, status) = {
            let cache = self.cache()?;
            match (K::map(&cache).get(&name), mode) {
                (Some(_), Put::Create) => return Err(StoreError::AlreadyExists { kind: K::NAME, name }),
                (None, Put::Replace) => return Err(not_found(K::NAME, &name)),
                // Absent reads as version 0: a write based on a version read
                // before a delete must not silently recreate the resource.
                (None, Put::Either) if meta.resource_version != 0 => return Err(conflict(K::NAME, &name)),
                (None, _) => (
                    Meta { name: name.clone(), resource_version: 1, generation: 1, created_ms: (self.clock)() },
                    K::Status::default(),
                ),
                (Some(current), _) if current.meta().resource_version != meta.resource_version => {
                    return Err(conflict(K::NAME, &name));
                }
                (Some(current), _) => {
                    let old = current.meta();
                    let changed = *current.spec() != spec;
                    let generation = if changed { old.generation.saturating_add(1) } else { old.generation };
                    (
                        Meta {
                            name: name.clone(),
                            resource_version: next_version(K::NAME, old)?,
                            generation,
                            created_ms: old.created_ms,
                        },
                        current.status().clone(),
                    )
                }
            }
        };
        let bytes = Self::spec_bytes(K::NAME, &meta, &spec)?;
        self.commit(format_args!("writing {} {name:?}", K::NAME), true, &[Op::Put(K::SPECS, &name, &bytes)])?;
        let stored = {
            let mut cache = self.cache_mut()?;
            let map = K::map_mut(&mut cache);
            // A status staged since it was read above wins over that read.
            let status = map.get(&name).map_or(status, |current| current.status().clone());
            let stored = K::assemble(meta, spec, status);
            map.insert(name.clone(), stored.clone());
            stored
        };
        self.emit(K::EVENT, &name, false, false);
        Ok(stored)
    }

    /// Read-modify-write of a status; a write that changes nothing commits
    /// nothing and emits no event.
    fn update_status<K: Kind>(
        &self,
        name: &str,
        durable: bool,
        change: impl FnOnce(&mut K::Status),
    ) -> Result<(), StoreError> {
        let mut status = match K::map(&*self.cache()?).get(name) {
            None => return Err(not_found(K::NAME, name)),
            Some(current) => current.status().clone(),
        };
        let before = status.clone();
        change(&mut status);
        if status == before {
            return Ok(());
        }
        let bytes = schema::encode(K::NAME, name, &status)?;
        self.commit(
            format_args!("writing status of {} {name:?}", K::NAME),
            durable,
            &[Op::Put(K::STATUS, name, &bytes)],
        )?;
        if let Some(entry) = K::map_mut(&mut *self.cache_mut()?).get_mut(name) {
            *entry = K::assemble(entry.meta().clone(), entry.spec().clone(), status);
        }
        self.emit(K::EVENT, name, false, true);
        Ok(())
    }

    fn delete<K: Kind>(&self, name: &str) -> Result<(), StoreError> {
        if !K::map(&*self.cache()?).contains_key(name) {
            return Err(not_found(K::NAME, name));
        }
        // The flusher is kept out until the resource and its pending status
        // are gone, so it cannot write the status row back.
        let _flushing = self.flushing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.commit(
            format_args!("deleting {} {name:?}", K::NAME),
            true,
            &[Op::Remove(K::SPECS, name), Op::Remove(K::STATUS, name)],
        )?;
        {
            let mut cache = self.cache_mut()?;
            K::map_mut(&mut cache).remove(name);
            self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(K::NAME, name.to_owned()));
        }
        self.emit(K::EVENT, name, true, false);
        Ok(())
    }

    /// A status change made in the cache at once and committed by the
    /// flusher (at most [`STATUS_COMMIT_INTERVAL_MS`] later, durably within
    /// [`STATUS_FLUSH_INTERVAL_MS`]): heartbeats never wait for the disk.
    /// A change that changes nothing emits no event.
    fn stage_status<K: Kind>(&self, name: &str, change: impl FnOnce(&mut K::Status)) -> Result<(), StoreError> {
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
            self.pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert((K::NAME, name.to_owned()), bytes);
        }
        self.emit(K::EVENT, name, false, true);
        Ok(())
    }

    /// Commits the staged statuses; durably when `durable` or when the last
    /// durable commit is [`STATUS_FLUSH_INTERVAL_MS`] old.
    fn flush_statuses(&self, durable: bool) -> Result<(), StoreError> {
        let _flushing = self.flushing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let staged = std::mem::take(&mut *self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
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
            let mut pending = self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for (k, v) in staged {
                pending.entry(k).or_insert(v);
            }
        }
        result
    }

    fn get<K: Kind>(&self, name: &str) -> Result<Option<K>, StoreError> {
        Ok(K::map(&*self.cache()?).get(name).cloned())
    }

    fn list<K: Kind>(&self) -> Result<Vec<K>, StoreError> {
        Ok(K::map(&*self.cache()?).values().cloned().collect())
    }

    fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let run = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(MODULES)?;
            Ok(table.get(digest.as_bytes())?.map(|b| b.value().to_vec()))
        };
        run().map_err(|e| backend(format_args!("reading module {digest}"), e))
    }

    fn put_module(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        // Content-addressed: a digest present already holds these bytes.
        if self.get_module(digest)?.is_some() {
            return Ok(());
        }
        self.commit(format_args!("storing module {digest}"), true, &[Op::Put(MODULES, digest, bytes)])
    }

    fn list_modules(&self) -> Result<Vec<String>, StoreError> {
        let run = || -> Result<Vec<String>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(MODULES)?;
            let mut digests = Vec::new();
            for entry in table.iter()? {
                let (key, _) = entry?;
                digests.push(String::from_utf8_lossy(key.value()).into_owned());
            }
            Ok(digests)
        };
        run().map_err(|e| backend("listing modules", e))
    }

    fn delete_module(&self, digest: &str) -> Result<(), StoreError> {
        if self.get_module(digest)?.is_none() {
            return Ok(());
        }
        self.commit(format_args!("deleting module {digest}"), true, &[Op::Remove(MODULES, digest)])
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
    /// [`STATUS_COMMIT_INTERVAL_MS`] in one transaction, without an fsync
    /// ([`Durability::None`]), and durably at least every
    /// [`STATUS_FLUSH_INTERVAL_MS`] (and when the store is dropped). Any
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

    fn watch(&self) -> WatchStream {
        self.inner.events.subscribe()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use wasmbed_model::{ApplicationSpec, SessionStatus};
    use wasmbed_testkit::device;

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
        store.inner.flush_statuses(false).unwrap();
        assert_eq!(store.commits(), commits + 1, "the staged status, in one commit");

        store.patch_device_status("dev-1", heartbeat(1)).await.unwrap();
        store.update_application_status("demo", &app_status).await.unwrap();
        // The default status of a fresh device is "unchanged" too.
        store.create_device(device("dev-2")).await.unwrap();
        store.patch_device_status("dev-2", DeviceStatusPatch::Session(SessionStatus::default())).await.unwrap();
        let after_create = store.commits();
        store.inner.flush_statuses(false).unwrap();
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
        let durable_at = || store.inner.last_durable_ms.load(Ordering::Relaxed);
        assert_eq!(durable_at(), 1_000);

        now.store(1_000 + STATUS_FLUSH_INTERVAL_MS - 1, Ordering::Relaxed);
        store.patch_device_status("dev-1", heartbeat(1)).await.unwrap();
        assert_eq!(store.get_device("dev-1").await.unwrap().unwrap().status.session.last_heartbeat_ms, Some(1));
        store.inner.flush_statuses(false).unwrap();
        assert_eq!(durable_at(), 1_000, "not due yet: no fsync");

        now.store(1_000 + STATUS_FLUSH_INTERVAL_MS, Ordering::Relaxed);
        store.patch_device_status("dev-1", heartbeat(2)).await.unwrap();
        store.inner.flush_statuses(false).unwrap();
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
        store.inner.flush_statuses(true).unwrap();
        drop(store);
        let txn = Database::create(&path).unwrap().begin_read().unwrap();
        let rows = txn.open_table(DEVICE_STATUS).unwrap().iter().unwrap().count();
        assert_eq!(rows, 0, "no status row without its device");
    }
}
