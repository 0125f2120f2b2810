//! Capability `messages`: payloads sent to the app from the platform
//! (`wasmbed app send`). Implement [`OnMessage`](crate::OnMessage) and
//! export it with `export!(MyApp, messages)`; the SDK reads each message
//! and hands it to the handler. [`read`] is the raw call beneath.

use crate::HostError;
use crate::error::filled;

/// Longest message the device delivers, bytes.
pub const MAX_MESSAGE_LEN: usize = 256;

/// Copies the message being delivered into `buf`: its bytes, or `Invalid`
/// when `buf` is shorter than the message, `NotFound` outside a delivery.
pub fn read(buf: &mut [u8]) -> Result<&[u8], HostError> {
    let code = crate::host::messages_read(buf);
    filled(code, buf)
}
