//! Wasmbed firmware for MPS2 AN385 (Cortex-M3, 25 MHz).
//!
//! Board facts are data below; everything else is the shared runtime and
//! the device agent. This build boots, checks its provisioning (identity
//! bundle and per-boot entropy seed, failing closed), and reports. The
//! LAN9118 Ethernet driver, smoltcp and the TLS client that connect it to
//! the gateway are not in this build yet: it says so and stops.
#![no_std]
#![no_main]

use core::fmt::Write;
use core::panic::PanicInfo;

use cortex_m_rt::{entry, exception};
use embedded_alloc::LlffHeap as Heap;
use wasmbed_drivers::{cmsdk_uart::CmsdkUart, systick};

/// Board data.
mod board {
    pub const NAME: &str = "mps2-an385";
    pub const CORE_HZ: u32 = 25_000_000;
    pub const UART0: usize = 0x4000_4000;
    /// Host-loaded identity bundle (`-device loader,file=bundle.bin,addr=...`).
    pub const BUNDLE_ADDR: usize = 0x2100_0000;
    pub const BUNDLE_LEN: usize = 16 * 1024;
    /// Host-loaded per-boot seed (`-device loader,file=seed.bin,addr=...`).
    pub const SEED_ADDR: usize = 0x2100_4000;
    pub const SEED_LEN: usize = 64;
    pub const HEAP_LEN: usize = 512 * 1024;
}

#[global_allocator]
static HEAP: Heap = Heap::empty();

fn console() -> CmsdkUart {
    // SAFETY: UART0 is the CMSDK UART of this board; the firmware is single
    // threaded and writes to it only through short-lived handles.
    unsafe { CmsdkUart::new(board::UART0) }
}

/// Reads a host-loaded region. PSRAM reads as zeros where nothing was loaded.
fn region(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: the region lies in PSRAM, outside the linked memory, and
    // nothing in the firmware writes to it.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

#[entry]
fn main() -> ! {
    {
        use core::mem::MaybeUninit;
        static mut HEAP_MEM: [MaybeUninit<u8>; board::HEAP_LEN] = [MaybeUninit::uninit(); board::HEAP_LEN];
        // SAFETY: called once, before any allocation; HEAP_MEM is used by nothing else.
        unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, board::HEAP_LEN) }
    }
    let mut out = console();
    let _ = writeln!(out, "wasmbed firmware {} on {}", env!("CARGO_PKG_VERSION"), board::NAME);
    if let Some(p) = cortex_m::Peripherals::take() {
        systick::start(p.SYST, board::CORE_HZ);
    }
    let provisioned = wasmbed_runtime::provision::provision(
        region(board::BUNDLE_ADDR, board::BUNDLE_LEN),
        region(board::SEED_ADDR, board::SEED_LEN),
    );
    match provisioned {
        Err(e) => {
            let _ = writeln!(out, "refusing to connect: {e}");
        }
        Ok(p) => {
            let b = &p.bundle;
            let _ = writeln!(out, "identity: device {} (board {}), gateway {}", b.device_id, b.board, b.gateway);
            let _ = writeln!(out, "entropy: CSPRNG seeded from device seed and boot seed");
            let agent = wasmbed_agent::Agent::new(wasmbed_agent::AgentConfig::new(&b.device_id, board::NAME));
            let _ = writeln!(
                out,
                "agent ready ({} bytes of heap free); not connecting: this build has no network transport yet",
                HEAP.free()
            );
            drop(agent);
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[exception]
fn SysTick() {
    systick::on_tick();
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let _ = writeln!(console(), "panic: {info}; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}
