//! A simulated device over TLS, with its simulated peripherals: a small
//! gateway here deploys the thermostat app to it, the test sets the
//! device's `temp0` through the registry (as the platform does for
//! `wasmbed device sensor`) and watches LED 0 from outside the app.

#![allow(clippy::unwrap_used, clippy::expect_used)] // Test: a failed unwrap is a failed test.

mod common;

use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use wasmbed_protocol::*;
use wasmbed_sim::{SimOptions, SimRegistry};

const TICK_MS: u32 = 100;

fn frame(msg: &GatewayMsg) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(msg, &mut wire).unwrap();
    wire
}

/// The next message from the device matching `pick`, within 10 s.
async fn next<T>(rx: &mut mpsc::UnboundedReceiver<DeviceMsg>, what: &str, pick: impl Fn(&DeviceMsg) -> Option<T>) -> T {
    let wait = async {
        loop {
            let msg = rx.recv().await.expect("the device hung up");
            if let Some(t) = pick(&msg) {
                return t;
            }
        }
    };
    timeout(Duration::from_secs(10), wait).await.unwrap_or_else(|_| panic!("no {what} within 10 s"))
}

fn temp_sample(msg: &DeviceMsg) -> Option<f64> {
    match msg {
        DeviceMsg::Telemetry(b) => b.samples.iter().rev().find(|s| s.metric == "temp_c").map(|s| s.value),
        _ => None,
    }
}

#[tokio::test]
async fn a_simulated_device_running_the_thermostat_turns_led0_on_when_temp0_is_set_above_the_threshold() {
    let thermostat = common::app("thermostat");
    let now = SystemTime::now();
    let dir = tempfile::tempdir().unwrap();
    let pki = wasmbed_pki::Pki::open_or_create(dir.path(), now).unwrap();
    let server = pki.gateway_identity(&["127.0.0.1".to_string()], now).unwrap();
    let acceptor = TlsAcceptor::from(wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let bundle = pki.bundle("sim-1", "sim", &[addr], [3; 32], now).unwrap();

    let registry = SimRegistry::default();
    let opts = SimOptions::default().with_peripherals(registry.clone());
    let (stop, stop_rx) = watch::channel(false);
    let device = tokio::spawn(wasmbed_sim::run_device(bundle, opts, stop_rx));

    let (tcp, _) = timeout(Duration::from_secs(10), listener.accept()).await.unwrap().unwrap();
    let tls = acceptor.accept(tcp).await.unwrap();
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        let mut buf = vec![0u8; 4096];
        while let Ok(n @ 1..) = rd.read(&mut buf).await {
            reader.push(&buf[..n]).unwrap();
            while let Some(p) = reader.next_frame().unwrap() {
                if tx.send(decode_device_msg(&p).unwrap()).is_err() {
                    return;
                }
            }
        }
    });

    next(&mut rx, "enrollment", |m| matches!(m, DeviceMsg::Enroll(e) if e.simulated).then_some(())).await;
    let handle = registry.get("sim-1").expect("the running device is in the registry");
    handle.set_sensor("temp0", 21.5).unwrap();

    let grants: Vec<Grant> =
        ["log", "config", "telemetry", "i2c:0:0x48", "gpio:led0"].iter().map(|g| Grant::parse(g).unwrap()).collect();
    let (groups, resources) = split_grants(&grants);
    let mut deploy = frame(&GatewayMsg::Welcome(Welcome { heartbeat_ms: 1000, unix_time_s: 0, unix_time_ms: None }));
    deploy.extend(frame(&GatewayMsg::DeployBegin(DeployBegin {
        app: "thermostat".into(),
        version: "1".into(),
        size: thermostat.len() as u32,
        sha256: <[u8; 32]>::from(Sha256::digest(&thermostat)).into(),
        limits: AppLimits { tick_ms: TICK_MS, ..AppLimits::default() },
        revision: Some(1),
        start: None,
        grants: Some(groups),
        resources: Some(resources),
        config: Some(vec![ConfigEntry { key: "threshold_c".into(), value: "30".into() }]),
        manifest: None,
        native: None,
    })));
    deploy.extend(frame(&GatewayMsg::DeployChunk(DeployChunk {
        app: "thermostat".into(),
        offset: 0,
        data: thermostat.clone().into(),
    })));
    wr.write_all(&deploy).await.unwrap();

    let state = next(&mut rx, "the app's status", |m| match m {
        DeviceMsg::AppStatus(s) => Some((s.report.state, s.reason.clone())),
        DeviceMsg::DeployRejected(r) => panic!("rejected: {:?}", r.reason),
        _ => None,
    })
    .await;
    assert_eq!(state, (AppState::Running, None));
    let t = next(&mut rx, "a temp_c sample", temp_sample).await;
    assert_eq!(t, 21.5);
    assert_eq!(handle.led(0), Some(false), "21.5 °C is below 30");

    handle.set_sensor("temp0", 31.5).unwrap();
    // Within two ticks of the change, the app has read 31.5 and lit the LED.
    next(&mut rx, "a temp_c sample of 31.5", |m| temp_sample(m).filter(|&t| t == 31.5)).await;
    assert_eq!(handle.led(0), Some(true));
    next(&mut rx, "the app's log line", |m| match m {
        DeviceMsg::AppLog(l) if l.line == "temperature 31.50 C: LED 0 on" => Some(()),
        _ => None,
    })
    .await;

    stop.send(true).unwrap();
    timeout(Duration::from_secs(10), device).await.unwrap().unwrap();
    assert!(registry.get("sim-1").is_none(), "a stopped device leaves the registry");
}
