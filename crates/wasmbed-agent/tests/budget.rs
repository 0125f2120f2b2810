//! The heap estimate against what wasmi really allocates: for modules of
//! many globals, functions, table elements, data and element items, big
//! function bodies, types and exports, an install through the agent (begin,
//! chunks, validation, compilation, instantiation, `init`) is measured with a
//! counting allocator, and [`check`]'s figure must be at least that (an
//! upper bound) and at most a few times it (a useful one). The host is
//! 64-bit, so the device (32-bit pointers) needs less than measured here.
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use peak_alloc::PeakAlloc;
use wasmbed_agent::{check, measure};
use wasmbed_protocol::{AppLimits, AppState, DeviceMsg, ModuleBudget};

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

/// How far above the measured peak the estimate may be (measured: 1.0 to
/// 3.1, the most for a big table that nothing fills).
const MAX_SLACK: f64 = 4.0;

/// Installs `wasm` on a device with room for anything; returns the heap
/// the install took at its peak (above what the agent held before) and
/// what the app holds after it.
fn installed(wasm: &[u8], limits: AppLimits) -> (usize, usize) {
    let mut agent = common::online(ModuleBudget::for_heap(256 * 1024 * 1024));
    let wire = common::deploy_frames("app", wasm, limits);
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    for piece in wire.chunks(wasmbed_agent::RECEIVE_PIECE) {
        agent.receive(piece, 1).unwrap();
    }
    let peak = HEAP.peak_usage() - before;
    let held = HEAP.current_usage().saturating_sub(before);
    let msgs = common::drain(&mut agent);
    let running = msgs.iter().any(|m| matches!(m, DeviceMsg::AppStatus(s) if s.report.state == AppState::Running));
    assert!(running, "the module did not start: {msgs:?}");
    (peak, held)
}

/// The estimate of `wasm` is an upper bound of what installing it took,
/// within [`MAX_SLACK`] of it.
fn bounded(what: &str, wasm: &[u8]) {
    // Fuel enough for the longest body here.
    let limits = AppLimits { fuel_per_call: 100_000_000, ..AppLimits::default() };
    let (peak, held) = installed(wasm, limits);
    let needs = measure(wasm).unwrap();
    let heap = check(&needs, &limits, &ModuleBudget::for_heap(256 * 1024 * 1024)).unwrap();
    let ratio = heap.install as f64 / peak as f64;
    eprintln!(
        "{what}: install peak {peak} (estimate {}, x{ratio:.2}), held {held} (estimate running {})",
        heap.install, heap.running
    );
    assert!(peak <= heap.install, "{what}: installing took {peak} bytes, estimated {}", heap.install);
    assert!(held <= heap.running, "{what}: the app holds {held} bytes, estimated {}", heap.running);
    assert!(ratio <= MAX_SLACK, "{what}: the estimate is {ratio:.1} times what installing took");
}

fn module(body: &str) -> Vec<u8> {
    wat::parse_str(format!("(module {body} (func (export \"init\")))")).unwrap()
}

fn repeat(n: usize, item: &str) -> String {
    item.repeat(n)
}

fn the_smallest_module() {
    bounded("empty", &module(""));
}

fn many_globals() {
    for n in [100, 513, 1_000] {
        bounded(&format!("{n} globals"), &module(&repeat(n, "(global (mut i64) (i64.const 7))")));
    }
}

fn many_functions() {
    for n in [100, 1_025, 5_000] {
        bounded(&format!("{n} functions"), &module(&repeat(n, "(func (result i32) i32.const 1)")));
    }
}

fn big_tables_and_element_segments() {
    for n in [1_000, 10_000] {
        bounded(&format!("table of {n}"), &module(&format!("(table {n} funcref)")));
        let items = repeat(n, "$f ");
        let elem = format!("(table {n} funcref) (func $f) (elem (i32.const 0) func {items})");
        bounded(&format!("{n} element items"), &module(&elem));
    }
}

fn big_data_segments() {
    for n in [1_000, 60_000] {
        let data = format!("(memory 1) (data (i32.const 0) \"{}\")", "x".repeat(n));
        bounded(&format!("{n} data bytes"), &module(&data));
        let many = format!("(memory 1) {}", repeat(n / 100, "(data (i32.const 0) \"0123456789\")"));
        bounded(&format!("{} data segments", n / 100), &module(&many));
    }
}

fn big_function_bodies_compiled_at_their_first_call() {
    for n in [1_000, 10_000] {
        // `init` itself is big: it is compiled when it is called.
        let body = repeat(n, "local.get 0 i32.const 3 i32.add local.set 0 ");
        let wasm = wat::parse_str(format!("(module (func (export \"init\") (local i32) {body}))")).unwrap();
        bounded(&format!("a body of {n} additions"), &wasm);
        let body = repeat(n, "i64.const 0x7fffffffffffffff drop ");
        let wasm = wat::parse_str(format!("(module (func (export \"init\") {body}))")).unwrap();
        bounded(&format!("a body of {n} wide constants"), &wasm);
        // Loads and stores through locals: one instruction each in wasmi.
        let body = repeat(n, "local.get 0 local.get 0 i32.load offset=4 i32.store offset=8 ");
        let wasm = wat::parse_str(format!("(module (memory 1) (func (export \"init\") (local i32) {body}))")).unwrap();
        bounded(&format!("a body of {n} loads and stores"), &wasm);
        // A branch table: a byte per target.
        let targets = repeat(n, "0 ");
        let wasm = wat::parse_str(format!(
            "(module (func (export \"init\") (local i32) (block (br_table {targets} 0 (local.get 0)))))"
        ))
        .unwrap();
        bounded(&format!("a branch table of {n}"), &wasm);
        // Calls with arguments: two bytes a call.
        let body = repeat(n / 4, "local.get 0 local.get 0 local.get 0 call $g ");
        let wasm = wat::parse_str(format!(
            "(module (func $g (param i32 i32 i32)) (func (export \"init\") (local i32) {body}))"
        ))
        .unwrap();
        bounded(&format!("a body of {} calls", n / 4), &wasm);
        // Selects and compares of distinct locals: no folding.
        let body = repeat(n / 4, "local.get 0 local.get 1 local.get 2 local.get 3 i32.lt_s select local.set 2 ");
        let wasm = wat::parse_str(format!("(module (func (export \"init\") (local i32 i32 i32 i32) {body}))")).unwrap();
        bounded(&format!("a body of {} selects", n / 4), &wasm);
    }
}

fn many_types_imports_and_exports() {
    for n in [100, 1_000] {
        let types: String = (0..n).map(|i| format!("(type (func (param {})))", "i32 ".repeat(i % 16))).collect();
        bounded(&format!("{n} types"), &module(&types));
        let exports: String = (0..n).map(|i| format!("(func (export \"function_number_{i}\"))")).collect();
        bounded(&format!("{n} exports"), &module(&exports));
    }
    let imports: String =
        (0..200).map(|i| format!("(import \"wasmbed\" \"log\" (func $l{i} (param i32 i32)))")).collect();
    bounded("200 imports", &module(&imports));
}

/// Every case in one test: the counters are the process's, and the test
/// harness's own threads allocate while other tests finish (seen as a
/// few hundred bytes on a measured peak under CI), so nothing else runs
/// while these measure.
#[test]
fn every_estimate_bounds_what_installing_took() {
    the_smallest_module();
    many_globals();
    many_functions();
    big_tables_and_element_segments();
    big_data_segments();
    big_function_bodies_compiled_at_their_first_call();
    many_types_imports_and_exports();
}
