//! The `host-calls` benchmark image for mps2-an385 (run by `cargo xtask
//! bench host-calls` under `-icount shift=0`, with a TMP105 attached at
//! `i2c:0:0x48` so I2C reads are acknowledged).
//!
//! The host loads a length-prefixed module into PSRAM. Its `tick(now)`
//! makes `CALLS` calls of one host function, chosen by `now % 10`: 0 none
//! (the loop alone), 1 `gpio_write(led0)`, 2 `i2c_read` of 2 bytes at 0x48,
//! 3 `telemetry_publish`. The image runs it through the agent's runtime
//! with the board's real peripherals (the same `BoardPeripherals` devices
//! run), then makes the same driver calls natively through the same
//! `Peripherals` interface, and prints one `host-calls:` line of cycles.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use core::hint::black_box;

use wasmbed_agent::{AppRuntime, Peripherals};
use wasmbed_boards::MPS2_AN385;
use wasmbed_fw_device::host_region;
use wasmbed_fw_device::peripherals::BoardPeripherals;
use wasmbed_fw_drivers::systick;
use wasmbed_protocol::{AppLimits, Capability, Grant, Pin, Resource, split_grants};

/// Where the host loads the module (u32 LE length, bytes).
const APP: usize = 0x2101_0000;
/// Calls per measured tick (telemetry stays under the per-app burst).
const CALLS: u64 = 16;
/// Measured ticks per mode; the smallest is kept (the steady state).
const ROUNDS: u64 = 5;
/// Iterations of the 2-instruction calibration loop.
const CALIBRATION_LOOPS: u32 = 1_000_000;

fn module() -> Option<&'static [u8]> {
    let len = u32::from_le_bytes(host_region(APP, 4).try_into().ok()?) as usize;
    (4..=60 * 1024).contains(&(len + 4)).then(|| &host_region(APP, len + 4)[4..])
}

wasmbed_fw_device::bench_main!(MPS2_AN385, "host-calls", bench);

/// Cycles of `f`, the fewest of `ROUNDS` runs.
fn fewest(mut f: impl FnMut(u64) -> Result<(), String>) -> Result<u64, String> {
    let mut best = u64::MAX;
    for round in 0..ROUNDS {
        let t = systick::cycles();
        f(round)?;
        best = best.min(systick::cycles() - t);
    }
    Ok(best)
}

fn bench() -> Result<String, String> {
    let bytes = module().ok_or("no module loaded")?;
    let grants: alloc::vec::Vec<Grant> = ["gpio:led0", "i2c:0:0x48", "telemetry"]
        .iter()
        .map(|g| Grant::parse(g).map_err(|e| format!("{e}")))
        .collect::<Result<_, _>>()?;
    let (groups, resources) = split_grants(&grants);
    debug_assert!(groups.contains(&Capability::Telemetry));
    // SAFETY: this image drives the board's app peripherals through this
    // one value; nothing else touches them.
    let hw = unsafe { BoardPeripherals::take(&MPS2_AN385) };
    let mut runtime = AppRuntime::default().with_peripherals(Box::new(hw));
    let limits = AppLimits { fuel_per_call: u64::MAX / 2, max_memory_pages: 1, tick_ms: 1000 };
    let mut app = runtime.instantiate_granted(bytes, limits, &groups, &resources, &[])?;

    let t = systick::cycles();
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!("2:", "subs {0}, {0}, #1", "bne 2b", inout(reg) CALIBRATION_LOOPS => _, options(nomem, nostack));
    }
    let calibration_cycles = systick::cycles() - t;

    // `now` = round * 1_000_000 + mode: a second apart and more, so the
    // telemetry bucket is full at every measured tick.
    let mut wasm = [0u64; 4];
    for (mode, cycles) in wasm.iter_mut().enumerate() {
        // One unmeasured tick first: it translates the code it reaches.
        app.tick(100_000_000 + mode as u64)?;
        let _ = app.take_samples();
        *cycles = fewest(|round| {
            let r = app.tick((round + 1) * 1_000_000_000 + mode as u64).map(|_| ());
            let (samples, _) = app.take_samples();
            if mode == 3 && samples.len() as u64 != CALLS {
                return Err(format!("{} of {CALLS} samples kept", samples.len()));
            }
            r
        })?;
    }
    let (_, counters) = app.take_samples();
    if counters.hw_errors != 0 || counters.denied != 0 {
        return Err(format!("calls failed: {counters:?} (is the TMP105 attached at 0x48?)"));
    }

    // The same driver calls, natively, through the same interface.
    // SAFETY: the runtime's instance is done with the peripherals; this
    // is now their only driver.
    let mut native: Box<dyn Peripherals> = Box::new(unsafe { BoardPeripherals::take(&MPS2_AN385) });
    let native_gpio = fewest(|round| {
        for i in 0..CALLS {
            black_box(native.gpio_write(Pin::Led(0), (i + round) & 1 == 1)).map_err(|e| format!("gpio: {e:?}"))?;
        }
        Ok(())
    })?;
    let mut buf = [0u8; 2];
    let native_i2c = fewest(|_| {
        for _ in 0..CALLS {
            black_box(native.i2c_read(0, 0x48, &mut buf)).map_err(|e| format!("i2c: {e:?}"))?;
        }
        Ok(())
    })?;
    debug_assert!(native.has(&Resource::I2c { bus: 0, addr: 0x48 }));
    let native_loop = fewest(|_| {
        for i in 0..CALLS {
            black_box(i);
        }
        Ok(())
    })?;
    Ok(format!(
        "calibration_insns={} calibration_cycles={calibration_cycles} calls={CALLS} wasm_loop_cycles={} wasm_gpio_cycles={} wasm_i2c_cycles={} wasm_telemetry_cycles={} native_loop_cycles={native_loop} native_gpio_cycles={native_gpio} native_i2c_cycles={native_i2c} temp_raw={}",
        2 * CALIBRATION_LOOPS,
        wasm[0],
        wasm[1],
        wasm[2],
        wasm[3],
        u16::from_be_bytes(buf),
    ))
}

wasmbed_fw_device::exception_handlers!();
