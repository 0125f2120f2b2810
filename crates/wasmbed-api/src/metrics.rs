//! Prometheus metrics (`GET /metrics`, text exposition format 0.0.4).
//!
//! Fleet figures are read from the store at scrape time (devices by phase
//! and board, applications by rollout phase and step, gateways' sessions and
//! health); counters come from the gateways (heartbeats, deploys, refused
//! handshakes, protocol errors) and from this API (requests by status).
//!
//! Telemetry is exported per application and metric, over each device's
//! latest value (min, mean, max, and how many devices), never one series
//! per device: a fleet of thousands stays a handful of series.

use crate::openapi::AuthErrors;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ApiState;
use crate::auth::Viewer;
use crate::handlers::ApiResult;

/// The API's own counters.
#[derive(Debug, Default)]
pub struct Counters {
    ok: AtomicU64,
    client_errors: AtomicU64,
    server_errors: AtomicU64,
}

/// Counts every answered request by status class.
pub async fn count(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let c = &st.counters;
    let slot = match resp.status().as_u16() {
        500.. => &c.server_errors,
        400..=499 => &c.client_errors,
        _ => &c.ok,
    };
    slot.fetch_add(1, Ordering::Relaxed);
    resp
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Label values are quoted; escape what the format reserves.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A sample value as the format spells it (`+Inf`, `-Inf`, `NaN`).
fn value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        v.to_string()
    }
}

/// Fleet-level telemetry: per application and metric, never per device.
fn telemetry(out: &mut String, book: &wasmbed_model::TelemetryBook) {
    let fleet = book.fleet_latest();
    family(out, "wasmbed_app_metric", "gauge", "Each application's metric over its devices' latest values.");
    for f in &fleet {
        let (app, metric) = (label(&f.app), label(&f.metric));
        for (stat, v) in [("min", f.latest.min), ("mean", f.latest.mean), ("max", f.latest.max)] {
            let _ =
                writeln!(out, "wasmbed_app_metric{{app=\"{app}\",metric=\"{metric}\",stat=\"{stat}\"}} {}", value(v));
        }
    }
    family(out, "wasmbed_app_metric_devices", "gauge", "Devices whose latest value of the metric is held.");
    for f in &fleet {
        let _ = writeln!(
            out,
            "wasmbed_app_metric_devices{{app=\"{}\",metric=\"{}\"}} {}",
            label(&f.app),
            label(&f.metric),
            f.latest.count
        );
    }
    let c = book.counts();
    family(out, "wasmbed_telemetry_samples_total", "counter", "Telemetry samples recorded.");
    let _ = writeln!(out, "wasmbed_telemetry_samples_total {}", c.received);
    family(
        out,
        "wasmbed_telemetry_dropped_total",
        "counter",
        "Telemetry samples dropped: by devices over their apps' rate limits, by the platform over its series bound.",
    );
    let _ = writeln!(out, "wasmbed_telemetry_dropped_total{{by=\"device\"}} {}", c.dropped_by_devices);
    let _ = writeln!(out, "wasmbed_telemetry_dropped_total{{by=\"platform\"}} {}", c.dropped_over_series_limit);
    family(out, "wasmbed_telemetry_store_bytes", "gauge", "Bytes the telemetry series hold in memory.");
    let _ = writeln!(out, "wasmbed_telemetry_store_bytes {}", book.bytes());
    family(out, "wasmbed_telemetry_points", "gauge", "Full-rate points the telemetry series hold.");
    let _ = writeln!(out, "wasmbed_telemetry_points {}", book.points());
}

#[utoipa::path(get, path = "/metrics", tag = "metrics", summary = "Prometheus metrics (text)",
    description = "Role: viewer.", responses((status = 200, description = "Text exposition format"), AuthErrors))]
/// `GET /metrics`.
pub async fn serve(_: Viewer, State(st): State<ApiState>) -> ApiResult<Response> {
    let devices = st.store.list_devices().await?;
    let apps = st.store.list_applications().await?;
    let gateways = st.store.list_gateways().await?;
    let mut out = String::new();

    family(&mut out, "wasmbed_devices", "gauge", "Devices by lifecycle phase.");
    for phase in ["Provisioning", "Connecting", "Online", "Unreachable", "Failed"] {
        let n = devices.iter().filter(|d| d.status.phase.as_str() == phase).count();
        let _ = writeln!(out, "wasmbed_devices{{phase=\"{phase}\"}} {n}");
    }
    family(&mut out, "wasmbed_devices_by_board", "gauge", "Devices by board.");
    let mut boards: std::collections::BTreeMap<&str, usize> = Default::default();
    for d in &devices {
        *boards.entry(d.spec.board.as_str()).or_default() += 1;
    }
    for (b, n) in boards {
        let _ = writeln!(out, "wasmbed_devices_by_board{{board=\"{}\"}} {n}", label(b));
    }

    family(&mut out, "wasmbed_gateway_sessions", "gauge", "Sessions each gateway last reported.");
    for g in &gateways {
        let _ = writeln!(out, "wasmbed_gateway_sessions{{gateway=\"{}\"}} {}", label(&g.meta.name), g.status.sessions);
    }
    family(&mut out, "wasmbed_gateway_healthy", "gauge", "1 when the gateway reports on time.");
    for g in &gateways {
        let healthy = u8::from(g.status.health == wasmbed_model::GatewayHealth::Healthy);
        let _ = writeln!(out, "wasmbed_gateway_healthy{{gateway=\"{}\"}} {healthy}", label(&g.meta.name));
    }

    let c = (st.gateway)();
    for (name, help, v) in [
        ("wasmbed_sessions", "Device sessions held by this platform's gateways.", c.sessions as u64),
        ("wasmbed_heartbeats_total", "Heartbeats received.", c.heartbeats),
        ("wasmbed_deploys_total", "Modules sent to devices.", c.deploys),
        ("wasmbed_handshake_failures_total", "Refused TLS handshakes.", c.handshake_failures),
        ("wasmbed_protocol_errors_total", "Sessions ended by a protocol error.", c.protocol_errors),
        ("wasmbed_handshake_timeouts_total", "Refused TLS handshakes that timed out.", c.handshake_timeouts),
        (
            "wasmbed_handshakes_refused_total",
            "Connections closed at accept: no handshake slot free.",
            c.refused_handshakes,
        ),
        ("wasmbed_handshakes_evicted_total", "Stale handshakes closed to make room.", c.handshakes_evicted),
        (
            "wasmbed_sessions_refused_over_cap_total",
            "Authenticated connections over the session cap.",
            c.refused_over_cap,
        ),
        (
            "wasmbed_identities_refused_total",
            "Enrollments with a certificate that is not the device's current one.",
            c.refused_identities,
        ),
        ("wasmbed_write_timeouts_total", "Sessions closed: the device took no bytes in time.", c.write_timeouts),
        ("wasmbed_app_entries_dropped_total", "App status entries from devices not kept.", c.app_entries_dropped),
        ("wasmbed_board_links_refused_total", "Attached boards' links refused at authentication.", c.refused_boards),
    ] {
        let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
        family(&mut out, name, kind, help);
        let _ = writeln!(out, "{name} {v}");
    }

    family(&mut out, "wasmbed_rollout_step", "gauge", "Current step (0-based) of each application's rollout.");
    for a in &apps {
        if let Some(ro) = &a.status.rollout {
            let _ = writeln!(
                out,
                "wasmbed_rollout_step{{app=\"{}\",revision=\"{}\",phase=\"{}\"}} {}",
                label(&a.meta.name),
                ro.revision,
                ro.phase.as_str(),
                ro.step
            );
        }
    }
    family(&mut out, "wasmbed_rollout_steps_passed", "gauge", "Steps of the current rollouts whose gate passed.");
    let passed: usize = apps.iter().map(|a| a.status.steps.iter().filter(|s| s.completed_ms.is_some()).count()).sum();
    let _ = writeln!(out, "wasmbed_rollout_steps_passed {passed}");
    family(&mut out, "wasmbed_app_devices", "gauge", "Devices of each application by state of its current revision.");
    for a in &apps {
        let s = &a.status;
        for (state, n) in [("running", s.running), ("failed", s.failed), ("pending_offline", s.pending_offline)] {
            let _ = writeln!(out, "wasmbed_app_devices{{app=\"{}\",state=\"{state}\"}} {n}", label(&a.meta.name));
        }
    }

    family(&mut out, "wasmbed_api_requests_total", "counter", "API requests answered, by status class.");
    for (class, v) in
        [("2xx", &st.counters.ok), ("4xx", &st.counters.client_errors), ("5xx", &st.counters.server_errors)]
    {
        let _ = writeln!(out, "wasmbed_api_requests_total{{class=\"{class}\"}} {}", v.load(Ordering::Relaxed));
    }
    family(&mut out, "wasmbed_event_stream_clients", "gauge", "Clients on the live event stream.");
    let _ = writeln!(out, "wasmbed_event_stream_clients {}", st.events.clients());
    telemetry(&mut out, &st.telemetry);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
