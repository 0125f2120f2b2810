//! The audit log: who did what, when, and how it ended.
//!
//! Every mutating request (and every identity-bundle download and terminal
//! command) is recorded by [`record`], a middleware around the whole
//! router, including requests refused for a missing token or role. Entries
//! are appended to a JSON-lines file (0600) and the newest are kept in
//! memory for queries; the file is the record, the memory a cache.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::ApiState;
use crate::auth::{Principal, authenticate};

/// Entries kept in memory for queries.
const KEPT: usize = 10_000;

/// One audited action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// Token name, or `anonymous`.
    pub actor: String,
    /// The token's role, when it had a valid one.
    pub role: Option<String>,
    /// `device.create`, `app.deploy`, `device.terminal`, ...
    pub action: String,
    /// What it was done to (a device, an application, a token id).
    pub target: String,
    /// `ok`, `refused` (bad input, or a command the device refused),
    /// `denied` (no token, or its role is too low), `failed` (server side).
    pub outcome: String,
    /// HTTP status answered.
    pub status: u16,
    /// More: the terminal command, the version deployed, the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What a handler adds to its response for the audit entry.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// Overrides the outcome derived from the status (e.g. `refused` by the device).
    pub outcome: Option<String>,
    /// Detail to record.
    pub detail: Option<String>,
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this (`app.` for every app action).
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Only entries at or after this time, Unix milliseconds.
    pub since: Option<u64>,
    /// At most this many, newest first (default 200, at most 1000).
    pub limit: Option<usize>,
}

/// Why the audit log could not be used.
#[derive(Debug, thiserror::Error)]
#[error("audit log {}: {source}", path.display())]
pub struct AuditError {
    path: PathBuf,
    source: std::io::Error,
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    file: Mutex<std::fs::File>,
    recent: Mutex<VecDeque<AuditEntry>>,
}

impl AuditLog {
    /// Opens (or starts) the log at `path`, loading its newest entries.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        use std::os::unix::fs::OpenOptionsExt;
        let err = |source| AuditError { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut recent = VecDeque::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            // A torn last line (crash mid-write) is skipped, not fatal.
            for e in text.lines().filter_map(|l| serde_json::from_str::<AuditEntry>(l).ok()) {
                if recent.len() == KEPT {
                    recent.pop_front();
                }
                recent.push_back(e);
            }
        }
        let file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(err)?;
        Ok(Self { path: path.to_path_buf(), file: Mutex::new(file), recent: Mutex::new(recent) })
    }

    /// Appends an entry.
    pub fn record(&self, entry: AuditEntry) {
        let line = serde_json::to_string(&entry).unwrap_or_default();
        {
            let mut f = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Err(e) = writeln!(f, "{line}") {
                tracing::error!("cannot append to the audit log {}: {e}", self.path.display());
            }
        }
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// Entries matching `q`, newest first.
    pub fn query(&self, q: &AuditQuery) -> Vec<AuditEntry> {
        let limit = q.limit.unwrap_or(200).min(1000);
        let recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        recent
            .iter()
            .rev()
            .filter(|e| q.actor.as_ref().is_none_or(|a| &e.actor == a))
            .filter(|e| q.action.as_ref().is_none_or(|a| e.action.starts_with(a.as_str())))
            .filter(|e| q.outcome.as_ref().is_none_or(|o| &e.outcome == o))
            .filter(|e| q.since.is_none_or(|s| e.at_ms >= s))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// The audited action of a request, from its method and route template
/// (`{control}` is named by the path: `app.pause`, `app.abort`, ...).
fn action_of(method: &Method, route: &str, path: &str) -> Option<String> {
    let parts: Vec<&str> = route.trim_start_matches("/api/v1/").split('/').collect();
    let actual: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
    let kind = match *parts.first()? {
        "devices" => "device",
        "applications" => "app",
        "modules" => "module",
        "tokens" => "token",
        "gateways" => "gateway",
        _ => return None,
    };
    let verb = match (method, &parts[1..]) {
        (&Method::POST, []) => "create",
        (&Method::PUT, [_]) => "deploy",
        (&Method::DELETE, [_]) => "delete",
        (&Method::POST, [_, "{control}"]) => actual.get(2).copied()?,
        (&Method::POST, [_, verb]) => verb,
        (&Method::GET, [_, "bundle"]) => "bundle",
        (&Method::PUT, [_, "sensors", _]) => "sensor",
        _ => return None,
    };
    let verb = match (kind, verb) {
        ("module", "create") => "upload",
        ("token", "delete") => "revoke",
        ("app", "messages") => "send",
        _ => verb,
    };
    Some(format!("{kind}.{verb}"))
}

/// The resource a request names (`/api/v1/<kind>/<name>/...`).
fn target_of(path: &str) -> String {
    path.trim_start_matches("/api/v1/").split('/').nth(1).unwrap_or("").to_string()
}

fn outcome_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=399 => "ok",
        401 | 403 => "denied",
        400..=499 => "refused",
        _ => "failed",
    }
}

/// Authenticates the request (for the handlers' role checks) and records
/// audited actions with their outcome.
pub async fn record(State(st): State<ApiState>, mut req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let principal: Option<Principal> = authenticate(&parts, &st.tokens).ok();
    req = Request::from_parts(parts, body);
    if let Some(p) = &principal {
        req.extensions_mut().insert(p.clone());
    }
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let action = route.as_deref().and_then(|r| action_of(req.method(), r, req.uri().path()));
    let target = target_of(req.uri().path());
    let resp = next.run(req).await;
    if let Some(action) = action {
        let note = resp.extensions().get::<AuditNote>().cloned().unwrap_or_default();
        let status = resp.status();
        st.audit.record(AuditEntry {
            at_ms: wasmbed_model::clock::to_unix_ms((st.now)()),
            actor: principal.as_ref().map_or_else(|| "anonymous".into(), |p| p.name.clone()),
            role: principal.as_ref().map(|p| p.role.as_str().to_string()),
            action,
            target,
            outcome: note.outcome.unwrap_or_else(|| outcome_of(status).to_string()),
            status: status.as_u16(),
            detail: note.detail,
        });
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_come_from_the_route() {
        let a = |m: Method, r: &str| action_of(&m, r, r);
        assert_eq!(a(Method::POST, "/api/v1/devices").as_deref(), Some("device.create"));
        assert_eq!(a(Method::DELETE, "/api/v1/devices/{name}").as_deref(), Some("device.delete"));
        assert_eq!(a(Method::POST, "/api/v1/devices/{name}/terminal").as_deref(), Some("device.terminal"));
        assert_eq!(a(Method::GET, "/api/v1/devices/{name}/bundle").as_deref(), Some("device.bundle"));
        assert_eq!(a(Method::PUT, "/api/v1/devices/{name}/sensors/{sensor}").as_deref(), Some("device.sensor"));
        assert_eq!(a(Method::PUT, "/api/v1/applications/{name}").as_deref(), Some("app.deploy"));
        assert_eq!(a(Method::POST, "/api/v1/applications/{name}/rollback").as_deref(), Some("app.rollback"));
        assert_eq!(a(Method::POST, "/api/v1/modules").as_deref(), Some("module.upload"));
        assert_eq!(a(Method::POST, "/api/v1/applications/{name}/messages").as_deref(), Some("app.send"));
        let control = action_of(&Method::POST, "/api/v1/applications/{name}/{control}", "/api/v1/applications/a/abort");
        assert_eq!(control.as_deref(), Some("app.abort"));
        assert_eq!(a(Method::DELETE, "/api/v1/tokens/{id}").as_deref(), Some("token.revoke"));
        assert_eq!(a(Method::GET, "/api/v1/devices"), None, "reads are not audited");
        assert_eq!(target_of("/api/v1/devices/dev-1/terminal"), "dev-1");
    }

    #[test]
    fn entries_survive_a_reopen_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        for (i, (actor, action, outcome)) in
            [("admin", "app.deploy", "ok"), ("ci", "device.terminal", "refused"), ("admin", "app.pause", "ok")]
                .into_iter()
                .enumerate()
        {
            log.record(AuditEntry {
                at_ms: i as u64,
                actor: actor.into(),
                role: None,
                action: action.into(),
                target: "x".into(),
                outcome: outcome.into(),
                status: 200,
                detail: None,
            });
        }
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{torn").unwrap();
        let log = AuditLog::open(&path).unwrap();
        let q = |q: AuditQuery| log.query(&q).into_iter().map(|e| e.action).collect::<Vec<_>>();
        assert_eq!(q(AuditQuery::default()), ["app.pause", "device.terminal", "app.deploy"]);
        assert_eq!(q(AuditQuery { action: Some("app.".into()), ..Default::default() }), ["app.pause", "app.deploy"]);
        assert_eq!(q(AuditQuery { outcome: Some("refused".into()), ..Default::default() }), ["device.terminal"]);
        assert_eq!(q(AuditQuery { since: Some(2), ..Default::default() }), ["app.pause"]);
        assert_eq!(q(AuditQuery { limit: Some(1), actor: Some("admin".into()), ..Default::default() }), ["app.pause"]);
    }
}
