//! A thermostat: reads a TI TMP105 at `i2c:0:0x48` every tick, drives LED 0
//! on above the threshold (`threshold_c` from the app's config, 30 °C
//! without it) and off below it, publishes the temperature as `temp_c`,
//! and logs when the LED changes or the sensor fails. Needs `log`,
//! `config`, `telemetry`, `i2c:0:0x48` and `gpio:led0`.
#![no_std]

use core::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use wasmbed_sdk::gpio::Pin;
use wasmbed_sdk::{App, HostError, Line, config, i2c, telemetry};

/// The sensor: a TMP105 on bus 0 at its default address.
const BUS: u8 = 0;
const TMP105: u8 = 0x48;
/// TMP105 registers (its pointer register selects one).
const REG_TEMPERATURE: u8 = 0x00;
const REG_CONFIG: u8 = 0x01;
/// Configuration: 12-bit resolution (R1 = R0 = 1); at power-up it is 9-bit.
const CONFIG_12_BIT: u8 = 0x60;

const LED: Pin = Pin::led(0);
const DEFAULT_THRESHOLD_C: f64 = 30.0;

/// The threshold in sixteenths of a degree, as the sensor counts.
static THRESHOLD: AtomicI32 = AtomicI32::new(30 * 16);
/// What was last logged: 0 nothing yet, 1 LED off, 2 LED on, 3 a failure.
static SHOWN: AtomicU8 = AtomicU8::new(0);
const OFF: u8 = 1;
const ON: u8 = 2;
const FAILED: u8 = 3;

struct Thermostat;

/// The temperature in sixteenths of a degree: the register is 12 bits of
/// two's complement, left-justified in 16, 1/16 °C per LSB.
fn read_sixteenths() -> Result<i32, HostError> {
    let mut raw = [0u8; 2];
    i2c::write_read(BUS, TMP105, &[REG_TEMPERATURE], &mut raw)?;
    Ok(i32::from(i16::from_be_bytes(raw) >> 4))
}

/// `sixteenths` as `21.50`.
fn push_celsius(line: &mut Line, sixteenths: i32) -> &mut Line {
    line.push_decimal(i64::from(sixteenths) * 100 / 16, 2)
}

fn fail(what: &str, e: HostError) {
    if SHOWN.swap(FAILED, Ordering::Relaxed) != FAILED {
        Line::new().push_str(what).push_str(": ").push_str(e.name()).log();
    }
}

impl App for Thermostat {
    fn init() {
        let threshold = config::number("threshold_c").unwrap_or(DEFAULT_THRESHOLD_C);
        let sixteenths = (threshold * 16.0) as i32;
        THRESHOLD.store(sixteenths, Ordering::Relaxed);
        let mut line = Line::new();
        push_celsius(line.push_str("thermostat: LED 0 on above "), sixteenths).push_str(" C").log();
        if let Err(e) = i2c::write(BUS, TMP105, &[REG_CONFIG, CONFIG_12_BIT]) {
            fail("tmp105 setup", e);
        }
    }

    fn tick(_now_ms: u64) {
        let t = match read_sixteenths() {
            Ok(t) => t,
            Err(e) => return fail("tmp105", e),
        };
        let _ = telemetry::publish("temp_c", f64::from(t) / 16.0);
        let threshold = THRESHOLD.load(Ordering::Relaxed);
        let want = match t.cmp(&threshold) {
            core::cmp::Ordering::Greater => ON,
            core::cmp::Ordering::Less => OFF,
            // At the threshold: as it was (off at first).
            core::cmp::Ordering::Equal => match SHOWN.load(Ordering::Relaxed) {
                ON => ON,
                _ => OFF,
            },
        };
        if let Err(e) = LED.set(want == ON) {
            return fail("led0", e);
        }
        if SHOWN.swap(want, Ordering::Relaxed) != want {
            let mut line = Line::new();
            push_celsius(line.push_str("temperature "), t).push_str(" C: LED 0 ");
            line.push_str(if want == ON { "on" } else { "off" }).log();
        }
    }
}

wasmbed_sdk::export!(Thermostat);
