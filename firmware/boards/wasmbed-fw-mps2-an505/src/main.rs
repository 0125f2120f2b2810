//! Wasmbed firmware for Arm MPS2 AN505 (Cortex-M33, 20 MHz) as QEMU's
//! `mps2-an505` emulates it. Secure-only: code, data and peripherals are
//! used through their Secure aliases (0x1xxx_xxxx, 0x3xxx_xxxx, 0x5xxx_xxxx),
//! so no SAU, MPC or PPC setup is needed. The board is its entry in the
//! board table; the firmware is shared.
#![no_std]
#![no_main]

wasmbed_fw_device::board_main!(wasmbed_boards::MPS2_AN505);
