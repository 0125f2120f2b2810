//! Memory-mapped registers: 32-bit volatile access at byte offsets from a
//! peripheral's base address. The one place the drivers touch hardware;
//! each driver passes only the offsets of its own register map.

use core::ptr;

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
