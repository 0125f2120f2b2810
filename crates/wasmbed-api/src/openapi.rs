//! The OpenAPI document (placeholder until the generated one lands).

use axum::Json;

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::json!({}))
}
