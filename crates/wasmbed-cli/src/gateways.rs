//! `wasmbed gateway list`.

use anyhow::Result;
use wasmbed_model::Gateway;

use crate::api::Api;
use crate::output::{ago, print_json, table};

/// Lists gateways with their sessions and health.
pub async fn list(api: &Api, json: bool) -> Result<()> {
    let gateways: Vec<Gateway> = api.get("gateways").await?;
    if json {
        return print_json(&gateways);
    }
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| {
            vec![
                g.meta.name.clone(),
                g.spec.endpoint.clone(),
                g.spec.device_endpoint.clone().unwrap_or_default(),
                g.spec.capacity.to_string(),
                g.status.sessions.to_string(),
                format!("{:?}", g.status.health),
                ago(g.status.last_seen_ms),
            ]
        })
        .collect();
    table(&["NAME", "ENDPOINT", "DEVICE ENDPOINT", "CAPACITY", "SESSIONS", "HEALTH", "SEEN"], &rows);
    Ok(())
}
