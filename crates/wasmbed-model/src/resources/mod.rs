//! Device, Application and Gateway: spec (desired) and status (observed).
//!
//! Field names serialize in camelCase, as Kubernetes resources do, so the
//! same types are the embedded store's records, the API's JSON and the
//! CRDs' schemas.
//!
//! Each status has one writer per part: a Device's `session` is written by
//! the gateway holding its session, its `refused` by the gateway refusing
//! a certificate, its `process` by the QEMU manager, its `phase` and
//! `conditions` by the device reconciler; the parts are merged by the store
//! ([`DeviceStatusPatch`]), so writers never overwrite each other. A
//! Device's `identity` (spec) is written by whoever issues its certificate
//! ([`record_identity`]).

mod application;
mod device;
mod gateway;
mod identity;
mod meta;
mod native;

pub use application::*;
pub use device::*;
pub use gateway::*;
pub use identity::*;
pub use meta::*;
pub use native::*;
