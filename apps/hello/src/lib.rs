//! The smallest Wasmbed app: a greeting, then a numbered line every tick.
//! Needs capability `log`.
#![no_std]

use core::sync::atomic::{AtomicU32, Ordering};

use wasmbed_sdk::{Line, log};

// wasm32 apps are single-threaded; an atomic is the safe way to keep state
// in a static.
static TICKS: AtomicU32 = AtomicU32::new(0);

/// Called once after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn init() {
    log("hello from wasmbed");
}

/// Called every tick interval.
#[unsafe(no_mangle)]
pub extern "C" fn tick(_now_ms: u64) {
    let n = TICKS.load(Ordering::Relaxed).wrapping_add(1);
    TICKS.store(n, Ordering::Relaxed);
    Line::new().push_str("hello #").push_u64(n.into()).log();
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    // Trap: the device marks the app failed and reports it.
    core::arch::wasm32::unreachable()
}
