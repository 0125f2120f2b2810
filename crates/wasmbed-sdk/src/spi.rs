//! Capability `spi`, granted per bus (`spi:0`).
//!
//! ```
//! let mut frame = [0x9f, 0, 0, 0]; // e.g. a flash chip's JEDEC id command
//! let _ = wasmbed_sdk::spi::transfer(0, &mut frame);
//! ```

use crate::HostError;
use crate::error::status;

/// Full duplex, in place: `buf` goes out and is replaced by what came in
/// (at most [`MAX_TRANSFER_LEN`](crate::MAX_TRANSFER_LEN) bytes); returns
/// its length.
pub fn transfer(bus: u8, buf: &mut [u8]) -> Result<usize, HostError> {
    status(crate::host::spi_transfer(bus, buf))
}
