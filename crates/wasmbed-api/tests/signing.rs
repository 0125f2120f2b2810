//! The app-signing key routes through the router without a socket, over a
//! fake key set: viewers read, only admins rotate and retire, the API's
//! randomness makes the new key, a platform without keys answers 503
//! saying why, a failed rotation leaks nothing, and every attempt is
//! audited with the old and new key.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use wasmbed_api::{Rotated, SigningKeyInfo, SigningKeys, router};
use wasmbed_pki::PkiError;

/// Keys named by the first random bytes they were made from; the first is `k0`.
#[derive(Default)]
struct FakeKeys {
    /// Every key in order, and how many of the older ones still have a private half.
    keys: Mutex<(Vec<String>, usize)>,
    /// Rotations fail (a disk that refuses writes).
    broken: std::sync::atomic::AtomicBool,
}

impl FakeKeys {
    fn new() -> Arc<Self> {
        Arc::new(Self { keys: Mutex::new((vec!["k0".into()], 0)), ..Default::default() })
    }
}

impl SigningKeys for FakeKeys {
    fn current(&self) -> SigningKeyInfo {
        let k = self.keys.lock().unwrap();
        let generation = k.0.len() - 1;
        SigningKeyInfo { key_id: k.0[generation].clone(), generation: generation as u32, chain_len: generation }
    }

    fn rotate(&self, fill: &mut dyn FnMut(&mut [u8])) -> Result<Rotated, wasmbed_api::SigningError> {
        if self.broken.load(std::sync::atomic::Ordering::Relaxed) {
            let source = std::io::Error::other("disk full");
            return Err(PkiError::Io { path: "/secret/app-signing/key-1.pem".into(), source }.into());
        }
        let mut seed = [0u8; 40];
        fill(&mut seed);
        let previous_key_id = self.current().key_id;
        {
            let mut k = self.keys.lock().unwrap();
            k.0.push(hex::encode(&seed[..4]));
            k.1 += 1;
        }
        Ok(Rotated { previous_key_id, current: self.current() })
    }

    fn retire(&self) -> Result<usize, wasmbed_api::SigningError> {
        Ok(std::mem::take(&mut self.keys.lock().unwrap().1))
    }
}

type Env = common::Fixture;

fn env(keys: Option<Arc<FakeKeys>>) -> Env {
    common::fixture(
        || [0xab; 32],
        |st, _| {
            st.signing = keys.map(|k| k as Arc<dyn SigningKeys>);
        },
    )
}

async fn call(e: &Env, method: &str, uri: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let resp = router(e.state.clone()).oneshot(b.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Audit entries of `action`, newest first.
async fn audit(e: &Env, action: &str) -> Vec<Value> {
    let (status, entries) = call(e, "GET", &format!("/api/v1/audit?action={action}"), Some(&e.admin)).await;
    assert_eq!(status, StatusCode::OK);
    entries.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_viewer_reads_the_key_and_only_an_admin_rotates_or_retires_it() {
    let keys = FakeKeys::new();
    let e = env(Some(keys.clone()));
    let (status, info) = call(&e, "GET", "/api/v1/signing", Some(&e.viewer)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(info, serde_json::json!({ "keyId": "k0", "generation": 0, "chainLen": 0 }));
    assert_eq!(call(&e, "GET", "/api/v1/signing", None).await.0, StatusCode::UNAUTHORIZED);

    for route in ["/api/v1/signing/rotate", "/api/v1/signing/retire"] {
        assert_eq!(call(&e, "POST", route, None).await.0, StatusCode::UNAUTHORIZED, "{route}");
        assert_eq!(call(&e, "POST", route, Some("wbt_not-a-token")).await.0, StatusCode::UNAUTHORIZED, "{route}");
        assert_eq!(call(&e, "POST", route, Some(&e.viewer)).await.0, StatusCode::FORBIDDEN, "{route}");
        assert_eq!(call(&e, "POST", route, Some(&e.operator)).await.0, StatusCode::FORBIDDEN, "{route}");
        // Not a read, and not anything else.
        assert_eq!(call(&e, "GET", route, Some(&e.admin)).await.0, StatusCode::METHOD_NOT_ALLOWED, "{route}");
    }
    assert_eq!(call(&e, "POST", "/api/v1/signing", Some(&e.admin)).await.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(call(&e, "POST", "/api/v1/signing/revoke", Some(&e.admin)).await.0, StatusCode::NOT_FOUND);
    assert_eq!(keys.current().generation, 0, "nothing refused touched the keys");

    // The new key comes from the API's randomness.
    let (status, rotated) = call(&e, "POST", "/api/v1/signing/rotate", Some(&e.admin)).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        rotated,
        serde_json::json!({
            "previousKeyId": "k0",
            "current": { "keyId": "abababab", "generation": 1, "chainLen": 1 },
        })
    );
    assert_eq!(call(&e, "GET", "/api/v1/signing", Some(&e.viewer)).await.1["keyId"], "abababab");
    let (status, retired) = call(&e, "POST", "/api/v1/signing/retire", Some(&e.admin)).await;
    assert_eq!(status, StatusCode::OK, "{retired}");
    assert_eq!(retired["retired"], 1);
    assert_eq!(retired["current"]["keyId"], "abababab");
    let (_, again) = call(&e, "POST", "/api/v1/signing/retire", Some(&e.admin)).await;
    assert_eq!(again["retired"], 0, "retiring twice deletes nothing more: {again}");
}

#[tokio::test]
async fn without_keys_every_signing_route_answers_503_saying_why() {
    let e = env(None);
    for (method, route, token) in [
        ("GET", "/api/v1/signing", &e.viewer),
        ("POST", "/api/v1/signing/rotate", &e.admin),
        ("POST", "/api/v1/signing/retire", &e.admin),
    ] {
        let (status, body) = call(&e, method, route, Some(token)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{route}: {body}");
        let why = body["error"].as_str().unwrap();
        assert!(why.contains("app-signing key") && why.contains("Kubernetes"), "{route}: {why}");
    }
    // The role is still checked first: a viewer learns nothing more.
    assert_eq!(call(&e, "POST", "/api/v1/signing/rotate", Some(&e.viewer)).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn rotations_and_retirements_are_audited_with_the_old_and_new_key() {
    let keys = FakeKeys::new();
    let e = env(Some(keys.clone()));
    call(&e, "POST", "/api/v1/signing/rotate", Some(&e.viewer)).await;
    let (status, _) = call(&e, "POST", "/api/v1/signing/rotate", Some(&e.admin)).await;
    assert_eq!(status, StatusCode::OK);

    let rotations = audit(&e, "signing.rotate").await;
    assert_eq!(rotations.len(), 2, "{rotations:?}");
    let (ok, denied) = (&rotations[0], &rotations[1]);
    assert_eq!(
        (ok["outcome"].as_str(), ok["role"].as_str(), ok["target"].as_str()),
        (Some("ok"), Some("admin"), Some("app-signing"))
    );
    assert_eq!(ok["facts"], serde_json::json!({ "previousKeyId": "k0", "keyId": "abababab", "generation": "1" }));
    assert_eq!((denied["outcome"].as_str(), denied["actor"].as_str()), (Some("denied"), Some("watcher")));
    assert_eq!(denied["target"], "app-signing");

    call(&e, "POST", "/api/v1/signing/retire", Some(&e.admin)).await;
    let retired = &audit(&e, "signing.retire").await[0];
    assert_eq!(retired["facts"], serde_json::json!({ "retired": "1", "keyId": "abababab", "generation": "1" }));

    // A rotation the disk refuses: 500 without the path, audited as failed,
    // and the key stays.
    keys.broken.store(true, std::sync::atomic::Ordering::Relaxed);
    let (status, body) = call(&e, "POST", "/api/v1/signing/rotate", Some(&e.admin)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(!body.to_string().contains("secret") && !body.to_string().contains("disk"), "{body}");
    assert_eq!(audit(&e, "signing.rotate").await[0]["outcome"], "failed");
    assert_eq!(keys.current().key_id, "abababab");
}
