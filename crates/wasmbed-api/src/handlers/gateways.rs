//! Gateways, with the health the control plane last concluded.

use axum::Json;
use axum::extract::State;
use wasmbed_model::Gateway;

use super::ApiResult;
use crate::ApiState;
use crate::auth::Viewer;

pub async fn list_gateways(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<Vec<Gateway>>> {
    Ok(Json(st.store.list_gateways().await?))
}
