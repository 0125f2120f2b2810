//! MPS2 FPGA I/O block: the user LEDs (register LED0 at offset 0, one bit
//! per LED). The firmware lights LED 0 while it holds a session with the
//! gateway.

use crate::mmio::Mmio;

const LED0: usize = 0x00;

/// The FPGAIO LED register of a board.
#[derive(Debug)]
pub struct Leds {
    regs: Mmio,
}

impl Leds {
    /// # Safety
    ///
    /// `base` must be the address of an MPS2 FPGAIO block that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded contract; we pass only LED0.
        Self { regs: unsafe { Mmio::new(base) } }
    }

    /// Sets LED `n` on or off, leaving the others.
    pub fn set(&mut self, n: u8, on: bool) {
        let bits = Self::apply(self.get(), n, on);
        self.regs.write(LED0, bits);
    }

    /// The LED bits as last written.
    pub fn get(&self) -> u32 {
        self.regs.read(LED0)
    }

    fn apply(bits: u32, n: u8, on: bool) -> u32 {
        let mask = 1u32.checked_shl(u32::from(n)).unwrap_or(0);
        if on { bits | mask } else { bits & !mask }
    }
}

#[cfg(test)]
mod tests {
    use super::Leds;

    #[test]
    fn sets_and_clears_one_bit() {
        assert_eq!(Leds::apply(0b100, 0, true), 0b101);
        assert_eq!(Leds::apply(0b101, 2, false), 0b001);
        assert_eq!(Leds::apply(0b1, 40, true), 0b1, "out-of-range LED is ignored");
    }
}
