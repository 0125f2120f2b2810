//! A data folder from before identities were recorded: its Devices have
//! no `spec.identity`, but the PKI holds the certificates their bundles
//! carry. Starting the platform on it records them, so old bundles get in
//! without being fetched again; a device whose certificate is not stored,
//! or cannot be read, stays without one and the platform starts anyway.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::*;
use wasmbed_model::{DeviceIdentity, Labels};
use wasmbed_pki::Fingerprint;
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::device_where;

/// Starts a platform on `dir` (with its gateway on `gateway`, if given:
/// where the old bundles point), waiting for a previous one to close.
async fn start(dir: &Path, gateway: Option<SocketAddr>) -> Platform {
    let mut cfg = PlatformConfig::new(dir).with_heartbeat_ms(400).quick();
    if let Some(addr) = gateway {
        cfg.gateways = vec![addr];
    }
    let mut tries = 0;
    loop {
        match Platform::start(cfg.clone()).await {
            Ok(p) => return p,
            Err(e) if tries < 50 => {
                tries += 1;
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot start the platform: {e}"),
        }
    }
}

/// What an old version left on `name`: no recorded certificate.
async fn forget_identity(p: &Platform, name: &str) {
    let mut d = p.store.get_device(name).await.unwrap().unwrap();
    d.spec.identity = None;
    p.store.update_device_spec(&d).await.unwrap();
}

async fn identity(p: &Platform, name: &str) -> Option<DeviceIdentity> {
    p.store.get_device(name).await.unwrap().unwrap().spec.identity
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_devices_get_their_stored_certificate_recorded_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let p = start(tmp.path(), None).await;
    let labels = Labels::new();
    // Bundles issued as an old version did: the PKI stores each certificate.
    let old = p.create_sim_devices("old", 2, &labels).await.unwrap();
    let lost = p.create_sim_devices("lost", 1, &labels).await.unwrap().remove(0);
    p.create_sim_devices("broken", 1, &labels).await.unwrap();
    let kept = p.create_sim_devices("kept", 1, &labels).await.unwrap().remove(0);
    for name in ["old-0", "old-1", "lost-0", "broken-0"] {
        forget_identity(&p, name).await;
    }
    // lost-0's certificate is gone, broken-0's unreadable.
    p.pki.forget_device("lost-0").unwrap();
    std::fs::write(p.pki.dir().join("devices/broken-0.crt"), b"not a certificate").unwrap();
    // kept-0 has its identity recorded; a certificate stored since is not it.
    let kept_identity = identity(&p, "kept-0").await.unwrap();
    p.pki.reissue_device("kept-0", std::time::SystemTime::now()).unwrap();
    let gateway = p.gateway_addrs[0];
    p.shutdown().await;

    let p = start(tmp.path(), Some(gateway)).await;
    for bundle in &old {
        let recorded = identity(&p, &bundle.device_id).await.unwrap();
        assert_eq!(recorded.fingerprint, Fingerprint::of(&bundle.cert_der).to_string(), "{}", bundle.device_id);
        assert!(recorded.validate().is_ok());
        let cert = wasmbed_pki::Identity { cert_der: bundle.cert_der.to_vec(), key_der: Vec::new() };
        assert_eq!(recorded.not_after_ms, wasmbed_model::clock::to_unix_ms(cert.not_after().unwrap()));
        assert!(recorded.issued_at_ms <= wasmbed_model::clock::unix_ms());
    }
    assert_eq!(identity(&p, "lost-0").await, None, "never issued here: left alone");
    assert_eq!(identity(&p, "broken-0").await, None, "unreadable: left alone");
    assert_eq!(identity(&p, "kept-0").await, Some(kept_identity), "a recorded identity is never changed");

    // The old bundles get in; the one whose certificate was lost does not.
    let mut fleet = Fleet::of(old.into_iter().chain([lost, kept]));
    for name in fleet.names() {
        fleet.power_on(&name);
    }
    for name in ["old-0", "old-1", "kept-0"] {
        device_where(&p.store, name, "online with its old bundle", |d| d.status.session.connected).await;
    }
    let d = device_where(&p.store, "lost-0", "refused", |d| d.status.refused.is_some()).await;
    assert!(!d.status.session.connected);
    for name in fleet.names() {
        fleet.power_off(&name);
    }
    p.shutdown().await;
}
