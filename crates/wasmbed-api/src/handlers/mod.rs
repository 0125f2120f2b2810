//! Request handlers, one module per resource.

pub mod applications;
pub mod devices;
pub mod gateways;
pub mod messages;
pub mod signing;
pub mod telemetry;
pub mod tokens;

use crate::openapi::AuthErrors;
use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEntry, AuditQuery};
use crate::auth::{Operator, Viewer};
use crate::{ApiError, ApiState};

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A JSON body that does not parse: serde's message names the field and
/// the position.
pub(crate) fn json_error(e: JsonRejection) -> ApiError {
    ApiError::bad_request(format!("invalid JSON body: {}", e.body_text()))
}

/// Platform summary.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Crate version.
    pub version: String,
    /// Gateway port devices dial.
    pub gateway_port: u16,
    /// Sessions held now.
    pub sessions: usize,
    /// Gateway counters.
    pub gateway: crate::GatewayCounters,
    /// Devices by phase (phases with none are left out).
    pub devices: BTreeMap<wasmbed_model::DevicePhase, usize>,
    /// Devices that are the host simulator.
    pub simulated_devices: usize,
    /// Applications.
    pub applications: usize,
    /// Gateways registered.
    pub gateways: usize,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "status", summary = "Platform summary",
    description = "Role: viewer.", responses((status = 200, description = "Summary", body = Status), AuthErrors))]
pub async fn status(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<Status>> {
    let devices = st.store.list_devices().await?;
    let mut by_phase = BTreeMap::new();
    for d in &devices {
        *by_phase.entry(d.status.phase).or_insert(0) += 1;
    }
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        gateway_port: st.gateway_port,
        sessions: (st.gateway)().sessions,
        gateway: (st.gateway)(),
        devices: by_phase,
        simulated_devices: devices.iter().filter(|d| d.spec.board == wasmbed_model::SIM_BOARD).count(),
        applications: st.store.list_applications().await?.len(),
        gateways: st.store.list_gateways().await?.len(),
    }))
}

/// A board the platform knows.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoardInfo {
    /// Name (`sim` for the host simulator).
    pub name: String,
    /// Devices of it run our firmware in QEMU.
    pub emulated: bool,
    /// Devices of it run no WebAssembly runtime: they are attached to a
    /// gateway over a serial link, and their apps run there as edge
    /// components.
    pub attached: bool,
    /// Devices of it can be created.
    pub supported: bool,
    /// Why not, when they cannot.
    pub reason: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/boards", tag = "boards", summary = "Boards the platform knows",
    description = "Role: viewer.", responses((status = 200, description = "Boards", body = Vec<BoardInfo>),
        AuthErrors))]
pub async fn boards(_: Viewer) -> Json<Vec<BoardInfo>> {
    Json(
        wasmbed_model::boards()
            .map(|b| BoardInfo {
                name: b.name.into(),
                emulated: b.emulated,
                attached: b.attached().is_some(),
                supported: b.unsupported.is_none(),
                reason: b.unsupported.map(String::from),
            })
            .collect(),
    )
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit",
    params(("actor" = Option<String>, Query, description = "only this actor"),
        ("action" = Option<String>, Query, description = "only actions starting with this"),
        ("outcome" = Option<crate::audit::Outcome>, Query, description = "ok, refused, denied or failed"),
        ("since" = Option<u64>, Query, description = "Unix ms"),
        ("limit" = Option<usize>, Query, description = "at most 1000")), summary = "Audit entries, newest first",
    description = "Role: operator.",
    responses((status = 200, description = "Entries", body = Vec<crate::audit::AuditEntry>), AuthErrors))]
pub async fn audit(
    _: Operator,
    State(st): State<ApiState>,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    Ok(Json(st.audit.query(&q)))
}

/// The answer of `GET /api/v1/audit/verify`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditCheck {
    /// The chain holds, from the genesis value to the last entry the API wrote.
    pub intact: bool,
    /// What was read, when intact.
    pub verified: Option<crate::audit::Verified>,
    /// The line the problem is on (from 1), when it is on one.
    pub line: Option<usize>,
    /// What is wrong, when not intact.
    pub problem: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit", summary = "Check the audit log's hash chain",
    description = "Role: operator. Reads the log file and checks every link, and that it ends with the last \
        entry this API wrote (which the file alone cannot show). A broken chain is answered 200 with \
        `intact: false`, the line and the problem.",
    responses((status = 200, description = "The check", body = AuditCheck), AuthErrors))]
pub async fn verify_audit(_: Operator, State(st): State<ApiState>) -> ApiResult<Json<AuditCheck>> {
    use crate::audit::VerifyError;
    let log = st.audit.clone();
    let checked = tokio::task::spawn_blocking(move || log.verify()).await.map_err(ApiError::internal)?;
    Ok(Json(match checked {
        Ok(v) => AuditCheck { intact: true, verified: Some(v), line: None, problem: None },
        Err(VerifyError::Io(e)) => return Err(ApiError::internal(e)),
        Err(e) => {
            let line = match &e {
                VerifyError::Chain(c) => c.line(),
                VerifyError::NotTheHead { lines } => Some(*lines),
                VerifyError::Io(_) => None,
            };
            AuditCheck { intact: false, verified: None, line, problem: Some(e.to_string()) }
        }
    }))
}

/// Unknown API paths: a JSON 404, not the dashboard's page.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no API route {}", uri.path()))
}
