//! `wasmbed gateway list`.

use anyhow::Result;
use wasmbed_model::Gateway;

use crate::api::Api;
use crate::output::{ago, json_or_table};

/// Lists gateways with their sessions and health.
pub async fn list(api: &Api, json: bool) -> Result<()> {
    let gateways: Vec<Gateway> = api.get("gateways").await?;
    json_or_table(
        &gateways,
        json,
        &["NAME", "ENDPOINT", "DEVICE ENDPOINT", "CAPACITY", "SESSIONS", "HEALTH", "SEEN"],
        |g| {
            vec![
                g.meta.name.clone(),
                g.spec.endpoint.clone(),
                g.spec.device_endpoint.clone().unwrap_or_default(),
                g.spec.capacity.to_string(),
                g.status.sessions.to_string(),
                format!("{:?}", g.status.health),
                ago(g.status.last_seen_ms),
            ]
        },
    )
}
