//! Drivers for the peripherals of the boards Wasmbed supports, written from
//! the datasheets and QEMU's models. Each driver is a thin owner of one
//! peripheral's registers; board crates give them addresses as data.
#![no_std]

pub mod cmsdk_uart;
pub mod fpgaio;
pub mod lan9118;
pub mod mmio;
pub mod stm32_usart;
pub mod systick;

/// The TCP/IP stack the Ethernet driver plugs into, re-exported so boards
/// use the same version.
pub use smoltcp;
