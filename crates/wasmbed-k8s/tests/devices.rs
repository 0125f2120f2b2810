//! The device-Pod reconciler against a scripted API server.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::Arc;

use common::*;
use http::Method;
use serde_json::{Value, json};
use wasmbed_k8s::crd::DeviceResource;
use wasmbed_k8s::devices::{Context, DevicePodConfig, IdentityIssuer, Issued, reconcile};
use wasmbed_model::DeviceIdentity;

/// Issues a new identity per call: the n-th has fingerprint [`issued`]`(n)`.
#[derive(Default)]
struct FakeIssuer(std::sync::atomic::AtomicU64);

impl IdentityIssuer for FakeIssuer {
    fn issue(&self, device: &str, board: &str, gateway: &str) -> Result<Issued, String> {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let identity = DeviceIdentity { fingerprint: issued(n), issued_at_ms: n, not_after_ms: 1_000 + n };
        Ok(Issued { bundle: format!("WBID {device} {board} {gateway}").into_bytes(), identity })
    }
}

/// Fingerprint of the `n`-th identity the fake issuer made.
fn issued(n: u64) -> String {
    format!("{n:064x}")
}

/// Fingerprint of the identity the test devices have recorded.
const RECORDED: &str = "abababababababababababababababababababababababababababababababab";

fn ctx(script: Vec<Exchange>) -> (Arc<Context>, tokio::task::JoinHandle<()>) {
    ctx_with(script, Arc::default())
}

fn ctx_with(script: Vec<Exchange>, issuer: Arc<FakeIssuer>) -> (Arc<Context>, tokio::task::JoinHandle<()>) {
    let (client, server) = scripted(script);
    let cfg = DevicePodConfig::new("registry.example/wasmbed-device:1", "wasmbed-gateway.wasmbed.svc:4443");
    (Context::new(client, NS, cfg, issuer), server)
}

/// A device with [`RECORDED`] as its identity.
fn device(board: &str, finalizer: bool, deleting: bool) -> Value {
    let mut d = unidentified(board, finalizer, deleting);
    d["spec"]["identity"] = json!({ "fingerprint": RECORDED, "issuedAtMs": 1, "notAfterMs": 2 });
    d
}

/// A device with no identity recorded (just created, or re-created).
fn unidentified(board: &str, finalizer: bool, deleting: bool) -> Value {
    let mut d = device_json("dev-1", 5, board);
    if finalizer {
        d["metadata"]["finalizers"] = json!(["wasmbed.io/cleanup"]);
    }
    if deleting {
        d["metadata"]["deletionTimestamp"] = json!("2026-01-02T00:00:00Z");
    }
    d
}

fn obj(v: &Value) -> Arc<DeviceResource> {
    Arc::new(serde_json::from_value(v.clone()).unwrap())
}

fn not_found() -> Value {
    status(404, "NotFound", "not found")
}

const POD: &str = "wasmbed-device-dev-1";
const IDENTITY: &str = "wasmbed-device-dev-1-identity";

/// Reconciles `d` once against an API server playing `script` to the end.
async fn reconciles(d: &Value, script: Vec<Exchange>) {
    let (ctx, server) = ctx(script);
    reconcile(obj(d), ctx).await.unwrap();
    done(server).await;
}

fn get_identity() -> Exchange {
    Exchange::new(Method::GET, path("secrets", Some(IDENTITY), None))
}

/// The identity Secret is there already, holding [`RECORDED`].
fn identity_found() -> Exchange {
    get_identity().reply(200, &secret(Some(RECORDED)))
}

fn secret(fingerprint: Option<&str>) -> Value {
    let mut s = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": IDENTITY } });
    if let Some(f) = fingerprint {
        s["metadata"]["annotations"] = json!({ "wasmbed.io/identity-fingerprint": f });
    }
    s
}

/// A new identity, the `n`-th issued: its Secret is created, then it is
/// recorded on the device (read, read again for the version, replaced).
fn new_identity(d: &Value, n: u64) -> Vec<Exchange> {
    let mut recorded = d.clone();
    recorded["spec"]["identity"] = json!({ "fingerprint": issued(n), "issuedAtMs": n, "notAfterMs": 1_000 + n });
    recorded["metadata"]["resourceVersion"] = json!("6");
    vec![
        Exchange::new(Method::POST, path("secrets", None, None))
            .check(move |body, _| {
                assert_eq!(body["metadata"]["name"], "wasmbed-device-dev-1-identity");
                assert_eq!(body["metadata"]["annotations"]["wasmbed.io/identity-fingerprint"], issued(n).as_str());
                assert_eq!(body["data"]["bundle.bin"], b64("WBID dev-1 mps2-an385 10.0.2.2:4443"));
                assert_eq!(body["metadata"]["ownerReferences"][0]["kind"], "Device");
                assert_eq!(body["metadata"]["ownerReferences"][0]["controller"], true);
                assert_eq!(body["immutable"], true);
            })
            .reply(201, &secret(Some(&issued(n)))),
        Exchange::new(Method::GET, path("devices", Some("dev-1"), None)).reply(200, d),
        Exchange::new(Method::GET, path("devices", Some("dev-1"), None)).reply(200, d),
        Exchange::new(Method::PUT, path("devices", Some("dev-1"), None))
            .check(move |body, _| {
                assert_eq!(body["spec"]["identity"]["fingerprint"], issued(n).as_str(), "recorded on the spec");
                assert_eq!(body["metadata"]["resourceVersion"], "5");
            })
            .reply(200, &recorded),
    ]
}

fn get_pod() -> Exchange {
    Exchange::new(Method::GET, path("pods", Some(POD), None))
}

fn patch_device(sub: Option<&str>) -> Exchange {
    Exchange::new(Method::PATCH, path("devices", Some("dev-1"), sub))
}

fn b64(s: &str) -> String {
    // Small enough to spell out without a base64 dependency.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn the_finalizer_is_added_first() {
    let d = device("mps2-an385", false, false);
    let script = vec![
        patch_device(None)
            .check(|body, req| {
                assert_eq!(req.headers()["content-type"], "application/json-patch+json");
                assert_eq!(body[0], json!({ "op": "test", "path": "/metadata/finalizers", "value": null }));
                assert_eq!(
                    body[1],
                    json!({ "op": "add", "path": "/metadata/finalizers", "value": ["wasmbed.io/cleanup"] })
                );
            })
            .reply(200, &device("mps2-an385", true, false)),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn an_emulated_device_gets_its_identity_and_one_pod() {
    let d = unidentified("mps2-an385", true, false);
    let mut script = vec![get_identity().reply(404, &not_found())];
    script.extend(new_identity(&d, 1));
    script.extend([
        get_pod().reply(404, &not_found()),
        Exchange::new(Method::POST, path("pods", None, None))
            .check(|body, _| {
                assert_eq!(body["metadata"]["name"], "wasmbed-device-dev-1");
                assert_eq!(body["metadata"]["annotations"]["wasmbed.io/identity-fingerprint"], issued(1).as_str());
                assert_eq!(body["metadata"]["labels"]["wasmbed.io/device"], "dev-1");
                assert_eq!(body["metadata"]["ownerReferences"][0]["name"], "dev-1");
                let c = &body["spec"]["containers"][0];
                assert_eq!(c["image"], "registry.example/wasmbed-device:1");
                let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
                let joined = args.join(" ");
                assert!(joined.contains("--board mps2-an385"), "{joined}");
                assert!(joined.contains("--gateway wasmbed-gateway.wasmbed.svc:4443"), "{joined}");
                assert!(joined.contains("--bundle /var/run/wasmbed/identity/bundle.bin"), "{joined}");
                assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
                assert_eq!(body["spec"]["automountServiceAccountToken"], false);
                assert_eq!(body["spec"]["volumes"][0]["secret"]["secretName"], "wasmbed-device-dev-1-identity");
                assert_eq!(body["spec"]["volumes"][1]["emptyDir"]["medium"], "Memory");
            })
            .reply(201, &json!({ "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "wasmbed-device-dev-1" } })),
    ]);
    reconciles(&d, script).await;
}

#[tokio::test]
async fn a_re_created_device_gets_a_new_key() {
    let issuer = Arc::new(FakeIssuer::default());
    // Created, deleted (its Secret went with it) and created again under
    // the same name: each time a new identity is issued and recorded.
    for n in [1, 2] {
        let d = unidentified("mps2-an385", true, false);
        let mut script = vec![get_identity().reply(404, &not_found())];
        script.extend(new_identity(&d, n));
        script.extend([
            get_pod().reply(404, &not_found()),
            Exchange::new(Method::POST, path("pods", None, None)).reply(201, &pod("h", json!({}))),
        ]);
        let (ctx, server) = ctx_with(script, issuer.clone());
        reconcile(obj(&d), ctx).await.unwrap();
        done(server).await;
    }
    assert_ne!(issued(1), issued(2));
}

#[tokio::test]
async fn a_secret_not_holding_the_recorded_identity_is_replaced_and_its_pod_with_it() {
    // The identity was re-issued through the API, or the Secret was made
    // before identities were recorded, or its annotation is junk.
    for held in [Some("cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"), None, Some("junk")] {
        let d = device("mps2-an385", true, false);
        let mut script = vec![
            get_identity().reply(200, &secret(held)),
            Exchange::new(Method::DELETE, path("secrets", Some(IDENTITY), None)).reply(200, &secret(held)),
        ];
        script.extend(new_identity(&d, 1));
        // The Pod still runs the old identity: its template changed.
        script.extend([
            get_pod().reply(200, &pod(&current_hash(&d), json!({}))),
            Exchange::new(Method::DELETE, path("pods", Some(POD), None)).reply(200, &pod("h", json!({}))),
        ]);
        reconciles(&d, script).await;
    }
}

#[tokio::test]
async fn a_secret_holding_the_recorded_identity_is_kept_and_so_is_its_pod() {
    let d = device("mps2-an385", true, false);
    let script = vec![identity_found(), get_pod().reply(200, &pod(&current_hash(&d), json!({})))];
    reconciles(&d, script).await;
}

fn pod(hash: &str, status: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "wasmbed-device-dev-1", "annotations": { "wasmbed.io/pod-template-hash": hash } },
        "spec": { "containers": [{ "name": "device" }] },
        "status": status })
}

fn current_hash(d: &Value) -> String {
    let cfg = DevicePodConfig::new("registry.example/wasmbed-device:1", "wasmbed-gateway.wasmbed.svc:4443");
    let p = wasmbed_k8s::devices::device_pod(&obj(d), &cfg, RECORDED).unwrap();
    p.metadata.annotations.unwrap()["wasmbed.io/pod-template-hash"].clone()
}

#[tokio::test]
async fn a_running_pod_is_reported_as_the_devices_process() {
    let d = device("mps2-an385", true, false);
    let running = json!({ "phase": "Running", "containerStatuses": [{ "name": "device", "ready": true, "restartCount": 2,
        "image": "i", "imageID": "", "state": { "running": { "startedAt": "2026-01-01T00:00:10Z" } } }] });
    let script = vec![
        identity_found(),
        get_pod().reply(200, &pod(&current_hash(&d), running)),
        patch_device(Some("status"))
            .check(|body, _| {
                assert_eq!(
                    body,
                    &json!({ "status": { "process": { "state": "Running", "restarts": 2,
                        "startedMs": 1_767_225_610_000u64, "message": null } } })
                );
            })
            .reply(200, &device("mps2-an385", true, false)),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn a_pod_from_an_old_template_is_replaced() {
    let d = device("mps2-an385", true, false);
    let script = vec![
        identity_found(),
        get_pod().reply(200, &pod("stale", json!({}))),
        Exchange::new(Method::DELETE, path("pods", Some(POD), None)).reply(200, &pod("stale", json!({}))),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn deleting_a_device_removes_its_pod_and_secret_then_the_finalizer() {
    let d = device("mps2-an385", true, true);
    let script = vec![
        Exchange::new(Method::DELETE, path("pods", Some(POD), None)).reply(200, &pod("h", json!({}))),
        // Already gone is fine.
        Exchange::new(Method::DELETE, path("secrets", Some(IDENTITY), None)).reply(404, &not_found()),
        patch_device(None)
            .check(|body, _| {
                assert_eq!(
                    body,
                    &json!([{ "op": "test", "path": "/metadata/finalizers/0", "value": "wasmbed.io/cleanup" },
                            { "op": "remove", "path": "/metadata/finalizers/0" }])
                );
            })
            .reply(200, &device("mps2-an385", false, true)),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn a_simulated_device_gets_no_pod_and_no_identity() {
    let d = device("sim", true, false);
    reconciles(&d, vec![get_pod().reply(404, &not_found())]).await;
}

#[tokio::test]
async fn an_emulated_board_that_cannot_run_is_reported_failed() {
    let d = device("stm32vldiscovery", true, false);
    let script = vec![
        get_pod().reply(404, &not_found()),
        patch_device(Some("status"))
            .check(|body, _| {
                assert_eq!(body["status"]["process"]["state"], "Failed");
                assert!(body["status"]["process"]["message"].as_str().unwrap().contains("8 KB of RAM"), "{body}");
            })
            .reply(200, &device("stm32vldiscovery", true, false)),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn api_failures_are_errors_that_say_what_failed() {
    let d = device("mps2-an385", true, false);
    let (ctx, server) = ctx(vec![
        get_identity().reply(500, &status(500, "InternalError", "etcd is down")),
        identity_found(),
        get_pod().reply_raw(200, "{\"spec\": [}"),
        patch_device(None).reply_raw(403, "forbidden by policy"),
    ]);
    let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
    assert!(
        e.contains("reading Secret wasmbed-device-dev-1-identity") && e.contains("500") && e.contains("etcd is down"),
        "{e}"
    );
    let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
    assert!(e.contains("reading Pod wasmbed-device-dev-1") && e.contains("not what was expected"), "{e}");
    let e = reconcile(obj(&device("mps2-an385", false, false)), ctx).await.unwrap_err().to_string();
    assert!(e.contains("finalizer"), "{e}");
    done(server).await;
}
