//! Device, Application and Gateway: spec (desired) and status (observed).
//!
//! Field names serialize in camelCase, as Kubernetes resources do, so the
//! same types are the embedded store's records, the API's JSON and the
//! CRDs' schemas.
//!
//! Each status has one writer per part: a Device's `session` is written by
//! the gateway holding its session, its `process` by the QEMU manager, its
//! `phase` and `conditions` by the device reconciler; the parts are merged
//! by the store ([`DeviceStatusPatch`]), so writers never overwrite each
//! other.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::selector::valid_label_part;
use crate::{RevisionOutcome, RolloutStatus, Selector, SelectorError, Strategy};
pub use wasmbed_protocol::AppState;

/// Labels on a device, matched by application selectors.
pub type Labels = BTreeMap<String, String>;

/// Metadata every resource carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Unique within its kind; DNS-label-like.
    pub name: String,
    /// Bumped by the store on every spec write; a stale write is a conflict.
    #[serde(default)]
    pub resource_version: u64,
    /// Bumped when the spec changes; reconcilers compare it with the
    /// generation they last acted on.
    #[serde(default)]
    pub generation: u64,
    /// Creation time, Unix milliseconds.
    #[serde(default)]
    pub created_ms: u64,
}

impl Meta {
    /// Metadata for a resource about to be created.
    pub fn named(name: &str) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

/// A Kubernetes-style condition: a named fact with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What the condition is about, e.g. `Ready`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// One CamelCase word for machines.
    pub reason: String,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed, Unix milliseconds.
    #[serde(default)]
    pub last_transition_ms: u64,
}

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not.
    False,
    /// Not known (yet).
    Unknown,
}

impl Condition {
    /// A condition, not yet stamped with a transition time.
    pub fn new(kind: &str, holds: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            status: if holds { ConditionStatus::True } else { ConditionStatus::False },
            reason: reason.into(),
            message: message.into(),
            last_transition_ms: 0,
        }
    }
}

/// Replaces `conditions` with `next`, keeping each transition time whose
/// status did not change and stamping the others with `now_ms`, so that
/// re-deriving the same facts writes nothing new.
pub fn merge_conditions(conditions: &[Condition], next: Vec<Condition>, now_ms: u64) -> Vec<Condition> {
    next.into_iter()
        .map(|mut c| {
            c.last_transition_ms = match conditions.iter().find(|o| o.kind == c.kind) {
                Some(old) if old.status == c.status => old.last_transition_ms,
                _ => now_ms,
            };
            c
        })
        .collect()
}

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
    /// Limits the app runs under.
    pub limits: Limits,
    /// Capability groups granted.
    pub capabilities: Vec<String>,
    /// Running (true) or installed and stopped (false).
    pub run: bool,
}

/// Device lifecycle phase, derived by the device reconciler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
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
    #[serde(default)]
    pub gateway: Option<String>,
    /// True when the device is the host simulator, as it said when enrolling.
    #[serde(default)]
    pub simulated: bool,
    /// Last heartbeat, Unix milliseconds.
    #[serde(default)]
    pub last_heartbeat_ms: Option<u64>,
    /// Heartbeat interval the gateway asked for.
    #[serde(default)]
    pub heartbeat_ms: Option<u32>,
    /// Device uptime at the last heartbeat.
    #[serde(default)]
    pub uptime_ms: Option<u64>,
    /// Free heap at the last heartbeat.
    #[serde(default)]
    pub free_memory: Option<u32>,
    /// Agent / firmware version reported at enrollment.
    #[serde(default)]
    pub firmware_version: Option<String>,
    /// App slots as the device reports them.
    #[serde(default)]
    pub apps: Vec<AppObservation>,
    /// Last error the session saw (protocol error, rejected deploy, ...).
    #[serde(default)]
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
    #[serde(default)]
    pub started_ms: Option<u64>,
    /// Why it last exited or cannot start.
    #[serde(default)]
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
            DeviceStatusPatch::Lifecycle { phase, conditions } => {
                self.phase = phase;
                self.conditions = conditions;
            }
        }
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
    #[serde(default)]
    pub revision: Option<u64>,
    /// Why it failed or was rejected.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Resource limits of an app on a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
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

/// Capability groups an app gets when its spec names none.
pub fn default_capabilities() -> Vec<String> {
    wasmbed_protocol::DEFAULT_GRANTS.iter().map(|c| c.name().to_string()).collect()
}

/// A WebAssembly app rolled out to the devices its selector matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Application {
    /// Name and versioning.
    pub meta: Meta,
    /// Desired state.
    pub spec: ApplicationSpec,
    /// Rollout progress and revision history.
    #[serde(default)]
    pub status: ApplicationStatus,
}

/// Desired state of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApplicationSpec {
    /// Version label (free text, shown to people).
    pub version: String,
    /// The module, by content: hex SHA-256 of the bytes in the module store.
    pub digest: String,
    /// Module size in bytes.
    pub size: u32,
    /// Capability groups the app may use (`log`, `time`, `device`).
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    /// Limits on each device.
    #[serde(default)]
    pub limits: Limits,
    /// Label selector choosing the devices.
    #[serde(default)]
    pub selector: String,
    /// How a new revision reaches the devices.
    #[serde(default)]
    pub strategy: Strategy,
    /// Hold the rollout where it is.
    #[serde(default)]
    pub paused: bool,
    /// Abort the rollout of this revision: every device it touched goes
    /// back to the previous revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_revision: Option<u64>,
}

/// The part of an application spec that makes a revision: what runs on a
/// device. Selector, strategy and the rollout controls are not part of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AppTemplate {
    /// Version label.
    pub version: String,
    /// Module digest.
    pub digest: String,
    /// Module size.
    pub size: u32,
    /// Capabilities granted.
    pub capabilities: Vec<String>,
    /// Limits.
    pub limits: Limits,
}

impl ApplicationSpec {
    /// A spec for the module `digest` of `size` bytes, matching every device,
    /// with the default capabilities, limits and strategy.
    pub fn new(version: &str, digest: &str, size: u32) -> Self {
        Self {
            version: version.into(),
            digest: digest.into(),
            size,
            capabilities: default_capabilities(),
            limits: Limits::default(),
            selector: String::new(),
            strategy: Strategy::default(),
            paused: false,
            abort_revision: None,
        }
    }

    /// What a device runs for this spec.
    pub fn template(&self) -> AppTemplate {
        let mut capabilities = self.capabilities.clone();
        capabilities.sort();
        capabilities.dedup();
        AppTemplate {
            version: self.version.clone(),
            digest: self.digest.clone(),
            size: self.size,
            capabilities,
            limits: self.limits,
        }
    }

    /// Sets the revisioned fields from `t` (a rollback).
    pub fn set_template(&mut self, t: &AppTemplate) {
        self.version = t.version.clone();
        self.digest = t.digest.clone();
        self.size = t.size;
        self.capabilities = t.capabilities.clone();
        self.limits = t.limits;
    }
}

/// Reads an outcome as written now, or as the string records held before
/// outcomes were typed (`Completed`, `RolledBack: why`, ...).
fn outcome_or_legacy<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<RevisionOutcome>, D::Error> {
    let Some(s) = Option::<String>::deserialize(d)? else { return Ok(None) };
    RevisionOutcome::parse_legacy(&s)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom(format!("unknown revision outcome {s:?}")))
}

/// One kept revision of an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Revision {
    /// Number, from 1, never reused.
    pub revision: u64,
    /// What runs.
    pub template: AppTemplate,
    /// When it was first rolled out, Unix milliseconds.
    pub created_ms: u64,
    /// How its last rollout ended, when it did.
    #[serde(default, deserialize_with = "outcome_or_legacy")]
    pub outcome: Option<RevisionOutcome>,
    /// Why, when it did not complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_message: Option<String>,
}

impl Revision {
    /// A revision first rolled out at `created_ms`, with no outcome yet.
    pub fn new(revision: u64, template: AppTemplate, created_ms: u64) -> Self {
        Self { revision, template, created_ms, outcome: None, outcome_message: None }
    }
}

/// Progress of one rollout step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct StepStatus {
    /// Step as the strategy says it (`10%`, `5`, `all`, `install`, `switch`).
    pub step: String,
    /// Devices the step covers, cumulative.
    pub target: u32,
    /// Devices assigned the new revision.
    pub updated: u32,
    /// Of those, running it.
    pub running: u32,
    /// Of those, failed.
    pub failed: u32,
    /// Of those, offline (waiting, not failed).
    pub pending_offline: u32,
    /// When the step started, Unix milliseconds.
    #[serde(default)]
    pub started_ms: Option<u64>,
    /// When its gate passed.
    #[serde(default)]
    pub completed_ms: Option<u64>,
}

/// Observed state of an application across its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApplicationStatus {
    /// Spec generation this status reflects.
    #[serde(default)]
    pub observed_generation: u64,
    /// Revision the spec asks for.
    #[serde(default)]
    pub revision: Option<u64>,
    /// Last revision whose rollout completed.
    #[serde(default)]
    pub stable_revision: Option<u64>,
    /// The current (or last) rollout.
    #[serde(default)]
    pub rollout: Option<RolloutStatus>,
    /// Devices the selector matches.
    #[serde(default)]
    pub desired: u32,
    /// Devices assigned the current revision.
    #[serde(default)]
    pub updated: u32,
    /// Devices running the current revision.
    #[serde(default)]
    pub running: u32,
    /// Devices where the current revision failed or was refused.
    #[serde(default)]
    pub failed: u32,
    /// Matched devices that are offline: waiting, not failed.
    #[serde(default)]
    pub pending_offline: u32,
    /// Progress of each step of the current rollout.
    #[serde(default)]
    pub steps: Vec<StepStatus>,
    /// `Progressing`, `Available`, `RolledBack`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Kept revisions, oldest first.
    #[serde(default)]
    pub history: Vec<Revision>,
}

impl ApplicationStatus {
    /// A kept revision by number.
    pub fn revision(&self, n: u64) -> Option<&Revision> {
        self.history.iter().find(|r| r.revision == n)
    }
}

/// A gateway devices connect to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Gateway {
    /// Name and versioning.
    pub meta: Meta,
    /// Where devices reach it and how many it takes.
    pub spec: GatewaySpec,
    /// Its sessions and health.
    #[serde(default)]
    pub status: GatewayStatus,
}

/// Desired state of a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GatewaySpec {
    /// `host:port` devices on the host dial (the simulator).
    pub endpoint: String,
    /// `host:port` emulated devices dial (QEMU user networking sees the
    /// host as 10.0.2.2); absent when it equals `endpoint`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_endpoint: Option<String>,
    /// Most sessions it should be given.
    pub capacity: u32,
}

/// Health of a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum GatewayHealth {
    /// Not seen yet.
    #[default]
    Unknown,
    /// Reporting on time.
    Healthy,
    /// Its reports stopped: its devices are moved to other gateways.
    Unhealthy,
}

/// Observed state of a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GatewayStatus {
    /// Enrolled sessions at its last report (the gateway).
    #[serde(default)]
    pub sessions: u32,
    /// Its last report, Unix milliseconds (the gateway).
    #[serde(default)]
    pub last_seen_ms: Option<u64>,
    /// How often it reports (the gateway).
    #[serde(default)]
    pub report_ms: Option<u32>,
    /// Health (the gateway reconciler).
    #[serde(default)]
    pub health: GatewayHealth,
}

/// One writer's part of a gateway status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayStatusPatch {
    /// The gateway's own report.
    Report {
        /// Sessions now.
        sessions: u32,
        /// Time of the report.
        at_ms: u64,
        /// Report interval.
        report_ms: u32,
    },
    /// The reconciler's verdict.
    Health(GatewayHealth),
}

impl GatewayStatus {
    /// Merges one writer's part.
    pub fn apply(&mut self, patch: GatewayStatusPatch) {
        match patch {
            GatewayStatusPatch::Report { sessions, at_ms, report_ms } => {
                self.sessions = sessions;
                self.last_seen_ms = Some(at_ms);
                self.report_ms = Some(report_ms);
            }
            GatewayStatusPatch::Health(h) => self.health = h,
        }
    }
}

impl GatewaySpec {
    /// The address a device of `board` dials.
    pub fn endpoint_for(&self, board: &str) -> &str {
        match crate::board(board) {
            Some(b) if b.emulated => self.device_endpoint.as_deref().unwrap_or(&self.endpoint),
            _ => &self.endpoint,
        }
    }
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
        for c in &self.capabilities {
            if wasmbed_protocol::Capability::from_name(c).is_none() {
                let known: Vec<&str> = wasmbed_protocol::Capability::ALL.iter().map(|c| c.name()).collect();
                return Err(ValidationError {
                    field: "spec.capabilities",
                    why: format!("unknown capability {c:?}; known: {}", known.join(", ")),
                });
            }
        }
        let l = &self.limits;
        if l.fuel_per_call == 0 || l.fuel_per_call > MAX_FUEL_PER_CALL {
            return Err(ValidationError {
                field: "spec.limits.fuelPerCall",
                why: format!("must be 1..={MAX_FUEL_PER_CALL}"),
            });
        }
        if l.max_memory_pages > MAX_MEMORY_PAGES {
            return Err(ValidationError {
                field: "spec.limits.maxMemoryPages",
                why: format!("must be 0..={MAX_MEMORY_PAGES}"),
            });
        }
        if l.tick_ms < 10 {
            return Err(ValidationError { field: "spec.limits.tickMs", why: "must be at least 10".into() });
        }
        self.strategy.validate()?;
        self.selector.parse().map_err(|e: SelectorError| ValidationError { field: "spec.selector", why: e.to_string() })
    }
}

impl GatewaySpec {
    /// Checks endpoints and capacity.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let endpoint = |field, e: &str| match e.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
            _ => Err(ValidationError { field, why: format!("{e:?} is not host:port") }),
        };
        endpoint("spec.endpoint", &self.endpoint)?;
        if let Some(e) = &self.device_endpoint {
            endpoint("spec.deviceEndpoint", e)?;
        }
        if self.capacity == 0 {
            return Err(ValidationError { field: "spec.capacity", why: "must be at least 1".into() });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn spec() -> ApplicationSpec {
        ApplicationSpec {
            version: "1".into(),
            digest: "ab".repeat(32),
            size: 10,
            capabilities: default_capabilities(),
            limits: Limits::default(),
            selector: "app=demo".into(),
            strategy: Strategy::default(),
            paused: false,
            abort_revision: None,
        }
    }

    #[test]
    fn validation_names_the_field() {
        assert!(spec().validate().is_ok());
        type Break = fn(&mut ApplicationSpec);
        let cases: [(Break, &str); 6] = [
            (|s| s.selector = "app=".into(), "spec.selector"),
            (|s| s.digest = "zz".into(), "spec.digest"),
            (|s| s.limits.max_memory_pages = 1000, "spec.limits.maxMemoryPages"),
            (|s| s.limits.fuel_per_call = 0, "spec.limits.fuelPerCall"),
            (|s| s.capabilities.push("gpio:led9".into()), "spec.capabilities"),
            (|s| s.strategy = Strategy::canary_unchecked("10%,5%,100%"), "spec.strategy.steps"),
        ];
        for (break_it, field) in cases {
            let mut s = spec();
            break_it(&mut s);
            assert_eq!(s.validate().unwrap_err().field, field);
        }
        let e = {
            let mut s = spec();
            s.capabilities.push("gpio".into());
            s.validate().unwrap_err()
        };
        assert!(e.why.contains("\"gpio\"") && e.why.contains("log, time, device"), "{e}");
    }

    #[test]
    fn revision_outcomes_read_as_typed_or_as_older_records_wrote_them() {
        let template = spec().template();
        let rev = |outcome: serde_json::Value| {
            let mut json = serde_json::to_value(Revision::new(1, template.clone(), 0)).unwrap();
            json["outcome"] = outcome;
            serde_json::from_value::<Revision>(json)
        };
        for (written, read) in [
            ("Completed", RevisionOutcome::Completed),
            ("RolledBack: 2 devices failed", RevisionOutcome::RolledBack),
            ("Aborted: aborted by an operator", RevisionOutcome::Aborted),
            ("Superseded before it completed", RevisionOutcome::Superseded),
        ] {
            assert_eq!(rev(written.into()).unwrap().outcome, Some(read), "{written}");
        }
        assert_eq!(rev(serde_json::Value::Null).unwrap().outcome, None);
        let bad = rev("Exploded".into()).unwrap_err().to_string();
        assert!(bad.contains("unknown revision outcome \"Exploded\""), "{bad}");
        let typed = Revision { outcome: Some(RevisionOutcome::RolledBack), ..Revision::new(2, template, 0) };
        assert_eq!(serde_json::to_value(&typed).unwrap()["outcome"], "RolledBack");
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
        };
        let json = serde_json::to_value(&o).unwrap();
        assert_eq!(json["state"], "rejected");
        assert_eq!(serde_json::from_value::<AppObservation>(json).unwrap(), o);
        let bad = serde_json::json!({"name": "a", "version": "1", "digest": "", "state": "Running"});
        assert!(serde_json::from_value::<AppObservation>(bad).is_err(), "states are lower-case on the wire");
    }

    #[test]
    fn names() {
        assert!(validate_name("dev-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn templates_ignore_capability_order_and_rollout_controls() {
        let mut a = spec();
        a.capabilities = vec!["time".into(), "log".into()];
        let mut b = spec();
        b.capabilities = vec!["log".into(), "time".into(), "log".into()];
        b.paused = true;
        b.selector = "x=y".into();
        assert_eq!(a.template(), b.template());
        let mut c = spec();
        c.set_template(&AppTemplate { version: "9".into(), ..a.template() });
        assert_eq!(c.version, "9");
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let first = merge_conditions(&[], vec![Condition::new("Ready", true, "Online", "")], 10);
        assert_eq!(first[0].last_transition_ms, 10);
        let same = merge_conditions(&first, vec![Condition::new("Ready", true, "Online", "again")], 20);
        assert_eq!(same[0].last_transition_ms, 10);
        let flipped = merge_conditions(&same, vec![Condition::new("Ready", false, "Silent", "")], 30);
        assert_eq!(flipped[0].last_transition_ms, 30);
    }

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
    fn gateway_specs_are_checked() {
        let ok = GatewaySpec { endpoint: "127.0.0.1:4443".into(), device_endpoint: None, capacity: 10 };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.endpoint_for("mps2-an385"), "127.0.0.1:4443");
        let bad = GatewaySpec { endpoint: "nowhere".into(), ..ok.clone() };
        assert_eq!(bad.validate().unwrap_err().field, "spec.endpoint");
        let bad = GatewaySpec { capacity: 0, ..ok.clone() };
        assert_eq!(bad.validate().unwrap_err().field, "spec.capacity");
        let both = GatewaySpec { device_endpoint: Some("10.0.2.2:4443".into()), ..ok };
        assert_eq!(both.endpoint_for("mps2-an385"), "10.0.2.2:4443");
        assert_eq!(both.endpoint_for("sim"), "127.0.0.1:4443");
    }
}
