//! App slots on the running platform: a simulated device (the real agent,
//! four slots) refuses a fifth app for want of a slot; the app is rejected
//! with a reason that says it will be retried, and once another app leaves
//! the device it runs, with nobody deploying it again.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::Ordering;

use common::*;
use wasmbed_model::{AppState, Device, Strategy};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::device_where;

const DEVICE: &str = "slots-0";

/// An app without linear memory: a simulated device's heap holds four of
/// them, so its slots run out before its memory does.
fn small() -> Vec<u8> {
    wat::parse_str(r#"(module (func (export "init")) (func (export "tick") (param i64)))"#).unwrap()
}

fn state(d: &Device, slot: &str) -> Option<AppState> {
    d.status.session.app(slot).map(|a| a.state)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_app_refused_for_want_of_a_slot_runs_once_another_leaves() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_heartbeat_ms(500).quick()).await.unwrap();
    let _fleet = Fleet::start(&p, "slots", 1, &[("fleet", "slots")]).await;

    // Four apps fill the device's four slots.
    let four = ["one", "two", "three", "four"];
    for name in four {
        deploy(&p.store, name, "1", &small(), "fleet=slots", Strategy::AllAtOnce, &[]).await;
    }
    device_where(&p.store, DEVICE, "running four apps", |d| {
        four.iter().all(|a| state(d, a) == Some(AppState::Running))
    })
    .await;

    // A fifth is refused, and its reason says it will be tried again.
    deploy(&p.store, "fifth", "1", &small(), "fleet=slots", Strategy::AllAtOnce, &[]).await;
    let d = device_where(&p.store, DEVICE, "the fifth app rejected", |d| state(d, "fifth") == Some(AppState::Rejected))
        .await;
    let fifth = d.status.session.app("fifth").unwrap();
    assert_eq!(
        fifth.reason.as_deref(),
        Some("no-resources: all 4 app slots are in use; retrying when room appears"),
        "{fifth:?}"
    );
    let spec = p.store.get_application("fifth").await.unwrap().unwrap().spec;

    // One app leaves: the fifth takes its slot, nobody redeploying it.
    p.store.delete_application("two").await.unwrap();
    let d = device_where(&p.store, DEVICE, "running the fifth app in the freed slot", |d| {
        state(d, "fifth") == Some(AppState::Running) && state(d, "two").is_none()
    })
    .await;
    assert!(["one", "three", "four"].iter().all(|a| state(&d, a) == Some(AppState::Running)), "{:?}", d.status);
    let fifth = d.status.session.app("fifth").unwrap();
    assert_eq!((fifth.revision, fifth.reason.as_deref()), (Some(1), None));
    let app = p.store.get_application("fifth").await.unwrap().unwrap();
    assert_eq!(app.spec, spec, "the application was not touched");
    assert_eq!(app.status.history.len(), 1, "no new revision");
    let gw = p.gateways[0].stats();
    assert_eq!(gw.enrollments.load(Ordering::Relaxed), 1, "the device was never reset nor reconnected");
    p.shutdown().await;
}
