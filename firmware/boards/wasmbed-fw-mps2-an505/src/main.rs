//! Wasmbed firmware for Arm MPS2 AN505 (Cortex-M33, 20 MHz) as QEMU's
//! `mps2-an505` emulates it. Secure-only: code, data and peripherals are
//! used through their Secure aliases (0x1xxx_xxxx, 0x3xxx_xxxx, 0x5xxx_xxxx),
//! so no SAU, MPC or PPC setup is needed.
#![no_std]
#![no_main]

use wasmbed_fw_device::{Board, Link, Uart, board_main};

static BOARD: Board = Board {
    name: "mps2-an505",
    core_hz: 20_000_000,
    console: Uart::Cmsdk(0x5020_0000),
    fpgaio: Some(0x5030_2000),
    link: Link::Lan9118 { base: 0x5200_0000, ip: [10, 0, 2, 15], router: [10, 0, 2, 2] },
    // The top MiB of SSRAM2/3, outside the linked memory (see memory.x).
    bundle: (0x3830_0000, 16 * 1024),
    clock_enables: &[],
    boot_seed: 0x3830_4000,
};

board_main!(BOARD, 1024 * 1024);
