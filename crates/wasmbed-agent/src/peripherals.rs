//! The hardware apps reach, as the agent sees it: a trait the board's
//! drivers implement (firmware) or a model of them does (the host
//! simulator, `wasmbed run`). The agent checks every call against the
//! app's grant before it gets here, so an implementation only drives the
//! hardware it was asked to.

use wasmbed_protocol::{HostError, Pin, Resource};

/// Why the hardware did not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HwError {
    /// No device acknowledged the address (I2C NACK).
    Nack,
    /// The bus or peripheral failed or did not finish in time.
    Bus,
    /// An argument the hardware cannot take (a length it cannot transfer).
    Invalid,
    /// The board has no such peripheral, or no driver for it.
    Unsupported,
}

impl From<HwError> for HostError {
    fn from(e: HwError) -> Self {
        match e {
            HwError::Nack => Self::Nack,
            HwError::Bus => Self::Bus,
            HwError::Invalid => Self::Invalid,
            HwError::Unsupported => Self::Unsupported,
        }
    }
}

/// A board's peripherals. Every method has a default that says the board
/// has no such thing, so a board implements what it has and nothing else.
pub trait Peripherals: Send {
    /// Whether the board has `resource` (a deploy granting one it lacks is
    /// rejected with `missing-peripheral`).
    fn has(&self, resource: &Resource) -> bool {
        let _ = resource;
        false
    }
    /// Level of a pin (for an LED, what it is driven to).
    fn gpio_read(&mut self, pin: Pin) -> Result<bool, HwError> {
        let _ = pin;
        Err(HwError::Unsupported)
    }
    /// Drives an output pin.
    fn gpio_write(&mut self, pin: Pin, high: bool) -> Result<(), HwError> {
        let _ = (pin, high);
        Err(HwError::Unsupported)
    }
    /// Writes `data` to the device at `addr` on `bus`.
    fn i2c_write(&mut self, bus: u8, addr: u8, data: &[u8]) -> Result<(), HwError> {
        let _ = (bus, addr, data);
        Err(HwError::Unsupported)
    }
    /// Reads `buf.len()` bytes from the device at `addr` on `bus`.
    fn i2c_read(&mut self, bus: u8, addr: u8, buf: &mut [u8]) -> Result<(), HwError> {
        let _ = (bus, addr, buf);
        Err(HwError::Unsupported)
    }
    /// Writes `data`, then reads `buf.len()` bytes (a repeated start).
    fn i2c_write_read(&mut self, bus: u8, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), HwError> {
        let _ = (bus, addr, data, buf);
        Err(HwError::Unsupported)
    }
    /// Full-duplex transfer: `buf` goes out and is replaced by what came in.
    fn spi_transfer(&mut self, bus: u8, buf: &mut [u8]) -> Result<(), HwError> {
        let _ = (bus, buf);
        Err(HwError::Unsupported)
    }
    /// One conversion of `channel`, raw.
    fn adc_read(&mut self, channel: u8) -> Result<u16, HwError> {
        let _ = channel;
        Err(HwError::Unsupported)
    }
    /// Queues `data` on `port`; returns how many bytes were taken.
    fn uart_write(&mut self, port: u8, data: &[u8]) -> Result<usize, HwError> {
        let _ = (port, data);
        Err(HwError::Unsupported)
    }
    /// Copies bytes that have arrived on `port` into `buf`; returns how many.
    fn uart_read(&mut self, port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        let _ = (port, buf);
        Err(HwError::Unsupported)
    }
}

/// A device with no peripherals for apps (the default).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoPeripherals;

impl Peripherals for NoPeripherals {}
