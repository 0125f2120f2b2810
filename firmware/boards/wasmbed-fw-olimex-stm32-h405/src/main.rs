//! Wasmbed firmware for the Olimex STM32-H405 (STM32F405, Cortex-M4F) as
//! QEMU's `olimex-stm32-h405` emulates it. The board has no Ethernet: the
//! device reaches the gateway over USART2, which QEMU carries to the
//! gateway's TCP port. Same TLS, same protocol as the Ethernet boards.
#![no_std]
#![no_main]

use wasmbed_fw_device::{Board, Link, Uart, board_main};

/// RCC enable registers: APB1ENR (USART2EN, bit 17), APB2ENR (USART1EN, bit 4).
const RCC_APB1ENR: usize = 0x4002_3840;
const RCC_APB2ENR: usize = 0x4002_3844;
/// Peripheral clock after reset (HSI); QEMU does not model the prescalers.
const PCLK_HZ: u32 = 16_000_000;

static BOARD: Board = Board {
    name: "olimex-stm32-h405",
    // QEMU clocks this machine's core at 168 MHz (its SYSCLK), as the
    // real board runs it once the PLL is set up.
    core_hz: 168_000_000,
    console: Uart::Stm32 { base: 0x4001_1000, pclk_hz: PCLK_HZ },
    fpgaio: None,
    link: Link::Uart(Uart::Stm32 { base: 0x4000_4400, pclk_hz: PCLK_HZ }),
    // The last flash sector and the top of CCM (see memory.x).
    bundle: (0x080F_C000, 16 * 1024),
    clock_enables: &[(RCC_APB1ENR, 1 << 17), (RCC_APB2ENR, 1 << 4)],
    boot_seed: 0x1000_FF00,
};

board_main!(BOARD, 112 * 1024);
