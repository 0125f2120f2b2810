//! Watches the fleet's thermostats: every `temp_c` sample the gateway's
//! devices publish reaches it; a device whose temperature runs away (above
//! config `threshold_c`, 30 °C without it) is messaged `cool` — its
//! thermostat app's `on-message` — at most once a minute per device, and
//! the hottest reading of each tick is published as `fleet_max_temp_c`.
//!
//! Needs `log`, `clocks`, `config`, `kv`, `telemetry`, `messages`.

use std::cell::Cell;

use wasmbed_edge_guest::wasmbed::edge::{clocks, config, kv, log, messages, telemetry};

const DEFAULT_THRESHOLD_C: f64 = 30.0;
/// How long to wait before messaging the same device again.
const QUIET_MS: i64 = 60_000;

thread_local! {
    static THRESHOLD: Cell<f64> = const { Cell::new(DEFAULT_THRESHOLD_C) };
    static HOTTEST: Cell<Option<f64>> = const { Cell::new(None) };
}

use wasmbed_edge_guest::{Guest, Sample, export};

struct FleetWatch;

impl Guest for FleetWatch {
    fn init() -> Result<(), String> {
        let threshold = match config::get("threshold_c") {
            Some(t) => t.parse::<f64>().map_err(|_| format!("threshold_c {t:?} is not a number"))?,
            None => DEFAULT_THRESHOLD_C,
        };
        THRESHOLD.set(threshold);
        telemetry::subscribe("temp_c").map_err(|e| format!("subscribe: {e:?}"))?;
        log::log(log::Level::Info, &format!("watching temp_c above {threshold} C"));
        Ok(())
    }

    fn on_telemetry(sample: Sample) {
        HOTTEST.set(Some(HOTTEST.get().map_or(sample.value, |h| h.max(sample.value))));
        if sample.value <= THRESHOLD.get() {
            return;
        }
        // The last time this device was told, kept across restarts and swaps.
        let key = format!("told.{}", sample.device);
        let now = clocks::now_ms();
        let last = kv::get(&key).and_then(|v| v.try_into().ok()).map(i64::from_le_bytes);
        if last.is_some_and(|t| now - t < QUIET_MS) {
            return;
        }
        match messages::send(&sample.device, &sample.app, b"cool") {
            Ok(()) => {
                let _ = kv::set(&key, &now.to_le_bytes());
                log::log(
                    log::Level::Warn,
                    &format!(
                        "{} reads {:.1} C, above {} C: told {} to cool",
                        sample.device,
                        sample.value,
                        THRESHOLD.get(),
                        sample.app
                    ),
                );
            }
            Err(e) => log::log(log::Level::Error, &format!("could not message {}: {e:?}", sample.device)),
        }
    }

    fn on_message(_payload: Vec<u8>) {}

    fn on_tick(_now_ms: i64) {
        if let Some(h) = HOTTEST.take() {
            let _ = telemetry::publish("fleet_max_temp_c", h);
        }
    }
}

export!(FleetWatch);
