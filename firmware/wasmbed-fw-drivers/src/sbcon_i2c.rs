//! Arm SBCon two-wire serial bus (the MPS2 boards' I2C; QEMU
//! `versatile_i2c`), as an I2C master. The controller is two open-drain
//! lines and nothing else, so the protocol is bit-banged here.
//!
//! Registers (offsets): CONTROL 0x00 — read: the lines (bit 0 SCL, bit 1
//! SDA) as the bus sees them; write: the bits set are released (go high).
//! CONTROLC 0x04 — write: the bits set are driven low.
//!
//! The rules kept: SDA changes only while SCL is low, except for the two
//! conditions — START is SDA falling while SCL is high, STOP is SDA rising
//! while SCL is high. Bits go MSB first and are sampled with SCL high; the
//! ninth clock of each byte carries the receiver's ACK (SDA low). Every
//! transaction ends with a STOP, a NACK included, so the bus is left idle.
//! A target may hold SCL low (clock stretching): each rising edge waits for
//! SCL to read high, at most [`SPIN_LIMIT`](crate::mmio::SPIN_LIMIT) polls.
//!
//! No delays between edges: QEMU's model reacts at once. On silicon a
//! 100 kHz bus would need a 5 µs half period between them.

use crate::BusError;
use crate::mmio::{Mmio, Regs};

const CONTROL: usize = 0x00;
const CONTROLS: usize = 0x00;
const CONTROLC: usize = 0x04;
const SCL: u32 = 1 << 0;
const SDA: u32 = 1 << 1;
const READ: u8 = 1;
const WRITE: u8 = 0;

/// An SBCon I2C master.
#[derive(Debug)]
pub struct SbconI2c<R: Regs = Mmio> {
    regs: R,
}

impl SbconI2c {
    /// Takes the controller at `base`. The lines are left as they are until
    /// the first transaction.
    ///
    /// # Safety
    ///
    /// `base` must be the address of an SBCon that nothing else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded contract; we pass only the offsets above.
        Self::with_regs(unsafe { Mmio::new(base) })
    }
}

impl<R: Regs> SbconI2c<R> {
    /// A master over `regs`.
    pub fn with_regs(regs: R) -> Self {
        Self { regs }
    }

    /// Writes `data` to the target at 7-bit `addr` (no data: an address
    /// probe).
    pub fn write(&mut self, addr: u8, data: &[u8]) -> Result<(), BusError> {
        self.transaction(addr, data, &mut [])
    }

    /// Reads `buf.len()` bytes from the target at `addr`.
    pub fn read(&mut self, addr: u8, buf: &mut [u8]) -> Result<(), BusError> {
        self.transaction(addr, &[], buf)
    }

    /// Writes `data`, then, after a repeated START, reads `buf.len()` bytes
    /// (how a register of a sensor is read).
    pub fn write_read(&mut self, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        self.transaction(addr, data, buf)
    }

    fn transaction(&mut self, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        if addr > 0x7f {
            return Err(BusError::Invalid);
        }
        let done = self.transfer(addr, data, buf);
        // Whatever happened, leave the bus idle.
        let stopped = self.stop();
        done.and(stopped)
    }

    fn transfer(&mut self, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), BusError> {
        if !data.is_empty() || buf.is_empty() {
            self.start()?;
            self.send(addr << 1 | WRITE)?;
            for &b in data {
                self.send(b)?;
            }
        }
        if let Some(last) = buf.len().checked_sub(1) {
            self.start()?;
            self.send(addr << 1 | READ)?;
            for (i, b) in buf.iter_mut().enumerate() {
                // ACK every byte but the last: a NACK tells the target to stop.
                *b = self.read_byte(i < last)?;
            }
        }
        Ok(())
    }

    /// Releases SCL and waits until it reads high; returns both lines.
    fn scl_high(&mut self) -> Result<u32, BusError> {
        self.regs.write(CONTROLS, SCL);
        self.regs.poll(CONTROL, |lines| lines & SCL != 0)
    }

    fn scl_low(&mut self) {
        self.regs.write(CONTROLC, SCL);
    }

    fn sda(&mut self, high: bool) {
        self.regs.write(if high { CONTROLS } else { CONTROLC }, SDA);
    }

    /// START, or a repeated START after a byte (SCL low then).
    fn start(&mut self) -> Result<(), BusError> {
        self.sda(true);
        self.scl_high()?;
        self.sda(false);
        self.scl_low();
        Ok(())
    }

    /// STOP; SCL is pulled low first in case an error left it high.
    fn stop(&mut self) -> Result<(), BusError> {
        self.scl_low();
        self.sda(false);
        self.scl_high()?;
        self.sda(true);
        Ok(())
    }

    /// Clocks out `byte`, MSB first, then samples the ACK.
    fn send(&mut self, byte: u8) -> Result<(), BusError> {
        for i in (0..8).rev() {
            self.sda(byte >> i & 1 != 0);
            self.scl_high()?;
            self.scl_low();
        }
        // Release SDA for the receiver to pull low.
        self.sda(true);
        let lines = self.scl_high()?;
        self.scl_low();
        if lines & SDA == 0 { Ok(()) } else { Err(BusError::Nack) }
    }

    /// Clocks in a byte, MSB first, then ACKs it (or not).
    fn read_byte(&mut self, ack: bool) -> Result<u8, BusError> {
        self.sda(true);
        let mut byte = 0u8;
        for _ in 0..8 {
            let lines = self.scl_high()?;
            byte = byte << 1 | u8::from(lines & SDA != 0);
            self.scl_low();
        }
        if ack {
            self.sda(false);
        }
        self.scl_high()?;
        self.scl_low();
        Ok(byte)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::VecDeque;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    /// What a target does in the current bit.
    #[derive(Debug, Clone, Copy, PartialEq)]
    enum St {
        /// Not addressed: watches for START.
        Idle,
        /// Shifting in a byte from the master.
        Rx { bits: u8, byte: u8, addr: bool },
        /// Driving ACK (or not) on the ninth clock; then sends or receives.
        Ack { then_send: bool },
        /// Shifting out a byte.
        Tx { bits: u8, byte: u8 },
        /// The master ACKs (or not) on the ninth clock.
        MasterAck,
    }

    /// An SBCon with one target on its bus, modelled edge by edge the way
    /// I2C specifies (the target changes SDA only while SCL is low). Records
    /// the lines after every write.
    struct Bus {
        /// What the master drives (1 = released), as the register holds it.
        out: u32,
        /// What the target drives on SDA (true = released).
        target_sda: bool,
        st: St,
        addr: u8,
        /// Bytes the target sends, in order.
        to_send: VecDeque<u8>,
        /// Bytes the target received (after its address).
        received: Vec<u8>,
        /// The target NACKs data bytes after this many.
        accept: usize,
        /// (SCL, SDA) after each register write.
        trace: Vec<(bool, bool)>,
        /// The target holds SCL low for this many reads of CONTROL.
        stretch: u32,
        /// Register accesses (for the exact-sequence tests).
        log: Vec<Access>,
    }

    impl Bus {
        fn with_target(addr: u8, to_send: &[u8]) -> Self {
            Self {
                out: SCL | SDA,
                target_sda: true,
                st: St::Idle,
                addr,
                to_send: to_send.iter().copied().collect(),
                received: vec![],
                accept: usize::MAX,
                trace: vec![],
                stretch: 0,
                log: vec![],
            }
        }

        fn sda_line(&self) -> bool {
            self.out & SDA != 0 && self.target_sda
        }

        fn scl_line(&self) -> bool {
            self.out & SCL != 0
        }

        fn load(&mut self) {
            let byte = self.to_send.pop_front().unwrap_or(0xff);
            self.target_sda = byte & 0x80 != 0;
            self.st = St::Tx { bits: 0, byte };
        }

        fn on_scl(&mut self, rising: bool) {
            let sda = self.sda_line();
            self.st = match (self.st, rising) {
                (St::Rx { bits, byte, addr }, true) => St::Rx { bits: bits + 1, byte: byte << 1 | u8::from(sda), addr },
                (St::Rx { bits: 8, byte, addr: true }, false) => {
                    if byte >> 1 == self.addr {
                        self.target_sda = false;
                        St::Ack { then_send: byte & 1 == 1 }
                    } else {
                        St::Idle
                    }
                }
                (St::Rx { bits: 8, byte, addr: false }, false) => {
                    if self.received.len() < self.accept {
                        self.received.push(byte);
                        self.target_sda = false;
                        St::Ack { then_send: false }
                    } else {
                        St::Idle
                    }
                }
                (St::Ack { then_send }, false) => {
                    self.target_sda = true;
                    if then_send {
                        self.load();
                        self.st
                    } else {
                        St::Rx { bits: 0, byte: 0, addr: false }
                    }
                }
                (St::Tx { bits, byte }, true) => St::Tx { bits: bits + 1, byte },
                (St::Tx { bits: 8, .. }, false) => {
                    self.target_sda = true;
                    St::MasterAck
                }
                (St::Tx { bits, byte }, false) => {
                    self.target_sda = byte << bits & 0x80 != 0;
                    self.st
                }
                (St::MasterAck, true) => {
                    if sda {
                        St::Idle
                    } else {
                        St::MasterAck
                    }
                }
                (St::MasterAck, false) => {
                    self.load();
                    self.st
                }
                (st, _) => st,
            };
        }
    }

    impl Regs for &mut Bus {
        fn read(&mut self, offset: usize) -> u32 {
            assert_eq!(offset, CONTROL);
            let scl = if self.stretch > 0 {
                self.stretch -= 1;
                0
            } else {
                u32::from(self.scl_line())
            };
            let v = scl | u32::from(self.sda_line()) << 1;
            self.log.push(Access::R(offset, v));
            v
        }

        fn write(&mut self, offset: usize, value: u32) {
            self.log.push(Access::W(offset, value));
            let (scl, sda) = (self.scl_line(), self.sda_line());
            match offset {
                CONTROLS => self.out |= value & 3,
                CONTROLC => self.out &= !value,
                _ => panic!("write to {offset:#x}"),
            }
            if self.scl_line() != scl {
                self.on_scl(self.scl_line());
            } else if self.scl_line() && self.sda_line() != sda {
                // The master moved SDA while SCL is high: STOP or START.
                self.st = if self.sda_line() { St::Idle } else { St::Rx { bits: 0, byte: 0, addr: true } };
            }
            self.trace.push((self.scl_line(), self.sda_line()));
        }
    }

    /// What the lines did, decoded: conditions and the bits clocked.
    #[derive(Debug, PartialEq, Clone, Copy)]
    enum Ev {
        Start,
        Stop,
        Bit(bool),
    }

    fn events(trace: &[(bool, bool)]) -> Vec<Ev> {
        let mut out = vec![];
        let mut prev = (true, true);
        for &(scl, sda) in trace {
            if scl && prev.0 && sda != prev.1 {
                out.push(if sda { Ev::Stop } else { Ev::Start });
            } else if scl && !prev.0 {
                out.push(Ev::Bit(sda));
            }
            prev = (scl, sda);
        }
        out
    }

    /// A byte as clocked, then its ninth (ACK) bit: `false` is ACK.
    fn byte(b: u8, ack: bool) -> Vec<Ev> {
        let mut v: Vec<Ev> = (0..8).rev().map(|i| Ev::Bit(b >> i & 1 == 1)).collect();
        v.push(Ev::Bit(!ack));
        v
    }

    /// STOP: SCL rises with SDA low (a clock the decoder sees as a 0),
    /// then SDA rises.
    fn stop() -> Vec<Ev> {
        vec![Ev::Bit(false), Ev::Stop]
    }

    fn seq(parts: &[Vec<Ev>]) -> Vec<Ev> {
        parts.concat()
    }

    #[test]
    fn start_is_sda_falling_while_scl_is_high() {
        let mut bus = Bus::with_target(0x48, &[]);
        SbconI2c::with_regs(&mut bus).start().unwrap();
        assert_eq!(
            bus.log,
            [
                Access::W(CONTROLS, SDA),
                Access::W(CONTROLS, SCL),
                Access::R(CONTROL, SCL | SDA),
                Access::W(CONTROLC, SDA),
                Access::W(CONTROLC, SCL),
            ]
        );
        assert_eq!(bus.trace, [(true, true), (true, true), (true, false), (false, false)]);
    }

    #[test]
    fn a_byte_goes_out_msb_first_then_the_ack_is_sampled() {
        let mut bus = Bus::with_target(0x48, &[]);
        SbconI2c::with_regs(&mut bus).write(0x48, &[0xA5]).unwrap();
        assert_eq!(events(&bus.trace), seq(&[vec![Ev::Start], byte(0x90, true), byte(0xA5, true), stop()]));
        assert_eq!(bus.received, [0xA5]);
        // After the START's five accesses: bit 7 of 0x90 (a 1), bit 6 (a 0)...
        assert_eq!(
            bus.log[5..13],
            [
                Access::W(CONTROLS, SDA),
                Access::W(CONTROLS, SCL),
                Access::R(CONTROL, SCL | SDA),
                Access::W(CONTROLC, SCL),
                Access::W(CONTROLC, SDA),
                Access::W(CONTROLS, SCL),
                Access::R(CONTROL, SCL),
                Access::W(CONTROLC, SCL),
            ]
        );
        // ...and after the eight bits, SDA released and read with SCL high:
        // the target holds it low (ACK).
        assert_eq!(
            bus.log[5 + 32..5 + 36],
            [Access::W(CONTROLS, SDA), Access::W(CONTROLS, SCL), Access::R(CONTROL, SCL), Access::W(CONTROLC, SCL)]
        );
    }

    #[test]
    fn no_device_is_a_nack_and_the_bus_is_stopped() {
        let mut bus = Bus::with_target(0x48, &[0x12]);
        let mut buf = [0u8; 2];
        assert_eq!(SbconI2c::with_regs(&mut bus).read(0x49, &mut buf), Err(BusError::Nack));
        assert_eq!(events(&bus.trace), seq(&[vec![Ev::Start], byte(0x93, false), stop()]));
        assert_eq!(bus.trace.last(), Some(&(true, true)), "idle: both lines released");
    }

    #[test]
    fn a_nacked_data_byte_stops_the_write() {
        let mut bus = Bus::with_target(0x48, &[]);
        bus.accept = 1;
        assert_eq!(SbconI2c::with_regs(&mut bus).write(0x48, &[1, 2, 3]), Err(BusError::Nack));
        assert_eq!(bus.received, [1]);
        assert_eq!(
            events(&bus.trace),
            seq(&[vec![Ev::Start], byte(0x90, true), byte(1, true), byte(2, false), stop()])
        );
    }

    #[test]
    fn write_read_uses_a_repeated_start_and_nacks_the_last_byte() {
        // A TMP105 at 21.5 °C: pointer 0 (temperature), then 0x15 0x80.
        let mut bus = Bus::with_target(0x48, &[0x15, 0x80]);
        let mut temp = [0u8; 2];
        SbconI2c::with_regs(&mut bus).write_read(0x48, &[0x00], &mut temp).unwrap();
        assert_eq!(temp, [0x15, 0x80]);
        assert_eq!(bus.received, [0x00]);
        assert_eq!(
            events(&bus.trace),
            seq(&[
                vec![Ev::Start],
                byte(0x90, true),
                byte(0x00, true),
                // The repeated START: SDA released while SCL is low, SCL up, SDA down.
                vec![Ev::Bit(true), Ev::Start],
                byte(0x91, true),
                byte(0x15, true),
                byte(0x80, false),
                stop(),
            ])
        );
    }

    #[test]
    fn a_read_acks_all_but_the_last_byte() {
        let mut bus = Bus::with_target(0x50, &[1, 2, 3]);
        let mut buf = [0u8; 3];
        SbconI2c::with_regs(&mut bus).read(0x50, &mut buf).unwrap();
        assert_eq!(buf, [1, 2, 3]);
        assert_eq!(
            events(&bus.trace),
            seq(&[vec![Ev::Start], byte(0xA1, true), byte(1, true), byte(2, true), byte(3, false), stop()])
        );
    }

    #[test]
    fn clock_stretching_is_waited_for() {
        let mut bus = Bus::with_target(0x48, &[]);
        bus.stretch = 3;
        SbconI2c::with_regs(&mut bus).write(0x48, &[]).unwrap();
        let reads = bus.log.iter().filter(|a| matches!(a, Access::R(..))).count();
        // 1 START + 9 address clocks + 1 STOP edges, plus the three held low.
        assert_eq!(reads, 11 + 3);
    }

    #[test]
    fn a_clock_held_low_forever_times_out_instead_of_hanging() {
        let mut regs = Recorder::default().fixed(CONTROL, 0);
        let r = SbconI2c::with_regs(&mut regs).write(0x48, &[1]);
        assert_eq!(r, Err(BusError::Timeout));
    }

    #[test]
    fn addresses_over_seven_bits_never_reach_the_bus() {
        let mut regs = Recorder::default();
        assert_eq!(SbconI2c::with_regs(&mut regs).write(0x80, &[]), Err(BusError::Invalid));
        assert!(regs.log.is_empty());
    }
}
