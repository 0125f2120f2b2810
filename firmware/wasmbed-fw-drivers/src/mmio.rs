//! Memory-mapped registers: 32-bit volatile access at byte offsets from a
//! peripheral's base address. The one place the drivers touch hardware;
//! each driver passes only the offsets of its own register map.
//!
//! Drivers reach their registers through [`Regs`], so each register
//! sequence is also run on the host against a recording fake (the tests
//! beside each driver); on the device [`Mmio`] is the implementation.

use core::ptr;

use crate::BusError;

/// Polls of a status bit before a driver gives up. QEMU's models answer at
/// once and silicon within microseconds, so reaching this means nothing is
/// there (or it is stuck): the call fails instead of hanging the firmware.
pub const SPIN_LIMIT: u32 = 100_000;

/// 32-bit register access at byte offsets from a peripheral's base.
pub trait Regs {
    /// Reads a register.
    fn read(&mut self, offset: usize) -> u32;
    /// Writes a register.
    fn write(&mut self, offset: usize, value: u32);

    /// Reads the register at `offset` until `done` holds for its value, at
    /// most [`SPIN_LIMIT`] times; returns the value that did.
    fn poll(&mut self, offset: usize, done: impl Fn(u32) -> bool) -> Result<u32, BusError>
    where
        Self: Sized,
    {
        for _ in 0..SPIN_LIMIT {
            let v = self.read(offset);
            if done(v) {
                return Ok(v);
            }
        }
        Err(BusError::Timeout)
    }
}

/// One peripheral's registers in memory.
#[derive(Debug)]
pub struct Mmio {
    base: usize,
}

impl Mmio {
    /// # Safety
    ///
    /// `base` must be the address of a peripheral that nothing else drives,
    /// and the owner must pass [`Mmio::read`] and [`Mmio::write`] only the
    /// offsets of its aligned 32-bit registers.
    pub unsafe fn new(base: usize) -> Self {
        Self { base }
    }

    /// Reads the register at `offset`.
    pub fn read(&self, offset: usize) -> u32 {
        // SAFETY: an aligned register of the peripheral owned by `self` (see `new`).
        unsafe { ptr::read_volatile((self.base + offset) as *const u32) }
    }

    /// Writes the register at `offset`.
    pub fn write(&self, offset: usize, value: u32) {
        // SAFETY: an aligned register of the peripheral owned by `self` (see `new`).
        unsafe { ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }
}

impl Regs for Mmio {
    fn read(&mut self, offset: usize) -> u32 {
        Mmio::read(self, offset)
    }

    fn write(&mut self, offset: usize, value: u32) {
        Mmio::write(self, offset, value)
    }
}

/// A register block for host tests: every access recorded in order, reads
/// answered from a script per offset, then a fixed value per offset, then 0.
#[cfg(test)]
pub(crate) mod fake {
    extern crate std;
    use std::collections::{HashMap, VecDeque};
    use std::vec::Vec;

    use super::Regs;

    /// One register access.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Access {
        /// Read of `.0`, which returned `.1`.
        R(usize, u32),
        /// Write of `.1` to `.0`.
        W(usize, u32),
    }

    /// Scripted reads, recorded accesses.
    #[derive(Debug, Default)]
    pub struct Recorder {
        script: HashMap<usize, VecDeque<u32>>,
        fixed: HashMap<usize, u32>,
        /// Every access, in order.
        pub log: Vec<Access>,
    }

    impl Recorder {
        /// Reads of `offset` return `value` once the script is used up.
        pub fn fixed(mut self, offset: usize, value: u32) -> Self {
            self.fixed.insert(offset, value);
            self
        }

        /// The next reads of `offset` return `values`, in order.
        pub fn script(mut self, offset: usize, values: &[u32]) -> Self {
            self.script.entry(offset).or_default().extend(values);
            self
        }

        /// The writes, in order.
        pub fn writes(&self) -> Vec<(usize, u32)> {
            self.log
                .iter()
                .filter_map(|a| match *a {
                    Access::W(o, v) => Some((o, v)),
                    Access::R(..) => None,
                })
                .collect()
        }
    }

    impl Regs for &mut Recorder {
        fn read(&mut self, offset: usize) -> u32 {
            let v = self
                .script
                .get_mut(&offset)
                .and_then(VecDeque::pop_front)
                .or_else(|| self.fixed.get(&offset).copied())
                .unwrap_or(0);
            self.log.push(Access::R(offset, v));
            v
        }

        fn write(&mut self, offset: usize, value: u32) {
            self.log.push(Access::W(offset, value));
        }
    }
}
