//! Handlers without a socket (`oneshot`): bad input gets a clear status and
//! message, and nothing is written to the store; tokens and roles gate every
//! route; the audit log records what was done and refused; telemetry
//! reads and messages to apps, with a telemetry book filled directly and a
//! fake terminal.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use wasmbed_api::{MAX_MODULE_LEN, router};
use wasmbed_model::TelemetrySample;

type Env = common::Fixture;

fn env() -> Env {
    common::fixture(rand_bytes, |st, dir| st.consoles = Some(dir.join("devices")))
}

/// Distinct bytes per call (token secrets must differ).
fn rand_bytes() -> [u8; 32] {
    static N: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
    [N.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 32]
}

/// As the operator unless the request carries its own Authorization.
async fn call(env: &Env, mut req: Request<Body>) -> (StatusCode, String) {
    if !req.headers().contains_key("authorization") {
        let v = format!("Bearer {}", env.operator).parse().unwrap();
        req.headers_mut().insert("authorization", v);
    }
    call_anonymous(env, req).await
}

async fn call_anonymous(env: &Env, req: Request<Body>) -> (StatusCode, String) {
    let resp = router(env.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn with_token(mut req: Request<Body>, token: &str) -> Request<Body> {
    req.headers_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

fn post_bytes(uri: &str, body: Vec<u8>) -> Request<Body> {
    Request::post(uri).body(Body::from(body)).unwrap()
}

fn json(method: &str, uri: &str, body: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn good_module() -> Vec<u8> {
    wat::parse_str(r#"(module (import "wasmbed" "log" (func (param i32 i32))) (memory (export "memory") 1) (func (export "init")))"#)
        .unwrap()
}

fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn module_upload_rejections_write_nothing() {
    let e = env();
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            post_bytes("/api/v1/modules", b"not wasm".to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a WebAssembly module",
        ),
        (post_bytes("/api/v1/modules?digest=00", good_module()), StatusCode::UNPROCESSABLE_ENTITY, "digest"),
        (
            post_bytes("/api/v1/modules", vec![0; MAX_MODULE_LEN + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "exceeds the limit",
        ),
        (
            post_bytes(
                "/api/v1/modules",
                wat::parse_str(r#"(module (import "env" "x" (func)) (func (export "init")))"#).unwrap(),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "env.x",
        ),
    ];
    for (req, want, text) in cases {
        let uri = req.uri().to_string();
        let (status, body) = call(&e, req).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert!(body.contains(text), "{uri}: {body}");
    }
    let m = good_module();
    assert!(e.store.get_module(&digest(&m)).await.unwrap().is_none());
    let (status, body) = call(&e, post_bytes(&format!("/api/v1/modules?digest={}", digest(&m)), m.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.contains("wasmbed.log"), "{body}");
    assert_eq!(call(&e, post_bytes("/api/v1/modules", m)).await.0, StatusCode::OK, "stored already");
}

#[tokio::test]
async fn deploy_rejections_name_the_field_and_write_nothing() {
    let e = env();
    let m = good_module();
    let d = digest(&m);
    assert_eq!(call(&e, post_bytes("/api/v1/modules", m)).await.0, StatusCode::CREATED);
    let time_only =
        wat::parse_str(r#"(module (import "wasmbed" "now_ms" (func (result i64))) (func (export "init")))"#).unwrap();
    let t = digest(&time_only);
    assert_eq!(call(&e, post_bytes("/api/v1/modules", time_only)).await.0, StatusCode::CREATED);
    let put = |name: &str, body: String| json("PUT", &format!("/api/v1/applications/{name}"), &body);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (put("a", format!(r#"{{"digest":"{d}"}}"#)), StatusCode::BAD_REQUEST, "version"),
        (put("a", "{not json".into()), StatusCode::BAD_REQUEST, "invalid JSON"),
        (
            put("a", format!(r#"{{"version":"1","digest":"{d}","selector":"x="}}"#)),
            StatusCode::BAD_REQUEST,
            "spec.selector",
        ),
        (put("A_B", format!(r#"{{"version":"1","digest":"{d}"}}"#)), StatusCode::BAD_REQUEST, "metadata.name"),
        (
            put("a", format!(r#"{{"version":"1","digest":"{d}","strategy":{{"type":"big-bang"}}}}"#)),
            StatusCode::BAD_REQUEST,
            "strategy",
        ),
        (
            put(
                "a",
                format!(
                    r#"{{"version":"1","digest":"{d}","strategy":{{"type":"canary","steps":["10%","5%","100%"]}}}}"#
                ),
            ),
            StatusCode::BAD_REQUEST,
            "spec.strategy.steps",
        ),
        (
            put("a", format!(r#"{{"version":"1","digest":"{d}","capabilities":["log","gpio"]}}"#)),
            StatusCode::BAD_REQUEST,
            "spec.capabilities",
        ),
        (
            put("a", format!(r#"{{"version":"1","digest":"{d}","limits":{{"maxMemoryPages":99}}}}"#)),
            StatusCode::BAD_REQUEST,
            "spec.limits.maxMemoryPages",
        ),
        (
            put("a", format!(r#"{{"version":"1","digest":"{}"}}"#, "ab".repeat(32))),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec.digest",
        ),
        (
            put("a", format!(r#"{{"version":"1","digest":"{t}","capabilities":["log"]}}"#)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "spec.capabilities: import wasmbed.now_ms needs the capability",
        ),
        (put("a", format!(r#"{{"version":"1","digest":"{d}","colour":"red"}}"#)), StatusCode::BAD_REQUEST, "colour"),
    ];
    for (req, want, text) in cases {
        let uri = req.uri().to_string();
        let (status, body) = call(&e, req).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert!(body.contains(text), "{uri}: {body}");
    }
    assert!(e.store.list_applications().await.unwrap().is_empty());
    let (status, body) = call(
        &e,
        put("a", format!(r#"{{"version":"1","digest":"{d}","selector":"app=demo","strategy":{{"type":"canary","steps":["1","50%","100%"]}}}}"#)),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = e.store.get_application("a").await.unwrap().unwrap();
    assert_eq!(app.spec.strategy.name(), "canary");
    assert_eq!(app.spec.size as usize, good_module().len());
    let (status, _) = call(&e, put("a", format!(r#"{{"version":"2","digest":"{d}"}}"#))).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn rollout_controls_refuse_what_cannot_be_done() {
    let e = env();
    let m = good_module();
    let d = digest(&m);
    call(&e, post_bytes("/api/v1/modules", m)).await;
    let post = |uri: &str, body: &str| json("POST", uri, body);
    for (req, want, text) in [
        (post("/api/v1/applications/nope/pause", ""), StatusCode::NOT_FOUND, "not found"),
        (post("/api/v1/applications/nope/rollback", r#"{"revision":1}"#), StatusCode::NOT_FOUND, "not found"),
    ] {
        let (status, body) = call(&e, req).await;
        assert_eq!(status, want, "{body}");
        assert!(body.contains(text), "{body}");
    }
    let (status, _) =
        call(&e, json("PUT", "/api/v1/applications/a", &format!(r#"{{"version":"1","digest":"{d}"}}"#))).await;
    assert_eq!(status, StatusCode::CREATED);
    for (req, want, text) in [
        (post("/api/v1/applications/a/resume", ""), StatusCode::CONFLICT, "not paused"),
        (post("/api/v1/applications/a/abort", ""), StatusCode::CONFLICT, "no rollout in progress"),
        (post("/api/v1/applications/a/rollback", r#"{"revision":7}"#), StatusCode::NOT_FOUND, "keeps no revision 7"),
        (post("/api/v1/applications/a/rollback", r#"{"revision":"x"}"#), StatusCode::BAD_REQUEST, "revision"),
        (post("/api/v1/applications/a/rollback", r#"{}"#), StatusCode::CONFLICT, "no revision has completed"),
    ] {
        let (status, body) = call(&e, req).await;
        assert_eq!(status, want, "{body}");
        assert!(body.contains(text), "{body}");
    }
    // Pausing before the control plane looked at it is allowed (it is a new generation).
    let (status, body) = call(&e, post("/api/v1/applications/a/pause", "")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(e.store.get_application("a").await.unwrap().unwrap().spec.paused);
}

#[tokio::test]
async fn device_create_rejections_write_nothing() {
    let e = env();
    let post = |body: &str| {
        Request::post("/api/v1/devices")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    for (body, want, text) in [
        ("{\"name\": 5}", StatusCode::BAD_REQUEST, "name"),
        ("{not json", StatusCode::BAD_REQUEST, "invalid JSON"),
        ("{\"name\": \"ok\", \"board\": \"pdp-11\"}", StatusCode::BAD_REQUEST, "spec.board"),
        (
            "{\"name\": \"a-name-longer-than-thirty-two-bytes\", \"board\": \"stm32vldiscovery\"}",
            StatusCode::BAD_REQUEST,
            "at most 32 characters",
        ),
        ("{\"name\": \"ok\", \"labels\": {\"a b\": \"c\"}}", StatusCode::BAD_REQUEST, "spec.labels"),
    ] {
        let (status, resp) = call(&e, post(body)).await;
        assert_eq!(status, want, "{body}: {resp}");
        assert!(resp.contains(text), "{body}: {resp}");
    }
    assert!(e.store.list_devices().await.unwrap().is_empty());
    let (status, _) = call(&e, post("{\"name\": \"ok\"}")).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, resp) = call(&e, post("{\"name\": \"ok\"}")).await;
    assert_eq!((status, resp.contains("already exists")), (StatusCode::CONFLICT, true));
    let (status, _) = call(&e, Request::get("/api/v1/devices/nope/bundle").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

/// The fingerprint of the certificate in a bundle fetched from the API.
async fn fetch_bundle(e: &Env, device: &str) -> String {
    let req = with_token(get(&format!("/api/v1/devices/{device}/bundle")), &e.operator);
    let resp = router(e.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let bundle = wasmbed_protocol::IdentityBundle::from_bytes(&bytes).unwrap();
    assert_eq!(bundle.device_id, device);
    wasmbed_pki::Fingerprint::of(&bundle.cert_der).to_string()
}

async fn recorded(e: &Env, device: &str) -> String {
    e.store.get_device(device).await.unwrap().unwrap().spec.identity.expect("an identity is recorded").fingerprint
}

#[tokio::test]
async fn an_attached_board_is_created_with_a_link_key_and_its_bundle_is_its_provisioning_record() {
    let e = env();
    let body = r#"{"name":"vld-1","board":"stm32vldiscovery"}"#;
    let (status, body) = call(&e, json("POST", "/api/v1/devices", body)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // What is recorded names the link key the PKI keeps (for its gateway).
    let key = e.state.pki.link_key("vld-1").unwrap().expect("a link key is stored");
    let first = recorded(&e, "vld-1").await;
    assert_eq!(first, key.fingerprint().to_string());
    assert!(e.state.pki.stored_device_identity("vld-1").unwrap().is_none(), "no certificate for it");

    // Its bundle is the record for its flash, with a new key, recorded.
    let req = with_token(get("/api/v1/devices/vld-1/bundle"), &e.operator);
    let resp = router(e.state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let record = wasmbed_boardlink::Provisioning::decode(&bytes).unwrap();
    assert_eq!(record.board.as_bytes(), b"vld-1");
    let now = e.state.pki.link_key("vld-1").unwrap().unwrap();
    assert_ne!(now, key, "re-issued");
    assert_eq!(record, e.state.pki.provisioning("vld-1", &now).unwrap());
    assert_eq!(recorded(&e, "vld-1").await, now.fingerprint().to_string());

    // Deleted: its key goes with it.
    let (status, _) = call(&e, Request::delete("/api/v1/devices/vld-1").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(e.state.pki.link_key("vld-1").unwrap().is_none());
}

#[tokio::test]
async fn a_device_is_created_with_its_identity_recorded_and_each_bundle_re_issues_it() {
    let e = env();
    let (status, body) = call(&e, json("POST", "/api/v1/devices", r#"{"name":"d1"}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: wasmbed_model::Device = serde_json::from_str(&body).unwrap();
    let first = created.spec.identity.expect("recorded as it is created").fingerprint;
    assert_eq!(first, recorded(&e, "d1").await);
    // What the PKI keeps (and the QEMU manager provisions) is that identity.
    let kept = e.state.pki.device_identity("d1", SystemTime::now()).unwrap();
    assert_eq!(kept.fingerprint().to_string(), first);
    // A second create of the name is refused and leaves the identity alone.
    let (status, _) = call(&e, json("POST", "/api/v1/devices", r#"{"name":"d1"}"#)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(recorded(&e, "d1").await, first);
    assert_eq!(e.state.pki.device_identity("d1", SystemTime::now()).unwrap(), kept);

    // Each bundle is a new identity, recorded: the previous one is revoked.
    let second = fetch_bundle(&e, "d1").await;
    assert_ne!(second, first);
    assert_eq!(recorded(&e, "d1").await, second);
    let third = fetch_bundle(&e, "d1").await;
    assert_ne!(third, second);
    assert_eq!(recorded(&e, "d1").await, third);

    // Deleted and created again: a new key, not the one before.
    let (status, _) = call(&e, Request::delete("/api/v1/devices/d1").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(&e, json("POST", "/api/v1/devices", r#"{"name":"d1"}"#)).await;
    assert_eq!(status, StatusCode::CREATED);
    let again = recorded(&e, "d1").await;
    assert!(![first, second, third].contains(&again));

    // Bad names and absent devices issue nothing.
    for bad in ["nope", "..", "UPPER", "a%2Fb"] {
        let (status, _) = call(&e, get(&format!("/api/v1/devices/{bad}/bundle"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{bad}");
    }
    let (status, _) = call_anonymous(&e, get("/api/v1/devices/d1/bundle")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&e, with_token(get("/api/v1/devices/d1/bundle"), &e.viewer)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(recorded(&e, "d1").await, again, "a refused request re-issues nothing");
}

#[tokio::test]
async fn console_reads_from_an_offset_and_refuses_what_has_none() {
    let e = env();
    let create = |name: &str, board: &str| {
        Request::post("/api/v1/devices")
            .header("content-type", "application/json")
            .body(Body::from(format!(r#"{{"name":"{name}","board":"{board}"}}"#)))
            .unwrap()
    };
    assert_eq!(call(&e, create("q1", "mps2-an385")).await.0, StatusCode::CREATED);
    assert_eq!(call(&e, create("s1", "sim")).await.0, StatusCode::CREATED);
    let dir = e.tmp.path().join("devices/q1");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("console.log"), "boot\nonline\n").unwrap();

    let (st, body) = call(&e, get("/api/v1/devices/q1/console")).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!((v["next"].as_u64(), v["text"].as_str()), (Some(12), Some("boot\nonline\n")));
    let (_, body) = call(&e, get("/api/v1/devices/q1/console?offset=5")).await;
    assert!(body.contains(r#""text":"online\n""#), "{body}");
    // Past the end (the file was rotated): from the start again.
    let (_, body) = call(&e, get("/api/v1/devices/q1/console?offset=999")).await;
    assert!(body.contains(r#""next":12"#), "{body}");

    let (st, body) = call(&e, get("/api/v1/devices/nope/console")).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{body}");
    let (st, body) = call(&e, get("/api/v1/devices/s1/console")).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(body.contains("only QEMU devices"), "{body}");
    let (st, body) = call(&e, get("/api/v1/devices/q1/console?offset=-1")).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
}

fn get_as(uri: &str, token: &str) -> Request<Body> {
    with_token(Request::get(uri).body(Body::empty()).unwrap(), token)
}

/// The issue's list: no token 401, a viewer deploying 403, malformed JSON
/// 400 naming the field, an oversized upload 413, invalid WebAssembly 422
/// with the validator's message — and nothing written on any of them.
#[tokio::test]
async fn refusals_have_clear_statuses_and_write_nothing() {
    let e = env();
    let m = good_module();
    let d = digest(&m);
    let deploy = format!(r#"{{"version":"1","digest":"{d}"}}"#);
    let cases: Vec<(Request<Body>, Option<&str>, StatusCode, &str)> = vec![
        (json("PUT", "/api/v1/applications/a", &deploy), None, StatusCode::UNAUTHORIZED, "no token"),
        (json("PUT", "/api/v1/applications/a", &deploy), Some("wbt_bogus"), StatusCode::UNAUTHORIZED, "unknown"),
        (json("PUT", "/api/v1/applications/a", &deploy), Some(&e.viewer), StatusCode::FORBIDDEN, "needs operator"),
        (json("POST", "/api/v1/devices", r#"{"name":"x"}"#), Some(&e.viewer), StatusCode::FORBIDDEN, "viewer"),
        (post_bytes("/api/v1/modules", good_module()), Some(&e.viewer), StatusCode::FORBIDDEN, "operator"),
        (
            json("PUT", "/api/v1/applications/a", r#"{"version": 1, "digest": "x"}"#),
            Some(&e.operator),
            StatusCode::BAD_REQUEST,
            "version",
        ),
        (json("POST", "/api/v1/devices", r#"{"name": ["x"]}"#), Some(&e.operator), StatusCode::BAD_REQUEST, "name"),
        (
            post_bytes("/api/v1/modules", vec![0; MAX_MODULE_LEN + 1]),
            Some(&e.operator),
            StatusCode::PAYLOAD_TOO_LARGE,
            "exceeds the limit",
        ),
        (
            post_bytes("/api/v1/modules", b"\0asm\x01\0\0\0garbage".to_vec()),
            Some(&e.operator),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid WebAssembly",
        ),
        (
            json("POST", "/api/v1/tokens", r#"{"name":"x","role":"admin"}"#),
            Some(&e.operator),
            StatusCode::FORBIDDEN,
            "needs admin",
        ),
        (Request::get("/api/v1/devices").body(Body::empty()).unwrap(), None, StatusCode::UNAUTHORIZED, "token"),
        (Request::get("/metrics").body(Body::empty()).unwrap(), None, StatusCode::UNAUTHORIZED, "token"),
    ];
    for (req, token, want, text) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let req = match token {
            Some(t) => with_token(req, t),
            None => req,
        };
        let (status, body) = call_anonymous(&e, req).await;
        assert_eq!(status, want, "{what}: {body}");
        assert!(body.contains(text), "{what}: {body}");
    }
    assert!(e.store.list_applications().await.unwrap().is_empty());
    assert!(e.store.list_devices().await.unwrap().is_empty());
    assert!(e.store.get_module(&d).await.unwrap().is_none());
    assert_eq!(e.state.tokens.list().len(), 3, "no token was created");
    // The refused mutations were audited, with who and why.
    let (status, body) = call(&e, Request::get("/api/v1/audit?action=app.").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let outcomes: Vec<(&str, &str)> =
        entries.iter().map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap())).collect();
    assert_eq!(outcomes, [("ops", "refused"), ("watcher", "denied"), ("anonymous", "denied"), ("anonymous", "denied")]);
    // Viewers may not read the audit log.
    assert_eq!(call_anonymous(&e, get_as("/api/v1/audit", &e.viewer)).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn tokens_roles_and_whoami() {
    let e = env();
    let (status, body) = call_anonymous(&e, get_as("/api/v1/auth/whoami", &e.viewer)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#""role":"viewer""#) && body.contains("watcher"), "{body}");
    let create = with_token(json("POST", "/api/v1/tokens", r#"{"name":"ci","role":"operator"}"#), &e.admin);
    let (status, body) = call_anonymous(&e, create).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let created: serde_json::Value = serde_json::from_str(&body).unwrap();
    let secret = created["token"].as_str().unwrap();
    assert_eq!(call_anonymous(&e, get_as("/api/v1/devices", secret)).await.0, StatusCode::OK);
    let (_, list) = call_anonymous(&e, get_as("/api/v1/tokens", &e.admin)).await;
    assert!(!list.contains(secret) && list.contains(r#""name":"ci""#), "{list}");
    let bad = with_token(json("POST", "/api/v1/tokens", r#"{"name":"x","role":"root"}"#), &e.admin);
    let (status, body) = call_anonymous(&e, bad).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("role"), "{body}");
    let id = created["id"].as_str().unwrap();
    let revoke = with_token(Request::delete(format!("/api/v1/tokens/{id}")).body(Body::empty()).unwrap(), &e.admin);
    assert_eq!(call_anonymous(&e, revoke).await.0, StatusCode::NO_CONTENT);
    assert_eq!(call_anonymous(&e, get_as("/api/v1/devices", secret)).await.0, StatusCode::UNAUTHORIZED, "revoked");
    // The OpenAPI document needs no token; unknown API paths are JSON 404s.
    assert_eq!(
        call_anonymous(&e, Request::get("/api/v1/openapi.json").body(Body::empty()).unwrap()).await.0,
        StatusCode::OK
    );
    let (status, body) = call(&e, Request::get("/api/v1/nothing").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no API route"), "{body}");
}

#[tokio::test]
async fn terminal_connect_and_metrics() {
    let e = env();
    let add = json("POST", "/api/v1/devices", r#"{"name":"s1"}"#);
    assert_eq!(call(&e, add).await.0, StatusCode::CREATED);
    // A command outside the allow-list is refused before it is sent.
    let run = |cmd: &str| json("POST", "/api/v1/devices/s1/terminal", &format!(r#"{{"command":"{cmd}"}}"#));
    let (status, body) = call(&e, run("rm -rf /")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains(r#""outcome":"refused""#) && body.contains(r#""refused_by":"platform""#), "{body}");
    assert!(body.contains("unknown command"), "{body}");
    // An allowed one needs a session: this API holds none.
    let (status, body) = call(&e, run("status")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = call(&e, json("POST", "/api/v1/devices/s1/terminal", r#"{"cmd":"status"}"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(call_anonymous(&e, with_token(run("status"), &e.viewer)).await.0, StatusCode::FORBIDDEN);
    let (_, audit) = call(&e, Request::get("/api/v1/audit?action=device.terminal").body(Body::empty()).unwrap()).await;
    assert!(audit.contains("rm -rf /") && audit.contains(r#""outcome":"refused""#), "{audit}");
    // Simulated devices are not the platform's to power off.
    let (status, body) = call(&e, json("POST", "/api/v1/devices/s1/disconnect", "")).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("only QEMU devices"), "{body}");
    let q = json("POST", "/api/v1/devices", r#"{"name":"q1","board":"mps2-an385"}"#);
    assert_eq!(call(&e, q).await.0, StatusCode::CREATED);
    assert_eq!(call(&e, json("POST", "/api/v1/devices/q1/disconnect", "")).await.0, StatusCode::OK);
    assert!(e.store.get_device("q1").await.unwrap().unwrap().spec.disconnected);
    assert_eq!(call(&e, json("POST", "/api/v1/devices/q1/connect", "")).await.0, StatusCode::OK);
    assert!(!e.store.get_device("q1").await.unwrap().unwrap().spec.disconnected);
    let (status, metrics) = call_anonymous(&e, get_as("/metrics", &e.viewer)).await;
    assert_eq!(status, StatusCode::OK);
    for line in [
        "wasmbed_devices{phase=\"Provisioning\"} 2",
        "wasmbed_devices_by_board{board=\"sim\"} 1",
        "wasmbed_api_requests_total{class=\"4xx\"}",
    ] {
        assert!(metrics.contains(line), "{line} in:\n{metrics}");
    }
    let (_, boards) = call_anonymous(&e, get_as("/api/v1/boards", &e.viewer)).await;
    let boards: serde_json::Value = serde_json::from_str(&boards).unwrap();
    let vl = boards.as_array().unwrap().iter().find(|b| b["name"] == "stm32vldiscovery").unwrap();
    assert_eq!((&vl["supported"], &vl["attached"]), (&serde_json::json!(true), &serde_json::json!(true)), "{vl}");
    let an385 = boards.as_array().unwrap().iter().find(|b| b["name"] == "mps2-an385").unwrap();
    assert_eq!(an385["attached"], false, "{an385}");
}

/// Rollout controls are one route: an unknown control or application is
/// a 404 that says what exists, and nothing is written.
#[tokio::test]
async fn unknown_rollout_controls_are_named() {
    let e = env();
    let (status, body) = call(&e, json("POST", "/api/v1/applications/a/explode", "{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body.contains("no rollout control") && body.contains("explode") && body.contains("pause, resume, abort"),
        "{body}"
    );
    let (status, body) = call(&e, json("POST", "/api/v1/applications/nothing/pause", "{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("not found"), "{body}");
    assert!(e.store.list_applications().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_deploy_granting_hardware_a_targeted_board_lacks_names_the_devices_and_what_they_lack() {
    let e = env();
    let post = |body: &str| {
        Request::post("/api/v1/devices")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    for body in [
        r#"{"name": "m1", "board": "mps2-an385", "labels": {"fleet": "lab", "kind": "mps2"}}"#,
        r#"{"name": "o1", "board": "olimex-stm32-h405", "labels": {"fleet": "lab"}}"#,
    ] {
        assert_eq!(call(&e, post(body)).await.0, StatusCode::CREATED, "{body}");
    }
    let led = wat::parse_str(
        r#"(module (import "wasmbed" "gpio_write" (func (param i32 i32) (result i32))) (func (export "init")))"#,
    )
    .unwrap();
    let d = digest(&led);
    assert_eq!(call(&e, post_bytes("/api/v1/modules", led)).await.0, StatusCode::CREATED);
    let put = |selector: &str, caps: &str| {
        json(
            "PUT",
            "/api/v1/applications/blinky",
            &format!(r#"{{"version":"1","digest":"{d}","selector":"{selector}","capabilities":{caps}}}"#),
        )
    };
    // The olimex board's GPIO is not emulated: no LEDs for apps.
    let (status, body) = call(&e, put("fleet=lab", r#"["gpio:led0"]"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("o1") && body.contains("gpio:led0") && !body.contains("m1 ("), "{body}");
    // A malformed grant is named.
    let (status, body) = call(&e, put("fleet=lab", r#"["gpio:lamp"]"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("spec.capabilities") && body.contains("gpio:lamp"), "{body}");
    assert!(e.store.list_applications().await.unwrap().is_empty());
    // Targeting only the devices that have it: deployed.
    let (status, body) = call(&e, put("kind=mps2", r#"["gpio:led0","i2c:0:0x48"]"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn sample(device: &str, app: &str, metric: &str, t_ms: u64, value: f64) -> TelemetrySample {
    TelemetrySample { device: device.into(), app: app.into(), revision: None, metric: metric.into(), t_ms, value }
}

fn now_ms() -> u64 {
    wasmbed_model::clock::unix_ms()
}

/// The message of an error answer (or the whole body).
fn error_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["error"].as_str().map(String::from))
        .unwrap_or_else(|| body.to_string())
}

/// A status and body, the body as JSON.
async fn read_json(e: &Env, uri: &str) -> (StatusCode, serde_json::Value) {
    let (status, body) = call_anonymous(e, get_as(uri, &e.viewer)).await;
    (status, serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)))
}

#[tokio::test]
async fn device_telemetry_lists_metrics_and_ranges_and_names_bad_input() {
    let e = env();
    e.store.create_device(wasmbed_testkit::device("t1")).await.unwrap();
    e.store.create_device(wasmbed_testkit::device("quiet")).await.unwrap();
    let now = now_ms();
    let book = &e.state.telemetry;
    book.record((0..10).map(|i| sample("t1", "thermo", "temp_c", now - 10_000 + i * 1000, 20.0 + i as f64)));
    book.record([sample("t1", "thermo", "humidity", now - 500, 40.0)]);

    // As a viewer: the metrics, by name, with their latest points.
    let (status, v) = read_json(&e, "/api/v1/devices/t1/telemetry").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let names: Vec<&str> = v.as_array().unwrap().iter().map(|m| m["metric"].as_str().unwrap()).collect();
    assert_eq!(names, ["humidity", "temp_c"]);
    assert_eq!(v[1]["last"]["value"], 29.0);
    assert_eq!((v[1]["app"].as_str(), v[1]["received"].as_u64()), (Some("thermo"), Some(10)));
    let (status, v) = read_json(&e, "/api/v1/devices/quiet/telemetry").await;
    assert_eq!((status, v), (StatusCode::OK, serde_json::json!([])), "a device that publishes nothing");

    // A range, and the last hour by default.
    let uri = format!("/api/v1/devices/t1/telemetry/temp_c?from={}&to={}", now - 8000, now - 6000);
    let (status, v) = read_json(&e, &uri).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let values: Vec<f64> = v["points"].as_array().unwrap().iter().map(|p| p["value"].as_f64().unwrap()).collect();
    assert_eq!(values, [22.0, 23.0, 24.0]);
    assert!(v["points"][0]["tMs"].is_u64() && v["buckets"].is_array(), "{v}");
    let (_, v) = read_json(&e, "/api/v1/devices/t1/telemetry/temp_c").await;
    assert_eq!(v["points"].as_array().unwrap().len(), 10, "{v}");

    for (uri, want, text) in [
        ("/api/v1/devices/nope/telemetry", StatusCode::NOT_FOUND, "device \"nope\" not found"),
        ("/api/v1/devices/nope/telemetry/temp_c", StatusCode::NOT_FOUND, "not found"),
        ("/api/v1/devices/t1/telemetry/pressure", StatusCode::NOT_FOUND, "it publishes: humidity, temp_c"),
        ("/api/v1/devices/quiet/telemetry/temp_c", StatusCode::NOT_FOUND, "it publishes: none yet"),
        ("/api/v1/devices/t1/telemetry/Temp%20C", StatusCode::BAD_REQUEST, "metric: \"Temp C\" is not a metric name"),
        ("/api/v1/devices/t1/telemetry/temp_c?from=abc", StatusCode::BAD_REQUEST, "from: \"abc\" is not"),
        ("/api/v1/devices/t1/telemetry/temp_c?to=-1", StatusCode::BAD_REQUEST, "to: \"-1\" is not"),
        ("/api/v1/devices/t1/telemetry/temp_c?from=10&to=5", StatusCode::BAD_REQUEST, "from: 10 is after to (5)"),
        ("/api/v1/devices/t1/telemetry/temp_c?form=10", StatusCode::BAD_REQUEST, "unknown field `form`"),
        ("/api/v1/devices/t1/telemetry/temp_c?step=1000", StatusCode::BAD_REQUEST, "unknown field `step`"),
    ] {
        let (status, body) = call_anonymous(&e, get_as(uri, &e.viewer)).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert!(error_of(&body).contains(text), "{uri}: {body}");
    }
    assert_eq!(call_anonymous(&e, get("/api/v1/devices/t1/telemetry")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn fleet_telemetry_aggregates_an_applications_devices_per_step() {
    let e = env();
    e.store.put_application(&wasmbed_testkit::application("thermo", "1", "00")).await.unwrap();
    e.store.put_application(&wasmbed_testkit::application("quiet", "1", "00")).await.unwrap();
    let t0 = 1_700_000_000_000;
    let book = &e.state.telemetry;
    // Two devices, one in a blue-green slot; another application's device.
    book.record([
        sample("a", "thermo", "temp_c", t0, 10.0),
        sample("a", "thermo", "temp_c", t0 + 1500, 20.0),
        sample("b", "thermo.r2", "temp_c", t0 + 500, 30.0),
        sample("b", "thermo.r2", "temp_c", t0 + 2500, 40.0),
        sample("c", "other", "temp_c", t0 + 500, 99.0),
    ]);
    let uri = format!("/api/v1/applications/thermo/telemetry/temp_c?from={t0}&to={}&step=2000", t0 + 3999);
    let (status, v) = read_json(&e, &uri).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!((v["stepMs"].as_u64(), v["devices"].as_u64()), (Some(2000), Some(2)));
    let b = v["buckets"].as_array().unwrap();
    assert_eq!(b.len(), 2, "{v}");
    let stats = |b: &serde_json::Value| {
        (
            b["tMs"].as_u64().unwrap(),
            b["min"].as_f64().unwrap(),
            b["mean"].as_f64().unwrap(),
            b["max"].as_f64().unwrap(),
            b["count"].as_u64().unwrap(),
        )
    };
    assert_eq!(stats(&b[0]), (t0, 10.0, 20.0, 30.0, 3));
    assert_eq!(stats(&b[1]), (t0 + 2000, 40.0, 40.0, 40.0, 1));
    // The default step keeps an hour to at most 300 buckets, in whole seconds.
    let (_, v) = read_json(&e, &format!("/api/v1/applications/thermo/telemetry/temp_c?to={}", t0 + 10_000)).await;
    assert_eq!(v["stepMs"].as_u64(), Some(12_000), "{v}");
    let (_, v) = read_json(&e, &format!("/api/v1/applications/thermo/telemetry/temp_c?from={t0}&to={t0}")).await;
    assert_eq!(v["stepMs"].as_u64(), Some(1000), "never below a second: {v}");

    let q = |rest: &str| format!("/api/v1/applications/thermo/telemetry/temp_c?from={t0}&to={}{rest}", t0 + 9999);
    for (uri, want, text) in [
        (q("&step=999"), StatusCode::BAD_REQUEST, "step: 999 ms is below the minimum of 1000 ms"),
        (q("&step=1s"), StatusCode::BAD_REQUEST, "step: \"1s\" is not"),
        (q("&step="), StatusCode::BAD_REQUEST, "step: \"\" is not"),
        (
            format!("/api/v1/applications/thermo/telemetry/temp_c?from=0&to={t0}&step=1000"),
            StatusCode::BAD_REQUEST,
            "at most 10000",
        ),
        (
            format!("/api/v1/applications/thermo/telemetry/temp_c?from={}&to={t0}", t0 + 1),
            StatusCode::BAD_REQUEST,
            "from:",
        ),
        ("/api/v1/applications/thermo/telemetry/temp_c?from=x".into(), StatusCode::BAD_REQUEST, "from: \"x\""),
        ("/api/v1/applications/nope/telemetry/temp_c".into(), StatusCode::NOT_FOUND, "application \"nope\" not found"),
        ("/api/v1/applications/thermo/telemetry/rpm".into(), StatusCode::NOT_FOUND, "they publish: temp_c"),
        ("/api/v1/applications/quiet/telemetry/temp_c".into(), StatusCode::NOT_FOUND, "they publish: none yet"),
        ("/api/v1/applications/thermo/telemetry/9lives".into(), StatusCode::BAD_REQUEST, "metric:"),
    ] {
        let (status, body) = call_anonymous(&e, get_as(&uri, &e.viewer)).await;
        assert_eq!(status, want, "{uri}: {body}");
        assert!(error_of(&body).contains(text), "{uri}: {body}");
    }
}

/// Answers as a device would, and records what it was asked.
#[derive(Default)]
struct FakeTerminal {
    asked: std::sync::Mutex<Vec<(String, String, Vec<u8>)>>,
}

#[async_trait::async_trait]
impl wasmbed_api::Terminal for FakeTerminal {
    async fn run(
        &self,
        _: &str,
        _: &str,
        _: &[String],
    ) -> Result<wasmbed_api::TerminalAnswer, wasmbed_api::TerminalError> {
        Err(wasmbed_api::TerminalError::NotConnected)
    }

    async fn send_message(
        &self,
        device: &str,
        app: &str,
        payload: &[u8],
    ) -> Result<wasmbed_api::Delivery, wasmbed_api::TerminalError> {
        self.asked.lock().unwrap().push((device.into(), app.into(), payload.to_vec()));
        match device {
            "d0" => Ok(wasmbed_api::Delivery::Delivered),
            "d1" => Ok(wasmbed_api::Delivery::NoHandler),
            "d2" => Err(wasmbed_api::TerminalError::NotConnected),
            _ => Err(wasmbed_api::TerminalError::NoAnswer("timed out".into())),
        }
    }
}

#[tokio::test]
async fn messages_reach_every_targeted_device_and_bad_ones_are_refused_before_sending() {
    use wasmbed_testkit::With as _;
    let mut e = env();
    let fake = Arc::new(FakeTerminal::default());
    e.state.terminal = Some(fake.clone());
    let demo =
        |name: &str| wasmbed_testkit::device(name).with(|d| _ = d.spec.labels.insert("app".into(), "demo".into()));
    for name in ["d0", "d1", "d2"] {
        e.store.create_device(demo(name)).await.unwrap();
    }
    e.store.create_device(wasmbed_testkit::device("elsewhere")).await.unwrap();
    // d1 runs the application in a blue-green slot: the message goes there.
    let session = wasmbed_model::SessionStatus {
        apps: vec![
            wasmbed_testkit::observation("echo.r1", Some(1), wasmbed_model::AppState::Stopped),
            wasmbed_testkit::observation("echo.r2", Some(2), wasmbed_model::AppState::Running),
        ],
        ..Default::default()
    };
    e.store.patch_device_status("d1", wasmbed_model::DeviceStatusPatch::Session(session)).await.unwrap();
    e.store.put_application(&wasmbed_testkit::application("echo", "1", "00")).await.unwrap();

    let send = |body: &str| json("POST", "/api/v1/applications/echo/messages", body);
    let (status, body) = call(&e, send(r#"{"payload":"hi"}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v,
        serde_json::json!([
            {"device": "d0", "delivery": "delivered"},
            {"device": "d1", "delivery": "no-handler"},
            {"device": "d2", "error": "not connected"},
        ])
    );
    let mut asked = fake.asked.lock().unwrap().clone();
    asked.sort();
    let slots: Vec<(&str, &str)> = asked.iter().map(|(d, a, _)| (d.as_str(), a.as_str())).collect();
    assert_eq!(slots, [("d0", "echo"), ("d1", "echo.r2"), ("d2", "echo")]);
    assert!(asked.iter().all(|(_, _, p)| p == b"hi"));

    // One device, a binary payload.
    let (status, body) = call(&e, send(r#"{"device":"d0","payloadBase64":"AP8="}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, r#"[{"device":"d0","delivery":"delivered"}]"#);
    assert_eq!(fake.asked.lock().unwrap().last().unwrap().2, [0, 255]);
    let sent = fake.asked.lock().unwrap().len();

    let at_limit = format!(r#"{{"device":"d0","payload":"{}"}}"#, "x".repeat(wasmbed_api::MAX_MESSAGE_LEN));
    assert_eq!(call(&e, send(&at_limit)).await.0, StatusCode::OK, "the limit itself is fine");
    let sent = sent + 1;
    let over = format!(r#"{{"payload":"{}"}}"#, "x".repeat(wasmbed_api::MAX_MESSAGE_LEN + 1));
    let over64 = format!(r#"{{"payloadBase64":"{}"}}"#, "AAAA".repeat(86));
    let to_nope = json("POST", "/api/v1/applications/nope/messages", r#"{"payload":"x"}"#);
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (send(&over), StatusCode::BAD_REQUEST, "payload: a message of 257 bytes exceeds the limit of 256"),
        (send(&over64), StatusCode::BAD_REQUEST, "payloadBase64: a message of 258 bytes exceeds the limit of 256"),
        (send(r#"{"payload":"a","payloadBase64":"YQ=="}"#), StatusCode::BAD_REQUEST, "not both"),
        (send(r#"{"device":"d0"}"#), StatusCode::BAD_REQUEST, "payload: missing"),
        (send(r#"{"payloadBase64":"not base64!"}"#), StatusCode::BAD_REQUEST, "payloadBase64: not valid base64"),
        (send(r#"{"payload":"x","devices":"d0"}"#), StatusCode::BAD_REQUEST, "unknown field `devices`"),
        (send(r#"{"payload":7}"#), StatusCode::BAD_REQUEST, "payload"),
        (to_nope, StatusCode::NOT_FOUND, "application \"nope\" not found"),
        (send(r#"{"device":"elsewhere","payload":"x"}"#), StatusCode::NOT_FOUND, "does not target \"elsewhere\""),
        (send(r#"{"device":"ghost","payload":"x"}"#), StatusCode::NOT_FOUND, "device: \"ghost\" not found"),
        (with_token(send(r#"{"payload":"x"}"#), &e.viewer), StatusCode::FORBIDDEN, "operator"),
    ];
    for (req, want, text) in cases {
        let (status, body) = call(&e, req).await;
        assert_eq!(status, want, "{text}: {body}");
        assert!(error_of(&body).contains(text), "{text}: {body}");
    }
    assert_eq!(fake.asked.lock().unwrap().len(), sent, "nothing was sent for a refused request");

    // Audited as app.send, with what was sent and how it went.
    let (_, audit) = call(&e, get("/api/v1/audit?action=app.send")).await;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&audit).unwrap();
    let last = entries.iter().find(|e| e["detail"].as_str().is_some_and(|d| d.contains("\"hi\""))).unwrap();
    assert_eq!(last["outcome"], "ok");
    assert_eq!(last["detail"], "\"hi\" to every device: delivered on 1 of 3");
    assert!(entries.iter().any(|e| e["status"] == 400), "refusals are audited too");

    // A platform without device sessions says so.
    e.state.terminal = None;
    let (status, body) = call(&e, send(r#"{"payload":"x"}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn metrics_export_fleet_aggregates_and_no_series_per_device() {
    let e = env();
    let book = &e.state.telemetry;
    book.record((0..100).map(|i| sample(&format!("dev-{i:03}"), "thermo", "temp_c", 1000 + i, i as f64)));
    book.record((0..100).map(|i| sample(&format!("dev-{i:03}"), "thermo", "temp_c", 2000 + i, 1.0 + i as f64)));
    book.record([sample("odd-0", "we\"ird\\app", "x.y", 5, 1.5)]);
    book.dropped_by_device(7);
    let (status, text) = call_anonymous(&e, get_as("/metrics", &e.viewer)).await;
    assert_eq!(status, StatusCode::OK);
    let value = |series: &str| -> f64 {
        let line = text.lines().find_map(|l| l.strip_prefix(series)).unwrap_or_else(|| panic!("{series} in:\n{text}"));
        line.trim().parse().unwrap()
    };
    // Each device's latest value: 1..=100.
    for (stat, want) in [("min", 1.0), ("mean", 50.5), ("max", 100.0)] {
        let got = value(&format!(r#"wasmbed_app_metric{{app="thermo",metric="temp_c",stat="{stat}"}} "#));
        assert!((got - want).abs() < 1e-9, "{stat}: {got}");
    }
    for line in [
        r#"wasmbed_app_metric_devices{app="thermo",metric="temp_c"} 100"#,
        r#"wasmbed_app_metric{app="we\"ird\\app",metric="x.y",stat="max"} 1.5"#,
        "wasmbed_telemetry_samples_total 201",
        r#"wasmbed_telemetry_dropped_total{by="device"} 7"#,
        r#"wasmbed_telemetry_dropped_total{by="platform"} 0"#,
        "# TYPE wasmbed_telemetry_store_bytes gauge",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let bytes = text.lines().find_map(|l| l.strip_prefix("wasmbed_telemetry_store_bytes ")).unwrap();
    assert!(bytes.parse::<u64>().unwrap() > 0);
    assert!(!text.contains("dev-"), "no series names a device:\n{text}");
    let telemetry_series =
        text.lines().filter(|l| l.starts_with("wasmbed_app_metric") || l.starts_with("wasmbed_telemetry")).count();
    assert_eq!(telemetry_series, 2 * 3 + 2 + 1 + 2 + 1 + 1, "a handful of series for 100 devices:\n{text}");
    assert!(text.lines().any(|l| l == "wasmbed_telemetry_points 201"), "{text}");
}

/// Reads SSE frames from `body` until an event named `name` arrives.
async fn next_event(body: &mut Body, name: &str) -> serde_json::Value {
    let mut text = String::new();
    let want = format!("event: {name}\n");
    loop {
        if let Some(start) = text.find(&want) {
            let rest = &text[start + want.len()..];
            if let Some(end) = rest.find("\n\n") {
                let data = rest[..end].strip_prefix("data: ").unwrap();
                return serde_json::from_str(data).unwrap();
            }
        }
        let frame = tokio::time::timeout(std::time::Duration::from_secs(10), body.frame()).await;
        let frame = frame.unwrap_or_else(|_| panic!("no {name} event in:\n{text}")).unwrap().unwrap();
        if let Ok(bytes) = frame.into_data() {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
}

#[tokio::test]
async fn samples_go_out_on_the_event_stream_as_telemetry_events() {
    let e = env();
    let open = || async {
        let resp = router(e.state.clone()).oneshot(get_as("/api/v1/events", &e.viewer)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.into_body()
    };
    let (mut one, mut two) = (open().await, open().await);
    next_event(&mut one, "snapshot").await;
    next_event(&mut two, "snapshot").await;
    e.state.telemetry.record([sample("t1", "thermo", "temp_c", 1234, 21.5)]);
    let want =
        serde_json::json!({"device":"t1","app":"thermo","revision":null,"metric":"temp_c","tMs":1234,"value":21.5});
    assert_eq!(next_event(&mut one, "telemetry").await, want);
    assert_eq!(next_event(&mut two, "telemetry").await, want, "every client gets it");
}

/// An emulator as the API sees it: `q-off` is not running, every other
/// device runs and its sensors read what was last set (0 at first).
#[derive(Default)]
struct FakeSensors {
    value: std::sync::Mutex<f64>,
}

#[async_trait::async_trait]
impl wasmbed_model::Sensors for FakeSensors {
    async fn set(&self, device: &str, sensor: &str, value: f64) -> Result<f64, wasmbed_model::SensorError> {
        self.get(device, sensor).await?;
        *self.value.lock().unwrap() = value;
        Ok(value)
    }

    async fn get(&self, device: &str, _: &str) -> Result<f64, wasmbed_model::SensorError> {
        if device == "q-off" {
            return Err(wasmbed_model::SensorError::NotRunning { device: device.into(), why: "stopped".into() });
        }
        Ok(*self.value.lock().unwrap())
    }
}

/// The `error` of an error answer.
fn said(body: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    v["error"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn sensors_are_declared_at_creation_set_read_and_bad_input_is_named() {
    let mut e = env();
    let create = |body: &str| json("POST", "/api/v1/devices", body);
    let temp0 = r#"{"name":"temp0","kind":"tmp105","at":"i2c:0:0x48","initial":21.5}"#;
    // Malformed peripherals: refused naming the field, nothing created.
    for (body, text) in [
        (
            r#"{"name":"x","board":"olimex-stm32-h405","peripherals":[{"name":"t","kind":"tmp105","at":"i2c:0:0x48"}]}"#,
            "spec.peripherals[0].at: \"i2c:0:0x48\": board olimex-stm32-h405 has no such bus",
        ),
        (
            r#"{"name":"x","board":"mps2-an385","peripherals":[{"name":"t","kind":"tmp105","at":"i2c:1:0x48"}]}"#,
            "spec.peripherals[0].at",
        ),
        (
            r#"{"name":"x","peripherals":[{"name":"t","kind":"tmp105","at":"i2c:0:0x48","initial":300}]}"#,
            "spec.peripherals[0].initial",
        ),
        (r#"{"name":"x","peripherals":[{"name":"T","kind":"tmp105","at":"i2c:0:0x48"}]}"#, "spec.peripherals[0].name"),
        (r#"{"name":"x","peripherals":[{"name":"t","kind":"bmp280","at":"i2c:0:0x48"}]}"#, "peripherals[0].kind"),
        (r#"{"name":"x","peripherals":[{"name":"t","kind":"tmp105"}]}"#, "at"),
    ] {
        let (status, resp) = call(&e, create(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {resp}");
        assert!(said(&resp).contains(text), "{body}: {resp}");
    }
    assert!(e.store.list_devices().await.unwrap().is_empty());
    for body in [
        format!(r#"{{"name":"q1","board":"mps2-an385","peripherals":[{temp0}]}}"#),
        format!(r#"{{"name":"q-off","board":"mps2-an385","peripherals":[{temp0}]}}"#),
        r#"{"name":"bare","board":"mps2-an385"}"#.to_string(),
    ] {
        let (status, resp) = call(&e, create(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{resp}");
    }
    let q1 = e.store.get_device("q1").await.unwrap().unwrap();
    assert_eq!(q1.spec.peripherals[0].initial, Some(wasmbed_model::Gauge(21.5)));

    let put = |uri: &str, body: &str| json("PUT", uri, body);
    // Without an emulator on this platform: 503, after the checks any platform can make.
    let (status, resp) = call(&e, put("/api/v1/devices/q1/sensors/temp0", r#"{"value":31.5}"#)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{resp}");
    assert!(said(&resp).contains("no emulator on this platform"), "{resp}");
    let (status, resp) = call(&e, get("/api/v1/devices/q1/sensors")).await;
    assert_eq!(status, StatusCode::OK);
    let list: Vec<serde_json::Value> = serde_json::from_str(&resp).unwrap();
    assert!(list[0]["value"].is_null() && list[0]["error"].as_str().unwrap().contains("no emulator"), "{resp}");

    e.state.sensors = Some(Arc::new(FakeSensors::default()));
    for (req, want, text) in [
        (
            put("/api/v1/devices/q1/sensors/temp9", r#"{"value":30}"#),
            StatusCode::NOT_FOUND,
            "device q1 has no sensor \"temp9\"; attached: temp0",
        ),
        (
            put("/api/v1/devices/bare/sensors/temp0", r#"{"value":30}"#),
            StatusCode::NOT_FOUND,
            "it has no sensors attached",
        ),
        (
            put("/api/v1/devices/nope/sensors/temp0", r#"{"value":30}"#),
            StatusCode::NOT_FOUND,
            "device \"nope\" not found",
        ),
        (
            put("/api/v1/devices/q1/sensors/temp0", r#"{"value":200}"#),
            StatusCode::BAD_REQUEST,
            "outside what a tmp105 measures (-55 to 125 °C)",
        ),
        (put("/api/v1/devices/q1/sensors/temp0", r#"{"value":"hot"}"#), StatusCode::BAD_REQUEST, "value"),
        (put("/api/v1/devices/q1/sensors/temp0", r#"{}"#), StatusCode::BAD_REQUEST, "value"),
        (put("/api/v1/devices/q1/sensors/temp0", r#"{"value":30,"unit":"F"}"#), StatusCode::BAD_REQUEST, "unit"),
        (
            put("/api/v1/devices/q-off/sensors/temp0", r#"{"value":30}"#),
            StatusCode::CONFLICT,
            "q-off is not running: stopped",
        ),
        (get("/api/v1/devices/q1/sensors/temp9"), StatusCode::NOT_FOUND, "attached: temp0"),
        (get("/api/v1/devices/q-off/sensors/temp0"), StatusCode::CONFLICT, "not running"),
        (get("/api/v1/devices/nope/sensors"), StatusCode::NOT_FOUND, "not found"),
    ] {
        let what = format!("{} {}", req.method(), req.uri());
        let (status, resp) = call(&e, req).await;
        assert_eq!(status, want, "{what}: {resp}");
        assert!(said(&resp).contains(text), "{what}: {resp}");
    }
    let as_viewer = with_token(put("/api/v1/devices/q1/sensors/temp0", r#"{"value":30}"#), &e.viewer);
    assert_eq!(call_anonymous(&e, as_viewer).await.0, StatusCode::FORBIDDEN);

    let (status, resp) = call(&e, put("/api/v1/devices/q1/sensors/temp0", r#"{"value":31.5}"#)).await;
    assert_eq!(status, StatusCode::OK, "{resp}");
    let reading: wasmbed_model::SensorReading = serde_json::from_str(&resp).unwrap();
    assert_eq!((reading.value, reading.unit.as_str(), reading.quantity.as_str()), (Some(31.5), "°C", "temperature"));
    let (_, resp) = call_anonymous(&e, get_as("/api/v1/devices/q1/sensors/temp0", &e.viewer)).await;
    assert_eq!(serde_json::from_str::<wasmbed_model::SensorReading>(&resp).unwrap().value, Some(31.5));
    let (_, resp) = call_anonymous(&e, get_as("/api/v1/devices/q-off/sensors", &e.viewer)).await;
    let list: Vec<wasmbed_model::SensorReading> = serde_json::from_str(&resp).unwrap();
    assert_eq!(list[0].value, None);
    assert!(list[0].error.as_deref().is_some_and(|e| e.contains("not running")), "{resp}");

    // Every attempt to set one is audited, with the value asked for.
    let (_, body) = call(&e, get("/api/v1/audit?action=device.sensor")).await;
    let entries: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let first = &entries[0];
    assert_eq!((first["outcome"].as_str(), first["target"].as_str()), (Some("ok"), Some("q1")));
    assert_eq!(first["detail"].as_str(), Some("temp0 = 31.5"));
    let refused = entries.iter().filter(|e| e["outcome"] == "refused").count();
    assert_eq!(refused, 8, "{body}");
    assert!(entries.iter().any(|e| e["outcome"] == "denied"));
}

#[tokio::test]
async fn modules_over_a_board_budget_are_refused_at_upload_and_deploy_naming_the_limit() {
    let e = env();
    // No board runs 19,800 globals (the module that reset every MPS2
    // device): refused at upload, naming the limit.
    let globals = "(global (mut i64) (i64.const 0))".repeat(19_800);
    let globals = wat::parse_str(format!(r#"(module {globals} (func (export "init")))"#)).unwrap();
    let (status, body) = call(&e, post_bytes("/api/v1/modules", globals)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("globals") && body.contains("the largest"), "{body}");
    // Nor a table of a million elements.
    let table = wat::parse_str(r#"(module (table 1000000 funcref) (func (export "init")))"#).unwrap();
    let (status, body) = call(&e, post_bytes("/api/v1/modules", table)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("table elements"), "{body}");
    // A module an MPS2 board holds but the 128 KiB-RAM board does not:
    // stored, and refused at deploy naming the device, its board and the limit.
    for body in [
        r#"{"name": "m1", "board": "mps2-an385", "labels": {"fleet": "lab", "kind": "mps2"}}"#,
        r#"{"name": "o1", "board": "olimex-stm32-h405", "labels": {"fleet": "lab"}}"#,
    ] {
        assert_eq!(call(&e, json("POST", "/api/v1/devices", body)).await.0, StatusCode::CREATED, "{body}");
    }
    let filler = "x".repeat(60 * 1024);
    let big = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "{filler}") (func (export "init")))"#
    ))
    .unwrap();
    let d = digest(&big);
    assert_eq!(call(&e, post_bytes("/api/v1/modules", big)).await.0, StatusCode::CREATED);
    let put = |selector: &str| {
        json("PUT", "/api/v1/applications/big", &format!(r#"{{"version":"1","digest":"{d}","selector":"{selector}"}}"#))
    };
    let (status, body) = call(&e, put("fleet=lab")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("o1 (olimex-stm32-h405)") && body.contains("data segment bytes"), "{body}");
    assert!(!body.contains("m1 ("), "{body}");
    assert!(e.store.list_applications().await.unwrap().is_empty());
    let (status, body) = call(&e, put("kind=mps2")).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn edge_components_are_checked_at_upload_and_deploy_as_a_gateway_would() {
    let e = env();
    let probe = wasmbed_testkit::edge_component("probe");
    let p = digest(&probe);
    let (status, body) = call(&e, post_bytes("/api/v1/modules", probe)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.contains("wasmbed:edge/kv@0.1.0"), "its imports are listed: {body}");
    // A component that does not compile is refused at upload.
    let mut broken = wasmbed_testkit::edge_component("probe");
    broken.truncate(broken.len() / 2);
    let (status, body) = call(&e, post_bytes("/api/v1/modules", broken)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let m = good_module();
    let d = digest(&m);
    assert_eq!(call(&e, post_bytes("/api/v1/modules", m)).await.0, StatusCode::CREATED);

    let put = |name: &str, body: String| json("PUT", &format!("/api/v1/applications/{name}"), &body);
    let caps = r#""capabilities":["log","config","kv","telemetry"]"#;
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        // One grant short: the import is named.
        (
            put(
                "e",
                format!(r#"{{"version":"1","digest":"{p}","runtime":"edge","capabilities":["log","config","kv"]}}"#),
            ),
            StatusCode::UNPROCESSABLE_ENTITY,
            "imports wasmbed:edge/telemetry@0.1.0, but the application was not granted `telemetry`",
        ),
        // A device capability is no edge capability.
        (
            put("e", format!(r#"{{"version":"1","digest":"{p}","runtime":"edge","capabilities":["gpio:led0"]}}"#)),
            StatusCode::BAD_REQUEST,
            "spec.capabilities",
        ),
        // A core module is not a component, and a component not a module.
        (
            put("e", format!(r#"{{"version":"1","digest":"{d}","runtime":"edge"}}"#)),
            StatusCode::UNPROCESSABLE_ENTITY,
            "not a WebAssembly component",
        ),
        (put("e", format!(r#"{{"version":"1","digest":"{p}",{caps}}}"#)), StatusCode::BAD_REQUEST, "spec.capabilities"),
        // WASI is granted whole, as `wasi`, not by interface.
        (
            put("e", format!(r#"{{"version":"1","digest":"{p}","runtime":"edge","capabilities":["wasi:cli"]}}"#)),
            StatusCode::BAD_REQUEST,
            "spec.capabilities",
        ),
        (
            put("e", format!(r#"{{"version":"1","digest":"{p}","runtime":"cloud"}}"#)),
            StatusCode::BAD_REQUEST,
            "runtime",
        ),
        // Native code is for device apps, and named one of three ways.
        (
            put("e", format!(r#"{{"version":"1","digest":"{p}","runtime":"edge","execution":"native",{caps}}}"#)),
            StatusCode::BAD_REQUEST,
            "spec.execution",
        ),
        (
            put("e", format!(r#"{{"version":"1","digest":"{d}","execution":"fast"}}"#)),
            StatusCode::BAD_REQUEST,
            "execution",
        ),
    ];
    for (req, want, text) in cases {
        let (status, body) = call(&e, req).await;
        assert_eq!(status, want, "{body}");
        assert!(body.contains(text), "{text:?} not in {body}");
    }
    assert!(e.state.store.get_application("e").await.unwrap().is_none(), "nothing written");

    let (status, body) =
        call(&e, put("e", format!(r#"{{"version":"1","digest":"{p}","runtime":"edge",{caps}}}"#))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.contains(r#""runtime":"edge""#), "{body}");
    // Its runtime cannot change.
    let (status, body) = call(&e, put("e", format!(r#"{{"version":"2","digest":"{d}"}}"#))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("spec.runtime"), "{body}");
    // A device app asking for native code keeps it in its spec.
    let (status, body) = call(&e, put("n", format!(r#"{{"version":"1","digest":"{d}","execution":"auto"}}"#))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body.contains(r#""execution":"auto""#), "{body}");
}
