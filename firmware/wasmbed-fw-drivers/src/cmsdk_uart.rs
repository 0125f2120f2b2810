//! ARM CMSDK APB UART (the MPS2 boards' console), transmit side.
//!
//! Registers (offsets): DATA 0x00, STATE 0x04 (bit 0: TX buffer full),
//! CTRL 0x08 (bit 0: TX enable), BAUDDIV 0x10 (minimum 16).

use core::fmt;

use crate::mmio::Mmio;

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1;
const CTRL_TX_EN: u32 = 1;

/// A CMSDK UART at a fixed base address.
#[derive(Debug)]
pub struct CmsdkUart {
    regs: Mmio,
}

impl CmsdkUart {
    /// Takes the UART at `base` and enables its transmitter.
    ///
    /// # Safety
    ///
    /// `base` must be the address of a CMSDK UART that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps a CMSDK UART we own; we
        // pass only the offsets above.
        let regs = unsafe { Mmio::new(base) };
        regs.write(BAUDDIV, 16);
        regs.write(CTRL, CTRL_TX_EN);
        Self { regs }
    }

    /// Sends one byte, waiting while the transmit buffer is full.
    pub fn write_byte(&mut self, b: u8) {
        while self.regs.read(STATE) & STATE_TX_FULL != 0 {}
        self.regs.write(DATA, u32::from(b));
    }
}

impl fmt::Write for CmsdkUart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
