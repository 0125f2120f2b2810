//! The board-link listener against in-process boards (`wasmbed-boardlink`'s
//! `Server` over TCP, as QEMU carries a board's USART1): a board of a
//! Device of board stm32vldiscovery is attached by the name its proof
//! claims and goes Online, and the terminal's `status` and `uptime` are
//! answered from its link; unplugged, it goes Unreachable and its link is
//! gone; a board with another key, or claiming a name no device has, is
//! refused and counted.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use wasmbed_attach::{OwnedResponse, Request};
use wasmbed_boardlink::{BoardId, BoardKey, Deframer, MAX_WIRE_LEN, Response, Server, Step};
use wasmbed_gateway::{CommandLine, CommandOutcome, GatewayConfig};
use wasmbed_model::{Device, DevicePhase, DeviceSpec, Meta};
use wasmbed_pki::Pki;
use wasmbed_testkit::{device_where, eventually};

/// A board on the other end of `addr`: answers Hellos as `name` with `key`
/// and every Uptime with a rising count, until the stream ends.
async fn board(addr: std::net::SocketAddr, name: &str, key: [u8; 32]) {
    let mut wire = TcpStream::connect(addr).await.unwrap();
    let mut server = Server::new(BoardKey::new(key), BoardId::new(name.as_bytes()).unwrap());
    let mut deframer = Deframer::new();
    let (mut buf, mut out) = ([0u8; 512], [0u8; MAX_WIRE_LEN]);
    let mut ms = 0u64;
    loop {
        let Ok(n) = wire.read(&mut buf).await else { return };
        if n == 0 {
            return;
        }
        let mut input = &buf[..n];
        while let Some(frame) = deframer.feed(&mut input) {
            let Ok(frame) = frame else { continue };
            let len = match server.receive(&frame, &mut out) {
                Step::Reply(m) => m,
                Step::Refused { reply, .. } => reply,
                Step::Serve { seq, .. } => {
                    ms += 100;
                    server.respond(seq, &Response::Uptime { ms }, &mut out).unwrap()
                }
            };
            if wire.write_all(&out[..len]).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test]
async fn a_provisioned_board_is_attached_online_and_unreachable_once_unplugged_and_impostors_are_refused() {
    let e = common::env(GatewayConfig::default().with_heartbeat_ms(100)).await;
    let pki = Arc::new(Pki::open_or_create(&e.tmp.path().join("pki"), SystemTime::now()).unwrap());
    let key = pki.reissue_link_key("vld-1").unwrap();
    let spec = DeviceSpec {
        board: "stm32vldiscovery".into(),
        identity: Some(key.record(SystemTime::now())),
        ..Default::default()
    };
    e.store.create_device(Device { meta: Meta::named("vld-1"), spec, status: Default::default() }).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_stop, stop_rx) = watch::channel(false);
    tokio::spawn(e.gw.clone().serve_boards(listener, pki.clone(), stop_rx));

    // The board of the device: attached by its name, Online.
    let plugged = tokio::spawn(board(addr, "vld-1", *key.bytes()));
    let d = device_where(&e.store, "vld-1", "Online", |d| d.status.phase == DevicePhase::Online).await;
    assert_eq!(d.status.session.gateway.as_deref(), Some(e.gw.config().name.as_str()));
    assert!(d.status.session.uptime_ms.is_some_and(|ms| ms > 0), "{:?}", d.status.session);
    let link = e.gw.attached_board("vld-1").expect("its link is held");
    assert!(matches!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { .. })));
    assert_eq!(e.gw.attached_boards(), ["vld-1"]);
    // The terminal: the gateway answers for a board that runs no agent.
    let uptime = e.gw.run_command("vld-1", CommandLine::parse("uptime").unwrap()).await.unwrap();
    assert_eq!(uptime.outcome, CommandOutcome::Ok);
    assert!(uptime.output.starts_with("uptime_ms: "), "{}", uptime.output);
    let status = e.gw.run_command("vld-1", CommandLine::parse("status").unwrap()).await.unwrap();
    assert!(status.output.contains("runtime: none"), "{}", status.output);
    let other = e.gw.run_command("vld-1", CommandLine::parse("apps").unwrap()).await.unwrap();
    assert_eq!(other.outcome, CommandOutcome::Refused);
    assert!(other.output.contains("no WebAssembly runtime"), "{}", other.output);

    // Unplugged: the session closes and the device goes Unreachable.
    plugged.abort();
    device_where(&e.store, "vld-1", "Unreachable", |d| d.status.phase == DevicePhase::Unreachable).await;
    assert!(e.gw.attached_board("vld-1").is_none());

    // Another key under its name, then a name no device has: refused, counted.
    tokio::spawn(board(addr, "vld-1", [0x42; 32]));
    let d = device_where(&e.store, "vld-1", "a refused link recorded", |d| d.status.refused.is_some()).await;
    assert_eq!(d.status.refused.as_ref().map(|r| r.attempts), Some(1));
    assert_ne!(d.status.phase, DevicePhase::Online);
    tokio::spawn(board(addr, "nobody", [0x42; 32]));
    eventually(&e.store, "two refused board links", async || {
        let n = e.gw.stats().refused_boards.load(Ordering::Relaxed);
        if n == 2 { Ok(()) } else { Err(n) }
    })
    .await;

    // Plugged back in: attached again.
    let _again = tokio::spawn(board(addr, "vld-1", *key.bytes()));
    device_where(&e.store, "vld-1", "Online again", |d| d.status.phase == DevicePhase::Online).await;
    assert!(e.gw.attached_board("vld-1").is_some());
}
