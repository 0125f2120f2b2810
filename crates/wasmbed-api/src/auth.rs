//! Bearer tokens with roles, stored hashed.
//!
//! A token is `wbt_` followed by 32 random bytes in hex; only its SHA-256 is
//! kept (in a 0600 JSON file beside the store), so a leaked file does not
//! leak a usable token. Tokens are random and long, so one SHA-256 is a
//! fair hash (no password stretching needed). The first start creates an
//! admin token and hands its secret to the caller to print, once.
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
}

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
    /// its secret (to print once), or `None` when tokens exist.
    pub fn ensure_admin(&self, secret_bytes: [u8; 32], now_ms: u64) -> Result<Option<String>, AuthError> {
        if !self.list().is_empty() {
            return Ok(None);
        }
        self.create("admin", Role::Admin, secret_bytes, now_ms).map(|(_, s)| Some(s))
    }

    /// Creates a token; returns it and its secret (shown once).
    pub fn create(
        &self,
        name: &str,
        role: Role,
        secret_bytes: [u8; 32],
        now_ms: u64,
    ) -> Result<(TokenInfo, String), AuthError> {
        if name.is_empty() || name.len() > 64 {
            return Err(AuthError::BadName);
        }
        let secret = format!("wbt_{}", hex::encode(secret_bytes));
        let sha256 = hash(&secret);
        let info = TokenInfo { id: sha256[..12].to_string(), name: name.to_string(), role, created_ms: now_ms };
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
        let info = TokenInfo { id: sha256[..12].to_string(), name: name.to_string(), role, created_ms: now_ms };
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

    /// The token's principal, if `secret` is a live token.
    pub fn verify(&self, secret: &str) -> Option<Principal> {
        let h = hash(secret);
        let principal = |t: &Stored| Principal { id: t.info.id.clone(), name: t.info.name.clone(), role: t.info.role };
        // Comparing hashes, not secrets: timing reveals nothing usable.
        let tokens = self.tokens.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = tokens.iter().find(|t| t.sha256 == h) {
            return Some(principal(t));
        }
        let own = self.ephemeral.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        own.iter().find(|t| t.sha256 == h).map(principal)
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

/// The bearer token of a request: the `Authorization` header, or a
/// `token` query parameter (browsers' EventSource cannot set headers).
fn bearer(parts: &Parts) -> Option<String> {
    if let Some(v) = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    #[derive(Deserialize)]
    struct Q {
        token: Option<String>,
    }
    Query::<Q>::try_from_uri(&parts.uri).ok().and_then(|q| q.0.token)
}

/// The caller's principal; 401 without a valid token.
pub fn authenticate(parts: &Parts, tokens: &Tokens) -> Result<Principal, ApiError> {
    let Some(secret) = bearer(parts) else {
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "no token: send Authorization: Bearer <token>".into(),
        });
    };
    tokens
        .verify(&secret)
        .ok_or_else(|| ApiError { status: StatusCode::UNAUTHORIZED, message: "unknown or revoked token".into() })
}

fn require(parts: &mut Parts, st: &ApiState, role: Role) -> Result<Principal, ApiError> {
    let p = match parts.extensions.get::<Principal>() {
        Some(p) => p.clone(),
        None => {
            let p = authenticate(parts, &st.tokens)?;
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
        let (info, viewer) = t.create("ci", Role::Viewer, [3; 32], 7).unwrap();
        let file = std::fs::read_to_string(&path).unwrap();
        assert!(!file.contains(&admin) && !file.contains(&viewer), "no secret on disk");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let reopened = Tokens::open(&path).unwrap();
        assert_eq!(reopened.verify(&admin).unwrap().role, Role::Admin);
        assert_eq!(reopened.verify(&viewer).unwrap().name, "ci");
        assert!(reopened.verify("wbt_guess").is_none());
        assert!(reopened.revoke(&info.id).unwrap());
        assert!(reopened.verify(&viewer).is_none());
        assert!(!reopened.revoke(&info.id).unwrap());
        assert!(matches!(reopened.create("", Role::Viewer, [4; 32], 8), Err(AuthError::BadName)));
        let own = reopened.create_ephemeral("up", Role::Operator, [5; 32], 9);
        assert_eq!(reopened.verify(&own).unwrap().role, Role::Operator);
        assert!(Tokens::open(&path).unwrap().verify(&own).is_none(), "never on disk");
        std::fs::write(&path, "nope").unwrap();
        assert!(matches!(Tokens::open(&path), Err(AuthError::Corrupt { .. })));
        assert!("root".parse::<Role>().is_err());
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
    }

    #[test]
    fn every_write_of_the_file_is_signalled_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let t = Tokens::open(&dir.path().join("tokens.json")).unwrap();
        let saves = t.saves();
        t.ensure_admin([1; 32], 1).unwrap();
        let (info, _) = t.create("ci", Role::Viewer, [2; 32], 2).unwrap();
        assert_eq!(*saves.borrow(), 2);
        t.create_ephemeral("up", Role::Operator, [3; 32], 3);
        assert!(t.create("", Role::Viewer, [4; 32], 4).is_err());
        assert!(!t.revoke("nope").unwrap());
        assert_eq!(*saves.borrow(), 2, "no write, no signal");
        t.revoke(&info.id).unwrap();
        assert_eq!(*saves.borrow(), 3);
    }
}
