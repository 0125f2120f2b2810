//! The `interp` benchmark's kernels (SHA-256, CRC-32, matrix multiply,
//! sort) as an app: every tick runs them once and logs their checksum, the
//! same code the benchmark runs natively. Needs capability `log`.
#![no_std]

use wasmbed_sdk::{Line, log};

/// Seed shared with the native run (see `wasmbed-bench interp`).
const SEED: u32 = 7;

/// Called once after instantiation.
#[unsafe(no_mangle)]
pub extern "C" fn init() {
    log("kernels ready");
}

/// Called every tick interval.
#[unsafe(no_mangle)]
pub extern "C" fn tick(_now_ms: u64) {
    let sum = wasmbed_bench_kernels::run_all(SEED);
    Line::new().push_str("checksum ").push_u64(sum.into()).log();
}

#[cfg(target_arch = "wasm32")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
