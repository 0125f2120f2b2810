//! Edge applications (`runtime: edge`) on the running platform:
//! - two real gateways over one store run a component each, and the
//!   rollout engine takes them through a canary exactly as it does device
//!   apps — a version that fails on the first gateway is rolled back, and
//!   the other gateway never sees it (read from the gateways' own records);
//! - an application granted `attached-board` drives a real stm32vldiscovery
//!   in QEMU, created through the API and attached to its gateway: what it
//!   writes is read at QEMU's side of the board's USART2, not from the
//!   component's report.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use wasmbed_model::{
    AppState, Application, ApplicationSpec, EdgeStepKind, Gateway, Meta, RevisionOutcome, RolloutPhase, Runtime, Store,
    Strategy,
};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::{edge_component, eventually};

const CAPS: [&str; 4] = ["log", "config", "kv", "telemetry"];

/// Stores the probe component and writes edge application `name` with `config`.
async fn deploy_edge(store: &Arc<dyn Store>, name: &str, version: &str, config: &[(&str, &str)]) {
    let Strategy::Canary { steps, .. } = Strategy::canary("1,100%").unwrap() else { unreachable!() };
    let strategy = Strategy::Canary { steps, soak_ms: 300, max_failures: 0, gates: vec![] };
    deploy_component(store, name, "probe", version, &CAPS, "", config, strategy).await;
}

/// Stores component `component` and writes edge application `name`.
#[allow(clippy::too_many_arguments)] // The application's fields, named where called.
async fn deploy_component(
    store: &Arc<dyn Store>,
    name: &str,
    component: &str,
    version: &str,
    caps: &[&str],
    selector: &str,
    config: &[(&str, &str)],
    strategy: Strategy,
) {
    let component = edge_component(component);
    let digest = hex::encode(Sha256::digest(&component));
    store.put_module(&digest, &component).await.unwrap();
    let existing = store.get_application(name).await.unwrap();
    let meta = existing.as_ref().map_or_else(|| Meta::named(name), |a| a.meta.clone());
    let spec = ApplicationSpec {
        runtime: Runtime::Edge,
        capabilities: caps.iter().map(|c| c.to_string()).collect(),
        config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
        selector: selector.into(),
        strategy,
        ..ApplicationSpec::new(version, &digest, component.len() as u32)
    };
    spec.validate().unwrap();
    store.put_application(&Application { meta, spec, status: Default::default() }).await.unwrap();
}

/// What a gateway reports of edge slot `slot`: (revision, state).
fn edge_state(g: &Gateway, slot: &str) -> Option<(u64, AppState)> {
    g.status.edge.iter().find(|o| o.name == slot).map(|o| (o.revision.unwrap_or(0), o.state))
}

async fn gateways(store: &Arc<dyn Store>) -> Vec<Gateway> {
    store.list_gateways().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_of_an_edge_application_across_two_gateways_rolls_back_on_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PlatformConfig::new(tmp.path()).with_gateways(2).with_heartbeat_ms(300).with_api().quick();
    let p = Platform::start(cfg).await.unwrap();
    eventually(&p.store, "both gateways reported", async || {
        let gws = gateways(&p.store).await;
        if gws.iter().filter(|g| g.status.last_seen_ms.is_some()).count() == 2 { Ok(()) } else { Err(gws) }
    })
    .await;

    // Revision 1 reaches both gateways through the canary.
    deploy_edge(&p.store, "probe", "1", &[("label", "a")]).await;
    eventually(&p.store, "revision 1 completed on both gateways", async || {
        let app = p.store.get_application("probe").await.unwrap().unwrap();
        let gws = gateways(&p.store).await;
        let phase = app.status.rollout.as_ref().map(|r| r.phase);
        let both = gws.iter().all(|g| edge_state(g, "probe") == Some((1, AppState::Running)));
        if phase == Some(RolloutPhase::Completed) && both && app.status.desired == 2 {
            Ok(())
        } else {
            Err((app.status, gws))
        }
    })
    .await;

    // Revision 2 (a config change) fails its init: the canary's first
    // gateway reports it failed, the rollout rolls back, and both gateways
    // run revision 1.
    deploy_edge(&p.store, "probe", "2", &[("label", "b"), ("init", "fail")]).await;
    let app = eventually(&p.store, "revision 2 rolled back", async || {
        let app = p.store.get_application("probe").await.unwrap().unwrap();
        let ro = app.status.rollout.clone();
        if ro.as_ref().is_some_and(|r| r.revision == 2 && r.phase == RolloutPhase::RolledBack) {
            Ok(app)
        } else {
            Err(app.status)
        }
    })
    .await;
    let message = app.status.rollout.as_ref().and_then(|r| r.message.clone()).unwrap_or_default();
    assert!(message.contains("1 of 1 updated gateways failed"), "{message}");
    assert_eq!(app.status.revision(2).and_then(|r| r.outcome), Some(RevisionOutcome::RolledBack));
    let touched = app.status.rollout.as_ref().map(|r| r.touched.len());
    assert_eq!(touched, Some(1), "the canary's first step touched one gateway");
    eventually(&p.store, "both gateways run revision 1 again", async || {
        let gws = gateways(&p.store).await;
        if gws.iter().all(|g| edge_state(g, "probe") == Some((1, AppState::Running))) { Ok(()) } else { Err(gws) }
    })
    .await;

    // Every step is in the hash-chained audit log, as each gateway saw it.
    let log = tmp.path().join("audit.log");
    let entries = eventually(&p.store, "the steps audited", async || {
        let entries: Vec<serde_json::Value> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|e: &serde_json::Value| e["action"].as_str().is_some_and(|a| a.starts_with("edge.")))
            .collect();
        let started =
            |rev: &str| entries.iter().filter(|e| e["action"] == "edge.start" && e["facts"]["revision"] == rev).count();
        let refused = entries.iter().filter(|e| e["action"] == "edge.stage" && e["outcome"] == "failed").count();
        if started("1") == 2 && refused == 1 { Ok(entries) } else { Err(entries) }
    })
    .await;
    let refused = entries.iter().find(|e| e["action"] == "edge.stage").unwrap();
    assert_eq!((&refused["target"], &refused["facts"]["revision"]), (&"probe".into(), &"2".into()));
    assert!(refused["detail"].as_str().is_some_and(|d| d.contains("init")), "{refused}");
    let gateway = refused["actor"].as_str().unwrap();
    let touched: Vec<_> = app.status.rollout.as_ref().map(|r| r.touched.iter().cloned().collect()).unwrap_or_default();
    assert_eq!(touched, [gateway], "the gateway that refused revision 2 is the one the canary touched");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_application_drives_an_attached_board_observed_at_its_usart2() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use wasmbed_model::DevicePhase;

    const BOARD: &str = "stm32vldiscovery";
    let tmp = tempfile::tempdir().unwrap();
    let firmware = [(BOARD.to_string(), wasmbed_qemu::firmware_from_source(BOARD).unwrap())].into_iter().collect();
    let cfg = PlatformConfig::new(tmp.path()).with_heartbeat_ms(1000).with_firmware(firmware).with_api().quick();
    let p = Platform::start(cfg).await.unwrap();
    // Created through the API, which issues its link key.
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/devices", p.api_url().unwrap()))
        .bearer_auth(p.admin_token.clone().unwrap())
        .json(&serde_json::json!({"name": "vld-1", "board": BOARD, "labels": {"room": "lab"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());
    eventually(&p.store, "vld-1 attached and Online", async || {
        let d = p.store.get_device("vld-1").await.unwrap().unwrap();
        if d.status.phase == DevicePhase::Online { Ok(()) } else { Err(d.status) }
    })
    .await;

    // QEMU's side of the board's USART2 (uart:1), before anything writes.
    let manager = p.manager.clone().unwrap();
    let mut usart2 = tokio::net::UnixStream::connect(manager.app_uart("vld-1", 1)).await.unwrap();
    let strategy = Strategy::AllAtOnce;
    deploy_component(&p.store, "blink", "vld-blink", "1", &["log", "attached-board"], "room=lab", &[], strategy).await;

    // Its init greets on USART2, its tick echoes what arrives there.
    let within = std::time::Duration::from_secs(60);
    let hello = b"hello from the edge\r\n";
    let mut got = vec![0; hello.len()];
    tokio::time::timeout(within, usart2.read_exact(&mut got)).await.unwrap().unwrap();
    assert_eq!(got, hello);
    usart2.write_all(b"ping").await.unwrap();
    let mut echo = [0; 4];
    tokio::time::timeout(within, usart2.read_exact(&mut echo)).await.unwrap().unwrap();
    assert_eq!(&echo, b"ping");

    // The rollout sees it running on the board, reported by its gateway.
    let app = eventually(&p.store, "blink running on vld-1", async || {
        let app = p.store.get_application("blink").await.unwrap().unwrap();
        let phase = app.status.rollout.as_ref().map(|r| r.phase);
        if phase == Some(RolloutPhase::Completed) && app.status.running == 1 { Ok(app) } else { Err(app.status) }
    })
    .await;
    assert_eq!(app.status.desired, 1, "the board, not the gateway");
    let gw = gateways(&p.store).await;
    assert!(gw.iter().any(|g| edge_state(g, "blink@vld-1") == Some((1, AppState::Running))), "{gw:?}");
    p.shutdown().await;
}

/// Hands samples of `seq` to the platform's telemetry, as devices publish them.
fn publish_seq(p: &Platform, seqs: std::ops::RangeInclusive<u64>) {
    p.telemetry.record(seqs.map(|i| wasmbed_model::TelemetrySample {
        device: "sensor-1".into(),
        app: "counter".into(),
        revision: None,
        metric: "seq".into(),
        t_ms: i,
        value: i as f64,
    }));
}

/// A counter the probe keeps in its key-value store, as the platform keeps it.
async fn kept_counter(store: &Arc<dyn Store>, slot: &str, key: &str) -> Option<u64> {
    let bytes = store.get_edge_state("gateway-0", slot).await.unwrap()?;
    let (kv, _) = wasmbed_edge::kv::Kv::decode(&bytes).unwrap();
    Some(u64::from_le_bytes(kv.get(key)?.try_into().unwrap()))
}

/// Starts the platform again on the data directory a stopped one used:
/// its store file is free once the stopped platform's last tasks end.
async fn start_again(cfg: impl Fn() -> PlatformConfig) -> Platform {
    let mut started = Platform::start(cfg()).await;
    for _ in 0..100 {
        if started.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        started = Platform::start(cfg()).await;
    }
    started.unwrap()
}

/// Waits until gateway-0's journal shows `slot` started after step `after`;
/// returns that step's number.
async fn started_after(store: &Arc<dyn Store>, slot: &str, after: u64) -> u64 {
    eventually(store, "started on the gateway", async || {
        let g = store.get_gateway("gateway-0").await.unwrap();
        let journal = g.map(|g| g.status.edge_journal).unwrap_or_default();
        let step = journal.iter().find(|s| s.slot == slot && s.kind == EdgeStepKind::Started && s.seq > after);
        step.map(|s| s.seq).ok_or(journal)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_applications_key_value_store_is_kept_by_the_platform_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = || PlatformConfig::new(tmp.path()).with_heartbeat_ms(300).quick();
    let p = Platform::start(cfg()).await.unwrap();
    deploy_edge(&p.store, "probe", "1", &[("label", "a")]).await;
    let before = started_after(&p.store, "probe", 0).await;
    publish_seq(&p, 1..=5);
    // Read from the platform's store, not from the component.
    eventually(&p.store, "5 samples counted and kept", async || match kept_counter(&p.store, "probe", "count").await {
        Some(5) => Ok(()),
        other => Err(other),
    })
    .await;
    p.shutdown().await;

    // A store the platform kept for another slot that cannot be read.
    let p = start_again(cfg).await;
    p.store.put_edge_state("gateway-0", "probe-b", b"not a store").await.unwrap();
    started_after(&p.store, "probe", before).await;
    publish_seq(&p, 6..=8);
    eventually(&p.store, "counting goes on from what was kept", async || {
        let kept = (kept_counter(&p.store, "probe", "count").await, kept_counter(&p.store, "probe", "gaps").await);
        if kept == (Some(8), None) { Ok(()) } else { Err(kept) }
    })
    .await;
    deploy_edge(&p.store, "probe-b", "1", &[]).await;
    started_after(&p.store, "probe-b", 0).await;
    publish_seq(&p, 9..=9);
    eventually(&p.store, "probe-b starts empty, the unreadable bytes kept aside", async || {
        let aside = p.store.get_edge_state("gateway-0", "probe-b#unreadable").await.unwrap();
        let count = kept_counter(&p.store, "probe-b", "count").await;
        if aside.as_deref() == Some(&b"not a store"[..]) && count == Some(1) { Ok(()) } else { Err((aside, count)) }
    })
    .await;
    let said = p.logs.tail("gateway-0", 100);
    assert!(said.iter().any(|l| l.app == "probe-b" && l.line.contains("unreadable")), "{said:?}");

    // Deleted applications take what they kept with them.
    p.store.delete_application("probe-b").await.unwrap();
    eventually(&p.store, "probe-b's store deleted", async || {
        match p.store.get_edge_state("gateway-0", "probe-b").await.unwrap() {
            None => Ok(()),
            Some(b) => Err(b.len()),
        }
    })
    .await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_an_edge_application_on_its_gateways_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PlatformConfig::new(tmp.path()).with_gateways(2).with_heartbeat_ms(300).with_api().quick();
    let p = Platform::start(cfg).await.unwrap();
    deploy_edge(&p.store, "probe", "1", &[]).await;
    eventually(&p.store, "the rollout completed", async || {
        let app = p.store.get_application("probe").await.unwrap().unwrap();
        let phase = app.status.rollout.as_ref().map(|r| r.phase);
        if phase == Some(RolloutPhase::Completed) && app.status.running == 2 { Ok(()) } else { Err(app.status) }
    })
    .await;
    let send = async |body: serde_json::Value| {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/applications/probe/messages", p.api_url().unwrap()))
            .bearer_auth(p.admin_token.clone().unwrap())
            .json(&body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.json::<serde_json::Value>().await.unwrap())
    };

    // To every gateway it runs on: its on-message publishes, which the
    // platform's telemetry records under each gateway's name.
    let (status, results) = send(serde_json::json!({ "payload": "publish" })).await;
    assert_eq!(status, 200, "{results}");
    assert_eq!(
        results,
        serde_json::json!([
            { "device": "gateway-0", "delivery": "delivered" },
            { "device": "gateway-1", "delivery": "delivered" },
        ])
    );
    for gw in ["gateway-0", "gateway-1"] {
        let published = p.telemetry.metrics(gw);
        assert!(published.iter().any(|m| m.metric == "probe_value"), "{gw}: {published:?}");
    }

    // To one gateway, and one it does not run on.
    let (status, results) = send(serde_json::json!({ "device": "gateway-1", "payload": "trap" })).await;
    assert_eq!((status, &results[0]["delivery"]), (200, &"failed".into()), "{results}");
    let (status, body) = send(serde_json::json!({ "device": "gateway-7", "payload": "hi" })).await;
    assert_eq!(status, 404, "{body}");
    // The trap failed that version on that gateway only, reported by it.
    eventually(&p.store, "gateway-1 reports probe failed", async || {
        let g = p.store.get_gateway("gateway-1").await.unwrap().unwrap();
        let o = g.status.edge.iter().find(|o| o.name == "probe").cloned();
        match o {
            Some(o) if o.state == AppState::Failed && o.reason.as_deref().is_some_and(|r| r.contains("trapped")) => {
                Ok(())
            }
            other => Err(other),
        }
    })
    .await;
    let (_, results) = send(serde_json::json!({ "payload": "publish" })).await;
    assert_eq!(results[0]["delivery"], "delivered", "{results}");
    assert_eq!(results[1]["delivery"], "not-running", "{results}");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blue_green_edge_rollout_installs_everywhere_then_switches_and_keeps_the_old_one() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PlatformConfig::new(tmp.path()).with_gateways(2).with_heartbeat_ms(300).quick();
    let p = Platform::start(cfg).await.unwrap();
    let strategy = || Strategy::BlueGreen { soak_ms: 300 };
    let completed = async |revision: u64| {
        eventually(&p.store, "the rollout completed", async || {
            let app = p.store.get_application("probe").await.unwrap().unwrap();
            let ro = app.status.rollout.clone();
            if ro.is_some_and(|r| r.revision == revision && r.phase == RolloutPhase::Completed) {
                Ok(())
            } else {
                Err(app.status)
            }
        })
        .await
    };
    deploy_component(&p.store, "probe", "probe", "1", &CAPS, "", &[("label", "a")], strategy()).await;
    completed(1).await;
    publish_seq(&p, 1..=2);
    eventually(&p.store, "revision 1 counted the samples", async || {
        match kept_counter(&p.store, "probe", "handled.a").await {
            Some(2) => Ok(()),
            other => Err(other),
        }
    })
    .await;
    deploy_component(&p.store, "probe", "probe", "2", &CAPS, "", &[("label", "b")], strategy()).await;
    completed(2).await;
    // Both gateways switched to revision 2 and keep revision 1 installed,
    // idle, beside it.
    eventually(&p.store, "r2 running and r1 kept on both gateways", async || {
        let gws = gateways(&p.store).await;
        let both = gws.iter().all(|g| {
            edge_state(g, "probe.r2") == Some((2, AppState::Running))
                && edge_state(g, "probe.r1") == Some((1, AppState::Stopped))
        });
        if both { Ok(()) } else { Err(gws) }
    })
    .await;
    // Only the running revision is fed, and it goes on with the store the
    // application kept: the sequence continues with no gap.
    publish_seq(&p, 3..=5);
    eventually(&p.store, "revision 2 counted the samples", async || {
        let mut counted = Vec::new();
        for key in ["handled.a", "handled.b", "count", "gaps"] {
            counted.push(kept_counter(&p.store, "probe", key).await);
        }
        if counted == [Some(2), Some(3), Some(5), None] { Ok(()) } else { Err(counted) }
    })
    .await;
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_stopping_in_order_keeps_what_its_components_changed_since_its_last_round() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = || {
        let mut cfg = PlatformConfig::new(tmp.path()).with_heartbeat_ms(300).quick();
        // Rounds ten minutes apart: only the stop can write what changed.
        cfg.report_ms = 600_000;
        cfg
    };
    let p = Platform::start(cfg()).await.unwrap();
    deploy_edge(&p.store, "probe", "1", &[("label", "a")]).await;
    eventually(&p.store, "the rollout completed", async || {
        let app = p.store.get_application("probe").await.unwrap().unwrap();
        let phase = app.status.rollout.as_ref().map(|r| r.phase);
        if phase == Some(RolloutPhase::Completed) { Ok(()) } else { Err(app.status) }
    })
    .await;
    // A round also runs when an application changes (its status settling
    // after the rollout, say), so messages are sent until the store holds
    // fewer than the component counted: then only the stop can write them.
    // Counted by messages, which the component has handled when their
    // delivery returns; samples reach it through the telemetry feed, so
    // one may still be on its way when the gateway stops.
    let mut sent = 0;
    let mut kept = None;
    for _ in 0..10 {
        publish_seq(&p, sent * 4 + 1..=sent * 4 + 4);
        let delivered = p.gateways[0].send_edge_message("probe", b"tally".to_vec()).await.unwrap();
        assert_eq!(delivered, wasmbed_protocol::Delivery::Delivered);
        sent += 1;
        kept = kept_counter(&p.store, "probe", "messages").await;
        if kept != Some(sent) {
            break;
        }
    }
    assert_ne!(kept, Some(sent), "a round wrote every message each time: the stop was never needed");
    p.shutdown().await;

    let p = start_again(cfg).await;
    assert_eq!(kept_counter(&p.store, "probe", "messages").await, Some(sent), "written as the gateway stopped");
    p.shutdown().await;
}
