//! Wasmbed firmware for Arm MPS2 AN385 (Cortex-M3, 25 MHz) as QEMU's
//! `mps2-an385` emulates it. The board is data (`lib.rs`); the firmware is shared.
#![no_std]
#![no_main]

use wasmbed_fw_device::board_main;

board_main!(wasmbed_fw_mps2_an385::BOARD, 1024 * 1024);
