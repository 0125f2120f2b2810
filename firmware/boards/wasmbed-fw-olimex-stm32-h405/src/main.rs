//! Wasmbed firmware for the Olimex STM32-H405 (STM32F405, Cortex-M4F) as
//! QEMU's `olimex-stm32-h405` emulates it. The board has no Ethernet: the
//! device reaches the gateway over USART2, which QEMU carries to the
//! gateway's TCP port. Same TLS, same protocol as the Ethernet boards. The
//! board is its entry in the board table (stack in CCM below the boot seed,
//! heap in SRAM); the firmware is shared.
#![no_std]
#![no_main]

wasmbed_fw_device::board_main!(wasmbed_boards::OLIMEX_STM32_H405);
