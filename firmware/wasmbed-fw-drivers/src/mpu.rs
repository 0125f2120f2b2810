//! The memory protection unit, as native app code uses it: unprivileged
//! accesses reach the app's linear memory and nothing else, while
//! privileged code (the firmware, and the app's own stack and globals)
//! keeps the default memory map (`PRIVDEFENA`).
//!
//! Regions `0..MEMORY_REGIONS` are the linear memory's; no other region is
//! set, so with none of them enabled no unprivileged access succeeds.
//! Armv7-M (PMSAv7) regions are a power of two in size and aligned to it,
//! in eight subregions that can each be left out: [`cover`] finds regions
//! that cover a block exactly, and [`alignment`] says how to place a block
//! so one region does. Armv8-M (PMSAv8) regions are a base and a limit.

use crate::mmio::Regs;

/// The architecture of a core's MPU (which core has which is the board
/// table's fact, `wasmbed_boards::Cpu::mpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mpu {
    /// Armv7-M's PMSAv7: regions a power of two in size, aligned to it,
    /// in eight subregions that can each be left out.
    Pmsav7,
    /// Armv8-M's PMSAv8: regions from a 32-byte-aligned base to a limit.
    Pmsav8,
}

/// The MPU's registers, from `MPU_TYPE` (System Control Space).
pub const MPU_BASE: usize = 0xE000_ED90;
const TYPE: usize = 0x0;
const CTRL: usize = 0x4;
const RNR: usize = 0x8;
const RBAR: usize = 0xC;
/// PMSAv7's RASR and PMSAv8's RLAR share this offset.
const RASR_RLAR: usize = 0x10;
const MAIR0: usize = 0x30;

const CTRL_ENABLE: u32 = 1 << 0;
const CTRL_PRIVDEFENA: u32 = 1 << 2;

/// Regions the linear memory may take.
pub const MEMORY_REGIONS: usize = 4;

/// PMSAv7: execute never, full access (AP 0b011), normal memory
/// write-back (C, B), as the default map makes SRAM.
const V7_ATTRS: u32 = (1 << 28) | (0b011 << 24) | (1 << 17) | (1 << 16);
/// PMSAv8: read-write at any privilege (AP 0b01), execute never,
/// attributes 0 (MAIR0's first byte, set to normal write-back memory).
const V8_RBAR_ATTRS: u32 = (0b01 << 1) | 1;
const V8_NORMAL_WB: u32 = 0xFF;

/// One region's register values: (RBAR, RASR) or (RBAR, RLAR).
pub type Region = (u32, u32);

/// Regions covering a block, in order; unused ones are `None`.
pub type Cover = [Option<Region>; MEMORY_REGIONS];

/// Why a block cannot be confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MpuError {
    /// Its placement or size needs more than [`MEMORY_REGIONS`] regions.
    TooManyRegions,
    /// Not 32-byte aligned, or empty, or past 4 GiB.
    Unaligned,
}

/// The alignment that lets one region cover a block of `bytes` (a
/// multiple of 32): PMSAv7 regions are aligned to their size.
pub const fn alignment(mpu: Mpu, bytes: u32) -> usize {
    match mpu {
        Mpu::Pmsav7 => match bytes.checked_next_power_of_two() {
            Some(p) if p >= 256 => p as usize,
            Some(_) => 256,
            None => 1 << 31,
        },
        Mpu::Pmsav8 => 32,
    }
}

/// The regions that let unprivileged accesses reach `[base, base + len)`
/// and no other byte.
pub fn cover(mpu: Mpu, base: u32, len: u32) -> Result<Cover, MpuError> {
    let end = u64::from(base) + u64::from(len);
    if len == 0 || !base.is_multiple_of(32) || !len.is_multiple_of(32) || end > 1 << 32 {
        return Err(MpuError::Unaligned);
    }
    let mut out: Cover = [None; MEMORY_REGIONS];
    match mpu {
        Mpu::Pmsav8 => {
            let limit = (end - 1) as u32 & !31;
            out[0] = Some((base | V8_RBAR_ATTRS, limit | 1));
        }
        Mpu::Pmsav7 => {
            let mut at = u64::from(base);
            for slot in &mut out {
                if at == end {
                    break;
                }
                let (region, covered) = best_v7_region(at, end);
                *slot = Some(region);
                at += covered;
            }
            if at != end {
                return Err(MpuError::TooManyRegions);
            }
        }
    }
    Ok(out)
}

/// The PMSAv7 region that covers the most of `[at, end)` from `at`, and
/// how much: over each subregion size `at` is aligned to, the region eight
/// times that size around `at`, with the subregions before `at` and past
/// `end` left out.
fn best_v7_region(at: u64, end: u64) -> (Region, u64) {
    let mut best: Option<(Region, u64)> = None;
    // Subregions of 32 bytes (regions of 256) up to 512 MiB (regions of 4 GiB).
    for shift in 5..=29u32 {
        let sub = 1u64 << shift;
        if !at.is_multiple_of(sub) || end - at < sub {
            break;
        }
        let size = sub * 8;
        let window = at & !(size - 1);
        let first = (at - window) / sub;
        let count = ((end - at) / sub).min(8 - first);
        let enabled = ((1u32 << count) - 1) << first;
        let srd = !enabled & 0xFF;
        let size_field = (shift + 3) - 1;
        let rasr = V7_ATTRS | (srd << 8) | (size_field << 1) | 1;
        let covered = count * sub;
        if best.is_none_or(|(_, c)| covered >= c) {
            best = Some(((window as u32, rasr), covered));
        }
    }
    // `at` and `end` are 32-byte aligned and apart: 32-byte subregions
    // always cover at least one.
    best.unwrap_or(((0, 0), end - at))
}

/// The MPU on one core.
#[derive(Debug)]
pub struct MpuRegs<R> {
    regs: R,
    mpu: Mpu,
}

impl<R: Regs> MpuRegs<R> {
    /// The MPU of a core whose architecture is `mpu`, at [`MPU_BASE`].
    pub fn new(regs: R, mpu: Mpu) -> Self {
        Self { regs, mpu }
    }

    /// Regions the MPU has (`MPU_TYPE.DREGION`; 0 without an MPU).
    pub fn regions(&mut self) -> u32 {
        (self.regs.read(TYPE) >> 8) & 0xFF
    }

    /// Turns the MPU on with the memory regions off: privileged code keeps
    /// the default map, unprivileged accesses reach nothing.
    pub fn enable(&mut self) {
        self.unmap();
        if self.mpu == Mpu::Pmsav8 {
            let mair = self.regs.read(MAIR0);
            self.regs.write(MAIR0, (mair & !0xFF) | V8_NORMAL_WB);
        }
        self.regs.write(CTRL, CTRL_ENABLE | CTRL_PRIVDEFENA);
    }

    /// Sets the memory regions to `cover`.
    pub fn map(&mut self, cover: &Cover) {
        for (i, region) in cover.iter().enumerate() {
            self.regs.write(RNR, i as u32);
            match region {
                Some((rbar, rasr)) => {
                    // The attribute word last: it enables the region.
                    self.regs.write(RASR_RLAR, 0);
                    self.regs.write(RBAR, *rbar);
                    self.regs.write(RASR_RLAR, *rasr);
                }
                None => self.regs.write(RASR_RLAR, 0),
            }
        }
    }

    /// Turns the memory regions off.
    pub fn unmap(&mut self) {
        self.map(&[None; MEMORY_REGIONS]);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::mmio::fake::Recorder;

    /// The bytes a PMSAv7 cover lets through, as (start, end) runs.
    fn v7_bytes(cover: &Cover) -> Vec<(u64, u64)> {
        let mut runs = Vec::new();
        for (rbar, rasr) in cover.iter().flatten() {
            assert_eq!(rasr & 1, 1, "enabled");
            let size = 1u64 << (((rasr >> 1) & 0x1F) + 1);
            assert_eq!(u64::from(*rbar) % size, 0, "aligned to its size");
            let sub = size / 8;
            for i in 0..8 {
                if rasr >> 8 & (1 << i) == 0 {
                    runs.push((u64::from(*rbar) + i * sub, u64::from(*rbar) + (i + 1) * sub));
                }
            }
        }
        runs.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in runs {
            match merged.last_mut() {
                Some(last) if last.1 == s => last.1 = e,
                _ => merged.push((s, e)),
            }
        }
        merged
    }

    #[test]
    fn a_block_placed_at_its_alignment_takes_one_region_exactly() {
        const PAGE: u32 = 64 * 1024;
        for pages in 1..=8 {
            let len = pages * PAGE;
            let base = 0x2000_0000 + alignment(Mpu::Pmsav7, len) as u32;
            let cover = cover(Mpu::Pmsav7, base, len).unwrap();
            assert_eq!(cover.iter().flatten().count(), 1, "{pages} pages");
            assert_eq!(v7_bytes(&cover), [(u64::from(base), u64::from(base) + u64::from(len))], "{pages} pages");
        }
    }

    #[test]
    fn a_block_anywhere_is_covered_exactly_or_refused() {
        const PAGE: u32 = 64 * 1024;
        for base in [0x2000_2000u32, 0x2000_6000, 0x2001_0000, 0x2003_8000, 0x2000_0020] {
            for len in [PAGE, 2 * PAGE, 3 * PAGE, 9 * PAGE, 4096, 96] {
                match cover(Mpu::Pmsav7, base, len) {
                    Ok(c) => assert_eq!(
                        v7_bytes(&c),
                        [(u64::from(base), u64::from(base) + u64::from(len))],
                        "{base:#x}+{len:#x}"
                    ),
                    Err(e) => assert_eq!(e, MpuError::TooManyRegions, "{base:#x}+{len:#x}"),
                }
            }
        }
        // An 8 KiB-aligned page (what a small heap gives) fits in two.
        let c = cover(Mpu::Pmsav7, 0x2000_6000, PAGE).unwrap();
        assert_eq!(c.iter().flatten().count(), 2);
    }

    #[test]
    fn bad_blocks_are_refused() {
        assert_eq!(cover(Mpu::Pmsav7, 0x2000_0004, 64), Err(MpuError::Unaligned));
        assert_eq!(cover(Mpu::Pmsav7, 0x2000_0000, 0), Err(MpuError::Unaligned));
        assert_eq!(cover(Mpu::Pmsav8, 0xFFFF_FFE0, 64), Err(MpuError::Unaligned));
    }

    #[test]
    fn pmsav8_takes_base_and_last_byte() {
        let c = cover(Mpu::Pmsav8, 0x3000_1020, 0x1_0000).unwrap();
        assert_eq!(c[0], Some((0x3000_1020 | 0b011, 0x3001_1000 | 1)));
        assert!(c[1..].iter().all(Option::is_none));
    }

    #[test]
    fn enabling_clears_the_regions_first_and_keeps_the_default_map() {
        let mut rec = Recorder::default().fixed(MAIR0, 0x1234_5600);
        MpuRegs::new(&mut rec, Mpu::Pmsav8).enable();
        let writes = rec.writes();
        assert_eq!(writes.last(), Some(&(CTRL, CTRL_ENABLE | CTRL_PRIVDEFENA)));
        assert!(writes.contains(&(MAIR0, 0x1234_56FF)));
        for i in 0..MEMORY_REGIONS {
            let at = writes.iter().position(|w| *w == (RNR, i as u32)).unwrap();
            assert_eq!(writes[at + 1], (RASR_RLAR, 0));
        }
    }

    #[test]
    fn mapping_enables_each_region_last() {
        let cover = cover(Mpu::Pmsav7, 0x2001_0000, 0x1_0000).unwrap();
        let mut rec = Recorder::default();
        MpuRegs::new(&mut rec, Mpu::Pmsav7).map(&cover);
        let (rbar, rasr) = cover[0].unwrap();
        assert_eq!(rec.writes()[..4], [(RNR, 0), (RASR_RLAR, 0), (RBAR, rbar), (RASR_RLAR, rasr)]);
    }
}
