//! STM32F2/F4 SPI (QEMU `stm32f2xx-spi`), as a master: mode 0, 8-bit,
//! software slave management, polled.
//!
//! Registers (offsets): CR1 0x00 (bit 2 MSTR, bits 5:3 BR baud divider,
//! bit 6 SPE enable, bit 8 SSI, bit 9 SSM), SR 0x08 (bit 0 RXNE, bit 1
//! TXE, bit 7 BSY), DR 0x0C.
//!
//! Each byte waits for TXE, goes out through DR, and its answer is read
//! once RXNE is set; the transfer ends when BSY clears. QEMU's model
//! transfers when DR is written and — a quirk of the model, not the chip —
//! transfers again when DR is read; with no device on the bus both answer
//! 0.

use crate::BusError;
use crate::mmio::{Mmio, Regs};

const CR1: usize = 0x00;
const SR: usize = 0x08;
const DR: usize = 0x0C;
const CR1_MSTR: u32 = 1 << 2;
/// f_PCLK / 16: 1 MHz from the 16 MHz HSI.
const CR1_BR_DIV16: u32 = 0b011 << 3;
const CR1_SPE: u32 = 1 << 6;
const CR1_SSI: u32 = 1 << 8;
const CR1_SSM: u32 = 1 << 9;
const SR_RXNE: u32 = 1 << 0;
const SR_TXE: u32 = 1 << 1;
const SR_BSY: u32 = 1 << 7;
/// Master, software NSS held high (so the port never drops out of master
/// mode), mode 0, MSB first, 8-bit frames.
const CR1_MASTER: u32 = CR1_MSTR | CR1_BR_DIV16 | CR1_SSI | CR1_SSM;

/// An STM32 SPI master.
#[derive(Debug)]
pub struct Stm32Spi<R: Regs = Mmio> {
    regs: R,
}

impl Stm32Spi {
    /// Takes the SPI at `base` and enables it as a master.
    ///
    /// # Safety
    ///
    /// `base` must be the address of an STM32 SPI that nothing else drives,
    /// with its clock enabled.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded contract; we pass only the offsets above.
        Self::with_regs(unsafe { Mmio::new(base) })
    }
}

impl<R: Regs> Stm32Spi<R> {
    /// Configures the port behind `regs`, then enables it (the reference
    /// manual asks for the format to be set with SPE clear).
    pub fn with_regs(mut regs: R) -> Self {
        regs.write(CR1, CR1_MASTER);
        regs.write(CR1, CR1_MASTER | CR1_SPE);
        Self { regs }
    }

    /// Full duplex: each byte of `buf` goes out and is replaced by the one
    /// that came in.
    pub fn transfer(&mut self, buf: &mut [u8]) -> Result<(), BusError> {
        for b in buf.iter_mut() {
            self.regs.poll(SR, |sr| sr & SR_TXE != 0)?;
            self.regs.write(DR, u32::from(*b));
            self.regs.poll(SR, |sr| sr & SR_RXNE != 0)?;
            *b = self.regs.read(DR) as u8;
        }
        self.regs.poll(SR, |sr| sr & SR_BSY == 0).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    #[test]
    fn setup_configures_then_enables() {
        let mut regs = Recorder::default();
        let _ = Stm32Spi::with_regs(&mut regs);
        assert_eq!(regs.writes(), [(CR1, 0x031C), (CR1, 0x035C)]);
    }

    #[test]
    fn a_byte_waits_for_txe_goes_out_then_waits_for_rxne() {
        let mut regs =
            Recorder::default().script(SR, &[0, SR_TXE, SR_TXE | SR_RXNE, SR_TXE | SR_BSY, SR_TXE]).script(DR, &[0xEF]);
        let mut spi = Stm32Spi::with_regs(&mut regs);
        let mut buf = [0x9F];
        spi.transfer(&mut buf).unwrap();
        assert_eq!(buf, [0xEF]);
        assert_eq!(
            regs.log[2..],
            [
                Access::R(SR, 0),
                Access::R(SR, SR_TXE),
                Access::W(DR, 0x9F),
                Access::R(SR, SR_TXE | SR_RXNE),
                Access::R(DR, 0xEF),
                Access::R(SR, SR_TXE | SR_BSY),
                Access::R(SR, SR_TXE),
            ]
        );
    }

    #[test]
    fn no_answer_times_out() {
        let mut regs = Recorder::default().fixed(SR, SR_TXE);
        assert_eq!(Stm32Spi::with_regs(&mut regs).transfer(&mut [1, 2]), Err(BusError::Timeout));
        assert_eq!(regs.writes().iter().filter(|(o, _)| *o == DR).count(), 1, "the second byte never went");
    }
}
