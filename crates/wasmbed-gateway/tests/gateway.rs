//! The gateway against real TLS clients on loopback: good devices (the
//! simulator's agent) beside misbehaving raw clients.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmbed_gateway::GatewayConfig;
use wasmbed_model::{Device, DevicePhase, DeviceSpec, Meta};
use wasmbed_pki::{Identity, Pki};
use wasmbed_protocol::*;

mod common;

use common::{Env, env};

impl Env {
    async fn add_device(&self, name: &str) -> Identity {
        let spec = DeviceSpec { board: "sim".into(), ..Default::default() };
        let d = Device { meta: Meta { name: name.into(), ..Default::default() }, spec, status: Default::default() };
        self.create_device(d).await
    }

    /// Re-issues `name`'s identity as the bundle route does: a new key,
    /// recorded on the device.
    async fn reissue(&self, name: &str) -> Identity {
        let now = SystemTime::now();
        let id = self.pki.reissue_device(name, now).unwrap();
        wasmbed_model::record_identity(self.store.as_ref(), name, id.record(now).unwrap()).await.unwrap();
        id
    }

    /// Expects the gateway to answer Revoked on `s`, then close it.
    async fn expect_revoked(s: &mut TlsStream<TcpStream>, why: &str) {
        match recv(s).await {
            Some(GatewayMsg::Error(r)) => {
                assert_eq!(r.code, ErrorCode::Revoked, "{r:?}");
                assert!(r.detail.contains(why), "{r:?}");
            }
            other => panic!("expected Revoked, got {other:?}"),
        }
        assert_eq!(recv(s).await, None, "and the connection is closed");
    }

    /// Tries to enroll as `name` with `id`; the gateway must refuse it.
    async fn refused_enrollment(&self, name: &str, id: &Identity, why: &str) {
        let mut s = self.tls(self.pki.ca_cert_der(), id).await.unwrap();
        send(&mut s, &enroll(name)).await;
        Self::expect_revoked(&mut s, why).await;
    }

    /// A simulated device (the real agent) connected in the background.
    async fn run_sim(&self, name: &str) -> watch::Sender<bool> {
        self.add_device(name).await;
        let bundle = self.pki.bundle(name, "sim", &[self.addr.to_string()], [1; 32], SystemTime::now()).unwrap();
        let (tx, rx) = watch::channel(false);
        tokio::spawn(wasmbed_sim::run_device(bundle, Default::default(), rx));
        tx
    }

    async fn phase(&self, name: &str) -> DevicePhase {
        self.store.get_device(name).await.unwrap().unwrap().status.phase
    }

    async fn wait_phase(&self, name: &str, phase: DevicePhase) {
        wasmbed_testkit::device_where(&self.store, name, &format!("{phase:?}"), |d| d.status.phase == phase).await;
    }

    async fn tls(&self, ca: &[u8], id: &Identity) -> std::io::Result<TlsStream<TcpStream>> {
        let cfg = wasmbed_pki::tls::client_config(ca, id).unwrap();
        let tcp = TcpStream::connect(self.addr).await?;
        let mut s = TlsConnector::from(cfg).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await?;
        // TLS 1.3 client auth failures surface on the first read.
        s.write_all(&[]).await?;
        Ok(s)
    }

    async fn raw_device(&self, name: &str, id: &Identity) -> TlsStream<TcpStream> {
        let mut s = self.tls(self.pki.ca_cert_der(), id).await.unwrap();
        send(&mut s, &enroll(name)).await;
        assert!(matches!(recv(&mut s).await, Some(GatewayMsg::Welcome(_))));
        s
    }
}

fn enroll(device_id: &str) -> DeviceMsg {
    DeviceMsg::Enroll(Enroll {
        device_id: device_id.into(),
        board: "sim".into(),
        firmware_version: "test".into(),
        simulated: true,
        apps: vec![],
    })
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

fn fast() -> GatewayConfig {
    GatewayConfig::default().with_heartbeat_ms(200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_certificates_are_refused_and_others_keep_being_served() {
    let e = env(fast()).await;
    let _good = e.run_sim("good").await;
    e.wait_phase("good", DevicePhase::Online).await;

    let other = Pki::open_or_create(&e.tmp.path().join("other"), SystemTime::now()).unwrap();
    let foreign = other.device_identity("good", SystemTime::now()).unwrap();
    let year = Duration::from_secs(365 * 24 * 3600);
    let expired =
        e.pki.issue_device_with_validity("good", SystemTime::now() - 2 * year, SystemTime::now() - year).unwrap();
    for (what, id) in [("another CA", &foreign), ("expired", &expired)] {
        let mut s = match e.tls(e.pki.ca_cert_der(), id).await {
            Ok(s) => s,
            Err(_) => continue,
        };
        let mut buf = [0u8; 16];
        let n = s.read(&mut buf).await;
        assert!(!matches!(n, Ok(n) if n > 0), "{what}: the gateway must not talk to this client");
    }
    // No certificate at all.
    let roots = {
        let mut r = rustls::RootCertStore::empty();
        r.add(rustls_pki_types::CertificateDer::from(e.pki.ca_cert_der().to_vec())).unwrap();
        r
    };
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = TcpStream::connect(e.addr).await.unwrap();
    if let Ok(mut s) = TlsConnector::from(Arc::new(cfg)).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await
    {
        let mut buf = [0u8; 16];
        assert!(!matches!(s.read(&mut buf).await, Ok(n) if n > 0));
    }
    for _ in 0..100 {
        if e.gw.stats().handshake_failures.load(Ordering::Relaxed) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(e.gw.stats().handshake_failures.load(Ordering::Relaxed), 3);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(e.phase("good").await, DevicePhase::Online, "the good device kept its session");
    assert_eq!(e.gw.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_end_only_that_session() {
    let e = env(fast()).await;
    let _good = e.run_sim("good").await;
    e.wait_phase("good", DevicePhase::Online).await;
    let id = e.add_device("bad").await;
    let cases: [(&str, Vec<u8>, ErrorCode); 4] = [
        ("malformed", vec![0, 0, 0, 4, 1, 0xff, 0xfe, 0xfd], ErrorCode::Malformed),
        ("unknown version", vec![0, 0, 0, 2, 9, 0], ErrorCode::UnsupportedVersion),
        ("oversized", vec![0x7f, 0, 0, 0], ErrorCode::FrameTooLarge),
        (
            "truncated",
            {
                let mut w = vec![];
                let hb = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 1, free_memory: 1, apps: vec![] });
                encode_frame(&hb, &mut w).unwrap();
                // The length says one more byte than the message has.
                let len = u32::from_be_bytes(w[..4].try_into().unwrap()) - 1;
                w[..4].copy_from_slice(&len.to_be_bytes());
                w.truncate(w.len() - 1);
                w
            },
            ErrorCode::Malformed,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut s = e.raw_device("bad", &id).await;
        s.write_all(&bytes).await.unwrap();
        match recv(&mut s).await {
            Some(GatewayMsg::Error(r)) => assert_eq!(r.code, code, "{what}: {}", r.detail),
            other => panic!("{what}: expected an error report, got {other:?}"),
        }
        assert_eq!(recv(&mut s).await, None, "{what}: the session is closed");
        e.wait_phase("bad", DevicePhase::Unreachable).await;
        let err = e.store.get_device("bad").await.unwrap().unwrap().status.session.last_error.unwrap();
        assert!(err.contains("protocol error"), "{err}");
    }
    assert_eq!(e.phase("good").await, DevicePhase::Online);
    assert!(e.gw.stats().protocol_errors.load(Ordering::Relaxed) >= 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrolling_as_someone_else_or_an_unknown_device_is_refused() {
    let e = env(fast()).await;
    let id = e.add_device("a").await;
    let mut s = e.tls(e.pki.ca_cert_der(), &id).await.unwrap();
    send(&mut s, &enroll("b")).await;
    assert!(matches!(recv(&mut s).await, Some(GatewayMsg::Error(r)) if r.code == ErrorCode::IdentityMismatch));
    // A certificate for a device that does not exist (deleted).
    let ghost = e.pki.device_identity("ghost", SystemTime::now()).unwrap();
    let mut s = e.tls(e.pki.ca_cert_der(), &ghost).await.unwrap();
    send(&mut s, &enroll("ghost")).await;
    assert!(matches!(recv(&mut s).await, Some(GatewayMsg::Error(r)) if r.code == ErrorCode::IdentityMismatch));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_connection_replaces_the_first() {
    let e = env(fast()).await;
    let id = e.add_device("d").await;
    let mut first = e.raw_device("d", &id).await;
    let mut second = e.raw_device("d", &id).await;
    match recv(&mut first).await {
        Some(GatewayMsg::Error(r)) => assert_eq!(r.code, ErrorCode::Replaced),
        other => panic!("expected Replaced, got {other:?}"),
    }
    send(&mut second, &DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 5, free_memory: 7, apps: vec![] })).await;
    e.wait_phase("d", DevicePhase::Online).await;
    assert_eq!(e.gw.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_device_ends_its_live_session_at_once() {
    let e = env(fast()).await;
    let id = e.add_device("gone").await;
    let keep = e.add_device("kept").await;
    let mut s = e.raw_device("gone", &id).await;
    let mut other = e.raw_device("kept", &keep).await;
    e.wait_phase("gone", DevicePhase::Online).await;
    e.store.delete_device("gone").await.unwrap();
    match recv(&mut s).await {
        Some(GatewayMsg::Error(r)) => assert_eq!(r.code, ErrorCode::Revoked, "{r:?}"),
        other => panic!("expected Revoked, got {other:?}"),
    }
    assert_eq!(recv(&mut s).await, None, "and the connection is closed");
    // Its identity is refused from then on; the other device is untouched.
    let mut again = e.tls(e.pki.ca_cert_der(), &id).await.unwrap();
    send(&mut again, &enroll("gone")).await;
    assert!(matches!(recv(&mut again).await, Some(GatewayMsg::Error(r)) if r.code == ErrorCode::IdentityMismatch));
    send(&mut other, &DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 5, free_memory: 7, apps: vec![] })).await;
    assert_eq!(e.gw.session_count(), 1);
}

/// Sends a heartbeat on `s` and checks nothing comes back for a while: the
/// session was neither replaced nor closed.
async fn still_served(s: &mut TlsStream<TcpStream>) {
    send(s, &DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 5, free_memory: 7, apps: vec![] })).await;
    let quiet = tokio::time::timeout(Duration::from_millis(150), recv(s)).await;
    assert!(quiet.is_err(), "the session was disturbed: {quiet:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_bundle_after_re_creation_is_refused_and_the_real_device_keeps_its_session() {
    let e = env(fast()).await;
    let old = e.add_device("dev").await;
    e.store.delete_device("dev").await.unwrap();
    e.pki.forget_device("dev").unwrap();
    // Re-created under the same name: a new key, held by the real device.
    let current = e.add_device("dev").await;
    assert_ne!(current.fingerprint(), old.fingerprint());
    let mut real = e.raw_device("dev", &current).await;
    e.wait_phase("dev", DevicePhase::Online).await;

    e.refused_enrollment("dev", &old, "not the device's current certificate").await;
    still_served(&mut real).await;
    assert_eq!(e.gw.session_count(), 1);
    assert_eq!(e.gw.stats().refused_identities.load(Ordering::Relaxed), 1);
    assert_eq!(e.gw.stats().enrollments.load(Ordering::Relaxed), 1);
    let d = e.store.get_device("dev").await.unwrap().unwrap();
    let refused = d.status.refused.expect("the refusal is recorded on the device");
    assert_eq!(refused.attempts, 1);
    assert_eq!(refused.fingerprint, old.fingerprint().to_string());
    assert!(refused.source.starts_with("127.0.0.1:"), "{refused:?}");
    assert_eq!(refused.gateway, "gateway-0");
    assert!(d.status.session.connected, "the real device is still connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_issuing_ends_the_previous_identitys_session_and_only_the_current_one_replaces_a_session() {
    let e = env(fast()).await;
    let old = e.add_device("dev").await;
    let mut s = e.raw_device("dev", &old).await;
    e.wait_phase("dev", DevicePhase::Online).await;
    let current = e.reissue("dev").await;
    Env::expect_revoked(&mut s, "re-issued").await;
    e.refused_enrollment("dev", &old, "not the device's current certificate").await;

    // The current certificate enrolls, and a second connection with it
    // still replaces the first.
    let mut first = e.raw_device("dev", &current).await;
    let mut second = e.raw_device("dev", &current).await;
    match recv(&mut first).await {
        Some(GatewayMsg::Error(r)) => assert_eq!(r.code, ErrorCode::Replaced, "{r:?}"),
        other => panic!("expected Replaced, got {other:?}"),
    }
    // The old one cannot take it back.
    e.refused_enrollment("dev", &old, "not the device's current certificate").await;
    still_served(&mut second).await;
    assert_eq!(e.gw.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_refused_attempts_is_counted_on_the_device_and_the_fleet_is_served() {
    let e = env(fast()).await;
    let old = e.add_device("dev").await;
    let current = e.reissue("dev").await;
    let mut real = e.raw_device("dev", &current).await;
    let beat = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 5, free_memory: 7, apps: vec![] });
    for _ in 0..20 {
        e.refused_enrollment("dev", &old, "not the device's current certificate").await;
        // Heartbeats keep the real session alive through the flood.
        send(&mut real, &beat).await;
    }
    // A device with no certificate recorded accepts none.
    let spec = DeviceSpec { board: "sim".into(), ..Default::default() };
    e.store.create_device(Device { meta: Meta::named("bare"), spec, status: Default::default() }).await.unwrap();
    let bare = e.pki.device_identity("bare", SystemTime::now()).unwrap();
    e.refused_enrollment("bare", &bare, "no certificate is recorded").await;

    let d = wasmbed_testkit::device_where(&e.store, "dev", "20 refusals", |d| {
        d.status.refused.as_ref().is_some_and(|r| r.attempts == 20)
    })
    .await;
    assert_eq!(d.status.refused.map(|r| r.fingerprint), Some(old.fingerprint().to_string()));
    assert_eq!(e.gw.stats().refused_identities.load(Ordering::Relaxed), 21);
    still_served(&mut real).await;
    assert_eq!(e.gw.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_device_runs_on_with_the_bundle_fetched_after_a_re_issue() {
    let e = env(fast()).await;
    let old_sim = e.run_sim("s").await;
    let old = e.pki.device_identity("s", SystemTime::now()).unwrap();
    wasmbed_testkit::device_where(&e.store, "s", "connected", |d| d.status.session.connected).await;
    e.reissue("s").await;
    wasmbed_testkit::device_where(&e.store, "s", "its session ended", |d| !d.status.session.connected).await;
    let _ = old_sim.send(true);
    e.refused_enrollment("s", &old, "not the device's current certificate").await;

    // The bundle fetched after the re-issue (what the bundle route returns).
    let bundle = e.pki.bundle("s", "sim", &[e.addr.to_string()], [2; 32], SystemTime::now()).unwrap();
    let (_new_sim, rx) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_device(bundle, Default::default(), rx));
    wasmbed_testkit::device_where(&e.store, "s", "connected again", |d| d.status.session.connected).await;
    assert_eq!(e.gw.stats().enrollments.load(Ordering::Relaxed), 2);
    assert_eq!(e.gw.session_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_device_becomes_unreachable_after_three_intervals() {
    let e = env(fast()).await;
    let id = e.add_device("quiet").await;
    let mut s = e.raw_device("quiet", &id).await;
    e.wait_phase("quiet", DevicePhase::Online).await;
    // Say nothing: 3 x 200 ms later the gateway gives up on the session.
    assert_eq!(recv(&mut s).await, None);
    e.wait_phase("quiet", DevicePhase::Unreachable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cap_refuses_extra_connections() {
    let e = env(fast().with_max_sessions(1)).await;
    let id = e.add_device("one").await;
    let _s = e.raw_device("one", &id).await;
    let id2 = e.add_device("two").await;
    let refused = e.tls(e.pki.ca_cert_der(), &id2).await;
    if let Ok(mut s) = refused {
        let mut buf = [0u8; 8];
        assert!(!matches!(s.read(&mut buf).await, Ok(n) if n > 0));
    }
    assert_eq!(e.gw.stats().refused_over_cap.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_and_returns() {
    let e = env(fast()).await;
    let id = e.add_device("d").await;
    let mut s = e.raw_device("d", &id).await;
    e.stop.send(true).unwrap();
    assert_eq!(recv(&mut s).await, None, "the device sees the session close");
    tokio::time::timeout(Duration::from_secs(10), e.task).await.unwrap().unwrap().unwrap();
}
