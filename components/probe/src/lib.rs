//! A component for tests and benchmarks of the edge runtime, doing what its
//! config and messages ask, and keeping its account in the kv store (which
//! the gateway holds, so a test reads it from outside the component).
//!
//! - config `label`: this version's name, counted per version under
//!   `handled.<label>`.
//! - config `init` = `fail`: `init` fails, so a hot swap to it must leave
//!   the old version serving.
//! - telemetry: subscribes to `seq`; each sample's value is a sequence
//!   number. `count` counts samples, `last` is the last number, `gaps`
//!   counts numbers that were not `last + 1` (lost or doubled events).
//! - messages: `trap` traps, `loop` never returns, `grow` asks for far
//!   more memory than any limit, `publish` publishes `probe_value` 1.0,
//!   `tally` counts itself under `messages` (a message is handled when
//!   its delivery returns, unlike a sample on its way through the feed).
//!
//! Needs `log`, `config`, `kv`, `telemetry`.

use wasmbed_edge_guest::wasmbed::edge::{config, kv, log, telemetry};

use wasmbed_edge_guest::{Guest, Sample, export};

struct Probe;

fn counter(key: &str) -> u64 {
    kv::get(key).and_then(|v| v.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}

fn set_counter(key: &str, n: u64) {
    // The store's limits are far above what a test writes.
    let _ = kv::set(key, &n.to_le_bytes());
}

impl Guest for Probe {
    fn init() -> Result<(), String> {
        if config::get("init").as_deref() == Some("fail") {
            return Err("asked to fail by config init=fail".into());
        }
        telemetry::subscribe("seq").map_err(|e| format!("subscribe: {e:?}"))?;
        log::log(log::Level::Info, "probe ready");
        Ok(())
    }

    fn on_telemetry(sample: Sample) {
        let seq = sample.value as u64;
        let count = counter("count");
        if count > 0 && seq != counter("last") + 1 {
            set_counter("gaps", counter("gaps") + 1);
        }
        set_counter("count", count + 1);
        set_counter("last", seq);
        let label = config::get("label").unwrap_or_default();
        let key = format!("handled.{label}");
        set_counter(&key, counter(&key) + 1);
    }

    fn on_message(payload: Vec<u8>) {
        match payload.as_slice() {
            b"trap" => core::arch::wasm32::unreachable(),
            b"loop" => loop {
                core::hint::spin_loop();
            },
            b"grow" => {
                let v: Vec<u8> = vec![1; 1 << 30];
                log::log(log::Level::Error, &format!("grew to {}", v.len()));
            }
            b"publish" => {
                let _ = telemetry::publish("probe_value", 1.0);
            }
            b"tally" => set_counter("messages", counter("messages") + 1),
            _ => log::log(log::Level::Warn, "unknown message"),
        }
    }

    fn on_tick(_now_ms: i64) {}
}

export!(Probe);
