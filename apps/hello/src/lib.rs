//! The smallest Wasmbed app: a greeting, then a numbered line every tick.
//! Needs capability `log`.
#![no_std]

use wasmbed_sdk::{App, Counter, Line, log};

static TICKS: Counter = Counter::new();

struct Hello;

impl App for Hello {
    fn init() {
        log("hello from wasmbed");
    }

    fn tick(_now_ms: u64) {
        Line::new().push_str("hello #").push_u64(TICKS.next().into()).log();
    }
}

wasmbed_sdk::export!(Hello);
