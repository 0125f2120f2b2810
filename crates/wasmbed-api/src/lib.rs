//! Wasmbed's HTTP API. Handlers validate input, write specs to the store and
//! read statuses from it; they hold no logic the CLI would need again.
//!
//! This version binds to loopback only and has no authentication yet
//! (tokens with roles come with the dashboard); `wasmbed up` refuses to
//! listen elsewhere.
//!
//! Routes (all JSON unless noted):
//!
//! | method | path | |
//! |---|---|---|
//! | GET | `/api/v1/status` | platform summary |
//! | GET, POST | `/api/v1/devices` | list; create (issues the identity) |
//! | GET, DELETE | `/api/v1/devices/{name}` | one device |
//! | GET | `/api/v1/devices/{name}/bundle` | identity bundle (binary) |
//! | GET | `/api/v1/devices/{name}/logs?tail=N` | recent app log lines |
//! | GET | `/api/v1/devices/{name}/console?offset=N` | a QEMU device's serial console from byte N: `{next, text}` |
//! | GET | `/api/v1/applications` | list with fleet status |
//! | PUT | `/api/v1/applications/{name}?version=&selector=&digest=` | deploy: body is the `.wasm` |
//! | DELETE | `/api/v1/applications/{name}` | remove from every device |

mod error;
mod handlers;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use wasmbed_model::{LogBook, Store};
use wasmbed_pki::Pki;

pub use error::ApiError;

/// Largest module accepted, bytes (the agent's default slot limit).
pub const MAX_MODULE_LEN: usize = 128 * 1024;

/// Gateway counters shown by the status route.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct GatewayCounters {
    /// Enrolled sessions now.
    pub sessions: usize,
    /// Heartbeats received since start.
    pub heartbeats: u64,
    /// Refused TLS handshakes since start.
    pub handshake_failures: u64,
    /// Sessions ended by protocol errors since start.
    pub protocol_errors: u64,
}

/// Everything the handlers need, passed in by whoever wires the platform.
#[derive(Clone)]
pub struct ApiState {
    /// Resources.
    pub store: Arc<dyn Store>,
    /// Issues device identities.
    pub pki: Arc<Pki>,
    /// Recent app logs.
    pub logs: Arc<LogBook>,
    /// Gateway port devices connect to.
    pub gateway_port: u16,
    /// The gateway's live counters.
    pub gateway: Arc<dyn Fn() -> GatewayCounters + Send + Sync>,
    /// Source of 32 random bytes (device seeds).
    pub random: Arc<dyn Fn() -> [u8; 32] + Send + Sync>,
    /// Wall clock.
    pub now: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    /// Where QEMU devices' folders are (`<dir>/<device>/console.log`);
    /// `None` when this platform runs no QEMU devices.
    pub consoles: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("gateway_port", &self.gateway_port).finish_non_exhaustive()
    }
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    use handlers::*;
    Router::new()
        .route("/api/v1/status", get(status))
        .route("/api/v1/devices", get(list_devices).post(create_device))
        .route("/api/v1/devices/{name}", get(get_device).delete(delete_device))
        .route("/api/v1/devices/{name}/bundle", get(device_bundle))
        .route("/api/v1/devices/{name}/logs", get(device_logs))
        .route("/api/v1/devices/{name}/console", get(device_console))
        .route("/api/v1/applications", get(list_applications))
        .route("/api/v1/applications/{name}", get(get_application).put(deploy_application).delete(delete_application))
        // Room for the module plus a margin; the handler answers 413 with a
        // readable message for anything over MAX_MODULE_LEN.
        .layer(DefaultBodyLimit::max(MAX_MODULE_LEN * 2))
        .with_state(state)
}
