//! Simulated peripherals: the hardware apps reach on a simulated device,
//! modelled in software, shaped by a board's peripheral list
//! ([`wasmbed_boards::SIM_PERIPHERALS`] for the simulator's own board, or
//! any board's, for `wasmbed run --board`).
//!
//! - LEDs: a level each; reading one returns what it was driven to.
//! - I2C: TMP105 temperature sensors ([`Tmp105`], register-level, as QEMU
//!   models them) attached by name at an address; any other address NACKs,
//!   as an empty bus does. [`SimPeripherals::new`] attaches the simulator's
//!   default, `temp0` at `i2c:0:0x48`, when the board has bus 0;
//!   [`SimPeripherals::bare`] attaches nothing, for a device whose spec
//!   declares its own ([`SimHandle::attach_tmp105`]).
//! - SPI: each bus loops MOSI back to MISO (a transfer returns what it sent).
//! - ADC: each channel converts a settable input voltage, 0-3.3 V, to a
//!   12-bit count; channel N is the sensor `adcN`.
//! - UART: what an app writes is captured (up to [`UART_CAPTURE`] bytes per
//!   port, then writes take nothing), and what is fed in is what it reads.
//!
//! The agent owns a [`SimPeripherals`]; the platform and tests keep a
//! [`SimHandle`] to the same state to set the physical world (`set_sensor`)
//! and observe outputs (`led`) from outside the app. A [`SimRegistry`]
//! holds the handle of each running simulated device by its id.
//!
//! ```
//! use wasmbed_agent::Peripherals;
//! use wasmbed_protocol::{Pin, Resource};
//! use wasmbed_sim::SimPeripherals;
//!
//! let mut hw = SimPeripherals::new(wasmbed_boards::SIM_PERIPHERALS);
//! let handle = hw.handle();
//! handle.set_sensor("temp0", 31.5).unwrap();
//! let mut t = [0u8; 2];
//! hw.i2c_write_read(0, 0x48, &[0], &mut t).unwrap();
//! assert_eq!(t, [0x1f, 0x80]); // 31.5 °C
//! hw.gpio_write(Pin::Led(0), true).unwrap();
//! assert_eq!(handle.led(0), Some(true));
//! assert!(hw.has(&Resource::I2c { bus: 0, addr: 0x48 }));
//! ```

mod tmp105;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub use tmp105::Tmp105;
use wasmbed_agent::{HwError, Peripherals};
use wasmbed_boards::{Peripheral, Provides, peripherals_have};
use wasmbed_protocol::{Pin, Resource};

/// Bytes of app output kept per serial port until taken.
pub const UART_CAPTURE: usize = 4096;
/// Where the simulator's default TMP105 sits: bus 0, address 0x48 (the
/// sensor `temp0`).
pub const TMP105_AT: (u8, u8) = (0, 0x48);
/// `celsius` if a TMP105 measures it: the platform's rule for the kind
/// (the datasheet's range, narrower than what QEMU's model stores), so
/// `wasmbed run` and simulated devices refuse what the API refuses.
fn tmp105_takes(celsius: f64) -> Option<f64> {
    wasmbed_model::SensorKind::Tmp105.check(celsius).ok()
}

/// The TMP105's range as people read it.
fn tmp105_range() -> String {
    let (min, max) = wasmbed_model::SensorKind::Tmp105.range();
    format!("{min} to {max} {}", wasmbed_model::SensorKind::Tmp105.unit())
}
/// The room a simulated device boots into, °C (QEMU's model starts at 0).
pub const DEFAULT_TEMP_C: f64 = 20.0;
/// ADC reference voltage, V: the input that reads full scale.
pub const ADC_VREF: f64 = 3.3;
/// ADC full scale (12 bits).
pub const ADC_MAX: u16 = 4095;

/// Why the world refused a value.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SensorError {
    /// The device has no sensor by that name.
    NoSuchSensor {
        /// The name asked for.
        name: String,
        /// The sensors it has (`temp0, adc0, ...`, or `none`).
        available: String,
    },
    /// The value is outside what the sensor can take.
    OutOfRange {
        /// The sensor.
        name: String,
        /// The value asked for.
        value: f64,
        /// What it takes, e.g. `-55 to 125 °C`.
        range: String,
    },
    /// The device has no such serial port.
    NoSuchPort(u8),
    /// A sensor cannot be attached there.
    CannotAttach {
        /// The sensor.
        name: String,
        /// Why not.
        why: String,
    },
}

impl fmt::Display for SensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSuchSensor { name, available } => {
                write!(f, "no sensor {name:?} on this device (it has: {available})")
            }
            Self::OutOfRange { name, value, range } => write!(f, "{name}: {value} is out of range ({range})"),
            Self::NoSuchPort(p) => write!(f, "no serial port uart:{p} on this device"),
            Self::CannotAttach { name, why } => write!(f, "cannot attach {name}: {why}"),
        }
    }
}

impl std::error::Error for SensorError {}

/// One serial port's buffers.
#[derive(Debug, Default)]
struct Port {
    /// What the app wrote, not yet taken.
    out: Vec<u8>,
    /// What was fed in, not yet read by the app.
    input: VecDeque<u8>,
}

/// A sensor on an I2C bus.
#[derive(Debug)]
struct Attached {
    name: String,
    bus: u8,
    addr: u8,
    dev: Tmp105,
}

/// The state of one device's hardware and its surroundings.
#[derive(Debug)]
struct World {
    leds: Vec<bool>,
    i2c_buses: Vec<u8>,
    i2c: Vec<Attached>,
    spi_buses: Vec<u8>,
    /// Raw count per channel.
    adc: Vec<u16>,
    uarts: BTreeMap<u8, Port>,
}

impl World {
    fn new(list: &[Peripheral]) -> Self {
        let mut w = Self {
            leds: Vec::new(),
            i2c_buses: Vec::new(),
            i2c: Vec::new(),
            spi_buses: Vec::new(),
            adc: Vec::new(),
            uarts: BTreeMap::new(),
        };
        for p in list {
            match p.provides() {
                Provides::Leds { count } => w.leds.resize(w.leds.len().max(count.into()), false),
                Provides::I2cBus(b) => w.i2c_buses.push(b),
                Provides::SpiBus(b) => w.spi_buses.push(b),
                Provides::AdcChannels { count } => w.adc.resize(w.adc.len().max(count.into()), 0),
                Provides::UartPort(n) => {
                    w.uarts.insert(n, Port::default());
                }
            }
        }
        w
    }

    fn attach_tmp105(&mut self, name: &str, bus: u8, addr: u8, celsius: f64) -> Result<(), SensorError> {
        let refuse = |why: String| Err(SensorError::CannotAttach { name: name.into(), why });
        if !self.i2c_buses.contains(&bus) {
            return refuse(format!("the device has no I2C bus {bus}"));
        }
        if let Some(a) = self.i2c.iter().find(|a| a.name == name || (a.bus, a.addr) == (bus, addr)) {
            return refuse(format!("{} is already at i2c:{}:{:#04x}", a.name, a.bus, a.addr));
        }
        if name.is_empty() || adc_channel(name).is_some() {
            return refuse("the name is empty or an ADC input's".into());
        }
        let mut dev = Tmp105::new(0.0);
        tmp105_takes(celsius).and_then(|c| dev.set_celsius(c)).ok_or_else(|| SensorError::OutOfRange {
            name: name.into(),
            value: celsius,
            range: tmp105_range(),
        })?;
        self.i2c.push(Attached { name: name.into(), bus, addr, dev });
        Ok(())
    }

    /// A cold boot: outputs and registers to their reset values; the
    /// physical world (temperature, input voltages) stays.
    fn power_cycle(&mut self) {
        self.leds.iter_mut().for_each(|l| *l = false);
        self.i2c.iter_mut().for_each(|a| a.dev.reset());
        for port in self.uarts.values_mut() {
            *port = Port::default();
        }
    }

    fn sensor_names(&self) -> Vec<String> {
        let attached = self.i2c.iter().map(|a| a.name.clone());
        attached.chain((0..self.adc.len()).map(|c| format!("adc{c}"))).collect()
    }

    /// The TMP105 when `(bus, addr)` is where it sits; `Unsupported` for a
    /// bus the board lacks, `Nack` for an address nothing answers.
    fn i2c_device(&mut self, bus: u8, addr: u8) -> Result<&mut Tmp105, HwError> {
        if !self.i2c_buses.contains(&bus) {
            return Err(HwError::Unsupported);
        }
        self.i2c.iter_mut().find(|a| (a.bus, a.addr) == (bus, addr)).map(|a| &mut a.dev).ok_or(HwError::Nack)
    }
}

/// The handle the platform and tests keep: set the physical world, observe
/// what the app drove. Clones share the device.
#[derive(Debug, Clone)]
pub struct SimHandle {
    world: Arc<Mutex<World>>,
}

impl SimHandle {
    fn world(&self) -> MutexGuard<'_, World> {
        // A panic while holding the lock cannot leave the plain data
        // inconsistent; keep going.
        self.world.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets a sensor's physical value: a TMP105 (`temp0`) in °C (-128 to
    /// 128, exclusive, as QEMU's takes), `adcN` in volts (0 to 3.3).
    pub fn set_sensor(&self, name: &str, value: f64) -> Result<(), SensorError> {
        let mut w = self.world();
        let out_of_range = |range| SensorError::OutOfRange { name: name.into(), value, range };
        if let Some(a) = w.i2c.iter_mut().find(|a| a.name == name) {
            return tmp105_takes(value).and_then(|v| a.dev.set_celsius(v)).ok_or_else(|| out_of_range(tmp105_range()));
        }
        if let Some(ch) = adc_channel(name)
            && let Some(count) = w.adc.get_mut(ch)
        {
            if !(0.0..=ADC_VREF).contains(&value) {
                return Err(out_of_range(format!("0 to {ADC_VREF} V")));
            }
            *count = (value / ADC_VREF * f64::from(ADC_MAX)).round() as u16;
            return Ok(());
        }
        Err(SensorError::NoSuchSensor { name: name.into(), available: names(&w.sensor_names()) })
    }

    /// A sensor's physical value as the device would measure it: a
    /// TMP105 in °C (to the model's 1/256 °C), `adcN` in volts (to 12
    /// bits).
    pub fn sensor(&self, name: &str) -> Option<f64> {
        let w = self.world();
        if let Some(a) = w.i2c.iter().find(|a| a.name == name) {
            return Some(a.dev.celsius());
        }
        let count = *w.adc.get(adc_channel(name)?)?;
        Some(f64::from(count) * ADC_VREF / f64::from(ADC_MAX))
    }

    /// The sensors this device has, by name.
    pub fn sensors(&self) -> Vec<String> {
        self.world().sensor_names()
    }

    /// Attaches a TMP105 named `name` at `addr` on I2C bus `bus`, measuring
    /// `celsius`: refused when the device has no such bus, or the name or
    /// address is taken.
    pub fn attach_tmp105(&self, name: &str, bus: u8, addr: u8, celsius: f64) -> Result<(), SensorError> {
        self.world().attach_tmp105(name, bus, addr, celsius)
    }

    /// LED `index`'s level, if the device has it.
    pub fn led(&self, index: u8) -> Option<bool> {
        self.world().leds.get(usize::from(index)).copied()
    }

    /// Every LED's level, LED 0 first.
    pub fn leds(&self) -> Vec<bool> {
        self.world().leds.clone()
    }

    /// Takes what apps wrote to serial port `port` since the last call.
    pub fn take_uart_output(&self, port: u8) -> Result<Vec<u8>, SensorError> {
        let mut w = self.world();
        let p = w.uarts.get_mut(&port).ok_or(SensorError::NoSuchPort(port))?;
        Ok(std::mem::take(&mut p.out))
    }

    /// Feeds bytes into serial port `port`, for apps to read.
    pub fn feed_uart(&self, port: u8, bytes: &[u8]) -> Result<(), SensorError> {
        let mut w = self.world();
        let p = w.uarts.get_mut(&port).ok_or(SensorError::NoSuchPort(port))?;
        p.input.extend(bytes);
        Ok(())
    }

    /// A cold boot of the device: LEDs off, sensor registers and serial
    /// buffers reset; the physical values set stay.
    pub fn power_cycle(&self) {
        self.world().power_cycle();
    }
}

fn adc_channel(name: &str) -> Option<usize> {
    let n = name.strip_prefix("adc")?;
    if n.is_empty() || n.len() > 3 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

fn names(list: &[String]) -> String {
    if list.is_empty() { "none".into() } else { list.join(", ") }
}

/// A simulated device's peripherals, as the agent drives them
/// ([`Peripherals`]). Lend it to [`wasmbed_agent::Agent::with_peripherals`]
/// (boxed) and keep its [`handle`](Self::handle).
#[derive(Debug, Clone)]
pub struct SimPeripherals {
    list: &'static [Peripheral],
    handle: SimHandle,
}

impl SimPeripherals {
    /// The peripherals `list` names (a board's `peripherals`, or
    /// [`wasmbed_boards::SIM_PERIPHERALS`]) at power-up, with the
    /// simulator's default sensor: a TMP105 `temp0` at `i2c:0:0x48`
    /// ([`TMP105_AT`]) in a room at [`DEFAULT_TEMP_C`], when the board has
    /// I2C bus 0.
    pub fn new(list: &'static [Peripheral]) -> Self {
        let hw = Self::bare(list);
        let (bus, addr) = TMP105_AT;
        // Refused only when the board has no bus 0: then there is no temp0.
        let _ = hw.handle.attach_tmp105("temp0", bus, addr, DEFAULT_TEMP_C);
        hw
    }

    /// The peripherals `list` names, with nothing attached to their buses.
    pub fn bare(list: &'static [Peripheral]) -> Self {
        Self { list, handle: SimHandle { world: Arc::new(Mutex::new(World::new(list))) } }
    }

    /// A handle to the same device.
    pub fn handle(&self) -> SimHandle {
        self.handle.clone()
    }

    /// The board's peripheral list this was shaped by.
    pub fn list(&self) -> &'static [Peripheral] {
        self.list
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.handle.world()
    }
}

impl Peripherals for SimPeripherals {
    fn has(&self, resource: &Resource) -> bool {
        peripherals_have(self.list, resource)
    }

    fn gpio_read(&mut self, pin: Pin) -> Result<bool, HwError> {
        match pin {
            Pin::Led(i) => self.world().leds.get(usize::from(i)).copied().ok_or(HwError::Unsupported),
            Pin::Button(_) => Err(HwError::Unsupported),
        }
    }

    fn gpio_write(&mut self, pin: Pin, high: bool) -> Result<(), HwError> {
        match pin {
            Pin::Led(i) => {
                *self.world().leds.get_mut(usize::from(i)).ok_or(HwError::Unsupported)? = high;
                Ok(())
            }
            // An input.
            Pin::Button(_) => Err(HwError::Invalid),
        }
    }

    fn i2c_write(&mut self, bus: u8, addr: u8, data: &[u8]) -> Result<(), HwError> {
        let mut w = self.world();
        let dev = w.i2c_device(bus, addr)?;
        dev.start_write();
        data.iter().for_each(|&b| dev.write_byte(b));
        Ok(())
    }

    fn i2c_read(&mut self, bus: u8, addr: u8, buf: &mut [u8]) -> Result<(), HwError> {
        let mut w = self.world();
        let dev = w.i2c_device(bus, addr)?;
        dev.start_read();
        buf.iter_mut().for_each(|b| *b = dev.read_byte());
        Ok(())
    }

    fn i2c_write_read(&mut self, bus: u8, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), HwError> {
        self.i2c_write(bus, addr, data)?;
        self.i2c_read(bus, addr, buf)
    }

    fn spi_transfer(&mut self, bus: u8, buf: &mut [u8]) -> Result<(), HwError> {
        // Loopback: what went out is what came in, so `buf` stays.
        let _ = buf;
        if self.world().spi_buses.contains(&bus) { Ok(()) } else { Err(HwError::Unsupported) }
    }

    fn adc_read(&mut self, channel: u8) -> Result<u16, HwError> {
        self.world().adc.get(usize::from(channel)).copied().ok_or(HwError::Unsupported)
    }

    fn uart_write(&mut self, port: u8, data: &[u8]) -> Result<usize, HwError> {
        let mut w = self.world();
        let p = w.uarts.get_mut(&port).ok_or(HwError::Unsupported)?;
        let n = data.len().min(UART_CAPTURE.saturating_sub(p.out.len()));
        p.out.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn uart_read(&mut self, port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        let mut w = self.world();
        let p = w.uarts.get_mut(&port).ok_or(HwError::Unsupported)?;
        let n = buf.len().min(p.input.len());
        for (slot, b) in buf.iter_mut().zip(p.input.drain(..n)) {
            *slot = b;
        }
        Ok(n)
    }
}

/// The handles of the simulated devices running in this process, by
/// device id: how the platform reaches a simulated device's world
/// (`wasmbed device sensor DEV temp0 --set 31.5`). Clones share it.
#[derive(Debug, Clone, Default)]
pub struct SimRegistry(Arc<Mutex<BTreeMap<String, SimHandle>>>);

impl SimRegistry {
    fn map(&self) -> MutexGuard<'_, BTreeMap<String, SimHandle>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The handle of simulated device `device`, while it runs here.
    pub fn get(&self, device: &str) -> Option<SimHandle> {
        self.map().get(device).cloned()
    }

    /// The ids of the simulated devices running here.
    pub fn devices(&self) -> Vec<String> {
        self.map().keys().cloned().collect()
    }

    pub(crate) fn insert(&self, device: &str, handle: SimHandle) {
        self.map().insert(device.into(), handle);
    }

    pub(crate) fn remove(&self, device: &str) {
        self.map().remove(device);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Test: a failed unwrap is a failed test.

    use wasmbed_boards::{MPS2_AN385, OLIMEX_STM32_H405, SIM_PERIPHERALS};

    use super::*;

    #[test]
    fn the_simulator_board_has_a_tmp105_as_temp0_and_four_adc_inputs() {
        let hw = SimPeripherals::new(SIM_PERIPHERALS);
        assert_eq!(hw.handle().sensors(), ["temp0", "adc0", "adc1", "adc2", "adc3"]);
        assert_eq!(hw.handle().sensor("temp0"), Some(DEFAULT_TEMP_C));
        assert_eq!(hw.handle().leds(), [false, false]);
    }

    #[test]
    fn a_board_is_modelled_as_its_table_says() {
        let mps2 = SimPeripherals::new(MPS2_AN385.peripherals).handle();
        assert_eq!(mps2.sensors(), ["temp0"]);
        assert!(mps2.feed_uart(1, b"x").is_ok());
        let olimex = SimPeripherals::new(OLIMEX_STM32_H405.peripherals).handle();
        assert_eq!(olimex.sensors().len(), 16, "16 ADC channels, no I2C: {:?}", olimex.sensors());
        assert_eq!(olimex.led(0), None);
        let e = olimex.set_sensor("temp0", 20.0).unwrap_err();
        assert!(e.to_string().contains("adc0, adc1"), "{e}");
    }

    #[test]
    fn the_sensor_reads_what_the_world_was_set_to() {
        let mut hw = SimPeripherals::new(SIM_PERIPHERALS);
        hw.handle().set_sensor("temp0", -25.0).unwrap();
        let mut t = [0u8; 2];
        hw.i2c_write_read(0, 0x48, &[0], &mut t).unwrap();
        assert_eq!(t, [0xe7, 0x00]);
        assert_eq!(hw.i2c_read(0, 0x49, &mut t), Err(HwError::Nack), "nothing at 0x49");
        assert_eq!(hw.i2c_write(1, 0x48, &[0]), Err(HwError::Unsupported), "no bus 1");
    }

    #[test]
    fn bad_sensor_values_are_refused_by_name() {
        let h = SimPeripherals::new(SIM_PERIPHERALS).handle();
        assert!(matches!(h.set_sensor("temp0", 200.0), Err(SensorError::OutOfRange { .. })));
        // The platform's range for the kind, not the wider one QEMU stores.
        let e = h.set_sensor("temp0", 126.0).unwrap_err().to_string();
        assert!(e.contains("-55 to 125 °C"), "{e}");
        assert!(matches!(h.set_sensor("adc0", -1.0), Err(SensorError::OutOfRange { .. })));
        assert!(matches!(h.set_sensor("adc4", 1.0), Err(SensorError::NoSuchSensor { .. })));
        assert!(matches!(h.set_sensor("humidity0", 1.0), Err(SensorError::NoSuchSensor { .. })));
        assert_eq!(h.sensor("temp0"), Some(DEFAULT_TEMP_C), "unchanged");
    }

    #[test]
    fn adc_inputs_convert_to_twelve_bits() {
        let mut hw = SimPeripherals::new(SIM_PERIPHERALS);
        hw.handle().set_sensor("adc2", 1.65).unwrap();
        assert_eq!(hw.adc_read(2), Ok(2048));
        assert_eq!(hw.adc_read(0), Ok(0));
        assert_eq!(hw.adc_read(4), Err(HwError::Unsupported));
        hw.handle().set_sensor("adc3", ADC_VREF).unwrap();
        assert_eq!(hw.adc_read(3), Ok(ADC_MAX));
    }

    #[test]
    fn leds_spi_and_uart() {
        let mut hw = SimPeripherals::new(SIM_PERIPHERALS);
        let h = hw.handle();
        hw.gpio_write(Pin::Led(1), true).unwrap();
        assert_eq!((h.led(1), hw.gpio_read(Pin::Led(1))), (Some(true), Ok(true)));
        assert_eq!(hw.gpio_write(Pin::Led(2), true), Err(HwError::Unsupported));
        assert_eq!(hw.gpio_write(Pin::Button(0), true), Err(HwError::Invalid));
        let mut frame = [1, 2, 3];
        hw.spi_transfer(0, &mut frame).unwrap();
        assert_eq!(frame, [1, 2, 3], "loopback");
        assert_eq!(hw.spi_transfer(1, &mut frame), Err(HwError::Unsupported));
        assert_eq!(hw.uart_write(1, b"hi"), Ok(2));
        assert_eq!(h.take_uart_output(1).unwrap(), b"hi");
        h.feed_uart(1, b"abc").unwrap();
        let mut buf = [0u8; 2];
        assert_eq!(hw.uart_read(1, &mut buf), Ok(2));
        assert_eq!(&buf, b"ab");
        assert_eq!(hw.uart_write(0, b"x"), Err(HwError::Unsupported), "port 0 is the console");
        assert_eq!(h.feed_uart(0, b"x"), Err(SensorError::NoSuchPort(0)));
    }

    #[test]
    fn uart_capture_is_bounded() {
        let mut hw = SimPeripherals::new(SIM_PERIPHERALS);
        let big = vec![b'x'; 300];
        let mut total = 0;
        for _ in 0..20 {
            total += hw.uart_write(1, &big).unwrap();
        }
        assert_eq!(total, UART_CAPTURE);
        assert_eq!(hw.uart_write(1, b"y"), Ok(0));
    }

    #[test]
    fn a_power_cycle_resets_outputs_but_not_the_world() {
        let mut hw = SimPeripherals::new(SIM_PERIPHERALS);
        let h = hw.handle();
        hw.gpio_write(Pin::Led(0), true).unwrap();
        h.set_sensor("temp0", 31.5).unwrap();
        h.power_cycle();
        assert_eq!(h.led(0), Some(false));
        assert_eq!(h.sensor("temp0"), Some(31.5));
    }

    #[test]
    fn sensors_attach_where_a_spec_declares_them() {
        let mut hw = SimPeripherals::bare(MPS2_AN385.peripherals);
        let h = hw.handle();
        assert!(h.sensors().is_empty());
        h.attach_tmp105("outside", 0, 0x49, -5.0).unwrap();
        assert!(matches!(h.attach_tmp105("again", 0, 0x49, 0.0), Err(SensorError::CannotAttach { .. })));
        assert!(matches!(h.attach_tmp105("outside", 0, 0x4a, 0.0), Err(SensorError::CannotAttach { .. })));
        assert!(matches!(h.attach_tmp105("far", 1, 0x48, 0.0), Err(SensorError::CannotAttach { .. })));
        assert!(matches!(h.attach_tmp105("hot", 0, 0x4b, 300.0), Err(SensorError::OutOfRange { .. })));
        let mut t = [0u8; 2];
        assert_eq!(hw.i2c_read(0, 0x48, &mut t), Err(HwError::Nack), "nothing at the default address");
        hw.i2c_write_read(0, 0x49, &[0], &mut t).unwrap();
        assert_eq!(t, [0xfb, 0x00], "-5 °C");
        assert_eq!(h.sensors(), ["outside"]);
    }

    #[test]
    fn the_registry_finds_devices_by_id() {
        let reg = SimRegistry::default();
        let h = SimPeripherals::new(SIM_PERIPHERALS).handle();
        reg.insert("sim-1", h.clone());
        reg.get("sim-1").unwrap().set_sensor("temp0", 30.0).unwrap();
        assert_eq!(h.sensor("temp0"), Some(30.0));
        assert_eq!(reg.devices(), ["sim-1"]);
        reg.remove("sim-1");
        assert!(reg.get("sim-1").is_none());
    }
}
