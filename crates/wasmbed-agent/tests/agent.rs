//! The agent driven as a gateway would drive it, with modules written in WAT.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use sha2::{Digest, Sha256};
use wasmbed_agent::{Agent, AgentConfig, SessionState};
use wasmbed_protocol::*;

const GOOD: &str = r#"(module
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (import "wasmbed" "now_ms" (func $now (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "init")
  (data (i32.const 16) "tick")
  (func (export "init") (call $log (i32.const 0) (i32.const 4)))
  (func (export "tick") (param i64) (drop (call $now)) (call $log (i32.const 16) (i32.const 4))))"#;

const TRAP: &str = r#"(module (memory (export "memory") 1)
  (func (export "tick") (param i64) unreachable))"#;

const SPIN: &str = r#"(module (memory (export "memory") 1)
  (func (export "tick") (param i64) (loop $l (br $l))))"#;

const GROW: &str = r#"(module (memory (export "memory") 1)
  (func (export "tick") (param i64) (drop (memory.grow (i32.const 8)))))"#;

const UNGRANTED: &str = r#"(module (import "wasmbed" "gpio_write" (func (param i32 i32)))
  (func (export "init")))"#;

const BAD_PTR: &str = r#"(module (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "init") (call $log (i32.const 65530) (i32.const 100))))"#;

fn begin(app: &str, version: &str, size: usize, sha: [u8; 32]) -> DeployBegin {
    DeployBegin {
        app: app.into(),
        version: version.into(),
        size: size as u32,
        sha256: sha.into(),
        limits: limits(),
        revision: None,
        start: None,
        grants: None,
        resources: None,
        config: None,
        manifest: None,
        native: None,
    }
}

fn wasm(wat: &str) -> (Vec<u8>, [u8; 32]) {
    let bytes = wat::parse_str(wat).unwrap();
    let sha = Sha256::digest(&bytes).into();
    (bytes, sha)
}

fn limits() -> AppLimits {
    AppLimits { fuel_per_call: 100_000, max_memory_pages: 2, tick_ms: 100 }
}

struct Harness {
    agent: Agent,
    now: u64,
}

impl Harness {
    fn online() -> Self {
        let mut agent = Agent::new(AgentConfig::new("dev-1", "sim").simulated());
        agent.connected(0);
        let mut h = Self { agent, now: 0 };
        let sent = h.drain();
        assert!(matches!(&sent[..], [DeviceMsg::Enroll(e)] if e.device_id == "dev-1" && e.simulated));
        h.send(GatewayMsg::Welcome(Welcome { heartbeat_ms: 1000, unix_time_s: 1_700_000_000, unix_time_ms: None }))
            .unwrap();
        h.poll();
        assert_eq!(h.agent.state(), SessionState::Online);
        assert!(h.drain().iter().any(|m| matches!(m, DeviceMsg::Heartbeat(_))));
        h
    }

    fn send(&mut self, msg: GatewayMsg) -> Result<(), wasmbed_agent::AgentError> {
        common::send(&mut self.agent, &msg, self.now)
    }

    fn poll(&mut self) {
        self.agent.poll(self.now, 100_000);
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.poll();
    }

    fn drain(&mut self) -> Vec<DeviceMsg> {
        common::drain(&mut self.agent)
    }

    fn deploy_bytes(&mut self, app: &str, version: &str, bytes: &[u8], sha: [u8; 32]) {
        self.deploy_begin(begin(app, version, bytes.len(), sha), bytes);
    }

    fn deploy_begin(&mut self, begin: DeployBegin, bytes: &[u8]) {
        let app = begin.app.clone();
        self.send(GatewayMsg::DeployBegin(begin)).unwrap();
        for (i, chunk) in bytes.chunks(7).enumerate() {
            let c = DeployChunk { app: app.clone(), offset: (i * 7) as u32, data: chunk.to_vec().into() };
            self.send(GatewayMsg::DeployChunk(c)).unwrap();
        }
    }

    fn deploy(&mut self, app: &str, version: &str, wat: &str) {
        let bytes = wat::parse_str(wat).unwrap();
        let sha: [u8; 32] = Sha256::digest(&bytes).into();
        self.deploy_bytes(app, version, &bytes, sha);
    }

    fn report(&mut self, app: &str) -> Option<AppReport> {
        self.advance(1000);
        let msgs = self.drain();
        let hb = msgs.iter().rev().find_map(|m| match m {
            DeviceMsg::Heartbeat(h) => Some(h.clone()),
            _ => None,
        })?;
        hb.apps.into_iter().find(|a| a.app == app)
    }

    fn app_state(&mut self, app: &str) -> Option<(String, AppState)> {
        self.report(app).map(|a| (a.version, a.state))
    }
}

/// What `$take` makes of each message in `$msgs` that matches `$pat`, in
/// order.
macro_rules! select {
    ($msgs:expr, $pat:pat => $take:expr) => {
        $msgs
            .iter()
            .filter_map(|m| match m {
                $pat => Some($take),
                _ => None,
            })
            .collect()
    };
}

fn statuses(msgs: &[DeviceMsg]) -> Vec<(String, AppState, Option<ErrorCode>)> {
    select!(msgs, DeviceMsg::AppStatus(s) => (s.report.app.clone(), s.report.state, s.reason.as_ref().map(|r| r.code)))
}

fn logs(msgs: &[DeviceMsg]) -> Vec<String> {
    select!(msgs, DeviceMsg::AppLog(l) => l.line.clone())
}

/// Why each deploy among `msgs` was refused, in order.
fn rejections(msgs: &[DeviceMsg]) -> Vec<FailReason> {
    select!(msgs, DeviceMsg::DeployRejected(r) => r.reason.clone())
}

fn rejection(msgs: &[DeviceMsg]) -> Option<ErrorCode> {
    rejections(msgs).first().map(|r| r.code)
}

#[test]
fn deploy_runs_init_and_ticks_with_logs() {
    let mut h = Harness::online();
    h.deploy("hello", "1", GOOD);
    let msgs = h.drain();
    assert_eq!(statuses(&msgs), vec![("hello".into(), AppState::Running, None)]);
    assert_eq!(logs(&msgs), vec!["init"]);
    h.advance(100);
    assert_eq!(logs(&h.drain()), vec!["tick"]);
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Running)));
}

#[test]
fn hash_mismatch_and_invalid_module_keep_the_previous_version() {
    let mut h = Harness::online();
    h.deploy("hello", "1", GOOD);
    h.drain();
    let bytes = wat::parse_str(TRAP).unwrap();
    h.deploy_bytes("hello", "2", &bytes, [0u8; 32]);
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::HashMismatch));
    let junk = b"definitely not wasm".to_vec();
    let sha: [u8; 32] = Sha256::digest(&junk).into();
    h.deploy_bytes("hello", "3", &junk, sha);
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::InvalidModule));
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Running)));
    h.advance(100);
    assert!(logs(&h.drain()).contains(&"tick".to_string()));
}

#[test]
fn trap_fuel_and_memory_fail_only_that_app() {
    let mut h = Harness::online();
    h.deploy("good", "1", GOOD);
    h.deploy("trap", "1", TRAP);
    h.deploy("spin", "1", SPIN);
    h.deploy("grow", "1", GROW);
    h.drain();
    h.advance(100);
    let msgs = h.drain();
    let st = statuses(&msgs);
    assert!(st.contains(&("trap".into(), AppState::Failed, Some(ErrorCode::Trap))), "{st:?}");
    assert!(st.contains(&("spin".into(), AppState::Failed, Some(ErrorCode::OutOfFuel))), "{st:?}");
    assert!(st.contains(&("grow".into(), AppState::Failed, Some(ErrorCode::MemoryLimit))), "{st:?}");
    assert!(logs(&msgs).contains(&"tick".to_string()));
    assert_eq!(h.app_state("good"), Some(("1".into(), AppState::Running)));
    assert_eq!(h.agent.state(), SessionState::Online);
    h.advance(100);
    assert_eq!(logs(&h.drain()), vec!["tick"], "only the good app still ticks");
}

#[test]
fn ungranted_import_cannot_instantiate() {
    let mut h = Harness::online();
    h.deploy("gpio", "1", UNGRANTED);
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::InstantiateFailed));
    assert_eq!(h.app_state("gpio"), None);
}

#[test]
fn out_of_bounds_log_pointer_traps() {
    let mut h = Harness::online();
    h.deploy("badptr", "1", BAD_PTR);
    let st = statuses(&h.drain());
    assert_eq!(st, vec![("badptr".into(), AppState::Failed, Some(ErrorCode::Trap))]);
}

#[test]
fn stop_start_remove() {
    let mut h = Harness::online();
    h.deploy("hello", "1", GOOD);
    h.drain();
    h.send(GatewayMsg::Stop(AppRef { app: "hello".into() })).unwrap();
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Stopped)));
    h.send(GatewayMsg::Start(AppRef { app: "hello".into() })).unwrap();
    let msgs = h.drain();
    assert_eq!(logs(&msgs), vec!["init"]);
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Running)));
    h.send(GatewayMsg::Remove(AppRef { app: "hello".into() })).unwrap();
    assert_eq!(h.app_state("hello"), None);
}

/// The gateway sends a deploy refused for want of a slot again until room
/// appears: each retry is refused once, quietly, and leaves the device as it
/// was (apps running, session online, nothing held). A removal is reported
/// at once, which is how the gateway sees the room, and the same deploy then
/// installs.
#[test]
fn deploys_refused_for_want_of_a_slot_can_be_retried_without_harm() {
    let mut h = Harness::online();
    let four = ["a", "b", "c", "d"];
    for app in four {
        h.deploy(app, "1", GOOD);
    }
    h.drain();
    let held = h.agent.app_memory_bytes();
    let (bytes, sha) = wasm(GOOD);
    let full = FailReason { code: ErrorCode::NoResources, detail: "all 4 app slots are in use".into() };
    for _ in 0..50 {
        h.deploy_bytes("e", "1", &bytes, sha);
        let msgs = h.drain();
        assert_eq!(rejections(&msgs), std::slice::from_ref(&full));
        assert!(!msgs.iter().any(|m| matches!(m, DeviceMsg::Error(_))), "{msgs:?}");
    }
    assert_eq!(h.agent.state(), SessionState::Online);
    assert_eq!(h.agent.app_memory_bytes(), held, "refused deploys hold nothing");
    for app in four {
        assert_eq!(h.app_state(app), Some(("1".into(), AppState::Running)), "{app}");
    }
    h.send(GatewayMsg::Remove(AppRef { app: "b".into() })).unwrap();
    h.poll();
    let hb = h.drain().into_iter().find_map(|m| match m {
        DeviceMsg::Heartbeat(hb) => Some(hb),
        _ => None,
    });
    assert_eq!(hb.map(|hb| hb.apps.len()), Some(3), "the removal is reported without waiting for the interval");
    h.deploy_bytes("e", "1", &bytes, sha);
    assert_eq!(h.app_state("e"), Some(("1".into(), AppState::Running)));
}

#[test]
fn out_of_order_chunk_and_oversized_module_are_rejected() {
    let mut h = Harness::online();
    let begin = begin("x", "1", 10, [0; 32]);
    h.send(GatewayMsg::DeployBegin(begin.clone())).unwrap();
    h.send(GatewayMsg::DeployChunk(DeployChunk { app: "x".into(), offset: 5, data: vec![0; 5].into() })).unwrap();
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::BadChunk));
    let huge = DeployBegin { size: u32::MAX, ..begin };
    h.send(GatewayMsg::DeployBegin(huge)).unwrap();
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::NoResources));
}

#[test]
fn malformed_frames_end_the_session_with_an_error_report() {
    for bad in [
        vec![0, 0, 0, 3, 1, 0xff, 0xff], // garbage CBOR
        vec![0, 0, 0, 2, 7, 0],          // unknown version
        vec![0xff, 0xff, 0xff, 0xff],    // oversized length
    ] {
        let mut h = Harness::online();
        let err = h.agent.receive(&bad, 0).unwrap_err();
        assert_eq!(h.agent.state(), SessionState::Disconnected);
        let report = h.drain().remove(0);
        assert!(matches!(report, DeviceMsg::Error(e) if e.code == err.code), "{bad:?}");
    }
}

#[test]
fn commands_before_welcome_are_unexpected() {
    let mut agent = common::awaiting_welcome();
    let err = common::send(&mut agent, &GatewayMsg::Start(AppRef { app: "a".into() }), 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::UnexpectedMessage);
}

#[test]
fn reconnect_enrolls_with_running_apps() {
    let mut h = Harness::online();
    h.deploy("hello", "1", GOOD);
    h.drain();
    h.agent.disconnected();
    h.advance(100); // apps keep ticking while offline
    h.agent.connected(h.now);
    let msgs = h.drain();
    let DeviceMsg::Enroll(e) = &msgs[0] else { panic!("{msgs:?}") };
    assert_eq!(e.apps.len(), 1);
    assert_eq!(e.apps[0].state, AppState::Running);
}

#[test]
fn validate_module_matches_what_the_device_accepts() {
    let grants = wasmbed_agent::DEFAULT_GRANTS;
    assert!(wasmbed_agent::validate_module(&wat::parse_str(GOOD).unwrap(), grants).is_ok());
    let err = wasmbed_agent::validate_module(&wat::parse_str(UNGRANTED).unwrap(), grants).unwrap_err();
    assert!(err.contains("wasmbed.gpio_write"), "{err}");
    let err = wasmbed_agent::validate_module(b"\0asm\x01\0\0\0garbage", grants).unwrap_err();
    assert!(err.starts_with("invalid WebAssembly"), "{err}");
    // Random bytes: one line that says what they are not.
    let random: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(11)).collect();
    let err = wasmbed_agent::validate_module(&random, grants).unwrap_err();
    assert_eq!(err, "not a WebAssembly module: it does not start with \\0asm");
    for bad in [&b"\0asm\x02\0\0\0"[..], b"\0asm\x01\0\0\0\x01\xff\xff"] {
        let err = wasmbed_agent::validate_module(bad, grants).unwrap_err();
        assert!(!err.contains('\n') && err.starts_with("invalid WebAssembly: "), "{err:?}");
    }
    let none = wat::parse_str("(module (func (export \"other\")))").unwrap();
    assert!(wasmbed_agent::validate_module(&none, grants).is_err());
    // A known import outside the grants names the capability it needs.
    let err = wasmbed_agent::validate_module(&wat::parse_str(GOOD).unwrap(), &[Capability::Log]).unwrap_err();
    assert!(err.contains("wasmbed.now_ms") && err.contains("\"time\""), "{err}");
}

/// The runtime the `interp` benchmark drives: the same engine and host
/// functions as installs; bad modules and traps come back as errors.
#[test]
fn app_runtime_instantiates_ticks_and_refuses_bad_modules() {
    let mut rt = wasmbed_agent::AppRuntime::default();
    let good = wat::parse_str(
        r#"(module (import "wasmbed" "log" (func $log (param i32 i32))) (memory (export "memory") 1)
             (data (i32.const 0) "tock") (func (export "tick") (param i64) (call $log (i32.const 0) (i32.const 4))))"#,
    )
    .unwrap();
    let mut app = rt.instantiate(&good, limits()).unwrap();
    assert_eq!(app.tick(1).unwrap(), vec!["tock".to_string()]);
    assert_eq!(app.tick(2).unwrap(), vec!["tock".to_string()]);
    assert!(rt.instantiate(b"\0asm junk", limits()).unwrap_err().contains("invalid WebAssembly"));
    let trap = wat::parse_str(r#"(module (func (export "tick") (param i64) unreachable))"#).unwrap();
    assert!(rt.instantiate(&trap, limits()).unwrap().tick(1).is_err());
    let no_tick = wat::parse_str(r#"(module (func (export "init")))"#).unwrap();
    assert!(rt.instantiate(&no_tick, limits()).unwrap().tick(1).unwrap_err().contains("no tick"));
}

/// A device with little free heap refuses a module it cannot hold, once,
/// with the reason; the rest of that deploy is dropped quietly and what
/// runs keeps running. A later deploy of the same app is considered afresh.
#[test]
fn a_module_that_cannot_fit_in_free_memory_is_refused_once() {
    let mut h = Harness::online();
    h.deploy("hello", "1", GOOD);
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Running)));
    h.agent.poll(h.now, 20_000); // less than the module and the smallest instance
    h.drain();
    let bytes = vec![0u8; 6000];
    let sha: [u8; 32] = Sha256::digest(&bytes).into();
    h.deploy_bytes("big", "1", &bytes, sha);
    let rejected = rejections(&h.drain());
    assert_eq!(rejected.len(), 1, "{rejected:?}");
    assert_eq!(rejected[0].code, ErrorCode::NoResources);
    assert!(rejected[0].detail.contains("not enough free memory"), "{}", rejected[0].detail);
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Running)));
    // With room again, the same app installs (here: fails validation, as junk).
    h.deploy_bytes("big", "2", &bytes, sha);
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::InvalidModule));
}

const WHOAMI: &str = r#"(module
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (import "wasmbed" "device_id" (func $id (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "init") (call $log (i32.const 0) (call $id (i32.const 0) (i32.const 64)))))"#;

#[test]
fn grants_decide_what_links() {
    let mut h = Harness::online();
    let (bytes, sha) = wasm(WHOAMI);
    // Not granted by default: refused with the capability named.
    h.deploy_bytes("whoami", "1", &bytes, sha);
    let msgs = h.drain();
    let why = msgs.iter().find_map(|m| match m {
        DeviceMsg::DeployRejected(r) => Some(r.reason.clone()),
        _ => None,
    });
    let why = why.unwrap();
    assert_eq!(why.code, ErrorCode::InstantiateFailed);
    assert!(why.detail.contains("\"device\""), "{}", why.detail);
    // Granted: the app reads its device's identity.
    let granted = DeployBegin {
        grants: Some(vec![Capability::Log, Capability::Device]),
        ..begin("whoami", "1", bytes.len(), sha)
    };
    h.deploy_begin(granted, &bytes);
    assert_eq!(logs(&h.drain()), vec!["dev-1"]);
    // Granting less than the default takes the default's functions away.
    let (good, sha) = wasm(GOOD);
    h.deploy_begin(DeployBegin { grants: Some(vec![Capability::Log]), ..begin("hello", "1", good.len(), sha) }, &good);
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::InstantiateFailed));
}

#[test]
fn installed_stopped_beside_a_running_version_then_switched() {
    let mut h = Harness::online();
    let (bytes, sha) = wasm(GOOD);
    h.deploy_begin(DeployBegin { revision: Some(1), ..begin("hello.r1", "1", bytes.len(), sha) }, &bytes);
    assert_eq!(logs(&h.drain()), vec!["init"]);
    h.deploy_begin(
        DeployBegin { revision: Some(2), start: Some(false), ..begin("hello.r2", "2", bytes.len(), sha) },
        &bytes,
    );
    let msgs = h.drain();
    assert_eq!(statuses(&msgs), vec![("hello.r2".into(), AppState::Stopped, None)]);
    assert!(logs(&msgs).is_empty(), "installed, not started");
    let r2 = h.report("hello.r2").unwrap();
    assert_eq!((r2.state, r2.revision), (AppState::Stopped, Some(2)));
    assert_eq!(h.report("hello.r1").unwrap().state, AppState::Running);
    // The switch: start the new one, stop the old one.
    h.send(GatewayMsg::Start(AppRef { app: "hello.r2".into() })).unwrap();
    h.send(GatewayMsg::Stop(AppRef { app: "hello.r1".into() })).unwrap();
    assert_eq!(h.report("hello.r2").unwrap().state, AppState::Running);
    assert_eq!(h.report("hello.r1").unwrap().state, AppState::Stopped);
}

#[test]
fn a_slot_name_that_is_not_one_is_refused() {
    let mut h = Harness::online();
    let (bytes, sha) = wasm(GOOD);
    h.deploy_bytes(".hidden", "1", &bytes, sha);
    assert_eq!(rejection(&h.drain()), Some(ErrorCode::UnknownApp));
}

/// A module whose structure is valid but one of whose function bodies is
/// not: the body is validated when first called, and the app fails with
/// `invalid-module`, never running it; the device and its other apps go on.
#[test]
fn a_function_body_that_does_not_validate_fails_its_app_at_first_call() {
    let mut h = Harness::online();
    h.deploy("hello", "1", GOOD);
    h.drain();
    // `i32.add` with an empty stack: well-formed binary, invalid body.
    let bad = r#"(module (memory (export "memory") 1) (func (export "init") i32.add drop))"#;
    let (bytes, sha) = wasm(bad);
    assert!(wasmbed_agent::validate_module(&bytes, wasmbed_agent::DEFAULT_GRANTS).is_err(), "the platform refuses it");
    h.deploy_bytes("bad", "1", &bytes, sha);
    let st = statuses(&h.drain());
    assert_eq!(st, vec![("bad".into(), AppState::Failed, Some(ErrorCode::InvalidModule))]);
    assert_eq!(h.app_state("hello"), Some(("1".into(), AppState::Running)));
}
