//! Request handlers, one module per resource.

pub mod applications;
pub mod devices;
pub mod gateways;

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use serde::{Deserialize, Serialize};

use crate::{ApiError, ApiState};

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// A JSON body that does not parse: serde's message names the field and
/// the position.
pub(crate) fn json_error(e: JsonRejection) -> ApiError {
    ApiError::bad_request(format!("invalid JSON body: {}", e.body_text()))
}

/// Platform summary.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// Crate version.
    pub version: String,
    /// Gateway port devices dial.
    pub gateway_port: u16,
    /// Sessions held now.
    pub sessions: usize,
    /// Gateway counters.
    pub gateway: crate::GatewayCounters,
    /// Devices by phase.
    pub devices: BTreeMap<String, usize>,
    /// Devices that are the host simulator.
    pub simulated_devices: usize,
    /// Applications.
    pub applications: usize,
    /// Gateways registered.
    pub gateways: usize,
}

pub async fn status(State(st): State<ApiState>) -> ApiResult<Json<Status>> {
    let devices = st.store.list_devices().await?;
    let mut by_phase = BTreeMap::new();
    for d in &devices {
        *by_phase.entry(d.status.phase.as_str().to_string()).or_insert(0) += 1;
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
