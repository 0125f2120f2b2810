//! Telemetry: what a device's apps publish (its metrics, one metric over a
//! time range) and one application's metric across its devices.
//!
//! Reads only the platform's telemetry book (bounded, in memory; see
//! `wasmbed_model::telemetry` for what it keeps). Times are Unix ms; a
//! range defaults to the last hour. Parameters arrive as text so that a
//! bad one is named in the answer.

#[allow(unused_imports)] // named by the OpenAPI attributes
use crate::error::ErrorBody;
use crate::openapi::AuthErrors;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use wasmbed_model::telemetry::{Aggregate, MetricSummary, SeriesRange};
use wasmbed_protocol::valid_metric_name;

use super::ApiResult;
use crate::auth::Viewer;
use crate::{ApiError, ApiState};

/// Range when a query gives neither end: the last hour.
pub const DEFAULT_WINDOW_MS: u64 = 60 * 60 * 1000;
/// Shortest fleet step.
pub const MIN_STEP_MS: u64 = 1000;
/// Buckets a default fleet step aims at, at most.
pub const DEFAULT_BUCKETS: u64 = 300;
/// Buckets an explicit fleet step may make, at most.
pub const MAX_BUCKETS: u64 = 10_000;

/// Query of `GET /devices/{name}/telemetry/{metric}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Query of `GET /applications/{name}/telemetry/{metric}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetQuery {
    from: Option<String>,
    to: Option<String>,
    step: Option<String>,
}

/// One application's metric over its devices, step by step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FleetSeries {
    /// Width of each bucket (the `step` asked for, or the default chosen).
    pub step_ms: u64,
    /// Devices whose latest value of the metric is held now.
    pub devices: u64,
    /// Min, mean, max and count of every point in each step that has any,
    /// oldest first; `tMs` is the step's start.
    pub buckets: Vec<Aggregate>,
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(q)| q).map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))
}

/// A query parameter in Unix ms (or a duration in ms), named when it is not one.
fn millis(name: &str, raw: Option<&str>) -> ApiResult<Option<u64>> {
    raw.map(|v| {
        v.trim()
            .parse::<u64>()
            .map_err(|_| ApiError::bad_request(format!("{name}: {v:?} is not a whole number of milliseconds")))
    })
    .transpose()
}

/// `from..=to`, defaulting to the hour before `to` (default: now).
fn window(from: Option<&str>, to: Option<&str>, now_ms: u64) -> ApiResult<(u64, u64)> {
    let to = millis("to", to)?.unwrap_or(now_ms);
    let from = millis("from", from)?.unwrap_or_else(|| to.saturating_sub(DEFAULT_WINDOW_MS));
    if from > to {
        return Err(ApiError::bad_request(format!("from: {from} is after to ({to})")));
    }
    Ok((from, to))
}

/// The step asked for, or one making at most [`DEFAULT_BUCKETS`] (whole
/// seconds, at least [`MIN_STEP_MS`]).
fn step(raw: Option<&str>, from: u64, to: u64) -> ApiResult<u64> {
    let span = (to - from).max(1);
    let Some(step) = millis("step", raw)? else {
        return Ok(span.div_ceil(DEFAULT_BUCKETS).div_ceil(MIN_STEP_MS).max(1) * MIN_STEP_MS);
    };
    if step < MIN_STEP_MS {
        return Err(ApiError::bad_request(format!("step: {step} ms is below the minimum of {MIN_STEP_MS} ms")));
    }
    let buckets = span.div_ceil(step);
    if buckets > MAX_BUCKETS {
        return Err(ApiError::bad_request(format!(
            "step: {step} ms over {span} ms makes {buckets} buckets; at most {MAX_BUCKETS} (omit step for a default)"
        )));
    }
    Ok(step)
}

fn check_metric_name(metric: &str) -> ApiResult<()> {
    if valid_metric_name(metric) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "metric: {metric:?} is not a metric name (1 to 32 of a-z, 0-9, '_' and '.', starting with a letter)"
    )))
}

fn known(names: impl IntoIterator<Item = String>) -> String {
    let names: Vec<String> = names.into_iter().collect();
    if names.is_empty() { "none yet".into() } else { names.join(", ") }
}

async fn device_exists(st: &ApiState, name: &str) -> ApiResult<()> {
    match st.store.get_device(name).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("device {name:?} not found"))),
    }
}

fn now_ms(st: &ApiState) -> u64 {
    wasmbed_model::clock::to_unix_ms((st.now)())
}

#[utoipa::path(get, path = "/api/v1/devices/{name}/telemetry", tag = "telemetry", params(("name" = String, Path)),
    summary = "The metrics a device's apps publish, with their latest points", description = "Role: viewer.",
    responses((status = 200, description = "Metrics by name", body = Vec<MetricSummary>),
        (status = 404, description = "No such device", body = ErrorBody), AuthErrors))]
pub async fn device_metrics(
    _: Viewer,
    State(st): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<MetricSummary>>> {
    device_exists(&st, &name).await?;
    Ok(Json(st.telemetry.metrics(&name)))
}

#[utoipa::path(get, path = "/api/v1/devices/{name}/telemetry/{metric}", tag = "telemetry",
    params(("name" = String, Path), ("metric" = String, Path),
        ("from" = Option<u64>, Query, description = "Unix ms (default: an hour before `to`)"),
        ("to" = Option<u64>, Query, description = "Unix ms, inclusive (default: now)")),
    summary = "One metric of a device over a time range", description = "Role: viewer. Full-rate points where \
        they are still held, one-minute buckets (min, mean, max, count) before them.",
    responses((status = 200, description = "The range", body = SeriesRange),
        (status = 400, description = "Bad parameter (named)", body = ErrorBody),
        (status = 404, description = "No such device, or it publishes no such metric", body = ErrorBody),
        AuthErrors))]
pub async fn device_series(
    _: Viewer,
    State(st): State<ApiState>,
    Path((name, metric)): Path<(String, String)>,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> ApiResult<Json<SeriesRange>> {
    let q = query(q)?;
    check_metric_name(&metric)?;
    let (from, to) = window(q.from.as_deref(), q.to.as_deref(), now_ms(&st))?;
    device_exists(&st, &name).await?;
    let metrics = st.telemetry.metrics(&name);
    if !metrics.iter().any(|m| m.metric == metric) {
        return Err(ApiError::not_found(format!(
            "metric: device {name:?} publishes no metric {metric:?}; it publishes: {}",
            known(metrics.into_iter().map(|m| m.metric))
        )));
    }
    Ok(Json(st.telemetry.range(&name, &metric, from, to)))
}

#[utoipa::path(get, path = "/api/v1/applications/{name}/telemetry/{metric}", tag = "telemetry",
    params(("name" = String, Path), ("metric" = String, Path),
        ("from" = Option<u64>, Query, description = "Unix ms (default: an hour before `to`)"),
        ("to" = Option<u64>, Query, description = "Unix ms, inclusive (default: now)"),
        ("step" = Option<u64>, Query, description = "bucket width in ms, at least 1000 (default: at most 300 buckets)")),
    summary = "One application's metric across its devices over time (min, mean, max per step)",
    description = "Role: viewer. Over the full-rate points held (blue-green slots count as their application).",
    responses((status = 200, description = "Buckets", body = FleetSeries),
        (status = 400, description = "Bad parameter (named)", body = ErrorBody),
        (status = 404, description = "No such application, or none of its devices publishes the metric",
            body = ErrorBody), AuthErrors))]
pub async fn fleet_series(
    _: Viewer,
    State(st): State<ApiState>,
    Path((name, metric)): Path<(String, String)>,
    q: Result<Query<FleetQuery>, QueryRejection>,
) -> ApiResult<Json<FleetSeries>> {
    let q = query(q)?;
    check_metric_name(&metric)?;
    let (from, to) = window(q.from.as_deref(), q.to.as_deref(), now_ms(&st))?;
    let step_ms = step(q.step.as_deref(), from, to)?;
    if st.store.get_application(&name).await?.is_none() {
        return Err(ApiError::not_found(format!("application {name:?} not found")));
    }
    let fleet: Vec<_> = st.telemetry.fleet_latest().into_iter().filter(|f| f.app == name).collect();
    let Some(latest) = fleet.iter().find(|f| f.metric == metric) else {
        return Err(ApiError::not_found(format!(
            "metric: no device of application {name:?} publishes {metric:?}; they publish: {}",
            known(fleet.into_iter().map(|f| f.metric))
        )));
    };
    Ok(Json(FleetSeries {
        step_ms,
        devices: latest.latest.count,
        buckets: st.telemetry.fleet_range(&name, &metric, from, to, step_ms),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_steps_make_at_most_300_whole_second_buckets() {
        let hour = DEFAULT_WINDOW_MS;
        assert_eq!(step(None, 0, hour).ok(), Some(12_000));
        assert_eq!(step(None, 0, 60_000).ok(), Some(1000), "never below a second");
        assert_eq!(step(None, 5, 5).ok(), Some(1000));
        for span in [1u64, 999, 1000, 299_999, 300_001, 86_400_000, 7 * 86_400_000 + 13] {
            let s = step(None, 0, span).ok().unwrap_or_default();
            assert!(s.is_multiple_of(1000) && span.div_ceil(s) <= DEFAULT_BUCKETS, "{span}: {s}");
        }
        assert_eq!(step(None, 0, u64::MAX).ok().map(|s| s % 1000), Some(0), "no overflow");
    }

    #[test]
    fn bad_parameters_are_named() {
        let msg = |r: ApiResult<(u64, u64)>| r.err().map(|e| e.message).unwrap_or_default();
        assert!(msg(window(Some("abc"), None, 0)).starts_with("from:"));
        assert!(msg(window(None, Some("-1"), 0)).starts_with("to:"));
        assert!(msg(window(Some("10"), Some("5"), 0)).starts_with("from: 10 is after to (5)"));
        assert_eq!(window(None, None, 1000).ok(), Some((0, 1000)), "the hour before now, clamped at 0");
        let step_msg = |raw| step(Some(raw), 0, DEFAULT_WINDOW_MS).err().map(|e| e.message).unwrap_or_default();
        assert!(step_msg("999").starts_with("step: 999 ms is below"));
        assert!(step_msg("x").starts_with("step:"));
        assert!(step(Some("1000"), 0, 86_400_000).is_err(), "86,400 buckets");
    }
}
