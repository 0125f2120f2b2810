//! Wasmbed's resources and the store they live in.
//!
//! Following the Kubernetes pattern, every resource has a **spec** (desired
//! state, written by the CLI/API and by reconcilers) and a **status**
//! (observed state, written by the components closest to what it describes:
//! the gateway holding a device's session, the QEMU manager running its
//! process, the reconcilers). Nothing calls across that line: components
//! watch the [`Store`].
//!
//! ```
//! use wasmbed_model::{Selector, Labels};
//! let sel: Selector = "app=demo,tier!=test".parse().unwrap();
//! let mut labels = Labels::new();
//! labels.insert("app".into(), "demo".into());
//! assert!(sel.matches(&labels));
//! ```

mod boards;
pub mod clock;
pub mod defaults;
mod logs;
mod resources;
mod rollout;
mod selector;
pub mod sensors;
mod signing;
mod store;
pub mod telemetry;

pub use boards::{
    Board, MAX_ATTACHED_NAME_LEN, SIM_BOARD, board, boards, guest_loopback, host_from_guest, table as board_table,
};
pub use logs::{LogBook, LogLine};
pub use resources::*;
pub use rollout::{GateOp, MetricGate, RevisionOutcome, RolloutPhase, RolloutStatus, Step, Strategy};
pub use selector::{Selector, SelectorError};
pub use sensors::{AttachedPeripheral, SensorError, SensorKind, SensorReading, Sensors};
pub use signing::{SignedManifest, SigningStatus, deploy_manifest, envelope};
pub use store::{Attempt, Event, EventKind, Store, StoreError, WRITE_ATTEMPTS, WatchStream, retry_on_conflict};
pub use telemetry::{TelemetryBook, TelemetrySample};
pub use wasmbed_protocol::Capability;
