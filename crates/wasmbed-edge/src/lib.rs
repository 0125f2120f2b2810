//! The edge tier: WebAssembly components a gateway runs beside the devices
//! it serves, under wasmtime and the component model (WIT world
//! `wasmbed:edge/component`, `wit/wasmbed-edge.wit`).
//!
//! - [`EdgeEngine`]: one per gateway. Cranelift, the pooling allocator
//!   (instances start in microseconds and their memory is bounded up
//!   front), epoch interruption (every call has a deadline).
//! - [`Grants`]: the capability rule devices follow too — an interface is
//!   linked only when granted (WASI 0.2 too, with `wasi`, in a sandbox
//!   with nothing to reach), and a component importing anything else is
//!   refused before it runs, naming the import.
//! - [`Instance`]: one running version; a trap, a deadline or a limit
//!   fails it with the reason and touches nothing else.
//! - [`Slot`] and [`Worker`]: one application — hot swap between events
//!   (stage beside the old version, commit from the event queue), the
//!   previous version kept for rollback, a journal of lifecycle steps.
//!
//! The runtime knows no socket and no store: effects go through the
//! [`Services`] and [`BoardPort`] the gateway passes in.

mod bindings;
mod engine;
mod grant;
mod host;
mod instance;
pub mod kv;
mod limits;
mod slot;
pub mod worker;

pub use bindings::wasmbed::edge::types::Sample;
pub use engine::{Compiled, EdgeEngine, LoadError, Prepared, inspect, is_component};
pub use grant::{
    Capability, Grants, Import, ImportRefused, PACKAGE, PACKAGE_VERSION, UnknownCapability, check_imports, classify,
};
pub use host::{
    BoardPort, CallCounters, Context, EdgeError, Level, MAX_BOARD_DATA, MAX_LOG_LINE, MAX_MESSAGE, Services,
    valid_metric,
};
pub use instance::{Delivery, Event, Failure, Instance};
pub use limits::{Limits, TICK};
pub use slot::{Lifecycle, NoPrevious, Slot, SlotCounters, SlotState, Staged, Version, stage};
pub use worker::Worker;
