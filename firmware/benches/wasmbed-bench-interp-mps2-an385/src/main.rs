//! The `interp` benchmark image for mps2-an385 (run by `cargo xtask bench
//! interp` under `-icount shift=0`, where one guest instruction is one
//! nanosecond of virtual time and a 25 MHz core cycle is 40 of them).
//!
//! The host loads two length-prefixed modules into PSRAM: the kernels app
//! and a 16 KB app. The image runs the kernels natively, instantiates both
//! modules in the agent's runtime (the module validated; function bodies
//! are validated at their first call, as on devices; the 16 KB app is also
//! instantiated with every body validated at install, for comparison),
//! runs the kernels app's tick, checks both runs computed the same checksum,
//! and prints one `interp:` line of figures.
#![no_std]
#![no_main]

extern crate alloc;

use wasmbed_boards::MPS2_AN385;
use wasmbed_fw_device::{HEAP, host_region};
use wasmbed_fw_drivers::systick;
use wasmbed_protocol::AppLimits;

/// Where the host loads the kernels app and the 16 KB app (u32 LE length, bytes).
const KERNELS_APP: usize = 0x2101_0000;
const SIZED_APP: usize = 0x2102_0000;
/// Where the host loads the kernels app compiled to native code (u32 LE
/// length, the encoded artifact; length 0 when not measured).
const NATIVE_APP: usize = 0x2103_0000;
/// Seed the kernels app uses too.
const SEED: u32 = 7;
/// Iterations of the 2-instruction calibration loop.
const CALIBRATION_LOOPS: u32 = 1_000_000;

fn module(addr: usize) -> Option<&'static [u8]> {
    let len = u32::from_le_bytes(host_region(addr, 4).try_into().ok()?) as usize;
    (4..=60 * 1024).contains(&(len + 4)).then(|| &host_region(addr, len + 4)[4..])
}

wasmbed_fw_device::bench_main!(MPS2_AN385, "interp", bench);

fn bench() -> Result<alloc::string::String, alloc::string::String> {
    let kernels = module(KERNELS_APP).ok_or("no kernels app loaded")?;
    let sized = module(SIZED_APP).ok_or("no 16 KB app loaded")?;
    let limits = AppLimits { fuel_per_call: u64::MAX / 2, max_memory_pages: 1, tick_ms: 1000 };

    // Calibration: a loop of exactly 2 instructions per iteration.
    let t = systick::cycles();
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!("2:", "subs {0}, {0}, #1", "bne 2b", inout(reg) CALIBRATION_LOOPS => _, options(nomem, nostack));
    }
    let calibration_cycles = systick::cycles() - t;

    let mut runtime = wasmbed_agent::AppRuntime::default();
    let t = systick::cycles();
    let native = core::hint::black_box(wasmbed_bench_kernels::run_all(core::hint::black_box(SEED)));
    let native_cycles = systick::cycles() - t;

    // The same kernels built for speed (opt-level 3), the baseline native
    // app code is held to.
    let t = systick::cycles();
    let fast = core::hint::black_box(wasmbed_bench_kernels_fast::run_all(core::hint::black_box(SEED)));
    let native_fast_cycles = systick::cycles() - t;
    if fast != native {
        return Err(alloc::format!("the two native builds differ: {native} / {fast}"));
    }
    let native_app = match module(NATIVE_APP) {
        Some(artifact) if !artifact.is_empty() => native_app(&mut runtime, artifact, limits, native)?,
        _ => alloc::string::String::new(),
    };

    let t = systick::cycles();
    let inst16 = runtime.instantiate(sized, limits)?;
    let instantiate_cycles = systick::cycles() - t;
    drop(inst16);
    // The same with every function body validated at install.
    let mut eager = wasmbed_agent::AppRuntime::with_eager_validation();
    let t = systick::cycles();
    let inst16 = eager.instantiate(sized, limits)?;
    let eager_instantiate_cycles = systick::cycles() - t;
    drop(inst16);
    drop(eager);

    let used_before = HEAP.used();
    HEAP.reset_peak();
    let t = systick::cycles();
    let mut app = runtime.instantiate(kernels, limits)?;
    let kernels_instantiate_cycles = systick::cycles() - t;
    // The first call also translates the functions it reaches (wasmi's lazy
    // translation); the second is the steady state apps live in.
    let t = systick::cycles();
    let first = app.tick(1)?;
    let first_cycles = systick::cycles() - t;
    let t = systick::cycles();
    let lines = app.tick(2)?;
    let wasm_cycles = systick::cycles() - t;
    let app_heap_peak = HEAP.peak() - used_before;
    if first != lines {
        return Err(alloc::format!("the two runs differ: {first:?} / {lines:?}"));
    }
    let want = alloc::format!("checksum {native}");
    if !lines.contains(&want) {
        return Err(alloc::format!("checksums differ: native {native}, wasm said {lines:?}"));
    }
    Ok(alloc::format!(
        "calibration_insns={} calibration_cycles={calibration_cycles} native_cycles={native_cycles} native_fast_cycles={native_fast_cycles}{native_app} wasm_cycles={wasm_cycles} wasm_first_cycles={first_cycles} instantiate_cycles={instantiate_cycles} eager_instantiate_cycles={eager_instantiate_cycles} \
         kernels_instantiate_cycles={kernels_instantiate_cycles} \
         app_heap_peak={app_heap_peak} sized_app_bytes={} kernels_app_bytes={} checksum={native}",
        2 * CALIBRATION_LOOPS,
        sized.len(),
        kernels.len()
    ))
}

/// Runs the kernels app as native code: install (load, relocate, bind,
/// instantiate), a first and a second tick, checksums compared with the
/// native run's. Returns its figures as ` key=value` pairs.
fn native_app(
    runtime: &mut wasmbed_agent::AppRuntime,
    artifact: &[u8],
    limits: AppLimits,
    native: u32,
) -> Result<alloc::string::String, alloc::string::String> {
    let mut loader = wasmbed_fw_native::Loader::new(MPS2_AN385.name);
    let t = systick::cycles();
    let mut app = runtime.instantiate_native(&mut loader, artifact, limits, wasmbed_agent::DEFAULT_GRANTS)?;
    let install = systick::cycles() - t;
    let t = systick::cycles();
    let first = app.tick(1)?;
    let first_cycles = systick::cycles() - t;
    let t = systick::cycles();
    let lines = app.tick(2)?;
    let cycles = systick::cycles() - t;
    if first != lines || !lines.contains(&alloc::format!("checksum {native}")) {
        return Err(alloc::format!("native app checksum differs: native {native}, app said {lines:?}"));
    }
    Ok(alloc::format!(
        " aot_cycles={cycles} aot_first_cycles={first_cycles} aot_install_cycles={install} aot_artifact_bytes={}",
        artifact.len()
    ))
}

wasmbed_fw_device::exception_handlers!();
