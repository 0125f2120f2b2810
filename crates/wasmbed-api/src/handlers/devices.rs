//! Devices: create (issuing the identity), list, delete, bundle (re-issuing
//! it), logs, console, connect/disconnect, terminal, sensors.

#[allow(unused_imports)] // named by the OpenAPI attributes
use crate::error::ErrorBody;
use crate::openapi::{AuthErrors, SensorErrors};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use wasmbed_control::provisioning::Provisioner;
use wasmbed_model::clock::to_unix_ms;
use wasmbed_model::{
    AttachedPeripheral, Attempt, Device, DeviceIdentity, DeviceSpec, Labels, LogLine, Meta, SensorError, SensorReading,
    StoreError, record_identity, retry_on_conflict, validate_name,
};
use wasmbed_protocol::CommandOutcome;

use super::{ApiResult, json_error};
use crate::audit::{AuditNote, Noted, Outcome};
use crate::auth::{Operator, Viewer};
use crate::{ApiError, ApiState};

#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", summary = "List devices",
    description = "Role: viewer.",
    responses((status = 200, description = "Devices", body = Vec<wasmbed_model::Device>), AuthErrors))]
pub async fn list_devices(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<Vec<Device>>> {
    Ok(Json(st.store.list_devices().await?))
}

#[utoipa::path(get, path = "/api/v1/devices/{name}", tag = "devices", params(("name" = String, Path)),
    summary = "One device", description = "Role: viewer.",
    responses((status = 200, description = "The device", body = wasmbed_model::Device),
        (status = 404, description = "No such device", body = ErrorBody), AuthErrors))]
pub async fn get_device(_: Viewer, State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Device>> {
    st.store.get_device(&name).await?.map(Json).ok_or_else(|| ApiError::not_found(format!("device {name:?} not found")))
}

/// Body of `POST /api/v1/devices`.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewDevice {
    /// Device name.
    pub name: String,
    /// Board (`sim` by default).
    #[serde(default = "sim")]
    pub board: String,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
    /// Sensors wired to the board (e.g. a `tmp105` at `i2c:0:0x48`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peripherals: Vec<AttachedPeripheral>,
}

fn sim() -> String {
    wasmbed_model::SIM_BOARD.into()
}

#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = NewDevice,
    summary = "Create a device and issue its identity", description = "Role: operator.",
    responses((status = 201, description = "Created", body = wasmbed_model::Device),
        (status = 400, description = "Bad field (named)", body = ErrorBody),
        (status = 409, description = "Exists", body = ErrorBody),
        (status = 422, description = "Board cannot host a runtime", body = ErrorBody), AuthErrors))]
pub async fn create_device(
    _: Operator,
    State(st): State<ApiState>,
    body: Result<Json<NewDevice>, JsonRejection>,
) -> ApiResult<Noted<(StatusCode, Json<Device>)>> {
    let Json(req) = body.map_err(json_error)?;
    validate_name(&req.name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Some(board) = wasmbed_model::board(&req.board) else {
        let known: Vec<_> = wasmbed_model::boards().map(|b| b.name).collect();
        return Err(ApiError::bad_request(format!(
            "spec.board: unknown board {:?}; known: {}",
            req.board,
            known.join(", ")
        )));
    };
    if let Some(why) = board.unsupported {
        return Err(ApiError::unprocessable(format!("spec.board: {why}")));
    }
    if board.attached().is_some() && req.name.len() > wasmbed_model::MAX_ATTACHED_NAME_LEN {
        return Err(ApiError::bad_request(format!(
            "name: at most {} characters for a device of board {} (the id in its provisioning record)",
            wasmbed_model::MAX_ATTACHED_NAME_LEN,
            board.name
        )));
    }
    let spec = DeviceSpec { board: req.board, labels: req.labels, peripherals: req.peripherals, ..Default::default() };
    spec.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Assigned at once, so its first bundle already names its gateway (the
    // gateway reconciler keeps the assignment right afterwards).
    let mut device = Device { meta: Meta::named(&req.name), spec, status: Default::default() };
    provisioner(&st, true).await?.assign(&mut device);
    // Refused before issuing: a new key must not replace the stored one of
    // the device that has the name.
    if st.store.get_device(&req.name).await?.is_some() {
        return Err(StoreError::AlreadyExists { kind: "device", name: req.name }.into());
    }
    // A new key (a re-created device's old bundle is refused), recorded in
    // the same write that creates the device: it never exists without one.
    // An attached board's key is its link key, which its gateway checks.
    let identity = match board.attached() {
        Some(_) => issue_link_key(&st, &req.name)?.0,
        None => issue(&st, &req.name)?.0,
    };
    device.spec.identity = Some(identity);
    let created = st.store.create_device(device).await?;
    let note = AuditNote { target: Some(created.meta.name.clone()), ..AuditNote::default() }
        .fact("board", &created.spec.board);
    Ok(Noted((StatusCode::CREATED, Json(created)), note))
}

#[utoipa::path(delete, path = "/api/v1/devices/{name}", tag = "devices", params(("name" = String, Path)),
    summary = "Delete a device and its identity", description = "Role: operator.",
    responses((status = 204, description = "Deleted"),
        (status = 404, description = "No such device", body = ErrorBody), AuthErrors))]
pub async fn delete_device(_: Operator, State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<StatusCode> {
    st.store.delete_device(&name).await?;
    if let Err(e) = st.pki.forget_device(&name) {
        tracing::warn!(device = %name, "cannot delete identity files: {e}");
    }
    st.logs.forget(&name);
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/devices/{name}/bundle", tag = "devices", params(("name" = String, Path)),
    summary = "Re-issue the device's identity and return its bundle (binary, holds the private key)",
    description = "Role: operator. Every call issues a new key and certificate and records it on the device: \
        the previous identity is revoked (its live session ends, its bundle is refused from then on). \
        For a device of an attached board (stm32vldiscovery) it is the board's provisioning record: a new link key, \
        the previous one refused by its gateway from then on.",
    responses((status = 200, description = "Bundle bytes"),
        (status = 404, description = "No such device", body = ErrorBody),
        (status = 409, description = "Re-issued again meanwhile; ask again", body = ErrorBody), AuthErrors))]
pub async fn device_bundle(
    _: Operator,
    State(st): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let device =
        st.store.get_device(&name).await?.ok_or_else(|| ApiError::not_found(format!("device {name:?} not found")))?;
    if wasmbed_model::board(&device.spec.board).is_some_and(|b| b.attached().is_some()) {
        return provisioning_record(&st, &name).await;
    }
    let endpoints = provisioner(&st, false).await?.endpoints(&device);
    let (identity, cert) = issue(&st, &name)?;
    record_identity(st.store.as_ref(), &name, identity).await?;
    let bundle = st.pki.bundle(&name, &device.spec.board, &endpoints, (st.random)(), (st.now)()).map_err(|e| {
        tracing::error!(device = %name, "cannot build bundle: {e}");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "cannot build identity bundle".into() }
    })?;
    if bundle.cert_der.as_slice() != cert.as_slice() {
        // Another call re-issued in between: this bundle would be refused.
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: format!("the identity of {name:?} was re-issued again meanwhile; ask again"),
        });
    }
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bundle.to_bytes()))
}

/// The bundle route for an attached board: a new link key, recorded, in
/// the provisioning record the board's flash is programmed with.
async fn provisioning_record(
    st: &ApiState,
    name: &str,
) -> ApiResult<([(header::HeaderName, &'static str); 1], Vec<u8>)> {
    let (identity, key) = issue_link_key(st, name)?;
    record_identity(st.store.as_ref(), name, identity).await?;
    let record = st.pki.provisioning(name, &key).map_err(|e| {
        tracing::error!(device = %name, "cannot build provisioning record: {e}");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "cannot build provisioning record".into() }
    })?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], record.encode().to_vec()))
}

/// Issues a new link key for the attached board `name` (stored, for the
/// gateway and the QEMU manager) and returns its record and the key.
fn issue_link_key(st: &ApiState, name: &str) -> ApiResult<(DeviceIdentity, wasmbed_pki::LinkKey)> {
    let key = st.pki.reissue_link_key(name).map_err(|e| {
        tracing::error!(device = %name, "cannot issue link key: {e}");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "cannot issue link key".into() }
    })?;
    Ok((key.record((st.now)()), key))
}

/// Issues a new identity for `name` (stored, for the bundle route and the
/// QEMU manager) and returns its record and certificate.
fn issue(st: &ApiState, name: &str) -> ApiResult<(DeviceIdentity, Vec<u8>)> {
    let now = (st.now)();
    let issued = st.pki.reissue_device(name, now).and_then(|id| Ok((id.record(now)?, id.cert_der)));
    issued.map_err(|e| {
        tracing::error!(device = %name, "cannot issue identity: {e}");
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: "cannot issue identity".into() }
    })
}

/// The fleet's gateways as the store has them now; with `assigning`, the
/// devices too (their load decides where a new one goes; a bundle does not
/// need them, so its route does not read the whole fleet).
async fn provisioner(st: &ApiState, assigning: bool) -> ApiResult<Provisioner> {
    let gateways = st.store.list_gateways().await?;
    let devices = if assigning { st.store.list_devices().await? } else { Vec::new() };
    Ok(Provisioner::new(gateways, &devices, to_unix_ms((st.now)()), st.gateway_port))
}

/// Query of the logs route.
#[derive(Debug, Deserialize)]
pub struct Tail {
    /// Lines to return (default 100, at most 1000).
    pub tail: Option<usize>,
}

#[utoipa::path(get, path = "/api/v1/devices/{name}/logs", tag = "devices", params(("name" = String, Path),
        ("tail" = Option<usize>, Query)), summary = "Recent app log lines", description = "Role: viewer.",
    responses((status = 200, description = "Lines", body = Vec<wasmbed_model::LogLine>), AuthErrors))]
pub async fn device_logs(
    _: Viewer,
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
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsoleChunk {
    /// Offset to ask for next.
    pub next: u64,
    /// The text (invalid UTF-8 replaced).
    pub text: String,
}

/// Most console bytes returned per request.
const CONSOLE_CHUNK: u64 = 64 * 1024;

#[utoipa::path(get, path = "/api/v1/devices/{name}/console", tag = "devices", params(("name" = String, Path),
        ("offset" = Option<u64>, Query)), summary = "Serial console from a byte offset",
    description = "Role: viewer.", responses((status = 200, description = "A chunk", body = ConsoleChunk),
        (status = 404, description = "No console", body = ErrorBody), AuthErrors))]
pub async fn device_console(
    _: Viewer,
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

async fn set_disconnected(st: &ApiState, name: &str, disconnected: bool) -> ApiResult<Device> {
    retry_on_conflict(|| async {
        let Some(mut d) = st.store.get_device(name).await? else {
            return Err(Attempt::Failed(ApiError::not_found(format!("device {name:?} not found"))));
        };
        if !wasmbed_model::board(&d.spec.board).is_some_and(|b| b.emulated) {
            return Err(Attempt::Failed(ApiError {
                status: StatusCode::CONFLICT,
                message: format!(
                    "{name} is a {} device: only QEMU devices run by this platform can be connected or disconnected",
                    d.spec.board
                ),
            }));
        }
        if d.spec.disconnected == disconnected {
            return Ok(d);
        }
        d.spec.disconnected = disconnected;
        Ok(st.store.update_device_spec(&d).await?)
    })
    .await
}

#[utoipa::path(post, path = "/api/v1/devices/{name}/connect", tag = "devices", params(("name" = String, Path)),
    summary = "Start a disconnected QEMU device", description = "Role: operator.",
    responses((status = 200, description = "The device", body = wasmbed_model::Device),
        (status = 409, description = "Not a QEMU device", body = ErrorBody), AuthErrors))]
pub async fn connect(_: Operator, State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Device>> {
    set_disconnected(&st, &name, false).await.map(Json)
}

#[utoipa::path(post, path = "/api/v1/devices/{name}/disconnect", tag = "devices", params(("name" = String, Path)),
    summary = "Stop a QEMU device's process", description = "Role: operator.",
    responses((status = 200, description = "The device", body = wasmbed_model::Device),
        (status = 409, description = "Not a QEMU device", body = ErrorBody), AuthErrors))]
pub async fn disconnect(_: Operator, State(st): State<ApiState>, Path(name): Path<String>) -> ApiResult<Json<Device>> {
    set_disconnected(&st, &name, true).await.map(Json)
}

/// Body of `POST /api/v1/devices/{name}/terminal`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TerminalRequest {
    /// A command line: `status`, `apps`, `mem`, `uptime`, `restart-app NAME`, `reboot`.
    pub command: String,
}

/// A terminal answer.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TerminalAnswer {
    /// How the command went.
    pub outcome: CommandOutcome,
    /// What the device (or the platform, for a refusal) said.
    pub output: String,
    /// Who refused, for a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_by: Option<Refuser>,
}

/// Who refused a terminal command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Refuser {
    /// The API: not on the allow-list, nothing was sent.
    Platform,
    /// The device itself.
    Device,
}

/// Why a terminal command could not be run (the device did not answer).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminalError {
    /// No gateway holds a session with the device.
    NotConnected,
    /// The device did not answer in time, or its session ended meanwhile.
    NoAnswer(String),
    /// Too many commands in flight for the device.
    Busy,
}

/// Longest command line accepted.
const MAX_COMMAND_LINE: usize = 256;

#[utoipa::path(post, path = "/api/v1/devices/{name}/terminal", tag = "devices", params(("name" = String, Path)),
    request_body = TerminalRequest, summary = "Run an allowed command on the device",
    description = "Role: operator.",
    responses((status = 200, description = "The answer (ok, refused, failed)", body = TerminalAnswer),
        (status = 409, description = "Not connected", body = ErrorBody),
        (status = 504, description = "No answer", body = ErrorBody), AuthErrors))]
pub async fn terminal(
    _: Operator,
    State(st): State<ApiState>,
    Path(name): Path<String>,
    body: Result<Json<TerminalRequest>, JsonRejection>,
) -> ApiResult<axum::response::Response> {
    let Json(req) = body.map_err(json_error)?;
    let note = |outcome: CommandOutcome| AuditNote {
        outcome: Some(match outcome {
            CommandOutcome::Ok => Outcome::Ok,
            CommandOutcome::Refused => Outcome::Refused,
            CommandOutcome::Failed => Outcome::Failed,
        }),
        detail: Some(req.command.clone()),
        ..AuditNote::default()
    };
    if st.store.get_device(&name).await?.is_none() {
        return Err(ApiError::not_found(format!("device {name:?} not found")));
    }
    if req.command.len() > MAX_COMMAND_LINE {
        return Err(ApiError::bad_request(format!("command: longer than {MAX_COMMAND_LINE} bytes")));
    }
    let mut words = req.command.split_whitespace();
    let Some(cmd) = words.next() else { return Err(ApiError::bad_request("command: empty")) };
    let args: Vec<String> = words.map(String::from).collect();
    // The device enforces the same list; checking here first gives the
    // operator the reason without a round trip.
    if let Err(why) = wasmbed_agent::TerminalCommand::parse(cmd, &args) {
        let answer = TerminalAnswer {
            outcome: CommandOutcome::Refused,
            output: why.to_string(),
            refused_by: Some(Refuser::Platform),
        };
        let mut resp = Json(answer).into_response();
        resp.extensions_mut().insert(note(CommandOutcome::Refused));
        return Ok(resp);
    }
    let Some(term) = &st.terminal else {
        return Err(ApiError::unprocessable("this platform holds no device sessions"));
    };
    match term.run(&name, cmd, &args).await {
        Ok(mut answer) => {
            if answer.outcome == CommandOutcome::Refused {
                answer.refused_by = Some(Refuser::Device);
            }
            let outcome = answer.outcome;
            let mut resp = Json(answer).into_response();
            resp.extensions_mut().insert(note(outcome));
            Ok(resp)
        }
        Err(e) => {
            let (status, message) = match e {
                TerminalError::NotConnected => (StatusCode::CONFLICT, format!("{name} is not connected")),
                TerminalError::NoAnswer(why) => (StatusCode::GATEWAY_TIMEOUT, format!("{name} did not answer: {why}")),
                TerminalError::Busy => {
                    (StatusCode::TOO_MANY_REQUESTS, format!("{name} has too many commands in flight"))
                }
            };
            let mut resp = ApiError { status, message }.into_response();
            resp.extensions_mut().insert(note(CommandOutcome::Failed));
            Ok(resp)
        }
    }
}

/// The answer for a sensor that could not be set or read.
fn sensor_error(e: SensorError) -> ApiError {
    let status = match &e {
        SensorError::NoSuchDevice { .. } | SensorError::NoSuchSensor { .. } => StatusCode::NOT_FOUND,
        SensorError::OutOfRange { .. } => StatusCode::BAD_REQUEST,
        SensorError::NotRunning { .. } => StatusCode::CONFLICT,
        SensorError::NoEmulator { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_GATEWAY,
    };
    ApiError { status, message: e.to_string() }
}

/// The device, or 404.
async fn sensor_device(st: &ApiState, name: &str) -> ApiResult<Device> {
    st.store.get_device(name).await?.ok_or_else(|| sensor_error(SensorError::NoSuchDevice { device: name.into() }))
}

/// What `sensor` of `d` reads now; without an emulator, why not.
async fn read_sensor(st: &ApiState, d: &Device, sensor: &str) -> Result<f64, SensorError> {
    match &st.sensors {
        Some(s) => s.get(&d.meta.name, sensor).await,
        None => Err(SensorError::NoEmulator { device: d.meta.name.clone(), board: d.spec.board.clone() }),
    }
}

#[utoipa::path(get, path = "/api/v1/devices/{name}/sensors", tag = "devices", params(("name" = String, Path)),
    summary = "The device's sensors and what they measure now",
    description = "Role: viewer. A sensor that cannot be read now (device not running, no emulator) has no `value` and says why in `error`.",
    responses((status = 200, description = "Sensors, as the spec declares them", body = Vec<wasmbed_model::SensorReading>),
        (status = 404, description = "No such device", body = ErrorBody), AuthErrors))]
pub async fn list_sensors(
    _: Viewer,
    State(st): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<SensorReading>>> {
    let d = sensor_device(&st, &name).await?;
    let mut out = Vec::with_capacity(d.spec.peripherals.len());
    for p in &d.spec.peripherals {
        out.push(SensorReading::new(p, read_sensor(&st, &d, &p.name).await));
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/api/v1/devices/{name}/sensors/{sensor}", tag = "devices",
    params(("name" = String, Path), ("sensor" = String, Path)), summary = "What one sensor measures now",
    description = "Role: viewer.",
    responses((status = 200, description = "The sensor and its value", body = wasmbed_model::SensorReading),
        SensorErrors, AuthErrors))]
pub async fn get_sensor(
    _: Viewer,
    State(st): State<ApiState>,
    Path((name, sensor)): Path<(String, String)>,
) -> ApiResult<Json<SensorReading>> {
    let d = sensor_device(&st, &name).await?;
    let p = SensorError::find(&d, &sensor).map_err(sensor_error)?;
    let value = read_sensor(&st, &d, &sensor).await.map_err(sensor_error)?;
    Ok(Json(SensorReading::new(p, Ok(value))))
}

/// Body of `PUT /api/v1/devices/{name}/sensors/{sensor}`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorValue {
    /// What the sensor should measure, in its kind's unit (tmp105: °C,
    /// -55 to 125).
    pub value: f64,
}

#[utoipa::path(put, path = "/api/v1/devices/{name}/sensors/{sensor}", tag = "devices",
    params(("name" = String, Path), ("sensor" = String, Path)), request_body = SensorValue,
    summary = "Set what a sensor of a running emulated device measures",
    description = "Role: operator. Answers the value as the emulator now reports it (QEMU's TMP105 keeps 1/256 °C).",
    responses((status = 200, description = "The sensor and its new value", body = wasmbed_model::SensorReading),
        (status = 400, description = "Malformed body, or a value outside the sensor's range", body = ErrorBody),
        SensorErrors, AuthErrors))]
pub async fn set_sensor(
    _: Operator,
    State(st): State<ApiState>,
    Path((name, sensor)): Path<(String, String)>,
    body: Result<Json<SensorValue>, JsonRejection>,
) -> ApiResult<axum::response::Response> {
    let Json(req) = body.map_err(json_error)?;
    let note = AuditNote { detail: Some(format!("{sensor} = {}", req.value)), ..AuditNote::default() };
    let result = async {
        let d = sensor_device(&st, &name).await?;
        let p = SensorError::find(&d, &sensor).map_err(sensor_error)?;
        let value = SensorError::in_range(p, req.value).map_err(sensor_error)?;
        let Some(sensors) = &st.sensors else {
            return Err(sensor_error(SensorError::NoEmulator { device: name.clone(), board: d.spec.board.clone() }));
        };
        let now = sensors.set(&name, &sensor, value).await.map_err(sensor_error)?;
        Ok(SensorReading::new(p, Ok(now)))
    }
    .await;
    let mut resp = match result {
        Ok(reading) => Json(reading).into_response(),
        Err(e) => e.into_response(),
    };
    resp.extensions_mut().insert(note);
    Ok(resp)
}
