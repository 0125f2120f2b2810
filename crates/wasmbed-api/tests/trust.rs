//! Trust at the API's door, through the router without a socket: tokens
//! that expire, a token in a URL taken on the event stream only, event
//! streams that end with their token, audit entries that name the token,
//! the resource and the facts, and a chain the API checks.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use wasmbed_api::{ApiState, Role, router};
use wasmbed_model::Store;

struct Env {
    tmp: tempfile::TempDir,
    state: ApiState,
    store: Arc<dyn Store>,
    /// The API's wall clock, moved by the test.
    now: Arc<Mutex<SystemTime>>,
    admin: String,
    viewer: String,
}

fn env() -> Env {
    let now = Arc::new(Mutex::new(SystemTime::now()));
    let clock = now.clone();
    let f = common::fixture(rand_bytes, |st, _| st.now = Arc::new(move || *clock.lock().unwrap()));
    Env { tmp: f.tmp, state: f.state, store: f.store, now, admin: f.admin, viewer: f.viewer }
}

/// Distinct bytes per call (token secrets must differ).
fn rand_bytes() -> [u8; 32] {
    static N: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(100);
    [N.fetch_add(1, std::sync::atomic::Ordering::Relaxed); 32]
}

fn req(method: &str, uri: &str, token: Option<&str>, body: Option<&str>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    match body {
        Some(json) => b.header("content-type", "application/json").body(Body::from(json.to_string())).unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

async fn call(e: &Env, r: Request<Body>) -> (StatusCode, Value) {
    let resp = router(e.state.clone()).oneshot(r).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// A token made through the API; returns (id, secret).
async fn make_token(e: &Env, body: &str) -> (String, String) {
    let (status, created) = call(e, req("POST", "/api/v1/tokens", Some(&e.admin), Some(body))).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    (created["id"].as_str().unwrap().into(), created["token"].as_str().unwrap().into())
}

async fn audit(e: &Env, action: &str) -> Vec<Value> {
    let (status, entries) = call(e, req("GET", &format!("/api/v1/audit?action={action}"), Some(&e.admin), None)).await;
    assert_eq!(status, StatusCode::OK);
    entries.as_array().unwrap().clone()
}

#[tokio::test]
async fn a_token_with_a_lifetime_works_until_it_then_is_refused_saying_it_expired() {
    let e = env();
    let (id, ci) = make_token(&e, r#"{"name":"ci","role":"operator","lifetimeSecs":3600}"#).await;
    let (_, list) = call(&e, req("GET", "/api/v1/tokens", Some(&e.admin), None)).await;
    let listed = list.as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    let created_ms = listed["createdMs"].as_u64().unwrap();
    assert_eq!(listed["expiresMs"].as_u64(), Some(created_ms + 3_600_000), "{listed}");
    let admin = list.as_array().unwrap().iter().find(|t| t["role"] == "admin").unwrap().clone();
    assert!(admin["expiresMs"].is_null(), "the first admin token never expires: {admin}");

    assert_eq!(call(&e, req("GET", "/api/v1/devices", Some(&ci), None)).await.0, StatusCode::OK);
    *e.now.lock().unwrap() += Duration::from_secs(3600);
    let (status, body) = call(&e, req("POST", "/api/v1/devices", Some(&ci), Some(r#"{"name":"d1"}"#))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("\"ci\"") && error.contains("expired"), "{error}");
    assert!(e.store.get_device("d1").await.unwrap().is_none(), "nothing done");
    // The refusal is audited under the expired token's name and id.
    let entries = audit(&e, "device.create").await;
    assert_eq!((entries[0]["actor"].as_str(), entries[0]["tokenId"].as_str()), (Some("ci"), Some(id.as_str())));
    assert_eq!(entries[0]["outcome"], "denied");
    // The admin token still works at the same moment.
    assert_eq!(call(&e, req("GET", "/api/v1/tokens", Some(&e.admin), None)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_lifetimes_are_refused_naming_the_field_and_make_no_token() {
    let e = env();
    let before = e.state.tokens.list().len();
    for bad in ["-5", "0", "59", "31622401", "18446744073709551615", "1e30", "\"1h\"", "null"] {
        let body = format!(r#"{{"name":"ci","role":"viewer","lifetimeSecs":{bad}}}"#);
        let (status, answer) = call(&e, req("POST", "/api/v1/tokens", Some(&e.admin), Some(&body))).await;
        if bad == "null" {
            // Left out, as JSON allows: a token until revoked.
            assert_eq!(status, StatusCode::CREATED, "{answer}");
            continue;
        }
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("lifetimeSecs"), "{bad}: {answer}");
    }
    assert_eq!(e.state.tokens.list().len(), before + 1, "only the one without a lifetime");
    // The platform keeps answering.
    assert_eq!(call(&e, req("GET", "/api/v1/tokens", Some(&e.admin), None)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_token_in_the_url_is_taken_on_the_event_stream_and_refused_everywhere_else() {
    let e = env();
    let events = router(e.state.clone())
        .oneshot(req("GET", &format!("/api/v1/events?token={}", e.viewer), None, None))
        .await
        .unwrap();
    assert_eq!(events.status(), StatusCode::OK);
    drop(events);
    for (method, uri, body) in [
        ("GET", "/api/v1/status", None),
        ("GET", "/api/v1/openapi.json", None),
        ("GET", "/metrics", None),
        ("POST", "/api/v1/devices", Some(r#"{"name":"d1"}"#)),
        ("GET", "/api/v1/events/", None),
        ("GET", "/", None),
    ] {
        let uri = format!("{uri}?token={}", e.admin);
        let (status, answer) = call(&e, req(method, &uri, None, body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains("accepted on /api/v1/events only"), "{answer}");
        // Even beside a valid header: the secret is already in a URL.
        let (status, _) = call(&e, req(method, &uri, Some(&e.admin), body)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} with a header too");
    }
    assert!(e.store.get_device("d1").await.unwrap().is_none());
    assert_eq!(call(&e, req("GET", "/api/v1/status", Some(&e.viewer), None)).await.0, StatusCode::OK);
}

/// Reads the stream until an event named `name`, or its end (`None`).
async fn next_event(body: &mut Body, name: &str) -> Option<String> {
    let mut text = String::new();
    let want = format!("event: {name}\n");
    loop {
        if let Some(start) = text.find(&want) {
            return Some(text[start..].to_string());
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame()).await;
        match frame.unwrap_or_else(|_| panic!("neither a {name} event nor the end in:\n{text}")) {
            None => return None,
            Some(f) => {
                if let Ok(bytes) = f.unwrap().into_data() {
                    text.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
    }
}

#[tokio::test]
async fn revoking_a_token_ends_its_event_streams_and_no_other() {
    let e = env();
    let (id, ci) = make_token(&e, r#"{"name":"ci","role":"viewer"}"#).await;
    let open = |token: String| {
        let st = e.state.clone();
        async move {
            let resp = router(st).oneshot(req("GET", "/api/v1/events", Some(&token), None)).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            resp.into_body()
        }
    };
    let (mut revoked, mut kept) = (open(ci.clone()).await, open(e.viewer.clone()).await);
    let by_query =
        router(e.state.clone()).oneshot(req("GET", &format!("/api/v1/events?token={ci}"), None, None)).await.unwrap();
    let mut by_query = by_query.into_body();
    for body in [&mut revoked, &mut kept, &mut by_query] {
        assert!(next_event(body, "snapshot").await.is_some());
    }
    // Another token's creation writes the token file too: nothing ends.
    make_token(&e, r#"{"name":"other","role":"viewer"}"#).await;
    let (status, _) = call(&e, req("DELETE", &format!("/api/v1/tokens/{id}"), Some(&e.admin), None)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(next_event(&mut revoked, "never").await, None, "the revoked token's stream ended");
    assert_eq!(next_event(&mut by_query, "never").await, None, "opened by query, ended too");
    // The other stream still carries changes.
    let (status, _) = call(&e, req("POST", "/api/v1/devices", Some(&e.admin), Some(r#"{"name":"d1"}"#))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(next_event(&mut kept, "device").await.unwrap().contains("d1"));
    // A stream opened with a revoked token is refused outright.
    assert_eq!(call(&e, req("GET", "/api/v1/events", Some(&ci), None)).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn audit_entries_name_the_token_the_resource_and_the_key_facts() {
    let e = env();
    let admin_id = e.state.tokens.list().into_iter().find(|t| t.role == Role::Admin).unwrap().id;
    let module = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "init")))"#).unwrap();
    let upload = Request::post("/api/v1/modules")
        .header("authorization", format!("Bearer {}", e.admin))
        .body(Body::from(module.clone()))
        .unwrap();
    let (status, info) = call(&e, upload).await;
    assert_eq!(status, StatusCode::CREATED, "{info}");
    let digest = info["digest"].as_str().unwrap().to_string();
    let deploy = format!(r#"{{"version":"1.2.0","digest":"{digest}","capabilities":[]}}"#);
    let (status, app) = call(&e, req("PUT", "/api/v1/applications/blinky", Some(&e.admin), Some(&deploy))).await;
    assert_eq!(status, StatusCode::CREATED, "{app}");
    let (id, _) = make_token(&e, r#"{"name":"ci","role":"operator","lifetimeSecs":600}"#).await;
    call(&e, req("DELETE", &format!("/api/v1/tokens/{id}"), Some(&e.admin), None)).await;
    call(&e, req("POST", "/api/v1/devices", Some(&e.admin), Some(r#"{"name":"d1","board":"sim"}"#))).await;

    let one = |entries: Vec<Value>| entries.into_iter().next().unwrap();
    let up = one(audit(&e, "module.upload").await);
    assert_eq!((up["tokenId"].as_str(), up["role"].as_str()), (Some(admin_id.as_str()), Some("admin")));
    assert_eq!(up["target"], digest.as_str());
    assert_eq!(up["facts"]["size"], module.len().to_string());
    let dep = one(audit(&e, "app.deploy").await);
    assert_eq!(dep["target"], "blinky");
    assert_eq!((dep["facts"]["version"].as_str(), dep["facts"]["digest"].as_str()), (Some("1.2.0"), Some(&*digest)));
    let created = one(audit(&e, "token.create").await);
    assert_eq!(created["target"], id.as_str());
    assert_eq!((created["facts"]["role"].as_str(), created["facts"]["name"].as_str()), (Some("operator"), Some("ci")));
    assert!(created["facts"]["expiresMs"].is_string(), "{created}");
    let revoked = one(audit(&e, "token.revoke").await);
    assert_eq!((revoked["target"].as_str(), revoked["facts"]["role"].as_str()), (Some(id.as_str()), Some("operator")));
    let device = one(audit(&e, "device.create").await);
    assert_eq!((device["target"].as_str(), device["facts"]["board"].as_str()), (Some("d1"), Some("sim")));
}

#[tokio::test]
async fn the_api_checks_its_audit_chain_and_names_a_changed_line() {
    let e = env();
    for name in ["d1", "d2", "d3"] {
        let body = format!(r#"{{"name":"{name}"}}"#);
        call(&e, req("POST", "/api/v1/devices", Some(&e.admin), Some(&body))).await;
    }
    let verify = || call(&e, req("GET", "/api/v1/audit/verify", Some(&e.admin), None));
    let (status, check) = verify().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((check["intact"].as_bool(), check["verified"]["chained"].as_u64()), (Some(true), Some(3)), "{check}");
    // Viewers may not.
    assert_eq!(call(&e, req("GET", "/api/v1/audit/verify", Some(&e.viewer), None)).await.0, StatusCode::FORBIDDEN);

    let path = e.tmp.path().join("audit.log");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen(r#""target":"d2""#, r#""target":"dX""#, 1)).unwrap();
    let (_, check) = verify().await;
    assert_eq!((check["intact"].as_bool(), check["line"].as_u64()), (Some(false), Some(3)), "{check}");
    assert!(check["problem"].as_str().unwrap().contains("line 2 was changed"), "{check}");
    // Cut at its end, the file alone looks whole; the API knows better.
    let cut: String = text.lines().take(2).map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, cut).unwrap();
    let (_, check) = verify().await;
    assert_eq!(check["intact"], false, "{check}");
    assert!(check["problem"].as_str().unwrap().contains("removed from the end"), "{check}");
}
