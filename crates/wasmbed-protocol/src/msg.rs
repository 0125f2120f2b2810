//! The messages. Field and variant numbers are the wire format: never reuse
//! or renumber one; add new optional fields with new numbers.

use alloc::string::String;
use alloc::vec::Vec;
use minicbor::bytes::{ByteArray, ByteVec};
use minicbor::{Decode, Encode};

use crate::{AppCounters, AppMessage, ConfigEntry, MessageResult, Resource, TelemetryBatch};

/// Longest app name either side accepts (checked by [`valid_app_name`]).
pub const MAX_APP_NAME_LEN: usize = 63;

/// Module bytes carried by one [`DeployChunk`]; keeps chunk frames well under
/// [`crate::MAX_FRAME_LEN`], and small enough that a device with a few KiB
/// of free heap can still decode (and refuse) them.
pub const DEPLOY_CHUNK_LEN: usize = 2 * 1024;

/// App (slot) names: `[a-z0-9-.]`, 1..=63 bytes, not starting with `-` or
/// `.`. Application names are DNS labels (no `.`); the dot lets the platform
/// name a second slot of one application, e.g. `hello.r3` for a blue-green
/// revision installed beside the running one.
pub fn valid_app_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_APP_NAME_LEN
        && !name.starts_with(['-', '.'])
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

/// Device → gateway.
#[derive(Debug, Clone, PartialEq, Encode, Decode)]
pub enum DeviceMsg {
    /// First message of every session.
    #[n(0)]
    Enroll(#[n(0)] Enroll),
    /// Periodic liveness and state report.
    #[n(1)]
    Heartbeat(#[n(0)] Heartbeat),
    /// An app changed state.
    #[n(2)]
    AppStatus(#[n(0)] AppStatus),
    /// A line an app logged.
    #[n(3)]
    AppLog(#[n(0)] AppLog),
    /// A deploy was refused; the previous version (if any) keeps running.
    #[n(4)]
    DeployRejected(#[n(0)] DeployRejected),
    /// The device refuses something the gateway sent and ends the session.
    #[n(5)]
    Error(#[n(0)] ErrorReport),
    /// The answer to a terminal [`Command`](crate::Command).
    #[n(6)]
    CommandResult(#[n(0)] crate::CommandResult),
    /// Samples apps published (ABI v2 `telemetry`).
    #[n(7)]
    Telemetry(#[n(0)] TelemetryBatch),
    /// What became of an [`AppMessage`].
    #[n(8)]
    MessageResult(#[n(0)] MessageResult),
}

/// Gateway → device.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum GatewayMsg {
    /// Enrollment accepted.
    #[n(0)]
    Welcome(#[n(0)] Welcome),
    /// A module follows in chunks; install it as `app` when complete.
    #[n(1)]
    DeployBegin(#[n(0)] DeployBegin),
    /// Part of the module announced by the last `DeployBegin` for `app`.
    #[n(2)]
    DeployChunk(#[n(0)] DeployChunk),
    /// Start (or restart) an installed app.
    #[n(3)]
    Start(#[n(0)] AppRef),
    /// Stop an app but keep it installed.
    #[n(4)]
    Stop(#[n(0)] AppRef),
    /// Stop and uninstall an app.
    #[n(5)]
    Remove(#[n(0)] AppRef),
    /// The gateway refuses something the device sent and ends the session.
    #[n(6)]
    Error(#[n(0)] ErrorReport),
    /// A terminal command; the device answers with a
    /// [`CommandResult`](crate::CommandResult), refusing what it does not allow.
    #[n(7)]
    Command(#[n(0)] crate::Command),
    /// A message for an app; the device answers with a [`MessageResult`].
    #[n(8)]
    AppMessage(#[n(0)] AppMessage),
    /// A new app-signing key, signed by the one the device trusts now
    /// ([`KeyRotation`](crate::KeyRotation)); sent in order after `Welcome`.
    #[n(9)]
    TrustKey(#[n(0)] crate::Signed),
}

/// Who the device is and what it already runs (so a reconnect re-syncs).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Enroll {
    /// Must equal the identity in the client certificate.
    #[n(0)]
    pub device_id: String,
    /// Board name, e.g. `mps2-an385` or `sim`.
    #[n(1)]
    pub board: String,
    /// Version of the agent / firmware build.
    #[n(2)]
    pub firmware_version: String,
    /// True when the device is the host simulator, not firmware.
    #[n(3)]
    pub simulated: bool,
    /// Apps installed at enrollment (empty after a cold boot).
    #[n(4)]
    pub apps: Vec<AppReport>,
}

/// Enrollment accepted.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Welcome {
    /// How often the device must send a heartbeat.
    #[n(0)]
    pub heartbeat_ms: u32,
    /// Gateway wall-clock time, seconds since the Unix epoch (devices without
    /// a real-time clock use it for certificate validity).
    #[n(1)]
    pub unix_time_s: u64,
    /// The same in milliseconds (absent from older gateways); devices date
    /// telemetry from it.
    #[n(2)]
    pub unix_time_ms: Option<u64>,
}

/// Periodic device report.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Heartbeat {
    /// Device monotonic time since boot.
    #[n(0)]
    pub uptime_ms: u64,
    /// Free heap bytes.
    #[n(1)]
    pub free_memory: u32,
    /// Every installed app.
    #[n(2)]
    pub apps: Vec<AppReport>,
}

/// Lifecycle state of an app on a device. The same type carries it end to
/// end: in heartbeats, in the platform's records and in the API's JSON
/// (lower-case names, with the `serde` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(rename_all = "lowercase"))]
#[cbor(index_only)]
pub enum AppState {
    /// Module bytes are arriving.
    #[n(0)]
    Installing,
    /// Instantiated and ticking.
    #[n(1)]
    Running,
    /// Installed, not running (stopped by the gateway).
    #[n(2)]
    Stopped,
    /// Stopped by the agent after a trap or exhausted limit.
    #[n(3)]
    Failed,
    /// The device refused the deploy (it said why in `DeployRejected`);
    /// what ran before, if anything, still runs.
    #[n(4)]
    Rejected,
}

impl AppState {
    /// Lower-case name, as shown by CLI and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Installing => "installing",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
        }
    }

    /// The app is stopped for a reason a rollout counts as a failure.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::Failed | Self::Rejected)
    }
}

/// One app as seen by the device.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AppReport {
    /// App name.
    #[n(0)]
    pub app: String,
    /// Version string given at deploy.
    #[n(1)]
    pub version: String,
    /// SHA-256 of the module the device runs.
    #[n(2)]
    pub sha256: ByteArray<32>,
    /// Current state.
    #[n(3)]
    pub state: AppState,
    /// Platform revision the module was deployed as (absent from agents
    /// older than revisions, and for apps deployed without one).
    #[n(4)]
    pub revision: Option<u64>,
    /// ABI v2 calls that did not reach the world (absent: none, or an
    /// older agent).
    #[n(5)]
    pub counters: Option<AppCounters>,
}

/// An app changed state; `reason` says why when it failed.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AppStatus {
    /// The app and its new state.
    #[n(0)]
    pub report: AppReport,
    /// Why, for `Failed`.
    #[n(1)]
    pub reason: Option<FailReason>,
}

/// Why an app failed.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct FailReason {
    /// Machine-readable class.
    #[n(0)]
    pub code: ErrorCode,
    /// Human-readable detail (e.g. the trap message).
    #[n(1)]
    pub detail: String,
}

/// A line logged by an app through the `log` host function.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AppLog {
    /// The app that logged.
    #[n(0)]
    pub app: String,
    /// Device monotonic time of the call.
    #[n(1)]
    pub uptime_ms: u64,
    /// The text (lossily UTF-8 decoded, truncated to a bound by the agent).
    #[n(2)]
    pub line: String,
}

/// Deploy of `app` at `version` refused.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct DeployRejected {
    /// The app.
    #[n(0)]
    pub app: String,
    /// The version that was refused.
    #[n(1)]
    pub version: String,
    /// Why.
    #[n(2)]
    pub reason: FailReason,
}

/// Limits an app runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AppLimits {
    /// Fuel for `init` and for each `tick` call.
    #[n(0)]
    pub fuel_per_call: u64,
    /// Linear memory ceiling in 64 KiB pages.
    #[n(1)]
    pub max_memory_pages: u32,
    /// Interval between `tick` calls.
    #[n(2)]
    pub tick_ms: u32,
}

impl Default for AppLimits {
    fn default() -> Self {
        Self { fuel_per_call: 1_000_000, max_memory_pages: 1, tick_ms: 1000 }
    }
}

/// Announces a module for `app`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct DeployBegin {
    /// App slot name.
    #[n(0)]
    pub app: String,
    /// Version label.
    #[n(1)]
    pub version: String,
    /// Total module size in bytes.
    #[n(2)]
    pub size: u32,
    /// SHA-256 over the whole module.
    #[n(3)]
    pub sha256: ByteArray<32>,
    /// Limits to run it under.
    #[n(4)]
    pub limits: AppLimits,
    /// Platform revision, echoed in the app's reports.
    #[n(5)]
    pub revision: Option<u64>,
    /// Start the app once installed (absent: yes). `Some(false)` installs it
    /// stopped, beside a running version (blue-green).
    #[n(6)]
    pub start: Option<bool>,
    /// Host-function groups the app may import; absent: [`DEFAULT_GRANTS`].
    /// The device links nothing else, so an ungranted import cannot
    /// instantiate.
    #[n(7)]
    pub grants: Option<Vec<Capability>>,
    /// The hardware the peripheral groups may reach (`gpio:led0`,
    /// `i2c:0:0x48`, ...); a call with any other argument is refused. A
    /// device without one of them rejects the deploy.
    #[n(8)]
    pub resources: Option<Vec<Resource>>,
    /// Configuration the app reads with `config.get`.
    #[n(9)]
    pub config: Option<Vec<ConfigEntry>>,
    /// The platform's signed [`Manifest`](crate::Manifest) for this deploy.
    /// A device that pins an app-signing key refuses a deploy without one,
    /// and holds every field above to it.
    #[n(10)]
    pub manifest: Option<crate::Signed>,
    /// Present: the bytes that follow are this native artifact of the
    /// module, not the module (`size` and `sha256` are then the
    /// artifact's). A device runs it only if the signed manifest names it.
    /// (Boxed: most deploys carry none, and every message would be as
    /// large as the largest.)
    #[n(11)]
    pub native: Option<alloc::boxed::Box<crate::NativeCode>>,
}

impl DeployBegin {
    /// The deploy of `manifest`'s module into `slot`, saying exactly what
    /// the manifest says (and carrying it when signed), so a device that
    /// checks one against the other finds them equal.
    pub fn for_manifest(slot: String, m: &crate::Manifest, start: bool, signed: Option<crate::Signed>) -> Self {
        Self {
            app: slot,
            version: m.version.clone(),
            size: m.module_size,
            sha256: m.module_sha256,
            limits: m.limits,
            revision: Some(m.revision),
            start: (!start).then_some(false),
            grants: Some(m.grants.clone()),
            resources: (!m.resources.is_empty()).then(|| m.resources.clone()),
            config: (!m.config.is_empty()).then(|| m.config.clone()),
            manifest: signed,
            native: None,
        }
    }

    /// Whether the app should start once installed.
    pub fn starts(&self) -> bool {
        self.start.unwrap_or(true)
    }

    /// The groups granted to the app.
    pub fn granted(&self) -> &[Capability] {
        self.grants.as_deref().unwrap_or(DEFAULT_GRANTS)
    }

    /// The hardware granted to the app.
    pub fn resources(&self) -> &[Resource] {
        self.resources.as_deref().unwrap_or(&[])
    }

    /// The app's configuration.
    pub fn config(&self) -> &[ConfigEntry] {
        self.config.as_deref().unwrap_or(&[])
    }
}

/// Capability groups (ABI v1: `log`, `time`, `device`; ABI v2 adds the
/// rest), numbered like system calls: the number is
/// the wire format, the name is what specs and manifests say. Each group is
/// a set of host functions in the `wasmbed` import module.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Encode, Decode)]
#[cbor(index_only)]
#[non_exhaustive]
pub enum Capability {
    /// `log(ptr, len)`: a line to the platform's app log.
    #[n(0)]
    Log,
    /// `now_ms() -> i64`: the device's monotonic time.
    #[n(1)]
    Time,
    /// `device_id(ptr, len) -> i32`: the device's identity, copied into the
    /// app's memory (for tagging data it reports).
    #[n(2)]
    Device,
    /// `gpio_read/write/toggle(pin)`: the pins granted as `gpio:<pin>`.
    #[n(3)]
    Gpio,
    /// `i2c_write/read/write_read(bus, addr, ..)`: the addresses granted as
    /// `i2c:<bus>:<addr>`.
    #[n(4)]
    I2c,
    /// `spi_transfer(bus, ..)`: the buses granted as `spi:<bus>`.
    #[n(5)]
    Spi,
    /// `adc_read(channel)`: the channels granted as `adc:<channel>`.
    #[n(6)]
    Adc,
    /// `uart_write/read(port, ..)`: the ports granted as `uart:<n>`.
    #[n(7)]
    Uart,
    /// `telemetry_publish(name, value, uptime)`: numeric samples to the platform.
    #[n(8)]
    Telemetry,
    /// `config_get(key, buf) -> len`: the application's configuration.
    #[n(9)]
    Config,
    /// `messages_read(buf) -> len`, for the app's `on_message(len)` export.
    #[n(10)]
    Messages,
}

/// Groups an app gets when its deploy names none (ABI v1 before grants).
pub const DEFAULT_GRANTS: &[Capability] = &[Capability::Log, Capability::Time];

impl Capability {
    /// Every group, in number order.
    pub const ALL: &[Capability] = &[
        Self::Log,
        Self::Time,
        Self::Device,
        Self::Gpio,
        Self::I2c,
        Self::Spi,
        Self::Adc,
        Self::Uart,
        Self::Telemetry,
        Self::Config,
        Self::Messages,
    ];

    /// Name as specs say it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Time => "time",
            Self::Device => "device",
            Self::Gpio => "gpio",
            Self::I2c => "i2c",
            Self::Spi => "spi",
            Self::Adc => "adc",
            Self::Uart => "uart",
            Self::Telemetry => "telemetry",
            Self::Config => "config",
            Self::Messages => "messages",
        }
    }

    /// Groups that reach hardware, and so are granted per resource
    /// (`gpio:led0`), never as a whole.
    pub fn is_hardware(self) -> bool {
        matches!(self, Self::Gpio | Self::I2c | Self::Spi | Self::Adc | Self::Uart)
    }

    /// The group a spec names, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.name() == name)
    }

    /// Import names (in the `wasmbed` module) the group provides.
    pub fn imports(self) -> &'static [&'static str] {
        match self {
            Self::Log => &["log"],
            Self::Time => &["now_ms"],
            Self::Device => &["device_id"],
            Self::Gpio => &["gpio_read", "gpio_write", "gpio_toggle"],
            Self::I2c => &["i2c_write", "i2c_read", "i2c_write_read"],
            Self::Spi => &["spi_transfer"],
            Self::Adc => &["adc_read"],
            Self::Uart => &["uart_write", "uart_read"],
            Self::Telemetry => &["telemetry_publish"],
            Self::Config => &["config_get"],
            Self::Messages => &["messages_read"],
        }
    }
}

/// A core WebAssembly value type of the app contract's functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmType {
    /// `i32`.
    I32,
    /// `i64`.
    I64,
    /// `f64`.
    F64,
}

/// The core type of host function `name` of the app contract: parameters
/// and result. What the agent's linker defines and `wit/wasmbed-device.wit`
/// lowers to (both checked against this by the agent's contract test);
/// native code is held to it when it is compiled.
pub fn import_type(name: &str) -> Option<(&'static [WasmType], Option<WasmType>)> {
    use WasmType::{F64, I32, I64};
    Some(match name {
        "log" => (&[I32, I32], None),
        "now_ms" => (&[], Some(I64)),
        "device_id" => (&[I32, I32], Some(I32)),
        "gpio_read" | "gpio_toggle" | "adc_read" => (&[I32], Some(I32)),
        "gpio_write" | "messages_read" => (&[I32, I32], Some(I32)),
        "i2c_write" | "i2c_read" | "config_get" => (&[I32, I32, I32, I32], Some(I32)),
        "i2c_write_read" => (&[I32, I32, I32, I32, I32, I32], Some(I32)),
        "spi_transfer" | "uart_write" | "uart_read" => (&[I32, I32, I32], Some(I32)),
        "telemetry_publish" => (&[I32, I32, F64, I64], Some(I32)),
        _ => return None,
    })
}

/// A slice of the module, in order.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct DeployChunk {
    /// App slot name.
    #[n(0)]
    pub app: String,
    /// Byte offset of `data` in the module; must follow the previous chunk.
    #[n(1)]
    pub offset: u32,
    /// Module bytes.
    #[n(2)]
    pub data: ByteVec,
}

/// Names an app.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct AppRef {
    /// App name.
    #[n(0)]
    pub app: String,
}

/// Error classes shared by both directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cbor(index_only)]
#[non_exhaustive]
pub enum ErrorCode {
    /// A frame or message that does not decode.
    #[n(0)]
    Malformed,
    /// A protocol version this side does not speak.
    #[n(1)]
    UnsupportedVersion,
    /// A frame above the size limit.
    #[n(2)]
    FrameTooLarge,
    /// A message not allowed in the current session state.
    #[n(3)]
    UnexpectedMessage,
    /// Module bytes whose SHA-256 differs from the announced one.
    #[n(4)]
    HashMismatch,
    /// Bytes that are not a valid WebAssembly module.
    #[n(5)]
    InvalidModule,
    /// A valid module that could not be linked or instantiated.
    #[n(6)]
    InstantiateFailed,
    /// No free app slot, or a module too large for the device.
    #[n(7)]
    NoResources,
    /// The app trapped.
    #[n(8)]
    Trap,
    /// The app used all the fuel of one call.
    #[n(9)]
    OutOfFuel,
    /// The app tried to grow memory past its limit.
    #[n(10)]
    MemoryLimit,
    /// The enrolled identity does not match the certificate.
    #[n(11)]
    IdentityMismatch,
    /// A chunk out of order or past the announced size.
    #[n(12)]
    BadChunk,
    /// Unknown app name.
    #[n(13)]
    UnknownApp,
    /// The session was replaced by a newer one for the same device.
    #[n(14)]
    Replaced,
    /// The deploy grants hardware this device does not have.
    #[n(15)]
    MissingPeripheral,
    /// The device's identity was revoked (the device was deleted): the
    /// session ends and the identity is refused from now on.
    #[n(16)]
    Revoked,
    /// A deploy without a signed manifest, to a device that requires one.
    #[n(17)]
    Unsigned,
    /// A manifest (or key announcement) whose signature does not verify
    /// under the key the device trusts, or that was signed by another key.
    #[n(18)]
    BadSignature,
    /// A deploy or module that differs from what its manifest says.
    #[n(19)]
    ManifestMismatch,
    /// A manifest older than one the device already accepted.
    #[n(20)]
    Replayed,
    /// The device reset while it ran the app (its watchdog, a panic, a
    /// fault): that revision is not run there again.
    #[n(21)]
    DeviceReset,
    /// One call into the app took longer than the device allows.
    #[n(22)]
    Deadline,
}

impl ErrorCode {
    /// Kebab-case name, as shown by CLI and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnsupportedVersion => "unsupported-version",
            Self::FrameTooLarge => "frame-too-large",
            Self::UnexpectedMessage => "unexpected-message",
            Self::HashMismatch => "hash-mismatch",
            Self::InvalidModule => "invalid-module",
            Self::InstantiateFailed => "instantiate-failed",
            Self::NoResources => "no-resources",
            Self::Trap => "trap",
            Self::OutOfFuel => "out-of-fuel",
            Self::MemoryLimit => "memory-limit",
            Self::IdentityMismatch => "identity-mismatch",
            Self::BadChunk => "bad-chunk",
            Self::UnknownApp => "unknown-app",
            Self::Replaced => "replaced",
            Self::MissingPeripheral => "missing-peripheral",
            Self::Revoked => "revoked",
            Self::Unsigned => "unsigned",
            Self::BadSignature => "bad-signature",
            Self::ManifestMismatch => "manifest-mismatch",
            Self::Replayed => "replayed",
            Self::DeviceReset => "device-reset",
            Self::Deadline => "deadline",
        }
    }
}

/// A fatal error report: the sender closes the session after it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct ErrorReport {
    /// Class.
    #[n(0)]
    pub code: ErrorCode,
    /// Detail for logs.
    #[n(1)]
    pub detail: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names_allow_a_dot_but_not_first() {
        for ok in ["hello", "hello.r3", "a-b.c", "0"] {
            assert!(valid_app_name(ok), "{ok}");
        }
        for bad in ["", ".hello", "-x", "Hello", "a_b", "a/b", &"a".repeat(64)] {
            assert!(!valid_app_name(bad), "{bad}");
        }
    }

    #[test]
    fn capabilities_by_name_and_number() {
        for c in Capability::ALL {
            assert_eq!(Capability::from_name(c.name()), Some(*c));
            assert!(!c.imports().is_empty());
        }
        assert_eq!(Capability::from_name("bluetooth"), None);
        assert!(Capability::Gpio.is_hardware() && !Capability::Telemetry.is_hardware());
        let begin = DeployBegin {
            app: "a".into(),
            version: "1".into(),
            size: 1,
            sha256: [0; 32].into(),
            limits: AppLimits::default(),
            revision: None,
            start: None,
            grants: None,
            resources: None,
            config: None,
            manifest: None,
            native: None,
        };
        assert!(begin.starts());
        assert_eq!(begin.granted(), DEFAULT_GRANTS);
    }
}
