//! Modules and applications: upload, deploy, rollout controls, history.
//!
//! A deploy is two steps: the module's bytes are uploaded once
//! (`POST /modules`, content-addressed by SHA-256, validated by the agent's
//! own validator), then an application's spec names it by digest
//! (`PUT /applications/{name}`). The spec is checked field by field, and
//! the module against the capabilities the spec grants and against the
//! resource budget of every targeted device's board (the agent's own
//! estimate, [`wasmbed_agent::check`]), before anything is written. The
//! rollout itself is the control plane's: these handlers write
//! specs and read statuses.

#[allow(unused_imports)] // named by the OpenAPI attributes
use std::collections::BTreeMap;

use crate::error::ErrorBody;
use crate::openapi::AuthErrors;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmbed_model::{
    Application, ApplicationSpec, Attempt, Capability, Limits, Revision, RolloutPhase, Strategy, default_capabilities,
    retry_on_conflict, validate_name,
};

use super::{ApiResult, json_error};
use crate::audit::{AuditNote, Noted};
use crate::auth::{Operator, Viewer};
use crate::{ApiError, ApiState, MAX_MODULE_LEN};

/// Query of `POST /api/v1/modules`.
#[derive(Debug, Deserialize)]
pub struct Upload {
    /// Hex SHA-256 the client computed; checked against the body.
    pub digest: Option<String>,
}

/// A stored module.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModuleInfo {
    /// Hex SHA-256 of the bytes: the name to deploy it by.
    pub digest: String,
    /// Size in bytes.
    pub size: u32,
    /// Import names, as `module.name` (what capabilities it needs).
    pub imports: Vec<String>,
}

#[utoipa::path(post, path = "/api/v1/modules", tag = "modules",
    params(("digest" = Option<String>, Query, description = "hex SHA-256 to check the body against")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    summary = "Upload a .wasm module (at most 128 KiB)",
    description = "Role: operator. A module that no application and no kept revision uses is deleted after an hour.",
    responses((status = 201, description = "Stored", body = ModuleInfo),
        (status = 200, description = "Stored already", body = ModuleInfo),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 422, description = "Invalid WebAssembly (the validator's message)", body = ErrorBody),
        AuthErrors))]
pub async fn upload_module(
    _: Operator,
    State(st): State<ApiState>,
    query: Result<Query<Upload>, QueryRejection>,
    body: Bytes,
) -> ApiResult<Noted<(StatusCode, Json<ModuleInfo>)>> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(format!("invalid query: {}", e.body_text())))?;
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
    let imports = if wasmbed_edge::is_component(&body) {
        // An edge component: compiled as a gateway will, its imports kept
        // to check against the grants at deploy.
        wasmbed_edge::inspect(&body).map_err(|e| ApiError::unprocessable(e.to_string()))?
    } else {
        // Every group of the ABI: an import no capability provides is
        // refused now; whether the app is granted what it imports is
        // checked at deploy.
        let imports = wasmbed_agent::validate_module(&body, Capability::ALL).map_err(ApiError::unprocessable)?;
        refuse_unfit_for_every_board(&body)?;
        imports
    };
    let existed = st.store.get_module(&digest).await?.is_some();
    st.store.put_module(&digest, &body).await?;
    let code = if existed { StatusCode::OK } else { StatusCode::CREATED };
    let note = AuditNote { target: Some(digest.clone()), ..AuditNote::default() }.fact("size", body.len());
    Ok(Noted((code, Json(ModuleInfo { digest, size: body.len() as u32, imports })), note))
}

/// Limits as a deploy may give them: any field left out takes its default.
#[derive(Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsInput {
    /// Fuel per `init`/`tick` call.
    pub fuel_per_call: Option<u64>,
    /// Linear memory ceiling, 64 KiB pages.
    pub max_memory_pages: Option<u32>,
    /// Tick interval.
    pub tick_ms: Option<u32>,
}

/// Body of `PUT /api/v1/applications/{name}`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployRequest {
    /// Version label.
    pub version: String,
    /// Digest of an uploaded module.
    pub digest: String,
    /// Capabilities granted (default `log`, `time`): groups (`log`,
    /// `time`, `device`, `telemetry`, `config`, `messages`) and hardware
    /// (`gpio:led0`, `i2c:0:0x48`, `spi:0`, `adc:0`, `uart:1`).
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Configuration delivered with the module; a change is a new revision.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Limits on each device.
    #[serde(default)]
    pub limits: LimitsInput,
    /// Label selector (empty: every device).
    #[serde(default)]
    pub selector: String,
    /// Rollout strategy (default all-at-once).
    #[serde(default)]
    pub strategy: Strategy,
    /// `device` (default: a core module on devices) or `edge` (a component
    /// on gateways; the selector matches `gateway=<name>`).
    #[serde(default)]
    pub runtime: wasmbed_model::Runtime,
    /// `interpreted` (default), `native` or `auto`: native code compiled
    /// per board ahead of time, the interpreter where a board has none
    /// (the application's status says why). Device apps only.
    #[serde(default)]
    pub execution: wasmbed_model::Execution,
}

#[utoipa::path(get, path = "/api/v1/applications", tag = "applications", summary = "List applications",
    description = "Role: viewer.",
    responses((status = 200, description = "Applications", body = Vec<wasmbed_model::Application>), AuthErrors))]
pub async fn list_applications(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<Vec<Application>>> {
    Ok(Json(st.store.list_applications().await?))
}

#[utoipa::path(get, path = "/api/v1/applications/{name}", tag = "applications", params(("name" = String, Path)),
    summary = "One application", description = "Role: viewer.",
    responses((status = 200, description = "The application", body = wasmbed_model::Application),
        (status = 404, description = "No such application", body = ErrorBody), AuthErrors))]
pub async fn get_application(
    _: Viewer,
    State(st): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Application>> {
    Ok(Json(find(&st, &name).await?))
}

/// Refuses a deploy that grants hardware some targeted device's board
/// lacks, naming the devices and what they lack (a device that joins later
/// without it reports the app Rejected instead).
async fn refuse_missing_hardware(
    st: &ApiState,
    spec: &ApplicationSpec,
    hardware: &[wasmbed_protocol::Resource],
) -> ApiResult<()> {
    if hardware.is_empty() {
        return Ok(());
    }
    let selector: wasmbed_model::Selector =
        spec.selector.parse().map_err(|e: wasmbed_model::SelectorError| ApiError::bad_request(e.to_string()))?;
    let mut lacking = Vec::new();
    for d in st.store.list_devices().await?.iter().filter(|d| selector.matches(&d.spec.labels)) {
        let Some(board) = wasmbed_model::board(&d.spec.board) else { continue };
        let missing: Vec<String> = hardware.iter().filter(|r| !board.has(r)).map(|r| r.to_string()).collect();
        if !missing.is_empty() {
            lacking.push(format!(
                "{} ({} has {}) lacks {}",
                d.meta.name,
                board.name,
                board.describe_peripherals(),
                missing.join(", ")
            ));
        }
    }
    if lacking.is_empty() {
        return Ok(());
    }
    let shown = lacking.len().min(5);
    let more = if lacking.len() > shown { format!("; and {} more", lacking.len() - shown) } else { String::new() };
    Err(ApiError::unprocessable(format!(
        "spec.capabilities: {} targeted device(s) lack granted hardware: {}{more}",
        lacking.len(),
        lacking[..shown].join("; ")
    )))
}

/// What a module needs outside its linear memory, as a device sizes it.
fn module_needs(module: &[u8]) -> ApiResult<wasmbed_agent::ModuleNeeds> {
    wasmbed_agent::measure(module).map_err(|e| ApiError::unprocessable(format!("invalid WebAssembly: {e}")))
}

/// Refuses a module that no board could run whatever its limits: it is
/// sized against the most generous board's budget, with as much linear
/// memory as a spec may grant.
fn refuse_unfit_for_every_board(module: &[u8]) -> ApiResult<()> {
    let needs = module_needs(module)?;
    let limits =
        wasmbed_protocol::AppLimits { max_memory_pages: wasmbed_model::MAX_MEMORY_PAGES, ..Default::default() };
    let largest = wasmbed_model::boards()
        .filter_map(|b| b.module_budget().map(|budget| (b.name, budget)))
        .max_by_key(|(_, budget)| budget.heap);
    let Some((name, budget)) = largest else { return Ok(()) };
    wasmbed_agent::check(&needs, &limits, &budget).map(|_| ()).map_err(|e| {
        ApiError::unprocessable(format!("no board has the resources for this module: {e} (on {name}, the largest)"))
    })
}

/// Refuses a deploy whose module exceeds the budget of a targeted
/// device's board, naming the devices, their boards and the limit (a device
/// that joins later refuses it with `no-resources` instead).
async fn refuse_over_budget(
    st: &ApiState,
    spec: &ApplicationSpec,
    module: &[u8],
    limits: &wasmbed_protocol::AppLimits,
) -> ApiResult<()> {
    let needs = module_needs(module)?;
    let selector: wasmbed_model::Selector =
        spec.selector.parse().map_err(|e: wasmbed_model::SelectorError| ApiError::bad_request(e.to_string()))?;
    let mut over = Vec::new();
    for d in st.store.list_devices().await?.iter().filter(|d| selector.matches(&d.spec.labels)) {
        let Some(budget) = wasmbed_model::board(&d.spec.board).and_then(|b| b.module_budget()) else { continue };
        if let Err(e) = wasmbed_agent::check(&needs, limits, &budget) {
            over.push(format!("{} ({}): {e}", d.meta.name, d.spec.board));
        }
    }
    if over.is_empty() {
        return Ok(());
    }
    let shown = over.len().min(5);
    let more = if over.len() > shown { format!("; and {} more", over.len() - shown) } else { String::new() };
    Err(ApiError::unprocessable(format!(
        "spec.digest: the module exceeds the resources of {} targeted device(s): {}{more}",
        over.len(),
        over[..shown].join("; ")
    )))
}

async fn find(st: &ApiState, name: &str) -> ApiResult<Application> {
    st.store.get_application(name).await?.ok_or_else(|| ApiError::not_found(format!("application {name:?} not found")))
}

#[utoipa::path(put, path = "/api/v1/applications/{name}", tag = "applications", params(("name" = String, Path)),
    request_body = DeployRequest, summary = "Deploy (create or update) an application",
    description = "Role: operator.",
    responses((status = 201, description = "Created", body = wasmbed_model::Application),
        (status = 200, description = "Updated", body = wasmbed_model::Application),
        (status = 400, description = "Bad field (named)", body = ErrorBody),
        (status = 422, description = "Module missing or needs ungranted capabilities", body = ErrorBody),
        AuthErrors))]
pub async fn deploy_application(
    _: Operator,
    State(st): State<ApiState>,
    Path(name): Path<String>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> ApiResult<Noted<(StatusCode, Json<Application>)>> {
    validate_name(&name).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Json(req) = body.map_err(json_error)?;
    let d = Limits::default();
    let spec = ApplicationSpec {
        version: req.version,
        digest: req.digest.to_ascii_lowercase(),
        size: 0,
        runtime: req.runtime,
        execution: req.execution,
        // An edge component logs unless told otherwise; a device app gets
        // the ABI's default groups.
        capabilities: req.capabilities.unwrap_or_else(|| match req.runtime {
            wasmbed_model::Runtime::Edge => vec!["log".into()],
            wasmbed_model::Runtime::Device => default_capabilities(),
        }),
        limits: Limits {
            fuel_per_call: req.limits.fuel_per_call.unwrap_or(d.fuel_per_call),
            max_memory_pages: req.limits.max_memory_pages.unwrap_or(d.max_memory_pages),
            tick_ms: req.limits.tick_ms.unwrap_or(d.tick_ms),
        },
        config: req.config,
        selector: req.selector,
        strategy: req.strategy,
        paused: false,
        abort_revision: None,
    };
    spec.validate().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let Some(module) = st.store.get_module(&spec.digest).await? else {
        return Err(ApiError::unprocessable(format!(
            "spec.digest: no module {} is stored; upload it first (POST /api/v1/modules; modules no application uses are deleted after an hour)",
            spec.digest
        )));
    };
    if spec.runtime == wasmbed_model::Runtime::Edge {
        refuse_unfit_component(&spec, &module)?;
    } else {
        refuse_unfit_module(&st, &spec, &module).await?;
    }
    let spec = ApplicationSpec { size: module.len() as u32, ..spec };
    // Written by the change (which may run more than once), read after.
    let created = std::sync::atomic::AtomicBool::new(false);
    let saved = update(&st, &name, true, |app| {
        created.store(app.meta.resource_version == 0, std::sync::atomic::Ordering::Relaxed);
        if app.meta.resource_version != 0 && app.spec.runtime != spec.runtime {
            return Err(ApiError::bad_request(format!(
                "spec.runtime: {name} runs on {:?}; an application's runtime cannot change (delete it and deploy anew)",
                app.spec.runtime
            )));
        }
        // An operator's pause holds across deploys; an abort was for the
        // revision it named.
        let paused = app.spec.paused;
        app.spec = ApplicationSpec { paused, ..spec.clone() };
        Ok(())
    })
    .await?;
    tracing::info!(app = %name, version = %saved.spec.version, digest = %saved.spec.digest, "application deployed");
    let note = AuditNote::with_fact("version", &saved.spec.version)
        .fact("digest", &saved.spec.digest)
        .fact("generation", saved.meta.generation);
    Ok(Noted((if created.into_inner() { StatusCode::CREATED } else { StatusCode::OK }, Json(saved)), note))
}

/// Refuses a device deploy whose module imports what it was not granted,
/// grants hardware a targeted device lacks, or exceeds a targeted
/// device's budget.
async fn refuse_unfit_module(st: &ApiState, spec: &ApplicationSpec, module: &[u8]) -> ApiResult<()> {
    let grants = spec.grants().map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (groups, hardware) = wasmbed_protocol::split_grants(&grants);
    wasmbed_agent::validate_module(module, &groups)
        .map_err(|e| ApiError::unprocessable(format!("spec.capabilities: {e}")))?;
    refuse_missing_hardware(st, spec, &hardware).await?;
    let limits = wasmbed_protocol::AppLimits {
        fuel_per_call: spec.limits.fuel_per_call,
        max_memory_pages: spec.limits.max_memory_pages,
        tick_ms: spec.limits.tick_ms,
    };
    refuse_over_budget(st, spec, module, &limits).await
}

/// Refuses an edge deploy whose module is no component or imports an
/// interface it was not granted (the gateway would refuse it the same way).
fn refuse_unfit_component(spec: &ApplicationSpec, module: &[u8]) -> ApiResult<()> {
    let imports = wasmbed_edge::inspect(module).map_err(|e| ApiError::unprocessable(format!("spec.digest: {e}")))?;
    let grants = wasmbed_edge::Grants::parse(&spec.capabilities).map_err(|e| ApiError::bad_request(e.to_string()))?;
    wasmbed_edge::check_imports(imports.iter().map(String::as_str), grants)
        .map_err(|e| ApiError::unprocessable(format!("spec.capabilities: {e}")))
}

/// Reads, changes and writes an application's spec, retrying on a
/// concurrent write. `create` allows a missing one (starting empty).
async fn update(
    st: &ApiState,
    name: &str,
    create: bool,
    change: impl Fn(&mut Application) -> ApiResult<()>,
) -> ApiResult<Application> {
    let change = &change;
    retry_on_conflict(|| async move {
        let mut app = match st.store.get_application(name).await? {
            Some(a) => a,
            None if create => Application {
                meta: wasmbed_model::Meta::named(name),
                spec: ApplicationSpec::new("-", "", 0),
                status: Default::default(),
            },
            None => return Err(Attempt::Failed(ApiError::not_found(format!("application {name:?} not found")))),
        };
        change(&mut app).map_err(Attempt::Failed)?;
        Ok(st.store.put_application(&app).await?)
    })
    .await
}

#[utoipa::path(delete, path = "/api/v1/applications/{name}", tag = "applications", params(("name" = String, Path)),
    summary = "Remove an application from every device", description = "Role: operator.",
    responses((status = 204, description = "Removed"),
        (status = 404, description = "No such application", body = ErrorBody), AuthErrors))]
pub async fn delete_application(
    _: Operator,
    State(st): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    st.store.delete_application(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn in_progress(app: &Application) -> Option<u64> {
    let ro = app.status.rollout.as_ref()?;
    (!ro.phase.is_final()).then_some(ro.revision)
}

/// What an operator can do to a rollout: the last segment of
/// `POST /api/v1/applications/{name}/{control}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RolloutControl {
    /// Hold the rollout where it is.
    Pause,
    /// Continue a paused rollout.
    Resume,
    /// Stop it: every touched device goes back to the previous revision.
    Abort,
}

impl RolloutControl {
    const ALL: [Self; 3] = [Self::Pause, Self::Resume, Self::Abort];

    fn name(self) -> &'static str {
        match self {
            Self::Pause => "pause",
            Self::Resume => "resume",
            Self::Abort => "abort",
        }
    }

    /// Applies the control to `a`'s spec, or says why it does not apply.
    fn apply(self, a: &mut Application) -> Result<(), String> {
        let name = &a.meta.name;
        match self {
            Self::Pause if in_progress(a).is_none() && a.status.observed_generation == a.meta.generation => {
                return Err(format!("{name}: no rollout in progress to pause"));
            }
            Self::Pause => a.spec.paused = true,
            Self::Resume if !a.spec.paused => return Err(format!("{name}: not paused")),
            Self::Resume => a.spec.paused = false,
            Self::Abort => {
                let Some(rev) = in_progress(a) else {
                    let ro = a.status.rollout.as_ref();
                    let last = ro.map(|r| format!(" (revision {} is {})", r.revision, r.phase.as_str()));
                    return Err(format!("{name}: no rollout in progress to abort{}", last.unwrap_or_default()));
                };
                a.spec.abort_revision = Some(rev);
                a.spec.paused = false;
            }
        }
        Ok(())
    }
}

#[utoipa::path(post, path = "/api/v1/applications/{name}/{control}", tag = "applications",
    params(("name" = String, Path), ("control" = RolloutControl, Path)),
    summary = "Pause, resume or abort the rollout (an abort sends touched devices back)",
    description = "Role: operator.",
    responses((status = 200, description = "The application", body = wasmbed_model::Application),
        (status = 404, description = "No such application or control", body = ErrorBody),
        (status = 409, description = "Nothing to pause, resume or abort", body = ErrorBody), AuthErrors))]
pub async fn control(
    _: Operator,
    State(st): State<ApiState>,
    Path((name, control)): Path<(String, String)>,
) -> ApiResult<Json<Application>> {
    let Some(control) = RolloutControl::ALL.into_iter().find(|c| c.name() == control) else {
        let known: Vec<&str> = RolloutControl::ALL.iter().map(|c| c.name()).collect();
        return Err(ApiError::not_found(format!("no rollout control {control:?}; known: {}", known.join(", "))));
    };
    update(&st, &name, false, |a| control.apply(a).map_err(conflict)).await.map(Json)
}

/// Body of `POST /api/v1/applications/{name}/rollback`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// A kept revision (see the history); default: the last one that completed.
    pub revision: Option<u64>,
}

#[utoipa::path(post, path = "/api/v1/applications/{name}/rollback", tag = "applications",
    params(("name" = String, Path)), request_body = RollbackRequest, summary = "Go back to a kept revision",
    description = "Role: operator.",
    responses((status = 200, description = "The application", body = wasmbed_model::Application),
        (status = 404, description = "No such revision", body = ErrorBody), AuthErrors))]
pub async fn rollback(
    _: Operator,
    State(st): State<ApiState>,
    Path(name): Path<String>,
    body: Result<Json<RollbackRequest>, JsonRejection>,
) -> ApiResult<Json<Application>> {
    let Json(req) = body.map_err(json_error)?;
    update(&st, &name, false, |a| {
        let target = req
            .revision
            .or(a.status.stable_revision)
            .ok_or_else(|| conflict(format!("{name}: no revision has completed yet; name one with \"revision\"")))?;
        let Some(rev) = a.status.revision(target) else {
            let kept: Vec<String> = a.status.history.iter().map(|r| r.revision.to_string()).collect();
            return Err(ApiError::not_found(format!(
                "revision: {name} keeps no revision {target}; kept: {}",
                if kept.is_empty() { "none".into() } else { kept.join(", ") }
            )));
        };
        a.spec.set_template(&rev.template.clone());
        a.spec.abort_revision = None;
        a.spec.paused = false;
        Ok(())
    })
    .await
    .map(Json)
}

/// One entry of an application's history, as shown to people.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    /// The revision.
    #[serde(flatten)]
    pub revision: Revision,
    /// It is what the spec asks for now.
    pub current: bool,
    /// It is the last one that completed.
    pub stable: bool,
    /// Phase of its rollout, when it is the current one.
    pub phase: Option<RolloutPhase>,
}

#[utoipa::path(get, path = "/api/v1/applications/{name}/history", tag = "applications",
    params(("name" = String, Path)), summary = "Kept revisions", description = "Role: viewer.",
    responses((status = 200, description = "Revisions", body = Vec<HistoryEntry>), AuthErrors))]
pub async fn history(
    _: Viewer,
    State(st): State<ApiState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    let app = find(&st, &name).await?;
    let ro = app.status.rollout.as_ref();
    let out = app
        .status
        .history
        .iter()
        .map(|r| HistoryEntry {
            current: app.status.revision == Some(r.revision),
            stable: app.status.stable_revision == Some(r.revision),
            phase: ro.filter(|ro| ro.revision == r.revision).map(|ro| ro.phase),
            revision: r.clone(),
        })
        .collect();
    Ok(Json(out))
}

fn conflict(message: String) -> ApiError {
    ApiError { status: StatusCode::CONFLICT, message }
}
