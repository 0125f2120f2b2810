//! Wasmbed firmware for the STM32VLDISCOVERY (STM32F100, Cortex-M3, 8 KiB
//! of RAM) as QEMU's `stm32vldiscovery` emulates it: an attached board.
//! Too small for a WebAssembly runtime, it serves its peripherals to its
//! gateway over USART1 (`wasmbed-boardlink`), where its apps run.
//!
//! Everything about the board is its entry in the board table
//! (`wasmbed_boards::STM32VLDISCOVERY`): the link, console and app UARTs,
//! the SPI buses, the shadow LEDs, the timers, the provisioning page. What
//! the board does with requests is `wasmbed-fw-attached`, tested on the
//! host; this crate is the hardware under it:
//!
//! - the provisioning record is read from its flash page; without a good
//!   one the board says why on its console and serves nothing;
//! - USART1 (link) and USART2 (apps) interrupt per received byte into ring
//!   buffers ([`ports`]); a full ring stops taking bytes and QEMU holds the
//!   rest back, so none is lost; the main loop sleeps (WFI) when idle;
//! - SysTick counts milliseconds for uptime and timers;
//! - the console (USART3) says what the board does, with the stack's peak
//!   use (the stack is painted at reset).
//!
//! No allocator, no WebAssembly, no TLS. The wire is not encrypted: the
//! board is wired to its gateway (QEMU carries USART1 to a port on the
//! gateway's loopback), and proves its key when the gateway asks.
#![no_std]
#![no_main]

mod ports;

use core::fmt::Write;

use cortex_m::interrupt;
use cortex_m_rt::{ExceptionFrame, entry, exception};
use wasmbed_boardlink::Provisioning;
use wasmbed_boards::{AttachedLayout, Board, Peripheral, STM32VLDISCOVERY, Uart, name_bytes, same_name};
use wasmbed_fw_attached::{Attached, Config, Hardware, HwError};
use wasmbed_fw_drivers::stm32_spi::Stm32Spi;
use wasmbed_fw_drivers::stm32_usart::Usart;
use wasmbed_fw_drivers::systick;

use crate::ports::{LinkPort, Ports};

/// The board this image is for.
static BOARD: Board = STM32VLDISCOVERY;

/// The table's attached layout; a board without one does not build.
const LAYOUT: AttachedLayout = match STM32VLDISCOVERY.attached() {
    Some(layout) => *layout,
    None => panic!("the board table gives this board no attached firmware"),
};

/// Serial ports run at this rate (QEMU ignores it).
const BAUD: u32 = 115_200;

/// SPI buses the board can have (the STM32F100 has two).
const MAX_SPI: usize = 2;

const _: () = assert!(
    same_name(STM32VLDISCOVERY.name, env!("WASMBED_BOARD", "build images with firmware/image-build.rs")),
    "this board is not the one the crate is named after (and its memory.x made for)"
);

/// The board's name, for the host's image check.
#[used]
#[unsafe(link_section = ".wasmbed.board")]
static NAME: [u8; STM32VLDISCOVERY.name.len()] = name_bytes(STM32VLDISCOVERY.name);

#[entry]
fn main() -> ! {
    serve(start())
}

/// Reads the provisioning and sets the board up; without a good record
/// says why and idles. Not inlined: its temporaries (the firmware's state
/// is built here before it moves to its static) leave the stack before
/// serving starts.
#[inline(never)]
fn start() -> &'static mut Attached<Peripherals> {
    enable_clocks();
    let mut console = console();
    let _ = writeln!(console, "wasmbed attached firmware {} on {}", env!("CARGO_PKG_VERSION"), BOARD.name);
    let provisioning = match Provisioning::decode(provisioning_page()) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(console, "not serving: {e}");
            loop {
                cortex_m::asm::wfi();
            }
        }
    };
    let Some(core) = cortex_m::Peripherals::take() else { unreachable!("taken once, here") };
    systick::start(core.SYST, BOARD.core_hz);
    // SAFETY: called once; the link and app USARTs are driven only through
    // `ports` from here on.
    unsafe { ports::start() };
    let _ = writeln!(console, "serving {:?} on USART1", provisioning.board);
    let config = Config::new(shadow_leds(), LAYOUT.timers);
    let firmware =
        cortex_m::singleton!(: Attached<Peripherals> = Attached::new(provisioning, Peripherals::take(), config));
    let Some(firmware) = firmware else { unreachable!("made once, here") };
    firmware
}

/// Serves the link for ever, sleeping when there is nothing to do.
#[inline(never)]
fn serve(firmware: &'static mut Attached<Peripherals>) -> ! {
    let mut console = console();
    let mut sessions = 0;
    loop {
        firmware.poll(systick::now_ms(), &mut LinkPort);
        let stats = firmware.stats();
        if stats.sessions != sessions {
            sessions = stats.sessions;
            let (used, size) = stack_peak();
            let _ = writeln!(console, "session {sessions} opened (stack peak {used} of {size} bytes)");
        }
        // Sleep until a byte or the next millisecond, unless bytes wait:
        // checked with interrupts masked, so none slips in before the WFI.
        interrupt::free(|cs| {
            if !Ports::link_has_bytes(cs) {
                cortex_m::asm::wfi();
            }
        });
    }
}

/// The board's app-facing peripherals: its app UART (through [`ports`])
/// and SPI buses, from the table.
struct Peripherals {
    spi: [Option<(u8, Stm32Spi)>; MAX_SPI],
}

impl Peripherals {
    fn take() -> Self {
        let mut spi = [const { None }; MAX_SPI];
        let mut slots = spi.iter_mut();
        for p in BOARD.peripherals {
            if let Peripheral::Stm32Spi { bus, base } = *p
                && let Some(slot) = slots.next()
            {
                // SAFETY: an SPI of the board's table entry, clocked by
                // `enable_clocks`, driven by nothing else.
                *slot = Some((bus, unsafe { Stm32Spi::new(base as usize) }));
            }
        }
        Self { spi }
    }
}

impl Hardware for Peripherals {
    fn uart_write(&mut self, port: u8, bytes: &[u8]) -> Result<usize, HwError> {
        Ports::app_write(port, bytes)
    }

    fn uart_read(&mut self, port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        Ports::app_read(port, buf)
    }

    fn spi_transfer(&mut self, bus: u8, buf: &mut [u8]) -> Result<(), HwError> {
        let (_, spi) = self.spi.iter_mut().flatten().find(|(b, _)| *b == bus).ok_or(HwError::NoSuchPeripheral)?;
        spi.transfer(buf).map_err(|_| HwError::Fault)
    }
}

/// LEDs the table gives the board as a shadow.
const fn shadow_leds() -> u8 {
    let list = STM32VLDISCOVERY.peripherals;
    let mut i = 0;
    while i < list.len() {
        if let Peripheral::ShadowLeds { count } = list[i] {
            return count;
        }
        i += 1;
    }
    0
}

/// Sets the clock gates the table names (QEMU ignores them; silicon
/// needs them before the USARTs and SPIs answer).
fn enable_clocks() {
    for &(addr, mask) in BOARD.clock_enables {
        // SAFETY: RCC enable registers named by the board's data; setting
        // enable bits has no other effect.
        unsafe {
            let reg = addr as usize as *mut u32;
            core::ptr::write_volatile(reg, core::ptr::read_volatile(reg) | mask);
        }
    }
}

/// The flash page the host programs the provisioning record into.
fn provisioning_page() -> &'static [u8] {
    let page = LAYOUT.provisioning;
    // SAFETY: flash outside the linked image (the table keeps it out of
    // FLASH), always mapped and never written while the board runs.
    unsafe { core::slice::from_raw_parts(page.start as usize as *const u8, page.len as usize) }
}

/// The console, USART3 in the table: written from the main loop, and from
/// the panic and fault handlers, which take it over.
fn console() -> Console {
    let Uart::Stm32 { base, pclk_hz } = BOARD.console else { unreachable!("an STM32 USART in the table") };
    // SAFETY: the console USART, clocked by `enable_clocks`; nothing but
    // the console writes it (a handler that takes it over never returns).
    Console(unsafe { Usart::new(base as usize, pclk_hz, BAUD) })
}

struct Console(Usart);

impl Write for Console {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.0.write_byte(b'\r');
            }
            self.0.write_byte(b);
        }
        Ok(())
    }
}

/// The stack's deepest use so far and its size, read off the paint
/// cortex-m-rt put there at reset.
fn stack_peak() -> (usize, usize) {
    unsafe extern "C" {
        static _stack_start: u32;
        static _stack_end: u32;
    }
    let (top, bottom) = (&raw const _stack_start as usize, &raw const _stack_end as usize);
    let mut untouched = bottom;
    // SAFETY: words of the stack region the linker script names, read
    // below the current stack pointer's frame or above it (never beyond).
    while untouched < top && unsafe { core::ptr::read_volatile(untouched as *const u32) } == 0xCCCC_CCCC {
        untouched += 4;
    }
    (top - untouched, top - bottom)
}

#[exception]
fn SysTick() {
    systick::on_tick();
}

// SAFETY (cortex-m-rt): the handler takes the console over and resets.
#[exception]
unsafe fn HardFault(ef: &ExceptionFrame) -> ! {
    let _ = writeln!(console(), "fault: hard fault at pc {:#010x}; resetting", ef.pc());
    cortex_m::peripheral::SCB::sys_reset()
}

// SAFETY (cortex-m-rt): device interrupts; only the USART receive
// interrupts are unmasked.
#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    ports::on_interrupt(irqn);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    interrupt::disable();
    let _ = writeln!(console(), "panic: {info}; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}
