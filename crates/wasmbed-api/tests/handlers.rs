//! Handlers without a socket (`oneshot`): bad input gets a clear status and
//! message, and nothing is written to the store.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;
use wasmbed_api::{ApiState, MAX_MODULE_LEN, router};
use wasmbed_model::{LogBook, Store};

struct Env {
    _tmp: tempfile::TempDir,
    store: Arc<dyn Store>,
    state: ApiState,
}

fn env() -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("s.redb")).unwrap();
    let pki = Arc::new(wasmbed_pki::Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).unwrap());
    let state = ApiState {
        store: store.clone(),
        pki,
        logs: Arc::new(LogBook::new(10)),
        gateway_port: 4443,
        gateway: Arc::new(Default::default),
        random: Arc::new(|| [1; 32]),
        now: Arc::new(SystemTime::now),
        consoles: Some(tmp.path().join("devices")),
    };
    Env { _tmp: tmp, store, state }
}

async fn call(env: &Env, req: Request<Body>) -> (StatusCode, String) {
    let resp = router(env.state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
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
        (post_bytes("/api/v1/modules", b"not wasm".to_vec()), StatusCode::UNPROCESSABLE_ENTITY, "invalid WebAssembly"),
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
