//! Crash-loop protection and per-call deadlines, through the wire: a device
//! that reset while running an app reports it Failed after the reset, does
//! not run it again, and runs a new revision; a call that takes too long on
//! the embedder's clock fails its app.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use common::{drain, send};
use wasmbed_agent::{Agent, AgentConfig, Clock, Journal, MAX_QUARANTINED, ResetCause};
use wasmbed_protocol::*;

/// Memory that survives a reset: every save is kept, so a test can boot a
/// new agent on what the journal held at any moment (a reset right then).
#[derive(Clone, Default)]
struct Ram(Arc<Mutex<Vec<Vec<u8>>>>);

impl Ram {
    /// A journal holding `bytes`, as a board finds it after a reset.
    fn holding(bytes: Vec<u8>) -> Self {
        Self(Arc::new(Mutex::new(vec![bytes])))
    }

    /// What the journal held when the agent was about to run its `n`th
    /// stage (0: install, 1: instantiate, 2: init, then calls): the bytes
    /// a reset during that stage leaves. A save with a stage in progress
    /// has its second byte set.
    fn during(&self, n: usize) -> Vec<u8> {
        // The first save is what the boot found (or made of it).
        self.0.lock().unwrap().iter().skip(1).filter(|s| s.get(1) == Some(&1)).nth(n).cloned().unwrap()
    }

    fn last(&self) -> Vec<u8> {
        self.0.lock().unwrap().last().cloned().unwrap_or_default()
    }
}

impl Journal for Ram {
    fn load(&self) -> Vec<u8> {
        self.last()
    }

    fn save(&mut self, bytes: &[u8]) {
        self.0.lock().unwrap().push(bytes.to_vec());
    }
}

/// A clock that moves `step` ms each time it is read.
struct Ticking {
    now: AtomicU64,
    step: u64,
}

impl Clock for Ticking {
    fn now_ms(&self) -> u64 {
        self.now.fetch_add(self.step, Ordering::Relaxed)
    }
}

const APP: &str = "hello";

/// Logs "init" from init and "tick" from tick.
fn module() -> Vec<u8> {
    wat::parse_str(
        r#"(module
             (import "wasmbed" "log" (func $log (param i32 i32)))
             (memory (export "memory") 1)
             (data (i32.const 0) "init")
             (data (i32.const 8) "tick")
             (func (export "init") (call $log (i32.const 0) (i32.const 4)))
             (func (export "tick") (param i64) (call $log (i32.const 8) (i32.const 4))))"#,
    )
    .unwrap()
}

/// The deploy frames of `bytes` as `app` at `revision` (CBOR with only the
/// fields a gateway always sends, so new optional fields do not break it).
fn deploy(agent: &mut Agent, app: &str, bytes: &[u8], revision: u64) {
    use sha2::Digest;
    let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
    let mut cbor = minicbor::Encoder::new(Vec::new());
    cbor.map(6).unwrap();
    cbor.u8(0).unwrap().str(app).unwrap();
    cbor.u8(1).unwrap().str(&format!("v{revision}")).unwrap();
    cbor.u8(2).unwrap().u32(bytes.len() as u32).unwrap();
    cbor.u8(3).unwrap().bytes(&sha).unwrap();
    cbor.u8(4).unwrap().encode(AppLimits { tick_ms: 100, ..AppLimits::default() }).unwrap();
    cbor.u8(5).unwrap().u64(revision).unwrap();
    let begin: DeployBegin = minicbor::decode(cbor.writer()).unwrap();
    send(agent, &GatewayMsg::DeployBegin(begin), 0).unwrap();
    let chunk = DeployChunk { app: app.into(), offset: 0, data: bytes.to_vec().into() };
    send(agent, &GatewayMsg::DeployChunk(chunk), 0).unwrap();
}

/// Boots an agent on `journal` after a reset of `cause`, connects and
/// takes its enrollment; then welcomes it and returns what it said.
fn boot(journal: Ram, cause: ResetCause) -> (Agent, Enroll, Vec<DeviceMsg>) {
    let mut agent = Agent::new(AgentConfig::new("dev-1", "sim")).with_journal(Box::new(journal), cause);
    agent.connected(0);
    let Some(DeviceMsg::Enroll(enroll)) = drain(&mut agent).into_iter().next() else { panic!("no enrollment") };
    let welcome = Welcome { heartbeat_ms: 60_000, unix_time_s: 0, unix_time_ms: None };
    send(&mut agent, &GatewayMsg::Welcome(welcome), 0).unwrap();
    let said = drain(&mut agent);
    (agent, enroll, said)
}

fn logs(msgs: &[DeviceMsg]) -> Vec<String> {
    msgs.iter().filter_map(|m| if let DeviceMsg::AppLog(l) = m { Some(l.line.clone()) } else { None }).collect()
}

fn failures(msgs: &[DeviceMsg]) -> Vec<(String, FailReason)> {
    msgs.iter()
        .filter_map(|m| match m {
            DeviceMsg::AppStatus(AppStatus { report, reason: Some(r) }) if report.state == AppState::Failed => {
                Some((report.app.clone(), r.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Runs `hello` revision 3 on a device with `journal`, returning it online.
fn running_hello(journal: &Ram) -> Agent {
    let (mut agent, _, _) = boot(journal.clone(), ResetCause::Unknown);
    deploy(&mut agent, APP, &module(), 3);
    let said = drain(&mut agent);
    assert_eq!(logs(&said), ["init"], "{said:?}");
    agent
}

#[test]
fn a_reset_while_instantiating_fails_the_app_which_is_not_run_again_until_a_new_revision() {
    let before = Ram::default();
    running_hello(&before);

    // The board reset while instantiating: the journal still says so.
    let after = Ram::holding(before.during(1));
    let (mut agent, enroll, said) = boot(after.clone(), ResetCause::Unknown);
    let listed = enroll.apps.iter().find(|a| a.app == APP).expect("hello listed at enrollment");
    assert_eq!((listed.state, listed.revision), (AppState::Failed, Some(3)));
    let why = "the device reset while instantiating hello revision 3; not run again until a new revision arrives";
    assert_eq!(failures(&said), [(APP.into(), FailReason { code: ErrorCode::DeviceReset, detail: why.into() })]);

    // The gateway sends it again (e.g. after its own restart): refused, not run.
    deploy(&mut agent, APP, &module(), 3);
    let said = drain(&mut agent);
    assert!(logs(&said).is_empty(), "{said:?}");
    let refused = said.iter().find_map(|m| if let DeployRejected(r) = m { Some(r) } else { None });
    use DeviceMsg::DeployRejected;
    assert_eq!(refused.map(|r| (r.reason.code, r.reason.detail.as_str())), Some((ErrorCode::DeviceReset, why)));
    agent.poll(1_000, 1 << 20);
    let hb = drain(&mut agent);
    assert!(logs(&hb).is_empty(), "no tick either: {hb:?}");

    // The quarantine survives another reset, with nothing in progress.
    let (_, enroll, said) = boot(Ram::holding(after.last()), ResetCause::Unknown);
    assert_eq!(enroll.apps.iter().filter(|a| a.app == APP && a.state == AppState::Failed).count(), 1);
    assert_eq!(failures(&said).len(), 1);

    // A new revision (the same module, as a rollback to an older one may
    // be) runs, and lifts the quarantine.
    deploy(&mut agent, APP, &module(), 4);
    let said = drain(&mut agent);
    assert_eq!(logs(&said), ["init"], "{said:?}");
    let (_, enroll, said) = boot(Ram::holding(after.last()), ResetCause::Unknown);
    assert!(enroll.apps.is_empty() && failures(&said).is_empty(), "{enroll:?}");
}

#[test]
fn the_reason_names_the_stage_and_the_cause() {
    let before = Ram::default();
    let mut agent = running_hello(&before);
    agent.poll(500, 1 << 20);
    drain(&mut agent);
    for (n, cause, says) in [
        (0, ResetCause::Panic, "the device panicked and reset while installing hello revision 3"),
        (2, ResetCause::Fault, "a fault reset the device while running init of hello revision 3"),
        (3, ResetCause::Watchdog, "the watchdog reset the device while running tick of hello revision 3"),
    ] {
        let (_, _, said) = boot(Ram::holding(before.during(n)), cause);
        let failed = failures(&said);
        assert!(failed.len() == 1 && failed[0].1.detail.starts_with(says), "{failed:?}");
    }
}

#[test]
fn a_clean_boot_and_a_finished_call_leave_nothing_behind() {
    let ram = Ram::default();
    let mut agent = running_hello(&ram);
    agent.poll(500, 1 << 20);
    let (_, enroll, said) = boot(Ram::holding(ram.last()), ResetCause::Watchdog);
    assert!(enroll.apps.is_empty() && failures(&said).is_empty());
    // Garbage where the journal was (a cold boot's RAM) is no journal.
    let (_, enroll, _) = boot(Ram::holding(vec![0xa5; 300]), ResetCause::Unknown);
    assert!(enroll.apps.is_empty());
}

#[test]
fn the_quarantine_is_bounded_and_removing_a_slot_forgets_it() {
    let mut ram = Ram::default();
    let names = ["a0", "a1", "a2", "a3", "a4"];
    for name in names {
        let (mut agent, _, _) = boot(ram.clone(), ResetCause::Unknown);
        deploy(&mut agent, name, &module(), 1);
        // Reset while it was instantiating; the next boot starts from there.
        ram = Ram::holding(ram.during(1));
    }
    let (mut agent, enroll, _) = boot(ram.clone(), ResetCause::Unknown);
    let failed: Vec<_> = enroll.apps.iter().map(|a| a.app.as_str()).collect();
    assert_eq!(failed.len(), MAX_QUARANTINED);
    assert_eq!(failed, names[names.len() - MAX_QUARANTINED..], "the oldest went first");

    send(&mut agent, &GatewayMsg::Remove(AppRef { app: "a4".into() }), 0).unwrap();
    agent.poll(0, 1 << 20);
    let hb = drain(&mut agent);
    let Some(DeviceMsg::Heartbeat(hb)) = hb.into_iter().find(|m| matches!(m, DeviceMsg::Heartbeat(_))) else {
        panic!("no heartbeat")
    };
    assert!(!hb.apps.iter().any(|a| a.app == "a4"), "{hb:?}");
    deploy(&mut agent, "a4", &module(), 1);
    assert_eq!(logs(&drain(&mut agent)), ["init"], "removed, then deployed again by the platform: it runs");
}

#[test]
fn a_call_over_the_deadline_fails_its_app_and_compiling_is_not_held_to_it() {
    let clock = |step| Box::new(Ticking { now: AtomicU64::new(0), step });
    let online = |step| {
        let cfg = AgentConfig::new("dev-1", "sim").with_call_deadline_ms(2_000);
        let mut agent = Agent::new(cfg).with_clock(clock(step));
        agent.connected(0);
        let welcome = Welcome { heartbeat_ms: 60_000, unix_time_s: 0, unix_time_ms: None };
        send(&mut agent, &GatewayMsg::Welcome(welcome), 0).unwrap();
        drain(&mut agent);
        agent
    };
    // Each stage reads the clock twice: 1.5 s per stage is within 2 s.
    let mut agent = online(1_500);
    deploy(&mut agent, APP, &module(), 1);
    assert_eq!(logs(&drain(&mut agent)), ["init"]);

    let mut agent = online(2_500);
    deploy(&mut agent, APP, &module(), 1);
    let said = drain(&mut agent);
    let rejected = said.iter().find_map(|m| if let DeviceMsg::DeployRejected(r) = m { Some(r) } else { None });
    let r = rejected.expect("instantiating took 2.5 s: refused");
    assert_eq!(r.reason.code, ErrorCode::Deadline);
    assert_eq!(
        r.reason.detail,
        "instantiating (the start function) took 2500 ms, over this device's limit of 2000 ms per call"
    );
}
