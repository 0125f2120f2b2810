//! End to end: `wasmbed up`, three simulated devices, deploy by label,
//! replace, bad deploys, SIGKILL and restart, remove. Real processes, real
//! mutual TLS on loopback, real WebAssembly execution in the agents.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use wasmbed_model::clock::unix_ms;
use wasmbed_model::{Application, Device, DevicePhase, LogLine};
use wasmbed_testkit::wait_until;

const BIN: &str = env!("CARGO_BIN_EXE_wasmbed");

/// Platform processes die with their process group: no orphans.
struct Proc(wasmbed_qemu::ProcessGroup);

impl Proc {
    fn spawn(cmd: &mut Command) -> Self {
        Self(wasmbed_qemu::ProcessGroup::spawn(cmd).expect("spawn"))
    }

    fn kill9(&mut self) {
        self.0.kill();
    }
}

/// The example apps, built (a no-op when they are fresh).
fn example_apps() -> PathBuf {
    wasmbed_testkit::example_apps().to_path_buf()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

struct Platform {
    data: PathBuf,
    up: Proc,
    gateway_port: u16,
    /// The admin token `up` printed on its first start in `data`.
    token: String,
}

impl Platform {
    fn start(data: &Path, gateway_port: u16) -> Self {
        Self::start_with(data, gateway_port, &[])
    }

    /// Starts `up` again on a data directory it ran on (no new token is printed).
    fn restart(data: &Path, gateway_port: u16, token: String) -> Self {
        let mut p = Self::start_with(data, gateway_port, &[]);
        p.token = token;
        p
    }

    fn start_with(data: &Path, gateway_port: u16, extra: &[&str]) -> Self {
        let mut up = Proc::spawn(
            Command::new(BIN)
                .args(["up", "--listen", "127.0.0.1:0", "--heartbeat-ms", "300"])
                .args(extra)
                .args(["--gateway", &format!("127.0.0.1:{gateway_port}")])
                .arg("--data-dir")
                .arg(data)
                .env("RUST_LOG", "info")
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit()),
        );
        // `up` prints its addresses once it listens.
        let stdout = up.0.child_mut().stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let (mut api, mut token) = (None, String::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            if let Some(url) = line.trim().strip_prefix("api:") {
                api = Some(url.trim().to_string());
            }
            if let Some(t) = line.trim().strip_prefix("admin token:") {
                token = t.trim().to_string();
            }
            if line.starts_with("Stop with Ctrl-C") {
                break;
            }
        }
        assert!(api.is_some(), "up printed no api address");
        std::thread::spawn(move || for _ in lines {});
        Self { data: data.to_path_buf(), up, gateway_port, token }
    }

    /// `wasmbed sim` as its own process: its devices outlive a killed platform.
    fn sim(&self, n: usize, prefix: &str, label: &str) -> Proc {
        Proc::spawn(
            Command::new(BIN)
                .args(["sim", "--devices", &n.to_string(), "--prefix", prefix, "--label", label])
                .arg("--data-dir")
                .arg(&self.data)
                .env("WASMBED_TOKEN", &self.token)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
    }

    /// [`Platform::sim`], waiting until its `n` devices are online.
    fn sim_online(&self, n: usize, prefix: &str, label: &str) -> Proc {
        let sim = self.sim(n, prefix, label);
        wait_until(&format!("{n} devices online"), Duration::from_secs(60), || {
            let d = self.devices();
            d.len() == n && d.iter().all(|d| d.status.phase == DevicePhase::Online && d.status.session.simulated)
        });
        sim
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .env("WASMBED_TOKEN", &self.token)
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "wasmbed {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    fn devices(&self) -> Vec<Device> {
        serde_json::from_str(&self.ok(&["device", "list", "-o", "json"])).unwrap()
    }

    fn logs(&self, device: &str) -> Vec<LogLine> {
        self.ok(&["logs", device, "--tail", "1000", "-o", "json"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn all_run(devices: &[Device], app: &str, version: &str) -> bool {
    devices.len() == 3
        && devices.iter().all(|d| {
            d.status.phase == DevicePhase::Online && d.status.session.runs(|a| a.name == app && a.version == version)
        })
}

#[test]
fn deploy_replace_survive_sigkill_and_remove_on_three_simulated_devices() {
    let apps = example_apps();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let mut p = Platform::start(&data, port);

    let _sim = p.sim_online(3, "e2e", "app=demo");
    let table = p.ok(&["device", "list"]);
    assert!(table.contains("sim (simulator)"), "{table}");
    let summary = p.ok(&["status"]);
    assert!(summary.contains(&format!("gateway port  {port}")) && summary.contains("simulated   3"), "{summary}");
    assert!(summary.contains("devices       3 (Online 3)") && !summary.contains('{'), "words, not JSON: {summary}");

    // Deploy by label; every device runs it and its log lines arrive.
    let hello = apps.join("hello.wasm");
    let hello = hello.to_str().unwrap();
    p.ok(&["app", "deploy", "demo", hello, "--to", "app=demo", "--version", "1", "--tick-ms", "200"]);
    wait_until("v1 running everywhere", Duration::from_secs(60), || all_run(&p.devices(), "demo", "1"));
    for i in 0..3 {
        let dev = format!("e2e-{i}");
        wait_until("hello log lines", Duration::from_secs(30), || {
            let logs = p.logs(&dev);
            logs.iter().any(|l| l.line == "hello from wasmbed") && logs.iter().any(|l| l.line.starts_with("hello #"))
        });
    }

    // Bad deploys are refused at the CLI with a clear error; v1 keeps running.
    let junk = tmp.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0this is not a module").unwrap();
    let out = p.cli(&["app", "deploy", "demo", junk.to_str().unwrap(), "--to", "app=demo"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid WebAssembly"), "{err}");
    let out = p.cli(&["app", "deploy", "demo", "/nonexistent.wasm"]);
    assert!(!out.status.success());
    let apps_now: Vec<Application> = serde_json::from_str(&p.ok(&["app", "list", "-o", "json"])).unwrap();
    assert_eq!(apps_now[0].spec.version, "1");
    assert!(all_run(&p.devices(), "demo", "1"));

    // An app that traps fails alone, with the reason; the other app runs on.
    let crashy = tmp.path().join("crashy.wasm");
    let wat = r#"(module (memory (export "memory") 1) (func (export "tick") (param i64) unreachable))"#;
    std::fs::write(&crashy, wat::parse_str(wat).unwrap()).unwrap();
    p.ok(&["app", "deploy", "crashy", crashy.to_str().unwrap(), "--to", "app=demo", "--tick-ms", "100"]);
    wait_until("crashy failed with a reason everywhere", Duration::from_secs(60), || {
        p.devices().iter().all(|d| {
            d.status.session.apps.iter().any(|a| {
                a.name == "crashy"
                    && a.state == wasmbed_model::AppState::Failed
                    && a.reason.as_deref().is_some_and(|r| r.starts_with("trap"))
            })
        })
    });
    assert!(all_run(&p.devices(), "demo", "1"), "the other app and the sessions stay up");
    p.ok(&["app", "rm", "crashy"]);
    wait_until("crashy removed", Duration::from_secs(60), || {
        p.devices().iter().all(|d| d.status.session.apps.iter().all(|a| a.name != "crashy"))
    });

    // Replace with a new version.
    let ticker = apps.join("ticker.wasm");
    p.ok(&[
        "app",
        "deploy",
        "demo",
        ticker.to_str().unwrap(),
        "--to",
        "app=demo",
        "--version",
        "2",
        "--tick-ms",
        "200",
    ]);
    wait_until("v2 running everywhere", Duration::from_secs(60), || all_run(&p.devices(), "demo", "2"));
    wait_until("ticker log lines", Duration::from_secs(30), || {
        p.logs("e2e-1").iter().any(|l| l.line == "ticker v2 started")
    });

    // SIGKILL the platform; restart on the same port: everything is still
    // there and the devices come back and re-sync.
    p.up.kill9();
    let token = p.token.clone();
    drop(p);
    let restarted = unix_ms();
    let p = Platform::restart(&data, port, token);
    assert_eq!(p.devices().len(), 3, "devices survive SIGKILL");
    let listed: Vec<Application> = serde_json::from_str(&p.ok(&["app", "list", "-o", "json"])).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].spec.version, "2", "desired state survives SIGKILL");
    wait_until("devices back online running v2", Duration::from_secs(90), || {
        let d = p.devices();
        all_run(&d, "demo", "2") && d.iter().all(|d| d.status.session.last_heartbeat_ms.is_some_and(|t| t > restarted))
    });
    assert_eq!(p.gateway_port, port);

    // Remove: every device drops the app.
    p.ok(&["app", "rm", "demo"]);
    wait_until("app removed everywhere", Duration::from_secs(60), || {
        let d = p.devices();
        d.iter().all(|d| d.status.phase == DevicePhase::Online && d.status.session.apps.is_empty())
    });
}

#[test]
fn cli_reports_bad_input_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).arg("--data-dir").arg(tmp.path()).args(["device", "list"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("wasmbed up"), "points at `wasmbed up`");

    let data = tmp.path().join("d");
    let p = Platform::start(&data, 0);
    // The CLI works against the platform it started, without a login.
    let out = Command::new(BIN).arg("--data-dir").arg(&data).args(["device", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.cli(&["device", "add", "Bad_Name"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("metadata.name"));
    // An attached board: its "bundle" is the provisioning record for its flash.
    let record = tmp.path().join("tiny.bin");
    let out = p.ok(&["device", "add", "tiny", "--board", "stm32vldiscovery", "--bundle-out", record.to_str().unwrap()]);
    assert!(out.contains("provisioning record"), "{out}");
    let record = std::fs::read(&record).unwrap();
    assert!(record.len() == 74 && record.starts_with(b"WBAP"), "{record:?}");
    let out = p.cli(&["device", "add", "x", "--label", "novalue"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("key=value"));
    let bundle = tmp.path().join("b.bin");
    p.ok(&["device", "add", "good", "--label", "a=b", "--bundle-out", bundle.to_str().unwrap()]);
    let b = wasmbed_protocol::IdentityBundle::from_bytes(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(b.device_id, "good");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&bundle).unwrap().permissions().mode() & 0o777, 0o600);
    let out = p.cli(&["device", "add", "good"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let wasm = tmp.path().join("m.wasm");
    std::fs::write(&wasm, wat::parse_str("(module (func (export \"init\")))").unwrap()).unwrap();
    // Random bytes: one line saying what they are not.
    let junk = tmp.path().join("junk.wasm");
    std::fs::write(&junk, (0..200u8).map(|i| i.wrapping_mul(31).wrapping_add(7)).collect::<Vec<u8>>()).unwrap();
    let out = p.cli(&["app", "deploy", "a", junk.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("not a WebAssembly module"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    let out = p.cli(&["app", "deploy", "a", wasm.to_str().unwrap(), "--to", "app="]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.selector"));
    let out = p.cli(&["app", "deploy", "a", wasm.to_str().unwrap(), "--memory-pages", "999"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.limits.maxMemoryPages"));
    // Bad rollout specs are refused before anything is sent, naming the field.
    let w = wasm.to_str().unwrap();
    for (flags, field) in [
        (&["--strategy", "big-bang"][..], "spec.strategy"),
        (&["--strategy", "canary", "--steps", "10%,5%,100%"][..], "spec.strategy.steps"),
        (&["--strategy", "canary", "--steps", "1,50%"][..], "spec.strategy.steps"),
        (&["--capability", "gpio"][..], "spec.capabilities"),
        (&["--capability", "i2c:0:0x99"][..], "spec.capabilities"),
        (&["--config", "Bad Key=1"][..], "spec.config"),
        (&["--config", "novalue"][..], "KEY=VALUE"),
        (&["--gate", "temp_c < 3"][..], "spec.strategy.gates (--gate)"),
        (&["--strategy", "canary", "--steps", "100%", "--gate", "temp_c ~ 3"][..], "--gate"),
    ] {
        let mut args = vec!["app", "deploy", "a", w];
        args.extend_from_slice(flags);
        let out = p.cli(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(field), "{flags:?}: {err}");
    }
    // Hardware the targeted device's board lacks: refused by the platform,
    // naming the device and what it lacks.
    let out = p.cli(&["app", "deploy", "a", w, "--to", "a=b", "--capability", "gpio:led7"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("good") && err.contains("gpio:led7"), "{err}");
    let out = p.cli(&["app", "rollback", "nothing-here", "--to", "3"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));
    assert!(p.ok(&["app", "list"]).lines().count() == 1, "nothing was deployed");

    // A QEMU demo fleet without firmware images: a clear refusal, not a hang.
    let empty = tmp.path().join("no-firmware");
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(tmp.path().join("demo"))
        .args(["up", "--listen", "127.0.0.1:0", "--gateway", "127.0.0.1:0", "--demo", "1", "--firmware-dir"])
        .arg(&empty)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no firmware images found"), "{err}");
}

/// Pids of processes whose command line mentions `needle`.
fn pids_with(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let zombie = stat.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z'));
        if !zombie && String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

/// `up --demo` with real firmware: the QEMU device comes Online, runs the
/// demo app, its console is readable with `wasmbed console`; and when `up`
/// is SIGKILLed (no cleanup at all), its QEMU processes die with it.
#[test]
fn qemu_demo_device_runs_the_app_and_no_qemu_outlives_a_sigkilled_platform() {
    let firmware = wasmbed_qemu::firmware_from_source("mps2-an385").unwrap();
    let fw_dir = firmware.parent().unwrap().to_str().unwrap().to_string();
    let apps = example_apps();
    let hello = apps.join("hello.wasm");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut p = Platform::start_with(
        &data,
        free_port(),
        &["--firmware-dir", &fw_dir, "--demo", "1", "--demo-app", hello.to_str().unwrap()],
    );
    wait_until("demo-0 Online running hello", Duration::from_secs(120), || {
        p.devices().iter().any(|d| {
            d.meta.name == "demo-0"
                && d.status.phase == DevicePhase::Online
                && d.status.session.runs(|a| a.name == "hello")
        })
    });
    let d = p.devices().into_iter().find(|d| d.meta.name == "demo-0").unwrap();
    assert_eq!(d.spec.board, "mps2-an385");
    assert!(!d.status.session.simulated);
    wait_until("a log line from the firmware device", Duration::from_secs(60), || !p.logs("demo-0").is_empty());
    let console = p.ok(&["console", "demo-0"]);
    assert!(console.contains("online: enrolled as demo-0"), "{console}");
    let out = p.cli(&["console", "no-such-device"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"), "{}", String::from_utf8_lossy(&out.stderr));

    let marker = data.join("devices").display().to_string();
    let qemus = pids_with(&marker);
    assert_eq!(qemus.len(), 1, "one QEMU for the one device: {qemus:?}");
    p.up.kill9();
    wait_until("QEMU to die with the SIGKILLed platform", Duration::from_secs(20), || pids_with(&marker).is_empty());
}

/// A module that logs `text` once, at init.
fn init_logger(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join(format!("{}.wasm", text.replace(' ', "-")));
    let wat = format!(
        r#"(module (import "wasmbed" "log" (func $log (param i32 i32))) (memory (export "memory") 1)
             (data (i32.const 0) "{text}") (func (export "init") (call $log (i32.const 0) (i32.const {})))
             (func (export "tick") (param i64)))"#,
        text.len()
    );
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

fn app_json(p: &Platform, name: &str) -> serde_json::Value {
    serde_json::from_str(&p.ok(&["app", "status", name, "--no-wait", "-o", "json"])).unwrap()
}

fn running(devices: &[Device], app: &str, version: &str) -> Vec<String> {
    devices
        .iter()
        .filter(|d| d.status.session.runs(|a| a.name == app && a.version == version))
        .map(|d| d.meta.name.clone())
        .collect()
}

/// The platform SIGKILLed in the middle of a canary rollout and restarted:
/// the rollout resumes from the step it was at (not from the start), every
/// device converges, and no device is sent the new version twice.
#[test]
fn a_canary_rollout_resumes_after_a_sigkill_and_applies_nothing_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let port = free_port();
    let mut p = Platform::start(&data, port);
    let _sim = p.sim_online(10, "rk", "fleet=rk");
    let v1 = init_logger(tmp.path(), "started v1");
    let v2 = init_logger(tmp.path(), "started v2");
    p.ok(&["app", "deploy", "roll", v1.to_str().unwrap(), "--to", "fleet=rk", "--version", "1"]);
    wait_until("v1 everywhere", Duration::from_secs(60), || running(&p.devices(), "roll", "1").len() == 10);
    let out = p.ok(&[
        "app",
        "deploy",
        "roll",
        v2.to_str().unwrap(),
        "--to",
        "fleet=rk",
        "--version",
        "2",
        "--strategy",
        "canary",
        "--steps",
        "1,30%,60%,100%",
        "--soak-ms",
        "2500",
    ]);
    assert!(out.contains("canary"), "{out}");
    wait_until("the rollout at its second step, with v2 on its devices", Duration::from_secs(60), || {
        let a = app_json(&p, "roll");
        a["status"]["rollout"]["step"].as_u64() == Some(1) && running(&p.devices(), "roll", "2").len() >= 3
    });
    let before = app_json(&p, "roll");
    let on_v2_before = running(&p.devices(), "roll", "2");
    let step_before = before["status"]["rollout"]["step"].as_u64().unwrap();

    p.up.kill9();
    let token = p.token.clone();
    drop(p);
    let p = Platform::restart(&data, port, token);
    let after = app_json(&p, "roll");
    let ro = &after["status"]["rollout"];
    assert_eq!(ro["revision"].as_u64(), Some(2));
    assert!(ro["step"].as_u64().unwrap() >= step_before, "resumed, not restarted: {ro}");
    assert_eq!(after["status"]["history"].as_array().unwrap().len(), 2, "no revision recorded twice");
    let touched_before: Vec<&str> =
        before["status"]["rollout"]["touched"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    let touched_after: Vec<&str> = ro["touched"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(touched_before.iter().all(|d| touched_after.contains(d)), "{touched_before:?} / {touched_after:?}");

    // `app status` follows it to the end.
    let out = p.ok(&["app", "status", "roll", "--timeout", "120"]);
    assert!(out.contains("Completed"), "{out}");
    wait_until("v2 everywhere", Duration::from_secs(60), || running(&p.devices(), "roll", "2").len() == 10);
    // Devices that ran v2 before the kill were not sent it again (their
    // init would have logged it again; this platform's log starts at the restart).
    for d in &on_v2_before {
        assert!(!p.logs(d).iter().any(|l| l.line == "started v2"), "{d} ran v2's init twice");
    }
    let status: serde_json::Value = serde_json::from_str(&p.ok(&["status", "-o", "json"])).unwrap();
    let deploys = status["gateway"]["deploys"].as_u64().unwrap();
    assert!(deploys <= (10 - on_v2_before.len()) as u64, "{deploys} deploys after the restart");
    let history = p.ok(&["app", "history", "roll"]);
    assert!(history.contains("Completed") && history.contains("current, stable"), "{history}");
}

/// An app publishing `temp_c` (20, 20.5, 21, ...) every tick; no `on_message`.
fn thermometer(dir: &Path) -> PathBuf {
    let path = dir.join("thermometer.wasm");
    let wat = r#"(module
        (import "wasmbed" "telemetry_publish" (func $publish (param i32 i32 f64 i64) (result i32)))
        (memory (export "memory") 1)
        (data (i32.const 0) "temp_c")
        (global $t (mut f64) (f64.const 20))
        (func (export "tick") (param i64)
          (drop (call $publish (i32.const 0) (i32.const 6) (global.get $t) (i64.const 0)))
          (global.set $t (f64.add (global.get $t) (f64.const 0.5)))))"#;
    std::fs::write(&path, wat::parse_str(wat).unwrap()).unwrap();
    path
}

/// A simulated device runs an app that publishes telemetry: `wasmbed
/// telemetry` shows its metrics and points and follows new samples; `app
/// send` reports `no-handler` (the app has no `on_message`) and fails,
/// since nothing was delivered; bad input is named.
#[test]
fn telemetry_reaches_the_cli_and_messages_report_what_became_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(&tmp.path().join("data"), 0);
    let _sim = p.sim_online(1, "tm", "app=tele");
    let app = thermometer(tmp.path());
    p.ok(&[
        "app",
        "deploy",
        "tele",
        app.to_str().unwrap(),
        "--to",
        "app=tele",
        "--tick-ms",
        "200",
        "-c",
        "log",
        "-c",
        "time",
        "-c",
        "telemetry",
    ]);
    // Empty until the first sample (before it, the metric is unknown: an error).
    let points = || -> Vec<f64> {
        let out = p.cli(&["telemetry", "tm-0", "--metric", "temp_c", "-o", "json"]);
        let range: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        range["points"].as_array().into_iter().flatten().map(|p| p["value"].as_f64().unwrap()).collect()
    };
    wait_until("three temp_c points", Duration::from_secs(60), || points().len() >= 3);
    let values = points();
    assert_eq!(values[..3], [20.0, 20.5, 21.0], "in order, as published: {values:?}");
    let table = p.ok(&["telemetry", "tm-0"]);
    assert!(
        table.contains("METRIC") && table.lines().any(|l| l.starts_with("temp_c") && l.contains("tele")),
        "{table}"
    );
    let table = p.ok(&["telemetry", "tm-0", "--metric", "temp_c", "--since", "10m"]);
    assert!(table.contains("TIME (UTC)") && table.lines().any(|l| l.ends_with(" 20")), "{table}");

    // --follow prints new samples as they arrive, one line each.
    let mut follow = Command::new(BIN);
    follow
        .arg("--data-dir")
        .arg(&p.data)
        .args(["telemetry", "tm-0", "--metric", "temp_c", "--follow"])
        .env("WASMBED_TOKEN", &p.token)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut follower = Proc::spawn(&mut follow);
    let stdout = follower.0.child_mut().stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let before = points().len();
    let mut followed = Vec::new();
    while followed.len() < before + 3 {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("a line from telemetry --follow");
        if line.contains("temp_c=") {
            followed.push(line);
        }
    }
    assert!(followed.iter().all(|l| l.ends_with("(tele)")), "{followed:?}");
    follower.kill9();

    // Messages: the app has no handler, so nothing is delivered.
    let out = p.cli(&["app", "send", "tele", "hello"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "none delivered is a failure: {stdout}");
    assert!(stdout.lines().any(|l| l.starts_with("tm-0") && l.ends_with("no-handler")), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivered on none"));
    let out = p.cli(&["app", "send", "tele", "--device", "tm-0", "--base64", "AP8=", "-o", "json"]);
    let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(results, serde_json::json!([{"device": "tm-0", "delivery": "no-handler"}]));

    // Bad input, named.
    for (args, text) in [
        (&["app", "send", "tele", "--device", "nope", "x"][..], "not found"),
        (&["app", "send", "nope", "x"][..], "application \"nope\" not found"),
        (&["app", "send", "tele", &"x".repeat(300)][..], "payload: a message of 300 bytes exceeds the limit of 256"),
        (&["app", "send", "tele", "--base64", "**"][..], "payloadBase64"),
        (&["telemetry", "tm-0", "--metric", "rpm"][..], "it publishes: temp_c"),
        (&["telemetry", "ghost"][..], "not found"),
        (&["telemetry", "tm-0", "--since", "10x"][..], "unknown unit"),
    ] {
        let out = p.cli(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(text), "{args:?}: {err}");
    }
}

/// Sensors from the CLI: declared at `device add`, read and set on a real
/// QEMU device, and bad input refused with the reason — malformed flags
/// and specs (naming the field), a sensor the device lacks, a device
/// without sensors, a value out of range, a device no emulator runs.
#[test]
fn sensors_are_declared_read_set_and_refused_clearly_from_the_cli() {
    let firmware = wasmbed_qemu::firmware_from_source("mps2-an385").unwrap();
    let fw_dir = firmware.parent().unwrap().to_str().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start_with(&tmp.path().join("data"), 0, &["--firmware-dir", &fw_dir]);
    let refused = |args: &[&str], text: &str| {
        let out = p.cli(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(text), "{args:?}: {err}");
    };
    for (args, text) in [
        (&["--sensor", "temp0=tmp105"][..], "--sensor \"temp0=tmp105\": expected NAME=KIND@AT"),
        (&["--sensor", "temp0=bmp280@i2c:0:0x76"][..], "unknown kind \"bmp280\"; known: tmp105"),
        (&["--board", "olimex-stm32-h405", "--sensor", "t=tmp105@i2c:0:0x48"][..], "spec.peripherals[0].at"),
        (&["--board", "mps2-an385", "--sensor", "t=tmp105@i2c:1:0x48"][..], "spec.peripherals[0].at"),
        (&["--sensor", "t=tmp105@i2c:0:0x48=300"][..], "spec.peripherals[0].initial"),
        (&["--sensor", "t=tmp105@i2c:0:0x48", "--sensor", "t=tmp105@i2c:0:0x49"][..], "spec.peripherals[1].name"),
    ] {
        let mut add = vec!["device", "add", "x"];
        add.extend_from_slice(args);
        refused(&add, text);
    }
    assert!(p.devices().is_empty(), "nothing was created");

    p.ok(&["device", "add", "q1", "--board", "mps2-an385", "--sensor", "temp0=tmp105@i2c:0:0x48=21.5"]);
    p.ok(&["device", "add", "bare"]);
    p.ok(&["device", "add", "s1", "--sensor", "temp0=tmp105@i2c:0:0x48"]);
    wait_until("q1's QEMU to answer for temp0", Duration::from_secs(60), || {
        p.cli(&["device", "sensor", "q1", "temp0"]).status.success()
    });
    let out = p.ok(&["device", "sensor", "q1", "temp0"]);
    assert_eq!(out, "temp0 on q1 (tmp105 at i2c:0:0x48): 21.5 °C\n", "the initial value");
    assert_eq!(p.ok(&["device", "sensor", "q1", "temp0", "--set", "31.5"]), "temp0 on q1 set to 31.5 °C\n");
    assert_eq!(p.ok(&["device", "sensor", "q1", "temp0", "--set", "-3.5"]), "temp0 on q1 set to -3.5 °C\n");
    let out = p.ok(&["device", "sensor", "q1", "temp0", "--set", "20.938"]);
    assert_eq!(out, "temp0 on q1 set to 20.938 °C: it reads 20.937 °C\n", "as QEMU keeps it");
    p.ok(&["device", "sensor", "q1", "temp0", "--set", "31.5"]);
    let table = p.ok(&["device", "sensor", "q1"]);
    assert!(table.starts_with("SENSOR") && table.contains("31.5 °C") && table.contains("-55 to 125 °C"), "{table}");
    let all: Vec<wasmbed_model::SensorReading> =
        serde_json::from_str(&p.ok(&["device", "sensor", "q1", "-o", "json"])).unwrap();
    assert_eq!((all.len(), all[0].value), (1, Some(31.5)));

    refused(
        &["device", "sensor", "q1", "temp9", "--set", "30"],
        "device q1 has no sensor \"temp9\"; attached: temp0 (HTTP 404)",
    );
    refused(&["device", "sensor", "q1", "temp9"], "attached: temp0");
    refused(
        &["device", "sensor", "bare", "temp0", "--set", "30"],
        "device bare has no sensor \"temp0\"; it has no sensors attached",
    );
    refused(&["device", "sensor", "nope", "temp0"], "device \"nope\" not found");
    refused(
        &["device", "sensor", "q1", "temp0", "--set", "200"],
        "outside what a tmp105 measures (-55 to 125 °C) (HTTP 400)",
    );
    refused(&["device", "sensor", "q1", "temp0", "--set", "warm"], "invalid value 'warm'");
    refused(&["device", "sensor", "q1", "--set", "30"], "<SENSOR>");
    refused(
        &["device", "sensor", "s1", "temp0", "--set", "30"],
        "has no emulator on this platform, so its sensors cannot be reached from here (HTTP 503)",
    );
    let out = p.ok(&["device", "sensor", "q1", "temp0"]);
    assert!(out.ends_with(": 31.5 °C\n"), "refusals changed nothing: {out}");
}

#[test]
fn an_edge_component_is_deployed_to_the_gateway_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(&tmp.path().join("d"), 0);
    let probe = wasmbed_testkit::edge_components().join("probe.wasm");
    let probe = probe.to_str().unwrap();
    let grants = ["-c", "log", "-c", "config", "-c", "kv", "-c", "telemetry"];

    // Bad input is refused naming the flag or field; nothing is deployed.
    let out = p.cli(&["app", "deploy", "watch", probe, "--runtime", "cloud"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("the runtime is device or edge"), "{out:?}");
    let out = p.cli(&["app", "deploy", "watch", probe, "--runtime", "edge", "-c", "gpio:led0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("spec.capabilities"), "{out:?}");
    let out = p.cli(&["app", "deploy", "watch", probe, "--runtime", "edge", "-c", "log"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not granted `config`"), "the missing grant is named: {err}");
    let module = tmp.path().join("m.wasm");
    std::fs::write(&module, wat::parse_str("(module (func (export \"init\")))").unwrap()).unwrap();
    let out = p.cli(&["app", "deploy", "watch", module.to_str().unwrap(), "--runtime", "edge"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a WebAssembly component"), "{out:?}");
    let out = p.cli(&["app", "deploy", "watch", probe]);
    assert!(!out.status.success(), "a component is no device app: {out:?}");
    assert!(!p.ok(&["app", "list"]).contains("watch"));

    let mut args = vec!["app", "deploy", "watch", probe, "--runtime", "edge", "--config", "label=a"];
    args.extend(grants);
    let out = p.ok(&args);
    assert!(out.contains("deployed to gateways"), "{out}");
    assert!(p.ok(&["app", "list"]).lines().any(|l| l.starts_with("watch") && l.contains("edge")));
    wait_until("the gateway runs it", Duration::from_secs(60), || {
        p.ok(&["gateway", "list"]).contains("watch@1 Running")
    });
}
