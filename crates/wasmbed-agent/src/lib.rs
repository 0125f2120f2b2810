//! The Wasmbed device agent: everything a device does that is not its board.
//!
//! The agent is sans-IO, like smoltcp: the caller feeds it bytes received
//! from the gateway ([`Agent::receive`]), lets it do due work
//! ([`Agent::poll`]), and sends the bytes it queued ([`Agent::take_outgoing`]).
//! Time is passed in as monotonic milliseconds; the agent never reads a
//! clock, opens a socket or touches a register. The same code runs in the
//! Cortex-M firmware and in the host simulator.
//!
//! Apps run in wasmi with fuel metering (per call) and a memory ceiling
//! (per app); a trap, running out of fuel or growing memory past the ceiling
//! fails that app only.
//!
//! Terminal commands from the gateway are parsed against the device's own
//! allow-list ([`TerminalCommand`]); anything else is refused with the
//! reason. `reboot` is answered, then left to the platform, which checks
//! [`Agent::reboot_requested`] after sending the answer and resets its own
//! way.
//!
//! When a session ends, [`Reconnect`] says which gateway to dial next and
//! how long to wait first: one policy for the firmware and the simulator.
//!
//! ```
//! use wasmbed_agent::{Agent, AgentConfig};
//! let mut agent = Agent::new(AgentConfig::new("dev-1", "sim"));
//! agent.connected(0);
//! let hello = agent.take_outgoing(); // an Enroll frame, ready for the transport
//! assert!(!hello.is_empty());
//! ```
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

mod apps;
mod backoff;
mod budget;
mod compiler;
mod host;
mod journal;
mod native;
mod peripherals;
mod session;
mod terminal;
mod transport;
mod trust;

pub use apps::{AppRuntime, Instantiated};
pub use backoff::{Backoff, NEXT_GATEWAY_MS, Reconnect};
pub use budget::{HeapNeed, MeasureError, ModuleNeeds, OverBudget, check, measure};
pub use compiler::{TrustedCompiler, VALIDATES};
pub use host::{Capability, DEFAULT_GRANTS, ENTRY_POINTS, IMPORT_MODULE, MAX_LOG_LINE, TokenBucket};
#[cfg(feature = "validate")]
pub use host::{validate_bytes, validate_module};
pub use journal::{DEFAULT_DEADLINE_MS, JOURNAL_LEN, Journal, MAX_QUARANTINED, ResetCause};
pub use native::{Entry, HostRefused, NativeApp, NativeHost, NativeInstance, NativeLoader, NativeTrap};
pub use peripherals::{HwError, NoPeripherals, Peripherals};
pub use session::{Agent, AgentConfig, AgentError, RECEIVE_PIECE, SessionState};
pub use terminal::{ALLOWED_COMMANDS, Refusal, TerminalCommand};
pub use transport::{Clock, StepError, Transport, step};
pub use trust::{DeployTrust, TrustError, TrustedKey};
/// The interpreter, for firmware implementing [`TrustedCompiler`].
pub use wasmi;
