//! Arm MPS2 AN385 (Cortex-M3, 25 MHz) as QEMU's `mps2-an385` emulates it:
//! the board's facts, as data. The image (`main.rs`) and the test and
//! benchmark images for this board use the same value; depending on this
//! crate also brings its `memory.x` into their link.
#![no_std]

use wasmbed_fw_device::{Board, Link, Uart};

/// The board.
pub static BOARD: Board = Board {
    name: "mps2-an385",
    core_hz: 25_000_000,
    console: Uart::Cmsdk(0x4000_4000),
    fpgaio: Some(0x4002_8000),
    link: Link::Lan9118 { base: 0x4020_0000, ip: [10, 0, 2, 15], router: [10, 0, 2, 2] },
    // PSRAM, outside the linked memory (see memory.x).
    bundle: (0x2100_0000, 16 * 1024),
    clock_enables: &[],
    boot_seed: 0x2100_4000,
};
