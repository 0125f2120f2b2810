//! The CA and identity Secrets against a scripted API server.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use http::Method;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use serde_json::json;
use wasmbed_k8s::secrets::{Mutability, Outcome, SecretError, ensure, follow, store_files, sync_dir};

fn secret_json(name: &str, data: serde_json::Value) -> serde_json::Value {
    json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": name }, "data": data })
}

/// A maker that writes `files` (name, contents) into its folder.
fn writing(files: &'static [(&'static str, &'static str)]) -> impl FnOnce(&std::path::Path) -> Result<(), String> {
    move |d| {
        std::fs::create_dir_all(d).unwrap();
        for (name, contents) in files {
            std::fs::write(d.join(name), contents).unwrap();
        }
        Ok(())
    }
}

#[tokio::test]
async fn the_ca_is_made_once_and_read_back_on_later_starts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let (client, server) = scripted(vec![
        Exchange::new(Method::GET, path("secrets", Some("wasmbed-ca"), None)).reply(404, &status(404, "NotFound", "")),
        Exchange::new(Method::POST, path("secrets", None, None))
            .check(|body, _| {
                // "made-crt" and "made-key", base64.
                assert_eq!(body["data"], json!({ "ca.crt": "bWFkZS1jcnQ=", "ca.key": "bWFkZS1rZXk=" }));
                assert_eq!(body["immutable"], true);
            })
            .reply(201, &secret_json("wasmbed-ca", json!({}))),
        // The next start: the stored CA is written into a fresh folder.
        Exchange::new(Method::GET, path("secrets", Some("wasmbed-ca"), None)).reply(
            200,
            &secret_json("wasmbed-ca", json!({ "ca.crt": "c3RvcmVkLWNydA==", "ca.key": "c3RvcmVkLWtleQ==" })),
        ),
    ]);
    let secrets: Api<Secret> = Api::namespaced(client, NS);
    let make = writing(&[("ca.crt", "made-crt"), ("ca.key", "made-key")]);
    assert_eq!(
        sync_dir(&secrets, "wasmbed-ca", &pki, &["ca.crt", "ca.key"], Mutability::Immutable, make).await.unwrap(),
        Outcome::Created
    );
    let later = dir.path().join("later");
    // A key file left readable by all (say, by an older release) is tightened.
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(&later).unwrap();
    std::fs::write(later.join("ca.key"), "an older, longer key file").unwrap();
    std::fs::set_permissions(later.join("ca.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let never = |_: &std::path::Path| -> Result<(), String> { panic!("the CA must not be made twice") };
    assert_eq!(
        sync_dir(&secrets, "wasmbed-ca", &later, &["ca.crt", "ca.key"], Mutability::Immutable, never).await.unwrap(),
        Outcome::Found
    );
    assert_eq!(std::fs::read_to_string(later.join("ca.key")).unwrap(), "stored-key");
    assert_eq!(std::fs::metadata(later.join("ca.key")).unwrap().permissions().mode() & 0o777, 0o600);
    done(server).await;
}

#[tokio::test]
async fn a_race_is_won_by_the_first_secret_and_a_broken_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (client, server) = scripted(vec![
        Exchange::new(Method::GET, path("secrets", Some("wasmbed-ca"), None)).reply(404, &status(404, "NotFound", "")),
        Exchange::new(Method::POST, path("secrets", None, None)).reply(409, &status(409, "AlreadyExists", "exists")),
        Exchange::new(Method::GET, path("secrets", Some("wasmbed-ca"), None))
            .reply(200, &secret_json("wasmbed-ca", json!({ "ca.crt": "dGhlaXJz", "ca.key": "dGhlaXJz" }))),
        Exchange::new(Method::GET, path("secrets", Some("wasmbed-ca"), None))
            .reply(200, &secret_json("wasmbed-ca", json!({ "ca.crt": "dGhlaXJz" }))),
        Exchange::new(Method::GET, path("secrets", Some("wasmbed-gateway-tls"), None))
            .reply(500, &status(500, "InternalError", "boom")),
    ]);
    let secrets: Api<Secret> = Api::namespaced(client, NS);
    let make = writing(&[("ca.crt", "mine"), ("ca.key", "mine")]);
    let files = ["ca.crt", "ca.key"];
    assert_eq!(
        sync_dir(&secrets, "wasmbed-ca", dir.path(), &files, Mutability::Immutable, make).await.unwrap(),
        Outcome::Found
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("ca.key")).unwrap(), "theirs");
    let e = sync_dir(&secrets, "wasmbed-ca", dir.path(), &files, Mutability::Immutable, |_| Ok(())).await.unwrap_err();
    assert!(matches!(&e, SecretError::MissingKey { key, .. } if key == "ca.key"), "{e}");
    let e = ensure(&secrets, "wasmbed-gateway-tls", || Ok(Default::default())).await.unwrap_err();
    assert!(e.to_string().contains("reading Secret wasmbed-gateway-tls") && e.to_string().contains("boom"), "{e}");
    done(server).await;
}

#[tokio::test]
async fn an_updatable_secret_follows_its_folder_and_a_refusal_is_retried() {
    let dir = tempfile::tempdir().unwrap();
    let name = "wasmbed-api-tokens";
    let tokens_secret = |data| secret_json(name, data);
    let first_stored = std::sync::Arc::new(tokio::sync::Notify::new());
    let signal = first_stored.clone();
    let (client, server) = scripted(vec![
        Exchange::new(Method::GET, path("secrets", Some(name), None)).reply(404, &status(404, "NotFound", "")),
        Exchange::new(Method::POST, path("secrets", None, None))
            .check(|body, _| {
                assert_eq!(body["data"], json!({ "tokens.json": "Zmlyc3Q=" })); // "first"
                assert_eq!(body["immutable"], false);
            })
            .reply(201, &tokens_secret(json!({}))),
        // A change: written back with a merge patch.
        Exchange::new(Method::PATCH, path("secrets", Some(name), None))
            .check(move |body, req| {
                assert_eq!(body, &json!({ "data": { "tokens.json": "c2Vjb25k" } })); // "second"
                assert_eq!(req.headers()["content-type"], "application/merge-patch+json");
                signal.notify_one();
            })
            .reply(200, &tokens_secret(json!({}))),
        // The next change is refused once, then stored.
        Exchange::new(Method::PATCH, path("secrets", Some(name), None))
            .reply(500, &status(500, "InternalError", "etcd is down")),
        Exchange::new(Method::PATCH, path("secrets", Some(name), None))
            .check(|body, _| assert_eq!(body["data"]["tokens.json"], "dGhpcmQ=")) // "third"
            .reply(200, &tokens_secret(json!({}))),
    ]);
    let secrets: Api<Secret> = Api::namespaced(client, NS);
    let make = writing(&[("tokens.json", "first")]);
    let files = ["tokens.json"];
    let made = sync_dir(&secrets, name, dir.path(), &files, Mutability::Updatable, make).await.unwrap();
    assert_eq!(made, Outcome::Created);

    let (changes, changes_rx) = tokio::sync::watch::channel(0u64);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let following = tokio::spawn(follow(
        secrets.clone(),
        name.into(),
        dir.path().into(),
        vec!["tokens.json".into()],
        changes_rx,
        stop_rx,
    ));
    std::fs::write(dir.path().join("tokens.json"), "second").unwrap();
    changes.send_modify(|n| *n += 1);
    first_stored.notified().await;
    std::fs::write(dir.path().join("tokens.json"), "third").unwrap();
    changes.send_modify(|n| *n += 1);
    done(server).await;
    stop.send(true).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(5), following).await.unwrap().unwrap();

    // A file that cannot be read is named.
    std::fs::remove_file(dir.path().join("tokens.json")).unwrap();
    let e = store_files(&secrets, name, dir.path(), &files).await.unwrap_err();
    assert!(matches!(&e, SecretError::Io { path, .. } if path.ends_with("tokens.json")), "{e}");
}
