//! Untrusted module bytes through everything they meet: the platform's
//! upload validation (the agent's validator and its resource estimate
//! against a board's budget), then a device's install and instantiate —
//! begin, chunks, sizing, compilation, start function, `init` and a few
//! ticks — on an agent with the budget of the smallest MPS2 board. Nothing
//! may panic, and the heap the device part takes, counted by the global
//! allocator, never exceeds the board's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmbed_fuzz::heap::{Counting, HEAP_OF};
use wasmbed_protocol::{AppLimits, Capability};

#[global_allocator]
static HEAP: Counting = HEAP_OF;

fuzz_target!(|data: &[u8]| {
    let board = wasmbed_boards::MPS2_AN385;
    let budget = board.module_budget().expect("the an385 runs the agent");
    let heap = board.agent().expect("the an385 runs the agent").heap_bytes;
    // A short fuel budget keeps each input quick; what it stops is the same.
    let limits = AppLimits { fuel_per_call: 50_000, tick_ms: 10, ..AppLimits::default() };

    // Upload, as the API runs it.
    let _ = wasmbed_agent::validate_module(data, Capability::ALL);
    if let Ok(needs) = wasmbed_agent::measure(data) {
        let _ = wasmbed_agent::check(&needs, &limits, &budget);
    }

    // A device.
    let wire = wasmbed_fuzz::deploy_frames("fuzzed", data, limits);
    let before = HEAP.used();
    HEAP.reset_peak();
    {
        let mut agent = wasmbed_fuzz::online_agent(budget);
        for piece in wire.chunks(wasmbed_agent::RECEIVE_PIECE) {
            if agent.receive(piece, 0).is_err() {
                break;
            }
        }
        for now in [10, 20, 30] {
            agent.poll(now, u32::MAX);
        }
        let _ = agent.take_outgoing();
    }
    let peak = HEAP.peak().saturating_sub(before);
    assert!(peak <= heap, "the device's heap reached {peak} bytes; the board has {heap}");
});
