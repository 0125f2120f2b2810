//! Capability `adc`, granted per channel (`adc:3`).
//!
//! ```
//! if let Ok(count) = wasmbed_sdk::adc::read(3) {
//!     let _volts = f64::from(count) * 3.3 / 4095.0; // a 12-bit ADC at 3.3 V
//! }
//! ```

use crate::HostError;
use crate::error::status;

/// One conversion of `channel`: the raw count (0-4095 on 12-bit boards).
pub fn read(channel: u8) -> Result<u16, HostError> {
    let n = status(crate::host::adc_read(channel))?;
    u16::try_from(n).map_err(|_| HostError::Invalid)
}
