//! `wasmbed gateway list`.

use anyhow::Result;
use wasmbed_model::Gateway;

use crate::api::Api;
use crate::output::{ago, json_or_table};

/// Lists gateways with their sessions, health and the edge applications
/// they run (`name@revision state`).
pub async fn list(api: &Api, json: bool) -> Result<()> {
    let gateways: Vec<Gateway> = api.get("gateways").await?;
    json_or_table(
        &gateways,
        json,
        &["NAME", "ENDPOINT", "DEVICE ENDPOINT", "CAPACITY", "SESSIONS", "HEALTH", "SEEN", "EDGE APPS"],
        |g| {
            vec![
                g.meta.name.clone(),
                g.spec.endpoint.clone(),
                g.spec.device_endpoint.clone().unwrap_or_default(),
                g.spec.capacity.to_string(),
                g.status.sessions.to_string(),
                format!("{:?}", g.status.health),
                ago(g.status.last_seen_ms),
                g.status
                    .edge
                    .iter()
                    .map(|o| format!("{}@{} {:?}", o.name, o.revision.unwrap_or(0), o.state))
                    .collect::<Vec<_>>()
                    .join(", "),
            ]
        },
    )
}
