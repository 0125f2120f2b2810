//! Wasmbed's HTTP API, the one the CLI and the dashboard both use. Handlers
//! validate input, write specs to the store and read statuses from it; they
//! hold no logic the CLI would need again (the rollouts themselves are the
//! control plane's).
//!
//! The routes, roles and formats are in `docs/api.md`; the OpenAPI document
//! is generated from this crate ([`openapi`]) and served at
//! `/api/v1/openapi.json`.
//!
//! - **Auth**: bearer tokens with roles ([`auth`]); a handler states the
//!   role it needs in its signature ([`auth::Operator`], ...).
//! - **Audit**: every mutating request, with its outcome and key facts,
//!   in a hash-chained log ([`audit`]).
//! - **Events**: a server-sent event stream of every change and every
//!   telemetry sample ([`events`]).
//! - **Metrics**: Prometheus text at `/metrics` ([`metrics`]), with
//!   fleet-level telemetry aggregates (never one series per device).
//! - The built dashboard is served from [`ApiState::dashboard`] for every
//!   other path (single-page app: unknown paths get its `index.html`).

pub mod activity;
pub mod audit;
pub mod auth;
pub mod edge_audit;
mod error;
pub mod events;
mod handlers;
pub mod metrics;
mod module_check;
pub mod openapi;
pub mod refusals;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use wasmbed_model::{LogBook, Store, TelemetryBook};
use wasmbed_pki::Pki;

pub use audit::AuditLog;
pub use auth::{Role, Tokens};
pub use error::ApiError;
pub use events::EventHub;
pub use handlers::applications::HistoryEntry;
pub use handlers::devices::{Refuser, TerminalAnswer, TerminalError};
pub use handlers::messages::{MessageRequest, MessageResult};
pub use handlers::signing::{Retired, Rotated, SigningError, SigningKeyInfo, SigningKeys};
pub use handlers::{AuditCheck, Status};
pub use module_check::StoredModuleCheck;
pub use wasmbed_protocol::{Delivery, MAX_MESSAGE_LEN};

pub use wasmbed_model::defaults::MAX_MODULE_LEN;

/// Gateway counters shown by the status route.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayCounters {
    /// Enrolled sessions now.
    pub sessions: usize,
    /// Heartbeats received since start.
    pub heartbeats: u64,
    /// Refused TLS handshakes since start.
    pub handshake_failures: u64,
    /// Sessions ended by protocol errors since start.
    pub protocol_errors: u64,
    /// Modules sent to devices since start.
    #[serde(default)]
    pub deploys: u64,
    /// Of the refused handshakes, those that timed out.
    #[serde(default)]
    pub handshake_timeouts: u64,
    /// Connections closed at accept: no handshake slot was free.
    #[serde(default)]
    pub refused_handshakes: u64,
    /// Stale handshakes closed to make room for newer connections.
    #[serde(default)]
    pub handshakes_evicted: u64,
    /// Authenticated connections refused because the session cap was reached.
    #[serde(default)]
    pub refused_over_cap: u64,
    /// Enrollments refused because the certificate was not the device's
    /// current one (revoked by a re-issue or a re-creation).
    #[serde(default)]
    pub refused_identities: u64,
    /// Sessions closed because their device took no bytes for the write timeout.
    #[serde(default)]
    pub write_timeouts: u64,
    /// App status entries from devices not kept (invalid, or past the cap).
    #[serde(default)]
    pub app_entries_dropped: u64,
    /// Attached boards' links refused (a wrong or re-issued link key, a
    /// name no attached board's device has).
    #[serde(default)]
    pub refused_boards: u64,
}

/// Runs terminal commands on devices and delivers messages to their apps
/// (the platform routes both to the gateway holding the device's session).
#[async_trait::async_trait]
pub trait Terminal: Send + Sync {
    /// Sends `name args...` to `device` and waits for its answer.
    async fn run(&self, device: &str, name: &str, args: &[String]) -> Result<TerminalAnswer, TerminalError>;

    /// Delivers `payload` (at most [`MAX_MESSAGE_LEN`] bytes) to the app
    /// in slot `app` on `device` and waits for what became of it.
    async fn send_message(&self, device: &str, app: &str, payload: &[u8]) -> Result<Delivery, TerminalError>;

    /// Delivers `payload` to the edge application in `slot` on `gateway`
    /// and waits for what became of it. Platforms that cannot reach their
    /// gateways' edge applications answer why not.
    async fn send_edge_message(&self, gateway: &str, slot: &str, payload: &[u8]) -> Result<Delivery, TerminalError> {
        let _ = (slot, payload);
        Err(TerminalError::NoAnswer(format!("edge applications on {gateway} cannot be reached from this API yet")))
    }
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
    /// What the devices' apps published.
    pub telemetry: Arc<TelemetryBook>,
    /// API tokens.
    pub tokens: Arc<Tokens>,
    /// The audit log.
    pub audit: Arc<AuditLog>,
    /// The live event fan-out.
    pub events: Arc<EventHub>,
    /// Device terminals, when this platform holds device sessions.
    pub terminal: Option<Arc<dyn Terminal>>,
    /// Sets what devices' sensors measure, when this platform runs
    /// emulated devices.
    pub sensors: Option<Arc<dyn wasmbed_model::Sensors>>,
    /// The app-signing keys, when this platform rotates them through the
    /// API (not in Kubernetes yet).
    pub signing: Option<Arc<dyn SigningKeys>>,
    /// Gateway port devices connect to.
    pub gateway_port: u16,
    /// The gateway's live counters.
    pub gateway: Arc<dyn Fn() -> GatewayCounters + Send + Sync>,
    /// Source of 32 random bytes (device seeds, token secrets).
    pub random: Arc<dyn Fn() -> [u8; 32] + Send + Sync>,
    /// Wall clock.
    pub now: Arc<dyn Fn() -> SystemTime + Send + Sync>,
    /// Where QEMU devices' folders are (`<dir>/<device>/console.log`);
    /// `None` when this platform runs no QEMU devices.
    pub consoles: Option<PathBuf>,
    /// The built dashboard (`dashboard/dist`), served at `/`.
    pub dashboard: Option<PathBuf>,
    /// Request counters for `/metrics`.
    pub counters: Arc<metrics::Counters>,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("gateway_port", &self.gateway_port).finish_non_exhaustive()
    }
}

/// Serves the API on `listener` until `stop` changes. Event streams are
/// closed first, so the graceful shutdown does not wait on them.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: ApiState,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let hub = state.events.clone();
    tokio::spawn(refusals::follow(state.store.clone(), state.audit.clone(), stop.clone()));
    tokio::spawn(edge_audit::follow(state.store.clone(), state.audit.clone(), stop.clone()));
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = stop.changed().await;
            hub.close();
        })
        .await
}

/// The API router.
pub fn router(state: ApiState) -> Router {
    use handlers::{applications as apps, devices, gateways, messages, signing, telemetry, tokens};
    let mut r = Router::new()
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/api/v1/status", get(handlers::status))
        .route("/api/v1/boards", get(handlers::boards))
        .route("/api/v1/auth/whoami", get(tokens::whoami))
        .route("/api/v1/tokens", get(tokens::list).post(tokens::create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(tokens::revoke))
        .route("/api/v1/audit", get(handlers::audit))
        .route("/api/v1/audit/verify", get(handlers::verify_audit))
        .route("/api/v1/signing", get(signing::signing_key))
        .route("/api/v1/signing/rotate", post(signing::rotate_key))
        .route("/api/v1/signing/retire", post(signing::retire_keys))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/activity", get(activity::get_activity))
        .route("/api/v1/devices", get(devices::list_devices).post(devices::create_device))
        .route("/api/v1/devices/{name}", get(devices::get_device).delete(devices::delete_device))
        .route("/api/v1/devices/{name}/bundle", get(devices::device_bundle))
        .route("/api/v1/devices/{name}/logs", get(devices::device_logs))
        .route("/api/v1/devices/{name}/console", get(devices::device_console))
        .route("/api/v1/devices/{name}/connect", post(devices::connect))
        .route("/api/v1/devices/{name}/disconnect", post(devices::disconnect))
        .route("/api/v1/devices/{name}/terminal", post(devices::terminal))
        .route("/api/v1/devices/{name}/sensors", get(devices::list_sensors))
        .route("/api/v1/devices/{name}/sensors/{sensor}", get(devices::get_sensor).put(devices::set_sensor))
        .route("/api/v1/devices/{name}/telemetry", get(telemetry::device_metrics))
        .route("/api/v1/devices/{name}/telemetry/{metric}", get(telemetry::device_series))
        .route("/api/v1/modules", post(apps::upload_module))
        .route("/api/v1/applications", get(apps::list_applications))
        .route(
            "/api/v1/applications/{name}",
            get(apps::get_application).put(apps::deploy_application).delete(apps::delete_application),
        )
        .route("/api/v1/applications/{name}/{control}", post(apps::control))
        .route("/api/v1/applications/{name}/rollback", post(apps::rollback))
        .route("/api/v1/applications/{name}/history", get(apps::history))
        .route("/api/v1/applications/{name}/messages", post(messages::send))
        .route("/api/v1/applications/{name}/telemetry/{metric}", get(telemetry::fleet_series))
        .route("/api/v1/gateways", get(gateways::list_gateways))
        .route("/metrics", get(metrics::serve))
        .route("/api/{*rest}", axum::routing::any(handlers::no_route));
    if let Some(dir) = &state.dashboard {
        // A single-page app: paths it routes itself get its index.html.
        let spa = tower_http::services::ServeDir::new(dir)
            .fallback(tower_http::services::ServeFile::new(dir.join("index.html")));
        r = r.fallback_service(spa);
    }
    r.route_layer(axum::middleware::from_fn_with_state(state.clone(), audit::record))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
        // Outside every route and the dashboard's pages: a token in a URL is
        // refused before anything reads it.
        .layer(axum::middleware::from_fn(auth::refuse_query_token))
        // Room for the module plus a margin; the handler answers 413 with a
        // readable message for anything over MAX_MODULE_LEN.
        .layer(DefaultBodyLimit::max(MAX_MODULE_LEN * 2))
        .with_state(state)
}
