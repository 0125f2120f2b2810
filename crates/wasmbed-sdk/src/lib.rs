//! The guest side of the Wasmbed app contract (ABI v2,
//! `wit/wasmbed-device.wit`): safe wrappers over the host functions a
//! device links into an app from import module `wasmbed`.
//!
//! Apps are `#![no_std]` `cdylib`s without an allocator. They implement
//! [`App`] (`init()` and `tick(now_ms: u64)`) and export it with
//! [`export!`], which also installs the panic handler; an app that takes
//! messages also implements [`OnMessage`] and says `export!(MyApp,
//! messages)`. See `apps/hello`, `apps/blinky`, `apps/thermostat` and
//! `apps/echo` for complete ones.
//!
//! Each module here is a capability of the same name, and an app that
//! calls into it must be granted it, or it fails to instantiate: [`log`],
//! [`now_ms`] (`time`), [`device_id`] (`device`), [`gpio`], [`i2c`],
//! [`spi`], [`adc`], [`uart`], [`telemetry`], [`config`], [`messages`]. The
//! peripheral ones are granted per piece of hardware (`gpio:led0`,
//! `i2c:0:0x48`); a call outside the grant returns
//! [`HostError::Denied`] and never reaches the hardware. Calls that can
//! fail return `Result<_, HostError>`; only a contract violation (which
//! these safe wrappers cannot commit) traps.
//!
//! ```
//! use wasmbed_sdk::{gpio::Pin, telemetry};
//!
//! // A device granted `gpio:led0` and `telemetry`:
//! let lit = Pin::led(0).toggle();
//! let _ = telemetry::publish("uptime_s", 12.0);
//! # assert_eq!(lit, Err(wasmbed_sdk::HostError::Unsupported)); // off wasm32: no device
//! ```
//!
//! ```
//! use wasmbed_sdk::{Line, log, now_ms};
//!
//! log("started");
//! let ticks: u32 = 3;
//! Line::new().push_str("tick ").push_u64(ticks.into()).push_str(" at ").push_u64(now_ms()).log();
//! ```
//!
//! Off wasm32 (host builds, tests, docs) there is no device: logging and
//! telemetry are no-ops, [`now_ms`] returns 0, peripherals answer
//! [`HostError::Unsupported`] and config keys and messages are
//! [`HostError::NotFound`], so code using the SDK still compiles and runs.
#![no_std]
#![deny(missing_docs)]

mod app;
mod error;
mod host;
mod line;

pub mod adc;
pub mod config;
pub mod gpio;
pub mod i2c;
pub mod messages;
pub mod spi;
pub mod telemetry;
pub mod uart;

#[doc(hidden)]
pub use app::deliver;
pub use app::{App, Counter, OnMessage};
pub use error::HostError;
pub use line::{LINE_CAPACITY, Line};

/// Longest buffer one bus call (I2C, SPI, UART) moves, bytes; a longer
/// one is [`HostError::Invalid`].
pub const MAX_TRANSFER_LEN: usize = 256;

/// Logs one line (capability `log`). The device may truncate long lines.
pub fn log(msg: &str) {
    host::log(msg.as_bytes());
}

/// Logs bytes as one line (capability `log`); the device replaces invalid
/// UTF-8.
pub fn log_bytes(msg: &[u8]) {
    host::log(msg);
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
