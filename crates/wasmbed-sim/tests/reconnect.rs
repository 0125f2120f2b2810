//! A simulated device redials by the devices' policy (`wasmbed_agent::Reconnect`):
//! its gateways in order, the next soon after one fails, a backoff after a
//! full round. Two real listeners that hang up on every handshake play
//! gateways that cannot be reached.

#![allow(clippy::unwrap_used)] // Test: a failed unwrap is a failed test.

use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use wasmbed_agent::{Backoff, NEXT_GATEWAY_MS};

#[tokio::test]
async fn a_device_tries_every_gateway_in_order_then_backs_off() {
    let dir = tempfile::tempdir().unwrap();
    let pki = wasmbed_pki::Pki::open_or_create(dir.path(), SystemTime::now()).unwrap();
    let (tx, mut dials) = mpsc::unbounded_channel();
    let mut addrs = Vec::new();
    for gateway in 0..2usize {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap().to_string());
        let tx = tx.clone();
        tokio::spawn(async move {
            // Accept, note who was dialled and when, hang up: the handshake fails.
            while let Ok((socket, _)) = listener.accept().await {
                let _ = tx.send((gateway, Instant::now()));
                drop(socket);
            }
        });
    }
    let bundle = pki.bundle("sim-1", "sim", &addrs, [9; 32], SystemTime::now()).unwrap();
    let backoff = Backoff::new(400, 400);
    let opts = wasmbed_sim::SimOptions::default()
        .with_backoff(Duration::from_millis(backoff.base_ms().into()), Duration::from_millis(backoff.cap_ms().into()));
    let (stop, stop_rx) = watch::channel(false);
    let device = tokio::spawn(wasmbed_sim::run_device(bundle, opts, stop_rx));

    let mut seen = Vec::new();
    while seen.len() < 5 {
        let next = tokio::time::timeout(Duration::from_secs(30), dials.recv()).await;
        seen.push(next.expect("the device stopped dialling").unwrap());
    }
    let _ = stop.send(true);
    device.await.unwrap();

    let order: Vec<usize> = seen.iter().map(|(g, _)| *g).collect();
    assert_eq!(order, [0, 1, 0, 1, 0], "its own gateway first, then the next, round after round");
    let gap = |i: usize| seen[i + 1].1 - seen[i].1;
    let next = Duration::from_millis(NEXT_GATEWAY_MS.into());
    let least_backoff = Duration::from_millis((backoff.base_ms() / 2).into());
    assert!(gap(0) >= next && gap(2) >= next, "the next gateway after {next:?}: {:?}, {:?}", gap(0), gap(2));
    assert!(
        gap(1) >= least_backoff && gap(3) >= least_backoff,
        "a backoff after each round: {:?}, {:?}",
        gap(1),
        gap(3)
    );
}
