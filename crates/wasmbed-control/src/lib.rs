//! The control plane: reconcilers over the [`Store`](wasmbed_model::Store),
//! as pure decisions plus one task that runs them.
//!
//! - [`desired`]: which app slots each device should have, read off the
//!   applications' rollouts (what the gateway syncs devices to);
//! - [`rollout`]: an application's next status — revisions, history, the
//!   strategy's steps, health gates, automatic rollback;
//! - [`lifecycle`]: a device's phase (Provisioning → Connecting → Online ⇄
//!   Unreachable, or Failed) and conditions;
//! - [`gateways`]: gateway health and which gateway each device belongs to;
//! - [`modules`]: which stored modules no application needs any more;
//! - [`native`]: which boards a revision is compiled for, and the record;
//! - [`provisioning`]: a new device's gateway and its bundle's gateway list;
//! - [`run`]: the task that watches the store and applies the decisions.
//!
//! It never opens a socket: everything it knows comes from the store, and
//! everything it decides goes back into it.
//!
//! ```
//! use wasmbed_control::rollout::plan_steps;
//! use wasmbed_model::Strategy;
//! let steps = plan_steps(&Strategy::canary("1,10%,100%").unwrap(), false, 50);
//! assert_eq!(steps.iter().map(|s| s.1).collect::<Vec<_>>(), [1, 5, 50]);
//! ```

pub mod desired;
pub mod gateways;
pub mod lifecycle;
pub mod modules;
pub mod native;
pub mod provisioning;
pub mod rollout;
mod run;
pub mod signing;

pub use desired::{
    ATTACHED_BOARD, board_slot, desired_apps, desired_board_apps, desired_edge_apps, drives_boards, gateway_labels,
    targets_board, targets_gateway,
};
pub use native::NativeBuilder;
pub use run::{Clock, ControlConfig, run};
pub use signing::{CheckError, ModuleCheck, SIGNED_CONDITION, SharedKey};
