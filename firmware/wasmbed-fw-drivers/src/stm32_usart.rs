//! STM32F4 USART, polled (the olimex-stm32-h405 console and its link to the
//! gateway, which QEMU carries as a TCP socket).
//!
//! Registers (offsets): SR 0x00 (bit 5 RXNE, bit 7 TXE), DR 0x04, BRR 0x08,
//! CR1 0x0C (bit 13 UE, bit 3 TE, bit 2 RE). QEMU's model accepts the next
//! received byte only after DR was read, so polled reception loses nothing:
//! the host side is flow-controlled.

use crate::mmio::Mmio;

const SR: usize = 0x00;
const DR: usize = 0x04;
const BRR: usize = 0x08;
const CR1: usize = 0x0C;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;
const CR1_UE: u32 = 1 << 13;
const CR1_TE: u32 = 1 << 3;
const CR1_RE: u32 = 1 << 2;

/// Baud-rate register value for `pclk_hz` and `baud` (16x oversampling:
/// mantissa and 4-bit fraction, rounded).
pub const fn brr(pclk_hz: u32, baud: u32) -> u32 {
    (pclk_hz + baud / 2) / baud
}

/// A USART at a fixed base address.
#[derive(Debug)]
pub struct Usart {
    regs: Mmio,
}

impl Usart {
    /// Takes the USART at `base`: 8N1 at `baud`, transmitter and receiver on.
    ///
    /// # Safety
    ///
    /// `base` must be the address of an STM32 USART that nothing else drives
    /// concurrently, with its clock enabled.
    pub unsafe fn new(base: usize, pclk_hz: u32, baud: u32) -> Self {
        // SAFETY: the caller hands us the USART at `base`; we pass only the
        // offsets above.
        let regs = unsafe { Mmio::new(base) };
        regs.write(BRR, brr(pclk_hz, baud));
        regs.write(CR1, CR1_UE | CR1_TE | CR1_RE);
        Self { regs }
    }

    /// Sends one byte, waiting while the transmit register is full.
    pub fn write_byte(&mut self, b: u8) {
        while self.regs.read(SR) & SR_TXE == 0 {}
        self.regs.write(DR, u32::from(b));
    }

    /// True when a received byte waits in DR.
    pub fn has_byte(&self) -> bool {
        // Reading SR has no side effect.
        self.regs.read(SR) & SR_RXNE != 0
    }

    /// A received byte, if one is waiting.
    pub fn read_byte(&mut self) -> Option<u8> {
        // Reading DR clears RXNE.
        (self.regs.read(SR) & SR_RXNE != 0).then(|| self.regs.read(DR) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::brr;

    #[test]
    fn baud_register_rounds_to_the_nearest_divisor() {
        // 84 MHz APB2, 115200 baud: 729.17 -> 729 (0x2D9: mantissa 45, fraction 9)
        assert_eq!(brr(84_000_000, 115_200), 0x2D9);
        assert_eq!(brr(16_000_000, 9_600), 1667);
    }
}
