//! The hardware a board offers apps, and the one rule for whether it has
//! what a grant names.
//!
//! Each [`Peripheral`] is a hardware block at an address (what the
//! firmware drives) and, through [`Peripheral::provides`], what apps call
//! it ([`Provides`]: LEDs, an I2C bus, an SPI bus, ADC channels, a serial
//! port). [`peripherals_have`] answers "does this list cover that
//! [`Resource`]"; [`Board::has`](crate::Board::has), the platform's deploy
//! check, the simulator ([`SIM_PERIPHERALS`]) and the firmware all ask it,
//! so the rule lives here only.
//!
//! Numbering, as apps see it: LEDs, I2C and SPI buses and ADC channels count
//! from 0 on each board; a serial port is numbered as QEMU numbers the
//! board's UARTs (its Nth `-serial`), so port 0 is the console of an agent
//! board and the link of an attached one, and never an app's.
//!
//! ```
//! use wasmbed_boards::{MPS2_AN385, OLIMEX_STM32_H405};
//! use wasmbed_protocol::{Pin, Resource};
//! assert!(MPS2_AN385.has(&Resource::I2c { bus: 0, addr: 0x48 }));
//! assert!(!MPS2_AN385.has(&Resource::Gpio(Pin::Button(0))));
//! assert!(OLIMEX_STM32_H405.has(&Resource::Adc(3)));
//! assert_eq!(
//!     wasmbed_boards::describe(MPS2_AN385.peripherals),
//!     "gpio:led0, gpio:led1, i2c:0, spi:0, uart:1, uart:2, uart:3, uart:4"
//! );
//! ```

#[cfg(feature = "platform")]
use alloc::string::String;
#[cfg(feature = "platform")]
use alloc::vec::Vec;
use core::fmt;
#[cfg(feature = "platform")]
use core::fmt::Write;

#[cfg(feature = "platform")]
use wasmbed_protocol::{Pin, Resource};

use crate::Uart;

/// A peripheral a board has, as QEMU emulates it: the hardware block the
/// firmware drives and, through [`provides`](Self::provides), what apps
/// call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Peripheral {
    /// MPS2 FPGAIO user LEDs: the low `count` bits of the register at
    /// `base`; apps' `gpio:led0`.. `gpio:led{count-1}`.
    FpgaioLeds {
        /// LED register address.
        base: u32,
        /// LEDs wired to it.
        count: u8,
    },
    /// LEDs whose pins QEMU does not model (the STM32F100's GPIO): the
    /// firmware keeps what was last written and reports it as a shadow,
    /// never read from a pin; apps' `gpio:led0`.. `gpio:led{count-1}`.
    ShadowLeds {
        /// How many.
        count: u8,
    },
    /// Arm SBCon two-wire serial bus (QEMU `versatile_i2c`), driven by
    /// bit-banging SCL and SDA; apps' `i2c:BUS:ADDR`.
    SbconI2c {
        /// The bus number apps use.
        bus: u8,
        /// Controller address.
        base: u32,
    },
    /// Arm PrimeCell PL022 synchronous serial port, as an SPI master;
    /// apps' `spi:BUS`.
    Pl022Spi {
        /// The bus number apps use.
        bus: u8,
        /// Controller address.
        base: u32,
    },
    /// STM32 SPI (QEMU's `stm32f2xx-spi`, which its STM32F100 uses too: the
    /// register map is the same), as a master; apps' `spi:BUS`.
    Stm32Spi {
        /// The bus number apps use.
        bus: u8,
        /// Controller address.
        base: u32,
    },
    /// STM32F2/F4 ADC (QEMU `stm32f2xx-adc`), single conversions; apps'
    /// `adc:0`.. `adc:{channels-1}`.
    Stm32Adc {
        /// Controller address.
        base: u32,
        /// Input channels.
        channels: u8,
    },
    /// A serial port for apps (never the console or the link); apps'
    /// `uart:PORT`.
    Uart {
        /// The port number apps use: QEMU's index of this UART (its Nth
        /// `-serial`).
        port: u8,
        /// The UART.
        uart: Uart,
    },
    /// Modelled in software by the host simulator: no registers.
    Simulated(Provides),
}

/// What a peripheral is to apps: the resources a grant can name on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provides {
    /// `gpio:led0`.. `gpio:led{count-1}`.
    Leds {
        /// How many.
        count: u8,
    },
    /// `i2c:BUS:ADDR`, any 7-bit address (what answers is up to the bus).
    I2cBus(u8),
    /// `spi:BUS`.
    SpiBus(u8),
    /// `adc:0`.. `adc:{count-1}`.
    AdcChannels {
        /// How many.
        count: u8,
    },
    /// `uart:PORT`.
    UartPort(u8),
}

impl Peripheral {
    /// What apps call this peripheral.
    pub const fn provides(&self) -> Provides {
        match *self {
            Self::FpgaioLeds { count, .. } | Self::ShadowLeds { count } => Provides::Leds { count },
            Self::SbconI2c { bus, .. } => Provides::I2cBus(bus),
            Self::Pl022Spi { bus, .. } | Self::Stm32Spi { bus, .. } => Provides::SpiBus(bus),
            Self::Stm32Adc { channels, .. } => Provides::AdcChannels { count: channels },
            Self::Uart { port, .. } => Provides::UartPort(port),
            Self::Simulated(p) => p,
        }
    }
}

#[cfg(feature = "platform")]
impl Provides {
    /// Whether `r` is one of the resources this covers.
    pub fn covers(self, r: &Resource) -> bool {
        match (self, *r) {
            (Self::Leds { count }, Resource::Gpio(Pin::Led(n))) => n < count,
            (Self::I2cBus(b), Resource::I2c { bus, .. }) => b == bus,
            (Self::SpiBus(b), Resource::Spi(bus)) => b == bus,
            (Self::AdcChannels { count }, Resource::Adc(c)) => c < count,
            (Self::UartPort(p), Resource::Uart(port)) => p == port,
            _ => false,
        }
    }
}

impl fmt::Display for Provides {
    /// As grants spell it, with ranges where a grant names one of several
    /// (`gpio:led0, gpio:led1`, `i2c:0`, `adc:0-3`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Leds { count } => {
                for n in 0..count {
                    if n > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "gpio:led{n}")?;
                }
                Ok(())
            }
            Self::I2cBus(b) => write!(f, "i2c:{b}"),
            Self::SpiBus(b) => write!(f, "spi:{b}"),
            Self::AdcChannels { count: 1 } => f.write_str("adc:0"),
            Self::AdcChannels { count } => write!(f, "adc:0-{}", count.saturating_sub(1)),
            Self::UartPort(p) => write!(f, "uart:{p}"),
        }
    }
}

/// Whether `list` has the hardware `r` names: `gpio:ledN` for N below the
/// LED count, `i2c:B:ADDR` (any address) when bus B exists, `spi:B`,
/// `adc:C` for C below the channel count, `uart:N`. Buttons: no board
/// QEMU emulates has any.
#[cfg(feature = "platform")]
pub fn peripherals_have(list: &[Peripheral], r: &Resource) -> bool {
    list.iter().any(|p| p.provides().covers(r))
}

/// The resources `list` offers, for error messages, in the order grants
/// list them (gpio, i2c, spi, adc, uart):
/// `gpio:led0, gpio:led1, i2c:0, spi:0, uart:1`, or `none`.
#[cfg(feature = "platform")]
pub fn describe(list: &[Peripheral]) -> String {
    let rank = |p: &Provides| match *p {
        Provides::Leds { .. } => (0, 0),
        Provides::I2cBus(b) => (1, b),
        Provides::SpiBus(b) => (2, b),
        Provides::AdcChannels { .. } => (3, 0),
        Provides::UartPort(n) => (4, n),
    };
    let mut offered: Vec<Provides> = list.iter().map(Peripheral::provides).collect();
    // An insertion sort (stable, as `sort_by_key`): a board lists a
    // handful, and the general sort costs every firmware image 3.6 KB.
    for i in 1..offered.len() {
        let mut j = i;
        while j > 0 && rank(&offered[j - 1]) > rank(&offered[j]) {
            offered.swap(j - 1, j);
            j -= 1;
        }
    }
    let mut out = String::new();
    for p in offered {
        if matches!(p, Provides::Leds { count: 0 } | Provides::AdcChannels { count: 0 }) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{p}");
    }
    if out.is_empty() {
        out.push_str("none");
    }
    out
}

/// What the host simulator (`wasmbed run`, the fleet simulator) models:
/// two LEDs, I2C bus 0, SPI bus 0, ADC channels 0-3 and serial port 1.
#[cfg(feature = "platform")]
pub const SIM_PERIPHERALS: &[Peripheral] = &[
    Peripheral::Simulated(Provides::Leds { count: 2 }),
    Peripheral::Simulated(Provides::I2cBus(0)),
    Peripheral::Simulated(Provides::SpiBus(0)),
    Peripheral::Simulated(Provides::AdcChannels { count: 4 }),
    Peripheral::Simulated(Provides::UartPort(1)),
];

#[cfg(all(test, feature = "platform"))]
mod tests {
    use super::*;
    use crate::{BOARDS, MPS2_AN385, MPS2_AN505, OLIMEX_STM32_H405, STM32VLDISCOVERY};

    fn i2c(bus: u8, addr: u8) -> Resource {
        Resource::I2c { bus, addr }
    }

    #[test]
    fn shadow_leds_are_granted_like_real_ones() {
        assert!(STM32VLDISCOVERY.has(&Resource::Gpio(Pin::Led(1))));
        assert!(!STM32VLDISCOVERY.has(&Resource::Gpio(Pin::Led(2))));
        assert_eq!(STM32VLDISCOVERY.leds(), None, "no LED register: a shadow");
    }

    #[test]
    fn leds_are_counted_from_zero() {
        assert!(MPS2_AN385.has(&Resource::Gpio(Pin::Led(0))));
        assert!(MPS2_AN385.has(&Resource::Gpio(Pin::Led(1))));
        assert!(!MPS2_AN385.has(&Resource::Gpio(Pin::Led(2))));
    }

    #[test]
    fn no_board_has_buttons() {
        for b in BOARDS {
            assert!(!b.has(&Resource::Gpio(Pin::Button(0))), "{}", b.name);
        }
        assert!(!peripherals_have(SIM_PERIPHERALS, &Resource::Gpio(Pin::Button(0))));
    }

    #[test]
    fn an_i2c_bus_covers_every_address_on_it_and_no_other_bus() {
        for addr in [0x08, 0x48, 0x77] {
            assert!(MPS2_AN505.has(&i2c(0, addr)));
        }
        assert!(!MPS2_AN505.has(&i2c(1, 0x48)));
        assert!(!OLIMEX_STM32_H405.has(&i2c(0, 0x48)), "QEMU's STM32F405 has no I2C");
    }

    #[test]
    fn adc_channels_spi_and_uarts() {
        assert!(OLIMEX_STM32_H405.has(&Resource::Adc(0)));
        assert!(OLIMEX_STM32_H405.has(&Resource::Adc(15)));
        assert!(!OLIMEX_STM32_H405.has(&Resource::Adc(16)));
        assert!(!MPS2_AN385.has(&Resource::Adc(0)));
        assert!(OLIMEX_STM32_H405.has(&Resource::Spi(0)));
        assert!(!OLIMEX_STM32_H405.has(&Resource::Spi(1)));
        assert!(OLIMEX_STM32_H405.has(&Resource::Uart(2)));
        assert!(MPS2_AN385.has(&Resource::Uart(1)));
        assert!(STM32VLDISCOVERY.has(&Resource::Uart(1)), "USART2, QEMU's -serial 1");
        assert!(!STM32VLDISCOVERY.has(&Resource::Uart(2)), "USART3 is the console");
        assert!(STM32VLDISCOVERY.has(&Resource::Spi(1)) && !STM32VLDISCOVERY.has(&Resource::Spi(2)));
    }

    #[test]
    fn no_board_offers_its_console_or_link_to_apps() {
        for b in BOARDS {
            let link = b.agent().and_then(|a| match a.link {
                crate::Link::Uart(u) => Some(u),
                crate::Link::Lan9118 { .. } => None,
            });
            let link = link.or(b.attached().map(|a| a.link));
            for p in b.peripherals {
                if let Peripheral::Uart { uart, .. } = p {
                    assert_ne!(*uart, b.console, "{}: the console is not for apps", b.name);
                    assert_ne!(Some(*uart), link, "{}: the link is not for apps", b.name);
                }
            }
            assert!(!b.has(&Resource::Uart(0)), "{}: port 0 is the console", b.name);
        }
    }

    #[test]
    fn each_resource_comes_from_one_peripheral() {
        let probes: Vec<Resource> = (0..4)
            .flat_map(|n| {
                [Resource::Gpio(Pin::Led(n)), i2c(n, 0x48), Resource::Spi(n), Resource::Adc(n), Resource::Uart(n)]
            })
            .collect();
        for b in BOARDS {
            for r in &probes {
                let n = b.peripherals.iter().filter(|p| p.provides().covers(r)).count();
                assert!(n <= 1, "{}: {r} from {n} peripherals", b.name);
            }
        }
    }

    #[test]
    fn the_simulator_models_what_it_says() {
        let has = |r| peripherals_have(SIM_PERIPHERALS, &r);
        assert!(has(Resource::Gpio(Pin::Led(1))) && !has(Resource::Gpio(Pin::Led(2))));
        assert!(has(i2c(0, 0x48)) && !has(i2c(1, 0x48)));
        assert!(has(Resource::Spi(0)) && !has(Resource::Spi(1)));
        assert!(has(Resource::Adc(3)) && !has(Resource::Adc(4)));
        assert!(has(Resource::Uart(1)) && !has(Resource::Uart(0)));
        assert_eq!(describe(SIM_PERIPHERALS), "gpio:led0, gpio:led1, i2c:0, spi:0, adc:0-3, uart:1");
    }

    #[test]
    fn descriptions() {
        assert_eq!(describe(&[]), "none");
        assert_eq!(describe(STM32VLDISCOVERY.peripherals), "gpio:led0, gpio:led1, spi:0, spi:1, uart:1");
        assert_eq!(OLIMEX_STM32_H405.describe_peripherals(), "spi:0, adc:0-15, uart:2");
        assert_eq!(describe(&[Peripheral::Simulated(Provides::AdcChannels { count: 1 })]), "adc:0");
        assert_eq!(describe(&[Peripheral::Simulated(Provides::Leds { count: 0 })]), "none");
    }
}
