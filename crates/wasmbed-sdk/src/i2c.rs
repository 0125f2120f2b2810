//! Capability `i2c`, granted per 7-bit address on a bus (`i2c:0:0x48`).
//! A transfer moves at most [`MAX_TRANSFER_LEN`](crate::MAX_TRANSFER_LEN)
//! bytes; a longer one is `invalid`.
//!
//! ```
//! use wasmbed_sdk::{HostError, i2c};
//!
//! // A TMP105's temperature register: point at register 0, read two bytes.
//! let mut raw = [0u8; 2];
//! match i2c::write_read(0, 0x48, &[0x00], &mut raw) {
//!     Ok(_) => { /* i16::from_be_bytes(raw) >> 4 is 1/16 °C */ }
//!     Err(HostError::Nack) => { /* nothing at 0x48 */ }
//!     Err(_) => { /* not granted, or no device (off wasm32) */ }
//! }
//! ```

use crate::HostError;
use crate::error::status;

/// Writes `data` to the device at `addr` on `bus`; returns its length.
pub fn write(bus: u8, addr: u8, data: &[u8]) -> Result<usize, HostError> {
    status(crate::host::i2c_write(bus, addr, data))
}

/// Fills `buf` from the device at `addr` on `bus`; returns its length.
pub fn read(bus: u8, addr: u8, buf: &mut [u8]) -> Result<usize, HostError> {
    status(crate::host::i2c_read(bus, addr, buf))
}

/// Writes `data`, then fills `buf` after a repeated start (a register
/// read); returns the length read.
pub fn write_read(bus: u8, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<usize, HostError> {
    status(crate::host::i2c_write_read(bus, addr, data, buf))
}
