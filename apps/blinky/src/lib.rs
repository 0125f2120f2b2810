//! Blinks LED 0: toggles it every tick. Needs `gpio:led0` (and `log`, to
//! say when it cannot).
#![no_std]

use wasmbed_sdk::gpio::Pin;
use wasmbed_sdk::{App, Line};

const LED: Pin = Pin::led(0);

struct Blinky;

impl App for Blinky {
    fn init() {}

    fn tick(_now_ms: u64) {
        if let Err(e) = LED.toggle() {
            Line::new().push_str("led0: ").push_str(e.name()).log();
        }
    }
}

wasmbed_sdk::export!(Blinky);
