//! Device and Application: spec (desired) and status (observed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::selector::valid_label_part;
use crate::{Selector, SelectorError};

/// Labels on a device, matched by application selectors.
pub type Labels = BTreeMap<String, String>;

/// The board name used by devices of the host simulator.
pub const SIM_BOARD: &str = "sim";

/// Metadata every resource carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Meta {
    /// Unique within its kind; DNS-label-like.
    pub name: String,
    /// Bumped by the store on every spec write; a stale write is a conflict.
    #[serde(default)]
    pub resource_version: u64,
    /// Creation time, Unix milliseconds.
    #[serde(default)]
    pub created_ms: u64,
}

/// A device of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Name and versioning.
    pub meta: Meta,
    /// What the platform wants for the device.
    pub spec: DeviceSpec,
    /// What the gateway last observed.
    #[serde(default)]
    pub status: DeviceStatus,
}

/// Desired state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeviceSpec {
    /// Board the identity was issued for (`sim` for the host simulator).
    pub board: String,
    /// Labels matched by application selectors.
    #[serde(default)]
    pub labels: Labels,
}

/// One app a device should run (computed by the control plane).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredApp {
    /// App (and slot) name.
    pub name: String,
    /// Version label.
    pub version: String,
    /// Hex SHA-256 of the module.
    pub digest: String,
    /// Limits the app runs under.
    pub limits: Limits,
}

/// Device lifecycle phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub enum DevicePhase {
    /// Identity issued; the device has never connected.
    #[default]
    Provisioning,
    /// Holding a session and heartbeating.
    Online,
    /// Missed three heartbeat intervals, or its session ended.
    Unreachable,
}

impl DevicePhase {
    /// Name as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "Provisioning",
            Self::Online => "Online",
            Self::Unreachable => "Unreachable",
        }
    }
}

/// Observed state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeviceStatus {
    /// Lifecycle phase.
    pub phase: DevicePhase,
    /// True when the device is the host simulator, as it said when enrolling.
    #[serde(default)]
    pub simulated: bool,
    /// Gateway holding the session.
    #[serde(default)]
    pub gateway: Option<String>,
    /// Last heartbeat, Unix milliseconds.
    #[serde(default)]
    pub last_heartbeat_ms: Option<u64>,
    /// Device uptime at the last heartbeat.
    #[serde(default)]
    pub uptime_ms: Option<u64>,
    /// Free heap at the last heartbeat.
    #[serde(default)]
    pub free_memory: Option<u32>,
    /// Agent / firmware version reported at enrollment.
    #[serde(default)]
    pub firmware_version: Option<String>,
    /// Apps as the device reports them.
    #[serde(default)]
    pub apps: Vec<AppObservation>,
    /// Last error the session saw (protocol error, rejected deploy, ...).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// One app as observed on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppObservation {
    /// App name.
    pub name: String,
    /// Version running (or last tried).
    pub version: String,
    /// Hex SHA-256 of the module.
    pub digest: String,
    /// `installing`, `running`, `stopped`, `failed` or `rejected`.
    pub state: String,
    /// Why it failed or was rejected.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Resource limits of an app on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fuel per `init`/`tick` call.
    pub fuel_per_call: u64,
    /// Linear memory ceiling, 64 KiB pages.
    pub max_memory_pages: u32,
    /// Tick interval.
    pub tick_ms: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { fuel_per_call: 1_000_000, max_memory_pages: 2, tick_ms: 1000 }
    }
}

/// A WebAssembly app deployed to the devices its selector matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Application {
    /// Name and versioning.
    pub meta: Meta,
    /// Desired state.
    pub spec: ApplicationSpec,
    /// Observed rollout state.
    #[serde(default)]
    pub status: ApplicationStatus,
}

/// Desired state of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationSpec {
    /// Version label (free text, shown to people).
    pub version: String,
    /// Hex SHA-256 of the module stored under that digest.
    pub digest: String,
    /// Module size in bytes.
    pub size: u32,
    /// Label selector choosing the devices.
    pub selector: String,
    /// Limits on each device.
    #[serde(default)]
    pub limits: Limits,
}

/// Observed state of an application across its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ApplicationStatus {
    /// Devices the selector matches.
    pub desired: u32,
    /// Devices running the spec's digest.
    pub running: u32,
    /// Devices where it failed or was rejected.
    pub failed: u32,
    /// Matched devices that are not online.
    pub pending_offline: u32,
}

/// A spec field that fails validation, named so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct ValidationError {
    /// Dotted path of the field, e.g. `spec.selector`.
    pub field: &'static str,
    /// What is wrong.
    pub why: String,
}

/// Resource names: 1..=63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError {
            field: "metadata.name",
            why: format!("{name:?} must be 1-63 characters of [a-z0-9-], not starting or ending with '-'"),
        })
    }
}

/// Hard ceilings on limits an application may ask for.
pub const MAX_FUEL_PER_CALL: u64 = 1_000_000_000;
/// At most 16 pages (1 MiB) of linear memory per app.
pub const MAX_MEMORY_PAGES: u32 = 16;

impl DeviceSpec {
    /// Checks board and labels.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.board.is_empty() {
            return Err(ValidationError { field: "spec.board", why: "must not be empty".into() });
        }
        for (k, v) in &self.labels {
            if !valid_label_part(k) || !valid_label_part(v) {
                return Err(ValidationError {
                    field: "spec.labels",
                    why: format!("{k}={v}: keys and values are 1-253 characters of [A-Za-z0-9._/-]"),
                });
            }
        }
        Ok(())
    }
}

impl ApplicationSpec {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<Selector, ValidationError> {
        if self.version.is_empty() || self.version.len() > 64 {
            return Err(ValidationError { field: "spec.version", why: "must be 1-64 characters".into() });
        }
        if self.digest.len() != 64 || !self.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError { field: "spec.digest", why: "must be 64 hex characters (SHA-256)".into() });
        }
        let l = &self.limits;
        if l.fuel_per_call == 0 || l.fuel_per_call > MAX_FUEL_PER_CALL {
            return Err(ValidationError {
                field: "spec.limits.fuel_per_call",
                why: format!("must be 1..={MAX_FUEL_PER_CALL}"),
            });
        }
        if l.max_memory_pages > MAX_MEMORY_PAGES {
            return Err(ValidationError {
                field: "spec.limits.max_memory_pages",
                why: format!("must be 0..={MAX_MEMORY_PAGES}"),
            });
        }
        if l.tick_ms < 10 {
            return Err(ValidationError { field: "spec.limits.tick_ms", why: "must be at least 10".into() });
        }
        self.selector.parse().map_err(|e: SelectorError| ValidationError { field: "spec.selector", why: e.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ApplicationSpec {
        ApplicationSpec {
            version: "1".into(),
            digest: "ab".repeat(32),
            size: 10,
            selector: "app=demo".into(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(spec().validate().is_ok());
        let mut s = spec();
        s.selector = "app=".into();
        assert_eq!(s.validate().unwrap_err().field, "spec.selector");
        let mut s = spec();
        s.digest = "zz".into();
        assert_eq!(s.validate().unwrap_err().field, "spec.digest");
        let mut s = spec();
        s.limits.max_memory_pages = 1000;
        assert_eq!(s.validate().unwrap_err().field, "spec.limits.max_memory_pages");
        let mut s = spec();
        s.limits.fuel_per_call = 0;
        assert_eq!(s.validate().unwrap_err().field, "spec.limits.fuel_per_call");
    }

    #[test]
    fn names() {
        assert!(validate_name("dev-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }
}
