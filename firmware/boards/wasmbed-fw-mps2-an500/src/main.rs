//! Wasmbed firmware for Arm MPS2 AN500 (Cortex-M7 with FPU, 25 MHz) as
//! QEMU's `mps2-an500` emulates it: PSRAM and Ethernet sit elsewhere.
#![no_std]
#![no_main]

use wasmbed_fw_device::{Board, Link, Uart, board_main};

static BOARD: Board = Board {
    name: "mps2-an500",
    core_hz: 25_000_000,
    console: Uart::Cmsdk(0x4000_4000),
    fpgaio: Some(0x4002_8000),
    link: Link::Lan9118 { base: 0xA000_0000, ip: [10, 0, 2, 15], router: [10, 0, 2, 2] },
    // PSRAM, outside the linked memory (see memory.x).
    bundle: (0x6000_0000, 16 * 1024),
    clock_enables: &[],
    boot_seed: 0x6000_4000,
};

board_main!(BOARD, 1024 * 1024);
