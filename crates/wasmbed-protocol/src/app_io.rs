//! What apps exchange with the world (ABI v2): peripheral grants, the codes
//! host functions return, telemetry, configuration and messages.
//!
//! A grant names hardware at the granularity a reviewer can judge:
//! `gpio:led0`, `i2c:0:0x48`, `spi:0`, `adc:3`, `uart:1`. [`Grant::parse`]
//! is the one parser of those strings (API, CLI, controller); the device
//! receives the parsed [`Resource`]s with the deploy and refuses a call with
//! an argument outside them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use minicbor::bytes::ByteVec;
use minicbor::{Decode, Encode};

use crate::Capability;

/// Largest buffer one bus call (I2C, SPI, UART) moves, bytes; a longer
/// one is `invalid`.
pub const MAX_TRANSFER_LEN: usize = 256;
/// Largest message payload delivered to an app, bytes.
pub const MAX_MESSAGE_LEN: usize = 256;
/// Most configuration entries an app carries.
pub const MAX_CONFIG_ENTRIES: usize = 32;
/// Longest configuration key, bytes (`[a-z0-9_.-]`).
pub const MAX_CONFIG_KEY_LEN: usize = 32;
/// Longest configuration value, bytes.
pub const MAX_CONFIG_VALUE_LEN: usize = 128;
/// Longest metric name, bytes (`[a-z0-9_.]`, starting with a letter).
pub const MAX_METRIC_NAME_LEN: usize = 32;
/// Most samples in one [`TelemetryBatch`].
pub const MAX_SAMPLES_PER_BATCH: usize = 32;
/// Samples per second one app may publish, sustained; more are dropped and
/// counted, never queued (the device does not stall for telemetry).
pub const TELEMETRY_RATE_PER_S: u32 = 10;
/// Samples one app may publish in a burst above the sustained rate.
pub const TELEMETRY_BURST: u32 = 20;

/// A GPIO pin as apps and grants name it: `led<N>` (an output) or
/// `button<N>` (an input). Numbered for the host functions as
/// `kind << 8 | index` (leds 0x000.., buttons 0x100..).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub enum Pin {
    /// An LED, driven by the app.
    #[n(0)]
    Led(#[n(0)] u8),
    /// A button or switch, read by the app.
    #[n(1)]
    Button(#[n(0)] u8),
}

impl Pin {
    /// The number apps pass to the gpio host functions.
    pub fn number(self) -> u32 {
        match self {
            Self::Led(i) => u32::from(i),
            Self::Button(i) => 0x100 | u32::from(i),
        }
    }

    /// The pin an app's number names, if it is well formed.
    pub fn from_number(n: u32) -> Option<Self> {
        let index = u8::try_from(n & 0xff).ok()?;
        match n >> 8 {
            0 => Some(Self::Led(index)),
            1 => Some(Self::Button(index)),
            _ => None,
        }
    }

    fn parse(s: &str) -> Option<Self> {
        if let Some(i) = s.strip_prefix("led") {
            return parse_small(i).map(Self::Led);
        }
        s.strip_prefix("button").and_then(parse_small).map(Self::Button)
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Led(i) => write!(f, "led{i}"),
            Self::Button(i) => write!(f, "button{i}"),
        }
    }
}

/// One piece of hardware an app is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
pub enum Resource {
    /// `gpio:led0`.
    #[n(0)]
    Gpio(#[n(0)] Pin),
    /// `i2c:BUS:ADDR`: one 7-bit address on one bus.
    #[n(1)]
    I2c {
        /// Bus number, as the board table numbers them.
        #[n(0)]
        bus: u8,
        /// 7-bit device address.
        #[n(1)]
        addr: u8,
    },
    /// `spi:BUS`.
    #[n(2)]
    Spi(#[n(0)] u8),
    /// `adc:CHANNEL`.
    #[n(3)]
    Adc(#[n(0)] u8),
    /// `uart:N`.
    #[n(4)]
    Uart(#[n(0)] u8),
}

impl Resource {
    /// The capability group whose host functions reach this resource.
    pub fn capability(self) -> Capability {
        match self {
            Self::Gpio(_) => Capability::Gpio,
            Self::I2c { .. } => Capability::I2c,
            Self::Spi(_) => Capability::Spi,
            Self::Adc(_) => Capability::Adc,
            Self::Uart(_) => Capability::Uart,
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Gpio(p) => write!(f, "gpio:{p}"),
            Self::I2c { bus, addr } => write!(f, "i2c:{bus}:{addr:#04x}"),
            Self::Spi(b) => write!(f, "spi:{b}"),
            Self::Adc(c) => write!(f, "adc:{c}"),
            Self::Uart(n) => write!(f, "uart:{n}"),
        }
    }
}

/// A capability as an application spec writes it: a group, and for the
/// peripheral groups the one resource it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grant {
    /// A group without hardware: `log`, `time`, `device`, `telemetry`,
    /// `config`, `messages`.
    Group(Capability),
    /// A piece of hardware (implies its group).
    Hardware(Resource),
}

/// Why a capability string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantError {
    /// The string as given.
    pub grant: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "capability {:?}: {}", self.grant, self.why)
    }
}

impl core::error::Error for GrantError {}

/// Every form a capability string takes, for error messages.
pub const GRANT_FORMS: &str = "log, time, device, telemetry, config, messages, gpio:ledN, gpio:buttonN, \
     i2c:BUS:ADDR (ADDR 0x08-0x77), spi:BUS, adc:CHANNEL, uart:N";

fn parse_small(s: &str) -> Option<u8> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok()
}

fn parse_addr(s: &str) -> Option<u8> {
    let v = match s.strip_prefix("0x") {
        Some(h) if !h.is_empty() && h.len() <= 2 => u8::from_str_radix(h, 16).ok()?,
        Some(_) => return None,
        None => parse_small(s)?,
    };
    // 7-bit addresses outside the reserved blocks.
    (0x08..=0x77).contains(&v).then_some(v)
}

impl Grant {
    /// Parses `log`, `gpio:led0`, `i2c:0:0x48`, ... (see [`GRANT_FORMS`]).
    pub fn parse(s: &str) -> Result<Self, GrantError> {
        let err = |why| GrantError { grant: s.into(), why };
        let mut parts = s.split(':');
        let group = parts.next().unwrap_or_default();
        let cap = Capability::from_name(group).ok_or_else(|| err("unknown capability"))?;
        let args: Vec<&str> = parts.collect();
        let resource = match (cap, args.as_slice()) {
            (Capability::Gpio, [pin]) => {
                Resource::Gpio(Pin::parse(pin).ok_or_else(|| err("pins are ledN or buttonN"))?)
            }
            (Capability::I2c, [bus, addr]) => Resource::I2c {
                bus: parse_small(bus).ok_or_else(|| err("the bus is a number"))?,
                addr: parse_addr(addr).ok_or_else(|| err("the address is a 7-bit address, 0x08-0x77"))?,
            },
            (Capability::Spi, [bus]) => Resource::Spi(parse_small(bus).ok_or_else(|| err("the bus is a number"))?),
            (Capability::Adc, [ch]) => Resource::Adc(parse_small(ch).ok_or_else(|| err("the channel is a number"))?),
            (Capability::Uart, [n]) => Resource::Uart(parse_small(n).ok_or_else(|| err("the port is a number"))?),
            (c, []) if c.is_hardware() => {
                return Err(err("names no hardware: say which, e.g. gpio:led0 or i2c:0:0x48"));
            }
            (c, []) => return Ok(Self::Group(c)),
            (c, _) if c.is_hardware() => return Err(err("has the wrong number of `:` parts")),
            _ => return Err(err("takes no `:` arguments")),
        };
        Ok(Self::Hardware(resource))
    }

    /// The group this grant links.
    pub fn capability(self) -> Capability {
        match self {
            Self::Group(c) => c,
            Self::Hardware(r) => r.capability(),
        }
    }
}

impl fmt::Display for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Group(c) => f.write_str(c.name()),
            Self::Hardware(r) => r.fmt(f),
        }
    }
}

/// Splits grants into what a deploy carries: the groups to link (sorted,
/// unique) and the hardware the calls may reach.
pub fn split_grants(grants: &[Grant]) -> (Vec<Capability>, Vec<Resource>) {
    let mut groups: Vec<Capability> = grants.iter().map(|g| g.capability()).collect();
    groups.sort();
    groups.dedup();
    let mut resources: Vec<Resource> = grants
        .iter()
        .filter_map(|g| match g {
            Grant::Hardware(r) => Some(*r),
            Grant::Group(_) => None,
        })
        .collect();
    resources.sort();
    resources.dedup();
    (groups, resources)
}

/// What an ABI v2 host function returns when it did not do its job: the
/// negative `i32` it returns instead of a count or value. The numbers are
/// the contract with apps (`wit/wasmbed-device.wit` documents them); a
/// pointer or length outside the app's memory is not an error code but a
/// trap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostError {
    /// The argument is outside what the app was granted (another pin,
    /// address, bus); nothing reached the hardware. Counted.
    Denied,
    /// No device acknowledged the address (I2C NACK).
    Nack,
    /// The bus or peripheral failed or timed out.
    Bus,
    /// An argument no call accepts (a length over the limit, a bad pin).
    Invalid,
    /// Nothing by that name (config key), or nothing to read (no message).
    NotFound,
    /// Over the rate limit: dropped and counted (telemetry).
    Limited,
    /// The device has no driver for this peripheral.
    Unsupported,
}

impl HostError {
    /// Every code, in number order.
    pub const ALL: [Self; 7] =
        [Self::Denied, Self::Nack, Self::Bus, Self::Invalid, Self::NotFound, Self::Limited, Self::Unsupported];

    /// The negative value apps see.
    pub fn code(self) -> i32 {
        match self {
            Self::Denied => -1,
            Self::Nack => -2,
            Self::Bus => -3,
            Self::Invalid => -4,
            Self::NotFound => -5,
            Self::Limited => -6,
            Self::Unsupported => -7,
        }
    }

    /// The error a negative return value names.
    pub fn from_code(code: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.code() == code)
    }

    /// Kebab-case name, as the WIT and the docs say it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Nack => "nack",
            Self::Bus => "bus",
            Self::Invalid => "invalid",
            Self::NotFound => "not-found",
            Self::Limited => "limited",
            Self::Unsupported => "unsupported",
        }
    }
}

/// One configuration value delivered with a deploy.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct ConfigEntry {
    /// Key.
    #[n(0)]
    pub key: String,
    /// Value (text; the app parses it).
    #[n(1)]
    pub value: String,
}

/// A configuration key the platform accepts: 1..=32 bytes of `[a-z0-9_.-]`.
pub fn valid_config_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= MAX_CONFIG_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'))
}

/// A metric name the platform accepts: 1..=32 bytes of `[a-z0-9_.]`,
/// starting with a letter (so it can be a Prometheus label value and a
/// gate's left-hand side).
pub fn valid_metric_name(name: &str) -> bool {
    name.len() <= MAX_METRIC_NAME_LEN
        && name.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'))
}

/// One sample an app published.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[cbor(map)]
pub struct Sample {
    /// Metric name ([`valid_metric_name`]).
    #[n(0)]
    pub metric: String,
    /// Device monotonic time of the sample, ms.
    #[n(1)]
    pub uptime_ms: u64,
    /// The value.
    #[n(2)]
    pub value: f64,
}

/// Samples of one app, sent together.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
#[cbor(map)]
pub struct TelemetryBatch {
    /// App slot name.
    #[n(0)]
    pub app: String,
    /// Platform revision of the app that published them.
    #[n(1)]
    pub revision: Option<u64>,
    /// Device monotonic time when the batch was sent.
    #[n(2)]
    pub uptime_ms: u64,
    /// The device's wall clock (from its gateway's Welcome) when sent, Unix
    /// ms, if it has one; the gateway dates samples from it.
    #[n(3)]
    pub unix_ms: Option<u64>,
    /// At most [`MAX_SAMPLES_PER_BATCH`] samples, oldest first.
    #[n(4)]
    pub samples: Vec<Sample>,
    /// Samples of this app dropped since the last batch (over the rate).
    #[n(5)]
    pub dropped: u32,
}

/// A message for an app on a device.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AppMessage {
    /// Correlates the [`MessageResult`].
    #[n(0)]
    pub id: u32,
    /// App slot name.
    #[n(1)]
    pub app: String,
    /// At most [`MAX_MESSAGE_LEN`] bytes.
    #[n(2)]
    pub payload: ByteVec,
}

/// What became of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "kebab-case"))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(rename_all = "kebab-case"))]
#[cbor(index_only)]
pub enum Delivery {
    /// The app's `on_message` ran and returned.
    #[n(0)]
    Delivered,
    /// No such app, or it is not running.
    #[n(1)]
    NotRunning,
    /// The app exports no `on_message`.
    #[n(2)]
    NoHandler,
    /// The handler trapped or ran out of fuel (the app failed).
    #[n(3)]
    Failed,
    /// The payload is over [`MAX_MESSAGE_LEN`].
    #[n(4)]
    TooLarge,
}

impl Delivery {
    /// Kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::NotRunning => "not-running",
            Self::NoHandler => "no-handler",
            Self::Failed => "failed",
            Self::TooLarge => "too-large",
        }
    }
}

/// The device's answer to an [`AppMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct MessageResult {
    /// The message's id.
    #[n(0)]
    pub id: u32,
    /// What became of it.
    #[n(1)]
    pub delivery: Delivery,
}

/// Per-app counters of ABI v2 calls that did not reach the world, reported
/// with the app so they are visible on the platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "camelCase"))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cbor(map)]
pub struct AppCounters {
    /// Calls refused because their argument was outside the grant.
    #[n(0)]
    pub denied: u32,
    /// Calls the hardware failed (NACK, bus error).
    #[n(1)]
    pub hw_errors: u32,
    /// Telemetry samples dropped over the rate limit.
    #[n(2)]
    pub dropped_samples: u32,
    /// Telemetry samples published.
    #[n(3)]
    pub samples: u32,
    /// Messages delivered to the app's handler.
    #[n(4)]
    pub messages: u32,
}

impl AppCounters {
    /// True when nothing was counted.
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn grants_round_trip_through_their_strings() {
        for s in ["log", "telemetry", "gpio:led0", "gpio:button1", "i2c:0:0x48", "spi:1", "adc:3", "uart:2"] {
            let g = Grant::parse(s).unwrap();
            assert_eq!(g.to_string(), s);
        }
        assert_eq!(Grant::parse("i2c:0:72").unwrap(), Grant::Hardware(Resource::I2c { bus: 0, addr: 0x48 }));
    }

    #[test]
    fn malformed_grants_say_what_is_wrong() {
        for bad in [
            "",
            "gpio",
            "gpio:",
            "gpio:pin3",
            "gpio:led",
            "gpio:led256",
            "gpio:led01",
            "i2c:0",
            "i2c:0:0x00",
            "i2c:0:0x78",
            "i2c:x:0x48",
            "i2c:0:0x480",
            "spi",
            "spi:1:2",
            "log:1",
            "LOG",
            "bluetooth",
            "uart:-1",
        ] {
            let e = Grant::parse(bad).unwrap_err();
            assert!(!e.why.is_empty(), "{bad}");
            assert!(e.to_string().contains(&alloc::format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn pins_are_numbered_by_kind() {
        for p in [Pin::Led(0), Pin::Led(7), Pin::Button(0), Pin::Button(255)] {
            assert_eq!(Pin::from_number(p.number()), Some(p));
        }
        assert_eq!(Pin::from_number(0x200), None);
    }

    #[test]
    fn host_errors_are_distinct_negative_codes() {
        for e in HostError::ALL {
            assert!(e.code() < 0);
            assert_eq!(HostError::from_code(e.code()), Some(e));
        }
        assert_eq!(HostError::from_code(0), None);
    }

    #[test]
    fn split_grants_links_each_group_once() {
        let grants: Vec<Grant> =
            ["gpio:led0", "gpio:led1", "log", "i2c:0:0x48"].iter().map(|s| Grant::parse(s).unwrap()).collect();
        let (groups, resources) = split_grants(&grants);
        assert_eq!(groups, [Capability::Log, Capability::Gpio, Capability::I2c]);
        assert_eq!(resources.len(), 3);
    }

    #[test]
    fn names() {
        assert!(valid_metric_name("temp_c"));
        assert!(!valid_metric_name("Temp"));
        assert!(!valid_metric_name("1x"));
        assert!(valid_config_key("threshold_c"));
        assert!(!valid_config_key(""));
        assert!(!valid_config_key("a b"));
    }
}
