//! What Wasmbed's tests share, so each test says only what it is about:
//!
//! - [`eventually`] and friends: wait until the store shows something,
//!   re-checking on every change the store's watch reports (and once a
//!   second, for what time alone changes), failing with what was last seen;
//!   [`poll`] (async) and [`wait_until`] (blocking) for what has no watch
//!   (log lines, files, other processes);
//! - builders: [`device`], [`gateway`], [`application`], [`observation`],
//!   and [`With`] to adjust any of them in one expression;
//! - [`FakeClock`]: a wall clock tests move by hand.
//!
//! ```
//! use wasmbed_testkit::{With, device, observation};
//! use wasmbed_model::AppState;
//! let d = device("d-1").with(|d| d.status.session.apps.push(observation("hello", Some(2), AppState::Running)));
//! assert_eq!(d.spec.board, "sim");
//! assert_eq!(d.status.session.apps[0].state, AppState::Running);
//! ```

mod apps;
mod build;
mod clock;
mod wait;

pub use apps::{edge_component, edge_components, example_app, example_apps};
pub use build::{With, application, device, gateway, observation};
pub use clock::FakeClock;
pub use wait::{WAIT, application_where, device_where, devices_where, eventually, poll, wait_until};
