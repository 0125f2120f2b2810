//! Handlers without a socket (`oneshot`): bad input gets a clear status and
//! message, and nothing is written to the store; tokens and roles gate every
//! route; the audit log records what was done and refused.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use wasmbed_api::{ApiState, AuditLog, EventHub, MAX_MODULE_LEN, Role, Tokens, router};
use wasmbed_model::{LogBook, Store};

struct Env {
    _tmp: tempfile::TempDir,
    store: Arc<dyn Store>,
    state: ApiState,
    viewer: String,
    operator: String,
    admin: String,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("s.redb")).unwrap();
    let pki = Arc::new(wasmbed_pki::Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).unwrap());
    let tokens = Arc::new(Tokens::open(&tmp.path().join("tokens.json")).unwrap());
    let admin = tokens.ensure_admin([9; 32], 0).unwrap().unwrap();
    let operator = tokens.create("ops", Role::Operator, [8; 32], 0).unwrap().1;
    let viewer = tokens.create("watcher", Role::Viewer, [7; 32], 0).unwrap().1;
    let logs = Arc::new(LogBook::new(10));
    let state = ApiState {
        store: store.clone(),
        pki,
        logs: logs.clone(),
        tokens,
        audit: Arc::new(AuditLog::open(&tmp.path().join("audit.log")).unwrap()),
        events: EventHub::start(store.clone(), logs, wasmbed_model::clock::system()),
        terminal: None,
        gateway_port: 4443,
        gateway: Arc::new(Default::default),
        random: Arc::new(rand_bytes),
        now: Arc::new(SystemTime::now),
        consoles: Some(tmp.path().join("devices")),
        dashboard: None,
        counters: Arc::default(),
    };
    Env { _tmp: tmp, store, state, viewer, operator, admin }
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
        ("{\"name\": \"ok\", \"board\": \"stm32vldiscovery\"}", StatusCode::UNPROCESSABLE_ENTITY, "8 KB of RAM"),
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
    let dir = e._tmp.path().join("devices/q1");
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
    assert!(boards.contains("8 KB of RAM"), "{boards}");
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
