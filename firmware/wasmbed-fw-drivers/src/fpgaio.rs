//! MPS2 FPGA I/O block: the user LEDs (register LED0 at offset 0, one bit
//! per LED). The firmware lights LED 0 while it holds a session with the
//! gateway.

use core::ptr;

const LED0: usize = 0x00;

/// The FPGAIO LED register of a board.
#[derive(Debug)]
pub struct Leds {
    base: usize,
}

impl Leds {
    /// # Safety
    ///
    /// `base` must be the address of an MPS2 FPGAIO block that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// Sets LED `n` on or off, leaving the others.
    pub fn set(&mut self, n: u8, on: bool) {
        let bits = Self::apply(self.get(), n, on);
        // SAFETY: LED0 is a register of this FPGAIO block (constructor contract).
        unsafe { ptr::write_volatile((self.base + LED0) as *mut u32, bits) }
    }

    /// The LED bits as last written.
    pub fn get(&self) -> u32 {
        // SAFETY: as in `set`.
        unsafe { ptr::read_volatile((self.base + LED0) as *const u32) }
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
