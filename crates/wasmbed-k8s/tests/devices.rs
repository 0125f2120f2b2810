//! The device-Pod reconciler against a scripted API server.
//!
//! Every script is checked to hold no GET and no DELETE of a Secret (see
//! [`ctx_with`]), and the server fails a test on any request that is not
//! the next one in its script: the reconciler never reads nor deletes an
//! identity Secret, whatever happens.

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

/// Fingerprint of the `n`-th identity the fake issuer made (its first 16
/// digits, which name the Secret, differ from every other's).
fn issued(n: u64) -> String {
    format!("{n:016x}").repeat(4)
}

/// The identity Secret of the `n`-th identity.
fn identity_secret(n: u64) -> String {
    format!("wasmbed-device-dev-1-{n:016x}")
}

/// Fingerprint of the identity the test devices have recorded.
const RECORDED: &str = "abababababababababababababababababababababababababababababababab";

fn ctx(script: Vec<Exchange>) -> (Arc<Context>, tokio::task::JoinHandle<()>) {
    ctx_with(script, Arc::new(FakeIssuer::default()))
}

fn ctx_with(script: Vec<Exchange>, issuer: Arc<dyn IdentityIssuer>) -> (Arc<Context>, tokio::task::JoinHandle<()>) {
    // Identity Secrets are write-only: no scenario may expect a read or a
    // delete of one (and the server refuses any request not scripted).
    for ex in &script {
        let (method, path) = ex.request();
        let secrets = path.starts_with(&common::path("secrets", None, None));
        assert!(!(secrets && (method == Method::GET || method == Method::DELETE)), "{method} {path} in a script");
    }
    let (client, server) = scripted(script);
    let cfg = DevicePodConfig::new("registry.example/wasmbed-device:1", "wasmbed-gateway.wasmbed.svc:4443");
    (Context::new(client, NS, cfg, issuer), server)
}

/// A device with [`RECORDED`] as its identity.
fn device(board: &str, finalizer: bool, deleting: bool) -> Value {
    recorded(&unidentified(board, finalizer, deleting), RECORDED)
}

/// `d` with `fingerprint` recorded as its identity.
fn recorded(d: &Value, fingerprint: &str) -> Value {
    let mut d = d.clone();
    d["spec"]["identity"] = json!({ "fingerprint": fingerprint, "issuedAtMs": 1, "notAfterMs": 2 });
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

/// Reconciles `d` once against an API server playing `script` to the end.
async fn reconciles(d: &Value, script: Vec<Exchange>) {
    let (ctx, server) = ctx(script);
    reconcile(obj(d), ctx).await.unwrap();
    done(server).await;
}

fn get_pod() -> Exchange {
    Exchange::new(Method::GET, path("pods", Some(POD), None))
}

fn delete_pod() -> Exchange {
    Exchange::new(Method::DELETE, path("pods", Some(POD), None)).reply(200, &pod("h", None, json!({})))
}

fn get_device() -> Exchange {
    Exchange::new(Method::GET, path("devices", Some("dev-1"), None))
}

fn patch_device(sub: Option<&str>) -> Exchange {
    Exchange::new(Method::PATCH, path("devices", Some("dev-1"), sub))
}

/// The uid the API server gives the `n`-th Pod made.
fn pod_uid(n: u64) -> String {
    format!("uid-pod-{n}")
}

/// A device Pod as the API server returns it: its template hash, the
/// fingerprint it runs, its status.
fn pod(hash: &str, fingerprint: Option<&str>, status: Value) -> Value {
    let mut p = json!({ "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": POD, "uid": "uid-pod-0", "annotations": { "wasmbed.io/pod-template-hash": hash } },
        "spec": { "containers": [{ "name": "device" }] },
        "status": status });
    if let Some(f) = fingerprint {
        p["metadata"]["annotations"]["wasmbed.io/identity-fingerprint"] = json!(f);
    }
    p
}

/// The template hash of the Pod the reconciler makes for `d` running `fingerprint`.
fn hash_for(d: &Value, fingerprint: &str) -> String {
    let cfg = DevicePodConfig::new("registry.example/wasmbed-device:1", "wasmbed-gateway.wasmbed.svc:4443");
    let p = wasmbed_k8s::devices::device_pod(&obj(d), &cfg, fingerprint).unwrap();
    p.metadata.annotations.unwrap()["wasmbed.io/pod-template-hash"].clone()
}

/// The Pod of `d` running its recorded identity, [`RECORDED`], as the reconciler made it.
fn current_pod(d: &Value, status: Value) -> Value {
    pod(&hash_for(d, RECORDED), Some(RECORDED), status)
}

/// The Pod of the `n`-th identity is created (checked) and answered with
/// uid [`pod_uid`]`(n)`.
fn create_pod(n: u64) -> Exchange {
    Exchange::new(Method::POST, path("pods", None, None))
        .check(move |body, _| {
            assert_eq!(body["metadata"]["name"], POD);
            assert_eq!(body["metadata"]["annotations"]["wasmbed.io/identity-fingerprint"], issued(n).as_str());
            assert_eq!(body["spec"]["volumes"][0]["secret"]["secretName"], identity_secret(n).as_str());
            assert_eq!(body["metadata"]["ownerReferences"][0]["kind"], "Device");
            assert_eq!(body["metadata"]["ownerReferences"][0]["name"], "dev-1");
        })
        .reply(201, &created_pod(n))
}

fn created_pod(n: u64) -> Value {
    let mut p = pod("h", Some(&issued(n)), json!({}));
    p["metadata"]["uid"] = json!(pod_uid(n));
    p
}

/// The Secret of the `n`-th identity is created, owned by the Pod just made.
fn create_secret(n: u64) -> Exchange {
    Exchange::new(Method::POST, path("secrets", None, None)).check(move |body, _| {
        let name = identity_secret(n);
        assert_eq!(body["metadata"]["name"], name.as_str());
        assert!(name.len() <= 253, "{name}");
        assert_eq!(body["metadata"]["annotations"]["wasmbed.io/identity-fingerprint"], issued(n).as_str());
        assert_eq!(body["metadata"]["labels"]["wasmbed.io/device"], "dev-1");
        assert_eq!(body["data"]["bundle.bin"], b64("WBID dev-1 mps2-an385 10.0.2.2:4443"));
        assert_eq!(
            body["metadata"]["ownerReferences"],
            json!([{ "apiVersion": "v1", "kind": "Pod", "name": POD, "uid": pod_uid(n), "controller": false }]),
            "owned by the Pod just made, without blockOwnerDeletion"
        );
        assert_eq!(body["immutable"], true);
    })
}

/// The `n`-th identity is recorded on `d` (read, read again for the
/// version, replaced).
fn record(d: &Value, n: u64) -> Vec<Exchange> {
    let mut recorded = d.clone();
    recorded["spec"]["identity"] = json!({ "fingerprint": issued(n), "issuedAtMs": n, "notAfterMs": 1_000 + n });
    recorded["metadata"]["resourceVersion"] = json!("6");
    vec![
        get_device().reply(200, d),
        get_device().reply(200, d),
        Exchange::new(Method::PUT, path("devices", Some("dev-1"), None))
            .check(move |body, _| {
                assert_eq!(body["spec"]["identity"]["fingerprint"], issued(n).as_str(), "recorded on the spec");
                assert_eq!(body["metadata"]["resourceVersion"], "5");
            })
            .reply(200, &recorded),
    ]
}

/// A device without a Pod is provisioned with the `n`-th identity: its Pod,
/// then the Secret owned by that Pod, then the identity recorded.
fn provisioned(d: &Value, n: u64) -> Vec<Exchange> {
    let mut script = vec![get_pod().reply(404, &not_found()), create_pod(n), create_secret(n).reply(201, &json!({}))];
    script.extend(record(d, n));
    script
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
async fn an_emulated_device_gets_a_pod_then_its_identity_secret_then_its_identity_recorded() {
    let d = unidentified("mps2-an385", true, false);
    let mut script = vec![
        get_pod().reply(404, &not_found()),
        create_pod(1).check(|body, _| {
            assert_eq!(body["metadata"]["labels"]["wasmbed.io/device"], "dev-1");
            assert_eq!(body["metadata"]["ownerReferences"][0]["controller"], true);
            let c = &body["spec"]["containers"][0];
            assert_eq!(c["image"], "registry.example/wasmbed-device:1");
            let args: Vec<&str> = c["args"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
            let joined = args.join(" ");
            assert!(joined.contains("--board mps2-an385"), "{joined}");
            assert!(joined.contains("--gateway wasmbed-gateway.wasmbed.svc:4443"), "{joined}");
            assert!(joined.contains("--bundle /var/run/wasmbed/identity/bundle.bin"), "{joined}");
            assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
            assert_eq!(body["spec"]["automountServiceAccountToken"], false);
            assert_eq!(body["spec"]["volumes"][0]["secret"]["secretName"], "wasmbed-device-dev-1-0000000000000001");
            assert_eq!(body["spec"]["volumes"][1]["emptyDir"]["medium"], "Memory");
        }),
        create_secret(1).reply(201, &json!({})),
    ];
    script.extend(record(&d, 1));
    reconciles(&d, script).await;
}

#[tokio::test]
async fn a_re_created_device_gets_a_new_key_in_a_new_secret() {
    let issuer = Arc::new(FakeIssuer::default());
    // Created, deleted (its Pod and Secret went with it) and created again
    // under the same name: each time a new identity is issued into a new
    // Secret and recorded.
    for n in [1, 2] {
        let d = unidentified("mps2-an385", true, false);
        let (ctx, server) = ctx_with(provisioned(&d, n), issuer.clone());
        reconcile(obj(&d), ctx).await.unwrap();
        done(server).await;
    }
    assert_ne!(identity_secret(1), identity_secret(2));
}

#[tokio::test]
async fn a_pod_not_running_the_recorded_identity_is_replaced_with_a_new_identity() {
    // The identity was re-issued through the API, or the Pod was made
    // before identities were recorded, or its annotation is junk.
    let other = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";
    for held in [Some(other), None, Some("junk")] {
        let d = device("mps2-an385", true, false);
        // Its hash is right for what it holds: only the identity is wrong.
        let have = pod(&hash_for(&d, held.unwrap_or(RECORDED)), held, json!({}));
        let mut script = vec![
            get_pod().reply(200, &have),
            // The cache may be behind: the API server is asked, and agrees.
            get_device().reply(200, &d),
            // Its Secret goes with it (garbage collection).
            delete_pod(),
            // Next round: still going.
            get_pod().reply(200, &{
                let mut going = have.clone();
                going["metadata"]["deletionTimestamp"] = json!("2026-01-02T00:00:00Z");
                going
            }),
        ];
        // Then gone: made again, with a new identity in a new Secret.
        script.extend(provisioned(&d, 1));
        let (ctx, server) = ctx(script);
        for _ in 0..3 {
            reconcile(obj(&d), ctx.clone()).await.unwrap();
        }
        done(server).await;
    }
}

#[tokio::test]
async fn a_pod_whose_identity_the_cache_does_not_show_yet_is_kept() {
    // The previous round made the Pod and recorded its identity; the
    // Device in the cache is from before.
    let stale = device("mps2-an385", true, false);
    let fresh = recorded(&stale, &issued(1));
    let script = vec![
        get_pod().reply(200, &pod(&hash_for(&fresh, &issued(1)), Some(&issued(1)), json!({}))),
        get_device().reply(200, &fresh),
    ];
    reconciles(&stale, script).await;
}

#[tokio::test]
async fn a_pod_running_the_recorded_identity_is_kept() {
    let d = device("mps2-an385", true, false);
    reconciles(&d, vec![get_pod().reply(200, &current_pod(&d, json!({})))]).await;
}

#[tokio::test]
async fn a_running_pod_is_reported_as_the_devices_process() {
    let d = device("mps2-an385", true, false);
    let running = json!({ "phase": "Running", "containerStatuses": [{ "name": "device", "ready": true, "restartCount": 2,
        "image": "i", "imageID": "", "state": { "running": { "startedAt": "2026-01-01T00:00:10Z" } } }] });
    let script = vec![
        get_pod().reply(200, &current_pod(&d, running)),
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
async fn a_pod_from_an_old_template_is_replaced_and_the_device_re_provisioned() {
    // A new image or gateway address: a new Pod is a new device, with a new key.
    let d = device("mps2-an385", true, false);
    let mut script =
        vec![get_pod().reply(200, &pod("stale", Some(RECORDED), json!({}))), get_device().reply(200, &d), delete_pod()];
    script.extend(provisioned(&d, 1));
    let (ctx, server) = ctx(script);
    reconcile(obj(&d), ctx.clone()).await.unwrap();
    reconcile(obj(&d), ctx).await.unwrap();
    done(server).await;
}

#[tokio::test]
async fn deleting_a_device_removes_only_its_pod_then_the_finalizer() {
    for answer in [200, 404] {
        let d = device("mps2-an385", true, true);
        let script = vec![
            // Already gone is fine; its Secret goes with it either way.
            Exchange::new(Method::DELETE, path("pods", Some(POD), None))
                .reply(answer, &if answer == 200 { pod("h", Some(RECORDED), json!({})) } else { not_found() }),
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
}

#[tokio::test]
async fn a_simulated_device_gets_no_pod_and_no_identity() {
    let d = device("sim", true, false);
    reconciles(&d, vec![get_pod().reply(404, &not_found())]).await;
}

#[tokio::test]
async fn a_disconnected_device_loses_its_pod_and_so_its_identity() {
    let mut d = device("mps2-an385", true, false);
    d["spec"]["disconnected"] = json!(true);
    let script = vec![
        get_pod().reply(200, &current_pod(&d, json!({}))),
        delete_pod(),
        patch_device(Some("status"))
            .check(|body, _| assert_eq!(body["status"]["process"]["state"], "Stopped"))
            .reply(200, &d),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn an_emulated_board_that_cannot_run_is_reported_failed() {
    let d = device("stm32vldiscovery", true, false);
    let script = vec![
        get_pod().reply(404, &not_found()),
        patch_device(Some("status"))
            .check(|body, _| {
                assert_eq!(body["status"]["process"]["state"], "Failed");
                assert!(
                    body["status"]["process"]["message"].as_str().unwrap().contains("not yet in Kubernetes"),
                    "{body}"
                );
            })
            .reply(200, &device("stm32vldiscovery", true, false)),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn a_device_named_around_the_api_is_reported_failed_and_gets_no_identity() {
    // kubectl does not check names as the API does: a name this long would
    // make a Secret name past what Kubernetes allows.
    let name = "d".repeat(240);
    let mut d = device_json(&name, 5, "mps2-an385");
    d["metadata"]["finalizers"] = json!(["wasmbed.io/cleanup"]);
    let script = vec![
        Exchange::new(Method::GET, path("pods", Some(&format!("wasmbed-device-{name}")), None))
            .reply(404, &not_found()),
        Exchange::new(Method::PATCH, path("devices", Some(&name), Some("status")))
            .check(|body, _| {
                assert_eq!(body["status"]["process"]["state"], "Failed");
                assert!(body["status"]["process"]["message"].as_str().unwrap().contains("1-63 characters"), "{body}");
            })
            .reply(200, &d),
    ];
    reconciles(&d, script).await;
}

#[tokio::test]
async fn a_secret_that_cannot_be_created_is_an_error_and_no_identity_is_recorded() {
    for (code, reason) in [(409, "AlreadyExists"), (500, "InternalError")] {
        let d = device("mps2-an385", true, false);
        let script = vec![
            get_pod().reply(404, &not_found()),
            create_pod(1),
            create_secret(1).reply(code, &status(code, reason, "no")),
            // Next round: the Pod runs an identity never recorded, so it
            // is replaced (and nothing reads the Secret to find out).
            get_pod().reply(200, &created_pod(1)),
            get_device().reply(200, &d),
            delete_pod(),
        ];
        let (ctx, server) = ctx(script);
        let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
        assert!(
            e.contains("creating Secret wasmbed-device-dev-1-0000000000000001") && e.contains(&code.to_string()),
            "{e}"
        );
        reconcile(obj(&d), ctx).await.unwrap();
        done(server).await;
    }
}

#[tokio::test]
async fn a_failed_record_leaves_a_pod_the_next_round_replaces() {
    let d = device("mps2-an385", true, false);
    let script = vec![
        get_pod().reply(404, &not_found()),
        create_pod(1),
        create_secret(1).reply(201, &json!({})),
        get_device().reply(500, &status(500, "InternalError", "etcd is down")),
        get_pod().reply(200, &created_pod(1)),
        get_device().reply(200, &d),
        delete_pod(),
    ];
    let (ctx, server) = ctx(script);
    let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
    assert!(e.contains("recording the identity of device dev-1") && e.contains("etcd is down"), "{e}");
    reconcile(obj(&d), ctx).await.unwrap();
    done(server).await;
}

#[tokio::test]
async fn a_created_pod_without_a_uid_gets_no_secret() {
    let d = device("mps2-an385", true, false);
    let mut nameless = created_pod(1);
    nameless["metadata"].as_object_mut().unwrap().remove("uid");
    let script = vec![
        get_pod().reply(404, &not_found()),
        Exchange::new(Method::POST, path("pods", None, None)).reply(201, &nameless),
    ];
    let (ctx, server) = ctx(script);
    let e = reconcile(obj(&d), ctx).await.unwrap_err().to_string();
    assert!(e.contains("creating Pod wasmbed-device-dev-1") && e.contains("uid"), "{e}");
    done(server).await;
}

/// Issues identities whose fingerprint is not one.
struct BadIssuer;

impl IdentityIssuer for BadIssuer {
    fn issue(&self, _: &str, _: &str, _: &str) -> Result<Issued, String> {
        let identity = DeviceIdentity { fingerprint: "../../etc".into(), issued_at_ms: 1, not_after_ms: 2 };
        Ok(Issued { bundle: Vec::new(), identity })
    }
}

/// Issues nothing.
struct FailingIssuer;

impl IdentityIssuer for FailingIssuer {
    fn issue(&self, _: &str, _: &str, _: &str) -> Result<Issued, String> {
        Err("the CA is not loaded".into())
    }
}

#[tokio::test]
async fn an_identity_that_cannot_be_issued_makes_no_pod() {
    let d = device("mps2-an385", true, false);
    let issuers: [(Arc<dyn IdentityIssuer>, &str); 2] =
        [(Arc::new(BadIssuer), "spec.identity.fingerprint"), (Arc::new(FailingIssuer), "the CA is not loaded")];
    for (issuer, why) in issuers {
        let (ctx, server) = ctx_with(vec![get_pod().reply(404, &not_found())], issuer);
        let e = reconcile(obj(&d), ctx).await.unwrap_err().to_string();
        assert!(e.contains("issuing the identity of device \"dev-1\"") && e.contains(why), "{e}");
        done(server).await;
    }
}

#[tokio::test]
async fn api_failures_are_errors_that_say_what_failed() {
    let d = device("mps2-an385", true, false);
    let (ctx, server) = ctx(vec![
        get_pod().reply(500, &status(500, "InternalError", "etcd is down")),
        get_pod().reply_raw(200, "{\"spec\": [}"),
        get_pod().reply(200, &pod("stale", Some(RECORDED), json!({}))),
        get_device().reply(403, &status(403, "Forbidden", "forbidden by policy")),
        patch_device(None).reply_raw(403, "forbidden by policy"),
    ]);
    let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
    assert!(e.contains("reading Pod wasmbed-device-dev-1") && e.contains("500") && e.contains("etcd is down"), "{e}");
    let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
    assert!(e.contains("reading Pod wasmbed-device-dev-1") && e.contains("not what was expected"), "{e}");
    // Nothing is replaced on the word of the cache alone.
    let e = reconcile(obj(&d), ctx.clone()).await.unwrap_err().to_string();
    assert!(e.contains("reading Device dev-1") && e.contains("forbidden by policy"), "{e}");
    let e = reconcile(obj(&device("mps2-an385", false, false)), ctx).await.unwrap_err().to_string();
    assert!(e.contains("finalizer"), "{e}");
    done(server).await;
}
