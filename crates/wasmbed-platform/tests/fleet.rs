//! A deterministic fleet simulation: 200 simulated devices (the real device
//! agent over mutual TLS, real WebAssembly) under the real gateway and
//! control plane. Which devices crash on a version is fixed by their names
//! (the app hashes its device id); which go offline comes from a seeded RNG.
//!
//! - a canary rollout of a good version completes through every step;
//! - a version that traps on some devices stops at the first gate that
//!   touches one, and every touched device is back on the previous revision;
//! - devices taken offline during a rollout are pending, never failed, and
//!   finish it after reconnecting; devices that join mid-rollout get what
//!   the rollout assigns them and end on the new revision too.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::*;
use rand::{SeedableRng, seq::IndexedRandom};
use wasmbed_model::{DevicePhase, RolloutPhase, Strategy};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::{application_where, devices_where};

const N: usize = 200;
/// Devices that join during the last rollout.
const LATE: usize = 5;

fn canary(soak_ms: u64) -> Strategy {
    let Strategy::Canary { steps, .. } = Strategy::canary("1,10%,50%,100%").unwrap() else { unreachable!() };
    Strategy::Canary { steps, soak_ms, max_failures: 0, gates: vec![] }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_rollouts_on_a_200_device_fleet() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_heartbeat_ms(500).quick()).await.unwrap();
    let mut fleet = Fleet::start(&p, "sim", N, &[("fleet", "sim")]).await;
    let all_n_on = |n: usize, rev: u64| {
        move |ds: &[wasmbed_model::Device]| {
            ds.len() == n
                && ds.iter().all(|d| d.status.phase == DevicePhase::Online && running_revision(d, "fleet") == Some(rev))
        }
    };
    let all_on = |rev: u64| all_n_on(N, rev);

    // Revision 1 everywhere, at once.
    deploy(&p.store, "fleet", "1", &app("v1", 0), "fleet=sim", Strategy::AllAtOnce, APP_CAPS).await;
    devices_where(&p.store, "running revision 1", all_on(1)).await;
    application_where(&p.store, "fleet", "completed revision 1", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 1 && r.phase == RolloutPhase::Completed)
    })
    .await;

    // A good version: every canary step, then everywhere.
    deploy(&p.store, "fleet", "2", &app("v2", 0), "fleet=sim", canary(0), APP_CAPS).await;
    let a = application_where(&p.store, "fleet", "completed revision 2", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 2 && r.phase.is_final())
    })
    .await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::Completed, "{:?}", a.status.rollout);
    let targets: Vec<u32> = a.status.steps.iter().map(|s| s.target).collect();
    assert_eq!(targets, [1, 20, 100, 200]);
    assert!(a.status.steps.iter().all(|s| s.completed_ms.is_some() && s.failed == 0), "{:?}", a.status.steps);
    devices_where(&p.store, "running revision 2", all_on(2)).await;

    // A version that traps on about 10% of the devices.
    let crashing: Vec<String> = fleet.names().into_iter().filter(|n| traps_on(n, 100)).collect();
    assert!((10..=35).contains(&crashing.len()), "{} devices crash", crashing.len());
    deploy(&p.store, "fleet", "3", &app("v3", 100), "fleet=sim", canary(0), APP_CAPS).await;
    let a = application_where(&p.store, "fleet", "finished revision 3", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 3 && r.phase.is_final())
    })
    .await;
    let ro = a.status.rollout.clone().unwrap();
    assert_eq!(ro.phase, RolloutPhase::RolledBack, "{ro:?}");
    assert_eq!(a.status.stable_revision, Some(2));
    // It stopped at the first step whose devices include a crashing one.
    let steps = [1usize, 20, 100, 200];
    let gate = ro.step as usize;
    assert!(ro.touched.len() <= steps[gate], "{} touched at step {gate}", ro.touched.len());
    assert!(ro.touched.iter().any(|d| crashing.contains(d)), "a crashing device was touched");
    assert!(ro.touched.len() < N, "the rollout never reached the whole fleet");
    assert!(ro.message.as_deref().unwrap().contains("rolled back to revision 2"), "{:?}", ro.message);
    // Every device, touched ones included, runs revision 2 again.
    devices_where(&p.store, "back on revision 2", all_on(2)).await;

    // Devices that go offline during a rollout: pending, not failed; they
    // finish it after reconnecting.
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let names = fleet.names();
    let away: Vec<String> = names.choose_multiple(&mut rng, 20).cloned().collect();
    for n in &away {
        fleet.power_off(n);
    }
    devices_where(&p.store, "20 devices unreachable", |ds| {
        ds.iter().filter(|d| d.status.phase == DevicePhase::Unreachable).count() == 20
    })
    .await;
    deploy(&p.store, "fleet", "4", &app("v4", 0), "fleet=sim", canary(1500), APP_CAPS).await;
    let a = application_where(&p.store, "fleet", "past its second step", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 4 && (r.step >= 2 || r.phase.is_final()))
    })
    .await;
    assert_eq!(a.status.failed, 0, "offline devices are not failures: {:?}", a.status);
    assert_eq!(a.status.pending_offline, 20, "{:?}", a.status);

    // Devices that join mid-rollout (held there by a pause): the selector
    // takes them in and they get what the rollout assigns them.
    let set_paused = |paused: bool| {
        let store = p.store.clone();
        async move {
            let mut a = store.get_application("fleet").await.unwrap().unwrap();
            a.spec.paused = paused;
            store.put_application(&a).await.unwrap();
        }
    };
    set_paused(true).await;
    application_where(&p.store, "fleet", "paused", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 4 && r.phase == RolloutPhase::Paused)
    })
    .await;
    let _late = Fleet::start(&p, "late", LATE, &[("fleet", "sim")]).await;
    devices_where(&p.store, "the joined devices running an assigned revision", |ds| {
        let late: Vec<_> = ds.iter().filter(|d| d.meta.name.starts_with("late")).collect();
        late.len() == LATE && late.iter().all(|d| matches!(running_revision(d, "fleet"), Some(2 | 4)))
    })
    .await;
    set_paused(false).await;
    for n in &away {
        fleet.power_on(n);
    }
    let a = application_where(&p.store, "fleet", "completed revision 4", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 4 && r.phase.is_final())
    })
    .await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::Completed, "{:?}", a.status.rollout);
    devices_where(&p.store, "every device, returned and joined ones too, on revision 4", all_n_on(N + LATE, 4)).await;
    let a = application_where(&p.store, "fleet", "counting every device running", |a| {
        a.status.running == (N + LATE) as u32
    })
    .await;
    assert_eq!((a.status.failed, a.status.pending_offline, a.status.updated), (0, 0, (N + LATE) as u32));
    p.shutdown().await;
}
