//! The audit log: who did what, when, and how it ended.
//!
//! Every mutating request (and every identity-bundle download and terminal
//! command) is recorded by [`record`], a middleware around the whole
//! router, including requests refused for a missing token or role. An
//! entry names the token (name, id, role), the action and the resource,
//! and the key facts a handler adds ([`AuditNote`]): the module digest and
//! version of a deploy, the role a token was granted, ... Things the
//! platform does or refuses outside any request are appended with
//! [`AuditLog::append`].
//!
//! Entries are appended to a JSON-lines file (0600), the record, and the
//! newest are kept in memory for queries. The file is hash-chained: each
//! entry carries the SHA-256 of the line before it ([`chain`] has the rules
//! and the check `wasmbed audit verify` runs).

pub mod chain;

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::ApiState;
use crate::auth::{Principal, Role, authenticate};
pub use chain::{ChainError, GENESIS, Verified};

/// Entries kept in memory for queries.
const KEPT: usize = 10_000;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Done.
    Ok,
    /// Bad input, or something the device or platform refused.
    Refused,
    /// No token, an expired one, or its role is too low.
    Denied,
    /// Server side.
    Failed,
}

/// One audited action. Fields added since the first version are optional,
/// so entries written before them still read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// When, Unix milliseconds.
    pub at_ms: u64,
    /// Token name, `anonymous`, or the platform part that acted (`gateway`, ...).
    pub actor: String,
    /// The token's id, when it had a valid one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// The token's role, when it had a valid one.
    pub role: Option<Role>,
    /// `device.create`, `app.deploy`, `device.terminal`, ...
    pub action: String,
    /// What it was done to (a device, an application, a token id).
    pub target: String,
    /// How it ended.
    pub outcome: Outcome,
    /// HTTP status answered; none for what happened outside a request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// More: the terminal command, the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Key facts: `digest` and `version` of a deploy or upload, `role` granted
    /// to a token, ... (sorted by key, so an entry encodes one way).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, String>,
    /// SHA-256 (hex) of the line before this one, or [`GENESIS`]; none on
    /// entries written before the log was chained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<String>,
}

impl AuditEntry {
    /// An entry for something that happened outside an HTTP request: `actor`
    /// names the platform part that acted (`gateway`, `controller`, ...).
    /// Add facts with [`fact`](Self::fact), then [`AuditLog::append`] it.
    pub fn new(at_ms: u64, actor: &str, action: &str, target: &str, outcome: Outcome) -> Self {
        Self {
            at_ms,
            actor: actor.to_string(),
            token_id: None,
            role: None,
            action: action.to_string(),
            target: target.to_string(),
            outcome,
            status: None,
            detail: None,
            facts: BTreeMap::new(),
            prev: None,
        }
    }

    /// Adds a key fact (`fingerprint`, `reason`, ...).
    #[must_use]
    pub fn fact(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.facts.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the free-text detail.
    #[must_use]
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// What a handler adds to its response for the audit entry.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    /// Overrides the outcome derived from the status (e.g. `refused` by the device).
    pub outcome: Option<Outcome>,
    /// Names the resource when the path does not (a create: the new name or id).
    pub target: Option<String>,
    /// Detail to record.
    pub detail: Option<String>,
    /// Key facts to record.
    pub facts: BTreeMap<String, String>,
}

impl AuditNote {
    /// A note with one key fact; add more with [`fact`](Self::fact).
    pub fn with_fact(key: &str, value: impl std::fmt::Display) -> Self {
        Self::default().fact(key, value)
    }

    /// Adds a key fact.
    #[must_use]
    pub fn fact(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.facts.insert(key.to_string(), value.to_string());
        self
    }
}

/// A handler's answer with its [`AuditNote`] attached.
#[derive(Debug)]
pub struct Noted<T>(pub T, pub AuditNote);

impl<T: axum::response::IntoResponse> axum::response::IntoResponse for Noted<T> {
    fn into_response(self) -> Response {
        let mut resp = self.0.into_response();
        resp.extensions_mut().insert(self.1);
        resp
    }
}

/// Filters of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    /// Only this actor.
    pub actor: Option<String>,
    /// Only actions starting with this (`app.` for every app action).
    pub action: Option<String>,
    /// Only this outcome.
    pub outcome: Option<Outcome>,
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

/// Why a check of the running log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The file breaks its own chain.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The file's chain holds, but does not end with the last entry this
    /// process wrote.
    #[error(
        "the file ends at line {lines}, but not with the last entry this API wrote: lines were removed from \
         the end, or the last line was changed"
    )]
    NotTheHead {
        /// Lines in the file.
        lines: usize,
    },
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] AuditError),
}

/// The file and the hash the next entry links to, changed together.
#[derive(Debug)]
struct Writer {
    file: std::fs::File,
    head: String,
}

/// The audit log.
#[derive(Debug)]
pub struct AuditLog {
    path: PathBuf,
    writer: Mutex<Writer>,
    recent: Mutex<VecDeque<AuditEntry>>,
}

impl AuditLog {
    /// Opens (or starts) the log at `path`, loading its newest entries; the
    /// chain continues from its last line.
    pub fn open(path: &Path) -> Result<Self, AuditError> {
        use std::os::unix::fs::OpenOptionsExt;
        let err = |source| AuditError { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let mut recent = VecDeque::new();
        let mut head = GENESIS.to_string();
        let mut torn = false;
        match std::fs::File::open(path) {
            Ok(f) => {
                let mut r = std::io::BufReader::new(f);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    if r.read_until(b'\n', &mut buf).map_err(err)? == 0 {
                        break;
                    }
                    torn = !buf.ends_with(b"\n");
                    let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
                    head = chain::link(line);
                    // A torn line (crash mid-write) is not an entry; the chain carries it.
                    if let Ok(e) = serde_json::from_slice::<AuditEntry>(line) {
                        if recent.len() == KEPT {
                            recent.pop_front();
                        }
                        recent.push_back(e);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(err)?;
        if torn {
            // The next entry goes on a line of its own, linked to the torn one.
            tracing::warn!("audit log {}: its last line was torn by a crash; kept as it is", path.display());
            file.write_all(b"\n").map_err(err)?;
        }
        Ok(Self { path: path.to_path_buf(), writer: Mutex::new(Writer { file, head }), recent: Mutex::new(recent) })
    }

    /// Appends `entry`, linked to the entry before it (its `prev` is set
    /// here); returns it as written. For requests, [`record`] does this;
    /// call it for what happens outside one (e.g. a refused enrollment).
    pub fn append(&self, mut entry: AuditEntry) -> Result<AuditEntry, AuditError> {
        {
            let mut w = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            entry.prev = Some(w.head.clone());
            // Strings, numbers and maps only: this cannot fail.
            let line = serde_json::to_string(&entry).unwrap_or_default();
            let mut bytes = line.clone().into_bytes();
            bytes.push(b'\n');
            w.file.write_all(&bytes).map_err(|source| AuditError { path: self.path.clone(), source })?;
            w.head = chain::link(line.as_bytes());
        }
        let mut recent = self.recent.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if recent.len() == KEPT {
            recent.pop_front();
        }
        recent.push_back(entry.clone());
        Ok(entry)
    }

    /// Checks the file's chain, and that it ends with the last entry this
    /// process wrote or found (which a file alone cannot show). Appends
    /// wait meanwhile; call it off the async threads.
    pub fn verify(&self) -> Result<Verified, VerifyError> {
        let w = self.writer.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let f = std::fs::File::open(&self.path).map_err(|source| AuditError { path: self.path.clone(), source })?;
        let v = chain::verify(std::io::BufReader::new(f))?;
        if v.head != w.head {
            return Err(VerifyError::NotTheHead { lines: v.lines });
        }
        Ok(v)
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
            .filter(|e| q.outcome.is_none_or(|o| e.outcome == o))
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
        "signing" => "signing",
        _ => return None,
    };
    let verb = match (method, &parts[1..]) {
        (&Method::POST, []) => "create",
        (&Method::PUT, [_]) => "deploy",
        (&Method::DELETE, [_]) => "delete",
        (&Method::POST, [_, "{control}"]) => actual.get(2).copied()?,
        (&Method::POST, [_, verb]) => verb,
        // One of its kind: `/signing/rotate` names no resource, only a verb.
        (&Method::POST, [verb]) if kind == "signing" => verb,
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
    let mut parts = path.trim_start_matches("/api/v1/").split('/');
    match parts.next() {
        // The platform has one app-signing key set; what follows is a verb.
        Some("signing") => "app-signing".into(),
        _ => parts.next().unwrap_or("").to_string(),
    }
}

fn outcome_of(status: StatusCode) -> Outcome {
    match status.as_u16() {
        200..=399 => Outcome::Ok,
        401 | 403 => Outcome::Denied,
        400..=499 => Outcome::Refused,
        _ => Outcome::Failed,
    }
}

/// Authenticates the request (for the handlers' role checks) and records
/// audited actions with their outcome.
pub async fn record(State(st): State<ApiState>, mut req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let now_ms = wasmbed_model::clock::to_unix_ms((st.now)());
    let auth = authenticate(&parts, &st.tokens, now_ms);
    req = Request::from_parts(parts, body);
    if let Ok(p) = &auth {
        req.extensions_mut().insert(p.clone());
    }
    // An expired token is still named in the entry of its refusal.
    let principal: Option<Principal> = match auth {
        Ok(p) => Some(p),
        Err(refusal) => refusal.principal().cloned(),
    };
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_string());
    let action = route.as_deref().and_then(|r| action_of(req.method(), r, req.uri().path()));
    let target = target_of(req.uri().path());
    let resp = next.run(req).await;
    if let Some(action) = action {
        let note = resp.extensions().get::<AuditNote>().cloned().unwrap_or_default();
        let status = resp.status();
        let entry = AuditEntry {
            at_ms: now_ms,
            actor: principal.as_ref().map_or_else(|| "anonymous".into(), |p| p.name.clone()),
            token_id: principal.as_ref().map(|p| p.id.clone()),
            role: principal.as_ref().map(|p| p.role),
            action,
            target: note.target.unwrap_or(target),
            outcome: note.outcome.unwrap_or_else(|| outcome_of(status)),
            status: Some(status.as_u16()),
            detail: note.detail,
            facts: note.facts,
            prev: None,
        };
        if let Err(e) = st.audit.append(entry) {
            tracing::error!("cannot append to the audit log: {e}");
        }
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
        assert_eq!(a(Method::POST, "/api/v1/signing/rotate").as_deref(), Some("signing.rotate"));
        assert_eq!(a(Method::POST, "/api/v1/signing/retire").as_deref(), Some("signing.retire"));
        assert_eq!(target_of("/api/v1/signing/rotate"), "app-signing");
        assert_eq!(a(Method::GET, "/api/v1/signing"), None, "reads are not audited");
        assert_eq!(a(Method::GET, "/api/v1/devices"), None, "reads are not audited");
        assert_eq!(target_of("/api/v1/devices/dev-1/terminal"), "dev-1");
    }

    fn entry(at_ms: u64, actor: &str, action: &str, outcome: Outcome) -> AuditEntry {
        AuditEntry::new(at_ms, actor, action, "x", outcome)
    }

    #[test]
    fn entries_survive_a_reopen_and_filter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        for (i, (actor, action, outcome)) in [
            ("admin", "app.deploy", Outcome::Ok),
            ("ci", "device.terminal", Outcome::Refused),
            ("admin", "app.pause", Outcome::Ok),
        ]
        .into_iter()
        .enumerate()
        {
            log.append(entry(i as u64, actor, action, outcome)).unwrap();
        }
        drop(log);
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{torn").unwrap();
        let log = AuditLog::open(&path).unwrap();
        let q = |q: AuditQuery| log.query(&q).into_iter().map(|e| e.action).collect::<Vec<_>>();
        assert_eq!(q(AuditQuery::default()), ["app.pause", "device.terminal", "app.deploy"]);
        assert_eq!(q(AuditQuery { action: Some("app.".into()), ..Default::default() }), ["app.pause", "app.deploy"]);
        assert_eq!(q(AuditQuery { outcome: Some(Outcome::Refused), ..Default::default() }), ["device.terminal"]);
        assert_eq!(q(AuditQuery { since: Some(2), ..Default::default() }), ["app.pause"]);
        assert_eq!(q(AuditQuery { limit: Some(1), actor: Some("admin".into()), ..Default::default() }), ["app.pause"]);
        // The torn line stays, on a line of its own, and the chain goes over it.
        log.append(entry(3, "admin", "app.delete", Outcome::Ok)).unwrap();
        let v = log.verify().unwrap();
        assert_eq!((v.lines, v.chained, v.torn.as_slice()), (5, 4, &[4][..]));
    }

    #[test]
    fn a_restart_continues_the_chain_from_the_last_line_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let first = AuditLog::open(&path).unwrap().append(entry(1, "admin", "app.deploy", Outcome::Ok)).unwrap();
        assert_eq!(first.prev.as_deref(), Some(GENESIS));
        let log = AuditLog::open(&path).unwrap();
        let second = log.append(entry(2, "admin", "app.pause", Outcome::Ok)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let line1 = text.lines().next().unwrap();
        assert_eq!(second.prev, Some(chain::link(line1.as_bytes())));
        assert_eq!(log.verify().unwrap().chained, 2);
    }

    #[test]
    fn entries_from_before_the_chain_still_read_and_the_chain_starts_after_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        // As the first version wrote them: no token id, no facts, no link.
        let old = r#"{"atMs":1,"actor":"admin","role":"admin","action":"app.deploy","target":"blinky","outcome":"ok","status":200,"detail":"1.0.0"}"#;
        std::fs::write(&path, format!("{old}\n")).unwrap();
        let log = AuditLog::open(&path).unwrap();
        let read = log.query(&AuditQuery::default());
        assert_eq!((read[0].role, read[0].status, read[0].prev.as_deref()), (Some(Role::Admin), Some(200), None));
        log.append(entry(2, "admin", "app.pause", Outcome::Ok)).unwrap();
        let v = log.verify().unwrap();
        assert_eq!((v.unchained, v.chained), (1, 1));
    }

    #[test]
    fn entries_from_outside_a_request_carry_their_facts() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(&dir.path().join("audit.log")).unwrap();
        let e = AuditEntry::new(5, "gateway", "device.enroll", "dev-1", Outcome::Refused)
            .fact("fingerprint", "ab12")
            .detail("revoked certificate");
        log.append(e).unwrap();
        let text = std::fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert!(text.contains(r#""facts":{"fingerprint":"ab12"}"#) && !text.contains("status"), "{text}");
        let q = AuditQuery { outcome: Some(Outcome::Refused), ..Default::default() };
        assert_eq!(log.query(&q)[0].actor, "gateway");
    }

    #[test]
    fn a_log_cut_short_or_changed_at_its_end_is_caught_by_the_running_api() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap();
        for i in 0..3 {
            log.append(entry(i, "admin", "app.deploy", Outcome::Ok)).unwrap();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
        std::fs::write(&path, &cut).unwrap();
        assert!(chain::verify(cut.as_bytes()).is_ok(), "a file alone cannot tell");
        let e = log.verify().unwrap_err();
        assert!(matches!(e, VerifyError::NotTheHead { lines: 2 }), "{e}");
        std::fs::write(&path, text.replace(r#""atMs":1,"#, r#""atMs":7,"#)).unwrap();
        let e = log.verify().unwrap_err();
        assert!(matches!(e, VerifyError::Chain(ChainError::Broken { line: 3, previous: 2 })), "{e}");
    }
}
