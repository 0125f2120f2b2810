//! The stm32vldiscovery as a platform Device, end to end: created through
//! the API, booted by the QEMU manager with its provisioning record, its
//! USART1 cabled to its gateway's board-link listener, attached and Online;
//! killed, restarted and attached again; a board holding a retired key
//! refused and counted. Real firmware in real QEMU; nothing simulated.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::atomic::Ordering;

use wasmbed_model::{Device, DevicePhase};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_qemu::{Launch, ProcessGroup};
use wasmbed_testkit::{eventually, poll};

const BOARD: &str = "stm32vldiscovery";

struct Env {
    tmp: tempfile::TempDir,
    p: Platform,
    http: reqwest::Client,
}

impl Env {
    async fn start() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let firmware: BTreeMap<String, _> =
            [(BOARD.to_string(), wasmbed_qemu::firmware_from_source(BOARD).unwrap())].into_iter().collect();
        // 1 s heartbeats: the liveness window is 3 s.
        let cfg = PlatformConfig::new(tmp.path()).with_heartbeat_ms(1000).with_firmware(firmware).with_api().quick();
        let p = Platform::start(cfg).await.unwrap();
        Self { tmp, p, http: reqwest::Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.p.api_url().unwrap())
    }

    fn token(&self) -> String {
        self.p.admin_token.clone().unwrap()
    }

    async fn device(&self, name: &str) -> Device {
        self.p.store.get_device(name).await.unwrap().unwrap()
    }

    fn console(&self, name: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join("devices").join(name).join("console.log")).unwrap_or_default()
    }

    async fn wait_for(&self, name: &str, what: &str, check: impl Fn(&Device) -> bool) -> Device {
        eventually(&self.p.store, format_args!("{name}: {what}"), async || {
            let d = self.device(name).await;
            if check(&d) { Ok(d) } else { Err(format!("status {:?}\nconsole:\n{}", d.status, self.console(name))) }
        })
        .await
    }

    /// Waits until the device's console (through the API) shows `text`.
    async fn console_shows(&self, name: &str, text: &str) {
        poll(format_args!("{name}: console shows {text:?}"), async || {
            let resp = self.http.get(self.url(&format!("devices/{name}/console"))).bearer_auth(self.token()).send();
            let Ok(resp) = resp.await else { return Err(String::new()) };
            let chunk: serde_json::Value = resp.json().await.unwrap_or_default();
            let body = chunk["text"].as_str().unwrap_or_default().to_owned();
            if body.contains(text) { Ok(()) } else { Err(body) }
        })
        .await;
    }
}

/// SIGKILL to one process, as an operator (or the OOM killer) would.
fn sigkill(pid: u32) {
    assert!(std::process::Command::new("kill").args(["-s", "KILL", &pid.to_string()]).status().unwrap().success());
}

/// Whether the gateway heard from the board after its current QEMU started.
fn heard_since_start(d: &Device) -> bool {
    let started = d.status.process.as_ref().and_then(|p| p.started_ms);
    matches!((started, d.status.session.last_heartbeat_ms), (Some(s), Some(h)) if h > s)
}

fn qemu_running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[tokio::test]
async fn an_attached_board_is_a_device_online_through_its_gateway_restarted_and_an_old_key_refused() {
    let e = Env::start().await;
    let gw = e.p.gateways[0].clone();

    // Created through the API like any device.
    let resp = e
        .http
        .post(e.url("devices"))
        .bearer_auth(e.token())
        .json(&serde_json::json!({"name": "vld-1", "board": BOARD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "{}", resp.text().await.unwrap_or_default());

    // The manager boots it, its gateway attaches it: Online, its console
    // shows the firmware serving under its name.
    let d = e.wait_for("vld-1", "Online", |d| d.status.phase == DevicePhase::Online).await;
    assert_eq!(d.status.session.gateway.as_deref(), Some(gw.config().name.as_str()));
    e.console_shows("vld-1", "serving BoardId(\"vld-1\") on USART1").await;
    assert!(gw.attached_board("vld-1").is_some());
    let first = e.p.manager.as_ref().unwrap().running();
    assert_eq!(first[0].starts, 1, "{first:?}");

    // Killed: restarted by the manager and attached again.
    let pid = first[0].pid.unwrap();
    // Restarted within the liveness window it may never look Unreachable:
    // what shows it is a new board is a heartbeat (the gateway's uptime
    // poll over the link) taken after the new QEMU started. (Its uptime
    // starting over is no proof: by its first poll the new board may
    // have been up longer than the old one was.)
    sigkill(pid);
    e.wait_for("vld-1", "Online again on a restarted board", |d| {
        d.status.phase == DevicePhase::Online
            && d.status.process.as_ref().is_some_and(|p| p.restarts >= 1)
            && heard_since_start(d)
    })
    .await;
    assert_eq!(e.p.manager.as_ref().unwrap().running()[0].starts, 2);
    assert!(e.console("vld-1").contains("QEMU exited"), "the console log records the exit");
    assert!(!qemu_running(pid));

    // Its record as programmed now; then the bundle route re-issues the key
    // (the manager restarts the board with the new one) and the old record
    // is a board holding a retired key.
    let old = std::fs::read(e.tmp.path().join("devices/vld-1/provisioning.bin")).unwrap();
    let running = e.p.manager.as_ref().unwrap().running()[0].pid;
    let resp = e.http.get(e.url("devices/vld-1/bundle")).bearer_auth(e.token()).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::OK);
    let new = resp.bytes().await.unwrap();
    assert_eq!(new.len(), old.len());
    assert_ne!(new.as_ref(), old.as_slice());
    e.wait_for("vld-1", "Online with its new key", |d| {
        let now = e.p.manager.as_ref().unwrap().running();
        d.status.phase == DevicePhase::Online
            && now.first().is_some_and(|r| r.pid.is_some() && r.pid != running)
            && heard_since_start(d)
    })
    .await;
    assert!(e.device("vld-1").await.status.refused.is_none(), "the new key was accepted");

    let record = e.tmp.path().join("old-record.bin");
    std::fs::write(&record, &old).unwrap();
    let port = gw.config().board_link_endpoint.as_deref().and_then(|a| a.rsplit_once(':')).unwrap().1.parse().unwrap();
    let impostor = Launch {
        board: wasmbed_qemu::emulated(BOARD).unwrap(),
        kernel: wasmbed_qemu::firmware_from_source(BOARD).unwrap(),
        bundle: Some(record),
        seed: None,
        console: e.tmp.path().join("impostor.log"),
        mac: None,
        gateway_ports: vec![port],
        peripherals: Vec::new(),
        qmp: None,
        paused: false,
        app_uarts: None,
    };
    let mut cmd = impostor.command();
    let _impostor = ProcessGroup::spawn(cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
    let d = e.wait_for("vld-1", "the old key refused", |d| d.status.refused.is_some()).await;
    let refused = d.status.refused.unwrap();
    assert_eq!(refused.gateway, gw.config().name);
    assert!(gw.stats().refused_boards.load(Ordering::Relaxed) >= 1);
    let metrics = e.http.get(format!("{}/metrics", e.p.api_url().unwrap())).bearer_auth(e.token()).send();
    let metrics = metrics.await.unwrap().text().await.unwrap();
    let refused = metrics.lines().find_map(|l| l.strip_prefix("wasmbed_board_links_refused_total "));
    assert!(refused.and_then(|n| n.parse::<u64>().ok()).is_some_and(|n| n >= 1), "{metrics}");
    // The real board is still the one attached.
    let d = e.wait_for("vld-1", "still Online", |d| d.status.phase == DevicePhase::Online).await;
    assert!(d.status.session.connected);
    assert!(gw.attached_board("vld-1").is_some());
    e.p.shutdown().await;
}
