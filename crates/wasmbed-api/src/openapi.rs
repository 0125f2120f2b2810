//! The OpenAPI document, generated from the handlers' annotations and the
//! types they take and answer (served at `/api/v1/openapi.json`; committed
//! as `docs/openapi.json`, and a test fails when the two drift —
//! `cargo xtask openapi` rewrites it).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers::{self, applications, devices, gateways, messages, signing, telemetry, tokens};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Wasmbed API",
        description = "Deploy WebAssembly apps to microcontroller fleets: devices, applications and their rollouts, telemetry, messages to apps, gateways, tokens, the app-signing key, audit, live events. See docs/api.md.",
        license(name = "Apache-2.0")
    ),
    paths(
        handlers::status,
        handlers::boards,
        handlers::audit,
        handlers::verify_audit,
        devices::list_devices,
        devices::get_device,
        devices::create_device,
        devices::delete_device,
        devices::device_bundle,
        devices::device_logs,
        devices::device_console,
        devices::connect,
        devices::disconnect,
        devices::terminal,
        devices::list_sensors,
        devices::get_sensor,
        devices::set_sensor,
        applications::upload_module,
        applications::list_applications,
        applications::get_application,
        applications::deploy_application,
        applications::delete_application,
        applications::control,
        applications::rollback,
        applications::history,
        messages::send,
        telemetry::device_metrics,
        telemetry::device_series,
        telemetry::fleet_series,
        gateways::list_gateways,
        tokens::whoami,
        tokens::list,
        tokens::create,
        tokens::revoke,
        signing::signing_key,
        signing::rotate_key,
        signing::retire_keys,
        crate::events::events,
        crate::activity::get_activity,
        crate::metrics::serve,
    ),
    components(schemas(
        crate::events::Snapshot,
        crate::events::Heartbeat,
        crate::events::Deleted,
        crate::events::Lagged,
        // The `telemetry` event's data.
        wasmbed_model::TelemetrySample,
        // Named only as a path parameter, which utoipa does not collect.
        crate::handlers::applications::RolloutControl,
    )),
    // Every route needs a token (a role each states in its description).
    security(("bearer" = [])),
    modifiers(&BearerAuth)
)]
/// The document, assembled by utoipa from the handlers listed above.
pub struct ApiDoc;

/// The answers every authenticated route may give.
#[derive(Debug, utoipa::IntoResponses)]
pub enum AuthErrors {
    /// No valid token: none, unknown, revoked, expired, or sent in the URL of a route other than the event stream
    #[response(status = 401)]
    Unauthorized(crate::error::ErrorBody),
    /// Role too low
    #[response(status = 403)]
    Forbidden(crate::error::ErrorBody),
}

/// The answers of a route that reads or sets one sensor through its
/// emulator, beyond success and bad input.
#[derive(Debug, utoipa::IntoResponses)]
pub enum SensorErrors {
    /// No such device or sensor (the attached ones named)
    #[response(status = 404)]
    NotFound(crate::error::ErrorBody),
    /// Device not running
    #[response(status = 409)]
    NotRunning(crate::error::ErrorBody),
    /// The emulator refused or did not answer
    #[response(status = 502)]
    Emulator(crate::error::ErrorBody),
    /// No emulator runs the device here
    #[response(status = 503)]
    NoEmulator(crate::error::ErrorBody),
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("wbt_<hex>").build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// The document as pretty JSON (what `docs/openapi.json` holds).
pub fn document() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
