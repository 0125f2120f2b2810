//! The file layout (schema version 2) and the record codecs.
//!
//! Every table maps bytes to bytes. Keys are UTF-8 names; values are UTF-8
//! JSON, except module bytes. Bytes rather than redb's `&str`, because redb
//! panics on a `&str` that is not UTF-8: here a bad record is an error that
//! names it. Readers ignore unknown JSON fields, so a field can be added to a
//! resource without a new schema version; renaming or removing one needs one.
//!
//! | table           | key                   | value                                  |
//! |-----------------|-----------------------|----------------------------------------|
//! | `meta`          | `schema_version`      | decimal ASCII, `2`                     |
//! | `device_specs`  | device name           | JSON `{"meta": Meta, "spec": DeviceSpec}` |
//! | `device_status` | device name           | JSON `DeviceStatus`                    |
//! | `app_specs`     | application name      | JSON `{"meta": Meta, "spec": ApplicationSpec}` |
//! | `app_status`    | application name      | JSON `ApplicationStatus`               |
//! | `gateway_specs` | gateway name          | JSON `{"meta": Meta, "spec": GatewaySpec}` |
//! | `gateway_status`| gateway name          | JSON `GatewayStatus`                   |
//! | `modules`       | lowercase hex SHA-256 | raw module bytes                       |
//! | `edge_state`    | `<gateway>/<slot>`    | an edge slot's key-value store, as `wasmbed-edge` encodes it |
//!
//! A status row exists only beside its spec row; a missing one reads as the
//! default status.
//!
//! Version 1 (before rollouts) named fields in snake_case and had no
//! gateways; this build refuses such a file with a message saying so
//! (checked when the store opens).

use std::fmt;

use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use wasmbed_model::{Meta, StoreError};

/// The layout this build reads and writes.
pub const SCHEMA_VERSION: u64 = 2;

pub(crate) type Table = TableDefinition<'static, &'static [u8], &'static [u8]>;

pub(crate) const META: Table = TableDefinition::new("meta");
pub(crate) const SCHEMA_VERSION_KEY: &[u8] = b"schema_version";
pub(crate) const DEVICE_SPECS: Table = TableDefinition::new("device_specs");
pub(crate) const DEVICE_STATUS: Table = TableDefinition::new("device_status");
pub(crate) const APP_SPECS: Table = TableDefinition::new("app_specs");
pub(crate) const APP_STATUS: Table = TableDefinition::new("app_status");
pub(crate) const GATEWAY_SPECS: Table = TableDefinition::new("gateway_specs");
pub(crate) const GATEWAY_STATUS: Table = TableDefinition::new("gateway_status");
pub(crate) const MODULES: Table = TableDefinition::new("modules");
/// Added within schema version 2: opening an older file creates it.
pub(crate) const EDGE_STATE: Table = TableDefinition::new("edge_state");

/// Every table, so that a fresh file has them all and readers never meet a
/// missing one.
pub(crate) const ALL_TABLES: [Table; 9] =
    [META, DEVICE_SPECS, DEVICE_STATUS, APP_SPECS, APP_STATUS, GATEWAY_SPECS, GATEWAY_STATUS, MODULES, EDGE_STATE];

/// What a spec table holds: the resource without its status, which lives in
/// its own table so that heartbeats never rewrite the spec.
#[derive(Serialize, Deserialize)]
pub(crate) struct SpecRecord<S> {
    pub(crate) meta: Meta,
    pub(crate) spec: S,
}

/// Stamps a fresh file with [`SCHEMA_VERSION`], refuses any other version,
/// and creates missing tables.
pub(crate) fn init_schema(db: &Database) -> Result<(), StoreError> {
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
            Some(bytes) => match parse_version(&bytes) {
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

pub(crate) fn table_name(table: &Table) -> &str {
    redb::TableHandle::name(table)
}

/// A redb failure as a store error, with what was being done.
pub(crate) fn backend(context: impl fmt::Display, e: impl Into<redb::Error>) -> StoreError {
    StoreError::Backend(format!("{context}: {}", e.into()))
}

/// Parses the stored schema version.
fn parse_version(bytes: &[u8]) -> Option<u64> {
    std::str::from_utf8(bytes).ok()?.trim().parse().ok()
}

pub(crate) fn encode<T: Serialize>(what: &str, name: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value).map_err(|e| StoreError::Backend(format!("encoding {what} {name:?}: {e}")))
}

pub(crate) fn decode<T: DeserializeOwned>(table: &Table, name: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Backend(format!("corrupt record {name:?} in table {}: {e}", redb::TableHandle::name(table)))
    })
}

pub(crate) fn decode_key(table: &Table, key: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(key.to_vec()).map_err(|_| {
        StoreError::Backend(format!(
            "corrupt key \"{}\" in table {}: not UTF-8",
            key.escape_ascii(),
            redb::TableHandle::name(table)
        ))
    })
}
