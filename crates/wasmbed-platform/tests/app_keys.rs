//! App-signing key rotation on the running platform, through its API, with
//! simulated devices (the real agent, which refuses deploys signed by a
//! key it does not trust): a live device moves to the new key, a device
//! whose bundle pins the old key and that connects only after the rotation
//! walks the chain, a bundle fetched after the rotation pins the new key,
//! and retiring deletes the old private key while every device keeps
//! taking deploys.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use serde_json::{Value, json};
use wasmbed_model::{Application, Strategy};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_protocol::IdentityBundle;
use wasmbed_testkit::{application_where, device_where};

const APP: &str = "blink";

struct Api {
    url: String,
    admin: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self.http.request(method, format!("{}/api/v1/{path}", self.url)).bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp
    }

    async fn json(&self, method: reqwest::Method, path: &str) -> Value {
        self.call(method, path, None).await.json().await.unwrap()
    }
}

/// Deploys revision `version` and waits until `devices` all run it.
async fn deploy_and_run(p: &Platform, version: &str, revision: u64, devices: &[&str]) {
    deploy(&p.store, APP, version, &app(&format!("v{version}"), 0), "fleet=keys", Strategy::AllAtOnce, APP_CAPS).await;
    for d in devices {
        device_where(&p.store, d, &format!("running revision {revision}"), |d| {
            running_revision(d, APP) == Some(revision)
        })
        .await;
    }
}

/// Ids of the keys that signed the application's manifests now.
fn signed_by(a: &Application) -> Vec<String> {
    a.status.signing.as_ref().map(|s| s.manifests.iter().map(|m| m.key_id.clone()).collect()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devices_move_to_a_rotated_key_and_old_bundles_walk_the_chain() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api().with_heartbeat_ms(400).quick()).await.unwrap();
    let api = Api { url: p.api_url().unwrap(), admin: p.admin_token.clone().unwrap(), http: reqwest::Client::new() };
    let mut fleet = Fleet::start(&p, "keys", 1, &[("fleet", "keys")]).await;
    // Issued now, pinning the first key; it connects only after the rotation.
    let labels = [("fleet".to_string(), "keys".to_string())].into_iter().collect();
    let late = p.create_sim_devices("late", 1, &labels).await.unwrap().remove(0);
    assert_eq!(late.app_key_generation, Some(0));

    let first = api.json(reqwest::Method::GET, "signing").await;
    let k0 = first["keyId"].as_str().unwrap().to_string();
    assert_eq!((first["generation"].as_u64(), first["chainLen"].as_u64()), (Some(0), Some(0)));
    deploy_and_run(&p, "1", 1, &["keys-0"]).await;
    assert_eq!(signed_by(&p.store.get_application(APP).await.unwrap().unwrap()), [k0.as_str()]);

    let rotated = api.json(reqwest::Method::POST, "signing/rotate").await;
    assert_eq!(rotated["previousKeyId"], k0.as_str());
    assert_eq!(
        (rotated["current"]["generation"].as_u64(), rotated["current"]["chainLen"].as_u64()),
        (Some(1), Some(1))
    );
    let k1 = rotated["current"]["keyId"].as_str().unwrap().to_string();
    assert_ne!(k0, k1);
    assert_eq!(api.json(reqwest::Method::GET, "signing").await["keyId"], k1.as_str());

    // The control plane signs the application again with the new key...
    application_where(&p.store, APP, "its manifests signed with the new key", |a| {
        !signed_by(a).is_empty() && signed_by(a).iter().all(|k| *k == k1)
    })
    .await;
    // ...and the live device runs a deploy only the new key vouches for.
    deploy_and_run(&p, "2", 2, &["keys-0"]).await;
    let a = p.store.get_application(APP).await.unwrap().unwrap();
    assert_eq!(a.status.signing.as_ref().unwrap().manifest(2).unwrap().key_id, k1);

    // A bundle from before the rotation: the device walks the chain.
    let late_name = late.device_id.clone();
    fleet.bundles.insert(late_name.clone(), late);
    fleet.power_on(&late_name);
    device_where(&p.store, &late_name, "running revision 2 with an old bundle", |d| {
        running_revision(d, APP) == Some(2)
    })
    .await;

    // A bundle fetched now pins the new key.
    let body = json!({ "name": "fresh", "board": "sim", "labels": { "fleet": "keys" } });
    api.call(reqwest::Method::POST, "devices", Some(body)).await;
    let bytes = api.call(reqwest::Method::GET, "devices/fresh/bundle", None).await.bytes().await.unwrap();
    let fresh = IdentityBundle::from_bytes(&bytes).unwrap();
    assert_eq!(fresh.app_key_generation, Some(1));
    let pinned = fresh.app_key.as_ref().map(|k| k.to_vec()).unwrap();
    assert_eq!(pinned, p.app_keys.signer().read().unwrap().public_sec1(), "the bundle pins the current key");
    fleet.bundles.insert("fresh".into(), fresh);
    fleet.power_on("fresh");
    device_where(&p.store, "fresh", "running revision 2", |d| running_revision(d, APP) == Some(2)).await;

    // Retiring deletes the old private key, keeps the announcement, and
    // every device still takes deploys.
    let keys_dir = tmp.path().join("app-signing");
    assert!(keys_dir.join("key-0.pem").exists(), "kept until retired");
    let retired = api.json(reqwest::Method::POST, "signing/retire").await;
    assert_eq!((retired["retired"].as_u64(), retired["current"]["keyId"].as_str()), (Some(1), Some(k1.as_str())));
    assert!(!keys_dir.join("key-0.pem").exists(), "the old private key is gone");
    assert!(keys_dir.join("key-1.pem").exists() && keys_dir.join("announce-1.cbor").exists());
    deploy_and_run(&p, "3", 3, &["keys-0", &late_name, "fresh"]).await;

    // Audited with the old and new key.
    let entries = api.json(reqwest::Method::GET, "audit?action=signing.").await;
    let facts: Vec<&Value> = entries.as_array().unwrap().iter().map(|e| &e["facts"]).collect();
    assert_eq!(facts.len(), 2, "{entries}");
    assert_eq!(facts[1]["previousKeyId"], k0.as_str());
    assert_eq!(facts[1]["keyId"], k1.as_str());
    assert_eq!(facts[0]["retired"], "1");
    p.shutdown().await;
}
