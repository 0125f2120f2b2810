//! A revoked identity knocking is refused by the gateway and lands in the
//! hash-chained audit log (through the store: the API follows the counts
//! the gateway writes on the Device), while the device's current identity
//! keeps its session.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use serde_json::Value;
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_protocol::IdentityBundle;
use wasmbed_testkit::{device_where, poll};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_bundle_after_a_reissue_is_refused_and_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api().with_heartbeat_ms(400).quick()).await.unwrap();
    let (url, admin) = (p.api_url().unwrap(), p.admin_token.clone().unwrap());
    let http = reqwest::Client::new();
    let mut fleet = Fleet::start(&p, "rev", 1, &[("fleet", "rev")]).await;
    device_where(&p.store, "rev-0", "online", |d| d.status.session.connected).await;
    let old = fleet.bundles["rev-0"].clone();

    // Re-issue: the old identity is revoked, its session ended.
    let resp = http.get(format!("{url}/api/v1/devices/rev-0/bundle")).bearer_auth(&admin).send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let fresh = IdentityBundle::from_bytes(&resp.bytes().await.unwrap()).unwrap();
    assert_ne!(fresh.cert_der, old.cert_der);
    fleet.power_off("rev-0");

    // The old bundle keeps knocking; the new one gets in.
    let mut knocking = Fleet::of([old.clone()]);
    knocking.power_on("rev-0");
    let d = device_where(&p.store, "rev-0", "refused attempts counted", |d| {
        d.status.refused.as_ref().is_some_and(|r| r.attempts >= 2)
    })
    .await;
    let fingerprint = d.status.refused.unwrap().fingerprint;
    assert_eq!(fingerprint, wasmbed_pki::Fingerprint::of(&old.cert_der).to_string());
    let mut current = Fleet::of([fresh]);
    current.power_on("rev-0");
    device_where(&p.store, "rev-0", "online with the new identity", |d| d.status.session.connected).await;

    let entry = poll("a refused enrollment in the audit log", async || {
        let log: Value = http
            .get(format!("{url}/api/v1/audit?action=device.enroll&limit=200"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        log.as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .find(|e| e["action"] == "device.enroll" && e["target"] == "rev-0")
            .ok_or_else(|| format!("{log}"))
    })
    .await;
    assert_eq!(entry["outcome"], "refused");
    assert_eq!(entry["facts"]["fingerprint"], fingerprint.as_str());
    // The gateway's own count, as Prometheus reads it.
    let metrics = http.get(format!("{url}/metrics")).bearer_auth(&admin).send().await.unwrap().text().await.unwrap();
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("wasmbed_identities_refused_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 2), "{metrics}");
    // The chain still verifies with the entry in it.
    let verified: Value =
        http.get(format!("{url}/api/v1/audit/verify")).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(verified["intact"], true, "{verified}");
    knocking.power_off("rev-0");
    current.power_off("rev-0");
    p.shutdown().await;
}
