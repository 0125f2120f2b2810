//! SMSC LAN9118 Ethernet controller (all four MPS2 boards), polled.
//!
//! Written from the datasheet's register map and checked against what
//! QEMU's model does: commands and frame data go through FIFOs at fixed
//! offsets; the MAC's own registers sit behind an indirect CSR window.
//! Register access goes through [`Regs`], so the sequences are tested on the
//! host against a scripted register file.

use core::fmt;

const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const ID_REV: usize = 0x50;
const BYTE_TEST: usize = 0x64;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_DP_CTRL: usize = 0x78;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const CHIP_ID: u32 = 0x0118;
const HW_CFG_SRST: u32 = 1;
const TX_CFG_TX_ON: u32 = 1 << 1;
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;
const RX_STS_ERROR: u32 = 1 << 15;
const RX_DP_FFWD: u32 = 1 << 31;
/// Largest frame handled: a 1500-byte MTU plus the Ethernet header.
pub const MAX_FRAME: usize = 1514;

use crate::mmio::SPIN_LIMIT;
/// The register access the driver uses, and the controller's registers in
/// memory (its offsets are this module's).
pub use crate::mmio::{Mmio, Regs};

/// What can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// BYTE_TEST or ID_REV did not read as a LAN9118's (wrong address or no chip).
    NotFound {
        /// What BYTE_TEST read.
        byte_test: u32,
        /// What ID_REV read.
        id_rev: u32,
    },
    /// A busy bit never cleared.
    Timeout,
    /// The frame is larger than [`MAX_FRAME`] or the receive buffer.
    TooLong(usize),
    /// Not enough transmit FIFO space right now; try again later.
    TxFull,
    /// The controller flagged a received frame as bad; it was dropped.
    RxError,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { byte_test, id_rev } => {
                write!(f, "no LAN9118 found (BYTE_TEST {byte_test:#010x}, ID_REV {id_rev:#010x})")
            }
            Self::Timeout => f.write_str("LAN9118 register stayed busy"),
            Self::TooLong(n) => write!(f, "frame of {n} bytes is too long"),
            Self::TxFull => f.write_str("transmit FIFO full"),
            Self::RxError => f.write_str("received frame had an error"),
        }
    }
}

/// A polled LAN9118.
#[derive(Debug)]
pub struct Lan9118<R: Regs> {
    regs: R,
    mac: [u8; 6],
}

impl<R: Regs> Lan9118<R> {
    /// Checks the chip is there, resets it, reads its MAC address (QEMU sets
    /// it from `-nic ...,mac=`), and enables transmit and receive.
    pub fn new(mut regs: R) -> Result<Self, Error> {
        let byte_test = regs.read(BYTE_TEST);
        let id_rev = regs.read(ID_REV);
        if byte_test != BYTE_TEST_VALUE || id_rev >> 16 != CHIP_ID {
            return Err(Error::NotFound { byte_test, id_rev });
        }
        regs.write(HW_CFG, HW_CFG_SRST);
        spin_until(|| regs.read(HW_CFG) & HW_CFG_SRST == 0)?;
        let mut dev = Self { regs, mac: [0; 6] };
        let lo = dev.mac_read(MAC_ADDRL)?;
        let hi = dev.mac_read(MAC_ADDRH)?;
        let [a, b, c, d] = lo.to_le_bytes();
        let [e, f, _, _] = hi.to_le_bytes();
        dev.mac = [a, b, c, d, e, f];
        dev.mac_write(MAC_CR, MAC_CR_TXEN | MAC_CR_RXEN)?;
        dev.regs.write(TX_CFG, TX_CFG_TX_ON);
        Ok(dev)
    }

    /// The controller's MAC address.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    fn mac_read(&mut self, reg: u32) -> Result<u32, Error> {
        self.wait_csr()?;
        self.regs.write(MAC_CSR_CMD, CSR_BUSY | CSR_READ | reg);
        self.wait_csr()?;
        Ok(self.regs.read(MAC_CSR_DATA))
    }

    fn mac_write(&mut self, reg: u32, value: u32) -> Result<(), Error> {
        self.wait_csr()?;
        self.regs.write(MAC_CSR_DATA, value);
        self.regs.write(MAC_CSR_CMD, CSR_BUSY | reg);
        self.wait_csr()
    }

    fn wait_csr(&mut self) -> Result<(), Error> {
        let regs = &mut self.regs;
        spin_until(|| regs.read(MAC_CSR_CMD) & CSR_BUSY == 0)
    }

    /// Queues one frame for transmission.
    pub fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        if frame.len() > MAX_FRAME {
            return Err(Error::TooLong(frame.len()));
        }
        // Free data space in bytes (low 16 bits); commands take 8 bytes.
        let free = (self.regs.read(TX_FIFO_INF) & 0xffff) as usize;
        if free < frame.len() + 8 {
            return Err(Error::TxFull);
        }
        let len = frame.len() as u32;
        self.regs.write(TX_DATA_FIFO, TX_CMD_A_FIRST | TX_CMD_A_LAST | len);
        self.regs.write(TX_DATA_FIFO, (len << 16) | len);
        for chunk in frame.chunks(4) {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.regs.write(TX_DATA_FIFO, u32::from_le_bytes(word));
        }
        Ok(())
    }

    /// Takes one received frame into `buf`; `None` when nothing is waiting.
    pub fn recv(&mut self, buf: &mut [u8]) -> Option<Result<usize, Error>> {
        let waiting = (self.regs.read(RX_FIFO_INF) >> 16) & 0xff;
        if waiting == 0 {
            return None;
        }
        let status = self.regs.read(RX_STATUS_FIFO);
        // The length counts the 4-byte CRC the controller appends.
        let with_crc = ((status >> 16) & 0x3fff) as usize;
        let len = with_crc.saturating_sub(4);
        if status & RX_STS_ERROR != 0 || len > buf.len() || len > MAX_FRAME {
            self.discard(with_crc);
            return Some(Err(if status & RX_STS_ERROR != 0 { Error::RxError } else { Error::TooLong(len) }));
        }
        let words = with_crc.div_ceil(4);
        for i in 0..words {
            let word = self.regs.read(RX_DATA_FIFO).to_le_bytes();
            for (j, b) in word.iter().enumerate() {
                if let Some(slot) = buf.get_mut(i * 4 + j).filter(|_| i * 4 + j < len) {
                    *slot = *b;
                }
            }
        }
        Some(Ok(len))
    }

    /// Drops the current frame: fast-forward for long ones, reads for short.
    fn discard(&mut self, with_crc: usize) {
        let words = with_crc.div_ceil(4);
        if words >= 4 {
            self.regs.write(RX_DP_CTRL, RX_DP_FFWD);
            let regs = &mut self.regs;
            let _ = spin_until(|| regs.read(RX_DP_CTRL) & RX_DP_FFWD == 0);
        } else {
            for _ in 0..words {
                let _ = self.regs.read(RX_DATA_FIFO);
            }
        }
    }
}

fn spin_until(mut done: impl FnMut() -> bool) -> Result<(), Error> {
    for _ in 0..SPIN_LIMIT {
        if done() {
            return Ok(());
        }
    }
    Err(Error::Timeout)
}

#[cfg(test)]
// `drop(dev)` ends the driver's borrow of the fake registers before they are inspected.
#[allow(clippy::drop_non_drop)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// A register file: scripted reads per offset, recorded writes.
    #[derive(Default, Debug)]
    struct Fake {
        reads: std::collections::HashMap<usize, VecDeque<u32>>,
        fixed: std::collections::HashMap<usize, u32>,
        writes: Vec<(usize, u32)>,
    }

    impl Fake {
        fn chip() -> Self {
            let mut f = Self::default();
            f.fixed.insert(BYTE_TEST, BYTE_TEST_VALUE);
            f.fixed.insert(ID_REV, 0x0118_0001);
            f.fixed.insert(HW_CFG, 0);
            f.fixed.insert(MAC_CSR_CMD, 0);
            f.fixed.insert(TX_FIFO_INF, 4608);
            f.reads.insert(MAC_CSR_DATA, [0x0012_5452, 0x0000_5634].into());
            f
        }
    }

    impl Regs for &mut Fake {
        fn read(&mut self, offset: usize) -> u32 {
            if let Some(v) = self.reads.get_mut(&offset).and_then(VecDeque::pop_front) {
                return v;
            }
            self.fixed.get(&offset).copied().unwrap_or(0)
        }
        fn write(&mut self, offset: usize, value: u32) {
            self.writes.push((offset, value));
        }
    }

    #[test]
    fn init_resets_reads_the_mac_and_enables_the_mac() {
        let mut fake = Fake::chip();
        let dev = Lan9118::new(&mut fake).unwrap();
        assert_eq!(dev.mac(), [0x52, 0x54, 0x12, 0x00, 0x34, 0x56]);
        assert_eq!(
            fake.writes,
            [
                (HW_CFG, HW_CFG_SRST),
                (MAC_CSR_CMD, CSR_BUSY | CSR_READ | MAC_ADDRL),
                (MAC_CSR_CMD, CSR_BUSY | CSR_READ | MAC_ADDRH),
                (MAC_CSR_DATA, MAC_CR_TXEN | MAC_CR_RXEN),
                (MAC_CSR_CMD, CSR_BUSY | MAC_CR),
                (TX_CFG, TX_CFG_TX_ON),
            ]
        );
    }

    #[test]
    fn wrong_chip_or_stuck_busy_bits_are_errors() {
        let mut fake = Fake::chip();
        fake.fixed.insert(BYTE_TEST, 0);
        assert!(matches!(Lan9118::new(&mut fake), Err(Error::NotFound { byte_test: 0, .. })));
        let mut fake = Fake::chip();
        fake.fixed.insert(HW_CFG, HW_CFG_SRST);
        assert_eq!(Lan9118::new(&mut fake).unwrap_err(), Error::Timeout);
    }

    #[test]
    fn send_writes_commands_then_little_endian_words() {
        let mut fake = Fake::chip();
        let mut dev = Lan9118::new(&mut fake).unwrap();
        dev.send(&[1, 2, 3, 4, 5]).unwrap();
        assert_eq!(dev.send(&[0; MAX_FRAME + 1]), Err(Error::TooLong(MAX_FRAME + 1)));
        drop(dev);
        let tx: Vec<u32> = fake.writes.iter().filter(|(o, _)| *o == TX_DATA_FIFO).map(|(_, v)| *v).collect();
        assert_eq!(tx, [TX_CMD_A_FIRST | TX_CMD_A_LAST | 5, (5 << 16) | 5, 0x0403_0201, 0x0000_0005]);
    }

    #[test]
    fn send_waits_for_fifo_space() {
        let mut fake = Fake::chip();
        fake.fixed.insert(TX_FIFO_INF, 10);
        let mut dev = Lan9118::new(&mut fake).unwrap();
        assert_eq!(dev.send(&[0; 60]), Err(Error::TxFull));
    }

    #[test]
    fn recv_strips_the_crc_and_handles_errors() {
        let mut fake = Fake::chip();
        let mut dev = Lan9118::new(&mut fake).unwrap();
        assert!(dev.recv(&mut [0; 64]).is_none());
        drop(dev);
        // A 5-byte frame + 4 CRC bytes = 9 bytes = 3 words.
        fake.fixed.insert(RX_FIFO_INF, 1 << 16);
        fake.reads.insert(RX_STATUS_FIFO, [9 << 16, (64 << 16) | RX_STS_ERROR].into());
        fake.reads.insert(RX_DATA_FIFO, [0x0403_0201, 0xaabb_cc05, 0x0000_00dd].into());
        let mut dev = Lan9118::new(&mut fake).unwrap();
        let mut buf = [0u8; 64];
        assert_eq!(dev.recv(&mut buf), Some(Ok(5)));
        assert_eq!(&buf[..6], &[1, 2, 3, 4, 5, 0]);
        assert_eq!(dev.recv(&mut buf), Some(Err(Error::RxError)));
        drop(dev);
        assert!(fake.writes.contains(&(RX_DP_CTRL, RX_DP_FFWD)), "a bad frame is skipped");
    }
}

/// The LAN9118 as a smoltcp network device.
pub mod phy {
    use smoltcp::phy::{self, DeviceCapabilities, Medium};
    use smoltcp::time::Instant;

    use super::{Lan9118, MAX_FRAME, Regs};

    /// A smoltcp [`phy::Device`] over a [`Lan9118`]. Bad or oversized
    /// received frames are dropped and counted.
    #[derive(Debug)]
    pub struct Eth<R: Regs> {
        nic: Lan9118<R>,
        rx: [u8; MAX_FRAME],
        /// Frames dropped on receive (errors) or transmit (FIFO full).
        pub dropped: u32,
    }

    impl<R: Regs> Eth<R> {
        /// Wraps an initialized controller.
        pub fn new(nic: Lan9118<R>) -> Self {
            Self { nic, rx: [0; MAX_FRAME], dropped: 0 }
        }

        /// The controller's MAC address.
        pub fn mac(&self) -> [u8; 6] {
            self.nic.mac()
        }
    }

    /// A received frame.
    #[derive(Debug)]
    pub struct Rx<'a>(&'a [u8]);

    /// Permission to send one frame.
    #[derive(Debug)]
    pub struct Tx<'a, R: Regs> {
        nic: &'a mut Lan9118<R>,
        dropped: &'a mut u32,
    }

    impl phy::RxToken for Rx<'_> {
        fn consume<T, F: FnOnce(&[u8]) -> T>(self, f: F) -> T {
            f(self.0)
        }
    }

    impl<R: Regs> phy::TxToken for Tx<'_, R> {
        fn consume<T, F: FnOnce(&mut [u8]) -> T>(self, len: usize, f: F) -> T {
            let mut frame = [0u8; MAX_FRAME];
            let len = len.min(MAX_FRAME);
            let out = f(&mut frame[..len]);
            if self.nic.send(&frame[..len]).is_err() {
                // TCP retransmits; a dropped frame is counted, not fatal.
                *self.dropped = self.dropped.saturating_add(1);
            }
            out
        }
    }

    impl<R: Regs> phy::Device for Eth<R> {
        type RxToken<'a>
            = Rx<'a>
        where
            Self: 'a;
        type TxToken<'a>
            = Tx<'a, R>
        where
            Self: 'a;

        fn receive(&mut self, _now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
            match self.nic.recv(&mut self.rx)? {
                Ok(n) => Some((Rx(&self.rx[..n]), Tx { nic: &mut self.nic, dropped: &mut self.dropped })),
                Err(_) => {
                    self.dropped = self.dropped.saturating_add(1);
                    None
                }
            }
        }

        fn transmit(&mut self, _now: Instant) -> Option<Self::TxToken<'_>> {
            Some(Tx { nic: &mut self.nic, dropped: &mut self.dropped })
        }

        fn capabilities(&self) -> DeviceCapabilities {
            let mut caps = DeviceCapabilities::default();
            caps.medium = Medium::Ethernet;
            caps.max_transmission_unit = MAX_FRAME;
            caps
        }
    }
}
