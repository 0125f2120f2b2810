//! rollout: a progressive rollout to N simulated devices (the real agent
//! over mutual TLS), the real gateway and control plane in this process.
//!
//! Revision 1 is deployed everywhere first; then revision 2 is rolled out
//! with the strategy asked for, soak times 0. With `--fail-ratio R`,
//! revision 2 traps at init on that share of the devices (chosen by their
//! names), so the first gate that touches one fails and every touched
//! device must go back to revision 1.
//!
//! Figures: `total_ms` from the deploy request to the rollout's end
//! (Completed, or every touched device running revision 1 again after a
//! rollback); `rollback_ms` from the rollback decision to that; `updated`
//! devices running revision 2 at the end; `lost` devices not online and
//! running the revision they should at the end.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::watch;
use wasmbed_bench_cli::Strategy;
use wasmbed_model::{Application, DevicePhase, RolloutPhase, Store};
use wasmbed_platform::fixtures::app;
use wasmbed_platform::{Platform, PlatformConfig};

use crate::deploy::{deploy, sim_devices, until_sessions};

fn strategy(strategy: Strategy) -> serde_json::Value {
    match strategy {
        Strategy::Canary => serde_json::json!({"type": "canary", "steps": ["1%", "10%", "50%", "100%"], "soakMs": 0}),
        Strategy::Rolling => serde_json::json!({"type": "rolling", "maxUnavailable": "25%"}),
        Strategy::BlueGreen => serde_json::json!({"type": "blue-green", "soakMs": 0}),
        Strategy::AllAtOnce => serde_json::json!({"type": "all-at-once"}),
    }
}

async fn rollout_of(store: &dyn Store, revision: u64) -> Result<Option<Application>> {
    let a = store.get_application("bench").await?.context("the application vanished")?;
    let done = a.status.rollout.as_ref().is_some_and(|r| r.revision == revision && r.phase.is_final());
    Ok(done.then_some(a))
}

/// Devices whose status shows `slot` running `revision`, and devices online.
async fn census(store: &dyn Store, revision: u64) -> Result<(usize, usize)> {
    let devices = store.list_devices().await?;
    let on = devices.iter().filter(|d| d.status.session.runs(|a| a.revision == Some(revision))).count();
    let online = devices.iter().filter(|d| d.status.phase == DevicePhase::Online).count();
    Ok((on, online))
}

/// Runs the scenario: `n` devices, revision 2 rolled out with `strategy`,
/// trapping on `fail_ratio` of them.
pub async fn run(n: usize, strategy_kind: Strategy, fail_ratio: f64) -> Result<serde_json::Value> {
    if !(0.0..=1.0).contains(&fail_ratio) {
        bail!("--fail-ratio {fail_ratio}: must be 0 to 1");
    }
    let strategy_name = strategy_kind.as_str();
    let strategy = strategy(strategy_kind);
    let tmp = tempfile::tempdir()?;
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api().with_heartbeat_ms(2000)).await?;
    let api = p.api_url().context("api")?;
    let http = crate::deploy::client_for(&p)?;
    eprintln!("creating and connecting {n} simulated devices");
    let bundles = sim_devices(&p, "bench", n, ("bench", "rollout")).await?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_fleet(bundles, Default::default(), stop.clone()));
    until_sessions(&p, n, Duration::from_secs(300)).await?;
    let store = p.store.as_ref();

    let all = serde_json::json!({"type": "all-at-once"});
    let caps = ["log", "device"];
    deploy_caps(&http, &api, "1", &app("v1", 0), all, &caps).await?;
    let start = Instant::now();
    while rollout_of(store, 1).await?.is_none() || census(store, 1).await?.0 < n {
        if start.elapsed() > Duration::from_secs(120) {
            bail!("revision 1 did not reach every device");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!("revision 1 on {n} devices; rolling out revision 2 ({strategy_name}, fail ratio {fail_ratio})");

    let per_mille = (fail_ratio * 1000.0).round() as u32;
    let t0 = Instant::now();
    deploy_caps(&http, &api, "2", &app("v2", per_mille), strategy, &caps).await?;
    let deadline = t0 + Duration::from_secs(120);
    let finished = loop {
        if let Some(a) = rollout_of(store, 2).await? {
            break a;
        }
        if Instant::now() > deadline {
            bail!("revision 2's rollout did not finish in 120 s");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let decided_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let ro = finished.status.rollout.clone().context("rollout")?;
    let rolled_back = ro.phase == RolloutPhase::RolledBack;
    let want = if rolled_back { 1 } else { 2 };
    // Converged: every device online and running what it should.
    let converge = Instant::now();
    let (on, online) = loop {
        let (on, online) = census(store, want).await?;
        if (on == n && online == n) || converge.elapsed() > Duration::from_secs(30) {
            break (on, online);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let total_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let (v2, _) = census(store, 2).await?;
    let lost = n - on.min(online);
    eprintln!(
        "revision 2 {} after {decided_ms:.0} ms at step {} ({} devices touched); {on} devices on revision {want}",
        ro.phase.as_str(),
        ro.step + 1,
        ro.touched.len()
    );
    let _ = stop_tx.send(true);
    p.shutdown().await;
    let round = |x: f64| (x * 10.0).round() / 10.0;
    let mut out = serde_json::json!({
        "devices": n,
        "strategy": strategy_name,
        "steps": finished.status.steps.len(),
        "total_ms": round(total_ms),
        "decided_ms": round(decided_ms),
        "updated": v2,
        "touched": ro.touched.len(),
        "lost": lost,
        "rolled_back": rolled_back,
    });
    if rolled_back {
        out["rollback_ms"] = serde_json::json!(round(total_ms - decided_ms));
        out["fail_ratio"] = serde_json::json!(fail_ratio);
    }
    Ok(out)
}

async fn deploy_caps(
    http: &reqwest::Client,
    api: &str,
    version: &str,
    module: &[u8],
    strategy: serde_json::Value,
    caps: &[&str],
) -> Result<()> {
    deploy(http, api, "bench", version, module, "bench=rollout", strategy, caps).await.map(|_| ())
}
