//! Tokens: who am I, and (admins) create, list, revoke.

#[allow(unused_imports)] // named by the OpenAPI attributes
use crate::error::ErrorBody;
use crate::openapi::AuthErrors;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::{ApiResult, json_error};
use crate::audit::{AuditNote, Noted};
use crate::auth::{Admin, AuthError, Lifetime, Role, TokenInfo, Viewer};
use crate::{ApiError, ApiState};

/// The caller.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WhoAmI {
    /// Token id.
    pub id: String,
    /// Token name.
    pub name: String,
    /// Role.
    pub role: Role,
}

#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth", summary = "The caller's token",
    description = "Role: viewer.", responses((status = 200, description = "The caller", body = WhoAmI),
        AuthErrors))]
pub async fn whoami(Viewer(p): Viewer) -> Json<WhoAmI> {
    Json(WhoAmI { id: p.id, name: p.name, role: p.role })
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", summary = "Tokens, without secrets",
    description = "Role: admin.",
    responses((status = 200, description = "Tokens", body = Vec<crate::auth::TokenInfo>), AuthErrors))]
pub async fn list(_: Admin, State(st): State<ApiState>) -> Json<Vec<TokenInfo>> {
    Json(st.tokens.list())
}

/// Body of `POST /api/v1/tokens`.
#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewToken {
    /// Who it is for.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Seconds it works for, 60 to 31622400 (366 days); left out: until revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifetime_secs: Option<u64>,
}

/// A created token: the secret is shown this once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The stored part.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The secret to send as `Authorization: Bearer ...`.
    pub token: String,
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = NewToken,
    summary = "Create a token (its secret is shown once)",
    description = "Role: admin. With `lifetimeSecs` the token is refused (401, saying it expired) after that long.",
    responses((status = 201, description = "Created", body = CreatedToken),
        (status = 400, description = "Bad field", body = ErrorBody), AuthErrors))]
pub async fn create(
    _: Admin,
    State(st): State<ApiState>,
    body: Result<Json<NewToken>, JsonRejection>,
) -> ApiResult<Noted<(StatusCode, Json<CreatedToken>)>> {
    let Json(req) = body.map_err(json_error)?;
    let lifetime = req
        .lifetime_secs
        .map(Lifetime::from_secs)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("lifetimeSecs: {e}")))?;
    let now = wasmbed_model::clock::to_unix_ms((st.now)());
    let (info, token) = st.tokens.create(&req.name, req.role, lifetime, (st.random)(), now).map_err(|e| match e {
        AuthError::BadName => ApiError::bad_request(e.to_string()),
        other => ApiError::internal(other),
    })?;
    let mut note = AuditNote { target: Some(info.id.clone()), ..AuditNote::default() }
        .fact("name", &info.name)
        .fact("role", info.role.as_str());
    if let Some(at) = info.expires_ms {
        note = note.fact("expiresMs", at);
    }
    Ok(Noted((StatusCode::CREATED, Json(CreatedToken { info, token })), note))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    summary = "Revoke a token (its open event streams end)", description = "Role: admin.",
    responses((status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = ErrorBody), AuthErrors))]
pub async fn revoke(_: Admin, State(st): State<ApiState>, Path(id): Path<String>) -> ApiResult<Noted<StatusCode>> {
    let Some(info) = st.tokens.list().into_iter().find(|t| t.id == id) else {
        return Err(ApiError::not_found(format!("no token {id:?}")));
    };
    let note = AuditNote::with_fact("name", &info.name).fact("role", info.role.as_str());
    match st.tokens.revoke(&id) {
        Ok(true) => Ok(Noted(StatusCode::NO_CONTENT, note)),
        // Revoked by a concurrent request in between.
        Ok(false) => Err(ApiError::not_found(format!("no token {id:?}"))),
        Err(e) => Err(ApiError::internal(e)),
    }
}
