//! An Application: the module, version, capabilities, limits, selector
//! and strategy it is rolled out with (spec); its revisions, rollout
//! progress and counts (status).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wasmbed_protocol::{
    GRANT_FORMS, Grant, MAX_CONFIG_ENTRIES, MAX_CONFIG_KEY_LEN, MAX_CONFIG_VALUE_LEN, MAX_VERSION_LEN, valid_config_key,
};

use super::{Condition, Execution, Meta, NativeArtifactRef, NativeBuild, ValidationError};
use crate::{RevisionOutcome, RolloutStatus, Selector, SelectorError, Strategy};

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

/// Where an application runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A core WebAssembly module on the devices the selector matches.
    #[default]
    Device,
    /// A WebAssembly component on the gateways the selector matches (by
    /// their labels; every gateway carries `gateway=<its name>`).
    Edge,
}

impl Runtime {
    /// Whether this is the default, device runtime.
    pub fn is_device(&self) -> bool {
        *self == Self::Device
    }
}

/// The capabilities an edge component may be granted: the interfaces of
/// the `wasmbed:edge` WIT package (`wit/wasmbed-edge.wit`).
pub const EDGE_CAPABILITIES: [&str; 8] =
    ["log", "clocks", "config", "kv", "telemetry", "messages", "attached-board", "wasi"];

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
    /// Devices (a core module each) or gateways (a component each).
    #[serde(default, skip_serializing_if = "Runtime::is_device")]
    pub runtime: Runtime,
    /// How devices run it: `interpreted` (the default), `native` or `auto`
    /// (compiled per board ahead of time, the interpreter where a board's
    /// build failed or no toolchain builds for it). Device apps only.
    #[serde(default, skip_serializing_if = "Execution::is_interpreted")]
    pub execution: Execution,
    /// What the app may use: groups (`log`, `time`, `device`,
    /// `telemetry`, `config`, `messages`) and hardware (`gpio:led0`,
    /// `i2c:0:0x48`, `spi:0`, `adc:0`, `uart:1`); for the edge runtime,
    /// `wasmbed:edge` interfaces (`log`, `clocks`, `config`, `kv`,
    /// `telemetry`, `messages`, `attached-board`).
    #[serde(default = "default_capabilities")]
    pub capabilities: Vec<String>,
    /// Limits on each device.
    #[serde(default)]
    pub limits: Limits,
    /// Configuration delivered with the module (the app reads it with
    /// `config.get`); changing it makes a new revision.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
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
    /// Configuration.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Interpreted, native or auto.
    #[serde(default, skip_serializing_if = "Execution::is_interpreted")]
    pub execution: Execution,
}

impl ApplicationSpec {
    /// A spec for the module `digest` of `size` bytes, matching every device,
    /// with the default capabilities, limits and strategy.
    pub fn new(version: &str, digest: &str, size: u32) -> Self {
        Self {
            version: version.into(),
            digest: digest.into(),
            size,
            runtime: Runtime::Device,
            execution: Execution::Interpreted,
            capabilities: default_capabilities(),
            limits: Limits::default(),
            config: BTreeMap::new(),
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
            config: self.config.clone(),
            execution: self.execution,
        }
    }

    /// Sets the revisioned fields from `t` (a rollback).
    pub fn set_template(&mut self, t: &AppTemplate) {
        self.version = t.version.clone();
        self.digest = t.digest.clone();
        self.size = t.size;
        self.capabilities = t.capabilities.clone();
        self.limits = t.limits;
        self.config = t.config.clone();
        self.execution = t.execution;
    }
}

impl ApplicationSpec {
    /// The capabilities, parsed; the error names the first malformed one.
    pub fn grants(&self) -> Result<Vec<Grant>, ValidationError> {
        self.capabilities
            .iter()
            .map(|c| {
                Grant::parse(c).map_err(|e| ValidationError {
                    field: "spec.capabilities",
                    why: format!("{e}; the forms are: {GRANT_FORMS}"),
                })
            })
            .collect()
    }

    /// An edge application grants edge interfaces only.
    fn validate_edge(&self) -> Result<(), ValidationError> {
        for c in &self.capabilities {
            if !EDGE_CAPABILITIES.contains(&c.as_str()) {
                return Err(ValidationError {
                    field: "spec.capabilities",
                    why: format!("{c:?} is no edge capability (one of {})", EDGE_CAPABILITIES.join(", ")),
                });
            }
        }
        Ok(())
    }

    fn validate_config(&self) -> Result<(), ValidationError> {
        let field = "spec.config";
        if self.config.len() > MAX_CONFIG_ENTRIES {
            return Err(ValidationError { field, why: format!("at most {MAX_CONFIG_ENTRIES} entries") });
        }
        for (k, v) in &self.config {
            if !valid_config_key(k) {
                return Err(ValidationError {
                    field,
                    why: format!("key {k:?}: 1-{MAX_CONFIG_KEY_LEN} characters of [a-z0-9_.-]"),
                });
            }
            if v.len() > MAX_CONFIG_VALUE_LEN {
                return Err(ValidationError {
                    field,
                    why: format!("value of {k:?}: at most {MAX_CONFIG_VALUE_LEN} bytes, not {}", v.len()),
                });
            }
        }
        Ok(())
    }
}

/// Hard ceilings on limits an application may ask for.
pub const MAX_FUEL_PER_CALL: u64 = 1_000_000_000;

/// At most 16 pages (1 MiB) of linear memory per app.
pub const MAX_MEMORY_PAGES: u32 = 16;

impl ApplicationSpec {
    /// Checks every field; the error names the first bad one.
    pub fn validate(&self) -> Result<Selector, ValidationError> {
        if self.version.is_empty() || self.version.len() > MAX_VERSION_LEN {
            let why = format!("must be 1-{MAX_VERSION_LEN} characters");
            return Err(ValidationError { field: "spec.version", why });
        }
        if self.digest.len() != 64 || !self.digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ValidationError { field: "spec.digest", why: "must be 64 hex characters (SHA-256)".into() });
        }
        match self.runtime {
            Runtime::Device => drop(self.grants()?),
            Runtime::Edge => self.validate_edge()?,
        }
        if self.runtime == Runtime::Edge && !self.execution.is_interpreted() {
            let why = "edge components run in the gateway's wasmtime; execution is for device apps".into();
            return Err(ValidationError { field: "spec.execution", why });
        }
        self.validate_config()?;
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
    /// Its native builds, one per board it was rolled out to (only when
    /// its execution is `native` or `auto`), sorted by board.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub native: Vec<NativeBuild>,
}

impl Revision {
    /// A revision first rolled out at `created_ms`, with no outcome yet.
    pub fn new(revision: u64, template: AppTemplate, created_ms: u64) -> Self {
        Self { revision, template, created_ms, outcome: None, outcome_message: None, native: Vec::new() }
    }

    /// The artifact its devices on `board` run, if it has one.
    pub fn artifact_for(&self, board: &str) -> Option<&NativeArtifactRef> {
        if self.template.execution.is_interpreted() {
            return None;
        }
        self.native.iter().find(|b| b.board == board)?.artifact()
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
    pub started_ms: Option<u64>,
    /// When its gate passed.
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
    pub revision: Option<u64>,
    /// Last revision whose rollout completed.
    pub stable_revision: Option<u64>,
    /// The current (or last) rollout.
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
    /// The signed manifests devices are sent (absent until the control
    /// plane signs; devices that pin an app-signing key refuse unsigned
    /// deploys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing: Option<crate::SigningStatus>,
}

impl ApplicationStatus {
    /// A kept revision by number.
    pub fn revision(&self, n: u64) -> Option<&Revision> {
        self.history.iter().find(|r| r.revision == n)
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
            runtime: Runtime::Device,
            execution: Execution::Interpreted,
            capabilities: default_capabilities(),
            limits: Limits::default(),
            config: BTreeMap::new(),
            selector: "app=demo".into(),
            strategy: Strategy::default(),
            paused: false,
            abort_revision: None,
        }
    }

    #[test]
    fn edge_applications_grant_edge_interfaces_and_hot_swap() {
        let edge = |caps: &[&str], strategy: Strategy| ApplicationSpec {
            runtime: Runtime::Edge,
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            strategy,
            ..spec()
        };
        assert!(edge(&["log", "kv", "attached-board"], Strategy::default()).validate().is_ok());
        let e = edge(&["log", "gpio:led0"], Strategy::default()).validate().unwrap_err();
        assert_eq!(e.field, "spec.capabilities");
        assert!(e.why.contains("no edge capability"), "{e}");
        let e = edge(&["time"], Strategy::default()).validate().unwrap_err();
        assert_eq!(e.field, "spec.capabilities");
        assert!(edge(&["log"], Strategy::BlueGreen { soak_ms: 0 }).validate().is_ok(), "every strategy");
        // Device apps still refuse edge interfaces.
        let e = ApplicationSpec { capabilities: vec!["kv".into()], ..spec() }.validate().unwrap_err();
        assert_eq!(e.field, "spec.capabilities");
        // The runtime is left out of a device app's JSON (older readers).
        let json = serde_json::to_value(spec()).unwrap();
        assert!(json.get("runtime").is_none());
        let json = serde_json::to_value(edge(&["log"], Strategy::default())).unwrap();
        assert_eq!(json["runtime"], "edge");
    }

    #[test]
    fn validation_names_the_field() {
        assert!(spec().validate().is_ok());
        type Break = fn(&mut ApplicationSpec);
        let cases: [(Break, &str); 9] = [
            (|s| s.selector = "app=".into(), "spec.selector"),
            (|s| s.digest = "zz".into(), "spec.digest"),
            (|s| s.limits.max_memory_pages = 1000, "spec.limits.maxMemoryPages"),
            (|s| s.limits.fuel_per_call = 0, "spec.limits.fuelPerCall"),
            (|s| s.capabilities.push("gpio:pin9".into()), "spec.capabilities"),
            (|s| s.capabilities.push("i2c:0:0x99".into()), "spec.capabilities"),
            (|s| _ = s.config.insert("Bad Key".into(), "1".into()), "spec.config"),
            (|s| _ = s.config.insert("k".into(), "v".repeat(129)), "spec.config"),
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
        let mut ok = spec();
        ok.capabilities.extend(["gpio:led0".into(), "i2c:0:0x48".into(), "telemetry".into()]);
        ok.config.insert("threshold_c".into(), "30".into());
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn execution_is_part_of_a_revision_and_for_device_apps_only() {
        let native = ApplicationSpec { execution: Execution::Native, ..spec() };
        assert!(native.validate().is_ok());
        assert_ne!(native.template(), spec().template(), "changing it makes a new revision");
        let mut back = spec();
        back.set_template(&native.template());
        assert_eq!(back.execution, Execution::Native, "a rollback restores it");
        let edge = ApplicationSpec { runtime: Runtime::Edge, capabilities: vec!["log".into()], ..native };
        assert_eq!(edge.validate().unwrap_err().field, "spec.execution");
        // Left out when interpreted, so older records and readers agree.
        assert!(serde_json::to_value(spec()).unwrap().get("execution").is_none());
        let old: AppTemplate = serde_json::from_value(serde_json::json!({
            "version": "1", "digest": "ab", "size": 1, "capabilities": [], "limits": Limits::default(),
        }))
        .unwrap();
        assert_eq!(old.execution, Execution::Interpreted);
    }

    #[test]
    fn a_config_change_is_a_new_template() {
        let a = spec();
        let mut b = spec();
        b.config.insert("threshold_c".into(), "25".into());
        assert_ne!(a.template(), b.template());
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
}
