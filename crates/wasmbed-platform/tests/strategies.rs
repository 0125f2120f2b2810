//! Rolling waves, blue-green with its instant rollback, and the operator's
//! pause, resume and abort, on simulated devices under the real gateway and
//! control plane.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use wasmbed_model::AppState;
use wasmbed_model::{Device, DevicePhase, RolloutPhase, Step, Strategy};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::{application_where, devices_where};

const N: usize = 12;

fn slot_state(d: &Device, slot: &str) -> Option<(AppState, Option<u64>)> {
    d.status.session.app(slot).map(|a| (a.state, a.revision))
}

async fn platform(tmp: &tempfile::TempDir) -> (Platform, Fleet) {
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_heartbeat_ms(400).quick()).await.unwrap();
    let fleet = Fleet::start(&p, "st", N, &[("fleet", "st")]).await;
    devices_where(&p.store, "online", |ds| ds.len() == N && ds.iter().all(|d| d.status.phase == DevicePhase::Online))
        .await;
    (p, fleet)
}

async fn finished(p: &Platform, app: &str, revision: u64) -> wasmbed_model::Application {
    application_where(&p.store, app, &format!("done with revision {revision}"), |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == revision && r.phase.is_final())
    })
    .await
}

/// Waits until every device runs one slot and keeps another installed,
/// stopped; each given as slot name and revision.
async fn running_beside_stopped(p: &Platform, what: &str, running: (&str, u64), stopped: (&str, u64)) {
    devices_where(&p.store, what, |ds| {
        ds.iter().all(|d| {
            slot_state(d, running.0) == Some((AppState::Running, Some(running.1)))
                && slot_state(d, stopped.0) == Some((AppState::Stopped, Some(stopped.1)))
        })
    })
    .await;
}

/// Deploys the gateways have sent so far.
fn modules_sent(p: &Platform) -> u64 {
    p.gateways.iter().map(|g| g.stats().deploys.load(std::sync::atomic::Ordering::Relaxed)).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_installs_beside_switches_and_rolls_back_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, _fleet) = platform(&tmp).await;
    let bg = Strategy::BlueGreen { soak_ms: 0 };
    deploy(&p.store, "bg", "1", &app("v1", 0), "fleet=st", bg.clone(), APP_CAPS).await;
    finished(&p, "bg", 1).await;
    devices_where(&p.store, "bg.r1 running", |ds| {
        ds.iter().all(|d| slot_state(d, "bg.r1") == Some((AppState::Running, Some(1))))
    })
    .await;

    deploy(&p.store, "bg", "2", &app("v2", 0), "fleet=st", bg.clone(), APP_CAPS).await;
    let a = finished(&p, "bg", 2).await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::Completed);
    assert_eq!(a.status.steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["install", "switch"]);
    // The new one runs; the old one is kept, stopped, for an instant rollback.
    running_beside_stopped(&p, "r2 running beside a stopped r1", ("bg.r2", 2), ("bg.r1", 1)).await;
    let deploys_before = modules_sent(&p);

    // Rolling back to revision 1 switches back without sending a module.
    let mut a = p.store.get_application("bg").await.unwrap().unwrap();
    a.spec.set_template(&a.status.revision(1).unwrap().template.clone());
    p.store.put_application(&a).await.unwrap();
    let a = finished(&p, "bg", 1).await;
    assert!(a.status.rollout.as_ref().unwrap().rollback);
    running_beside_stopped(&p, "r1 running again beside a stopped r2", ("bg.r1", 1), ("bg.r2", 2)).await;
    assert_eq!(deploys_before, modules_sent(&p), "an instant rollback sends no module");

    // A new revision that cannot start: the switch is never made.
    deploy(&p.store, "bg", "3", &app("v3", 1000), "fleet=st", bg, APP_CAPS).await;
    let a = finished(&p, "bg", 3).await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::RolledBack, "{:?}", a.status.rollout);
    devices_where(&p.store, "r1 still running", |ds| {
        ds.iter()
            .all(|d| slot_state(d, "bg.r1") == Some((AppState::Running, Some(1))) && slot_state(d, "bg.r3").is_none())
    })
    .await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_waves_and_pause_resume_abort() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, _fleet) = platform(&tmp).await;
    deploy(&p.store, "r", "1", &app("v1", 0), "fleet=st", Strategy::AllAtOnce, APP_CAPS).await;
    finished(&p, "r", 1).await;

    // Waves of a quarter: four steps, none past its budget.
    let rolling = Strategy::Rolling { max_unavailable: Step::Percent(25) };
    deploy(&p.store, "r", "2", &app("v2", 0), "fleet=st", rolling, APP_CAPS).await;
    let a = finished(&p, "r", 2).await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::Completed);
    assert_eq!(a.status.steps.iter().map(|s| s.target).collect::<Vec<_>>(), [3, 6, 9, 12]);
    devices_where(&p.store, "revision 2 everywhere", |ds| ds.iter().all(|d| running_revision(d, "r") == Some(2))).await;

    // A canary held by its soak time, paused, resumed, then aborted.
    let slow = Strategy::Canary {
        steps: Strategy::canary_steps("1,50%,100%"),
        soak_ms: 60_000,
        max_failures: 0,
        gates: vec![],
    };
    deploy(&p.store, "r", "3", &app("v3", 0), "fleet=st", slow, APP_CAPS).await;
    application_where(&p.store, "r", "soaking revision 3 on one device", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 3) && a.status.running == 1
    })
    .await;
    let set = |f: fn(&mut wasmbed_model::ApplicationSpec)| {
        let store = p.store.clone();
        async move {
            let mut a = store.get_application("r").await.unwrap().unwrap();
            f(&mut a.spec);
            store.put_application(&a).await.unwrap();
        }
    };
    set(|s| s.paused = true).await;
    application_where(&p.store, "r", "paused", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.phase == RolloutPhase::Paused)
    })
    .await;
    set(|s| s.paused = false).await;
    application_where(&p.store, "r", "resumed", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.phase == RolloutPhase::Progressing)
    })
    .await;
    set(|s| s.abort_revision = Some(3)).await;
    let a = finished(&p, "r", 3).await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::Aborted);
    devices_where(&p.store, "the canary device back on revision 2", |ds| {
        ds.iter().all(|d| running_revision(d, "r") == Some(2))
    })
    .await;
    p.shutdown().await;
}

/// Publishes `temp_c` = VALUE every tick.
fn publishing(value: f64) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
             (import "wasmbed" "telemetry_publish" (func $p (param i32 i32 f64 i64) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 0) "temp_c")
             (func (export "tick") (param i64)
               (drop (call $p (i32.const 0) (i32.const 6) (f64.const {value}) (i64.const 0)))))"#
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_new_version_breaks_a_metric_gate_is_rolled_back() {
    let tmp = tempfile::tempdir().unwrap();
    let (p, _fleet) = platform(&tmp).await;
    let caps = &["telemetry"];
    let gated = |steps: &str| Strategy::Canary {
        steps: Strategy::canary_steps(steps),
        soak_ms: 0,
        max_failures: 0,
        gates: vec!["temp_c < 80".parse().unwrap()],
    };
    // Revision 1 reports 21.5: the gate holds, the canary completes.
    deploy(&p.store, "thermo", "1", &publishing(21.5), "fleet=st", gated("1,50%,100%"), caps).await;
    let done = finished(&p, "thermo", 1).await;
    assert_eq!(done.status.rollout.unwrap().phase, RolloutPhase::Completed);
    // Revision 2 runs fine but reports 91: its first step breaks the gate.
    deploy(&p.store, "thermo", "2", &publishing(91.0), "fleet=st", gated("1,50%,100%"), caps).await;
    let rolled = finished(&p, "thermo", 2).await;
    let ro = rolled.status.rollout.unwrap();
    assert_eq!(ro.phase, RolloutPhase::RolledBack, "{:?}", ro.message);
    let why = ro.message.unwrap_or_default();
    assert!(why.contains("metric gate") && why.contains("temp_c = 91"), "{why}");
    assert!(ro.touched.len() < N, "it stopped at the canary step: {} touched", ro.touched.len());
    devices_where(&p.store, "every device back on revision 1", |ds| {
        ds.iter().all(|d| running_revision(d, "thermo") == Some(1))
    })
    .await;
    // Revision 1's devices report its value again, in their status.
    devices_where(&p.store, "temp_c 21.5 in every status", |ds| {
        ds.iter()
            .all(|d| d.status.session.app("thermo").and_then(|a| a.metrics.get("temp_c")).map(|g| g.0) == Some(21.5))
    })
    .await;
    p.shutdown().await;
}
