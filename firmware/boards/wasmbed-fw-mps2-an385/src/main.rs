//! Wasmbed firmware for Arm MPS2 AN385 (Cortex-M3, 25 MHz) as QEMU's
//! `mps2-an385` emulates it. The board is its entry in the board table;
//! the firmware is shared.
#![no_std]
#![no_main]

wasmbed_fw_device::board_main!(wasmbed_boards::MPS2_AN385);
