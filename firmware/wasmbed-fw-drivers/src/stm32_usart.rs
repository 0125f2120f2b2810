//! STM32 USART, polled (the olimex-stm32-h405 console, its link to the
//! gateway, which QEMU carries as a TCP socket, and the port apps are
//! granted); the STM32F100's USARTs have the same registers, and the
//! stm32vldiscovery's firmware also takes an interrupt per received byte
//! ([`Usart::listen_rx`]).
//!
//! Registers (offsets): SR 0x00 (bit 5 RXNE, bit 7 TXE), DR 0x04, BRR 0x08,
//! CR1 0x0C (bit 13 UE, bit 5 RXNEIE, bit 3 TE, bit 2 RE). QEMU's model accepts the next
//! received byte only after DR was read, so polled reception loses nothing:
//! the host side is flow-controlled.
//!
//! The link and the console wait for TXE as long as it takes (the session
//! owns the link; the console is QEMU's file); an app's port waits at most
//! [`SPIN_LIMIT`](crate::mmio::SPIN_LIMIT) polls per byte.

use crate::BusError;
use crate::mmio::{Mmio, Regs};

const SR: usize = 0x00;
const DR: usize = 0x04;
const BRR: usize = 0x08;
const CR1: usize = 0x0C;
const SR_RXNE: u32 = 1 << 5;
const SR_TXE: u32 = 1 << 7;
const CR1_UE: u32 = 1 << 13;
const CR1_RXNEIE: u32 = 1 << 5;
const CR1_TE: u32 = 1 << 3;
const CR1_RE: u32 = 1 << 2;

/// Baud-rate register value for `pclk_hz` and `baud` (16x oversampling:
/// mantissa and 4-bit fraction, rounded).
pub const fn brr(pclk_hz: u32, baud: u32) -> u32 {
    (pclk_hz + baud / 2) / baud
}

/// A USART at a fixed base address.
#[derive(Debug)]
pub struct Usart<R: Regs = Mmio> {
    regs: R,
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
        Self::with_regs(unsafe { Mmio::new(base) }, pclk_hz, baud)
    }
}

impl<R: Regs> Usart<R> {
    /// 8N1 at `baud` from `pclk_hz`, transmitter and receiver on.
    pub fn with_regs(mut regs: R, pclk_hz: u32, baud: u32) -> Self {
        regs.write(BRR, brr(pclk_hz, baud));
        regs.write(CR1, CR1_UE | CR1_TE | CR1_RE);
        Self { regs }
    }

    /// Sends one byte, waiting while the transmit register is full.
    pub fn write_byte(&mut self, b: u8) {
        while self.regs.read(SR) & SR_TXE == 0 {}
        self.regs.write(DR, u32::from(b));
    }

    /// Sends one byte once the transmit register is empty, waiting a
    /// bounded time.
    pub fn try_write_byte(&mut self, b: u8) -> Result<(), BusError> {
        self.regs.poll(SR, |sr| sr & SR_TXE != 0)?;
        self.regs.write(DR, u32::from(b));
        Ok(())
    }

    /// Sends `data` with bounded waits; returns how many bytes went (fewer
    /// when the port stalled; an error when not even one did).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, BusError> {
        for (n, &b) in data.iter().enumerate() {
            if let Err(e) = self.try_write_byte(b) {
                return if n == 0 { Err(e) } else { Ok(n) };
            }
        }
        Ok(data.len())
    }

    /// Interrupts (the USART's IRQ) while a received byte waits, when `on`.
    pub fn listen_rx(&mut self, on: bool) {
        let cr1 = self.regs.read(CR1);
        self.regs.write(CR1, if on { cr1 | CR1_RXNEIE } else { cr1 & !CR1_RXNEIE });
    }

    /// True when a received byte waits in DR.
    pub fn has_byte(&mut self) -> bool {
        // Reading SR has no side effect.
        self.regs.read(SR) & SR_RXNE != 0
    }

    /// A received byte, if one is waiting.
    pub fn read_byte(&mut self) -> Option<u8> {
        // Reading DR clears RXNE.
        (self.regs.read(SR) & SR_RXNE != 0).then(|| self.regs.read(DR) as u8)
    }

    /// Copies what has arrived into `buf`, without waiting; returns how
    /// many bytes.
    pub fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in buf.iter_mut() {
            let Some(b) = self.read_byte() else { break };
            *slot = b;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    #[test]
    fn baud_register_rounds_to_the_nearest_divisor() {
        // 84 MHz APB2, 115200 baud: 729.17 -> 729 (0x2D9: mantissa 45, fraction 9)
        assert_eq!(brr(84_000_000, 115_200), 0x2D9);
        assert_eq!(brr(16_000_000, 9_600), 1667);
    }

    #[test]
    fn setup_sets_the_rate_then_enables() {
        let mut regs = Recorder::default();
        let _ = Usart::with_regs(&mut regs, 16_000_000, 115_200);
        assert_eq!(regs.writes(), [(BRR, 139), (CR1, 0x200C)]);
    }

    #[test]
    fn an_app_write_waits_for_txe_a_bounded_time() {
        let mut regs = Recorder::default().script(SR, &[0, SR_TXE]);
        let mut u = Usart::with_regs(&mut regs, 16_000_000, 115_200);
        assert_eq!(u.write(b"x"), Ok(1));
        assert_eq!(regs.log[2..], [Access::R(SR, 0), Access::R(SR, SR_TXE), Access::W(DR, u32::from(b'x'))]);
        let mut regs = Recorder::default();
        let mut u = Usart::with_regs(&mut regs, 16_000_000, 115_200);
        assert_eq!(u.write(b"x"), Err(BusError::Timeout));
    }

    #[test]
    fn the_receive_interrupt_is_switched_in_cr1_alone() {
        let mut regs = Recorder::default().script(CR1, &[0x200C, 0x202C]);
        let mut u = Usart::with_regs(&mut regs, 8_000_000, 115_200);
        u.listen_rx(true);
        u.listen_rx(false);
        assert_eq!(regs.writes()[2..], [(CR1, 0x202C), (CR1, 0x200C)]);
    }

    #[test]
    fn reading_takes_only_what_has_arrived() {
        let mut regs = Recorder::default().script(SR, &[SR_RXNE, 0]).script(DR, &[0x42]);
        let mut u = Usart::with_regs(&mut regs, 16_000_000, 115_200);
        let mut buf = [0u8; 4];
        assert_eq!(u.read(&mut buf), 1);
        assert_eq!(buf[0], 0x42);
        assert_eq!(regs.log[2..], [Access::R(SR, SR_RXNE), Access::R(DR, 0x42), Access::R(SR, 0)]);
    }
}
