//! Capability `uart`, granted per port (`uart:1`). Neither call waits.
//!
//! ```
//! use wasmbed_sdk::uart;
//! let _ = uart::write(1, b"AT\r\n");
//! let mut buf = [0u8; 64];
//! let got = uart::read(1, &mut buf).unwrap_or(0);
//! assert!(got <= buf.len());
//! ```

use crate::HostError;
use crate::error::status;

/// Queues `data` on `port`; returns how many bytes were taken (fewer when
/// the port's buffer is full). At most
/// [`MAX_TRANSFER_LEN`](crate::MAX_TRANSFER_LEN) bytes a call.
pub fn write(port: u8, data: &[u8]) -> Result<usize, HostError> {
    status(crate::host::uart_write(port, data))
}

/// Copies what has arrived on `port` into `buf` (at most
/// [`MAX_TRANSFER_LEN`](crate::MAX_TRANSFER_LEN) bytes); returns how many,
/// 0 when nothing has.
pub fn read(port: u8, buf: &mut [u8]) -> Result<usize, HostError> {
    status(crate::host::uart_read(port, buf))
}
