//! Logs each tick with the device time it was called at. Needs capability
//! `log`; `now_ms` arrives as the `tick` argument, so not `time`.
#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

use wasmbed_sdk::{Line, log};

static TICKS: AtomicU32 = AtomicU32::new(0);

/// Called once after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn init() {
    log("ticker v2 started");
}

/// Called every tick interval with the device's uptime in milliseconds.
#[unsafe(no_mangle)]
pub extern "C" fn tick(now_ms: u64) {
    let n = TICKS.load(Ordering::Relaxed).wrapping_add(1);
    TICKS.store(n, Ordering::Relaxed);
    Line::new()
        .push_str("tick ")
        .push_u64(n.into())
        .push_str(" at ")
        .push_u64(now_ms)
        .push_str("ms")
        .log();
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Trap: the device marks the app failed and reports it.
    core::arch::wasm32::unreachable()
}
