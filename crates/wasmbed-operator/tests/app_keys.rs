//! App-signing keys in Kubernetes, against a scripted API server: made
//! once into an updatable Secret, rotated (kept in the Secret before the
//! control plane signs with it, the announcement published for gateways),
//! a rotation the API server refuses is undone, retired keys leave the
//! Secret, a later start reads everything back and re-publishes, and a
//! gateway follows the announcements. Bad input: a Secret holding a file
//! that is not a signing file, an announcement ConfigMap without its key.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

#[path = "../../wasmbed-k8s/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::SystemTime;

use common::*;
use http::Method;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use serde_json::{Value, json};
use wasmbed_api::SigningKeys;
use wasmbed_gateway::TrustChain;
use wasmbed_k8s::signing::{AnnouncementError, read_announcements, read_public_key};
use wasmbed_operator::signing::{ClusterAppKeys, follow_announcements, follow_public_key};
use wasmbed_pki::Pki;

const SECRET: &str = "rel-app-signing";

fn b64(bytes: &[u8]) -> String {
    // Standard alphabet with padding, as Kubernetes stores Secret data.
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn secret_json(data: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": SECRET }, "data": data })
}

fn config_map_json(name: &str, data: Value) -> Value {
    json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": name }, "binaryData": data })
}

fn fill(seed: u8) -> impl FnMut(&mut [u8]) {
    let mut n = seed;
    move |b: &mut [u8]| {
        for x in b {
            n = n.wrapping_mul(31).wrapping_add(7);
            *x = n;
        }
    }
}

#[tokio::test]
async fn keys_are_kept_rotated_undone_retired_and_followed() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Arc::new(Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).unwrap());
    let dir = tmp.path().join("app-signing");
    let announce_1 = "rel-app-signing-announce-1";
    let (client, server) = scripted(vec![
        // First start: made here, stored updatable.
        Exchange::new(Method::GET, path("secrets", Some(SECRET), None)).reply(404, &status(404, "NotFound", "")),
        Exchange::new(Method::POST, path("secrets", None, None))
            .check(|body, _| {
                assert_eq!(body["immutable"], false, "{body}");
                let keys: Vec<&String> = body["data"].as_object().unwrap().keys().collect();
                assert_eq!(keys, ["key-0.pem"], "{body}");
            })
            .reply(201, &secret_json(json!({}))),
        // Its public key, for the gateways to pin.
        Exchange::new(Method::POST, path("configmaps", None, None))
            .check(|body, _| {
                assert_eq!(body["metadata"]["name"], "rel-app-signing-key-0");
                assert_eq!(body["immutable"], true);
                assert!(body["binaryData"]["key.sec1"].is_string(), "{body}");
            })
            .reply(201, &config_map_json("rel-app-signing-key-0", json!({}))),
        // Rotation: kept in the Secret first, then announced.
        Exchange::new(Method::PATCH, path("secrets", Some(SECRET), None))
            .check(|body, _| {
                let keys: Vec<&String> = body["data"].as_object().unwrap().keys().collect();
                assert_eq!(keys, ["announce-1.cbor", "key-0.pem", "key-1.pem"], "{body}");
            })
            .reply(200, &secret_json(json!({}))),
        Exchange::new(Method::POST, path("configmaps", None, None))
            .check(move |body, _| {
                assert_eq!(body["metadata"]["name"], announce_1);
                assert_eq!(body["immutable"], true);
                assert!(body["binaryData"]["announce.cbor"].is_string(), "{body}");
            })
            .reply(201, &config_map_json(announce_1, json!({}))),
        // A second rotation the API server refuses (an immutable Secret).
        Exchange::new(Method::PATCH, path("secrets", Some(SECRET), None))
            .reply(422, &status(422, "Invalid", "field is immutable when `immutable` is set")),
        // Retiring: the older key leaves the Secret too.
        Exchange::new(Method::PATCH, path("secrets", Some(SECRET), None))
            .check(|body, _| {
                assert_eq!(body["data"]["key-0.pem"], Value::Null, "{body}");
                assert!(body["data"]["key-1.pem"].is_string(), "{body}");
                assert!(body["data"].get("key-2.pem").is_none(), "the undone rotation left nothing: {body}");
            })
            .reply(200, &secret_json(json!({}))),
    ]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let config_maps: Api<ConfigMap> = Api::namespaced(client, NS);
    let keys =
        ClusterAppKeys::open(secrets.clone(), config_maps.clone(), "rel", &dir, pki.clone(), fill(1)).await.unwrap();
    let first = keys.current();
    assert_eq!((first.generation, first.chain_len), (0, 0));
    let signer = keys.signer();

    let keys = Arc::new(keys);
    let k = keys.clone();
    let rotated = tokio::task::spawn_blocking(move || k.rotate(&mut fill(2))).await.unwrap().unwrap();
    assert_eq!(rotated.previous_key_id, first.key_id);
    assert_eq!((rotated.current.generation, rotated.current.chain_len), (1, 1));
    let signing_with: String = signer.read().unwrap().id().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signing_with, rotated.current.key_id, "the control plane signs with the new key");

    let k = keys.clone();
    let e = tokio::task::spawn_blocking(move || k.rotate(&mut fill(3))).await.unwrap().unwrap_err();
    assert!(e.to_string().contains("immutable"), "{e}");
    assert_eq!(keys.current(), rotated.current, "an undone rotation changes nothing");
    let signing_with: String = signer.read().unwrap().id().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(signing_with, rotated.current.key_id);
    assert!(!dir.join("key-2.pem").exists() && !dir.join("announce-2.cbor").exists());

    let k = keys.clone();
    assert_eq!(tokio::task::spawn_blocking(move || k.retire()).await.unwrap().unwrap(), 1);
    assert!(!dir.join("key-0.pem").exists());
    done(server).await;

    // A later start, in a fresh folder: everything read back, the
    // announcement published again (already there: kept).
    let key_1 = std::fs::read(dir.join("key-1.pem")).unwrap();
    let announcement = std::fs::read(dir.join("announce-1.cbor")).unwrap();
    let later = tmp.path().join("later");
    let data = json!({ "key-1.pem": b64(&key_1), "announce-1.cbor": b64(&announcement) });
    let (client, server) = scripted(vec![
        Exchange::new(Method::GET, path("secrets", Some(SECRET), None)).reply(200, &secret_json(data)),
        Exchange::new(Method::POST, path("configmaps", None, None)).reply(409, &status(409, "AlreadyExists", "exists")),
        Exchange::new(Method::POST, path("configmaps", None, None))
            .check(|body, _| assert_eq!(body["metadata"]["name"], "rel-app-signing-key-1"))
            .reply(201, &config_map_json("rel-app-signing-key-1", json!({}))),
        // Bad input: a Secret with a file that is not a signing file.
        Exchange::new(Method::GET, path("secrets", Some(SECRET), None))
            .reply(200, &secret_json(json!({ "../ca.key": b64(b"x") }))),
    ]);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), NS);
    let config_maps: Api<ConfigMap> = Api::namespaced(client, NS);
    let again =
        ClusterAppKeys::open(secrets.clone(), config_maps.clone(), "rel", &later, pki.clone(), fill(9)).await.unwrap();
    assert_eq!(again.current(), rotated.current);
    let e = ClusterAppKeys::open(secrets, config_maps, "rel", &tmp.path().join("bad"), pki, fill(9)).await.unwrap_err();
    assert!(e.to_string().contains("\"../ca.key\" is not an app-signing file"), "{e}");
    done(server).await;

    // A gateway follows the announcements; a ConfigMap without one is an error.
    let (client, server) = scripted(vec![
        Exchange::new(Method::GET, path("configmaps", Some(announce_1), None))
            .reply(200, &config_map_json(announce_1, json!({ "announce.cbor": b64(&announcement) }))),
        Exchange::new(Method::GET, path("configmaps", Some("rel-app-signing-announce-2"), None))
            .reply(404, &status(404, "NotFound", "")),
        Exchange::new(Method::GET, path("configmaps", Some(announce_1), None))
            .reply(200, &config_map_json(announce_1, json!({}))),
    ]);
    let config_maps: Api<ConfigMap> = Api::namespaced(client, NS);
    let chain = TrustChain::default();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let following = tokio::spawn(follow_announcements(config_maps.clone(), "rel".into(), chain.clone(), stop_rx));
    for _ in 0..100 {
        if chain.read().unwrap().len() == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    stop.send(true).unwrap();
    following.await.unwrap();
    let relayed = chain.read().unwrap().clone();
    assert_eq!(relayed.len(), 1);
    assert_eq!(minicbor::to_vec(&relayed[0]).unwrap(), announcement);
    let e = read_announcements(&config_maps, "rel", 1).await.unwrap_err();
    assert!(matches!(e, AnnouncementError::Empty { .. }), "{e}");
    done(server).await;

    // A gateway pins the oldest public key published (generation 0 was
    // never published here: it pins 1), looking again until there is one.
    let sec1 = rotated_key_sec1(&key_1);
    let (client, server) = scripted(vec![
        Exchange::new(Method::GET, path("configmaps", Some("rel-app-signing-key-0"), None))
            .reply(404, &status(404, "NotFound", "")),
        Exchange::new(Method::GET, path("configmaps", Some("rel-app-signing-key-1"), None))
            .reply(200, &config_map_json("rel-app-signing-key-1", json!({ "key.sec1": b64(&sec1) }))),
        // Bad input: a key ConfigMap without its key.
        Exchange::new(Method::GET, path("configmaps", Some("rel-app-signing-key-0"), None))
            .reply(200, &config_map_json("rel-app-signing-key-0", json!({}))),
    ]);
    let config_maps: Api<ConfigMap> = Api::namespaced(client, NS);
    let pin = wasmbed_gateway::AppKeyPin::default();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    follow_public_key(config_maps.clone(), "rel".into(), chain.clone(), pin.clone(), stop_rx).await;
    let pinned = pin.read().unwrap().clone().unwrap();
    assert_eq!((pinned.sec1, pinned.generation), (sec1, 1));
    let e = read_public_key(&config_maps, "rel", 1).await.unwrap_err();
    assert!(matches!(e, AnnouncementError::Empty { .. }), "{e}");
    done(server).await;
}

/// The public half (SEC1) of a PEM private key.
fn rotated_key_sec1(pem: &[u8]) -> Vec<u8> {
    let key = wasmbed_trust::SigningKey::from_pem(std::str::from_utf8(pem).unwrap()).unwrap();
    key.public_sec1().to_vec()
}
