//! The device terminal end to end on loopback: `Gateway::run_command`
//! against simulated devices (the real agent, which holds the allow-list)
//! and against raw TLS clients that misbehave on purpose.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use rustls_pki_types::ServerName;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wasmbed_gateway::{CommandError, CommandLine, CommandOutcome, CommandReply, GatewayConfig, MAX_COMMANDS_IN_FLIGHT};
use wasmbed_model::{Application, ApplicationSpec, Device, DevicePhase, DeviceSpec, Meta};
use wasmbed_protocol::*;
use wasmbed_sim::SimStats;

mod common;

use common::{Env, env};

impl Env {
    async fn add_device(&self, name: &str) {
        let labels = [("fleet".to_string(), "t".to_string())].into();
        let spec = DeviceSpec { board: "sim".into(), labels, ..Default::default() };
        let d = Device { meta: Meta { name: name.into(), ..Default::default() }, spec, status: Default::default() };
        self.create_device(d).await;
    }

    /// A simulated device connected in the background, and its counters.
    async fn run_sim(&self, name: &str) -> (watch::Sender<bool>, Arc<SimStats>) {
        self.add_device(name).await;
        let bundle = self.pki.bundle(name, "sim", &[self.addr.to_string()], [1; 32], SystemTime::now()).unwrap();
        let (tx, rx) = watch::channel(false);
        let stats = Arc::new(SimStats::default());
        tokio::spawn(wasmbed_sim::run_device_with_stats(bundle, Default::default(), rx, stats.clone()));
        self.wait_phase(name, DevicePhase::Online).await;
        (tx, stats)
    }

    async fn wait_phase(&self, name: &str, phase: DevicePhase) {
        wasmbed_testkit::device_where(&self.store, name, &format!("{phase:?}"), |d| d.status.phase == phase).await;
    }

    async fn run(&self, device: &str, line: &str) -> Result<CommandReply, CommandError> {
        self.gw.run_command(device, CommandLine::parse(line).unwrap()).await
    }

    async fn ok(&self, device: &str, line: &str) -> String {
        let r = self.run(device, line).await.unwrap();
        assert_eq!(r.outcome, CommandOutcome::Ok, "{line}: {}", r.output);
        r.output
    }

    async fn deploy(&self, name: &str, wat: &str) {
        let module = wat::parse_str(wat).unwrap();
        let digest = hex::encode(Sha256::digest(&module));
        self.store.put_module(&digest, &module).await.unwrap();
        let size = module.len() as u32;
        let spec = ApplicationSpec { selector: "fleet=t".into(), ..ApplicationSpec::new("1", &digest, size) };
        let app =
            Application { meta: Meta { name: name.into(), ..Default::default() }, spec, status: Default::default() };
        self.store.put_application(&app).await.unwrap();
    }

    /// A hand-driven device: enrolled, then whatever the test makes it do.
    async fn raw_device(&self, name: &str) -> Raw {
        self.add_device(name).await;
        self.connect_raw(name).await
    }

    /// Another connection for a device that exists.
    async fn connect_raw(&self, name: &str) -> Raw {
        let id = self.pki.device_identity(name, SystemTime::now()).unwrap();
        let cfg = wasmbed_pki::tls::client_config(self.pki.ca_cert_der(), &id).unwrap();
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let s = TlsConnector::from(cfg).connect(ServerName::try_from("127.0.0.1").unwrap(), tcp).await.unwrap();
        let mut raw = Raw { s, reader: FrameReader::new(MAX_FRAME_LEN) };
        raw.send(&DeviceMsg::Enroll(Enroll {
            device_id: name.into(),
            board: "sim".into(),
            firmware_version: "test".into(),
            simulated: true,
            apps: vec![],
        }))
        .await;
        assert!(matches!(raw.recv().await, Some(GatewayMsg::Welcome(_))));
        raw
    }
}

struct Raw {
    s: TlsStream<TcpStream>,
    reader: FrameReader,
}

impl Raw {
    async fn send(&mut self, msg: &DeviceMsg) {
        let mut wire = vec![];
        encode_frame(msg, &mut wire).unwrap();
        self.s.write_all(&wire).await.unwrap();
    }

    async fn heartbeat(&mut self) {
        self.send(&DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 1, free_memory: 1, apps: vec![] })).await;
    }

    /// Next message, or None when the gateway closed the connection.
    async fn recv(&mut self) -> Option<GatewayMsg> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(p) = self.reader.next_frame().unwrap() {
                return Some(decode_gateway_msg(&p).unwrap());
            }
            let n = tokio::time::timeout(Duration::from_secs(10), self.s.read(&mut buf)).await.ok()?.ok()?;
            if n == 0 {
                return None;
            }
            self.reader.push(&buf[..n]).unwrap();
        }
    }

    async fn recv_command(&mut self) -> Command {
        match self.recv().await {
            Some(GatewayMsg::Command(c)) => c,
            other => panic!("expected a command, got {other:?}"),
        }
    }
}

fn fast() -> GatewayConfig {
    GatewayConfig::default().with_heartbeat_ms(200)
}

fn field<'a>(output: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key}: ");
    output.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {key} in:\n{output}"))
}

const HELLO: &str =
    r#"(module (memory (export "memory") 1) (func (export "init")) (func (export "tick") (param i64)))"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_device_answers_status_apps_mem_and_uptime() {
    let e = env(fast()).await;
    let _sim = e.run_sim("t-1").await;
    let status = e.ok("t-1", "status").await;
    assert_eq!(field(&status, "device"), "t-1");
    assert_eq!(field(&status, "board"), "sim");
    assert_eq!(field(&status, "simulated"), "yes (host simulator)");
    assert_eq!(field(&status, "session"), "online, heartbeat every 200 ms");
    assert_eq!(field(&status, "free_heap"), format!("{} bytes", wasmbed_sim::SIM_HEAP_BYTES));
    assert_eq!(e.ok("t-1", "apps").await, "no apps installed");
    let mem = e.ok("t-1", "mem").await;
    assert_eq!(field(&mem, "heap_size"), format!("{} bytes", wasmbed_sim::SIM_HEAP_BYTES));
    let up: u64 = field(&e.ok("t-1", "uptime").await, "uptime_ms").parse().unwrap();
    assert!(up > 0 && up < 60_000, "{up}");
    assert_eq!(e.gw.stats().protocol_errors.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_commands_are_refused_by_the_device_with_its_reason() {
    let e = env(fast()).await;
    let _sim = e.run_sim("t-1").await;
    let cases = [
        ("rm -rf /", "unknown command \"rm\"; this device allows: status, apps, mem, uptime, restart-app NAME, reboot"),
        ("reboot now", "reboot takes no arguments, got 1 (usage: reboot)"),
        ("restart-app", "restart-app needs NAME (usage: restart-app NAME)"),
        ("restart-app ghost", "restart-app: no app named \"ghost\" is installed on this device"),
        ("restart-app ../../x", "restart-app: \"../../x\" is not an app name"),
        ("STATUS", "unknown command \"STATUS\""),
    ];
    for (line, reason) in cases {
        let r = e.run("t-1", line).await.unwrap();
        assert_eq!(r.outcome, CommandOutcome::Refused, "{line}: {}", r.output);
        assert!(r.output.starts_with(reason), "{line}: {}", r.output);
    }
    // Refusals change nothing: same session, no reboot, still answering.
    assert_eq!(e.gw.stats().enrollments.load(Ordering::Relaxed), 1);
    assert_eq!(e.gw.stats().protocol_errors.load(Ordering::Relaxed), 0);
    e.ok("t-1", "status").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_relays_any_command_as_data_and_ignores_answers_nobody_waits_for() {
    let e = env(GatewayConfig::default().with_heartbeat_ms(2000)).await;
    let mut dev = e.raw_device("raw").await;
    let gw = e.gw.clone();
    let call = tokio::spawn(async move { gw.run_command("raw", "rm -rf /".parse().unwrap()).await });
    let cmd = dev.recv_command().await;
    assert_eq!((cmd.name.as_str(), cmd.args.as_slice()), ("rm", &["-rf".to_string(), "/".to_string()][..]));
    // A stray answer first: logged and ignored, not a protocol error.
    let stray = CommandResult { id: cmd.id.wrapping_add(100), outcome: CommandOutcome::Ok, output: "stray".into() };
    dev.send(&DeviceMsg::CommandResult(stray)).await;
    let real = CommandResult { id: cmd.id, outcome: CommandOutcome::Failed, output: "no such thing".into() };
    dev.send(&DeviceMsg::CommandResult(real)).await;
    let reply = call.await.unwrap().unwrap();
    assert_eq!((reply.outcome, reply.output.as_str()), (CommandOutcome::Failed, "no such thing"));
    dev.heartbeat().await;
    e.wait_phase("raw", DevicePhase::Online).await;
    assert_eq!(e.gw.stats().protocol_errors.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_offline_devices_are_not_connected() {
    let e = env(fast()).await;
    assert_eq!(e.run("nobody", "status").await, Err(CommandError::NotConnected("nobody".into())));
    e.add_device("offline").await;
    let err = e.run("offline", "status").await.unwrap_err();
    assert_eq!(err, CommandError::NotConnected("offline".into()));
    assert_eq!(err.to_string(), "device offline is not connected to this gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_device_times_out_its_late_answer_is_ignored_and_the_session_goes_on() {
    let timeout = Duration::from_millis(300);
    let e = env(GatewayConfig::default().with_heartbeat_ms(2000).with_command_timeout(timeout)).await;
    let mut dev = e.raw_device("slow").await;
    let gw = e.gw.clone();
    let call = tokio::spawn(async move { gw.run_command("slow", "status".parse().unwrap()).await });
    let first = dev.recv_command().await;
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(err, CommandError::Timeout { device: "slow".into(), after: timeout });
    // The answer arrives after the caller gave up.
    let late = CommandResult { id: first.id, outcome: CommandOutcome::Ok, output: "late".into() };
    dev.send(&DeviceMsg::CommandResult(late)).await;
    dev.heartbeat().await;
    // The next command gets a new id and its own answer.
    let gw = e.gw.clone();
    let call = tokio::spawn(async move { gw.run_command("slow", "uptime".parse().unwrap()).await });
    let second = dev.recv_command().await;
    assert_ne!(second.id, first.id);
    let ok = CommandResult { id: second.id, outcome: CommandOutcome::Ok, output: "uptime_ms: 1".into() };
    dev.send(&DeviceMsg::CommandResult(ok)).await;
    assert_eq!(call.await.unwrap().unwrap().output, "uptime_ms: 1");
    assert_eq!(e.store.get_device("slow").await.unwrap().unwrap().status.phase, DevicePhase::Online);
    assert_eq!(e.gw.stats().protocol_errors.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_ends_before_the_answer_ends_the_wait() {
    let e = env(GatewayConfig::default().with_heartbeat_ms(2000).with_command_timeout(Duration::from_secs(30))).await;
    let mut dev = e.raw_device("gone").await;
    let gw = e.gw.clone();
    let call = tokio::spawn(async move { gw.run_command("gone", "status".parse().unwrap()).await });
    dev.recv_command().await;
    drop(dev);
    let err = tokio::time::timeout(Duration::from_secs(10), call).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err, CommandError::SessionEnded("gone".into()));

    // A newer session replacing the one a command waits on ends it too.
    let mut first = e.raw_device("twice").await;
    let gw = e.gw.clone();
    let call = tokio::spawn(async move { gw.run_command("twice", "status".parse().unwrap()).await });
    first.recv_command().await;
    let _second = e.connect_raw("twice").await;
    let err = tokio::time::timeout(Duration::from_secs(10), call).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err, CommandError::SessionEnded("twice".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_get_their_own_answers_and_heartbeats_go_on() {
    let e = env(fast()).await;
    let _sim = e.run_sim("t-1").await;
    let beats = e.gw.stats().heartbeats.load(Ordering::Relaxed);
    let lines = ["status", "uptime", "apps", "rm -rf /", "mem", "reboot now", "status", "uptime"];
    let mut calls = Vec::new();
    for line in lines {
        let gw = e.gw.clone();
        calls.push(tokio::spawn(async move { gw.run_command("t-1", line.parse().unwrap()).await }));
    }
    for (line, call) in lines.into_iter().zip(calls) {
        let r = call.await.unwrap().unwrap();
        let fits = match line {
            "status" => r.output.starts_with("device: t-1"),
            "uptime" => r.output.starts_with("uptime_ms: "),
            "apps" => r.output == "no apps installed",
            "mem" => r.output.starts_with("free_heap: "),
            "rm -rf /" => r.outcome == CommandOutcome::Refused && r.output.contains("\"rm\""),
            _ => r.outcome == CommandOutcome::Refused && r.output.starts_with("reboot takes no arguments"),
        };
        assert!(fits, "{line}: {r:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(e.gw.stats().heartbeats.load(Ordering::Relaxed) > beats, "heartbeats continue");
    assert_eq!(e.store.get_device("t-1").await.unwrap().unwrap().status.phase, DevicePhase::Online);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_app_and_reboot_on_a_simulated_device() {
    let e = env(fast()).await;
    let (_stop, sim) = e.run_sim("t-1").await;
    e.deploy("hello", HELLO).await;
    let mut apps = String::new();
    for _ in 0..100 {
        apps = e.ok("t-1", "apps").await;
        if apps.contains("hello 1 running") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(apps.contains("hello 1 running"), "{apps}");
    assert_eq!(e.ok("t-1", "restart-app hello").await, "restarted hello (version 1): running");
    // Up long enough that a fresh uptime is told apart.
    let mut before = 0;
    while before < 1_500 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        before = field(&e.ok("t-1", "uptime").await, "uptime_ms").parse().unwrap();
    }

    let reply = e.ok("t-1", "reboot").await;
    assert!(reply.starts_with("rebooting"), "{reply}");
    // A cold boot: a new session (enrolled afresh), uptime from zero, and
    // the app re-deployed by the gateway because the device lost it.
    for _ in 0..200 {
        if e.gw.stats().enrollments.load(Ordering::Relaxed) >= 2 && e.gw.session_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(e.gw.stats().enrollments.load(Ordering::Relaxed), 2, "re-enrolled once");
    assert_eq!(sim.reboots.load(Ordering::Relaxed), 1);
    let mut after = u64::MAX;
    for _ in 0..100 {
        match e.run("t-1", "uptime").await {
            Ok(r) => {
                after = field(&r.output, "uptime_ms").parse().unwrap();
                break;
            }
            Err(CommandError::NotConnected(_) | CommandError::SessionEnded(_)) => {}
            Err(other) => panic!("{other}"),
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(after < before, "uptime restarted: {after} ms after, {before} ms before");
    e.wait_phase("t-1", DevicePhase::Online).await;
    for _ in 0..100 {
        if e.ok("t-1", "apps").await.contains("hello 1 running") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("hello was never re-deployed after the reboot");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_answer_is_a_protocol_error_that_ends_the_wait() {
    let e = env(GatewayConfig::default().with_heartbeat_ms(2000)).await;
    let mut dev = e.raw_device("loud").await;
    let gw = e.gw.clone();
    let call = tokio::spawn(async move { gw.run_command("loud", "status".parse().unwrap()).await });
    let cmd = dev.recv_command().await;
    // The largest answer the protocol allows, then one byte more.
    let full = CommandResult { id: cmd.id, outcome: CommandOutcome::Ok, output: "o".repeat(MAX_COMMAND_OUTPUT) };
    let mut wire = vec![];
    encode_frame(&DeviceMsg::CommandResult(full), &mut wire).unwrap();
    let head = wire.windows(3).position(|w| w == [0x79, 0x08, 0x00]).unwrap();
    wire[head + 2] = 0x01;
    wire.push(b'o');
    let len = (wire.len() - 4) as u32;
    wire[..4].copy_from_slice(&len.to_be_bytes());
    dev.s.write_all(&wire).await.unwrap();
    match dev.recv().await {
        Some(GatewayMsg::Error(r)) => assert_eq!(r.code, ErrorCode::Malformed, "{}", r.detail),
        other => panic!("expected an error report, got {other:?}"),
    }
    let err = tokio::time::timeout(Duration::from_secs(10), call).await.unwrap().unwrap().unwrap_err();
    assert_eq!(err, CommandError::SessionEnded("loud".into()));
    assert_eq!(e.gw.stats().protocol_errors.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_with_too_many_commands_in_flight_is_busy() {
    let e = env(GatewayConfig::default().with_heartbeat_ms(2000)).await;
    let mut dev = e.raw_device("slow").await;
    let mut calls = Vec::new();
    for _ in 0..MAX_COMMANDS_IN_FLIGHT {
        let gw = e.gw.clone();
        calls.push(tokio::spawn(async move { gw.run_command("slow", "status".parse().unwrap()).await }));
    }
    let mut ids = Vec::new();
    for _ in 0..MAX_COMMANDS_IN_FLIGHT {
        ids.push(dev.recv_command().await.id);
    }
    assert_eq!(e.run("slow", "status").await, Err(CommandError::Busy("slow".into())));
    for id in ids {
        let r = CommandResult { id, outcome: CommandOutcome::Ok, output: format!("#{id}") };
        dev.send(&DeviceMsg::CommandResult(r)).await;
    }
    for call in calls {
        assert!(call.await.unwrap().unwrap().output.starts_with('#'));
    }
    // Answered commands leave room again.
    let gw = e.gw.clone();
    let next = tokio::spawn(async move { gw.run_command("slow", "uptime".parse().unwrap()).await });
    let c = dev.recv_command().await;
    dev.send(&DeviceMsg::CommandResult(CommandResult { id: c.id, outcome: CommandOutcome::Ok, output: "up".into() }))
        .await;
    assert_eq!(next.await.unwrap().unwrap().output, "up");
}
