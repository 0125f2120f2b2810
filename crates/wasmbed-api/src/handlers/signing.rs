//! The app-signing key: which one deploys are signed with now, and (admins)
//! rotating to a new one and retiring the old ones.
//!
//! The keys are the platform's ([`SigningKeys`]); where it offers none (in
//! Kubernetes the controller holds the key, and rotation is not offered
//! there yet) every route answers 503 saying so. Rotating and retiring
//! write files, so they run off the async threads.

#[allow(unused_imports)] // named by the OpenAPI attributes
use crate::error::ErrorBody;
use crate::openapi::AuthErrors;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::audit::{AuditNote, Noted};
use crate::auth::{Admin, Viewer};
use crate::{ApiError, ApiState};

/// Why keys could not be rotated or retired (the key folder, or where a
/// platform keeps the keys besides it).
pub type SigningError = Box<dyn std::error::Error + Send + Sync>;

/// The platform's app-signing keys, as the API offers them. Implemented
/// by whoever holds them (the platform in embedded mode, the controller
/// in Kubernetes); blocking calls.
pub trait SigningKeys: Send + Sync {
    /// The key deploys are signed with now.
    fn current(&self) -> SigningKeyInfo;

    /// Makes a key generated from `fill` (secure random bytes) current,
    /// announced under the present one: devices move to it, new bundles
    /// pin it, every application's manifests are signed again with it.
    fn rotate(&self, fill: &mut dyn FnMut(&mut [u8])) -> Result<Rotated, SigningError>;

    /// Deletes the private keys of every older generation (their
    /// announcements stay, so devices with old bundles still reach the
    /// current key); returns how many were deleted.
    fn retire(&self) -> Result<usize, SigningError>;
}

/// The key deploys are signed with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyInfo {
    /// Hex id of the key (devices name it when they refuse a deploy).
    pub key_id: String,
    /// Its generation (the first key is 0).
    pub generation: u32,
    /// Announcements a device that pins the first key walks to reach it.
    pub chain_len: usize,
}

/// The answer of `POST /api/v1/signing/rotate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rotated {
    /// The key deploys were signed with until now (its private half is
    /// kept until retired).
    pub previous_key_id: String,
    /// The key deploys are signed with from now.
    pub current: SigningKeyInfo,
}

/// The answer of `POST /api/v1/signing/retire`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Retired {
    /// Private keys of older generations deleted now (0 when there were none).
    pub retired: usize,
    /// The key deploys are signed with, unchanged.
    pub current: SigningKeyInfo,
}

/// The platform's keys, or 503 saying why there are none here.
fn keys(st: &ApiState) -> ApiResult<Arc<dyn SigningKeys>> {
    st.signing.clone().ok_or_else(|| {
        ApiError::unavailable(
            "this platform does not manage the app-signing key through the API (in Kubernetes the controller \
             holds it; rotation is served by the controller)",
        )
    })
}

/// `fill` over the API's source of randomness, 32 bytes at a time.
fn fill_from(random: &(dyn Fn() -> [u8; 32] + Send + Sync), out: &mut [u8]) {
    for chunk in out.chunks_mut(32) {
        let bytes = random();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

#[utoipa::path(get, path = "/api/v1/signing", tag = "signing", summary = "The app-signing key deploys are signed with",
    description = "Role: viewer.",
    responses((status = 200, description = "The current key", body = SigningKeyInfo),
        (status = 503, description = "This platform does not manage the key through the API", body = ErrorBody),
        AuthErrors))]
pub async fn signing_key(_: Viewer, State(st): State<ApiState>) -> ApiResult<Json<SigningKeyInfo>> {
    let keys = keys(&st)?;
    Ok(Json(keys.current()))
}

#[utoipa::path(post, path = "/api/v1/signing/rotate", tag = "signing", summary = "Rotate the app-signing key",
    description = "Role: admin. A new key becomes current, announced under the present one: live devices are \
        sent the announcement at their next sync and move to it, devices that connect later walk the chain from \
        the key their bundle pins, bundles issued from now pin it, and every application's manifests are signed \
        again with it. The previous key's private half is kept until `POST /api/v1/signing/retire`.",
    responses((status = 200, description = "Rotated", body = Rotated),
        (status = 503, description = "This platform does not manage the key through the API", body = ErrorBody),
        AuthErrors))]
pub async fn rotate_key(_: Admin, State(st): State<ApiState>) -> ApiResult<Noted<Json<Rotated>>> {
    let keys = keys(&st)?;
    let random = st.random.clone();
    let rotated = tokio::task::spawn_blocking(move || keys.rotate(&mut |b| fill_from(&*random, b)))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let note = AuditNote::with_fact("previousKeyId", &rotated.previous_key_id)
        .fact("keyId", &rotated.current.key_id)
        .fact("generation", rotated.current.generation);
    Ok(Noted(Json(rotated), note))
}

#[utoipa::path(post, path = "/api/v1/signing/retire", tag = "signing",
    summary = "Delete the private keys of older app-signing keys",
    description = "Role: admin. Nothing can be signed with them afterwards. Their announcements stay, so a device \
        whose bundle pins an older key still reaches the current one.",
    responses((status = 200, description = "Retired", body = Retired),
        (status = 503, description = "This platform does not manage the key through the API", body = ErrorBody),
        AuthErrors))]
pub async fn retire_keys(_: Admin, State(st): State<ApiState>) -> ApiResult<Noted<Json<Retired>>> {
    let keys = keys(&st)?;
    let (retired, current) = tokio::task::spawn_blocking(move || keys.retire().map(|n| (n, keys.current())))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let note =
        AuditNote::with_fact("retired", retired).fact("keyId", &current.key_id).fact("generation", current.generation);
    Ok(Noted(Json(Retired { retired, current }), note))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_covers_any_length_from_32_byte_draws() {
        let n = std::sync::atomic::AtomicU8::new(1);
        let random = move || [n.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 32];
        for len in [0, 1, 31, 32, 33, 100] {
            let mut out = vec![0u8; len];
            fill_from(&random, &mut out);
            assert!(out.iter().all(|&b| b != 0), "{len}: {out:?}");
        }
        let mut out = [0u8; 40];
        fill_from(&random, &mut out);
        assert_ne!(out[0], out[39], "a fresh draw per 32 bytes");
    }
}
