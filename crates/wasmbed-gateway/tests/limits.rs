//! Limits against hostile clients, on loopback: connections that never
//! finish a handshake (from another loopback address, 127.0.0.2, as a
//! second host would), a device that reports more apps than any device
//! holds, and one that stops reading. Each test also shows that what
//! behaves keeps being served.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rustls_pki_types::ServerName;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmbed_gateway::GatewayConfig;
use wasmbed_model::{Application, ApplicationSpec, DevicePhase, Meta, Strategy};
use wasmbed_pki::Identity;
use wasmbed_protocol::*;
use wasmbed_testkit::{With, device, device_where};

mod common;

use common::{Env, env};

const LOCAL: &str = "127.0.0.1";
/// Another host, as far as the gateway can tell.
const OTHER: &str = "127.0.0.2";

async fn add_device(e: &Env, name: &str, role: &str) -> Identity {
    let d = device(name).with(|d| {
        d.spec.labels.insert("role".into(), role.into());
    });
    e.create_device(d).await
}

/// A simulated device (the real agent) connected in the background.
async fn run_sim(e: &Env, name: &str) -> watch::Sender<bool> {
    add_device(e, name, "sim").await;
    let bundle = e.pki.bundle(name, "sim", &[e.addr.to_string()], [1; 32], SystemTime::now()).unwrap();
    let (tx, rx) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_device(bundle, Default::default(), rx));
    tx
}

/// A TCP connection to the gateway from `from`; with `slow`, through a
/// small window and small segments, as over a slow link.
async fn tcp_from(addr: SocketAddr, from: &str, slow: bool) -> std::io::Result<TcpStream> {
    let raw = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    if slow {
        raw.set_recv_buffer_size(4096)?;
        raw.set_tcp_mss(536)?;
    }
    raw.set_nonblocking(true)?;
    let sock = TcpSocket::from_std_stream(raw.into());
    sock.bind(format!("{from}:0").parse().unwrap())?;
    sock.connect(addr).await
}

/// A device connected from `from` that enrolled and got its Welcome.
async fn enrolled(e: &Env, name: &str, id: &Identity, from: &str, slow: bool) -> TlsStream<TcpStream> {
    let cfg = wasmbed_pki::tls::client_config(e.pki.ca_cert_der(), id).unwrap();
    let tcp = tcp_from(e.addr, from, slow).await.unwrap();
    let mut s = TlsConnector::from(cfg).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap();
    send(&mut s, &DeviceMsg::Enroll(enroll(name, vec![]))).await;
    match recv(&mut s).await {
        Some(GatewayMsg::Welcome(_)) => s,
        other => panic!("{name}: expected Welcome, got {other:?}"),
    }
}

fn enroll(device_id: &str, apps: Vec<AppReport>) -> Enroll {
    Enroll { device_id: device_id.into(), board: "sim".into(), firmware_version: "test".into(), simulated: true, apps }
}

async fn send(s: &mut TlsStream<TcpStream>, msg: &DeviceMsg) {
    let mut wire = vec![];
    encode_frame(msg, &mut wire).unwrap();
    s.write_all(&wire).await.unwrap();
}

/// Next message, or None when the gateway closed the connection.
async fn recv(s: &mut TlsStream<TcpStream>) -> Option<GatewayMsg> {
    let mut r = FrameReader::new(MAX_FRAME_LEN);
    let mut buf = [0u8; 4096];
    loop {
        if let Some(p) = r.next_frame().unwrap() {
            return Some(decode_gateway_msg(&p).unwrap());
        }
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        r.push(&buf[..n]).unwrap();
    }
}

/// Opens connections that never finish a handshake (cloned into tasks).
#[derive(Clone)]
struct HalfOpen {
    addr: SocketAddr,
    ca: Vec<u8>,
    id: Identity,
}

impl HalfOpen {
    fn to(e: &Env) -> Self {
        Self {
            addr: e.addr,
            ca: e.pki.ca_cert_der().to_vec(),
            id: e.pki.device_identity("x", SystemTime::now()).unwrap(),
        }
    }

    /// A connection from `from`: the `i`th says nothing at all when `i` is
    /// even; when odd it sends a real ClientHello and then nothing (the
    /// gateway has answered and waits for the client's certificate).
    async fn open(&self, from: &str, i: usize) -> std::io::Result<TcpStream> {
        let mut tcp = tcp_from(self.addr, from, false).await?;
        if i % 2 == 1 {
            let cfg = wasmbed_pki::tls::client_config(&self.ca, &self.id).unwrap();
            let mut tls = rustls::ClientConnection::new(cfg, ServerName::try_from("127.0.0.1").unwrap()).unwrap();
            let mut hello = Vec::new();
            tls.write_tls(&mut hello)?;
            tcp.write_all(&hello).await?;
        }
        Ok(tcp)
    }

    /// Holds `n` connections from `from` until `stop`, opening a new one
    /// `pause` after the gateway closes one.
    fn flood(&self, from: &'static str, n: usize, pause: Duration, stop: watch::Receiver<bool>) {
        for i in 0..n {
            let (me, mut stop) = (self.clone(), stop.clone());
            tokio::spawn(async move {
                while !*stop.borrow() {
                    if let Ok(mut tcp) = me.open(from, i).await {
                        let mut buf = [0u8; 4096];
                        // Read (and drop) what the gateway says until it closes.
                        loop {
                            tokio::select! {
                                n = tcp.read(&mut buf) => if !matches!(n, Ok(1..)) { break },
                                _ = stop.changed() => return,
                            }
                        }
                    }
                    tokio::time::sleep(pause).await;
                }
            });
        }
    }
}

/// Heartbeats on `s` every `every`, reading nothing, until aborted or the
/// connection fails.
fn beat(mut s: TlsStream<TcpStream>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for up in 1.. {
            let hb = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: up, free_memory: 1_000_000, apps: vec![] });
            let mut wire = vec![];
            encode_frame(&hb, &mut wire).unwrap();
            if s.write_all(&wire).await.is_err() {
                return;
            }
            tokio::time::sleep(every).await;
        }
    })
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    wasmbed_testkit::poll(what, async || if check() { Ok(()) } else { Err(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_open_connections_keeps_no_device_out() {
    let cfg = GatewayConfig::default().with_heartbeat_ms(200).with_handshake_limits(32, 16);
    let e = env(cfg).await;
    let _a = run_sim(&e, "a").await;
    let _b = run_sim(&e, "b").await;
    for d in ["a", "b"] {
        device_where(&e.store, d, "Online", |d| d.status.phase == DevicePhase::Online).await;
    }
    let enrolled_before = e.gw.stats().enrollments.load(Ordering::Relaxed);

    // 200 connections from another host that never finish a handshake,
    // each opened again 200 ms after the gateway closes it.
    let (stop_flood, stop) = watch::channel(false);
    HalfOpen::to(&e).flood(OTHER, 200, Duration::from_millis(200), stop);
    let stats = e.gw.stats();
    wait_for("the flood to fill its source's share", || stats.refused_handshakes.load(Ordering::Relaxed) > 0).await;
    assert!(e.gw.handshakes_in_progress() <= 32);

    // A new device gets in through it, and the enrolled ones kept their
    // sessions (no new enrollment but the new device's).
    let id = add_device(&e, "new", "x").await;
    let new = enrolled(&e, "new", &id, LOCAL, false).await;
    let _beating = beat(new, Duration::from_millis(100));
    device_where(&e.store, "new", "Online", |d| d.status.phase == DevicePhase::Online).await;
    // The flood goes on for a while: stale handshakes make way for newer ones.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(stats.handshakes_evicted.load(Ordering::Relaxed) > 0, "stale flood handshakes were evicted");
    assert!(e.gw.handshakes_in_progress() <= 32);
    for d in ["a", "b"] {
        let dev = e.store.get_device(d).await.unwrap().unwrap();
        assert_eq!(dev.status.phase, DevicePhase::Online, "{d} kept its session");
    }
    assert_eq!(stats.enrollments.load(Ordering::Relaxed), enrolled_before + 1);
    assert_eq!(e.gw.session_count(), 3);
    let _ = stop_flood.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_source_gets_its_share_and_idle_handshakes_give_way_to_a_device_behind_the_same_address() {
    let cfg = GatewayConfig::default().with_heartbeat_ms(1000).with_handshake_limits(8, 4);
    let e = env(cfg).await;
    let stats = e.gw.stats();
    let mut idle = Vec::new();
    for i in 0..5 {
        idle.push(HalfOpen::to(&e).open(OTHER, i).await.unwrap());
    }
    wait_for("5 connections handled", || {
        stats.refused_handshakes.load(Ordering::Relaxed) + e.gw.handshakes_in_progress() as u64 >= 5
    })
    .await;
    assert_eq!(e.gw.handshakes_in_progress(), 4, "the source's share");
    assert_eq!(stats.refused_handshakes.load(Ordering::Relaxed), 1);

    // Another address is not held back by that one.
    let id = add_device(&e, "here", "x").await;
    let _here = enrolled(&e, "here", &id, LOCAL, false).await;

    // Once the idle ones are stale, a device behind the flooding address
    // (the same NAT) still gets in: the oldest idle handshake gives way.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let id = add_device(&e, "behind", "x").await;
    let _behind = enrolled(&e, "behind", &id, OTHER, false).await;
    assert_eq!(stats.handshakes_evicted.load(Ordering::Relaxed), 1);
    assert_eq!(e.gw.session_count(), 2);
    // The evicted connection was closed by the gateway.
    let mut closed = 0;
    for c in &mut idle {
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_millis(200), async {
            loop {
                match c.read(&mut buf).await {
                    Ok(1..) => continue,
                    _ => return,
                }
            }
        })
        .await;
        closed += usize::from(read.is_ok());
    }
    assert_eq!(closed, 2, "the refused connection and the evicted one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handshake_that_never_finishes_times_out() {
    let cfg = GatewayConfig::default().with_handshake_timeout(Duration::from_millis(300));
    let e = env(cfg).await;
    let mut silent = HalfOpen::to(&e).open(LOCAL, 0).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut buf)).await.unwrap();
    assert!(!matches!(n, Ok(1..)), "closed without a word");
    let stats = e.gw.stats();
    wait_for("the timeout counted", || stats.handshake_timeouts.load(Ordering::Relaxed) == 1).await;
    assert_eq!(e.gw.handshakes_in_progress(), 0);
}

fn report(app: &str, version: &str, state: AppState) -> AppReport {
    AppReport {
        app: app.into(),
        version: version.into(),
        sha256: [7u8; 32].into(),
        state,
        revision: None,
        counters: None,
    }
}

/// 70 valid apps (app-0 failed) and 3 invalid entries: 9 too many.
fn too_many_apps() -> Vec<AppReport> {
    let mut apps: Vec<AppReport> = (0..70)
        .map(|i| report(&format!("app-{i}"), "1", if i == 0 { AppState::Failed } else { AppState::Running }))
        .collect();
    apps.push(report("Not_A_Name", "1", AppState::Running));
    apps.push(report("-dash", "1", AppState::Running));
    apps.push(report("long-version", &"v".repeat(MAX_VERSION_LEN + 1), AppState::Running));
    apps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reporting_endless_apps_is_capped_and_keeps_its_session() {
    let e = env(GatewayConfig::default().with_heartbeat_ms(1000)).await;
    let _good = run_sim(&e, "good").await;
    let id = add_device(&e, "hostile", "x").await;
    let cfg = wasmbed_pki::tls::client_config(e.pki.ca_cert_der(), &id).unwrap();
    let tcp = TcpStream::connect(e.addr).await.unwrap();
    let mut s = TlsConnector::from(cfg).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap();
    send(&mut s, &DeviceMsg::Enroll(enroll("hostile", too_many_apps()))).await;
    assert!(matches!(recv(&mut s).await, Some(GatewayMsg::Welcome(_))));
    let beat = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 1, free_memory: 1000, apps: too_many_apps() });
    send(&mut s, &beat).await;
    // A new app past the cap, an invalid one, and a reason far too long.
    for (app, detail) in [("app-99", "x"), ("UPPER", "x"), ("app-0", &"why ".repeat(4000)[..])] {
        let reason = Some(FailReason { code: ErrorCode::Trap, detail: detail.into() });
        send(&mut s, &DeviceMsg::AppStatus(AppStatus { report: report(app, "1", AppState::Failed), reason })).await;
    }
    let batch = TelemetryBatch {
        app: "../../etc".into(),
        revision: None,
        uptime_ms: 1,
        unix_ms: None,
        samples: vec![],
        dropped: 0,
    };
    send(&mut s, &DeviceMsg::Telemetry(batch)).await;
    let beat = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 2, free_memory: 1000, apps: too_many_apps() });
    send(&mut s, &beat).await;

    let d = device_where(&e.store, "hostile", "its last heartbeat", |d| d.status.session.uptime_ms == Some(2)).await;
    let apps = &d.status.session.apps;
    assert_eq!(apps.len(), MAX_DEVICE_APPS);
    assert!(apps.iter().all(|a| valid_app_name(&a.name) && a.version.len() <= MAX_VERSION_LEN), "{apps:?}");
    let failed = apps.iter().find(|a| a.name == "app-0").unwrap();
    assert!(failed.reason.as_ref().is_some_and(|r| r.starts_with("trap: why") && r.len() <= 256), "{failed:?}");
    // 9 from the enrollment and from each heartbeat, 2 app statuses, 1 batch.
    assert_eq!(e.gw.stats().app_entries_dropped.load(Ordering::Relaxed), 9 + 9 + 2 + 1 + 9);
    assert!(d.status.session.connected, "the session goes on");
    device_where(&e.store, "good", "Online", |d| d.status.phase == DevicePhase::Online).await;
    assert_eq!(e.gw.session_count(), 2);
}

/// A module of about 100 KiB (a data segment of `seed`-dependent bytes).
fn big_module(seed: u8) -> Vec<u8> {
    let data: String = (0..100 * 1024u32).map(|i| format!("\\{:02x}", (i as u8).wrapping_mul(seed))).collect();
    wat::parse_str(format!(
        r#"(module (memory (export "memory") 2) (data (i32.const 0) "{data}") (func (export "init")))"#
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_stops_reading_is_closed_after_the_write_timeout() {
    let cfg = GatewayConfig::default().with_heartbeat_ms(2000).with_write_timeout(Duration::from_millis(500));
    let e = env(cfg).await;
    let _good = run_sim(&e, "good").await;
    let id = add_device(&e, "deaf", "deaf").await;
    // It reads its Welcome and nothing after, through a small window.
    let s = enrolled(&e, "deaf", &id, LOCAL, true).await;
    for (i, seed) in [3u8, 5, 7, 11].into_iter().enumerate() {
        let module = big_module(seed);
        let digest = hex::encode(Sha256::digest(&module));
        e.store.put_module(&digest, &module).await.unwrap();
        let spec = ApplicationSpec {
            selector: "role=deaf".into(),
            strategy: Strategy::AllAtOnce,
            ..ApplicationSpec::new("1", &digest, module.len() as u32)
        };
        let app = Application { meta: Meta::named(&format!("big-{i}")), spec, status: Default::default() };
        e.store.put_application(&app).await.unwrap();
    }
    let stats = e.gw.stats();
    // Heartbeats keep it alive as far as liveness goes; only the writes stall.
    let beating = beat(s, Duration::from_millis(300));
    wait_for("a write timeout", || stats.write_timeouts.load(Ordering::Relaxed) >= 1).await;
    assert!(stats.deploys.load(Ordering::Relaxed) >= 1);
    device_where(&e.store, "deaf", "disconnected", |d| !d.status.session.connected).await;
    device_where(&e.store, "good", "Online", |d| d.status.phase == DevicePhase::Online).await;
    assert_eq!(e.gw.session_count(), 1, "only the good device's session is left");
    beating.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_connection_holds_a_handshake_slot_not_a_session() {
    let e = env(GatewayConfig::default().with_max_sessions(1)).await;
    let _idle = HalfOpen::to(&e).open(LOCAL, 0).await.unwrap();
    let _hello = HalfOpen::to(&e).open(LOCAL, 1).await.unwrap();
    wait_for("two handshakes in progress", || e.gw.handshakes_in_progress() == 2).await;
    // The one session slot is still free for a device.
    let id = add_device(&e, "d", "x").await;
    let _d = enrolled(&e, "d", &id, LOCAL, false).await;
    assert_eq!(e.gw.session_count(), 1);
    assert_eq!(e.gw.handshakes_in_progress(), 2);
}
