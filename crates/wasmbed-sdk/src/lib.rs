//! The guest side of the Wasmbed app contract (ABI v1,
//! `wit/wasmbed-device.wit`): safe wrappers over the host functions a
//! device links into an app from import module `wasmbed`.
//!
//! Apps are `#![no_std]` `cdylib`s without an allocator. They implement
//! [`App`] (`init()` and `tick(now_ms: u64)`) and export it with
//! [`export!`], which also installs the panic handler; see `apps/hello`
//! for a complete one. Each group of functions here needs the
//! matching capability: an app that calls [`log`] must be granted `log`, or
//! it fails to instantiate.
//!
//! ```
//! use wasmbed_sdk::{Line, log, now_ms};
//!
//! log("started");
//! let ticks: u32 = 3;
//! Line::new().push_str("tick ").push_u64(ticks.into()).push_str(" at ").push_u64(now_ms()).log();
//! ```
//!
//! Off wasm32 (host builds, tests, docs) the host functions are no-ops and
//! [`now_ms`] returns 0, so code using the SDK still compiles and runs.
#![no_std]
#![deny(missing_docs)]

mod app;
mod host;
mod line;

pub use app::{App, Counter};
pub use line::{LINE_CAPACITY, Line};

/// Logs one line (capability `log`). The device may truncate long lines.
pub fn log(msg: &str) {
    host::log(msg.as_bytes());
}

/// Milliseconds since the device booted, monotonic (capability `time`).
pub fn now_ms() -> u64 {
    host::now_ms()
}

/// The device's identity, copied into `buf` (capability `device`): the
/// part that fit, as text. Device ids are at most 63 ASCII bytes, so a
/// 64-byte buffer always holds one.
pub fn device_id(buf: &mut [u8; 64]) -> &str {
    let n = host::device_id(buf).min(buf.len());
    core::str::from_utf8(&buf[..n]).unwrap_or("")
}

/// Logs `prefix` followed by `n` in decimal, without `core::fmt`.
pub fn log_u32(prefix: &str, n: u32) {
    Line::new().push_str(prefix).push_u64(n.into()).log();
}
