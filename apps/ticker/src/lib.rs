//! Logs each tick with the device time it was called at. Needs capability
//! `log`; `now_ms` arrives as the `tick` argument, so not `time`.
#![no_std]

use wasmbed_sdk::{App, Counter, Line, log};

static TICKS: Counter = Counter::new();

struct Ticker;

impl App for Ticker {
    fn init() {
        log("ticker v2 started");
    }

    fn tick(now_ms: u64) {
        Line::new()
            .push_str("tick ")
            .push_u64(TICKS.next().into())
            .push_str(" at ")
            .push_u64(now_ms)
            .push_str("ms")
            .log();
    }
}

wasmbed_sdk::export!(Ticker);
