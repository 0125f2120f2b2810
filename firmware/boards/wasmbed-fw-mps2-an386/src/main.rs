//! Wasmbed firmware for Arm MPS2 AN386 (Cortex-M4 with FPU, 25 MHz) as
//! QEMU's `mps2-an386` emulates it: the AN385 memory map on a newer core.
//! The board is its entry in the board table; the firmware is shared.
#![no_std]
#![no_main]

wasmbed_fw_device::board_main!(wasmbed_boards::MPS2_AN386);
