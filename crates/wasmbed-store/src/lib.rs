//! The embedded Wasmbed store: Devices, Applications and app modules in one
//! [redb](https://docs.rs/redb) file, behind [`wasmbed_model::Store`].
//!
//! Every resource is cached in memory, so reads and lists never touch the
//! disk. Spec writes commit durably before they return and then notify
//! watchers; device and gateway status writes, which come at heartbeat
//! rate, change the cache at once and are committed by a flusher thread
//! (see [`RedbStore`]'s `patch_device_status`). The file
//! layout is described in [`schema`]; records are JSON so the file can be
//! inspected.
//!
//! Where things live: `store` holds [`RedbStore`] (opening a file, the
//! writer lock, the [`Store`](wasmbed_model::Store) impl); `cache` the
//! in-memory copy, its loading and the events; `write` the durable write
//! path and the one place a transaction commits; `flusher` the staged
//! status writes and their thread ([`STATUS_COMMIT_INTERVAL_MS`],
//! [`STATUS_FLUSH_INTERVAL_MS`]); `modules` the module bytes; [`schema`]
//! the tables, the version check and the record codecs.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use wasmbed_model::{Device, DeviceSpec, Meta, Store};
//! use wasmbed_store::RedbStore;
//!
//! let dir = tempfile::tempdir()?;
//! let rt = tokio::runtime::Builder::new_current_thread().build()?;
//! rt.block_on(async {
//!     let store = RedbStore::open(&dir.path().join("wasmbed.redb"))?;
//!     let mut watch = store.watch();
//!     let device = Device {
//!         meta: Meta { name: "dev-1".into(), ..Meta::default() },
//!         spec: DeviceSpec { board: "sim".into(), ..DeviceSpec::default() },
//!         status: Default::default(),
//!     };
//!     let created = store.create_device(device).await?;
//!     assert_eq!(created.meta.resource_version, 1);
//!     assert_eq!(watch.recv().await?.name, "dev-1");
//!     Ok(())
//! })
//! # }
//! ```

mod cache;
mod flusher;
mod modules;
pub mod schema;
mod store;
mod write;

pub use flusher::{STATUS_COMMIT_INTERVAL_MS, STATUS_FLUSH_INTERVAL_MS};
pub use schema::SCHEMA_VERSION;
pub use store::{Clock, RedbStore};
