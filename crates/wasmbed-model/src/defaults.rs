//! The platform's defaults, in one place: every component that needs one
//! of these reads it here (the device-facing ones live in the protocol
//! crate, which devices share, and are re-exported).

pub use wasmbed_protocol::{DEFAULT_HEARTBEAT_MS as HEARTBEAT_MS, MAX_MODULE_LEN};

/// Heartbeats a device may miss before its session is dropped by its
/// gateway and the device is Unreachable.
pub const MISSED_HEARTBEATS: u32 = 3;

/// Sessions one gateway holds at most (handshakes in progress included).
pub const MAX_SESSIONS: usize = 20_000;

/// How often a gateway reports itself into the store.
pub const GATEWAY_REPORT_MS: u32 = 1_000;

/// Reports a gateway may miss before it is Unhealthy.
pub const MISSED_REPORTS: u32 = 3;

/// How long a module no application uses is kept before it is deleted.
pub const MODULE_GRACE_MS: u64 = 3_600_000;
