//! Arm PrimeCell PL022 synchronous serial port (the MPS2 boards' SPI), as
//! an SPI master: Motorola frames, mode 0, 8-bit, polled.
//!
//! Registers (offsets): CR0 0x00 (bits 3:0 data size − 1, bits 5:4 frame
//! format, bit 6 SPO, bit 7 SPH, bits 15:8 SCR), CR1 0x04 (bit 0 loopback,
//! bit 1 SSE enable, bit 2 MS slave), DR 0x08, SR 0x0C (bit 1 TNF transmit
//! FIFO not full, bit 2 RNE receive FIFO not empty, bit 4 BSY), CPSR 0x10
//! (even clock prescaler, 2-254).
//!
//! Each byte is written, then its answer awaited (RNE) and read, so the
//! 8-deep FIFOs never overflow; a transfer ends when BSY clears. Bytes left
//! in the receive FIFO by an earlier, failed transfer are drained first.
//! QEMU's model transfers at once and never shows BSY; with no device on
//! the bus it answers 0.

use crate::BusError;
use crate::mmio::{Mmio, Regs};

const CR0: usize = 0x00;
const CR1: usize = 0x04;
const DR: usize = 0x08;
const SR: usize = 0x0C;
const CPSR: usize = 0x10;
/// 8-bit Motorola frames, clock idle low, sampled on the first edge
/// (mode 0); SCR 11 with CPSR 2: 25 MHz / (2 × 12), about 1 MHz on MPS2.
const CR0_MODE0_8BIT: u32 = 0x7 | 11 << 8;
const CPSR_DIV: u32 = 2;
const CR1_LBM: u32 = 1 << 0;
const CR1_SSE: u32 = 1 << 1;
const SR_TNF: u32 = 1 << 1;
const SR_RNE: u32 = 1 << 2;
const SR_BSY: u32 = 1 << 4;
const FIFO_DEPTH: usize = 8;

/// A PL022 SPI master.
#[derive(Debug)]
pub struct Pl022<R: Regs = Mmio> {
    regs: R,
    cr1: u32,
}

impl Pl022 {
    /// Takes the PL022 at `base` and enables it as a master.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a PL022 that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded contract; we pass only the offsets above.
        Self::with_regs(unsafe { Mmio::new(base) })
    }
}

impl<R: Regs> Pl022<R> {
    /// Configures the port behind `regs` (disabled while its format is set)
    /// and enables it as a master.
    pub fn with_regs(mut regs: R) -> Self {
        regs.write(CR1, 0);
        regs.write(CR0, CR0_MODE0_8BIT);
        regs.write(CPSR, CPSR_DIV);
        regs.write(CR1, CR1_SSE);
        Self { regs, cr1: CR1_SSE }
    }

    /// Loops the output back to the input inside the port (a self-test
    /// with no device on the bus).
    pub fn set_loopback(&mut self, on: bool) {
        self.cr1 = if on { self.cr1 | CR1_LBM } else { self.cr1 & !CR1_LBM };
        self.regs.write(CR1, self.cr1);
    }

    /// Full duplex: each byte of `buf` goes out and is replaced by the one
    /// that came in.
    pub fn transfer(&mut self, buf: &mut [u8]) -> Result<(), BusError> {
        self.drain();
        for b in buf.iter_mut() {
            self.regs.poll(SR, |sr| sr & SR_TNF != 0)?;
            self.regs.write(DR, u32::from(*b));
            self.regs.poll(SR, |sr| sr & SR_RNE != 0)?;
            *b = self.regs.read(DR) as u8;
        }
        self.regs.poll(SR, |sr| sr & SR_BSY == 0).map(drop)
    }

    fn drain(&mut self) {
        for _ in 0..FIFO_DEPTH {
            if self.regs.read(SR) & SR_RNE == 0 {
                return;
            }
            let _ = self.regs.read(DR);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    #[test]
    fn setup_disables_configures_then_enables() {
        let mut regs = Recorder::default();
        let _ = Pl022::with_regs(&mut regs);
        assert_eq!(regs.writes(), [(CR1, 0), (CR0, 0x0B07), (CPSR, 2), (CR1, CR1_SSE)]);
    }

    #[test]
    fn each_byte_waits_for_room_goes_out_then_its_answer_is_read() {
        // SR: empty receive FIFO at first (nothing to drain); then per byte
        // "room" and "answer waiting"; finally not busy.
        let ready = SR_TNF | 1;
        let mut regs = Recorder::default()
            .script(SR, &[ready, ready, ready | SR_RNE, ready | SR_BSY, ready | SR_RNE, ready | SR_BSY, ready])
            .script(DR, &[0x5A, 0xC3]);
        let mut p = Pl022::with_regs(&mut regs);
        let mut buf = [0x9F, 0x00];
        p.transfer(&mut buf).unwrap();
        assert_eq!(buf, [0x5A, 0xC3]);
        assert_eq!(
            regs.log[4..],
            [
                Access::R(SR, ready),
                Access::R(SR, ready),
                Access::W(DR, 0x9F),
                Access::R(SR, ready | SR_RNE),
                Access::R(DR, 0x5A),
                Access::R(SR, ready | SR_BSY),
                Access::W(DR, 0x00),
                Access::R(SR, ready | SR_RNE),
                Access::R(DR, 0xC3),
                Access::R(SR, ready | SR_BSY),
                Access::R(SR, ready),
            ]
        );
    }

    #[test]
    fn stale_bytes_are_drained_first_and_at_most_a_fifo_of_them() {
        let mut regs = Recorder::default().script(SR, &[SR_RNE, SR_RNE]).fixed(SR, SR_TNF | SR_RNE);
        let mut p = Pl022::with_regs(&mut regs);
        p.transfer(&mut []).unwrap();
        let dr_reads = regs.log.iter().filter(|a| matches!(a, Access::R(DR, _))).count();
        assert_eq!(dr_reads, FIFO_DEPTH);
    }

    #[test]
    fn a_port_that_never_answers_times_out() {
        let mut regs = Recorder::default().fixed(SR, SR_TNF);
        let mut p = Pl022::with_regs(&mut regs);
        assert_eq!(p.transfer(&mut [1]), Err(BusError::Timeout));
        let mut regs = Recorder::default().fixed(SR, 0);
        let mut p = Pl022::with_regs(&mut regs);
        assert_eq!(p.transfer(&mut [1]), Err(BusError::Timeout), "no room in the transmit FIFO");
        assert!(regs.writes().iter().all(|&(o, _)| o != DR), "nothing was sent");
    }

    #[test]
    fn loopback_is_a_cr1_bit_kept_with_enable() {
        let mut regs = Recorder::default();
        let mut p = Pl022::with_regs(&mut regs);
        p.set_loopback(true);
        p.set_loopback(false);
        assert_eq!(regs.writes()[4..], [(CR1, CR1_SSE | CR1_LBM), (CR1, CR1_SSE)]);
    }
}
