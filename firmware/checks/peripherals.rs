//! Test image body: the app peripherals of the board the image is built for
//! (`WASMBED_BOARD`, from the crate's name), driven through the firmware's
//! own `BoardPeripherals` — the `wasmbed_agent::Peripherals` devices hand
//! to apps — against the devices QEMU emulates. Each check prints `ok:` or
//! `FAIL:` on the console; the image then exits QEMU through semihosting
//! with status 0 when all passed, 1 otherwise. Not a production image.
//!
//! What QEMU must be given (each image's `.cargo/config.toml` runner does,
//! so `cargo run --release` in its folder is the whole test):
//! `-semihosting-config enable=on,target=native -no-reboot`, and on MPS2
//! `-device tmp105,bus=i2c,address=0x48 -device n25q128,bus=ssi` — which
//! also proves those land on the controllers the board table calls I2C bus
//! 0 and SPI bus 0.

use core::fmt::{Debug, Write};

use wasmbed_agent::{HwError, Peripherals};
use wasmbed_boards::{Board, Peripheral};
use wasmbed_fw_device::console;
use wasmbed_fw_device::peripherals::BoardPeripherals;
use wasmbed_protocol::{Pin, Resource};

/// The TMP105's address and registers (TI SBOS531).
const TMP105: u8 = 0x48;
const TEMPERATURE: u8 = 0x00;
const T_HIGH: u8 = 0x03;
/// An SPI NOR flash's READ ID command and QEMU's n25q128's answer.
const READ_ID: u8 = 0x9F;
const N25Q128_ID: [u8; 3] = [0x20, 0xBA, 0x18];

#[derive(Default)]
struct Checks {
    failed: u32,
    passed: u32,
}

impl Checks {
    fn check(&mut self, what: &str, ok: bool, got: impl Debug) {
        let mut out = console();
        if ok {
            self.passed += 1;
            let _ = writeln!(out, "ok: {what}");
        } else {
            self.failed += 1;
            let _ = writeln!(out, "FAIL: {what} (got {got:?})");
        }
    }
}

/// Exits QEMU with status 0 (`pass`) or 1 (semihosting SYS_EXIT).
fn exit(pass: bool) -> ! {
    const SYS_EXIT: u32 = 0x18;
    const APPLICATION_EXIT: u32 = 0x2_0026;
    const RUN_TIME_ERROR: u32 = 0x2_0023;
    let reason = if pass { APPLICATION_EXIT } else { RUN_TIME_ERROR };
    // SAFETY: the semihosting trap; QEMU (with semihosting on) ends the
    // process. Without it this is a fault, and the fault handler resets.
    unsafe { core::arch::asm!("bkpt 0xAB", in("r0") SYS_EXIT, in("r1") reason) };
    loop {
        cortex_m::asm::wfi();
    }
}

/// The FPGAIO LED register, read behind the driver's back.
fn led_register(board: &Board) -> Option<u32> {
    // SAFETY: the board's FPGAIO LED register; a read has no side effect.
    board.leds().map(|base| unsafe { core::ptr::read_volatile(base as usize as *const u32) })
}

/// Runs every check for `board`, then exits QEMU.
pub fn run(board: &'static Board, heap: &'static mut [core::mem::MaybeUninit<u8>]) -> ! {
    wasmbed_fw_device::init(board, heap);
    let _ = writeln!(console(), "peripherals check on {}: {}", board.name, board.describe_peripherals());
    // SAFETY: the only taker of the app peripherals in this image.
    let mut hw = unsafe { BoardPeripherals::take(board) };
    let mut c = Checks::default();

    let r = hw.gpio_write(Pin::Led(7), true);
    c.check("a pin the board lacks is unsupported", r == Err(HwError::Unsupported), r);
    let r = hw.gpio_read(Pin::Button(0));
    c.check("no board has buttons", r == Err(HwError::Unsupported), r);
    let r = hw.uart_write(0, b"x");
    c.check("the console is not an app's port", r == Err(HwError::Unsupported), r);

    if hw.has(&Resource::Gpio(Pin::Led(1))) {
        let r = hw.gpio_write(Pin::Led(1), true);
        let reg = led_register(board);
        c.check("gpio:led1 on sets bit 1 of the FPGAIO register", r.is_ok() && reg == Some(0b10), (r, reg));
        let r = hw.gpio_read(Pin::Led(1));
        c.check("gpio:led1 reads back on", r == Ok(true), r);
        let r = hw.gpio_write(Pin::Led(1), false);
        let reg = led_register(board);
        c.check("gpio:led1 off clears it", r.is_ok() && reg == Some(0), (r, reg));
    }

    if hw.has(&Resource::I2c { bus: 0, addr: TMP105 }) {
        let r = hw.i2c_write(0, TMP105, &[]);
        c.check("i2c:0: the TMP105 acknowledges its address", r.is_ok(), r);
        let r = hw.i2c_write(0, TMP105 + 1, &[]);
        c.check("i2c:0: an address nobody has is a NACK", r == Err(HwError::Nack), r);
        let r = hw.i2c_write(0, TMP105, &[T_HIGH, 0x50, 0x80]);
        let mut back = [0u8; 2];
        let rr = hw.i2c_write_read(0, TMP105, &[T_HIGH], &mut back);
        c.check(
            "i2c:0: T_HIGH written (80.5 C) reads back through a repeated start",
            r.is_ok() && rr.is_ok() && back == [0x50, 0x80],
            (r, rr, back),
        );
        let mut temp = [0xAAu8; 2];
        let r = hw.i2c_write_read(0, TMP105, &[TEMPERATURE], &mut temp);
        c.check("i2c:0: the temperature register reads", r.is_ok() && temp != [0xAA, 0xAA], (r, temp));
        let mut again = [0u8; 2];
        let r = hw.i2c_read(0, TMP105, &mut again);
        c.check("i2c:0: a plain read uses the last pointer", r.is_ok() && again == temp, (r, again));
    }

    if hw.has(&Resource::Spi(0)) {
        let mut id = [READ_ID, 0, 0, 0];
        let r = hw.spi_transfer(0, &mut id);
        if board.peripherals.iter().any(|p| matches!(p, Peripheral::Pl022Spi { .. })) {
            c.check("spi:0: the n25q128 answers READ ID", r.is_ok() && id[1..] == N25Q128_ID, (r, id));
        } else {
            // Nothing can be attached to this bus from QEMU's command line.
            c.check("spi:0: a transfer with no device reads zeros", r.is_ok() && id == [0; 4], (r, id));
        }
    }

    if hw.has(&Resource::Adc(0)) {
        let a = hw.adc_read(0);
        let b = hw.adc_read(3);
        // QEMU's model: every conversion reads 7 more than the last.
        let stepped = matches!((a, b), (Ok(a), Ok(b)) if b == (a + 7) & 0xFFF);
        c.check("adc:0, adc:3: two conversions, as QEMU generates them", stepped, (a, b));
        let r = hw.adc_read(16);
        c.check("adc:16 is past the board's channels", r == Err(HwError::Unsupported), r);
    }

    for port in 1..=4 {
        if hw.has(&Resource::Uart(port)) {
            let w = hw.uart_write(port, b"uart ok\r\n");
            let mut buf = [0u8; 8];
            let r = hw.uart_read(port, &mut buf);
            c.check("uart: a write is taken whole; nothing has arrived", w == Ok(9) && r == Ok(0), (port, w, r));
        }
    }

    let _ = writeln!(console(), "peripherals check: {} passed, {} failed", c.passed, c.failed);
    exit(c.failed == 0)
}

/// The whole `main.rs` of a check image for `$board` (a `wasmbed_boards`
/// constant): the board's name checked against the crate's, the heap, the
/// checks, and the exception handlers devices run.
#[macro_export]
macro_rules! check_main {
    ($board:path) => {
        const _: () = assert!(
            wasmbed_fw_device::same_name(
                $board.name,
                env!("WASMBED_BOARD", "build images with firmware/image-build.rs")
            ),
            "this board is not the one the crate is named after (and its memory.x made for)"
        );

        #[cortex_m_rt::entry]
        fn main() -> ! {
            static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; 16 * 1024] =
                [core::mem::MaybeUninit::uninit(); 16 * 1024];
            // SAFETY (cortex-m-rt): `entry` turns this static into a unique
            // `&'static mut`; nothing else names it.
            peripherals::run(&$board, HEAP_MEM)
        }

        wasmbed_fw_device::exception_handlers!();
    };
}
