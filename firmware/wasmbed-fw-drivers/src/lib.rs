//! Drivers for the peripherals of the boards Wasmbed supports, written from
//! the datasheets and QEMU's models. Each driver is a thin owner of one
//! peripheral's registers; board crates give them addresses as data.
//!
//! Every driver reaches its registers through [`mmio::Regs`], so its
//! register sequences are unit-tested on the host against a recording fake
//! (`cargo test -p wasmbed-fw-drivers` in `firmware/`), and every wait on
//! the hardware is bounded ([`mmio::SPIN_LIMIT`]): a missing or stuck
//! device fails the call, never hangs the firmware.
#![no_std]

pub mod cmsdk_uart;
pub mod cmsdk_watchdog;
pub mod fpgaio;
#[cfg(feature = "ethernet")]
pub mod lan9118;
pub mod mmio;
pub mod mpu;
pub mod pl022;
pub mod sbcon_i2c;
pub mod stm32_adc;
pub mod stm32_spi;
pub mod stm32_usart;
pub mod systick;

/// The TCP/IP stack the Ethernet driver plugs into, re-exported so boards
/// use the same version.
#[cfg(feature = "ethernet")]
pub use smoltcp;

/// Why a transfer on a bus or a conversion failed (I2C, SPI, ADC, UARTs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusError {
    /// No device acknowledged its address or a byte (I2C NACK).
    Nack,
    /// A status bit (ready, not busy, clock released) never came within
    /// [`mmio::SPIN_LIMIT`] polls.
    Timeout,
    /// An argument the hardware cannot take (an I2C address over 7 bits, an
    /// ADC channel it does not have).
    Invalid,
}

impl core::fmt::Display for BusError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Nack => "not acknowledged",
            Self::Timeout => "timed out",
            Self::Invalid => "invalid argument",
        })
    }
}
