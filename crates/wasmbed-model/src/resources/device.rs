//! A Device: its board, labels and gateway (spec); its phase, session,
//! process and apps as observed (status, one writer per part).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use wasmbed_protocol::{AppCounters, AppState};

use super::{Condition, Labels, Limits, Meta, ValidationError};
use crate::selector::valid_label_part;

/// A device of the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Device {
    /// Name and versioning.
    pub meta: Meta,
    /// What the platform wants for the device.
    pub spec: DeviceSpec,
    /// What the platform observed.
    #[serde(default)]
    pub status: DeviceStatus,
}

/// Desired state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceSpec {
    /// Board the identity was issued for (`sim` for the host simulator).
    pub board: String,
    /// Labels matched by application selectors.
    #[serde(default)]
    pub labels: Labels,
    /// Gateway the device is assigned to (written by the gateway
    /// assignment reconciler; its endpoint comes first in the device's
    /// identity bundle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Disconnected by an operator: the platform stops the device's process
    /// (QEMU devices) until it is connected again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disconnected: bool,
    /// Sensors wired to the board (e.g. a `tmp105` at `i2c:0:0x48`),
    /// attached by whoever runs the device.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peripherals: Vec<crate::AttachedPeripheral>,
    /// The one certificate the device may enroll with, recorded by whoever
    /// issued it; none recorded, no certificate is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<super::DeviceIdentity>,
}

impl DeviceSpec {
    /// Checks board, labels, peripherals and the recorded identity.
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
        if let Some(identity) = &self.identity {
            identity.validate()?;
        }
        crate::sensors::validate_peripherals(&self.board, &self.peripherals)
    }
}

/// One app slot a device should have (computed by the control plane from
/// the applications' rollouts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredApp {
    /// Slot name on the device: the application's name, or
    /// `<application>.r<revision>` for a blue-green revision kept beside another.
    pub slot: String,
    /// Application name.
    pub app: String,
    /// Application revision.
    pub revision: u64,
    /// Version label.
    pub version: String,
    /// Hex SHA-256 of the module.
    pub digest: String,
    /// Module size in bytes.
    #[serde(default)]
    pub size: u32,
    /// Hex of the signed manifest's envelope, when the revision is signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// Limits the app runs under.
    pub limits: Limits,
    /// Capabilities granted (as the spec writes them).
    pub capabilities: Vec<String>,
    /// Configuration delivered with the module.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Running (true) or installed and stopped (false).
    pub run: bool,
    /// The native code this device's board runs instead of the module:
    /// set only for a revision that asks for native execution, has an
    /// artifact for the board and a signed manifest naming it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<super::NativeArtifactRef>,
}

impl DesiredApp {
    /// The digest of the bytes the device is sent and reports back: the
    /// native artifact's, or the module's.
    pub fn shipped_digest(&self) -> &str {
        self.native.as_ref().map_or(&self.digest, |n| &n.digest)
    }
}

/// Device lifecycle phase, derived by the device reconciler (ordered as a
/// device moves through them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum DevicePhase {
    /// Identity issued; the device has not been started or has never connected.
    #[default]
    Provisioning,
    /// Its process runs (or it was powered on) but it has not enrolled yet.
    Connecting,
    /// Holding a session and heartbeating.
    Online,
    /// Was online; its session ended or its heartbeats stopped.
    Unreachable,
    /// Cannot run: no firmware for its board, or its process keeps failing.
    Failed,
}

impl DevicePhase {
    /// Name as shown to people.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "Provisioning",
            Self::Connecting => "Connecting",
            Self::Online => "Online",
            Self::Unreachable => "Unreachable",
            Self::Failed => "Failed",
        }
    }
}

/// Observed state of a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceStatus {
    /// Lifecycle phase (device reconciler).
    #[serde(default)]
    pub phase: DevicePhase,
    /// `Ready`, `Synced` (device reconciler).
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The device's session, as its gateway sees it.
    #[serde(default)]
    pub session: SessionStatus,
    /// The device's emulator process, for devices the platform runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessStatus>,
    /// Enrollments refused because the certificate was not the recorded one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<super::RefusedIdentity>,
}

/// A device's session, written by the gateway that holds (or last held) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// A session is open now.
    #[serde(default)]
    pub connected: bool,
    /// Gateway holding (or last holding) the session.
    pub gateway: Option<String>,
    /// True when the device is the host simulator, as it said when enrolling.
    #[serde(default)]
    pub simulated: bool,
    /// Last heartbeat, Unix milliseconds.
    pub last_heartbeat_ms: Option<u64>,
    /// Heartbeat interval the gateway asked for.
    pub heartbeat_ms: Option<u32>,
    /// Device uptime at the last heartbeat.
    pub uptime_ms: Option<u64>,
    /// Free heap at the last heartbeat.
    pub free_memory: Option<u32>,
    /// Agent / firmware version reported at enrollment.
    pub firmware_version: Option<String>,
    /// App slots as the device reports them.
    #[serde(default)]
    pub apps: Vec<AppObservation>,
    /// Last error the session saw (protocol error, rejected deploy, ...).
    pub last_error: Option<String>,
}

/// A device's emulator process, written by the QEMU manager.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ProcessStatus {
    /// Where the process is.
    pub state: ProcessState,
    /// Restarts since the platform started.
    #[serde(default)]
    pub restarts: u32,
    /// Start of the current (or last) run, Unix milliseconds.
    pub started_ms: Option<u64>,
    /// Why it last exited or cannot start.
    pub message: Option<String>,
}

/// State of a device's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ProcessState {
    /// Running.
    Running,
    /// Exited; a restart is scheduled.
    Restarting,
    /// Stopped on purpose (device disconnected by an operator).
    Stopped,
    /// Cannot be started (e.g. no firmware image for the board).
    Failed,
}

/// One writer's part of a device status; the store merges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStatusPatch {
    /// The gateway's view of the session.
    Session(SessionStatus),
    /// The QEMU manager's view of the process.
    Process(Option<ProcessStatus>),
    /// A gateway's count of refused enrollments (written whole).
    Refused(super::RefusedIdentity),
    /// The device reconciler's conclusion.
    Lifecycle {
        /// Phase.
        phase: DevicePhase,
        /// Conditions.
        conditions: Vec<Condition>,
    },
}

impl DeviceStatus {
    /// Merges one writer's part.
    pub fn apply(&mut self, patch: DeviceStatusPatch) {
        match patch {
            DeviceStatusPatch::Session(s) => self.session = s,
            DeviceStatusPatch::Process(p) => self.process = p,
            DeviceStatusPatch::Refused(r) => self.refused = Some(r),
            DeviceStatusPatch::Lifecycle { phase, conditions } => {
                self.phase = phase;
                self.conditions = conditions;
            }
        }
    }
}

impl SessionStatus {
    /// The device's report of slot `name`, if it made one.
    pub fn app(&self, name: &str) -> Option<&AppObservation> {
        self.apps.iter().find(|a| a.name == name)
    }

    /// Some running slot matches `which`.
    pub fn runs(&self, which: impl Fn(&AppObservation) -> bool) -> bool {
        self.apps.iter().any(|a| a.state == AppState::Running && which(a))
    }
}

/// One app slot as observed on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppObservation {
    /// Slot name.
    pub name: String,
    /// Version running (or last tried).
    pub version: String,
    /// Hex SHA-256 of the module.
    pub digest: String,
    /// Where the app is.
    pub state: AppState,
    /// Application revision the slot holds, when the device reports one.
    pub revision: Option<u64>,
    /// Why it failed or was rejected.
    pub reason: Option<String>,
    /// Calls that did not reach the world (outside the grant, hardware
    /// errors, telemetry over the rate limit), as the device counts them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<wasmbed_protocol::AppCounters>,
    /// The latest value of each metric the slot published (what rollout
    /// gates read); the series live in the platform's telemetry book.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, Gauge>,
}

/// A metric value in a status. Compared bit for bit, so statuses (which
/// are compared to skip writes that change nothing) stay `Eq`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = f64))]
#[serde(transparent)]
pub struct Gauge(pub f64);

impl PartialEq for Gauge {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Gauge {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_patches_touch_only_their_part() {
        let mut st = DeviceStatus::default();
        st.apply(DeviceStatusPatch::Session(SessionStatus { connected: true, ..Default::default() }));
        st.apply(DeviceStatusPatch::Lifecycle { phase: DevicePhase::Online, conditions: vec![] });
        st.apply(DeviceStatusPatch::Process(Some(ProcessStatus {
            state: ProcessState::Running,
            restarts: 0,
            started_ms: None,
            message: None,
        })));
        assert!(st.session.connected);
        assert_eq!(st.phase, DevicePhase::Online);
        assert!(st.process.is_some());
        let json = serde_json::to_value(&st).unwrap();
        assert_eq!(json["session"]["connected"], true, "camelCase JSON: {json}");
    }

    #[test]
    fn app_states_keep_their_lower_case_json() {
        let o = AppObservation {
            name: "a".into(),
            version: "1".into(),
            digest: String::new(),
            state: AppState::Rejected,
            revision: None,
            reason: None,
            counters: None,
            metrics: BTreeMap::new(),
        };
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["state"], "rejected");
        assert_eq!(serde_json::from_value::<AppObservation>(json).unwrap(), o);
        let bad = serde_json::json!({"name": "a", "version": "1", "digest": "", "state": "Running"});
        assert!(serde_json::from_value::<AppObservation>(bad).is_err(), "states are lower-case on the wire");
    }
}
