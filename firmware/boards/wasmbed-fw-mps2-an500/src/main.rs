//! Wasmbed firmware for Arm MPS2 AN500 (Cortex-M7 with FPU, 25 MHz) as
//! QEMU's `mps2-an500` emulates it: PSRAM and Ethernet sit elsewhere.
//! The board is its entry in the board table; the firmware is shared.
#![no_std]
#![no_main]

wasmbed_fw_device::board_main!(wasmbed_boards::MPS2_AN500);
