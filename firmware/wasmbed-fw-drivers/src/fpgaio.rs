//! MPS2 FPGA I/O block: the user LEDs (register LED0 at offset 0, one bit
//! per LED; it reads back what was written). Apps drive them (`gpio:ledN`);
//! QEMU's monitor shows the register (`xp /1wx <base>`), which is how tests
//! watch an LED from outside the firmware.

use crate::mmio::{Mmio, Regs};

const LED0: usize = 0x00;

/// The FPGAIO LED register of a board.
#[derive(Debug)]
pub struct Leds<R: Regs = Mmio> {
    regs: R,
}

impl Leds {
    /// # Safety
    ///
    /// `base` must be the address of an MPS2 FPGAIO block that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded contract; we pass only LED0.
        Self::with_regs(unsafe { Mmio::new(base) })
    }
}

impl<R: Regs> Leds<R> {
    /// The LEDs behind `regs`.
    pub fn with_regs(regs: R) -> Self {
        Self { regs }
    }

    /// Sets LED `n` on or off, leaving the others.
    pub fn set(&mut self, n: u8, on: bool) {
        let bits = Self::apply(self.get(), n, on);
        self.regs.write(LED0, bits);
    }

    /// Whether LED `n` is on (an LED past the register's 32 bits is off).
    pub fn is_on(&mut self, n: u8) -> bool {
        let mask = 1u32.checked_shl(u32::from(n)).unwrap_or(0);
        self.get() & mask != 0
    }

    /// The LED bits as last written.
    pub fn get(&mut self) -> u32 {
        self.regs.read(LED0)
    }

    fn apply(bits: u32, n: u8, on: bool) -> u32 {
        let mask = 1u32.checked_shl(u32::from(n)).unwrap_or(0);
        if on { bits | mask } else { bits & !mask }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    #[test]
    fn sets_and_clears_one_bit() {
        assert_eq!(Leds::<Mmio>::apply(0b100, 0, true), 0b101);
        assert_eq!(Leds::<Mmio>::apply(0b101, 2, false), 0b001);
        assert_eq!(Leds::<Mmio>::apply(0b1, 40, true), 0b1, "out-of-range LED is ignored");
    }

    #[test]
    fn setting_an_led_reads_the_register_then_writes_it_back_with_one_bit_changed() {
        let mut regs = Recorder::default().fixed(LED0, 0b10);
        Leds::with_regs(&mut regs).set(0, true);
        assert_eq!(regs.log, [Access::R(LED0, 0b10), Access::W(LED0, 0b11)]);
        let mut regs = Recorder::default().fixed(LED0, 0b11);
        Leds::with_regs(&mut regs).set(1, false);
        assert_eq!(regs.log, [Access::R(LED0, 0b11), Access::W(LED0, 0b01)]);
    }

    #[test]
    fn reading_an_led_is_one_read() {
        let mut regs = Recorder::default().fixed(LED0, 0b10);
        let mut leds = Leds::with_regs(&mut regs);
        assert!(!leds.is_on(0));
        assert!(leds.is_on(1));
        assert!(!leds.is_on(200));
        assert_eq!(regs.writes(), []);
    }
}
