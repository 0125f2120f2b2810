//! Test image: the real fault handlers of the shared firmware, triggered on
//! purpose. The host loads one byte at [`MODE`]: `P` panics, `H` executes an
//! undefined instruction (a UsageFault, escalated to HardFault). Either way
//! the firmware must print why and reset, which QEMU (`-no-reboot`) turns
//! into an exit the test observes; without it, QEMU resets in place and the
//! third crash before serving in a row halts the image. The panic handler is the shared
//! firmware's, and the exception handlers come from the same macro board
//! images get them from (`exception_handlers!`, inside `board_main!`), so
//! nothing here stands in for what devices run. Not a production image.
#![no_std]
#![no_main]

use core::fmt::Write;

use cortex_m_rt::entry;
use wasmbed_fw_device::{console, host_region};

/// Where the host puts the fault to inject (PSRAM, outside the link).
const MODE: usize = 0x2100_8000;

#[entry]
fn main() -> ! {
    static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; 16 * 1024] = [core::mem::MaybeUninit::uninit(); 16 * 1024];
    wasmbed_fw_device::init(&wasmbed_boards::MPS2_AN385, HEAP_MEM);
    // As devices boot: a crash before serving counts towards the halt.
    wasmbed_fw_device::warm::boot();
    let mode = host_region(MODE, 1)[0];
    let _ = writeln!(console(), "fault check: mode {:?}", char::from(mode));
    match mode {
        b'P' => panic!("injected panic"),
        b'H' => cortex_m::asm::udf(),
        _ => {
            let _ = writeln!(console(), "fault check: nothing to inject");
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

wasmbed_fw_device::exception_handlers!();
