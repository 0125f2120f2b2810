//! Capability `gpio`: LEDs and buttons, granted per pin (`gpio:led0`).
//!
//! ```
//! use wasmbed_sdk::gpio::Pin;
//!
//! let led = Pin::led(0);
//! assert_eq!(led.number(), 0);
//! assert_eq!(Pin::button(1).number(), 0x101);
//! // On a device granted `gpio:led0` these drive the LED; off wasm32
//! // there is no device, and every call says `unsupported`.
//! if led.set(true).is_ok() {
//!     let _now_off = led.toggle();
//! }
//! ```

use crate::HostError;
use crate::error::status;

/// A pin as the host functions number it: `kind << 8 | index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin(u32);

impl Pin {
    /// LED `index` (an output), granted as `gpio:led<index>`.
    pub const fn led(index: u8) -> Self {
        Self(index as u32)
    }

    /// Button `index` (an input), granted as `gpio:button<index>`.
    pub const fn button(index: u8) -> Self {
        Self(0x100 | index as u32)
    }

    /// The number the host functions take.
    pub const fn number(self) -> u32 {
        self.0
    }

    /// Drives the pin: `on` true is high (an LED lit).
    pub fn set(self, on: bool) -> Result<(), HostError> {
        status(crate::host::gpio_write(self.0, on)).map(drop)
    }

    /// Inverts the pin; returns its new level.
    pub fn toggle(self) -> Result<bool, HostError> {
        status(crate::host::gpio_toggle(self.0)).map(|level| level != 0)
    }

    /// The pin's level: true high (an LED lit, a button pressed).
    pub fn read(self) -> Result<bool, HostError> {
        status(crate::host::gpio_read(self.0)).map(|level| level != 0)
    }
}
