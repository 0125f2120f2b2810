//! Real devices: our firmware in QEMU, managed by the QEMU manager, against
//! the real gateway over mutual TLS. Nothing here is simulated.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use wasmbed_gateway::{CommandError, CommandOutcome, CommandReply};
use wasmbed_model::AppState;
use wasmbed_model::clock::unix_ms;
use wasmbed_model::{Application, ApplicationSpec, Device, DevicePhase, DeviceSpec, Limits, Meta, ProcessState};
use wasmbed_pki::Pki;
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_qemu::manager::QemuManager;
use wasmbed_qemu::{Launch, ProcessGroup, machine, write_boot_seed};
use wasmbed_testkit::{application_where, devices_where, eventually, poll};

mod common;

const BOARD: &str = "mps2-an385";

struct Env {
    tmp: tempfile::TempDir,
    p: Platform,
}

async fn platform() -> Env {
    platform_for(&[BOARD]).await
}

async fn platform_for(boards: &[&str]) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let firmware: BTreeMap<String, _> =
        boards.iter().map(|b| (b.to_string(), wasmbed_qemu::firmware_from_source(b).unwrap())).collect();
    // 1 s heartbeats: the liveness window is 3 s.
    let cfg = PlatformConfig::new(tmp.path()).with_heartbeat_ms(1000).with_firmware(firmware).quick();
    let p = Platform::start(cfg).await.unwrap();
    Env { tmp, p }
}

impl Env {
    async fn add_device(&self, name: &str, labels: &[(&str, &str)]) {
        self.add_board_device(name, BOARD, labels).await;
    }

    async fn add_board_device(&self, name: &str, board: &str, labels: &[(&str, &str)]) {
        let labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let spec = DeviceSpec { board: board.into(), labels, ..Default::default() };
        let d = Device { meta: Meta::named(name), spec, status: Default::default() };
        self.p.store.create_device(d).await.unwrap();
    }

    async fn device(&self, name: &str) -> Device {
        self.p.store.get_device(name).await.unwrap().unwrap()
    }

    fn console(&self, name: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join("devices").join(name).join("console.log")).unwrap_or_default()
    }

    /// Waits until `check` holds for the device, or fails with its console.
    async fn wait_for(&self, name: &str, what: &str, check: impl Fn(&Device) -> bool) -> Device {
        eventually(&self.p.store, format_args!("{name}: {what}"), async || {
            let d = self.device(name).await;
            if check(&d) { Ok(d) } else { Err(format!("status {:?}\nconsole:\n{}", d.status, self.console(name))) }
        })
        .await
    }

    /// Waits until the device's app `app` has logged `line`.
    async fn wait_log(&self, name: &str, app: Option<&str>, line: &str) {
        poll(format_args!("{name}: log line {line:?}"), async || {
            let tail = self.p.logs.tail(name, 10);
            if tail.iter().any(|l| app.is_none_or(|a| l.app == a) && l.line == line) { Ok(()) } else { Err(tail) }
        })
        .await
    }

    async fn deploy(&self, name: &str, selector: &str, module: &[u8]) {
        let digest = hex::encode(Sha256::digest(module));
        self.deploy_as(name, selector, module, &digest).await;
    }

    /// Stores `module` under `digest` whether or not it matches.
    async fn deploy_as(&self, name: &str, selector: &str, module: &[u8], digest: &str) {
        self.deploy_with(name, selector, module, digest, wasmbed_model::Execution::Interpreted).await;
    }

    /// Deploys `module` compiled to native code for each board.
    async fn deploy_native(&self, name: &str, selector: &str, module: &[u8]) {
        let digest = hex::encode(Sha256::digest(module));
        self.deploy_with(name, selector, module, &digest, wasmbed_model::Execution::Native).await;
    }

    async fn deploy_with(
        &self,
        name: &str,
        selector: &str,
        module: &[u8],
        digest: &str,
        execution: wasmbed_model::Execution,
    ) {
        self.p.store.put_module(digest, module).await.unwrap();
        let spec = ApplicationSpec {
            selector: selector.into(),
            execution,
            limits: Limits { tick_ms: 200, ..Limits::default() },
            ..ApplicationSpec::new("1", digest, module.len() as u32)
        };
        let app = Application { meta: Meta::named(name), spec, status: Default::default() };
        self.p.store.put_application(&app).await.unwrap();
    }

    fn manager(&self) -> &QemuManager {
        self.p.manager.as_ref().unwrap()
    }

    async fn shutdown(self) {
        self.p.shutdown().await;
    }
}

fn app_state(d: &Device, app: &str) -> Option<AppState> {
    d.status.session.app(app).map(|a| a.state)
}

fn logging_app(text: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(module
             (import "wasmbed" "log" (func $log (param i32 i32)))
             (memory (export "memory") 1)
             (data (i32.const 0) "{text}")
             (func (export "init") (call $log (i32.const 0) (i32.const {n})))
             (func (export "tick") (call $log (i32.const 0) (i32.const {n}))))"#,
        n = text.len()
    ))
    .unwrap()
}

fn qemu_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

/// Boot, enroll over mTLS, run an app whose output reaches the log book,
/// survive a killed QEMU (Unreachable, restarted, re-enrolled, re-synced),
/// and treat a wrong-hash module and a trapping app as the simulator does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_device_enrolls_runs_apps_and_recovers_from_a_killed_qemu() {
    let p = platform().await;
    p.add_device("q-1", &[("fleet", "a")]).await;
    let d = p.wait_for("q-1", "Online", |d| d.status.phase == DevicePhase::Online).await;
    assert!(!d.status.session.simulated, "a firmware device does not say it is simulated");
    assert_eq!(d.status.session.firmware_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let console = p.console("q-1");
    assert!(console.contains("gateway verified against the pinned platform CA"), "{console}");

    p.deploy("hello", "fleet=a", &logging_app("hello from qemu")).await;
    p.wait_for("q-1", "running hello", |d| app_state(d, "hello") == Some(AppState::Running)).await;
    p.wait_log("q-1", Some("hello"), "hello from qemu").await;

    // Kill QEMU: Unreachable within the liveness window, then restarted by
    // the manager, re-enrolled and re-synced.
    let before = p.manager().running();
    let pid = before[0].pid.unwrap();
    assert_eq!(before[0].starts, 1);
    sigkill(pid);
    p.wait_for("q-1", "Unreachable", |d| d.status.phase == DevicePhase::Unreachable).await;
    p.wait_for("q-1", "Online again", |d| d.status.phase == DevicePhase::Online).await;
    p.wait_for("q-1", "running hello again", |d| app_state(d, "hello") == Some(AppState::Running)).await;
    let after = p.manager().running();
    assert_eq!(after[0].starts, 2, "{after:?}");
    assert!(!qemu_running(pid), "the killed QEMU is gone");
    assert!(p.console("q-1").contains("QEMU exited"), "the console log records the exit");

    // A module whose bytes do not match its digest: the device refuses it.
    let good = logging_app("never runs");
    let wrong = hex::encode(Sha256::digest(b"something else"));
    p.deploy_as("badhash", "fleet=a", &good, &wrong).await;
    let d = p
        .wait_for("q-1", "rejecting badhash", |d| {
            d.status.session.last_error.as_deref().is_some_and(|e| e.contains("badhash") && e.contains("rejected"))
        })
        .await;
    assert_eq!(app_state(&d, "hello"), Some(AppState::Running), "the other app keeps running");

    // A trapping app fails alone; the device and its session stay up.
    let trap = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "init") unreachable))"#).unwrap();
    p.deploy("trap", "fleet=a", &trap).await;
    let d = p.wait_for("q-1", "failing trap", |d| app_state(d, "trap") == Some(AppState::Failed)).await;
    let reason = d.status.session.app("trap").and_then(|a| a.reason.clone()).unwrap_or_default();
    assert!(reason.contains("unreachable") || reason.contains("trap"), "{reason}");
    assert_eq!(d.status.phase, DevicePhase::Online);
    assert_eq!(app_state(&d, "hello"), Some(AppState::Running));

    // Deleting the device stops its QEMU.
    let pid = p.manager().running()[0].pid.unwrap();
    p.p.store.delete_device("q-1").await.unwrap();
    poll("the QEMU of a deleted device gone", async || {
        if qemu_running(pid) || !p.manager().running().is_empty() { Err(p.manager().running()) } else { Ok(()) }
    })
    .await;
    p.shutdown().await;
}

/// SIGKILL to one process, as an operator (or the OOM killer) would.
fn sigkill(pid: u32) {
    let ok = std::process::Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status().unwrap();
    assert!(ok.success());
}

/// Every supported board boots our firmware, enrolls over mTLS (the olimex
/// board over its UART link), runs an app whose output reaches the log
/// book, and reports it Running. Every board with RAM for a second app
/// runs native code with the MPU keeping its bounds (PMSAv7 on the M3, M4
/// and M7, PMSAv8 on the M33): it runs, and a store past its memory fails
/// that app alone with the reason, the device going on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_board_enrolls_and_runs_an_app() {
    const BOARDS: [&str; 5] = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505", "olimex-stm32-h405"];
    // The olimex board's 112 KiB heap holds one app's 64 KiB page.
    const TWO_APPS: [&str; 4] = ["mps2-an385", "mps2-an386", "mps2-an500", "mps2-an505"];
    let p = platform_for(&BOARDS).await;
    for board in BOARDS {
        let room = if TWO_APPS.contains(&board) { "two" } else { "one" };
        let labels = [("fleet", "boards"), ("board", board), ("apps", room)];
        p.add_board_device(&format!("b-{board}"), board, &labels).await;
    }
    p.deploy("hello", "fleet=boards", &logging_app("hello board")).await;
    for board in BOARDS {
        let name = format!("b-{board}");
        let d = p.wait_for(&name, "running hello", |d| app_state(d, "hello") == Some(AppState::Running)).await;
        assert_eq!(d.status.phase, DevicePhase::Online);
        assert!(p.console(&name).contains(&format!("wasmbed firmware {} on {board}", env!("CARGO_PKG_VERSION"))));
        p.wait_log(&name, None, "hello board").await;
    }
    let native = logging_app("native board");
    p.deploy_native("native", "apps=two", &native).await;
    for board in TWO_APPS {
        let name = format!("b-{board}");
        p.wait_log(&name, Some("native"), "native board").await;
        // The gateway's record: the device holds the artifact, not the module.
        let app = p.p.store.get_application("native").await.unwrap().unwrap();
        let artifact = app.status.revision(1).and_then(|r| r.artifact_for(board)).unwrap().digest.clone();
        p.wait_for(&name, "holding native code", |d| {
            d.status.session.app("native").is_some_and(|a| a.digest == artifact)
        })
        .await;
    }
    let oob = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "init") (i32.store (i32.const 65536) (i32.const 1))))"#,
    )
    .unwrap();
    p.deploy_native("oob", "apps=two", &oob).await;
    for board in TWO_APPS {
        let name = format!("b-{board}");
        let d = p.wait_for(&name, "failing oob", |d| app_state(d, "oob") == Some(AppState::Failed)).await;
        // It failed as native code (a module importing nothing), not in
        // the interpreter a failed build falls back to.
        let app = p.p.store.get_application("oob").await.unwrap().unwrap();
        let build = app.status.revision(1).and_then(|r| r.native.iter().find(|b| b.board == board)).cloned();
        let artifact = build.as_ref().and_then(|b| b.artifact()).map(|a| a.digest.clone());
        assert!(artifact.is_some(), "{board}: no native build of oob: {build:?}");
        assert_eq!(d.status.session.app("oob").map(|a| a.digest.clone()), artifact, "{board}");
        let reason = d.status.session.app("oob").and_then(|a| a.reason.clone()).unwrap_or_default();
        assert!(reason.contains("out of bounds memory access"), "{board}: {reason}");
        assert_eq!(d.status.phase, DevicePhase::Online);
        assert_eq!(app_state(&d, "native"), Some(AppState::Running), "{board}");
        assert!(!p.console(&name).contains("resetting"), "{}", p.console(&name));
    }
    // The 128 KiB-RAM board refuses a module its heap cannot hold, saying
    // which limit (its budget's data segment bytes, or the free heap the
    // deploy found, whichever is checked first), and keeps running what it
    // has (no out-of-memory reset).
    let filler = "x".repeat(60 * 1024);
    let big = wat::parse_str(format!(
        r#"(module (memory (export "memory") 1) (data (i32.const 0) "{filler}") (func (export "init")))"#
    ))
    .unwrap();
    p.deploy("big", "board=olimex-stm32-h405", &big).await;
    let d = p
        .wait_for("b-olimex-stm32-h405", "refusing big", |d| {
            d.status.session.last_error.as_deref().is_some_and(|e| {
                e.contains("big")
                    && e.contains("no-resources")
                    && (e.contains("data segment bytes") || e.contains("not enough free memory"))
            })
        })
        .await;
    assert_eq!(d.status.phase, DevicePhase::Online);
    assert_eq!(app_state(&d, "hello"), Some(AppState::Running));
    assert!(!p.console("b-olimex-stm32-h405").contains("panic"), "{}", p.console("b-olimex-stm32-h405"));
    p.shutdown().await;
}

/// A Device of a board this installation has no image for is not started,
/// and its status says why; the manager keeps serving the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_without_a_firmware_image_is_reported_not_started() {
    let p = platform_for(&[]).await;
    p.add_device("q-nofw", &[]).await;
    let d = p.wait_for("q-nofw", "reporting the missing image", |d| d.status.phase == DevicePhase::Failed).await;
    let process = d.status.process.unwrap();
    assert_eq!(process.state, ProcessState::Failed);
    let err = process.message.unwrap_or_default();
    assert!(err.contains("no firmware image for board mps2-an385"), "{err}");
    assert!(p.manager().running().iter().all(|r| r.pid.is_none()), "{:?}", p.manager().running());
    p.shutdown().await;
}

/// Runs a device that is not one of this platform's: QEMU launched by hand
/// with a bundle from another CA naming `endpoints`, its network forwarding
/// `gateway_ports`. Returns QEMU (killed on drop) and its console file.
fn foreign_device(p: &Env, name: &str, endpoints: &[String], gateway_ports: Vec<u16>) -> (ProcessGroup, PathBuf) {
    let other = Pki::open_or_create(&p.tmp.path().join("other-pki"), SystemTime::now()).unwrap();
    let bundle = other.bundle(name, BOARD, endpoints, [7; 32], SystemTime::now()).unwrap();
    let dir = p.tmp.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bundle.bin"), bundle.to_bytes()).unwrap();
    write_boot_seed(&dir.join("seed.bin"), [8; 32], unix_ms()).unwrap();
    let console = dir.join("console.log");
    let launch = Launch {
        board: machine(BOARD).unwrap(),
        kernel: wasmbed_qemu::firmware_from_source(BOARD).unwrap(),
        bundle: Some(dir.join("bundle.bin")),
        seed: Some(dir.join("seed.bin")),
        console: console.clone(),
        mac: Some(wasmbed_qemu::mac_for(name)),
        gateway_ports,
        peripherals: Vec::new(),
        qmp: None,
        paused: false,
        app_uarts: None,
    };
    (ProcessGroup::spawn(launch.command().stdout(Stdio::null())).unwrap(), console)
}

/// A device provisioned with another CA must not talk to this gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_pinning_another_ca_refuses_the_gateway_and_says_why() {
    let p = platform().await;
    let port = p.p.gateway_port();
    let (_qemu, console) = foreign_device(&p, "q-foreign", &[format!("10.0.2.2:{port}")], vec![port]);
    let text = poll("a refusal on the console", async || {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.contains("did not verify against the pinned platform CA") { Ok(text) } else { Err(text) }
    })
    .await;
    assert!(text.contains("reconnecting in"), "it backs off and retries: {text}");
    assert!(!text.contains("online:"), "{text}");
    p.shutdown().await;
}

/// QEMU's user network is restricted to the gateways (`restrict=on` and a
/// forward per gateway): a device whose bundle also names another port on
/// the host reaches nothing there, as the listener on that port sees,
/// while the forwarded gateway still answers it (and refuses its foreign
/// CA, which is how the test knows the device got through).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_device_reaches_its_gateway_and_nothing_else_on_the_host() {
    let p = platform_for(&[]).await;
    let port = p.p.gateway_port();
    let bystander = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bystander.set_nonblocking(true).unwrap();
    let blocked = bystander.local_addr().unwrap().port();
    let endpoints = [format!("10.0.2.2:{blocked}"), format!("10.0.2.2:{port}")];
    let (_qemu, console) = foreign_device(&p, "q-fenced", &endpoints, vec![port]);
    // It tried the blocked port first, then reached the gateway, twice over.
    let text = poll("the gateway reached twice", async || {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.matches("did not verify against the pinned platform CA").count() >= 2 { Ok(text) } else { Err(text) }
    })
    .await;
    assert!(text.contains(&format!("10.0.2.2:{blocked}")), "it dialled the blocked port: {text}");
    match bystander.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the device reached a host port that is not a gateway: {other:?}\n{text}"),
    }
    p.shutdown().await;
}

/// A canary rollout on real devices: a good version goes through every
/// step; a version that traps is stopped at the first gate and the device
/// it touched is back on the previous revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_rollout_on_qemu_devices() {
    use wasmbed_model::{RolloutPhase, Strategy};
    let p = platform().await;
    for i in 0..3 {
        p.add_device(&format!("c-{i}"), &[("fleet", "canary")]).await;
    }
    let store = &p.p.store;
    let on = |rev: u64| {
        move |ds: &[Device]| {
            ds.len() == 3
                && ds
                    .iter()
                    .all(|d| d.status.phase == DevicePhase::Online && common::running_revision(d, "c") == Some(rev))
        }
    };
    common::deploy(store, "c", "1", &common::app("v1", 0), "fleet=canary", Strategy::AllAtOnce, common::APP_CAPS).await;
    devices_where(store, "running revision 1", on(1)).await;

    let canary = Strategy::canary("1,50%,100%").unwrap();
    common::deploy(store, "c", "2", &common::app("v2", 0), "fleet=canary", canary.clone(), common::APP_CAPS).await;
    let a = application_where(store, "c", "done with revision 2", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 2 && r.phase.is_final())
    })
    .await;
    assert_eq!(a.status.rollout.as_ref().unwrap().phase, RolloutPhase::Completed, "{:?}", a.status);
    assert_eq!(a.status.steps.iter().map(|s| s.target).collect::<Vec<_>>(), [1, 2, 3]);
    devices_where(store, "running revision 2", on(2)).await;

    // Traps on every device: the first gate (one device) stops it.
    common::deploy(store, "c", "3", &common::app("v3", 1000), "fleet=canary", canary, common::APP_CAPS).await;
    let a = application_where(store, "c", "done with revision 3", |a| {
        a.status.rollout.as_ref().is_some_and(|r| r.revision == 3 && r.phase.is_final())
    })
    .await;
    let ro = a.status.rollout.unwrap();
    assert_eq!((ro.phase, ro.step, ro.touched.len()), (RolloutPhase::RolledBack, 0, 1), "{ro:?}");
    devices_where(store, "back on revision 2", on(2)).await;
    p.shutdown().await;
}

/// `value: N bytes` or `value: N` in a terminal answer, as a number.
fn figure(output: &str, key: &str) -> u64 {
    let prefix = format!("{key}: ");
    let line = output.lines().find_map(|l| l.strip_prefix(&prefix));
    let n = line.and_then(|v| v.split(' ').next()).and_then(|v| v.parse().ok());
    n.unwrap_or_else(|| panic!("no number for {key} in:\n{output}"))
}

/// The device terminal on our firmware: `status` and `mem` answer with the
/// firmware's own figures, disallowed commands are refused by the device
/// with its reason, and `reboot` resets the board (in place, as hardware
/// does: the same QEMU boots the firmware again) and the device comes back
/// Online with a fresh uptime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_answers_refuses_and_reboots_a_qemu_device() {
    let p = platform().await;
    p.add_device("q-term", &[("fleet", "term")]).await;
    p.deploy("hello", "fleet=term", &logging_app("hello terminal")).await;
    p.wait_for("q-term", "running hello", |d| app_state(d, "hello") == Some(AppState::Running)).await;

    let mut transcript = String::new();
    let mut run = async |line: &str| -> Result<CommandReply, CommandError> {
        let r = p.p.gateways[0].run_command("q-term", line.parse().unwrap()).await;
        match &r {
            Ok(r) => transcript.push_str(&format!("> {line}\n[{}] {}\n", r.outcome.as_str(), r.output)),
            Err(e) => transcript.push_str(&format!("> {line}\n[error] {e}\n")),
        }
        r
    };
    let status = run("status").await.unwrap();
    assert_eq!(status.outcome, CommandOutcome::Ok);
    for line in ["device: q-term", "board: mps2-an385", "simulated: no", "apps: 1 installed, 1 running"] {
        assert!(status.output.lines().any(|l| l == line), "{line:?} missing:\n{}", status.output);
    }
    let mem = run("mem").await.unwrap();
    assert_eq!(mem.outcome, CommandOutcome::Ok);
    let (free, size, apps) =
        (figure(&mem.output, "free_heap"), figure(&mem.output, "heap_size"), figure(&mem.output, "app_memory"));
    // The board's 1 MiB heap, less what TLS, the IP stack and the app hold.
    assert!(size > 900 * 1024 && size <= 1024 * 1024, "{}", mem.output);
    assert!(free > 0 && free + apps < size, "{}", mem.output);
    assert!(apps >= 64 * 1024, "one page of linear memory at least: {}", mem.output);
    let apps_out = run("apps").await.unwrap().output;
    assert!(apps_out.lines().any(|l| l.starts_with("hello 1 running ")), "{apps_out}");
    let before = figure(&run("uptime").await.unwrap().output, "uptime_ms");
    assert!(before > 0);
    let restarted = run("restart-app hello").await.unwrap();
    assert_eq!(
        (restarted.outcome, restarted.output.as_str()),
        (CommandOutcome::Ok, "restarted hello (version 1): running")
    );

    for (line, reason) in [
        ("rm -rf /", "unknown command \"rm\""),
        ("reboot now", "reboot takes no arguments"),
        ("restart-app", "restart-app needs NAME"),
        ("restart-app ghost", "no app named \"ghost\""),
    ] {
        let r = run(line).await.unwrap();
        assert_eq!(r.outcome, CommandOutcome::Refused, "{line}: {}", r.output);
        assert!(r.output.contains(reason), "{line}: {}", r.output);
    }
    assert_eq!(p.manager().running()[0].starts, 1, "nothing was reset by a refused command");

    let reboot = run("reboot").await.unwrap();
    assert_eq!(reboot.outcome, CommandOutcome::Ok);
    let start = std::time::Instant::now();
    poll("the board booted again after the reboot", async || {
        let console = p.console("q-term");
        if console.contains("boot: warm reset 1 since power-on") { Ok(()) } else { Err(console) }
    })
    .await;
    assert_eq!(p.manager().running()[0].starts, 1, "reset in place, not a new QEMU");
    let console = p.console("q-term");
    assert!(console.contains("reboot requested over the terminal: answer sent to the gateway; resetting"), "{console}");
    // Back Online in a new session: a fresh uptime, the app re-deployed.
    let after = poll("an answer after the reboot", async || {
        match p.p.gateways[0].run_command("q-term", "uptime".parse().unwrap()).await {
            Ok(r) => Ok(figure(&r.output, "uptime_ms")),
            Err(e @ (CommandError::NotConnected(_) | CommandError::SessionEnded(_))) => Err(e),
            Err(e) => panic!("{e}"),
        }
    })
    .await;
    transcript.push_str(&format!("(after the reboot) > uptime\nuptime_ms: {after}\n"));
    // Booted after the reboot was asked for (QEMU's clock follows the host's).
    assert!(after < start.elapsed().as_millis() as u64, "uptime did not start over: {after} ms, before {before} ms");
    p.wait_for("q-term", "Online and running hello again", |d| {
        d.status.phase == DevicePhase::Online && app_state(d, "hello") == Some(AppState::Running)
    })
    .await;
    println!("terminal transcript (mps2-an385 in QEMU):\n{transcript}");
    p.shutdown().await;
}

/// Our firmware pins the platform's app-signing key from its bundle: a
/// deploy the control plane signed runs; the same deploy with its signed
/// manifest changed on the way (as a compromised gateway or store would)
/// is refused, and the gateway records why. The running app is untouched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_device_runs_only_what_the_platform_signed() {
    let p = platform().await;
    p.add_device("q-sig", &[("fleet", "a")]).await;
    p.wait_for("q-sig", "Online", |d| d.status.phase == DevicePhase::Online).await;
    let console = p.console("q-sig");
    assert!(console.contains("deploys must be signed by app key"), "{console}");

    p.deploy("hello", "fleet=a", &logging_app("signed and running")).await;
    p.wait_for("q-sig", "running hello", |d| app_state(d, "hello") == Some(AppState::Running)).await;
    p.wait_log("q-sig", Some("hello"), "signed and running").await;

    // An app for devices labelled evil=1 (none yet): signed by the control
    // plane, then its manifest is changed in the store.
    p.deploy("evil", "evil=1", &logging_app("must never run")).await;
    // Tampered once the control plane has finished with it (its rollout,
    // matching no device, completes): a write of its own after ours would
    // put the genuine manifest back (seen under CI's load).
    let app = application_where(&p.p.store, "evil", "signed, rollout completed", |a| {
        a.status.signing.is_some()
            && a.status.rollout.as_ref().is_some_and(|r| r.phase == wasmbed_model::RolloutPhase::Completed)
    })
    .await;
    let mut status = app.status.clone();
    let rec = &mut status.signing.as_mut().unwrap().manifests[0];
    let mut signed = rec.signed().unwrap();
    let last = signed.body.len() - 1;
    signed.body[last] ^= 1;
    rec.envelope = hex::encode(minicbor::to_vec(&signed).unwrap());
    let tampered = rec.envelope.clone();
    p.p.store.update_application_status("evil", &status).await.unwrap();
    let kept = p.p.store.get_application("evil").await.unwrap().unwrap();
    assert_eq!(kept.status.signing.unwrap().manifests[0].envelope, tampered, "the store keeps the tampered manifest");

    let mut d = p.device("q-sig").await;
    d.spec.labels.insert("evil".into(), "1".into());
    p.p.store.update_device_spec(&d).await.unwrap();
    let d = p
        .wait_for("q-sig", "refusing evil", |d| {
            d.status
                .session
                .app("evil")
                .is_some_and(|a| a.reason.as_deref().is_some_and(|r| r.contains("bad-signature")))
        })
        .await;
    assert_eq!(app_state(&d, "evil"), Some(AppState::Rejected));
    assert_eq!(app_state(&d, "hello"), Some(AppState::Running), "the signed app keeps running");
    assert!(!p.p.logs.tail("q-sig", 50).iter().any(|l| l.line == "must never run"));
    p.shutdown().await;
}

/// Crash-loop protection on a real board (issue 13): an app whose `init`
/// does not return within the watchdog's time (its fuel budget lasts far
/// longer) stops the main loop; the CMSDK watchdog warns, then resets the
/// board in place. The firmware's crash journal, in RAM the reset keeps,
/// names the app: the device comes back in a new session, reports it
/// Failed with the watchdog and the stage, does not run it again (one reset
/// over a window of several watchdog periods), and runs its other app again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_reset_while_starting_an_app_reports_it_failed_and_does_not_loop() {
    watchdog_stops_a_stuck_app_once(BOARD).await;
}

/// The same on mps2-an505, whose Secure watchdog (one of the SSE's three)
/// is the one armed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_an505_watchdog_resets_a_stuck_app_once() {
    watchdog_stops_a_stuck_app_once("mps2-an505").await;
}

async fn watchdog_stops_a_stuck_app_once(board: &str) {
    let p = platform_for(&[board]).await;
    p.add_board_device("q-loop", board, &[("fleet", "loop")]).await;
    p.deploy("steady", "fleet=loop", &logging_app("steady")).await;
    p.wait_for("q-loop", "running steady", |d| app_state(d, "steady") == Some(AppState::Running)).await;

    let stuck = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "init") (loop br 0)))"#).unwrap();
    let digest = hex::encode(Sha256::digest(&stuck));
    p.p.store.put_module(&digest, &stuck).await.unwrap();
    let limits = Limits { fuel_per_call: wasmbed_model::MAX_FUEL_PER_CALL, tick_ms: 200, ..Limits::default() };
    let spec = ApplicationSpec {
        selector: "fleet=loop".into(),
        limits,
        ..ApplicationSpec::new("1", &digest, stuck.len() as u32)
    };
    let app = Application { meta: Meta::named("stuck"), spec, status: Default::default() };
    p.p.store.put_application(&app).await.unwrap();

    let why = "the watchdog reset the device while running init of stuck revision";
    let d = p
        .wait_for("q-loop", "stuck Failed after a watchdog reset", |d| {
            d.status
                .session
                .app("stuck")
                .is_some_and(|a| a.state == AppState::Failed && a.reason.as_deref().is_some_and(|r| r.contains(why)))
        })
        .await;
    let reason = d.status.session.app("stuck").and_then(|a| a.reason.clone()).unwrap();
    assert!(
        reason.starts_with("device-reset") && reason.contains("not run again until a new revision arrives"),
        "{reason}"
    );
    p.wait_for("q-loop", "Online and running steady again", |d| {
        d.status.phase == DevicePhase::Online && app_state(d, "steady") == Some(AppState::Running)
    })
    .await;
    let console = p.console("q-loop");
    assert!(console.contains("watchdog: not fed for"), "the NMI warned first:\n{console}");
    assert!(console.contains("boot: warm reset 1 since power-on (Watchdog)"), "{console}");
    assert!(console.contains("crash journal: stuck is Failed"), "{console}");

    // No crash loop: over three more watchdog periods, no second reset, and
    // the app stays Failed.
    tokio::time::sleep(std::time::Duration::from_secs(25)).await;
    let console = p.console("q-loop");
    let boots = console.matches("wasmbed firmware ").count();
    assert_eq!(boots, 2, "one reset, then no more:\n{console}");
    assert_eq!(p.manager().running()[0].starts, 1, "reset in place: the same QEMU");
    let d = p.device("q-loop").await;
    assert_eq!(app_state(&d, "stuck"), Some(AppState::Failed));
    assert_eq!(app_state(&d, "steady"), Some(AppState::Running));
    assert_eq!(d.status.phase, DevicePhase::Online);
    println!("q-loop console:\n{console}");
    p.shutdown().await;
}

/// Native code end to end (issue 15): an application asking for `auto`
/// is compiled for the QEMU device's board by the platform (Debian's
/// `wasm2c` and `arm-none-eabi-gcc`), the signed manifest names the
/// artifact, the gateway sends it, and the device runs it — the gateway's
/// record of what the device holds is the artifact's digest, not the
/// module's. A module whose native build fails (a tail call, which the
/// interpreter runs and the compiler's validator refuses) runs
/// interpreted, and the status says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_qemu_device_runs_native_code_the_platform_compiled_and_a_failed_build_runs_interpreted() {
    use wasmbed_model::{ConditionStatus, Execution, NativeBuildState};
    let p = platform().await;
    p.add_device("q-nat", &[("fleet", "n")]).await;
    let deploy = async |name: &str, module: &[u8], execution: Execution| {
        let digest = hex::encode(Sha256::digest(module));
        p.p.store.put_module(&digest, module).await.unwrap();
        let spec = ApplicationSpec {
            selector: "fleet=n".into(),
            execution,
            limits: Limits { tick_ms: 200, ..Limits::default() },
            ..ApplicationSpec::new("1", &digest, module.len() as u32)
        };
        p.p.store
            .put_application(&Application { meta: Meta::named(name), spec, status: Default::default() })
            .await
            .unwrap();
        digest
    };
    let fast = logging_app("native hello");
    let tail = wat::parse_str(
        r#"(module
             (import "wasmbed" "log" (func $log (param i32 i32)))
             (memory (export "memory") 1)
             (data (i32.const 0) "tail call")
             (func $say (call $log (i32.const 0) (i32.const 9)))
             (func (export "init") (return_call $say)))"#,
    )
    .unwrap();
    let fast_module = deploy("fast", &fast, Execution::Auto).await;
    let tail_module = deploy("tail", &tail, Execution::Native).await;
    let d = p
        .wait_for("q-nat", "running fast and tail", |d| {
            app_state(d, "fast") == Some(AppState::Running) && app_state(d, "tail") == Some(AppState::Running)
        })
        .await;
    p.wait_log("q-nat", Some("fast"), "native hello").await;
    p.wait_log("q-nat", Some("tail"), "tail call").await;

    // fast: built for the board, named by the signed manifest, and what
    // the device reports holding is the artifact.
    let app = p.p.store.get_application("fast").await.unwrap().unwrap();
    let rev = app.status.revision(1).unwrap();
    assert_eq!(rev.native.len(), 1, "{:?}", rev.native);
    let artifact = rev.artifact_for(BOARD).unwrap_or_else(|| panic!("no artifact: {:?}", rev.native));
    let bytes = p.p.store.get_module(&artifact.digest).await.unwrap().unwrap();
    let decoded = wasmbed_protocol::NativeArtifact::decode(&bytes).unwrap();
    assert_eq!((decoded.board.as_str(), decoded.compiler.as_str()), (BOARD, artifact.compiler.as_str()));
    assert_eq!(hex::encode(*decoded.module_sha256), fast_module);
    let manifest = app.status.signing.as_ref().and_then(|s| s.manifest(1)).and_then(|m| m.manifest()).unwrap();
    let named = manifest.native.unwrap_or_default();
    assert_eq!(named.len(), 1);
    assert_eq!((named[0].board.as_str(), hex::encode(*named[0].sha256)), (BOARD, artifact.digest.clone()));
    assert_eq!(d.status.session.app("fast").unwrap().digest, artifact.digest, "the device holds the native code");
    let c = app.status.conditions.iter().find(|c| c.kind == "NativeCode").unwrap();
    assert_eq!((c.status, c.reason.as_str()), (ConditionStatus::True, "Built"), "{c:?}");

    // tail: the build failed with its reason, the device interprets it.
    let app = p.p.store.get_application("tail").await.unwrap().unwrap();
    let build = &app.status.revision(1).unwrap().native[0];
    assert_eq!((build.board.as_str(), build.state), (BOARD, NativeBuildState::Failed));
    let why = build.reason.as_deref().unwrap();
    assert!(why.contains("tail"), "{why}");
    assert_eq!(d.status.session.app("tail").unwrap().digest, tail_module, "the device holds the module");
    let c = app.status.conditions.iter().find(|c| c.kind == "NativeCode").unwrap();
    assert_eq!((c.status, c.reason.as_str()), (ConditionStatus::False, "Fallback"), "{c:?}");
    assert!(c.message.contains(&format!("interpreted on {BOARD}")), "{c:?}");

    // Back to interpreted: a new revision, and the device is sent the module.
    let mut a = p.p.store.get_application("fast").await.unwrap().unwrap();
    a.spec.execution = Execution::Interpreted;
    p.p.store.put_application(&a).await.unwrap();
    p.wait_for("q-nat", "fast interpreted", |d| {
        d.status.session.app("fast").is_some_and(|a| a.digest == fast_module && a.state == AppState::Running)
    })
    .await;
    p.shutdown().await;
}
