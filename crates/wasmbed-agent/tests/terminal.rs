//! The device terminal driven over the wire, as a gateway would: each
//! allowed command answers from the agent's state; everything else is
//! refused by the agent with its reason, and the session goes on.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use sha2::{Digest, Sha256};
use wasmbed_agent::{Agent, AgentConfig, SessionState};
use wasmbed_protocol::*;

const HELLO: &str = r#"(module
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "init")
  (func (export "init") (call $log (i32.const 0) (i32.const 4)))
  (func (export "tick") (param i64)))"#;

/// Traps in `init`, so a restart fails.
const BAD_INIT: &str = r#"(module (memory (export "memory") 1) (func (export "init") unreachable))"#;

const FREE: u32 = 100_000;

struct Harness {
    agent: Agent,
    now: u64,
    next_id: u32,
}

impl Harness {
    fn online(cfg: AgentConfig) -> Self {
        let mut agent = Agent::new(cfg);
        agent.connected(0);
        let mut h = Self { agent, now: 0, next_id: 1 };
        h.drain();
        h.send(GatewayMsg::Welcome(Welcome { heartbeat_ms: 1000, unix_time_s: 1_700_000_000, unix_time_ms: None }))
            .unwrap();
        h.agent.poll(h.now, FREE);
        assert_eq!(h.agent.state(), SessionState::Online);
        h.drain();
        h
    }

    fn send(&mut self, msg: GatewayMsg) -> Result<(), wasmbed_agent::AgentError> {
        common::send(&mut self.agent, &msg, self.now)
    }

    fn drain(&mut self) -> Vec<DeviceMsg> {
        common::drain(&mut self.agent)
    }

    fn deploy(&mut self, app: &str, wat: &str) {
        let bytes = wat::parse_str(wat).unwrap();
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        let limits = AppLimits { fuel_per_call: 100_000, max_memory_pages: 1, tick_ms: 100 };
        let begin = DeployBegin {
            app: app.into(),
            version: "1.0".into(),
            size: bytes.len() as u32,
            sha256: sha.into(),
            limits,
            revision: None,
            start: None,
            grants: None,
            resources: None,
            config: None,
            manifest: None,
            native: None,
        };
        self.send(GatewayMsg::DeployBegin(begin)).unwrap();
        self.send(GatewayMsg::DeployChunk(DeployChunk { app: app.into(), offset: 0, data: bytes.into() })).unwrap();
        self.drain();
    }

    /// Sends a command; returns its result and whatever else was sent with it.
    fn run(&mut self, name: &str, args: &[&str]) -> (CommandResult, Vec<DeviceMsg>) {
        let id = self.next_id;
        self.next_id += 1;
        let cmd = Command { id, name: name.into(), args: args.iter().map(|a| a.to_string()).collect() };
        self.send(GatewayMsg::Command(cmd)).unwrap();
        assert_eq!(self.agent.state(), SessionState::Online, "a command never ends the session");
        let msgs = self.drain();
        let results: Vec<CommandResult> = msgs
            .iter()
            .filter_map(|m| match m {
                DeviceMsg::CommandResult(r) => Some(r.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(results.len(), 1, "one result per command: {msgs:?}");
        assert_eq!(results[0].id, id, "the result carries the command's id");
        (results[0].clone(), msgs)
    }

    fn ok(&mut self, name: &str, args: &[&str]) -> String {
        let (r, _) = self.run(name, args);
        assert_eq!(r.outcome, CommandOutcome::Ok, "{name} {args:?}: {}", r.output);
        r.output
    }

    fn refused(&mut self, name: &str, args: &[&str]) -> String {
        let (r, _) = self.run(name, args);
        assert_eq!(r.outcome, CommandOutcome::Refused, "{name} {args:?}: {}", r.output);
        r.output
    }
}

fn device() -> Harness {
    Harness::online(AgentConfig::new("dev-1", "mps2-an385").with_heap_size(262_144))
}

#[test]
fn status_reports_identity_session_apps_and_free_heap() {
    let mut h = device();
    h.deploy("hello", HELLO);
    h.now = 12_345;
    h.agent.poll(h.now, 54_321);
    h.drain();
    let out = h.ok("status", &[]);
    for line in [
        "device: dev-1",
        "board: mps2-an385",
        &format!("firmware: {}", env!("CARGO_PKG_VERSION")),
        "simulated: no",
        "session: online, heartbeat every 1000 ms",
        "uptime_ms: 12345",
        "apps: 1 installed, 1 running",
        "free_heap: 54321 bytes",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in:\n{out}");
    }
    let sim = Harness::online(AgentConfig::new("s", "sim").simulated()).ok("status", &[]);
    assert!(sim.contains("simulated: yes (host simulator)"), "{sim}");
}

#[test]
fn apps_lists_each_app_with_version_state_digest_and_memory() {
    let mut h = device();
    assert_eq!(h.ok("apps", &[]), "no apps installed");
    h.deploy("hello", HELLO);
    let bytes = wat::parse_str(HELLO).unwrap();
    let sha: String = Sha256::digest(&bytes)[..6].iter().map(|b| format!("{b:02x}")).collect();
    let out = h.ok("apps", &[]);
    let mem = bytes.len() + 65_536;
    assert_eq!(out, format!("name version state sha256 memory_bytes\nhello 1.0 running {sha} {mem}"));
    h.send(GatewayMsg::Stop(AppRef { app: "hello".into() })).unwrap();
    h.drain();
    let out = h.ok("apps", &[]);
    assert!(out.ends_with(&format!("hello 1.0 stopped {sha} {}", bytes.len())), "{out}");
}

#[test]
fn mem_reports_free_heap_heap_size_and_app_memory() {
    let mut h = device();
    h.agent.poll(h.now, 150_000);
    h.drain();
    assert_eq!(
        h.ok("mem", &[]),
        "free_heap: 150000 bytes\nheap_size: 262144 bytes\napp_memory: 0 bytes (modules and linear memories)"
    );
    h.deploy("hello", HELLO);
    let out = h.ok("mem", &[]);
    let held = h.agent.app_memory_bytes();
    assert!(out.contains(&format!("app_memory: {held} bytes")), "{out}");
    assert!(out.ends_with(&format!("  hello: {held} bytes")), "{out}");
    // Before any poll the agent does not know its free heap, and says so.
    let mut fresh = Agent::new(AgentConfig::new("d", "sim"));
    fresh.connected(0);
    let mut h = Harness { agent: fresh, now: 0, next_id: 1 };
    h.drain();
    h.send(GatewayMsg::Welcome(Welcome { heartbeat_ms: 1000, unix_time_s: 0, unix_time_ms: None })).unwrap();
    assert!(h.ok("mem", &[]).starts_with("free_heap: unknown\napp_memory: 0 bytes"));
}

#[test]
fn uptime_is_the_time_passed_in() {
    let mut h = device();
    h.now = 3_723_004;
    assert_eq!(h.ok("uptime", &[]), "uptime_ms: 3723004\nuptime: 0d 01:02:03.004");
}

#[test]
fn restart_app_runs_a_fresh_instance_and_reports_its_state() {
    let mut h = device();
    h.deploy("hello", HELLO);
    let (r, msgs) = h.run("restart-app", &["hello"]);
    assert_eq!((r.outcome, r.output.as_str()), (CommandOutcome::Ok, "restarted hello (version 1.0): running"));
    // `init` ran again, and the new state went out before the answer.
    let log = msgs.iter().position(|m| matches!(m, DeviceMsg::AppLog(l) if l.line == "init"));
    let status = msgs.iter().position(|m| matches!(m, DeviceMsg::AppStatus(s) if s.report.state == AppState::Running));
    let result = msgs.iter().position(|m| matches!(m, DeviceMsg::CommandResult(_)));
    assert!(log.is_some() && status < result, "{msgs:?}");
    assert!(!msgs.iter().any(|m| matches!(m, DeviceMsg::AppStatus(s) if s.report.state == AppState::Stopped)));

    // An app whose init traps: allowed, tried, failed, with the reason.
    h.deploy("bad", BAD_INIT);
    let (r, _) = h.run("restart-app", &["bad"]);
    assert_eq!(r.outcome, CommandOutcome::Failed);
    assert!(r.output.starts_with("restarted bad (version 1.0), but it failed: trap:"), "{}", r.output);
    assert_eq!(h.ok("apps", &[]).lines().filter(|l| l.contains(" running ")).count(), 1);
}

#[test]
fn disallowed_commands_are_refused_with_the_reason_and_change_nothing() {
    let mut h = device();
    h.deploy("hello", HELLO);
    let before = h.ok("apps", &[]);
    let cases: [(&str, &[&str], &str); 9] = [
        (
            "rm",
            &["-rf", "/"],
            "unknown command \"rm\"; this device allows: status, apps, mem, uptime, restart-app NAME, reboot",
        ),
        ("rm -rf /", &[], "unknown command \"rm -rf /\""),
        ("", &[], "unknown command \"\""),
        ("reboot", &["now"], "reboot takes no arguments, got 1 (usage: reboot)"),
        ("status", &["--all"], "status takes no arguments, got 1"),
        ("restart-app", &[], "restart-app needs NAME (usage: restart-app NAME)"),
        ("restart-app", &["hello", "again"], "restart-app takes 1 argument(s), got 2"),
        ("restart-app", &["../etc"], "restart-app: \"../etc\" is not an app name"),
        ("restart-app", &["ghost"], "restart-app: no app named \"ghost\" is installed on this device"),
    ];
    for (name, args, want) in cases {
        let out = h.refused(name, args);
        assert!(out.starts_with(want), "{name:?} {args:?}: {out}");
    }
    assert_eq!(h.ok("apps", &[]), before, "nothing was done");
    assert!(!h.agent.reboot_requested());
}

#[test]
fn reboot_is_answered_then_requested_of_the_platform() {
    let mut h = device();
    assert!(!h.agent.reboot_requested());
    let out = h.ok("reboot", &[]);
    assert!(out.starts_with("rebooting"), "{out}");
    assert!(h.agent.reboot_requested());
    // Until the platform resets, no further command is carried out.
    assert_eq!(h.refused("status", &[]), "a reboot is pending; no more commands are taken");
    assert_eq!(h.refused("reboot", &[]), "a reboot is pending; no more commands are taken");
}

#[test]
fn a_command_before_welcome_is_an_unexpected_message() {
    let mut agent = common::awaiting_welcome();
    let status = GatewayMsg::Command(Command { id: 1, name: "status".into(), args: vec![] });
    assert_eq!(common::send(&mut agent, &status, 0).unwrap_err().code, ErrorCode::UnexpectedMessage);
}

#[test]
fn an_oversized_command_is_malformed_and_ends_the_session() {
    // What a gateway must never send (it checks the bounds first): 9 args.
    let mut h = device();
    let eight = Command { id: 7, name: "status".into(), args: vec!["x".into(); MAX_COMMAND_ARGS] };
    let mut wire = Vec::new();
    encode_frame(&GatewayMsg::Command(eight), &mut wire).unwrap();
    // `args` is the last field: make its array head say 9 and add one more.
    let head = wire.iter().rposition(|&b| b == 0x88).unwrap();
    wire[head] = 0x89;
    wire.extend_from_slice(&[0x61, b'x']);
    let len = (wire.len() - 4) as u32;
    wire[..4].copy_from_slice(&len.to_be_bytes());
    let err = h.agent.receive(&wire, 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::Malformed);
    assert_eq!(h.agent.state(), SessionState::Disconnected);
}

#[test]
fn answers_never_exceed_the_output_bound() {
    // Many apps with long names: `apps` and `mem` are cut, not refused.
    let mut cfg = AgentConfig::new("dev-1", "sim");
    cfg.max_apps = 40;
    cfg.budget = wasmbed_protocol::ModuleBudget::for_heap(64 * 1024 * 1024);
    cfg.budget = wasmbed_protocol::ModuleBudget::for_heap(64 * 1024 * 1024);
    let mut h = Harness::online(cfg);
    for i in 0..40 {
        h.deploy(&format!("{i:02}-{}", "a".repeat(60)), HELLO);
    }
    for cmd in ["apps", "mem", "status"] {
        let out = h.ok(cmd, &[]);
        assert!(out.len() <= MAX_COMMAND_OUTPUT, "{cmd}: {}", out.len());
    }
    assert!(h.ok("apps", &[]).ends_with("[output truncated]"));
}
