//! Modules built to crash a device, deployed to an agent with the budget of
//! the smallest MPS2 board beside an app that keeps ticking. Each one is
//! refused (Rejected, with the limit it exceeds) or fails on its own
//! (Failed, with why); the agent never panics, the other app keeps
//! running, and the heap the process takes stays within the board's.
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::{Mutex, MutexGuard};

use peak_alloc::PeakAlloc;
use wasmbed_agent::Agent;
use wasmbed_protocol::*;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// The counters are the process's: each test holds this throughout, so no
/// other test allocates while one measures.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn alone() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ticks every 10 ms and logs each time.
const STEADY: &str = r#"(module
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "steady")
  (func (export "tick") (param i64) (call $log (i32.const 0) (i32.const 6))))"#;

struct Device {
    agent: Agent,
    now: u64,
    heap: usize,
    before: usize,
}

/// What became of a deploy.
#[derive(Debug)]
enum Outcome {
    Rejected(FailReason),
    Failed(FailReason),
    Running,
}

impl Device {
    /// An an385 (its budget and heap) running [`STEADY`].
    fn an385() -> Self {
        let board = wasmbed_boards::MPS2_AN385;
        let heap = board.agent().unwrap().heap_bytes;
        let before = HEAP.current_usage();
        let agent = common::online(board.module_budget().unwrap());
        let mut d = Self { agent, now: 0, heap, before };
        HEAP.reset_peak_usage();
        let steady = wat::parse_str(STEADY).unwrap();
        assert!(matches!(
            d.deploy("steady", &steady, AppLimits { tick_ms: 10, ..AppLimits::default() }),
            Outcome::Running
        ));
        d
    }

    fn remove(&mut self, app: &str) {
        common::send(&mut self.agent, &GatewayMsg::Remove(AppRef { app: app.into() }), self.now).unwrap();
        common::drain(&mut self.agent);
    }

    fn deploy(&mut self, app: &str, wasm: &[u8], limits: AppLimits) -> Outcome {
        let wire = common::deploy_frames(app, wasm, limits);
        for piece in wire.chunks(wasmbed_agent::RECEIVE_PIECE) {
            self.agent.receive(piece, self.now).unwrap();
        }
        // A few ticks: a module that installs may still fail running.
        let mut msgs = common::drain(&mut self.agent);
        msgs.extend(self.run(50));
        let mut outcome = None;
        for m in msgs {
            match m {
                DeviceMsg::DeployRejected(r) if r.app == app => outcome = Some(Outcome::Rejected(r.reason)),
                DeviceMsg::AppStatus(s) if s.report.app == app && s.report.state == AppState::Failed => {
                    outcome = Some(Outcome::Failed(s.reason.unwrap()));
                }
                DeviceMsg::AppStatus(s) if s.report.app == app && s.report.state == AppState::Running => {
                    outcome = outcome.or(Some(Outcome::Running));
                }
                _ => {}
            }
        }
        outcome.unwrap_or_else(|| panic!("{app}: no outcome"))
    }

    /// Runs `ms` of device time; returns what it sent.
    fn run(&mut self, ms: u64) -> Vec<DeviceMsg> {
        let mut msgs = Vec::new();
        for _ in 0..ms / 10 {
            self.now += 10;
            self.agent.poll(self.now, u32::MAX);
            msgs.extend(common::drain(&mut self.agent));
        }
        msgs
    }

    /// The steady app still runs and logs; the heap stayed within the board's.
    fn still_fine(&mut self, after: &str) {
        let logs = self.run(100).iter().filter(|m| matches!(m, DeviceMsg::AppLog(l) if l.app == "steady")).count();
        assert!(logs >= 5, "after {after}: the steady app logged {logs} lines in 100 ms");
        let peak = HEAP.peak_usage().saturating_sub(self.before);
        assert!(peak <= self.heap, "after {after}: the heap reached {peak} bytes, the board has {}", self.heap);
    }
}

fn refused(outcome: Outcome, code: ErrorCode, words: &str) {
    match outcome {
        Outcome::Rejected(r) | Outcome::Failed(r) if r.code == code && r.detail.contains(words) => {}
        other => panic!("expected {code:?} naming {words:?}, got {other:?}"),
    }
}

fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {body})")).unwrap()
}

fn each_hostile(cases: Vec<(&str, Vec<u8>, AppLimits, ErrorCode, &str)>) {
    let mut device = Device::an385();
    for (app, wasm, limits, code, words) in cases {
        let outcome = device.deploy(app, &wasm, limits);
        refused(outcome, code, words);
        device.still_fine(app);
        // As an operator would: a failed app keeps its slot until removed.
        device.remove(app);
    }
}

#[test]
fn the_module_that_reset_every_mps2_device_is_refused_naming_globals() {
    let _alone = alone();
    let globals = "(global (mut i64) (i64.const 0))".repeat(19_800);
    let wasm = module(&format!("{globals} (func (export \"init\"))"));
    assert!(wasm.len() > 95_000 && wasm.len() <= MAX_MODULE_LEN, "{}", wasm.len());
    each_hostile(vec![("globals", wasm, AppLimits::default(), ErrorCode::NoResources, "globals")]);
}

#[test]
fn structure_over_the_board_budget_is_refused_naming_the_limit() {
    let _alone = alone();
    let d = AppLimits::default();
    let nr = ErrorCode::NoResources;
    each_hostile(vec![
        ("functions", module(&format!("{} (func (export \"init\"))", "(func)".repeat(12_000))), d, nr, "functions"),
        ("table", module("(table 100000 funcref) (func (export \"init\"))"), d, nr, "table elements"),
        (
            "elements",
            module(&format!(
                "(table 9000 funcref) (func $f) (elem (i32.const 0) func {}) (elem (i32.const 0) func {}) (func (export \"init\"))",
                "$f ".repeat(6_000),
                "$f ".repeat(6_000)
            )),
            d,
            nr,
            "element segment items",
        ),
        (
            "segments",
            module(&format!("(memory 1) {} (func (export \"init\"))", "(data (i32.const 0) \"x\")".repeat(2_000))),
            d,
            nr,
            "segments",
        ),
        (
            "pages",
            module("(memory 40) (func (export \"init\"))"),
            AppLimits { max_memory_pages: 40, ..d },
            nr,
            "not enough free memory",
        ),
        ("start-pages", module("(memory 3) (func (export \"init\"))"), d, nr, "memory pages"),
    ]);
}

#[test]
fn a_huge_data_segment_is_refused_on_a_small_board() {
    let _alone = alone();
    let budget = wasmbed_boards::OLIMEX_STM32_H405.module_budget().unwrap();
    let mut agent = common::online(budget);
    let wasm = module(&format!("(memory 1) (data (i32.const 0) \"{}\") (func (export \"init\"))", "x".repeat(60_000)));
    let wire = common::deploy_frames("big", &wasm, AppLimits::default());
    for piece in wire.chunks(wasmbed_agent::RECEIVE_PIECE) {
        agent.receive(piece, 0).unwrap();
    }
    let reason = common::drain(&mut agent).into_iter().find_map(|m| match m {
        DeviceMsg::DeployRejected(r) => Some(r.reason),
        _ => None,
    });
    let reason = reason.expect("rejected");
    assert_eq!(reason.code, ErrorCode::NoResources);
    assert!(reason.detail.contains("data segment bytes"), "{}", reason.detail);
}

#[test]
fn running_hostile_code_fails_only_its_app() {
    let _alone = alone();
    let d = AppLimits { tick_ms: 10, ..AppLimits::default() };
    each_hostile(vec![
        (
            "recursion",
            module(
                "(func $f (param i64) (call $f (local.get 0))) (func (export \"tick\") (param i64) (call $f (local.get 0)))",
            ),
            d,
            ErrorCode::Trap,
            "stack",
        ),
        (
            "wide-frames",
            module(&format!(
                "(func $f (local {}) (call $f)) (func (export \"tick\") (param i64) (call $f))",
                "i64 ".repeat(500)
            )),
            d,
            ErrorCode::Trap,
            "stack",
        ),
        (
            "table-grow",
            module(
                "(table 1 funcref) (func (export \"tick\") (param i64) \
                 (loop $l (drop (table.grow (ref.null func) (i32.const 1000))) (br $l)))",
            ),
            d,
            ErrorCode::MemoryLimit,
            "",
        ),
        (
            "memory-grow",
            module("(memory 1) (func (export \"tick\") (param i64) (drop (memory.grow (i32.const 100))))"),
            d,
            ErrorCode::MemoryLimit,
            "",
        ),
        (
            "start-loop",
            module("(func $spin (loop $l (br $l))) (start $spin) (func (export \"init\"))"),
            d,
            ErrorCode::InstantiateFailed,
            "fuel",
        ),
        (
            "branch-tables",
            module(&format!(
                "(func (export \"init\") (local i32) {})",
                format!("(block (br_table {} 0 (local.get 0)))", "0 ".repeat(4_000)).repeat(28)
            )),
            d,
            ErrorCode::NoResources,
            "not enough free memory",
        ),
    ]);
}

#[test]
fn apps_reserve_what_they_may_grow_to_and_the_next_is_refused_when_none_is_left() {
    let _alone = alone();
    let mut device = Device::an385();
    // Each grows a page a tick up to 3 (holding up to 6 while wasmi copies
    // 2 into 4): the an385's 960 KiB for apps hold the steady app and one
    // of them at its largest; the second gets the room left, and growing
    // past it fails that app alone.
    let grower = module(
        "(memory 1) (func (export \"tick\") (param i64) \
         (if (i32.lt_u (memory.size) (i32.const 3)) (then (drop (memory.grow (i32.const 1))))))",
    );
    let limits = AppLimits { max_memory_pages: 3, tick_ms: 10, ..AppLimits::default() };
    assert!(matches!(device.deploy("g1", &grower, limits), Outcome::Running));
    device.still_fine("g1");
    refused(device.deploy("g2", &grower, limits), ErrorCode::MemoryLimit, "");
    device.still_fine("g2");
    // One that needs more than is left to start with is refused.
    let big = module("(memory 6) (func (export \"init\"))");
    let six = AppLimits { max_memory_pages: 6, ..limits };
    refused(device.deploy("big", &big, six), ErrorCode::NoResources, "other apps hold");
    device.run(1_000);
    device.still_fine("growing");
    // Removing one gives its room back.
    device.remove("g1");
    device.remove("g2");
    assert!(matches!(device.deploy("g2", &grower, limits), Outcome::Running));
    device.run(1_000);
    device.still_fine("g2");
}
