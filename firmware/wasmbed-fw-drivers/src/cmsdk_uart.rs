//! ARM CMSDK APB UART (the MPS2 boards' console, and the serial ports apps
//! are granted), polled.
//!
//! Registers (offsets): DATA 0x00, STATE 0x04 (bit 0 TX buffer full, bit 1
//! RX buffer full), CTRL 0x08 (bit 0 TX enable, bit 1 RX enable), BAUDDIV
//! 0x10 (minimum 16). One byte of buffering each way: QEMU's model takes
//! the next received byte once DATA has been read.
//!
//! Sending waits for room at most [`SPIN_LIMIT`](crate::mmio::SPIN_LIMIT) polls per byte (a port
//! whose host side stalls loses bytes, the firmware does not stop);
//! receiving takes only what has arrived.

use core::fmt;

use crate::BusError;
use crate::mmio::{Mmio, Regs};

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

/// A CMSDK UART at a fixed base address.
#[derive(Debug)]
pub struct CmsdkUart<R: Regs = Mmio> {
    regs: R,
}

impl CmsdkUart {
    /// Takes the UART at `base` and enables its transmitter (a console).
    ///
    /// # Safety
    ///
    /// `base` must be the address of a CMSDK UART that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: the caller guarantees `base` maps a CMSDK UART we own; we
        // pass only the offsets above.
        Self::with_regs(unsafe { Mmio::new(base) }, false)
    }

    /// Takes the UART at `base` and enables its transmitter and receiver.
    ///
    /// # Safety
    ///
    /// As [`new`](Self::new).
    pub unsafe fn new_duplex(base: usize) -> Self {
        // SAFETY: forwarded contract.
        Self::with_regs(unsafe { Mmio::new(base) }, true)
    }
}

impl<R: Regs> CmsdkUart<R> {
    /// Sets the divider and enables the transmitter, and the receiver when
    /// `receive`.
    pub fn with_regs(mut regs: R, receive: bool) -> Self {
        regs.write(BAUDDIV, 16);
        regs.write(CTRL, if receive { CTRL_TX_EN | CTRL_RX_EN } else { CTRL_TX_EN });
        Self { regs }
    }

    /// Sends one byte once the transmit buffer has room; drops it when no
    /// room comes (see the module doc).
    pub fn write_byte(&mut self, b: u8) {
        let _ = self.try_write_byte(b);
    }

    /// Sends one byte once the transmit buffer has room.
    pub fn try_write_byte(&mut self, b: u8) -> Result<(), BusError> {
        self.regs.poll(STATE, |s| s & STATE_TX_FULL == 0)?;
        self.regs.write(DATA, u32::from(b));
        Ok(())
    }

    /// Sends `data`; returns how many bytes went (fewer when the port
    /// stalled; an error when not even one did).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, BusError> {
        for (n, &b) in data.iter().enumerate() {
            if let Err(e) = self.try_write_byte(b) {
                return if n == 0 { Err(e) } else { Ok(n) };
            }
        }
        Ok(data.len())
    }

    /// A received byte, if one is waiting.
    pub fn read_byte(&mut self) -> Option<u8> {
        // Reading DATA empties the buffer.
        (self.regs.read(STATE) & STATE_RX_FULL != 0).then(|| self.regs.read(DATA) as u8)
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

impl<R: Regs> fmt::Write for CmsdkUart<R> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    #[test]
    fn a_console_transmits_only_an_app_port_receives_too() {
        let mut regs = Recorder::default();
        let _ = CmsdkUart::with_regs(&mut regs, false);
        assert_eq!(regs.writes(), [(BAUDDIV, 16), (CTRL, 1)]);
        let mut regs = Recorder::default();
        let _ = CmsdkUart::with_regs(&mut regs, true);
        assert_eq!(regs.writes(), [(BAUDDIV, 16), (CTRL, 3)]);
    }

    #[test]
    fn a_byte_waits_while_the_transmit_buffer_is_full() {
        let mut regs = Recorder::default().script(STATE, &[STATE_TX_FULL, 0]);
        let mut u = CmsdkUart::with_regs(&mut regs, true);
        assert_eq!(u.write(b"A"), Ok(1));
        assert_eq!(regs.log[2..], [Access::R(STATE, 1), Access::R(STATE, 0), Access::W(DATA, 0x41)]);
    }

    #[test]
    fn a_stalled_port_takes_what_it_can_and_never_hangs() {
        let mut regs = Recorder::default().script(STATE, &[0]).fixed(STATE, STATE_TX_FULL);
        let mut u = CmsdkUart::with_regs(&mut regs, true);
        assert_eq!(u.write(b"abc"), Ok(1));
        let mut regs = Recorder::default().fixed(STATE, STATE_TX_FULL);
        let mut u = CmsdkUart::with_regs(&mut regs, true);
        assert_eq!(u.write(b"abc"), Err(BusError::Timeout));
        assert!(regs.writes().iter().all(|&(o, _)| o != DATA));
    }

    #[test]
    fn reading_takes_only_what_has_arrived() {
        let mut regs = Recorder::default()
            .script(STATE, &[STATE_RX_FULL, STATE_RX_FULL, 0])
            .script(DATA, &[b'h'.into(), b'i'.into()]);
        let mut u = CmsdkUart::with_regs(&mut regs, true);
        let mut buf = [0u8; 8];
        assert_eq!(u.read(&mut buf), 2);
        assert_eq!(u.read(&mut []), 0);
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(
            regs.log[2..],
            [
                Access::R(STATE, 2),
                Access::R(DATA, u32::from(b'h')),
                Access::R(STATE, 2),
                Access::R(DATA, u32::from(b'i')),
                Access::R(STATE, 0),
            ]
        );
    }
}
