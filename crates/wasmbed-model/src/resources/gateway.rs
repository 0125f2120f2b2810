//! A Gateway: where devices reach it and how many it takes (spec); its
//! sessions, reports and health (status).

use serde::{Deserialize, Serialize};

use super::{Meta, ValidationError};

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
    /// `127.0.0.1:port` where it listens for attached boards' serial links
    /// (QEMU connects the board's link UART there); absent when it takes
    /// none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_link_endpoint: Option<String>,
    /// Most sessions it should be given.
    pub capacity: u32,
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
        if let Some(e) = &self.board_link_endpoint {
            endpoint("spec.boardLinkEndpoint", e)?;
        }
        if self.capacity == 0 {
            return Err(ValidationError { field: "spec.capacity", why: "must be at least 1".into() });
        }
        Ok(())
    }
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
    pub last_seen_ms: Option<u64>,
    /// How often it reports (the gateway).
    pub report_ms: Option<u32>,
    /// Health (the gateway reconciler).
    #[serde(default)]
    pub health: GatewayHealth,
    /// The edge applications it runs, one observation per slot, as devices
    /// report theirs (the gateway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edge: Vec<super::AppObservation>,
    /// The latest lifecycle steps of its edge applications, oldest first
    /// (at most [`EDGE_JOURNAL_KEPT`]): the API audits each once, by its
    /// `seq` (the gateway).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub edge_journal: Vec<EdgeStep>,
}

/// Lifecycle steps a gateway keeps in its status for the audit log.
pub const EDGE_JOURNAL_KEPT: usize = 64;

/// What happened to an edge application on a gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum EdgeStepKind {
    /// A version was committed and handles events (`other`: the one it
    /// replaced, kept for rollback).
    Started,
    /// A version failed to stage (load, link or `init`); the running one
    /// served on.
    StageFailed,
    /// The running version failed while handling an event.
    Failed,
    /// The previous version was put back (`other`: the one set aside).
    RolledBack,
    /// The application was removed from the gateway.
    Stopped,
}

impl EdgeStepKind {
    /// The audit log's action for it.
    pub fn action(self) -> &'static str {
        match self {
            Self::Started => "edge.start",
            Self::StageFailed => "edge.stage",
            Self::Failed => "edge.fail",
            Self::RolledBack => "edge.rollback",
            Self::Stopped => "edge.stop",
        }
    }

    /// Whether it reports a failure.
    pub fn is_failure(self) -> bool {
        matches!(self, Self::StageFailed | Self::Failed)
    }
}

/// One lifecycle step of an edge application on a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct EdgeStep {
    /// Its number on this gateway, increasing across the gateway's restarts.
    pub seq: u64,
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// The slot: the application, or `<application>@<device>` for one
    /// driving an attached board.
    pub slot: String,
    /// What happened.
    pub kind: EdgeStepKind,
    /// The revision it happened to (none for `Stopped`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// That revision's version label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The revision replaced (`Started`) or set aside (`RolledBack`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub other: Option<u64>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
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
    /// What the gateway's edge applications are doing, and their latest
    /// lifecycle steps.
    Edge {
        /// One observation per slot.
        apps: Vec<super::AppObservation>,
        /// The latest steps, oldest first.
        journal: Vec<EdgeStep>,
    },
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
            GatewayStatusPatch::Edge { apps, journal } => {
                self.edge = apps;
                self.edge_journal = journal;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_specs_are_checked() {
        let ok = GatewaySpec { endpoint: "127.0.0.1:4443".into(), capacity: 10, ..Default::default() };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.endpoint_for("mps2-an385"), "127.0.0.1:4443");
        let bad = GatewaySpec { endpoint: "nowhere".into(), ..ok.clone() };
        assert_eq!(bad.validate().unwrap_err().field, "spec.endpoint");
        let bad = GatewaySpec { capacity: 0, ..ok.clone() };
        assert_eq!(bad.validate().unwrap_err().field, "spec.capacity");
        let both = GatewaySpec { device_endpoint: Some("10.0.2.2:4443".into()), ..ok };
        assert_eq!(both.endpoint_for("mps2-an385"), "10.0.2.2:4443");
        assert_eq!(both.endpoint_for("sim"), "127.0.0.1:4443");
        let bad = GatewaySpec { board_link_endpoint: Some("127.0.0.1:0".into()), ..both };
        assert_eq!(bad.validate().unwrap_err().field, "spec.boardLinkEndpoint");
    }
}
