//! The firmware every board runs. A board crate is its memory map, a
//! [`Board`] value and one [`board_main!`] line; this crate does the rest:
//!
//! 1. console, heap and a 1 ms time base;
//! 2. provisioning: the identity bundle and the per-boot seed and time the
//!    host loaded, failing closed without them;
//! 3. the link to the gateway: TCP over LAN9118 + smoltcp, or a UART that
//!    QEMU carries to the gateway as a TCP connection;
//! 4. mutual TLS 1.3 pinned to the platform CA, then the device agent's
//!    session over it, reconnecting with exponential backoff and jitter.
//!
//! A panic or a hard fault prints its reason on the console and resets the
//! device.
#![no_std]

extern crate alloc;

pub mod net;
pub mod session;
pub mod uart;

use core::fmt::Write;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use embedded_alloc::LlffHeap;
use wasmbed_fw_drivers::cmsdk_uart::CmsdkUart;
use wasmbed_fw_drivers::fpgaio::Leds;
use wasmbed_fw_drivers::stm32_usart::Usart;
use wasmbed_fw_drivers::systick;
use wasmbed_fw_runtime::heap::Counting;

pub use cortex_m_rt;

/// A serial port of a board.
#[derive(Debug, Clone, Copy)]
pub enum Uart {
    /// ARM CMSDK APB UART at this address (MPS2 boards).
    Cmsdk(usize),
    /// STM32 USART at this address, clocked at `pclk_hz`.
    Stm32 {
        /// Base address.
        base: usize,
        /// Its peripheral clock.
        pclk_hz: u32,
    },
}

/// How a board reaches the gateway.
#[derive(Debug, Clone, Copy)]
pub enum Link {
    /// LAN9118 Ethernet on QEMU user networking, static IPv4.
    Lan9118 {
        /// Controller base address.
        base: usize,
        /// The device's address.
        ip: [u8; 4],
        /// The router: the host's loopback as seen from inside (10.0.2.2).
        router: [u8; 4],
    },
    /// A UART QEMU connects to the gateway's TCP port (`-serial`); TLS runs
    /// directly over the byte stream.
    Uart(Uart),
}

/// A board's facts: everything the shared firmware needs to know about it.
#[derive(Debug)]
pub struct Board {
    /// Board name as the platform knows it (must match the bundle's).
    pub name: &'static str,
    /// Core clock, for the SysTick reload.
    pub core_hz: u32,
    /// The console.
    pub console: Uart,
    /// FPGAIO block (user LEDs).
    pub fpgaio: Option<usize>,
    /// The way to the gateway.
    pub link: Link,
    /// Where the host loads the identity bundle, and its largest size.
    pub bundle: (usize, usize),
    /// Where the host loads the per-boot seed and time.
    pub boot_seed: usize,
    /// Register bits set before anything else (clock gates): `(address, mask)`.
    pub clock_enables: &'static [(usize, u32)],
}

/// The allocator, counting its peak for the boot benchmark.
#[global_allocator]
pub static HEAP: Counting<LlffHeap> = Counting::new(LlffHeap::empty());

static CONSOLE_BASE: AtomicUsize = AtomicUsize::new(0);
/// 0: CMSDK; otherwise an STM32 USART's peripheral clock.
static CONSOLE_PCLK: AtomicUsize = AtomicUsize::new(0);

/// Console speed on UARTs that have a baud rate.
const CONSOLE_BAUD: u32 = 115_200;

/// Opens a serial port.
///
/// # Safety
/// The port must be the board's and not driven concurrently.
pub(crate) unsafe fn open(uart: Uart) -> SerialPort {
    match uart {
        // SAFETY: forwarded contract.
        Uart::Cmsdk(base) => SerialPort::Cmsdk(unsafe { CmsdkUart::new(base) }),
        // SAFETY: forwarded contract.
        Uart::Stm32 { base, pclk_hz } => SerialPort::Stm32(unsafe { Usart::new(base, pclk_hz, CONSOLE_BAUD) }),
    }
}

/// An open serial port.
#[derive(Debug)]
pub(crate) enum SerialPort {
    Cmsdk(CmsdkUart),
    Stm32(Usart),
}

impl SerialPort {
    pub(crate) fn write_byte(&mut self, b: u8) {
        match self {
            Self::Cmsdk(u) => u.write_byte(b),
            Self::Stm32(u) => u.write_byte(b),
        }
    }
}

/// A handle on the console UART (after [`run`] set it up).
pub fn console() -> Console {
    Console
}

/// Writes to the board's console UART; silent before [`run`] starts.
#[derive(Debug)]
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let base = CONSOLE_BASE.load(Relaxed);
        if base != 0 {
            let uart = match CONSOLE_PCLK.load(Relaxed) {
                0 => Uart::Cmsdk(base),
                pclk => Uart::Stm32 { base, pclk_hz: pclk as u32 },
            };
            // SAFETY: the board's console UART, set once by `init`; writes
            // are byte-wise and a torn line is the worst outcome.
            let mut uart = unsafe { open(uart) };
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
    for &(addr, mask) in board.clock_enables {
        // SAFETY: clock-gate registers named by the board's data; setting
        // enable bits has no other effect.
        unsafe {
            let reg = addr as *mut u32;
            core::ptr::write_volatile(reg, core::ptr::read_volatile(reg) | mask);
        }
    }
    match board.console {
        Uart::Cmsdk(base) => CONSOLE_BASE.store(base, Relaxed),
        Uart::Stm32 { base, pclk_hz } => {
            CONSOLE_PCLK.store(pclk_hz as usize, Relaxed);
            CONSOLE_BASE.store(base, Relaxed);
        }
    }
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
    let provisioned = wasmbed_fw_runtime::provision::provision(
        region(bundle_addr, bundle_len),
        region(board.boot_seed, wasmbed_fw_runtime::provision::BOOT_SEED_LEN),
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
