//! Sensors attached to a device, and the one door for setting what they
//! measure.
//!
//! A Device's spec may declare peripherals wired to its board
//! ([`AttachedPeripheral`]: a name, a [`SensorKind`], where it sits and an
//! optional initial value); whoever runs the device (the QEMU manager, the
//! simulator) attaches them. [`Sensors`] sets and reads the physical value
//! a sensor measures on a running device — the API, the CLI and tests use
//! it to drive the world an app sees.
//!
//! Rules, in short:
//! - A sensor's name is `[a-z][a-z0-9-]{0,15}`, unique on its device; at
//!   most [`MAX_PERIPHERALS`] per device.
//! - `at` is written as a grant names hardware (`i2c:0:0x48`, parsed by
//!   [`Grant::parse`](wasmbed_protocol::Grant::parse)); it must be a bus
//!   the kind sits on, one the device's board has ([`Board::has`](crate::Board::has):
//!   the board table, or for `sim` what the simulator models), and no two
//!   peripherals share an address. The board
//!   table lists only the buses a peripheral can be attached to in QEMU
//!   (I2C bus 0 on the MPS2 boards), so that is the one rule.
//! - Values are in the kind's unit and within its range
//!   ([`SensorKind::range`]); anything else is refused before it reaches an
//!   emulator ([`SensorKind::check`]).
//!
//! ```
//! use wasmbed_model::{AttachedPeripheral, DeviceSpec, SensorKind};
//! let p: AttachedPeripheral = "temp0=tmp105@i2c:0:0x48=21.5".parse().unwrap();
//! assert_eq!(p.kind, SensorKind::Tmp105);
//! let spec = DeviceSpec { board: "mps2-an385".into(), peripherals: vec![p], ..Default::default() };
//! assert!(spec.validate().is_ok());
//! let bad = DeviceSpec { board: "olimex-stm32-h405".into(), ..spec };
//! assert_eq!(bad.validate().unwrap_err().field, "spec.peripherals[0].at");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use wasmbed_protocol::{Capability, Grant, Resource};

use crate::{Device, Gauge, ValidationError};

/// Most peripherals one device declares.
pub const MAX_PERIPHERALS: usize = 8;
/// Longest peripheral name.
pub const MAX_PERIPHERAL_NAME: usize = 16;

/// What kind of sensor a peripheral is: what it measures, in which unit,
/// over which range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SensorKind {
    /// Texas Instruments TMP105: temperature in °C, on an I2C bus, from
    /// -55 to 125 °C (the part's specified range; QEMU's model takes
    /// -128 ≤ t < 128 and keeps 1/256 °C, so a value may read back a
    /// little lower than it was set, e.g. 20.938 → 20.9375).
    Tmp105,
}

impl SensorKind {
    /// Every kind.
    pub const ALL: &[SensorKind] = &[SensorKind::Tmp105];

    /// As specs write it (`tmp105`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Tmp105 => "tmp105",
        }
    }

    /// The kind named `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// What it measures (`temperature`).
    pub fn quantity(self) -> &'static str {
        match self {
            Self::Tmp105 => "temperature",
        }
    }

    /// The unit values are in (`°C`).
    pub fn unit(self) -> &'static str {
        match self {
            Self::Tmp105 => "°C",
        }
    }

    /// The lowest and highest value it measures, inclusive.
    pub fn range(self) -> (f64, f64) {
        match self {
            Self::Tmp105 => (-55.0, 125.0),
        }
    }

    /// The bus it sits on.
    pub fn bus(self) -> Capability {
        match self {
            Self::Tmp105 => Capability::I2c,
        }
    }

    /// `value` if this kind can measure it (a finite number within
    /// [`range`](Self::range)); otherwise why not, as a sentence.
    pub fn check(self, value: f64) -> Result<f64, String> {
        let (min, max) = self.range();
        if value.is_finite() && (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(format!("{value} {} is outside what a {self} measures ({min} to {max} {})", self.unit(), self.unit()))
        }
    }
}

impl fmt::Display for SensorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A peripheral wired to a device's board, as its spec declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttachedPeripheral {
    /// Its name on the device (`temp0`): `[a-z][a-z0-9-]{0,15}`, unique
    /// per device.
    pub name: String,
    /// What it is.
    pub kind: SensorKind,
    /// Where it sits, as a grant names hardware: `i2c:BUS:ADDR`
    /// (`i2c:0:0x48`).
    pub at: String,
    /// What it measures when the device starts, in the kind's unit
    /// (`21.5` °C); the emulator's default (0) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<Gauge>,
}

impl AttachedPeripheral {
    /// The hardware `at` names, if it is well formed.
    pub fn resource(&self) -> Result<Resource, String> {
        match Grant::parse(&self.at) {
            Ok(Grant::Hardware(r)) => Ok(r),
            Ok(Grant::Group(_)) => Err(format!("{:?} names no hardware", self.at)),
            Err(e) => Err(format!("{:?}: {}", self.at, e.why)),
        }
    }
}

/// `NAME=KIND@AT[=INITIAL]`, as the CLI takes it:
/// `temp0=tmp105@i2c:0:0x48` or `temp0=tmp105@i2c:0:0x48=21.5`. Only the
/// form is checked here; [`DeviceSpec::validate`](crate::DeviceSpec::validate)
/// checks the rest.
impl FromStr for AttachedPeripheral {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let form = "expected NAME=KIND@AT[=INITIAL], e.g. temp0=tmp105@i2c:0:0x48=21.5";
        let (name, rest) = s.split_once('=').ok_or_else(|| format!("{s:?}: {form}"))?;
        let (kind, rest) = rest.split_once('@').ok_or_else(|| format!("{s:?}: {form}"))?;
        let (at, initial) = match rest.split_once('=') {
            Some((at, v)) => {
                let v: f64 = v.trim().parse().map_err(|_| format!("{s:?}: the initial value {v:?} is not a number"))?;
                (at, Some(Gauge(v)))
            }
            None => (rest, None),
        };
        let kind = SensorKind::from_name(kind.trim())
            .ok_or_else(|| format!("{s:?}: unknown kind {kind:?}; known: {}", kinds()))?;
        Ok(Self { name: name.trim().into(), kind, at: at.trim().into(), initial })
    }
}

fn kinds() -> String {
    SensorKind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && name.len() <= MAX_PERIPHERAL_NAME
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Field names per index, so errors can say `spec.peripherals[2].at`
/// ([`ValidationError`] names fields with static strings).
macro_rules! peripheral_fields {
    ($($i:literal),*) => {
        [$([
            concat!("spec.peripherals[", $i, "].name"),
            concat!("spec.peripherals[", $i, "].at"),
            concat!("spec.peripherals[", $i, "].initial"),
        ]),*]
    };
}
const FIELDS: [[&str; 3]; MAX_PERIPHERALS] = peripheral_fields!(0, 1, 2, 3, 4, 5, 6, 7);

/// Checks a device's peripherals against its board (see the module's rules).
pub(crate) fn validate_peripherals(board: &str, list: &[AttachedPeripheral]) -> Result<(), ValidationError> {
    if list.len() > MAX_PERIPHERALS {
        return Err(ValidationError {
            field: "spec.peripherals",
            why: format!("{} peripherals; at most {MAX_PERIPHERALS} per device", list.len()),
        });
    }
    let mut seen: Vec<(&str, Resource)> = Vec::new();
    for (p, [name_field, at_field, initial_field]) in list.iter().zip(FIELDS) {
        if !valid_name(&p.name) {
            return Err(ValidationError {
                field: name_field,
                why: format!(
                    "{:?} must be 1-{MAX_PERIPHERAL_NAME} characters of [a-z0-9-], starting with a letter",
                    p.name
                ),
            });
        }
        if seen.iter().any(|(n, _)| *n == p.name) {
            return Err(ValidationError { field: name_field, why: format!("{:?} is declared twice", p.name) });
        }
        let at = |why: String| ValidationError { field: at_field, why };
        let r = p.resource().map_err(at)?;
        if r.capability() != p.kind.bus() {
            return Err(at(format!(
                "{:?}: a {} sits on an {} bus ({})",
                p.at,
                p.kind,
                p.kind.bus().name(),
                match p.kind.bus() {
                    Capability::I2c => "i2c:BUS:ADDR, e.g. i2c:0:0x48",
                    _ => "see the kind's documentation",
                }
            )));
        }
        if let Some(b) = crate::board(board)
            && !b.has(&r)
        {
            let offers = b.describe_peripherals();
            return Err(at(format!("{:?}: board {board} has no such bus; it offers {offers}", p.at)));
        }
        if let Some((other, _)) = seen.iter().find(|(_, o)| *o == r) {
            return Err(at(format!("{:?}: {other} is already there", p.at)));
        }
        if let Some(Gauge(v)) = p.initial {
            p.kind.check(v).map_err(|why| ValidationError { field: initial_field, why })?;
        }
        seen.push((&p.name, r));
    }
    Ok(())
}

/// Why a sensor could not be set or read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SensorError {
    /// No device of that name.
    #[error("device {device:?} not found")]
    NoSuchDevice {
        /// The name asked for.
        device: String,
    },
    /// The device declares no sensor of that name.
    #[error("device {device} has no sensor {sensor:?}; {}", attached_list(.attached))]
    NoSuchSensor {
        /// The device.
        device: String,
        /// The name asked for.
        sensor: String,
        /// The sensors it has.
        attached: Vec<String>,
    },
    /// The value is not one the sensor measures.
    #[error("{sensor}: {why}")]
    OutOfRange {
        /// The sensor.
        sensor: String,
        /// What it is.
        kind: SensorKind,
        /// The value asked for.
        value: f64,
        /// Why, as [`SensorKind::check`] says it.
        why: String,
    },
    /// The device's emulator is not running now (stopped, restarting, not
    /// started yet).
    #[error("device {device} is not running: {why}")]
    NotRunning {
        /// The device.
        device: String,
        /// Where it is instead.
        why: String,
    },
    /// Nothing here emulates the device (a simulated device, or a platform
    /// that runs no emulator).
    #[error(
        "device {device} (board {board}) has no emulator on this platform, so its sensors cannot be reached from here"
    )]
    NoEmulator {
        /// The device.
        device: String,
        /// Its board.
        board: String,
    },
    /// The emulator refused or did not answer.
    #[error("the emulator: {0}")]
    Emulator(String),
}

fn attached_list(attached: &[String]) -> String {
    if attached.is_empty() { "it has no sensors attached".into() } else { format!("attached: {}", attached.join(", ")) }
}

impl SensorError {
    /// The sensor `sensor` of `device`, or [`SensorError::NoSuchSensor`]
    /// naming the ones it has.
    pub fn find<'a>(device: &'a Device, sensor: &str) -> Result<&'a AttachedPeripheral, SensorError> {
        device.spec.peripherals.iter().find(|p| p.name == sensor).ok_or_else(|| SensorError::NoSuchSensor {
            device: device.meta.name.clone(),
            sensor: sensor.into(),
            attached: device.spec.peripherals.iter().map(|p| p.name.clone()).collect(),
        })
    }

    /// `value` if `p` measures it, or [`SensorError::OutOfRange`].
    pub fn in_range(p: &AttachedPeripheral, value: f64) -> Result<f64, SensorError> {
        p.kind.check(value).map_err(|why| SensorError::OutOfRange { sensor: p.name.clone(), kind: p.kind, value, why })
    }
}

/// A sensor and what it measures now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SensorReading {
    /// Its name on the device.
    pub name: String,
    /// What it is.
    pub kind: SensorKind,
    /// Where it sits (`i2c:0:0x48`).
    pub at: String,
    /// What it measures (`temperature`).
    pub quantity: String,
    /// The unit of `value`, `min` and `max` (`°C`).
    pub unit: String,
    /// Lowest value it measures.
    pub min: f64,
    /// Highest value it measures.
    pub max: f64,
    /// What it measures now, as the emulator reports it; `None` when it
    /// cannot be read (see `error`).
    pub value: Option<f64>,
    /// Why there is no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl SensorReading {
    /// `p` with what reading it gave.
    pub fn new(p: &AttachedPeripheral, read: Result<f64, SensorError>) -> Self {
        let (min, max) = p.kind.range();
        let (value, error) = match read {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e.to_string())),
        };
        Self {
            name: p.name.clone(),
            kind: p.kind,
            at: p.at.clone(),
            quantity: p.kind.quantity().into(),
            unit: p.kind.unit().into(),
            min,
            max,
            value,
            error,
        }
    }
}

/// Sets and reads the physical values sensors of running devices measure.
/// Implemented by whoever runs devices (the QEMU manager); the API calls it.
#[async_trait::async_trait]
pub trait Sensors: Send + Sync {
    /// Sets what `sensor` of `device` measures to `value` (in its kind's
    /// unit) and returns the value as the emulator now reports it.
    async fn set(&self, device: &str, sensor: &str, value: f64) -> Result<f64, SensorError>;

    /// What `sensor` of `device` measures now.
    async fn get(&self, device: &str, sensor: &str) -> Result<f64, SensorError>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DeviceSpec;

    fn tmp105(name: &str, at: &str) -> AttachedPeripheral {
        AttachedPeripheral { name: name.into(), kind: SensorKind::Tmp105, at: at.into(), initial: None }
    }

    fn spec(board: &str, peripherals: Vec<AttachedPeripheral>) -> DeviceSpec {
        DeviceSpec { board: board.into(), peripherals, ..Default::default() }
    }

    fn refused(board: &str, peripherals: Vec<AttachedPeripheral>) -> ValidationError {
        spec(board, peripherals).validate().unwrap_err()
    }

    #[test]
    fn a_tmp105_on_i2c_bus_0_is_accepted_on_mps2_boards_and_the_simulator() {
        for board in ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "sim"] {
            let mut p = tmp105("temp0", "i2c:0:0x48");
            p.initial = Some(Gauge(21.5));
            assert_eq!(spec(board, vec![p, tmp105("temp1", "i2c:0:0x49")]).validate(), Ok(()), "{board}");
        }
    }

    #[test]
    fn bad_peripherals_are_refused_naming_the_field() {
        let e = refused("olimex-stm32-h405", vec![tmp105("temp0", "i2c:0:0x48")]);
        assert_eq!(e.field, "spec.peripherals[0].at");
        assert!(e.why.contains("no such bus") && e.why.contains("adc:0-15"), "{e}");
        let e = refused("mps2-an385", vec![tmp105("temp0", "i2c:0:0x48"), tmp105("temp1", "i2c:1:0x48")]);
        assert_eq!(e.field, "spec.peripherals[1].at", "only bus 0 can be attached to on MPS2: {e}");
        assert_eq!(refused("mps2-an385", vec![tmp105("temp0", "spi:0")]).field, "spec.peripherals[0].at");
        assert!(refused("mps2-an385", vec![tmp105("temp0", "spi:0")]).why.contains("sits on an i2c bus"));
        for at in ["i2c:0:0x7f", "i2c:0", "i2c", "log", "", "i2c:zero:0x48"] {
            assert_eq!(refused("sim", vec![tmp105("t", at)]).field, "spec.peripherals[0].at", "{at}");
        }
        let e = refused("sim", vec![tmp105("a", "i2c:0:0x48"), tmp105("b", "i2c:0:72")]);
        assert!(e.field == "spec.peripherals[1].at" && e.why.contains("a is already there"), "{e}");
        for name in ["", "Temp", "0t", "t_0", "t.0", "a-very-long-sensor-name"] {
            assert_eq!(refused("sim", vec![tmp105(name, "i2c:0:0x48")]).field, "spec.peripherals[0].name", "{name}");
        }
        let e = refused("sim", vec![tmp105("t", "i2c:0:0x48"), tmp105("t", "i2c:0:0x49")]);
        assert_eq!((e.field, e.why.contains("twice")), ("spec.peripherals[1].name", true));
        let mut hot = tmp105("t", "i2c:0:0x48");
        hot.initial = Some(Gauge(150.0));
        let e = refused("sim", vec![hot]);
        assert_eq!(e.field, "spec.peripherals[0].initial");
        assert!(e.why.contains("-55 to 125 °C"), "{e}");
        let many = (0..9).map(|i| tmp105(&format!("t{i}"), &format!("i2c:0:{}", 0x48 + i))).collect();
        assert_eq!(refused("sim", many).field, "spec.peripherals");
    }

    #[test]
    fn the_cli_form_parses_and_says_what_it_expects() {
        let p: AttachedPeripheral = "temp0=tmp105@i2c:0:0x48".parse().unwrap();
        assert_eq!(p, tmp105("temp0", "i2c:0:0x48"));
        let p: AttachedPeripheral = "temp0=tmp105@i2c:0:0x48=-3.25".parse().unwrap();
        assert_eq!(p.initial, Some(Gauge(-3.25)));
        for bad in ["temp0", "temp0=tmp105", "temp0=bmp280@i2c:0:0x76", "t=tmp105@i2c:0:0x48=warm"] {
            let e = bad.parse::<AttachedPeripheral>().unwrap_err();
            assert!(e.contains(bad), "names the input: {e}");
        }
        assert!("t=x@i2c:0:0x48".parse::<AttachedPeripheral>().unwrap_err().contains("known: tmp105"));
    }

    #[test]
    fn values_outside_the_range_or_not_finite_are_refused() {
        let k = SensorKind::Tmp105;
        assert_eq!(k.check(31.5), Ok(31.5));
        assert_eq!(k.check(-55.0), Ok(-55.0));
        assert_eq!(k.check(125.0), Ok(125.0));
        for v in [125.01, -55.5, f64::NAN, f64::INFINITY] {
            assert!(k.check(v).is_err(), "{v}");
        }
    }

    #[test]
    fn json_is_lower_case_kinds_and_camel_case_fields() {
        let mut p = tmp105("temp0", "i2c:0:0x48");
        p.initial = Some(Gauge(21.5));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json, serde_json::json!({"name": "temp0", "kind": "tmp105", "at": "i2c:0:0x48", "initial": 21.5}));
        let spec = spec("sim", vec![]);
        assert!(serde_json::to_value(&spec).unwrap().get("peripherals").is_none(), "left out when empty");
    }

    #[test]
    fn errors_name_what_there_is() {
        let mut d = Device {
            meta: crate::Meta::named("d1"),
            spec: spec("mps2-an385", vec![tmp105("temp0", "i2c:0:0x48")]),
            status: Default::default(),
        };
        let e = SensorError::find(&d, "temp9").unwrap_err();
        assert_eq!(e.to_string(), "device d1 has no sensor \"temp9\"; attached: temp0");
        d.spec.peripherals.clear();
        let e = SensorError::find(&d, "temp0").unwrap_err();
        assert_eq!(e.to_string(), "device d1 has no sensor \"temp0\"; it has no sensors attached");
    }
}
