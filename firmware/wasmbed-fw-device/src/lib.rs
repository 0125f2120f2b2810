//! The firmware every board runs. A board crate is its entry in the board
//! table (`crates/wasmbed-boards`) and one [`board_main!`] line; its
//! `memory.x` is generated from the same entry (`firmware/image-build.rs`).
//! This crate does the rest:
//!
//! 1. console, heap and a 1 ms time base;
//! 2. provisioning: the identity bundle and the per-boot seed and time the
//!    host loaded, failing closed without them;
//! 3. the link to the gateway: TCP over LAN9118 + smoltcp, or a UART that
//!    QEMU carries to the gateway as a TCP connection;
//! 4. mutual TLS 1.3 pinned to the platform CA, then the device agent's
//!    session over it, reconnecting with exponential backoff and jitter;
//! 5. the board's peripherals for apps ([`peripherals`]), as the board
//!    table lists them.
//!
//! A panic or a hard fault prints its reason on the console and resets the
//! device; test and benchmark images get the same handlers
//! ([`exception_handlers!`]). What must outlive a reset (the agent's crash
//! journal, why the board reset, a reset count for the CSPRNG) is kept in
//! [`warm`], with the watchdog.
#![no_std]

extern crate alloc;

pub mod net;
pub mod peripherals;
pub mod session;
pub mod trusted;
pub mod uart;
pub mod warm;

use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use embedded_alloc::LlffHeap;
use wasmbed_fw_drivers::cmsdk_uart::CmsdkUart;
use wasmbed_fw_drivers::stm32_usart::Usart;
use wasmbed_fw_drivers::systick;
use wasmbed_fw_runtime::heap::Counting;

pub use cortex_m;
pub use cortex_m_rt;
pub use wasmbed_boards::{AgentLayout, Board, Link, Uart};

/// An address or length from the board table as a pointer-sized value (the
/// table holds `u32`; these cores are 32-bit, so nothing is lost).
pub(crate) const fn to_usize(x: u32) -> usize {
    x as usize
}

/// The allocator, counting its peak for the boot benchmark.
#[global_allocator]
pub static HEAP: Counting<LlffHeap> = Counting::new(LlffHeap::empty());

static CONSOLE_BASE: AtomicU32 = AtomicU32::new(0);
/// 0: CMSDK; otherwise an STM32 USART's peripheral clock.
static CONSOLE_PCLK: AtomicU32 = AtomicU32::new(0);

/// Console speed on UARTs that have a baud rate.
const CONSOLE_BAUD: u32 = 115_200;

/// Opens a serial port.
///
/// # Safety
/// The port must be the board's and not driven concurrently.
pub(crate) unsafe fn open(uart: Uart) -> SerialPort {
    match uart {
        // SAFETY: forwarded contract.
        Uart::Cmsdk(base) => SerialPort::Cmsdk(unsafe { CmsdkUart::new(to_usize(base)) }),
        // SAFETY: forwarded contract.
        Uart::Stm32 { base, pclk_hz } => {
            SerialPort::Stm32(unsafe { Usart::new(to_usize(base), pclk_hz, CONSOLE_BAUD) })
        }
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
                pclk_hz => Uart::Stm32 { base, pclk_hz },
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
            let reg = to_usize(addr) as *mut u32;
            core::ptr::write_volatile(reg, core::ptr::read_volatile(reg) | mask);
        }
    }
    match board.console {
        Uart::Cmsdk(base) => CONSOLE_BASE.store(base, Relaxed),
        Uart::Stm32 { base, pclk_hz } => {
            CONSOLE_PCLK.store(pclk_hz, Relaxed);
            CONSOLE_BASE.store(base, Relaxed);
        }
    }
    // SAFETY: called once, before any allocation; the arena is ours alone.
    unsafe { HEAP.inner().init(heap.as_mut_ptr() as usize, heap.len()) }
    if let Some(p) = cortex_m::Peripherals::take() {
        systick::start(p.SYST, board.core_hz);
    }
}

/// Reads a host-loaded region of the board (outside the linked memory).
pub fn host_region(addr: usize, len: usize) -> &'static [u8] {
    region(addr, len)
}

/// The agent's heap on `board`, from the table (for [`board_main!`]'s
/// arena); a board without the agent does not build.
pub const fn heap_bytes(board: &Board) -> usize {
    match board.agent() {
        Some(layout) => layout.heap_bytes,
        None => panic!("the board table gives this board no agent firmware"),
    }
}

/// Boots the device. `heap` is the arena for the allocator.
pub fn run(board: &'static Board, heap: &'static mut [core::mem::MaybeUninit<u8>]) -> ! {
    init(board, heap);
    let booted = warm::boot();
    let mut out = console();
    let _ = writeln!(out, "wasmbed firmware {} on {}", env!("CARGO_PKG_VERSION"), board.name);
    if booted.resets > 0 {
        let _ = writeln!(
            out,
            "boot: warm reset {} since power-on ({:?}); {} ms of uptime before it",
            booted.resets, booted.cause, booted.carried_ms
        );
    }
    let reason = match board.agent() {
        None => alloc::format!("the board table gives {} no agent firmware", board.name),
        Some(layout) => {
            let provisioned = wasmbed_fw_runtime::provision::provision(
                region(to_usize(layout.bundle.start), to_usize(layout.bundle.len)),
                region(to_usize(layout.boot_seed), wasmbed_fw_runtime::provision::BOOT_SEED_LEN),
                booted,
            );
            match provisioned {
                Err(e) => alloc::format!("{e}"),
                Ok(p) => session::run(board, layout, p),
            }
        }
    };
    let _ = writeln!(out, "refusing to connect: {reason}");
    let _ = writeln!(out, "halted");
    loop {
        // Halted on purpose: not a hang for the watchdog to reset.
        warm::feed();
        cortex_m::asm::wfi();
    }
}

/// Prints a fault's reason and resets.
pub fn fault(what: &str, pc: u32) -> ! {
    warm::set_cause(wasmbed_fw_runtime::persist::Cause::Fault);
    let _ = writeln!(console(), "fault: {what} at pc {pc:#010x}; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}

/// Prints where a panic happened and resets: as the call sites a scan of
/// the stack finds (innermost first; the ELF has the line tables, so
/// `arm-none-eabi-addr2line -i -e <image> <address>...` names each file and
/// line), not as `file:line:column` from the `PanicInfo`. Reading the
/// location keeps a `Location` and its file's path in flash for every
/// panic site: 59.9 KB of the mps2-an385 image (measured), on top of the
/// 68.6 KB the message would take.
#[cfg(target_os = "none")]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    warm::set_cause(wasmbed_fw_runtime::persist::Cause::Panic);
    let mut out = console();
    let _ = out.write_str("panic: panicked at");
    for pc in call_sites().take(PANIC_CALL_SITES) {
        let _ = write!(out, " {pc:#010x}");
    }
    let _ = writeln!(out, " (call sites, innermost first); resetting");
    cortex_m::peripheral::SCB::sys_reset()
}

/// How many call sites a panic prints: past the panic machinery (the call
/// of the handler, and of the function that panics, such as
/// `panic_bounds_check`) to the panicking code and its callers.
#[cfg(target_os = "none")]
const PANIC_CALL_SITES: usize = 8;

/// How far up the stack the scan looks, in words.
#[cfg(target_os = "none")]
const PANIC_SCAN_WORDS: usize = 2048;

/// The calls whose return addresses are on the stack, from the current
/// word up: a word that is a Thumb address in `.text` right after a `BL`
/// or `BLX` gives that instruction's address. Stale words can pass too;
/// the innermost are the panic's callers.
#[cfg(target_os = "none")]
fn call_sites() -> impl Iterator<Item = u32> {
    unsafe extern "C" {
        static __stext: u32;
        static __etext: u32;
        static _stack_start: u32;
    }
    let text = (&raw const __stext) as usize..(&raw const __etext) as usize;
    let top = (&raw const _stack_start) as usize;
    let sp: usize;
    // SAFETY: reads the stack pointer in use (MSP or PSP), nothing else.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    let words = top.saturating_sub(sp) / 4;
    (0..words.min(PANIC_SCAN_WORDS)).filter_map(move |i| {
        // SAFETY: a word of RAM between this frame and the top of the
        // stack (cortex-m-rt's `_stack_start`), read as a plain word.
        let word = unsafe { core::ptr::read_volatile((sp as *const u32).add(i)) };
        let at = word as usize & !1;
        if word & 1 == 0 || at < text.start + 4 || at > text.end {
            return None;
        }
        // SAFETY: the two halfwords before `at`, inside `.text` (checked).
        let (first, second) = unsafe {
            (core::ptr::read_volatile((at - 4) as *const u16), core::ptr::read_volatile((at - 2) as *const u16))
        };
        let returns_to = word & !1;
        if first & 0xf800 == 0xf000 && second & 0xd000 == 0xd000 {
            Some(returns_to - 4)
        } else if second & 0xff87 == 0x4780 {
            Some(returns_to - 2)
        } else {
            None
        }
    })
}

/// A board image: `board_main!(wasmbed_boards::MPS2_AN386);` is the whole
/// `main.rs` of a board crate.
///
/// It defines `main` (the heap arena sized by the table, then [`run`]),
/// the [`exception_handlers!`], and the board's name in the
/// `.wasmbed.board` link section, where the host's image check reads it.
/// The board must be the one the crate's `memory.x` was generated for
/// (`firmware/image-build.rs`), or the crate does not build.
#[macro_export]
macro_rules! board_main {
    ($board:expr) => {
        static BOARD: $crate::Board = $board;

        const _: () = {
            assert!(
                $crate::same_name($board.name, env!("WASMBED_BOARD", "build images with firmware/image-build.rs")),
                "this board is not the one the crate is named after (and its memory.x made for)"
            );
            #[used]
            #[unsafe(link_section = ".wasmbed.board")]
            static NAME: [u8; $board.name.len()] = $crate::name_bytes($board.name);
        };

        $crate::exception_handlers!();

        #[$crate::cortex_m_rt::entry]
        fn main() -> ! {
            static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; $crate::heap_bytes(&$board)] =
                [core::mem::MaybeUninit::uninit(); $crate::heap_bytes(&$board)];
            // SAFETY (cortex-m-rt): `entry` turns this static into a unique
            // `&'static mut`; nothing else names it.
            $crate::run(&BOARD, HEAP_MEM)
        }
    };
}

/// A benchmark image's `main`: the board's heap, then `$bench()` once,
/// its result printed as one `NAME: LINE` (or `NAME failed: WHY`) console
/// line, which `cargo xtask bench` reads; then idle. `$bench` returns
/// `Result<String, String>`.
#[macro_export]
macro_rules! bench_main {
    ($board:expr, $name:literal, $bench:path) => {
        #[$crate::cortex_m_rt::entry]
        fn main() -> ! {
            static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; $crate::heap_bytes(&$board)] =
                [core::mem::MaybeUninit::uninit(); $crate::heap_bytes(&$board)];
            $crate::init(&$board, HEAP_MEM);
            let mut out = $crate::console();
            match $bench() {
                Ok(line) => {
                    let _ = core::fmt::Write::write_fmt(&mut out, format_args!(concat!($name, ": {}\n"), line));
                }
                Err(e) => {
                    let _ = core::fmt::Write::write_fmt(&mut out, format_args!(concat!($name, " failed: {}\n"), e));
                }
            }
            loop {
                $crate::cortex_m::asm::wfi();
            }
        }
    };
}

/// An exception handler `$name` that calls `$work(frame)` with the stacked
/// frame of what the exception interrupted: MSP or PSP, as EXC_RETURN
/// says; the tail branch keeps EXC_RETURN in lr, so `$work` returns from
/// the exception.
#[doc(hidden)]
#[macro_export]
macro_rules! with_frame {
    ($name:ident, $work:path) => {
        #[unsafe(naked)]
        #[unsafe(no_mangle)]
        unsafe extern "C" fn $name() {
            core::arch::naked_asm!(
                "tst lr, #4",
                "ite eq",
                "mrseq r0, msp",
                "mrsne r0, psp",
                "b {work}",
                work = sym $work,
            );
        }
    };
}

/// The exception handlers of every image: SysTick drives the time base, a
/// hard fault prints where it happened and resets, the NMI (the MPS2
/// watchdog's warning) records that the watchdog is about to reset. [`board_main!`] brings
/// them; test and benchmark images call this, so tests run the handlers
/// devices run.
#[macro_export]
macro_rules! exception_handlers {
    () => {
        // SysTick hands the stacked frame of what it interrupted to the
        // native-code watch (wasmbed_fw_native::on_tick).
        $crate::with_frame!(SysTick, $crate::tick_with_frame);
        // A memory fault hands its frame to the native-code loader
        // (wasmbed_fw_native::on_memory_fault): an app's access outside
        // its linear memory becomes that app's trap; any other resets.
        $crate::with_frame!(MemoryManagement, $crate::memory_fault_with_frame);

        #[$crate::cortex_m_rt::exception]
        unsafe fn HardFault(ef: &$crate::cortex_m_rt::ExceptionFrame) -> ! {
            $crate::fault("hard fault", ef.pc())
        }

        // SAFETY (cortex-m-rt): the NMI can preempt anything; the handler
        // only stores one word and writes to the console.
        #[$crate::cortex_m_rt::exception]
        unsafe fn NonMaskableInt() {
            $crate::warm::on_warning();
        }
    };
}

// For [`board_main!`], which names them through `$crate`.
#[doc(hidden)]
pub use wasmbed_boards::{name_bytes, same_name};

/// The SysTick handler's work.
pub fn tick() {
    systick::on_tick();
}

/// The SysTick handler's work, with the exception frame it interrupted.
///
/// # Safety
/// Only from the SysTick handler, with its stacked frame.
pub unsafe extern "C" fn tick_with_frame(frame: *mut u32) {
    systick::on_tick();
    // SAFETY: the handler passes its own exception frame.
    unsafe { wasmbed_fw_native::on_tick(frame) }
}

/// The MemManage handler's work, with the exception frame that faulted.
///
/// # Safety
/// Only from the MemManage handler, with its stacked frame.
pub unsafe extern "C" fn memory_fault_with_frame(frame: *mut u32) {
    // SAFETY: the handler passes its own exception frame.
    if unsafe { wasmbed_fw_native::on_memory_fault(frame) } {
        return;
    }
    // SAFETY: as above: word 6 is the faulting instruction's address.
    fault("memory fault", unsafe { frame.add(6).read_volatile() })
}
