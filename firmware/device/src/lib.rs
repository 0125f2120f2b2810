//! The firmware every board runs. A board crate is its memory map, a
//! [`Board`] value and one [`board_main!`] line; this crate does the rest:
//!
//! 1. console, heap and a 1 ms time base;
//! 2. provisioning: the identity bundle and the per-boot seed and time the
//!    host loaded, failing closed without them;
//! 3. the network link to the gateway (LAN9118 + smoltcp);
//! 4. mutual TLS 1.3 pinned to the platform CA, then the device agent's
//!    session over it, reconnecting with exponential backoff and jitter.
//!
//! A panic or a hard fault prints its reason on the console and resets the
//! device.
#![no_std]

extern crate alloc;

pub mod net;
pub mod session;

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use embedded_alloc::LlffHeap;
use wasmbed_drivers::cmsdk_uart::CmsdkUart;
use wasmbed_drivers::fpgaio::Leds;
use wasmbed_drivers::systick;
use wasmbed_runtime::heap::Counting;

pub use cortex_m_rt;

/// A board's facts: everything the shared firmware needs to know about it.
#[derive(Debug)]
pub struct Board {
    /// Board name as the platform knows it (must match the bundle's).
    pub name: &'static str,
    /// Core clock, for the SysTick reload.
    pub core_hz: u32,
    /// CMSDK UART used as the console.
    pub console_uart: usize,
    /// FPGAIO block (user LEDs).
    pub fpgaio: Option<usize>,
    /// LAN9118 Ethernet controller.
    pub lan9118: usize,
    /// Static IPv4 address on QEMU user networking, and its router (the
    /// host's loopback as seen from inside).
    pub ip: [u8; 4],
    /// See `ip`.
    pub router: [u8; 4],
    /// Where the host loads the identity bundle, and its largest size.
    pub bundle: (usize, usize),
    /// Where the host loads the per-boot seed and time.
    pub boot_seed: usize,
}

/// The allocator, counting its peak for the boot benchmark.
#[global_allocator]
pub static HEAP: Counting<LlffHeap> = Counting::new(LlffHeap::empty());

static CONSOLE: AtomicUsize = AtomicUsize::new(0);

/// A handle on the console UART (after [`run`] set it up).
pub fn console() -> Console {
    Console
}

/// Writes to the board's console UART; silent before [`run`] starts.
#[derive(Debug)]
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let base = CONSOLE.load(Relaxed);
        if base != 0 {
            // SAFETY: `base` is the board's console UART, set once by `run`;
            // writes are byte-wise and a torn line is the worst outcome.
            let mut uart = unsafe { CmsdkUart::new(base) };
            for b in s.bytes() {
                if b == b'\n' {
                    uart.write_byte(b'\r');
                }
                uart.write_byte(b);
            }
        }
        Ok(())
    }
}

/// Milliseconds since boot.
pub fn now_ms() -> u64 {
    systick::now_ms()
}

/// Shows state on the board's LEDs, if it has them.
pub(crate) fn led(board: &Board, n: u8, on: bool) {
    if let Some(base) = board.fpgaio {
        // SAFETY: the board's FPGAIO block; only this function drives it.
        unsafe { Leds::new(base) }.set(n, on);
    }
}

/// Reads a host-loaded region. Memory where nothing was loaded reads as
/// zeros, which the parsers refuse.
fn region(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: the board places these regions in RAM outside the linked
    // memory; nothing in the firmware writes to them.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

/// Console, heap and time base; the first thing every image does (the
/// benchmark images too). Call once.
pub fn init(board: &'static Board, heap: &'static mut [core::mem::MaybeUninit<u8>]) {
    CONSOLE.store(board.console_uart, Relaxed);
    // SAFETY: called once, before any allocation; the arena is ours alone.
    unsafe { HEAP.inner().init(heap.as_mut_ptr() as usize, heap.len()) }
    if let Some(p) = cortex_m::Peripherals::take() {
        systick::start(p.SYST, board.core_hz);
    }
}

/// Reads a host-loaded region of the board (see [`Board`]).
pub fn host_region(addr: usize, len: usize) -> &'static [u8] {
    region(addr, len)
}

/// Boots the device. `heap` is the arena for the allocator.
pub fn run(board: &'static Board, heap: &'static mut [core::mem::MaybeUninit<u8>]) -> ! {
    init(board, heap);
    let mut out = console();
    let _ = writeln!(out, "wasmbed firmware {} on {}", env!("CARGO_PKG_VERSION"), board.name);
    let (bundle_addr, bundle_len) = board.bundle;
    let provisioned = wasmbed_runtime::provision::provision(
        region(bundle_addr, bundle_len),
        region(board.boot_seed, wasmbed_runtime::provision::BOOT_SEED_LEN),
    );
    let reason = match provisioned {
        Err(e) => alloc::format!("{e}"),
        Ok(p) => session::run(board, p),
    };
    let _ = writeln!(out, "refusing to connect: {reason}");
    let _ = writeln!(out, "halted");
    loop {
        cortex_m::asm::wfi();
    }
}

/// Prints a fault's reason and resets.
pub fn fault(what: &str, pc: u32) -> ! {
    let _ = writeln!(console(), "fault: {what} at pc {pc:#010x}; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}

#[cfg(target_os = "none")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let _ = writeln!(console(), "panic: {info}; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}

/// The board binary's entry point and exception handlers.
///
/// `board_main!(BOARD, HEAP_BYTES)` defines `main`, SysTick and HardFault.
#[macro_export]
macro_rules! board_main {
    ($board:expr, $heap:expr) => {
        #[$crate::cortex_m_rt::entry]
        fn main() -> ! {
            static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; $heap] = [core::mem::MaybeUninit::uninit(); $heap];
            // SAFETY (cortex-m-rt): `entry` turns this static into a unique
            // `&'static mut`; nothing else names it.
            $crate::run(&$board, HEAP_MEM)
        }

        #[$crate::cortex_m_rt::exception]
        fn SysTick() {
            $crate::tick();
        }

        #[$crate::cortex_m_rt::exception]
        unsafe fn HardFault(ef: &$crate::cortex_m_rt::ExceptionFrame) -> ! {
            $crate::fault("hard fault", ef.pc())
        }
    };
}

/// The SysTick handler's work.
pub fn tick() {
    systick::on_tick();
}
