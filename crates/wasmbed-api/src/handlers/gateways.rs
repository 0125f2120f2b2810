//! Gateways, with the health the control plane last concluded.

use crate::openapi::AuthErrors;
use axum::Json;
use axum::extract::State;
use wasmbed_model::Gateway;

use super::ApiResult;
use crate::ApiState;
use crate::auth::Viewer;

#[utoipa::path(get, path = "/api/v1/gateways", tag = "gateways", summary = "Gateways with sessions and health",
    description = "Role: viewer.",
    responses((status = 200, description = "Gateways", body = Vec<wasmbed_model::Gateway>), AuthErrors))]
pub async fn list_gateways(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<Vec<Gateway>>> {
    Ok(Json(st.store.list_gateways().await?))
}
