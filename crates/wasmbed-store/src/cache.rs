//! The in-memory copy of every resource, loaded from the file at open, and
//! the events that announce its changes.
//!
//! Guarantees: reads and lists never touch the disk; an event is sent after
//! the cache changed, so a watcher that reads on an event sees the change.
//! Assumes: only the write path ([`crate::write`]) and the status stager
//! ([`crate::flusher`]) change the cache, each after (or, for staged
//! statuses, instead of) its commit.

use std::collections::BTreeMap;
use std::sync::{RwLockReadGuard, RwLockWriteGuard};

use redb::{Database, ReadableDatabase, ReadableTable};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmbed_model::{Application, ApplicationStatus, Device, Event, EventKind, Gateway, Meta, StoreError};

use crate::schema::{
    self, APP_SPECS, APP_STATUS, DEVICE_SPECS, DEVICE_STATUS, GATEWAY_SPECS, GATEWAY_STATUS, SpecRecord, Table,
    backend, table_name,
};
use crate::store::Inner;

/// Every resource, by kind and name.
#[derive(Default)]
pub(crate) struct Cache {
    devices: BTreeMap<String, Device>,
    applications: BTreeMap<String, Application>,
    gateways: BTreeMap<String, Gateway>,
}

/// A resource kind the store keeps: its tables, its cache map, its parts.
/// The write paths are written once for every kind.
pub(crate) trait Kind: Clone + Send + Sync + 'static {
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

/// Reads every resource of the file into a fresh cache.
pub(crate) fn load(db: &Database) -> Result<Cache, StoreError> {
    let txn = db.begin_read().map_err(|e| backend("starting load", e))?;
    let mut cache = Cache::default();
    load_into::<Device>(&txn, &mut cache)?;
    load_into::<Application>(&txn, &mut cache)?;
    load_into::<Gateway>(&txn, &mut cache)?;
    Ok(cache)
}

fn load_into<K: Kind>(txn: &redb::ReadTransaction, cache: &mut Cache) -> Result<(), StoreError> {
    for (name, meta, spec, status) in load_kind::<K::Spec, K::Status>(txn, K::SPECS, K::STATUS)? {
        K::map_mut(cache).insert(name, K::assemble(meta, spec, status));
    }
    Ok(())
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

fn poisoned() -> StoreError {
    StoreError::Backend("store cache poisoned by a panic during an earlier write; reopen the store".into())
}

impl Inner {
    pub(crate) fn cache(&self) -> Result<RwLockReadGuard<'_, Cache>, StoreError> {
        self.cache.read().map_err(|_| poisoned())
    }

    pub(crate) fn cache_mut(&self) -> Result<RwLockWriteGuard<'_, Cache>, StoreError> {
        self.cache.write().map_err(|_| poisoned())
    }

    pub(crate) fn emit(&self, kind: EventKind, name: &str, deleted: bool, status_only: bool) {
        // No receivers is not an error: nobody is watching.
        let _ = self.events.send(Event { kind, name: name.to_owned(), deleted, status_only });
    }

    pub(crate) fn get<K: Kind>(&self, name: &str) -> Result<Option<K>, StoreError> {
        Ok(K::map(&*self.cache()?).get(name).cloned())
    }

    pub(crate) fn list<K: Kind>(&self) -> Result<Vec<K>, StoreError> {
        Ok(K::map(&*self.cache()?).values().cloned().collect())
    }
}
