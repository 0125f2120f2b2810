//! KubeStore against a scripted API server.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use http::Method;
use serde_json::{Value, json};
use wasmbed_k8s::KubeStore;
use wasmbed_model::*;

fn store(script: Vec<Exchange>) -> (KubeStore, tokio::task::JoinHandle<()>) {
    let (client, server) = scripted(script);
    (KubeStore::new(client, NS), server)
}

fn new_device(name: &str) -> Device {
    Device {
        meta: Meta::named(name),
        spec: DeviceSpec { board: "mps2-an385".into(), ..DeviceSpec::default() },
        status: DeviceStatus::default(),
    }
}

#[tokio::test]
async fn create_sends_the_spec_and_reads_back_the_servers_metadata() {
    let (s, server) = store(vec![
        Exchange::new(Method::POST, path("devices", None, None))
            .check(|body, _| {
                assert_eq!(body["spec"]["board"], "mps2-an385");
                assert_eq!(body["metadata"]["name"], "dev-1");
                assert!(body["metadata"].get("resourceVersion").is_none() && body.get("status").is_none(), "{body}");
            })
            .reply(201, &device_json("dev-1", 7, "mps2-an385")),
        Exchange::new(Method::POST, path("devices", None, None))
            .reply(409, &status(409, "AlreadyExists", "devices.wasmbed.io \"dev-1\" already exists")),
    ]);
    let d = s.create_device(new_device("dev-1")).await.unwrap();
    assert_eq!((d.meta.resource_version, d.meta.generation), (7, 1));
    assert_eq!(d.meta.created_ms, 1_767_225_600_000);
    let e = s.create_device(new_device("dev-1")).await.unwrap_err();
    assert!(matches!(e, StoreError::AlreadyExists { kind: "device", .. }), "{e}");
    done(server).await;
}

#[tokio::test]
async fn get_and_list_hide_what_is_being_finalized() {
    let mut terminating = device_json("dev-0", 3, "sim");
    terminating["metadata"]["deletionTimestamp"] = json!("2026-01-02T00:00:00Z");
    terminating["metadata"]["finalizers"] = json!(["wasmbed.io/cleanup"]);
    let list = json!({ "apiVersion": "wasmbed.io/v1alpha1", "kind": "DeviceList", "metadata": { "resourceVersion": "9" },
        "items": [device_json("dev-b", 5, "sim"), terminating.clone(), device_json("dev-a", 4, "sim")] });
    let (s, server) = store(vec![
        Exchange::new(Method::GET, path("devices", Some("dev-1"), None))
            .reply(404, &status(404, "NotFound", "devices.wasmbed.io \"dev-1\" not found")),
        Exchange::new(Method::GET, path("devices", Some("dev-0"), None)).reply(200, &terminating),
        Exchange::new(Method::GET, path("devices", None, None)).reply(200, &list),
    ]);
    assert_eq!(s.get_device("dev-1").await.unwrap(), None);
    assert_eq!(s.get_device("dev-0").await.unwrap(), None, "being finalized: gone to the platform");
    let names: Vec<String> = s.list_devices().await.unwrap().into_iter().map(|d| d.meta.name).collect();
    assert_eq!(names, ["dev-a", "dev-b"]);
    done(server).await;
}

#[tokio::test]
async fn a_spec_replace_keeps_metadata_and_refuses_stale_versions() {
    let mut current = device_json("dev-1", 7, "mps2-an385");
    current["metadata"]["finalizers"] = json!(["wasmbed.io/cleanup"]);
    current["metadata"]["labels"] = json!({ "team": "a" });
    let mut written = current.clone();
    written["metadata"]["resourceVersion"] = json!("8");
    written["spec"]["gateway"] = json!("gw-1");
    let (s, server) = store(vec![
        // Stale: the server is at 7, the caller read 6. No write is sent.
        Exchange::new(Method::GET, path("devices", Some("dev-1"), None)).reply(200, &current),
        Exchange::new(Method::GET, path("devices", Some("dev-1"), None)).reply(200, &current),
        Exchange::new(Method::PUT, path("devices", Some("dev-1"), None))
            .check(|body, _| {
                assert_eq!(body["metadata"]["resourceVersion"], "7");
                assert_eq!(body["metadata"]["finalizers"], json!(["wasmbed.io/cleanup"]), "finalizers kept");
                assert_eq!(body["metadata"]["labels"]["team"], "a");
                assert_eq!(body["spec"]["gateway"], "gw-1");
            })
            .reply(200, &written),
        // Written by someone else between our read and our write.
        Exchange::new(Method::GET, path("devices", Some("dev-1"), None)).reply(200, &written),
        Exchange::new(Method::PUT, path("devices", Some("dev-1"), None)).reply(
            409,
            &status(409, "Conflict", "the object has been modified; please apply your changes to the latest version"),
        ),
        Exchange::new(Method::GET, path("devices", Some("dev-9"), None))
            .reply(404, &status(404, "NotFound", "not found")),
    ]);
    let mut d = new_device("dev-1");
    d.meta.resource_version = 6;
    d.spec.gateway = Some("gw-1".into());
    assert!(matches!(s.update_device_spec(&d).await, Err(StoreError::Conflict { .. })));
    d.meta.resource_version = 7;
    let after = s.update_device_spec(&d).await.unwrap();
    assert_eq!((after.meta.resource_version, after.spec.gateway.as_deref()), (8, Some("gw-1")));
    d.meta.resource_version = 8;
    assert!(matches!(s.update_device_spec(&d).await, Err(StoreError::Conflict { .. })));
    d.meta.name = "dev-9".into();
    assert!(matches!(s.update_device_spec(&d).await, Err(StoreError::NotFound { .. })));
    done(server).await;
}

fn merge_patch(req: &http::Request<()>) {
    assert_eq!(req.headers()["content-type"], "application/merge-patch+json");
}

#[tokio::test]
async fn a_status_patch_sends_only_the_writers_part() {
    let session = SessionStatus { connected: true, gateway: Some("gw-0".into()), ..SessionStatus::default() };
    let (s, server) = store(vec![
        Exchange::new(Method::PATCH, path("devices", Some("dev-1"), Some("status")))
            .check(|body, req| {
                merge_patch(req);
                let status = body["status"].as_object().unwrap();
                assert_eq!(status.keys().collect::<Vec<_>>(), ["session"], "{body}");
                assert_eq!(body["status"]["session"]["connected"], true);
                assert_eq!(body["status"]["session"]["lastHeartbeatMs"], Value::Null, "sent, as null: replaces");
            })
            .reply(200, &device_json("dev-1", 8, "mps2-an385")),
        Exchange::new(Method::PATCH, path("devices", Some("dev-1"), Some("status")))
            .check(|body, _| {
                let mut keys: Vec<_> = body["status"].as_object().unwrap().keys().cloned().collect();
                keys.sort();
                assert_eq!(keys, ["conditions", "phase"], "{body}");
                assert_eq!(body["status"]["phase"], "Online");
            })
            .reply(200, &device_json("dev-1", 9, "mps2-an385")),
        Exchange::new(Method::PATCH, path("devices", Some("dev-1"), Some("status")))
            .check(|body, _| assert_eq!(body, &json!({ "status": { "process": null } })))
            .reply(200, &device_json("dev-1", 10, "mps2-an385")),
        Exchange::new(Method::PATCH, path("gateways", Some("gw-0"), Some("status")))
            .check(|body, req| {
                merge_patch(req);
                assert_eq!(body, &json!({ "status": { "sessions": 3, "lastSeenMs": 5, "reportMs": 1000 } }));
            })
            .reply(
                200,
                &json!({ "apiVersion": "wasmbed.io/v1alpha1", "kind": "Gateway", "metadata": { "name": "gw-0" },
                "spec": { "endpoint": "a:1", "capacity": 1 } }),
            ),
        Exchange::new(Method::PATCH, path("devices", Some("gone"), Some("status")))
            .reply(404, &status(404, "NotFound", "not found")),
    ]);
    s.patch_device_status("dev-1", DeviceStatusPatch::Session(session)).await.unwrap();
    s.patch_device_status("dev-1", DeviceStatusPatch::Lifecycle { phase: DevicePhase::Online, conditions: vec![] })
        .await
        .unwrap();
    s.patch_device_status("dev-1", DeviceStatusPatch::Process(None)).await.unwrap();
    s.patch_gateway_status("gw-0", GatewayStatusPatch::Report { sessions: 3, at_ms: 5, report_ms: 1000 })
        .await
        .unwrap();
    let e = s.patch_device_status("gone", DeviceStatusPatch::Process(None)).await.unwrap_err();
    assert!(matches!(e, StoreError::NotFound { kind: "device", .. }), "{e}");
    done(server).await;
}

fn app_json(name: &str, rv: u64) -> Value {
    json!({ "apiVersion": "wasmbed.io/v1alpha1", "kind": "Application",
        "metadata": { "name": name, "resourceVersion": rv.to_string(), "generation": 1 },
        "spec": { "version": "1", "digest": "ab".repeat(32), "size": 10, "selector": "app=demo" } })
}

#[tokio::test]
async fn applications_are_created_at_version_zero_and_their_status_replaced_whole() {
    let spec: ApplicationSpec = serde_json::from_value(app_json("a", 1)["spec"].clone()).unwrap();
    let app = Application { meta: Meta::named("a"), spec, status: ApplicationStatus::default() };
    let app_status = ApplicationStatus { revision: Some(2), desired: 4, ..ApplicationStatus::default() };
    let (s, server) = store(vec![
        Exchange::new(Method::POST, path("applications", None, None))
            .check(|body, _| assert_eq!(body["spec"]["strategy"], json!({ "type": "all-at-once" })))
            .reply(201, &app_json("a", 1)),
        Exchange::new(Method::POST, path("applications", None, None))
            .reply(409, &status(409, "AlreadyExists", "exists")),
        Exchange::new(Method::PATCH, path("applications", Some("a"), Some("status")))
            .check(|body, req| {
                assert_eq!(req.headers()["content-type"], "application/json-patch+json");
                assert_eq!(body[0]["op"], "add");
                assert_eq!(body[0]["path"], "/status");
                assert_eq!(body[0]["value"]["revision"], 2);
                assert_eq!(body[0]["value"]["desired"], 4);
            })
            .reply(200, &app_json("a", 2)),
    ]);
    let written = s.put_application(&app).await.unwrap();
    assert_eq!(written.meta.resource_version, 1);
    let e = s.put_application(&app).await.unwrap_err();
    assert!(matches!(e, StoreError::Conflict { .. }), "created by someone else meanwhile: {e}");
    s.update_application_status("a", &app_status).await.unwrap();
    done(server).await;
}

#[tokio::test]
async fn modules_live_in_immutable_config_maps_named_by_digest() {
    let digest = "0123456789abcdef".repeat(4);
    let name = format!("wasmbed-module-{digest}");
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name },
        "binaryData": { "module.wasm": "AGFzbQ==" } });
    let (s, server) = store(vec![
        Exchange::new(Method::POST, path("configmaps", None, None))
            .check({
                let name = name.clone();
                move |body, _| {
                    assert_eq!(body["metadata"]["name"], name.as_str());
                    assert_eq!(body["metadata"]["labels"]["wasmbed.io/module"], "true");
                    assert_eq!(body["binaryData"]["module.wasm"], "AGFzbQ==");
                    assert_eq!(body["immutable"], true);
                }
            })
            .reply(201, &cm),
        Exchange::new(Method::POST, path("configmaps", None, None)).reply(409, &status(409, "AlreadyExists", "exists")),
        Exchange::new(Method::GET, path("configmaps", Some(&name), None)).reply(200, &cm),
        Exchange::new(Method::GET, path("configmaps", Some(&name), None))
            .reply(404, &status(404, "NotFound", "not found")),
    ]);
    s.put_module(&digest, b"\0asm").await.unwrap();
    s.put_module(&digest, b"\0asm").await.unwrap();
    assert_eq!(s.get_module(&digest).await.unwrap().as_deref(), Some(&b"\0asm"[..]));
    assert_eq!(s.get_module(&digest).await.unwrap(), None);
    // Refused before anything is sent: the name is built from it.
    let e = s.get_module("../../secrets/x").await.unwrap_err();
    assert!(e.to_string().contains("64 lowercase hex"), "{e}");
    done(server).await;
}

#[tokio::test]
async fn edge_state_lives_in_a_config_map_named_by_a_hash_of_gateway_and_slot() {
    let name = wasmbed_k8s::edge_state_config_map("gateway-0", "blink@vld-0");
    assert!(name.starts_with("wasmbed-edge-state-") && name.len() == "wasmbed-edge-state-".len() + 16, "{name}");
    assert_ne!(name, wasmbed_k8s::edge_state_config_map("gateway-1", "blink@vld-0"));
    let cm = json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name },
        "binaryData": { "kv": "AQID" } });
    let (s, server) = store(vec![
        Exchange::new(Method::PATCH, path("configmaps", Some(&name), None))
            .check(|body, req| {
                assert_eq!(body["metadata"]["labels"]["wasmbed.io/edge-state"], "true");
                assert_eq!(body["metadata"]["annotations"]["wasmbed.io/slot"], "blink@vld-0");
                assert_eq!(body["metadata"]["annotations"]["wasmbed.io/gateway"], "gateway-0");
                assert_eq!(body["binaryData"]["kv"], "AQID");
                let query = req.uri().query().unwrap_or_default();
                assert!(query.contains("fieldManager=wasmbed-gateway") && query.contains("force=true"), "{query}");
            })
            .reply(200, &cm),
        Exchange::new(Method::GET, path("configmaps", Some(&name), None)).reply(200, &cm),
        Exchange::new(Method::DELETE, path("configmaps", Some(&name), None))
            .reply(404, &status(404, "NotFound", "not found")),
        Exchange::new(Method::GET, path("configmaps", Some(&name), None))
            .reply(404, &status(404, "NotFound", "not found")),
        Exchange::new(Method::GET, path("configmaps", Some(&name), None))
            .reply(200, &json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name } })),
    ]);
    s.put_edge_state("gateway-0", "blink@vld-0", &[1, 2, 3]).await.unwrap();
    assert_eq!(s.get_edge_state("gateway-0", "blink@vld-0").await.unwrap(), Some(vec![1, 2, 3]));
    s.delete_edge_state("gateway-0", "blink@vld-0").await.unwrap();
    assert_eq!(s.get_edge_state("gateway-0", "blink@vld-0").await.unwrap(), None);
    // A ConfigMap someone emptied: an error naming it, not an empty store.
    let e = s.get_edge_state("gateway-0", "blink@vld-0").await.unwrap_err();
    assert!(e.to_string().contains(&name), "{e}");
    done(server).await;
}

#[tokio::test]
async fn modules_are_listed_by_label_without_their_bytes_and_deleted() {
    let (a, b) = ("a".repeat(64), "b".repeat(64));
    let meta = |name: &str| {
        json!({ "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata",
        "metadata": { "name": name } })
    };
    let list = json!({ "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList", "metadata": {},
        "items": [meta(&format!("wasmbed-module-{b}")), meta(&format!("wasmbed-module-{a}")),
                  meta("wasmbed-module-not-a-digest")] });
    let (s, server) = store(vec![
        Exchange::new(Method::GET, path("configmaps", None, None))
            .check(|_, req| {
                let q = req.uri().query().unwrap_or_default();
                assert!(q.contains("labelSelector=wasmbed.io%2Fmodule%3Dtrue"), "{q}");
                let accept = req.headers()["accept"].to_str().unwrap();
                assert!(accept.contains("as=PartialObjectMetadataList"), "metadata only: {accept}");
            })
            .reply(200, &list),
        Exchange::new(Method::DELETE, path("configmaps", Some(&format!("wasmbed-module-{b}")), None))
            .reply(200, &json!({ "kind": "Status", "apiVersion": "v1", "status": "Success" })),
        Exchange::new(Method::DELETE, path("configmaps", Some(&format!("wasmbed-module-{b}")), None))
            .reply(404, &status(404, "NotFound", "not found")),
        Exchange::new(Method::DELETE, path("configmaps", Some(&format!("wasmbed-module-{a}")), None))
            .reply(403, &status(403, "Forbidden", "no delete for you")),
    ]);
    assert_eq!(s.list_modules().await.unwrap(), [a.clone(), b.clone()], "sorted, odd names left out");
    s.delete_module(&b).await.unwrap();
    s.delete_module(&b).await.unwrap(); // gone already
    let e = s.delete_module(&a).await.unwrap_err();
    assert!(e.to_string().contains("no delete for you"), "{e}");
    let e = s.delete_module("../x").await.unwrap_err();
    assert!(e.to_string().contains("64 lowercase hex"), "{e}");
    done(server).await;
}

#[tokio::test]
async fn bad_answers_become_clear_errors() {
    let (s, server) = store(vec![
        Exchange::new(Method::GET, path("devices", Some("d"), None))
            .reply(500, &status(500, "InternalError", "etcdserver: request timed out")),
        Exchange::new(Method::GET, path("devices", None, None)).reply_raw(502, "<html>Bad Gateway</html>"),
        Exchange::new(Method::GET, path("devices", Some("d"), None)).reply_raw(200, "{\"metadata\": {"),
        Exchange::new(Method::GET, path("gateways", None, None)).reply_raw(200, "[1, 2, 3]"),
        Exchange::new(Method::GET, path("devices", Some("d"), None)).reply(
            200,
            &json!({ "apiVersion": "wasmbed.io/v1alpha1", "kind": "Device",
                "metadata": { "name": "d", "resourceVersion": "not-a-number" }, "spec": { "board": "sim" } }),
        ),
    ]);
    let msg = |r: Result<_, StoreError>| match r {
        Err(StoreError::Backend(m)) => m,
        other => panic!("expected a backend error, got {other:?}"),
    };
    let m = msg(s.get_device("d").await.map(|_| ()));
    assert!(m.contains("500") && m.contains("etcdserver: request timed out") && m.contains("reading device"), "{m}");
    let m = msg(s.list_devices().await.map(|_| ()));
    assert!(m.contains("502") && m.contains("Bad Gateway") && m.contains("listing devices"), "{m}");
    let m = msg(s.get_device("d").await.map(|_| ()));
    assert!(m.contains("not what was expected"), "{m}");
    let m = msg(s.list_gateways().await.map(|_| ()));
    assert!(m.contains("listing gateways"), "{m}");
    let m = msg(s.get_device("d").await.map(|_| ()));
    assert!(m.contains("resourceVersion \"not-a-number\""), "{m}");
    done(server).await;
}

#[tokio::test]
async fn a_gateway_resource_is_owned_by_its_pod() {
    let (s, server) = store(vec![
        Exchange::new(Method::PATCH, path("gateways", Some("gw-abc"), None))
            .check(|body, req| {
                merge_patch(req);
                assert_eq!(
                    body["metadata"]["ownerReferences"][0],
                    json!({ "apiVersion": "v1", "kind": "Pod",
                    "name": "gw-abc", "uid": "u-1" })
                );
            })
            .reply(
                200,
                &json!({ "apiVersion": "wasmbed.io/v1alpha1", "kind": "Gateway", "metadata": { "name": "gw-abc" },
                "spec": { "endpoint": "a:1", "capacity": 1 } }),
            ),
        Exchange::new(Method::PATCH, path("gateways", Some("gw-abc"), None))
            .reply(404, &status(404, "NotFound", "not found")),
    ]);
    s.own_gateway_by_pod("gw-abc", "gw-abc", "u-1").await.unwrap();
    assert!(matches!(s.own_gateway_by_pod("gw-abc", "gw-abc", "u-1").await, Err(StoreError::NotFound { .. })));
    done(server).await;
}
