//! A scripted API server: each exchange names the request expected
//! (method, path, optionally a check of its body) and the canned answer.
//! The server fails the test on the first request that is not the next one
//! in the script, and when the script is not used up.

// Test support: a broken script should panic loudly.
#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};

pub const NS: &str = "wasmbed";

type Check = Box<dyn Fn(&Value, &Request<()>) + Send>;

/// One request and its answer.
pub struct Exchange {
    method: Method,
    path: String,
    check: Option<Check>,
    status: StatusCode,
    body: Vec<u8>,
}

impl Exchange {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self { method, path: path.into(), check: None, status: StatusCode::OK, body: b"{}".to_vec() }
    }

    /// Checks the request body (as JSON; `null` when empty) and head.
    pub fn check(mut self, f: impl Fn(&Value, &Request<()>) + Send + 'static) -> Self {
        self.check = Some(Box::new(f));
        self
    }

    pub fn reply(mut self, status: u16, body: &Value) -> Self {
        self.status = StatusCode::from_u16(status).unwrap();
        self.body = serde_json::to_vec(body).unwrap();
        self
    }

    pub fn reply_raw(mut self, status: u16, body: &str) -> Self {
        self.status = StatusCode::from_u16(status).unwrap();
        self.body = body.as_bytes().to_vec();
        self
    }

    /// The request expected: method and path.
    pub fn request(&self) -> (&Method, &str) {
        (&self.method, &self.path)
    }
}

/// A `Status` answer as the API server writes it.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason, "message": message })
}

pub fn path(kind: &str, name: Option<&str>, sub: Option<&str>) -> String {
    let base = match kind {
        "configmaps" | "pods" | "secrets" => format!("/api/v1/namespaces/{NS}/{kind}"),
        _ => format!("/apis/wasmbed.io/v1alpha1/namespaces/{NS}/{kind}"),
    };
    match (name, sub) {
        (Some(n), Some(s)) => format!("{base}/{n}/{s}"),
        (Some(n), None) => format!("{base}/{n}"),
        _ => base,
    }
}

/// A client whose API server plays `script`; await the handle to check the
/// whole script was played.
pub fn scripted(script: Vec<Exchange>) -> (Client, tokio::task::JoinHandle<()>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        for (i, ex) in script.into_iter().enumerate() {
            let next = tokio::time::timeout(Duration::from_secs(5), handle.next_request()).await;
            let Ok(Some((request, reply))) = next else {
                panic!("exchange {i}: expected {} {}, but no request came", ex.method, ex.path)
            };
            let (head, body) = request.into_parts();
            assert_eq!(
                (&head.method, head.uri.path()),
                (&ex.method, ex.path.as_str()),
                "exchange {i}: unexpected request {}",
                head.uri
            );
            let bytes = body.collect_bytes().await.unwrap();
            let json = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap() };
            if let Some(check) = &ex.check {
                check(&json, &Request::from_parts(head, ()));
            }
            reply.send_response(Response::builder().status(ex.status).body(Body::from(ex.body)).unwrap());
        }
    });
    (Client::new(service, NS), server)
}

/// Finishes a scenario: the script must have been played to the end.
pub async fn done(server: tokio::task::JoinHandle<()>) {
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("script not finished").expect("script failed");
}

/// A Device object as the API server returns it.
pub fn device_json(name: &str, rv: u64, board: &str) -> Value {
    json!({
        "apiVersion": "wasmbed.io/v1alpha1", "kind": "Device",
        "metadata": { "name": name, "namespace": NS, "resourceVersion": rv.to_string(), "generation": 1,
                      "uid": format!("uid-{name}"), "creationTimestamp": "2026-01-01T00:00:00Z" },
        "spec": { "board": board, "labels": {} },
    })
}
