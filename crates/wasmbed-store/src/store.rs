//! [`RedbStore`]: the cache, the write path and the [`Store`] impl.
//!
//! Guarantees: a write returns after its transaction committed, the cache
//! and the event follow the commit, and events go out in commit order.
//! Spec and module writes are durable when they return; status writes are
//! not (see [`RedbStore::update_device_status`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, WriteTransaction};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, OwnedMutexGuard, broadcast};
use wasmbed_model::{
    Application, ApplicationSpec, ApplicationStatus, Device, DeviceSpec, DeviceStatus, Event, EventKind, Meta, Store,
    StoreError, WatchStream,
};

use crate::schema::{
    self, ALL_TABLES, APP_SPECS, APP_STATUS, DEVICE_SPECS, DEVICE_STATUS, META, MODULES, SCHEMA_VERSION,
    SCHEMA_VERSION_KEY, SpecRecord, Table,
};

/// The clock the store stamps `meta.created_ms` with: Unix milliseconds.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Events buffered per watcher before it lags and must re-list.
const WATCH_CAPACITY: usize = 8192;

/// A status write is made durable when the last durable commit is at least
/// this old, which bounds what a crash can lose.
pub const STATUS_FLUSH_INTERVAL_MS: u64 = 5_000;

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
}

#[derive(Default)]
struct Cache {
    devices: BTreeMap<String, Device>,
    applications: BTreeMap<String, Application>,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn system_clock() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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
        Self::open_with_clock(path, Arc::new(system_clock))
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
        Ok(Arc::new(Self {
            inner: Arc::new(Inner {
                db,
                cache: RwLock::new(cache),
                events,
                clock,
                last_durable_ms: AtomicU64::new(now),
                commits: AtomicU64::new(0),
            }),
            writer: Arc::new(Mutex::new(())),
            path: path.to_owned(),
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

    /// Whether the next status write should also flush earlier ones.
    fn status_flush_due(&self) -> bool {
        let now = (self.inner.clock)();
        now.saturating_sub(self.inner.last_durable_ms.load(Ordering::Relaxed)) >= STATUS_FLUSH_INTERVAL_MS
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

fn load(db: &Database) -> Result<Cache, StoreError> {
    let txn = db.begin_read().map_err(|e| backend("starting load", e))?;
    let mut cache = Cache::default();
    for (name, meta, spec, status) in load_kind::<DeviceSpec, DeviceStatus>(&txn, DEVICE_SPECS, DEVICE_STATUS)? {
        cache.devices.insert(name, Device { meta, spec, status });
    }
    for (name, meta, spec, status) in load_kind::<ApplicationSpec, ApplicationStatus>(&txn, APP_SPECS, APP_STATUS)? {
        cache.applications.insert(name, Application { meta, spec, status });
    }
    Ok(cache)
}

/// A row to write or remove.
enum Op<'a> {
    Put(Table, &'a str, &'a [u8]),
    Remove(Table, &'a str),
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

    fn create_device(&self, device: Device) -> Result<Device, StoreError> {
        let name = device.meta.name;
        if self.cache()?.devices.contains_key(&name) {
            return Err(StoreError::AlreadyExists { kind: "device", name });
        }
        let meta = Meta { name: name.clone(), resource_version: 1, created_ms: (self.clock)() };
        let bytes = Self::spec_bytes("device", &meta, &device.spec)?;
        self.commit(format_args!("creating device {name:?}"), true, &[Op::Put(DEVICE_SPECS, &name, &bytes)])?;
        let stored = Device { meta, spec: device.spec, status: DeviceStatus::default() };
        self.cache_mut()?.devices.insert(name.clone(), stored.clone());
        self.emit(EventKind::Device, &name, false, false);
        Ok(stored)
    }

    fn update_device_spec(&self, device: Device) -> Result<Device, StoreError> {
        let name = device.meta.name;
        let meta = {
            let cache = self.cache()?;
            let current = cache.devices.get(&name).ok_or_else(|| not_found("device", &name))?;
            if current.meta.resource_version != device.meta.resource_version {
                return Err(conflict("device", &name));
            }
            Meta {
                name: name.clone(),
                resource_version: next_version("device", &current.meta)?,
                created_ms: current.meta.created_ms,
            }
        };
        let bytes = Self::spec_bytes("device", &meta, &device.spec)?;
        self.commit(format_args!("updating device {name:?}"), true, &[Op::Put(DEVICE_SPECS, &name, &bytes)])?;
        let stored = {
            let mut cache = self.cache_mut()?;
            let entry = cache.devices.get_mut(&name).ok_or_else(|| not_found("device", &name))?;
            entry.meta = meta;
            entry.spec = device.spec;
            entry.clone()
        };
        self.emit(EventKind::Device, &name, false, false);
        Ok(stored)
    }

    fn update_device_status(&self, name: &str, status: DeviceStatus, durable: bool) -> Result<(), StoreError> {
        match self.cache()?.devices.get(name) {
            None => return Err(not_found("device", name)),
            Some(current) if current.status == status => return Ok(()),
            Some(_) => {}
        }
        let bytes = schema::encode("device status", name, &status)?;
        self.commit(
            format_args!("writing status of device {name:?}"),
            durable,
            &[Op::Put(DEVICE_STATUS, name, &bytes)],
        )?;
        if let Some(entry) = self.cache_mut()?.devices.get_mut(name) {
            entry.status = status;
        }
        self.emit(EventKind::Device, name, false, true);
        Ok(())
    }

    fn delete_device(&self, name: &str) -> Result<(), StoreError> {
        if !self.cache()?.devices.contains_key(name) {
            return Err(not_found("device", name));
        }
        self.commit(
            format_args!("deleting device {name:?}"),
            true,
            &[Op::Remove(DEVICE_SPECS, name), Op::Remove(DEVICE_STATUS, name)],
        )?;
        self.cache_mut()?.devices.remove(name);
        self.emit(EventKind::Device, name, true, false);
        Ok(())
    }

    fn put_application(&self, app: Application) -> Result<Application, StoreError> {
        let name = app.meta.name;
        let (meta, status) = {
            let cache = self.cache()?;
            match cache.applications.get(&name) {
                // Absent reads as version 0: a write based on a version read
                // before a delete must not silently recreate the app.
                None if app.meta.resource_version != 0 => {
                    return Err(conflict("application", &name));
                }
                None => (
                    Meta { name: name.clone(), resource_version: 1, created_ms: (self.clock)() },
                    ApplicationStatus::default(),
                ),
                Some(current) if current.meta.resource_version != app.meta.resource_version => {
                    return Err(conflict("application", &name));
                }
                Some(current) => (
                    Meta {
                        name: name.clone(),
                        resource_version: next_version("application", &current.meta)?,
                        created_ms: current.meta.created_ms,
                    },
                    current.status.clone(),
                ),
            }
        };
        let bytes = Self::spec_bytes("application", &meta, &app.spec)?;
        self.commit(format_args!("writing application {name:?}"), true, &[Op::Put(APP_SPECS, &name, &bytes)])?;
        let stored = Application { meta, spec: app.spec, status };
        self.cache_mut()?.applications.insert(name.clone(), stored.clone());
        self.emit(EventKind::Application, &name, false, false);
        Ok(stored)
    }

    fn update_application_status(
        &self,
        name: &str,
        status: ApplicationStatus,
        durable: bool,
    ) -> Result<(), StoreError> {
        match self.cache()?.applications.get(name) {
            None => return Err(not_found("application", name)),
            Some(current) if current.status == status => return Ok(()),
            Some(_) => {}
        }
        let bytes = schema::encode("application status", name, &status)?;
        self.commit(
            format_args!("writing status of application {name:?}"),
            durable,
            &[Op::Put(APP_STATUS, name, &bytes)],
        )?;
        if let Some(entry) = self.cache_mut()?.applications.get_mut(name) {
            entry.status = status;
        }
        self.emit(EventKind::Application, name, false, true);
        Ok(())
    }

    fn delete_application(&self, name: &str) -> Result<(), StoreError> {
        if !self.cache()?.applications.contains_key(name) {
            return Err(not_found("application", name));
        }
        self.commit(
            format_args!("deleting application {name:?}"),
            true,
            &[Op::Remove(APP_SPECS, name), Op::Remove(APP_STATUS, name)],
        )?;
        self.cache_mut()?.applications.remove(name);
        self.emit(EventKind::Application, name, true, false);
        Ok(())
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
}

#[async_trait]
impl Store for RedbStore {
    async fn create_device(&self, device: Device) -> Result<Device, StoreError> {
        self.write(true, move |inner| inner.create_device(device)).await
    }

    async fn get_device(&self, name: &str) -> Result<Option<Device>, StoreError> {
        Ok(self.inner.cache()?.devices.get(name).cloned())
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StoreError> {
        Ok(self.inner.cache()?.devices.values().cloned().collect())
    }

    async fn update_device_spec(&self, device: &Device) -> Result<Device, StoreError> {
        let device = device.clone();
        self.write(true, move |inner| inner.update_device_spec(device)).await
    }

    /// Status writes come at heartbeat rate, so they commit with redb's
    /// [`Durability::None`]: visible at once, about 10 µs instead of an
    /// fsync. They reach the disk with the next durable commit: any spec or
    /// module write, a status write [`STATUS_FLUSH_INTERVAL_MS`] after the
    /// last durable commit, or closing the store. The trade: a crash or power
    /// loss drops the status writes of the last few seconds. Nothing is lost
    /// that matters: the gateway re-observes a status when its device
    /// reconnects. A status equal to the stored one is not written and
    /// emits no event.
    async fn update_device_status(&self, name: &str, status: &DeviceStatus) -> Result<(), StoreError> {
        let durable = self.status_flush_due();
        let (name, status) = (name.to_owned(), status.clone());
        self.write(durable, move |inner| inner.update_device_status(&name, status, durable)).await
    }

    async fn delete_device(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(true, move |inner| inner.delete_device(&name)).await
    }

    /// Creates the application when the name is free (the given
    /// `resource_version` must then be 0) or replaces its spec (it must be
    /// the stored one). The status is never written here: a new application
    /// starts with the default status, a replaced one keeps its own.
    async fn put_application(&self, app: &Application) -> Result<Application, StoreError> {
        let app = app.clone();
        self.write(true, move |inner| inner.put_application(app)).await
    }

    async fn get_application(&self, name: &str) -> Result<Option<Application>, StoreError> {
        Ok(self.inner.cache()?.applications.get(name).cloned())
    }

    async fn list_applications(&self) -> Result<Vec<Application>, StoreError> {
        Ok(self.inner.cache()?.applications.values().cloned().collect())
    }

    /// Like [`RedbStore::update_device_status`]: not durable at once, and a
    /// no-op when unchanged.
    async fn update_application_status(&self, name: &str, status: &ApplicationStatus) -> Result<(), StoreError> {
        let durable = self.status_flush_due();
        let (name, status) = (name.to_owned(), status.clone());
        self.write(durable, move |inner| inner.update_application_status(&name, status, durable)).await
    }

    async fn delete_application(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.write(true, move |inner| inner.delete_application(&name)).await
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

    fn watch(&self) -> WatchStream {
        self.inner.events.subscribe()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn device(name: &str) -> Device {
        Device {
            meta: Meta { name: name.into(), ..Meta::default() },
            spec: DeviceSpec { board: "sim".into(), ..DeviceSpec::default() },
            status: DeviceStatus::default(),
        }
    }

    #[tokio::test]
    async fn unchanged_status_is_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("s.redb")).unwrap();
        store.create_device(device("dev-1")).await.unwrap();
        store
            .put_application(&Application {
                meta: Meta { name: "demo".into(), ..Meta::default() },
                spec: ApplicationSpec {
                    version: "1".into(),
                    digest: "ab".repeat(32),
                    size: 1,
                    selector: "a=b".into(),
                    limits: Default::default(),
                },
                status: ApplicationStatus::default(),
            })
            .await
            .unwrap();
        let watch = store.watch();
        let status = DeviceStatus { last_heartbeat_ms: Some(1), ..DeviceStatus::default() };
        let app_status = ApplicationStatus { desired: 2, ..ApplicationStatus::default() };

        store.update_device_status("dev-1", &status).await.unwrap();
        store.update_application_status("demo", &app_status).await.unwrap();
        let commits = store.commits();
        assert_eq!(watch.len(), 2);

        store.update_device_status("dev-1", &status).await.unwrap();
        store.update_application_status("demo", &app_status).await.unwrap();
        // The default status of a fresh device is "unchanged" too.
        store.create_device(device("dev-2")).await.unwrap();
        let commits_after_create = store.commits();
        store.update_device_status("dev-2", &DeviceStatus::default()).await.unwrap();
        store.put_module(&"cd".repeat(32), b"m").await.unwrap();
        let after_module = store.commits();
        store.put_module(&"cd".repeat(32), b"m").await.unwrap();

        assert_eq!(commits_after_create, commits + 1);
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

        let status = |hb| DeviceStatus { last_heartbeat_ms: Some(hb), ..DeviceStatus::default() };
        now.store(1_000 + STATUS_FLUSH_INTERVAL_MS - 1, Ordering::Relaxed);
        store.update_device_status("dev-1", &status(1)).await.unwrap();
        assert_eq!(durable_at(), 1_000, "not due yet: no fsync");

        now.store(1_000 + STATUS_FLUSH_INTERVAL_MS, Ordering::Relaxed);
        store.update_device_status("dev-1", &status(2)).await.unwrap();
        assert_eq!(durable_at(), 1_000 + STATUS_FLUSH_INTERVAL_MS, "due: this one was durable");
    }
}
