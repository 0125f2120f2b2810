//! A component that uses WASI 0.2 as a `wasm32-wasip2` build would, to
//! show what the `wasi` grant gives: on the message `report` it logs what
//! it found — its environment and arguments (none), its preopened
//! directories (none), and whether two random numbers differ.
//!
//! Needs `log` and `wasi`.

use wasmbed_edge_guest::wasmbed::edge::log;
use wasmbed_edge_guest::{Guest, Sample, export};

/// The WASI imports (`wit/`), beside the edge world's bindings.
mod wasi {
    wit_bindgen::generate!({ path: "wit", world: "imports", generate_all });
}

use wasi::wasi::cli::environment;
use wasi::wasi::filesystem::preopens;
use wasi::wasi::random::random;

struct WasiProbe;

impl Guest for WasiProbe {
    fn init() -> Result<(), String> {
        Ok(())
    }

    fn on_telemetry(_sample: Sample) {}

    fn on_message(payload: Vec<u8>) {
        if payload != b"report" {
            return;
        }
        let env = environment::get_environment().len();
        let args = environment::get_arguments().len();
        let dirs = preopens::get_directories().len();
        let differ = random::get_random_u64() != random::get_random_u64();
        log::log(log::Level::Info, &format!("env={env} args={args} preopens={dirs} random-differs={differ}"));
    }

    fn on_tick(_now_ms: i64) {}
}

export!(WasiProbe);
