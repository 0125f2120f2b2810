//! Deploys refused for lack of room, against a real gateway: a device that
//! refuses every deploy with `no-resources` is asked again only as time
//! (the gateway's clock, a fake one here) allows, never once per heartbeat,
//! while its session and the gateway's other sessions carry on.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmbed_gateway::{GatewayConfig, RETRY_NOTE, RetryPolicy};
use wasmbed_model::{AppState, Application, ApplicationSpec, Device, Meta, Strategy, clock};
use wasmbed_protocol::*;
use wasmbed_testkit::{FakeClock, With, device, device_where};

mod common;

use common::{Env, env_with_clock};

const HELLO: &str =
    r#"(module (memory (export "memory") 1) (func (export "init")) (func (export "tick") (param i64)))"#;

async fn add_device(e: &Env, name: &str, role: &str) {
    let d = device(name).with(|d| {
        d.spec.labels.insert("role".into(), role.into());
    });
    e.create_device(d).await;
}

/// Application `name` with module `wat`, on the devices labelled `role`.
async fn deploy(e: &Env, name: &str, wat: &str, role: &str) {
    let module = wat::parse_str(wat).unwrap();
    let digest = hex::encode(Sha256::digest(&module));
    e.store.put_module(&digest, &module).await.unwrap();
    let spec = ApplicationSpec {
        selector: format!("role={role}"),
        strategy: Strategy::AllAtOnce,
        ..ApplicationSpec::new("1", &digest, module.len() as u32)
    };
    e.store.put_application(&Application { meta: Meta::named(name), spec, status: Default::default() }).await.unwrap();
}

/// What the refusing device saw.
#[derive(Default)]
struct Seen {
    deploys: AtomicU64,
    errors: AtomicU64,
}

/// A device that heartbeats every 100 ms with no apps and plenty of free
/// heap (the uptime it reports counts its heartbeats), and refuses every
/// deploy: "all 4 app slots are in use". Ends when the gateway closes.
async fn refusing_device(mut s: TlsStream<TcpStream>, seen: Arc<Seen>, mut stop: watch::Receiver<bool>) {
    let mut reader = FrameReader::new(MAX_FRAME_LEN);
    let mut buf = [0u8; 4096];
    let mut beat = tokio::time::interval(Duration::from_millis(100));
    let mut beats = 0u64;
    loop {
        let mut out = Vec::new();
        tokio::select! {
            _ = beat.tick() => {
                beats += 1;
                let hb = Heartbeat { uptime_ms: beats, free_memory: 200_000, apps: vec![] };
                encode_frame(&DeviceMsg::Heartbeat(hb), &mut out).unwrap();
            }
            n = s.read(&mut buf) => {
                let Ok(n @ 1..) = n else { return };
                reader.push(&buf[..n]).unwrap();
                while let Some(frame) = reader.next_frame().unwrap() {
                    match decode_gateway_msg(&frame).unwrap() {
                        GatewayMsg::DeployBegin(b) => {
                            seen.deploys.fetch_add(1, Ordering::SeqCst);
                            let reason =
                                FailReason { code: ErrorCode::NoResources, detail: "all 4 app slots are in use".into() };
                            let no = DeployRejected { app: b.app, version: b.version, reason };
                            encode_frame(&DeviceMsg::DeployRejected(no), &mut out).unwrap();
                        }
                        GatewayMsg::Error(_) => {
                            seen.errors.fetch_add(1, Ordering::SeqCst);
                        }
                        _ => {}
                    }
                }
            }
            _ = stop.changed() => return,
        }
        if s.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn connect(e: &Env, name: &str) -> TlsStream<TcpStream> {
    let id = e.pki.device_identity(name, SystemTime::now()).unwrap();
    let cfg = wasmbed_pki::tls::client_config(e.pki.ca_cert_der(), &id).unwrap();
    let tcp = TcpStream::connect(e.addr).await.unwrap();
    let host = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut s = TlsConnector::from(cfg).connect(host, tcp).await.unwrap();
    let enroll = Enroll {
        device_id: name.into(),
        board: "sim".into(),
        firmware_version: "test".into(),
        simulated: true,
        apps: vec![],
    };
    let mut wire = vec![];
    encode_frame(&DeviceMsg::Enroll(enroll), &mut wire).unwrap();
    s.write_all(&wire).await.unwrap();
    s
}

/// Waits until the gateway has handled 20 more heartbeats of the refusing
/// device (its uptime counts them) than it had now: every sync those
/// heartbeats caused has finished by then (a session handles its messages
/// one after another, and writes the uptime before it syncs).
async fn twenty_more_heartbeats(e: &Env) {
    let uptime = |d: &Device| d.status.session.uptime_ms.unwrap_or(0);
    let now = uptime(&e.store.get_device("full").await.unwrap().unwrap());
    device_where(&e.store, "full", "20 more heartbeats handled", |d| uptime(d) >= now + 20).await;
}

/// Waits until the gateway has sent `n` modules in all.
async fn modules_sent(e: &Env, n: u64) {
    let sent = || e.gw.stats().deploys.load(Ordering::SeqCst);
    wasmbed_testkit::poll(format_args!("{n} modules sent"), async || if sent() >= n { Ok(()) } else { Err(sent()) })
        .await;
}

fn slot<'a>(d: &'a Device, name: &str) -> Option<&'a wasmbed_model::AppObservation> {
    d.status.session.app(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_keeps_refusing_for_lack_of_room_is_retried_at_a_bounded_rate() {
    let time = FakeClock::at(clock::unix_ms());
    let policy = RetryPolicy::DEFAULT;
    let e =
        env_with_clock(GatewayConfig::default().with_heartbeat_ms(1000).with_deploy_retry(policy), time.clock()).await;

    // A good device beside it, running an app.
    add_device(&e, "good", "good").await;
    let bundle = e.pki.bundle("good", "sim", &[e.addr.to_string()], [1; 32], SystemTime::now()).unwrap();
    let (_good_off, rx) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_device(bundle, Default::default(), rx));
    deploy(&e, "hello", HELLO, "good").await;
    device_where(&e.store, "good", "running hello", |d| slot(d, "hello").is_some_and(|a| a.state == AppState::Running))
        .await;

    // The refusing device, and an app for it.
    add_device(&e, "full", "full").await;
    let seen = Arc::new(Seen::default());
    let (_full_off, rx) = watch::channel(false);
    tokio::spawn(refusing_device(connect(&e, "full").await, seen.clone(), rx));
    device_where(&e.store, "full", "heartbeating", |d| d.status.session.uptime_ms.is_some()).await;
    deploy(&e, "big", HELLO, "full").await;
    let d = device_where(&e.store, "full", "big rejected", |d| {
        slot(d, "big").is_some_and(|a| a.state == AppState::Rejected && a.reason.is_some())
    })
    .await;
    let reason = slot(&d, "big").unwrap().reason.clone().unwrap();
    assert_eq!(reason, format!("no-resources: all 4 app slots are in use; {RETRY_NOTE}"));
    let sent = || e.gw.stats().deploys.load(Ordering::SeqCst);
    let first = sent();

    // While the gateway's clock stands still, no heartbeat brings a retry.
    twenty_more_heartbeats(&e).await;
    assert_eq!(sent(), first, "no retry before its time, whatever the heartbeat rate");

    // Past the longest wait: one retry, then none again until the next
    // wait is over.
    time.advance(u64::from(policy.backoff.cap_ms()) + 1);
    modules_sent(&e, first + 1).await;
    twenty_more_heartbeats(&e).await;
    assert_eq!(sent(), first + 1, "one retry per wait");
    // The second refusal in a row waits a window of twice the base: at
    // least the base, at most twice it.
    let base = u64::from(policy.backoff.base_ms());
    time.advance(base - 1);
    twenty_more_heartbeats(&e).await;
    assert_eq!(sent(), first + 1, "the wait grows with each refusal");
    time.advance(base + 1);
    modules_sent(&e, first + 2).await;
    twenty_more_heartbeats(&e).await;
    assert_eq!(sent(), first + 2);
    assert_eq!(seen.deploys.load(Ordering::SeqCst), 3, "the device was asked three times in all");

    // The device was never told off, its session and the other one carry on.
    assert_eq!(seen.errors.load(Ordering::SeqCst), 0);
    assert_eq!(e.gw.stats().protocol_errors.load(Ordering::SeqCst), 0);
    assert_eq!(e.gw.session_count(), 2);
    let d = e.store.get_device("full").await.unwrap().unwrap();
    assert!(d.status.session.connected);
    assert_eq!(slot(&d, "big").unwrap().reason.as_deref(), Some(reason.as_str()), "still saying it will retry");
    let before = e.store.get_device("good").await.unwrap().unwrap().status.session.uptime_ms;
    device_where(&e.store, "good", "heartbeating, running hello", |d| {
        d.status.session.connected
            && d.status.session.uptime_ms > before
            && slot(d, "hello").is_some_and(|a| a.state == AppState::Running)
    })
    .await;
}
