//! Request handlers.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmbed_model::{Application, ApplicationSpec, Device, DeviceSpec, Labels, Limits, LogLine, Meta, validate_name};

use crate::{ApiError, ApiState, MAX_MODULE_LEN};

type ApiResult<T> = Result<T, ApiError>;

/// Platform summary.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// Crate version.
    pub version: String,
    /// Gateway port devices dial.
    pub gateway_port: u16,
    /// Sessions held now.
    pub sessions: usize,
    /// Gateway counters.
    pub gateway: crate::GatewayCounters,
    /// Devices by phase.
    pub devices: BTreeMap<String, usize>,
    /// Devices that are the host simulator.
    pub simulated_devices: usize,
    /// Applications.
    pub applications: usize,
}

pub async fn status(State(st): State<ApiState>) -> ApiResult<Json<Status>> {
    let devices = st.store.list_devices().await?;
    let mut by_phase = BTreeMap::new();
    for d in &devices {
        *by_phase.entry(d.status.phase.as_str().to_string()).or_insert(0) += 1;
    }
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").into(),
        gateway_port: st.gateway_port,
        sessions: (st.gateway)().sessions,
        gateway: (st.gateway)(),
        devices: by_phase,
        simulated_devices: devices.iter().filter(|d| d.spec.board == wasmbed_model::SIM_BOARD).count(),
        applications: st.store.list_applications().await?.len(),
    }))
}

pub async fn list_devices(State(st): State<ApiState>) -> ApiResult<Json<Vec<Device>>> {
    Ok(Json(st.store.list_devices().await?))
}

pub async fn get_device(State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Device>> {
    st.store.get_device(&name).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("device {name:?} not found")))
}

/// Body of `POST /api/v1/devices`.
#[derive(Debug, Serialize, Deserialize)]
pub struct NewDevice {
    /// Device name.
    pub name: String,
    /// Board (`sim` by default).
    #[serde(default = "sim")]
    pub board: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
}

fn sim() -> String {
    wasmbed_model::SIM_BOARD.into()
}

fn json_error(e: JsonRejection) -> ApiError {
    // serde's message names the field and the position.
    ApiError::bad_request(format!("invalid JSON body: {}", e.body_text()))
}

pub async fn create_device(
    State(st): State<ApiState>,
    body: Result<Json<NewDevice>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<Device>)> {
    let Json(req) = body.map_err(json_error)?;
    validate_name(&req.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Some(board) = wasmbed_model::board(&req.board) else {
        let known: Vec<_> = wasmbed_model::BOARDS.iter().map(|b| b.name).collect();
        return Err(ApiError::bad_request(format!(
            "spec.board: unknown board {:?}; known: {}",
            req.board,
            known.join(", ")
        )));
    };
    if let Some(why) = board.unsupported {
        return Err(ApiError::unprocessable(format!("spec.board: {why}")));
    }
    let spec = DeviceSpec { board: req.board, labels: req.labels };
    spec.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let device =
        Device { meta: Meta { name: req.name.clone(), ..Default::default() }, spec, status: Default::default() };
    let created = st.store.create_device(device).await?;
    // Issue the identity now, so a factory (or the simulator) can fetch it.
    if let Err(e) = st.pki.device_identity(&req.name, (st.now)()) {
        tracing::error!(device = %req.name, "cannot issue identity: {e}");
        let _ = st.store.delete_device(&req.name).await;
        return Err(ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "cannot issue identity".into() });
    }
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn delete_device(State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    st.store.delete_device(&name).await?;
    if let Err(e) = st.pki.forget_device(&name) {
        tracing::warn!(device = %name, "cannot delete identity files: {e}");
    }
    st.logs.forget(&name);
    Ok(StatusCode::NO_CONTENT)
}

pub async fn device_bundle(State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<impl IntoResponse> {
    let device =
        st.store.get_device(&name).await?.ok_or_else(|| ApiError::not_found(format!("device {name:?} not found")))?;
    let host = wasmbed_model::board(&device.spec.board).map_or("127.0.0.1", |b| b.gateway_host);
    let gateway = format!("{host}:{}", st.gateway_port);
    let bundle = st.pki.bundle(&name, &device.spec.board, &gateway, (st.random)(), (st.now)()).map_err(|e| {
        tracing::error!(device = %name, "cannot build bundle: {e}");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "cannot build identity bundle".into() }
    })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bundle.to_bytes()))
}

/// Query of the logs route.
#[derive(Debug, Deserialize)]
pub struct Tail {
    /// Lines to return (default 100, at most 1000).
    pub tail: Option<usize>,
}

pub async fn device_logs(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<Tail>,
) -> ApiResult<Json<Vec<LogLine>>> {
    if st.store.get_device(&name).await?.is_none() {
        return Err(ApiError::not_found(format!("device {name:?} not found")));
    }
    Ok(Json(st.logs.tail(&name, q.tail.unwrap_or(100).min(1000))))
}

#[derive(Debug, Deserialize)]
pub struct ConsoleQuery {
    offset: Option<u64>,
}

/// A chunk of a device's console log.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsoleChunk {
    /// Offset to ask for next.
    pub next: u64,
    /// The text (invalid UTF-8 replaced).
    pub text: String,
}

/// Most console bytes returned per request.
const CONSOLE_CHUNK: u64 = 64 * 1024;

pub async fn device_console(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<ConsoleQuery>,
) -> ApiResult<Json<ConsoleChunk>> {
    let Some(device) = st.store.get_device(&name).await? else {
        return Err(ApiError::not_found(format!("device {name:?} not found")));
    };
    let no_console = || {
        ApiError::not_found(format!(
            "device {name:?} (board {}) has no console here: only QEMU devices run by this platform have one",
            device.spec.board
        ))
    };
    // `name` was found in the store, so it is a valid device id (no path separators).
    let path = st.consoles.as_ref().ok_or_else(no_console)?.join(&name).join("console.log");
    let offset = q.offset.unwrap_or(0);
    let chunk = tokio::task::spawn_blocking(move || read_from(&path, offset)).await.map_err(ApiError::internal)?;
    chunk.ok_or_else(no_console).map(Json)
}

/// Reads up to [`CONSOLE_CHUNK`] bytes from `offset`; a file shorter than
/// `offset` was rotated, so reading starts again at 0.
fn read_from(path: &std::path::Path, offset: u64) -> Option<ConsoleChunk> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    let start = if offset > len { 0 } else { offset };
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    f.take(CONSOLE_CHUNK).read_to_end(&mut buf).ok()?;
    Some(ConsoleChunk { next: start + buf.len() as u64, text: String::from_utf8_lossy(&buf).into_owned() })
}

pub async fn list_applications(State(st): State<ApiState>) -> ApiResult<Json<Vec<Application>>> {
    let devices = st.store.list_devices().await?;
    let mut apps = st.store.list_applications().await?;
    for a in &mut apps {
        a.status = wasmbed_control::application_status(a, &devices);
    }
    Ok(Json(apps))
}

pub async fn get_application(State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Application>> {
    let mut app = st
        .store
        .get_application(&name)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("application {name:?} not found")))?;
    app.status = wasmbed_control::application_status(&app, &st.store.list_devices().await?);
    Ok(Json(app))
}

/// Query of `PUT /api/v1/applications/{name}`.
#[derive(Debug, Deserialize)]
pub struct Deploy {
    /// Version label.
    pub version: String,
    /// Label selector (empty: every device).
    #[serde(default)]
    pub selector: String,
    /// Hex SHA-256 the client computed; checked against the body.
    pub digest: Option<String>,
    /// Fuel per call.
    pub fuel_per_call: Option<u64>,
    /// Memory ceiling in pages.
    pub max_memory_pages: Option<u32>,
    /// Tick interval.
    pub tick_ms: Option<u32>,
}

pub async fn deploy_application(
    State(st): State<ApiState>,
    Path(name): Path<String>,
    query: Result<Query<Deploy>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Application>)> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
    validate_name(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if body.len() > MAX_MODULE_LEN {
        return Err(ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("module of {} bytes exceeds the limit of {MAX_MODULE_LEN}", body.len()),
        });
    }
    let digest = hex::encode(Sha256::digest(&body));
    if let Some(claimed) = &q.digest
        && !claimed.eq_ignore_ascii_case(&digest)
    {
        return Err(ApiError::unprocessable(format!(
            "digest: the module's SHA-256 is {digest}, not {claimed} (corrupted upload?)"
        )));
    }
    wasmbed_agent::validate_module(&body).map_err(ApiError::unprocessable)?;
    let defaults = Limits::default();
    let spec = ApplicationSpec {
        version: q.version,
        digest: digest.clone(),
        size: body.len() as u32,
        selector: q.selector,
        limits: Limits {
            fuel_per_call: q.fuel_per_call.unwrap_or(defaults.fuel_per_call),
            max_memory_pages: q.max_memory_pages.unwrap_or(defaults.max_memory_pages),
            tick_ms: q.tick_ms.unwrap_or(defaults.tick_ms),
        },
    };
    spec.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The module first: a spec must never name bytes the store lacks.
    st.store.put_module(&digest, &body).await?;
    let existing = st.store.get_application(&name).await?;
    let (meta, code) = match existing {
        Some(a) => (a.meta, StatusCode::OK),
        None => (Meta { name: name.clone(), ..Default::default() }, StatusCode::CREATED),
    };
    let app = Application { meta, spec, status: Default::default() };
    let saved = st.store.put_application(&app).await?;
    tracing::info!(app = %name, version = %saved.spec.version, %digest, "application deployed");
    Ok((code, Json(saved)))
}

pub async fn delete_application(State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    st.store.delete_application(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
