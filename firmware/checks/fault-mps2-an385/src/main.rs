//! Test image: the real fault handlers of the shared firmware, triggered on
//! purpose. The host loads one byte at [`MODE`]: `P` panics, `H` executes an
//! undefined instruction (a UsageFault, escalated to HardFault). Either way
//! the firmware must print why and reset, which QEMU (`-no-reboot`) turns
//! into an exit the test observes. Not a production image.
#![no_std]
#![no_main]

use core::fmt::Write;

use cortex_m_rt::{entry, exception};
use wasmbed_fw_device::{Board, Link, Uart, console, host_region};

static BOARD: Board = Board {
    name: "mps2-an385",
    core_hz: 25_000_000,
    console: Uart::Cmsdk(0x4000_4000),
    fpgaio: Some(0x4002_8000),
    link: Link::Lan9118 { base: 0x4020_0000, ip: [10, 0, 2, 15], router: [10, 0, 2, 2] },
    bundle: (0x2100_0000, 16 * 1024),
    clock_enables: &[],
    boot_seed: 0x2100_4000,
};

/// Where the host puts the fault to inject (PSRAM, outside the link).
const MODE: usize = 0x2100_8000;

#[entry]
fn main() -> ! {
    static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; 16 * 1024] = [core::mem::MaybeUninit::uninit(); 16 * 1024];
    wasmbed_fw_device::init(&BOARD, HEAP_MEM);
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

#[exception]
unsafe fn HardFault(ef: &cortex_m_rt::ExceptionFrame) -> ! {
    wasmbed_fw_device::fault("hard fault", ef.pc())
}

#[exception]
fn SysTick() {
    wasmbed_fw_device::tick();
}
