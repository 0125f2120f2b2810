//! Bearer tokens with roles, stored hashed.
//!
//! A token is `wbt_` followed by 32 random bytes in hex; only its SHA-256 is
//! kept (in a 0600 JSON file beside the store), so a leaked file does not
//! leak a usable token. Tokens are random and long, so one SHA-256 is a
//! fair hash (no password stretching needed). The first start creates an
//! admin token and hands its secret to the caller to print, once.
//!
//! A token may be created with a lifetime ([`Lifetime`], 1 minute to 1
//! year); after it the token is refused with 401 saying it expired, until
//! an admin revokes it. The first admin token does not expire: it is the
//! installation's root credential (kept 0600 on disk, or in a Secret in
//! Kubernetes), and were it to expire with no other admin token the
//! installation would be locked out. Admins hand out expiring tokens and
//! may revoke the first one once they hold another admin token.
//!
//! The token comes in the `Authorization: Bearer` header. Only the event
//! stream also takes a `token` query parameter (browsers' EventSource
//! cannot set headers); everywhere else a token in the URL, where proxies
//! and browser histories keep it, is refused ([`refuse_query_token`]).
//!
//! Handlers ask for a role in their signature ([`Viewer`], [`Operator`],
//! [`Admin`]): the extractor answers 401 without a valid token and 403 when
//! the token's role is too low, before the handler runs.

use std::path::{Path, PathBuf};
use std::sync::RwLock;

use axum::extract::{FromRef, FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ApiError, ApiState};

/// What a token may do; each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and changes the fleet.
    Operator,
    /// Everything, tokens included.
    Admin,
}

impl Role {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            other => Err(format!("unknown role {other:?}; roles: viewer, operator, admin")),
        }
    }
}

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// Stable id (the first 12 hex digits of the hash).
    pub id: String,
    /// Who it is for, as shown in the audit log.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, Unix milliseconds.
    pub created_ms: u64,
    /// When it stops working, Unix milliseconds; none: never.
    #[serde(default)]
    pub expires_ms: Option<u64>,
}

impl TokenInfo {
    /// Whether it has expired at `now_ms`.
    pub fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|e| now_ms >= e)
    }
}

/// How long a token works: at least [`Lifetime::MIN_SECS`], at most
/// [`Lifetime::MAX_SECS`] (a token meant to outlive a year should be
/// rotated instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime(u64);

impl Lifetime {
    /// One minute: shorter is a typo, not a policy.
    pub const MIN_SECS: u64 = 60;
    /// One year.
    pub const MAX_SECS: u64 = 366 * 86_400;

    /// `secs` seconds, if within the bounds.
    pub fn from_secs(secs: u64) -> Result<Self, AuthError> {
        if (Self::MIN_SECS..=Self::MAX_SECS).contains(&secs) {
            Ok(Self(secs))
        } else {
            Err(AuthError::BadLifetime(secs))
        }
    }

    /// Seconds.
    pub fn secs(self) -> u64 {
        self.0
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    #[serde(flatten)]
    info: TokenInfo,
    sha256: String,
}

/// The caller, once its token checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Token id.
    pub id: String,
    /// Token name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Why the token store could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The token file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a token list.
    #[error("{}: not a token list: {why}", path.display())]
    Corrupt {
        /// The token file.
        path: PathBuf,
        /// What the parser said.
        why: String,
    },
    /// A token name that is empty or too long.
    #[error("name: must be 1-64 characters")]
    BadName,
    /// A lifetime out of bounds.
    #[error(
        "{0} s is out of bounds: a token lives {min} s (1 minute) to {max} s (366 days)",
        min = Lifetime::MIN_SECS,
        max = Lifetime::MAX_SECS
    )]
    BadLifetime(u64),
}

/// Why a request's token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// No token at all.
    #[error("no token: send Authorization: Bearer <token>")]
    Missing,
    /// Not a token this platform knows (or one revoked).
    #[error("unknown or revoked token")]
    Unknown,
    /// A known token past its lifetime.
    #[error("token {:?} (id {}) expired at {} (Unix ms); ask an admin for a new one", .0.name, .0.id, .1)]
    Expired(Principal, u64),
    /// A token in the query string of a route that takes it in the header only.
    #[error("the token query parameter is accepted on {} only; send Authorization: Bearer <token>", EVENTS_PATH)]
    InQuery,
}

impl Refusal {
    /// Whose token it was, when known (an expired one), for the audit log.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Self::Expired(p, _) => Some(p),
            _ => None,
        }
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError { status: StatusCode::UNAUTHORIZED, message: r.to_string() }
    }
}

/// The one route that takes its token from the query string.
pub const EVENTS_PATH: &str = "/api/v1/events";

/// The token store.
#[derive(Debug)]
pub struct Tokens {
    path: PathBuf,
    tokens: RwLock<Vec<Stored>>,
    /// Tokens of this process for its own use (never written to disk).
    ephemeral: RwLock<Vec<Stored>>,
    /// Counts writes of the token file, for whoever keeps a copy of it.
    saves: tokio::sync::watch::Sender<u64>,
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Tokens {
    /// Opens (or starts) the token file at `path`.
    pub fn open(path: &Path) -> Result<Self, AuthError> {
        let io = |source| AuthError::Io { path: path.to_path_buf(), source };
        let tokens = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| AuthError::Corrupt { path: path.to_path_buf(), why: e.to_string() })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(Self {
            path: path.to_path_buf(),
            tokens: RwLock::new(tokens),
            ephemeral: RwLock::default(),
            saves: tokio::sync::watch::channel(0).0,
        })
    }

    /// The token file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes after every write of the token file (creates and revokes;
    /// ephemeral tokens are never written), so a copy can follow it.
    pub fn saves(&self) -> tokio::sync::watch::Receiver<u64> {
        self.saves.subscribe()
    }

    /// Creates the first admin token when there is no token at all; returns
    /// its secret (to print once, or to keep in a Secret), or `None` when
    /// tokens exist. It never expires (see the module doc).
    pub fn ensure_admin(&self, secret_bytes: [u8; 32], now_ms: u64) -> Result<Option<String>, AuthError> {
        if !self.list().is_empty() {
            return Ok(None);
        }
        self.create("admin", Role::Admin, None, secret_bytes, now_ms).map(|(_, s)| Some(s))
    }

    /// Creates a token, expiring after `lifetime` when given; returns it and
    /// its secret (shown once).
    pub fn create(
        &self,
        name: &str,
        role: Role,
        lifetime: Option<Lifetime>,
        secret_bytes: [u8; 32],
        now_ms: u64,
    ) -> Result<(TokenInfo, String), AuthError> {
        if name.is_empty() || name.len() > 64 {
            return Err(AuthError::BadName);
        }
        let secret = format!("wbt_{}", hex::encode(secret_bytes));
        let sha256 = hash(&secret);
        let info = TokenInfo {
            id: sha256[..12].to_string(),
            name: name.to_string(),
            role,
            created_ms: now_ms,
            // Bounded by Lifetime::MAX_SECS: no overflow short of the year 584 million.
            expires_ms: lifetime.map(|l| now_ms.saturating_add(l.secs() * 1000)),
        };
        let mut tokens = self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.push(Stored { info: info.clone(), sha256 });
        self.save(&tokens)?;
        Ok((info, secret))
    }

    /// A token for this process's own calls (e.g. `wasmbed up` creating
    /// its demo fleet through the API): kept in memory only, so it dies
    /// with the process and piles nothing up on disk.
    pub fn create_ephemeral(&self, name: &str, role: Role, secret_bytes: [u8; 32], now_ms: u64) -> String {
        let secret = format!("wbt_{}", hex::encode(secret_bytes));
        let sha256 = hash(&secret);
        let info = TokenInfo {
            id: sha256[..12].to_string(),
            name: name.to_string(),
            role,
            created_ms: now_ms,
            expires_ms: None,
        };
        self.ephemeral.write().unwrap_or_else(std::sync::PoisonError::into_inner).push(Stored { info, sha256 });
        secret
    }

    /// Tokens, without secrets.
    pub fn list(&self) -> Vec<TokenInfo> {
        let tokens = self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        tokens.iter().map(|t| t.info.clone()).collect()
    }

    /// Revokes a token; false when there was none with that id.
    pub fn revoke(&self, id: &str) -> Result<bool, AuthError> {
        let mut tokens = self.tokens.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = tokens.len();
        tokens.retain(|t| t.info.id != id);
        if tokens.len() == before {
            return Ok(false);
        }
        self.save(&tokens)?;
        Ok(true)
    }

    /// The token's principal, if `secret` is a live token at `now_ms`.
    pub fn verify(&self, secret: &str, now_ms: u64) -> Result<Principal, Refusal> {
        let h = hash(secret);
        let principal = |t: &Stored| Principal { id: t.info.id.clone(), name: t.info.name.clone(), role: t.info.role };
        let live = |t: &Stored| match t.info.expires_ms {
            Some(at) if now_ms >= at => Err(Refusal::Expired(principal(t), at)),
            _ => Ok(principal(t)),
        };
        // Comparing hashes, not secrets: timing reveals nothing usable.
        let tokens = self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = tokens.iter().find(|t| t.sha256 == h) {
            return live(t);
        }
        let own = self.ephemeral.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        own.iter().find(|t| t.sha256 == h).map_or(Err(Refusal::Unknown), live)
    }

    /// Whether a token with this id exists (expired or not): what a token
    /// opened (event streams) ends when this turns false, checked at each
    /// of [`saves`](Self::saves).
    pub fn exists(&self, id: &str) -> bool {
        let has = |list: &RwLock<Vec<Stored>>| {
            list.read().unwrap_or_else(std::sync::PoisonError::into_inner).iter().any(|t| t.info.id == id)
        };
        has(&self.tokens) || has(&self.ephemeral)
    }

    fn save(&self, tokens: &[Stored]) -> Result<(), AuthError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |source| AuthError::Io { path: self.path.clone(), source };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(tokens).unwrap_or_default();
        let mut f =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
        f.write_all(&bytes).map_err(io)?;
        f.sync_all().map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)?;
        self.saves.send_modify(|n| *n += 1);
        Ok(())
    }
}

/// The bearer token of a request: the `Authorization` header, or on the
/// event stream only, a `token` query parameter.
fn bearer(parts: &Parts) -> Result<String, Refusal> {
    if query_token_refused(&parts.uri) {
        return Err(Refusal::InQuery);
    }
    if let Some(v) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_string()).ok_or(Refusal::Missing);
    }
    query_token(&parts.uri).ok_or(Refusal::Missing)
}

/// A token in the URL of any route but the event stream's.
fn query_token_refused(uri: &axum::http::Uri) -> bool {
    uri.path() != EVENTS_PATH && query_token(uri).is_some()
}

/// The `token` query parameter, if any.
fn query_token(uri: &axum::http::Uri) -> Option<String> {
    #[derive(Deserialize)]
    struct Q {
        token: Option<String>,
    }
    Query::<Q>::try_from_uri(uri).ok().and_then(|q| q.0.token)
}

/// The caller's principal at `now_ms`; why not, otherwise (401).
pub fn authenticate(parts: &Parts, tokens: &Tokens, now_ms: u64) -> Result<Principal, Refusal> {
    tokens.verify(&bearer(parts)?, now_ms)
}

/// Refuses a `token` query parameter on every path but the event stream's
/// (routes without a role included, and the dashboard's pages), with 401.
pub async fn refuse_query_token(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    use axum::response::IntoResponse;
    if query_token_refused(req.uri()) {
        return ApiError::from(Refusal::InQuery).into_response();
    }
    next.run(req).await
}

fn require(parts: &mut Parts, st: &ApiState, role: Role) -> Result<Principal, ApiError> {
    let p = match parts.extensions.get::<Principal>() {
        Some(p) => p.clone(),
        None => {
            let p = authenticate(parts, &st.tokens, wasmbed_model::clock::to_unix_ms((st.now)()))?;
            parts.extensions.insert(p.clone());
            p
        }
    };
    if p.role < role {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: format!("token {:?} is a {}; this needs {}", p.name, p.role.as_str(), role.as_str()),
        });
    }
    Ok(p)
}

macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name(pub Principal);

        impl<S> FromRequestParts<S> for $name
        where
            S: Send + Sync,
            ApiState: FromRef<S>,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let st = ApiState::from_ref(state);
                require(parts, &st, $role).map(Self)
            }
        }
    };
}

role_extractor!(Viewer, Role::Viewer, "A caller with at least the viewer role.");
role_extractor!(Operator, Role::Operator, "A caller with at least the operator role.");
role_extractor!(Admin, Role::Admin, "A caller with the admin role.");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_hashed_and_verified() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("auth/tokens.json");
        let t = Tokens::open(&path).unwrap();
        let admin = t.ensure_admin([1; 32], 5).unwrap().unwrap();
        assert!(t.ensure_admin([2; 32], 6).unwrap().is_none(), "only on the first start");
        let (info, viewer) = t.create("ci", Role::Viewer, None, [3; 32], 7).unwrap();
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(!file.contains(&admin) && !file.contains(&viewer), "no secret on disk");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let reopened = Tokens::open(&path).unwrap();
        assert_eq!(reopened.verify(&admin, 8).unwrap().role, Role::Admin);
        assert_eq!(reopened.verify(&viewer, 8).unwrap().name, "ci");
        assert_eq!(reopened.verify("wbt_guess", 8), Err(Refusal::Unknown));
        assert!(reopened.exists(&info.id));
        assert!(reopened.revoke(&info.id).unwrap());
        assert_eq!(reopened.verify(&viewer, 8), Err(Refusal::Unknown));
        assert!(!reopened.exists(&info.id));
        assert!(!reopened.revoke(&info.id).unwrap());
        assert!(matches!(reopened.create("", Role::Viewer, None, [4; 32], 8), Err(AuthError::BadName)));
        let own = reopened.create_ephemeral("up", Role::Operator, [5; 32], 9);
        assert_eq!(reopened.verify(&own, 9).unwrap().role, Role::Operator);
        assert!(Tokens::open(&path).unwrap().verify(&own, 9).is_err(), "never on disk");
        std::fs::write(&path, "nope").unwrap();
        assert!(matches!(Tokens::open(&path), Err(AuthError::Corrupt { .. })));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn a_token_with_a_lifetime_is_refused_after_it_and_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let t = Tokens::open(&path).unwrap();
        let admin = t.ensure_admin([1; 32], 0).unwrap().unwrap();
        let hour = Lifetime::from_secs(3600).unwrap();
        let (info, ci) = t.create("ci", Role::Operator, Some(hour), [2; 32], 1_000).unwrap();
        assert_eq!(info.expires_ms, Some(3_601_000));
        assert!(!info.expired(3_600_999) && info.expired(3_601_000));
        assert_eq!(t.verify(&ci, 3_600_999).unwrap().name, "ci");
        let refused = Tokens::open(&path).unwrap().verify(&ci, 3_601_000).unwrap_err();
        assert!(matches!(&refused, Refusal::Expired(p, 3_601_000) if p.name == "ci"), "{refused:?}");
        assert!(refused.to_string().contains("expired"), "{refused}");
        assert!(refused.principal().is_some(), "the audit log names whose token it was");
        // The first admin token never expires.
        assert!(t.list().iter().any(|i| i.role == Role::Admin && i.expires_ms.is_none()));
        assert!(t.verify(&admin, u64::MAX).is_ok());
    }

    #[test]
    fn lifetimes_out_of_bounds_are_refused() {
        for bad in [0, 1, Lifetime::MIN_SECS - 1, Lifetime::MAX_SECS + 1, u64::MAX] {
            assert!(matches!(Lifetime::from_secs(bad), Err(AuthError::BadLifetime(s)) if s == bad), "{bad}");
        }
        let e = Lifetime::from_secs(0).unwrap_err().to_string();
        assert!(e.contains("1 minute") && e.contains("366 days"), "{e}");
        assert_eq!(Lifetime::from_secs(Lifetime::MAX_SECS).unwrap().secs(), Lifetime::MAX_SECS);
        // Tokens written before lifetimes existed still read, as never expiring.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        let old = r#"[{"id":"abc","name":"old","role":"viewer","createdMs":1,"sha256":"00"}]"#;
        std::fs::write(&path, old).unwrap();
        assert_eq!(Tokens::open(&path).unwrap().list()[0].expires_ms, None);
    }

    #[test]
    fn a_token_in_the_url_is_taken_on_the_event_stream_only() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tokens::open(&dir.path().join("tokens.json")).unwrap();
        let admin = t.ensure_admin([1; 32], 0).unwrap().unwrap();
        let parts = |uri: &str, header: Option<&str>| {
            let mut b = axum::http::Request::get(uri);
            if let Some(h) = header {
                b = b.header(header::AUTHORIZATION, format!("Bearer {h}"));
            }
            b.body(()).unwrap().into_parts().0
        };
        let events = parts(&format!("{EVENTS_PATH}?token={admin}"), None);
        assert_eq!(authenticate(&events, &t, 1).unwrap().role, Role::Admin);
        let status = parts(&format!("/api/v1/status?token={admin}"), None);
        assert_eq!(authenticate(&status, &t, 1), Err(Refusal::InQuery));
        let both = parts(&format!("/api/v1/status?token={admin}"), Some(&admin));
        assert_eq!(
            authenticate(&both, &t, 1),
            Err(Refusal::InQuery),
            "a token in a URL is refused even beside a header"
        );
        assert_eq!(authenticate(&parts("/api/v1/status", None), &t, 1), Err(Refusal::Missing));
        assert!(authenticate(&parts("/api/v1/status", Some(&admin)), &t, 1).is_ok());
        assert!(Refusal::InQuery.to_string().contains(EVENTS_PATH));
    }

    #[test]
    fn every_write_of_the_file_is_signalled_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tokens::open(&dir.path().join("tokens.json")).unwrap();
        let saves = t.saves();
        t.ensure_admin([1; 32], 1).unwrap();
        let (info, _) = t.create("ci", Role::Viewer, None, [2; 32], 2).unwrap();
        assert_eq!(*saves.borrow(), 2);
        t.create_ephemeral("up", Role::Operator, [3; 32], 3);
        assert!(t.create("", Role::Viewer, None, [4; 32], 4).is_err());
        assert!(!t.revoke("nope").unwrap());
        assert_eq!(*saves.borrow(), 2, "no write, no signal");
        t.revoke(&info.id).unwrap();
        assert_eq!(*saves.borrow(), 3);
    }
}
