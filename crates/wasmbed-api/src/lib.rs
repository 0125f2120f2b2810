//! Wasmbed's HTTP API. Handlers validate input, write specs to the store and
//! read statuses from it; they hold no logic the CLI would need again (the
//! rollouts themselves are the control plane's).
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
//! | POST | `/api/v1/modules?digest=` | upload a `.wasm` (body); answers its digest |
//! | GET | `/api/v1/applications` | list, with rollout status |
//! | GET, PUT, DELETE | `/api/v1/applications/{name}` | one; deploy (JSON spec naming a module digest); remove from every device |
//! | POST | `/api/v1/applications/{name}/pause`, `/resume`, `/abort` | rollout controls |
//! | POST | `/api/v1/applications/{name}/rollback` | `{"revision": N}`: back to a kept revision |
//! | GET | `/api/v1/applications/{name}/history` | kept revisions |
//! | GET | `/api/v1/gateways` | gateways with sessions and health |

mod error;
mod handlers;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
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
    use handlers::{applications as apps, devices, gateways};
    Router::new()
        .route("/api/v1/status", get(handlers::status))
        .route("/api/v1/devices", get(devices::list_devices).post(devices::create_device))
        .route("/api/v1/devices/{name}", get(devices::get_device).delete(devices::delete_device))
        .route("/api/v1/devices/{name}/bundle", get(devices::device_bundle))
        .route("/api/v1/devices/{name}/logs", get(devices::device_logs))
        .route("/api/v1/devices/{name}/console", get(devices::device_console))
        .route("/api/v1/modules", post(apps::upload_module))
        .route("/api/v1/applications", get(apps::list_applications))
        .route(
            "/api/v1/applications/{name}",
            get(apps::get_application).put(apps::deploy_application).delete(apps::delete_application),
        )
        .route("/api/v1/applications/{name}/pause", post(apps::pause))
        .route("/api/v1/applications/{name}/resume", post(apps::resume))
        .route("/api/v1/applications/{name}/abort", post(apps::abort))
        .route("/api/v1/applications/{name}/rollback", post(apps::rollback))
        .route("/api/v1/applications/{name}/history", get(apps::history))
        .route("/api/v1/gateways", get(gateways::list_gateways))
        // Room for the module plus a margin; the handler answers 413 with a
        // readable message for anything over MAX_MODULE_LEN.
        .layer(DefaultBodyLimit::max(MAX_MODULE_LEN * 2))
        .with_state(state)
}
