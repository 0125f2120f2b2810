//! Gateways, with the health the control plane last concluded.

#[allow(unused_imports)] // named by the OpenAPI attributes
use crate::error::ErrorBody;
use axum::Json;
use axum::extract::State;
use wasmbed_model::Gateway;

use super::ApiResult;
use crate::ApiState;
use crate::auth::Viewer;

#[utoipa::path(get, path = "/api/v1/gateways", tag = "gateways", summary = "Gateways with sessions and health", responses((status = 200, description = "Gateways", body = Vec<wasmbed_model::Gateway>), (status = 401, description = "No valid token", body = ErrorBody), (status = 403, description = "Role too low", body = ErrorBody)), security(("bearer" = [])), description = "Role: viewer.")]
pub async fn list_gateways(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<Vec<Gateway>>> {
    Ok(Json(st.store.list_gateways().await?))
}
