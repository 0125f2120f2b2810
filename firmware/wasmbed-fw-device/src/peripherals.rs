//! The board's peripherals as apps reach them: [`wasmbed_agent::Peripherals`]
//! over our drivers, built from the board table's list and nothing else.
//!
//! What the board has is [`Board::has`] (the rule the platform checks
//! deploys with); a call for anything else is `Unsupported` and touches no
//! register. The agent has already checked the call against the app's
//! grant. The console and the link are never in the list.

use alloc::vec::Vec;

use wasmbed_agent::{HwError, Peripherals};
use wasmbed_boards::{Board, Peripheral, Uart};
use wasmbed_fw_drivers::BusError;
use wasmbed_fw_drivers::cmsdk_uart::CmsdkUart;
use wasmbed_fw_drivers::fpgaio::Leds;
use wasmbed_fw_drivers::pl022::Pl022;
use wasmbed_fw_drivers::sbcon_i2c::SbconI2c;
use wasmbed_fw_drivers::stm32_adc::Stm32Adc;
use wasmbed_fw_drivers::stm32_spi::Stm32Spi;
use wasmbed_fw_drivers::stm32_usart::Usart;
use wasmbed_protocol::{Pin, Resource};

use crate::to_usize;

/// App serial ports' speed (QEMU ignores it).
const APP_BAUD: u32 = 115_200;

/// An SPI master of either kind.
#[derive(Debug)]
enum Spi {
    Pl022(Pl022),
    Stm32(Stm32Spi),
}

/// A serial port of either kind.
#[derive(Debug)]
enum Serial {
    Cmsdk(CmsdkUart),
    Stm32(Usart),
}

/// The drivers of one board's app peripherals, each set up once.
#[derive(Debug)]
pub struct BoardPeripherals {
    board: &'static Board,
    leds: Option<Leds>,
    i2c: Vec<(u8, SbconI2c)>,
    spi: Vec<(u8, Spi)>,
    /// The ADC, or why it did not switch on (calls then fail with `bus`).
    adc: Option<Result<Stm32Adc, BusError>>,
    uarts: Vec<(u8, Serial)>,
}

impl BoardPeripherals {
    /// Sets up every peripheral of `board`'s list.
    ///
    /// # Safety
    ///
    /// Call once: from then on the returned value is the only driver of
    /// those peripherals (the board table keeps the console and the link
    /// out of the list).
    pub unsafe fn take(board: &'static Board) -> Self {
        let mut hw = Self { board, leds: None, i2c: Vec::new(), spi: Vec::new(), adc: None, uarts: Vec::new() };
        for p in board.peripherals {
            // SAFETY (each arm): an address from the board table, of the
            // kind the arm names, driven by nothing else (see above).
            match *p {
                Peripheral::FpgaioLeds { base, .. } => hw.leds = Some(unsafe { Leds::new(to_usize(base)) }),
                Peripheral::SbconI2c { bus, base } => hw.i2c.push((bus, unsafe { SbconI2c::new(to_usize(base)) })),
                Peripheral::Pl022Spi { bus, base } => {
                    hw.spi.push((bus, Spi::Pl022(unsafe { Pl022::new(to_usize(base)) })));
                }
                Peripheral::Stm32Spi { bus, base } => {
                    hw.spi.push((bus, Spi::Stm32(unsafe { Stm32Spi::new(to_usize(base)) })));
                }
                Peripheral::Stm32Adc { base, .. } => hw.adc = Some(unsafe { Stm32Adc::new(to_usize(base)) }),
                Peripheral::Uart { port, uart: Uart::Cmsdk(base) } => {
                    hw.uarts.push((port, Serial::Cmsdk(unsafe { CmsdkUart::new_duplex(to_usize(base)) })));
                }
                Peripheral::Uart { port, uart: Uart::Stm32 { base, pclk_hz } } => {
                    hw.uarts.push((port, Serial::Stm32(unsafe { Usart::new(to_usize(base), pclk_hz, APP_BAUD) })));
                }
                // Modelled by the host simulator only, or a kind this
                // firmware has no driver for: apps' calls get `unsupported`.
                _ => {}
            }
        }
        hw
    }

    /// Whether the ADC failed to switch on at boot.
    pub fn adc_failed(&self) -> Option<BusError> {
        match self.adc {
            Some(Err(e)) => Some(e),
            _ => None,
        }
    }

    /// `Unsupported` unless the board has `r`.
    fn check(&self, r: Resource) -> Result<(), HwError> {
        if self.board.has(&r) { Ok(()) } else { Err(HwError::Unsupported) }
    }

    fn i2c(&mut self, bus: u8, addr: u8) -> Result<&mut SbconI2c, HwError> {
        self.check(Resource::I2c { bus, addr })?;
        self.i2c.iter_mut().find(|(b, _)| *b == bus).map(|(_, d)| d).ok_or(HwError::Unsupported)
    }

    fn uart(&mut self, port: u8) -> Result<&mut Serial, HwError> {
        self.check(Resource::Uart(port))?;
        self.uarts.iter_mut().find(|(p, _)| *p == port).map(|(_, d)| d).ok_or(HwError::Unsupported)
    }

    fn leds(&mut self, pin: Pin) -> Result<(&mut Leds, u8), HwError> {
        self.check(Resource::Gpio(pin))?;
        match (pin, self.leds.as_mut()) {
            (Pin::Led(n), Some(leds)) => Ok((leds, n)),
            _ => Err(HwError::Unsupported),
        }
    }
}

fn to_hw(e: BusError) -> HwError {
    match e {
        BusError::Nack => HwError::Nack,
        BusError::Invalid => HwError::Invalid,
        _ => HwError::Bus,
    }
}

impl Peripherals for BoardPeripherals {
    fn has(&self, resource: &Resource) -> bool {
        self.board.has(resource)
    }

    fn gpio_read(&mut self, pin: Pin) -> Result<bool, HwError> {
        let (leds, n) = self.leds(pin)?;
        Ok(leds.is_on(n))
    }

    fn gpio_write(&mut self, pin: Pin, high: bool) -> Result<(), HwError> {
        let (leds, n) = self.leds(pin)?;
        leds.set(n, high);
        Ok(())
    }

    fn i2c_write(&mut self, bus: u8, addr: u8, data: &[u8]) -> Result<(), HwError> {
        self.i2c(bus, addr)?.write(addr, data).map_err(to_hw)
    }

    fn i2c_read(&mut self, bus: u8, addr: u8, buf: &mut [u8]) -> Result<(), HwError> {
        self.i2c(bus, addr)?.read(addr, buf).map_err(to_hw)
    }

    fn i2c_write_read(&mut self, bus: u8, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), HwError> {
        self.i2c(bus, addr)?.write_read(addr, data, buf).map_err(to_hw)
    }

    fn spi_transfer(&mut self, bus: u8, buf: &mut [u8]) -> Result<(), HwError> {
        self.check(Resource::Spi(bus))?;
        match self.spi.iter_mut().find(|(b, _)| *b == bus) {
            Some((_, Spi::Pl022(d))) => d.transfer(buf).map_err(to_hw),
            Some((_, Spi::Stm32(d))) => d.transfer(buf).map_err(to_hw),
            None => Err(HwError::Unsupported),
        }
    }

    fn adc_read(&mut self, channel: u8) -> Result<u16, HwError> {
        self.check(Resource::Adc(channel))?;
        match self.adc.as_mut() {
            Some(Ok(adc)) => adc.read(channel).map_err(to_hw),
            Some(Err(_)) => Err(HwError::Bus),
            None => Err(HwError::Unsupported),
        }
    }

    fn uart_write(&mut self, port: u8, data: &[u8]) -> Result<usize, HwError> {
        match self.uart(port)? {
            Serial::Cmsdk(u) => u.write(data),
            Serial::Stm32(u) => u.write(data),
        }
        .map_err(to_hw)
    }

    fn uart_read(&mut self, port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        Ok(match self.uart(port)? {
            Serial::Cmsdk(u) => u.read(buf),
            Serial::Stm32(u) => u.read(buf),
        })
    }
}
