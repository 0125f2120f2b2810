//! ARM CMSDK APB watchdog (DDI0479; QEMU's `cmsdk-apb-watchdog`, at
//! 0x4000_8000 on MPS2 AN385/AN386/AN500, clocked at 25 MHz there).
//!
//! The counter counts down from LOAD. At zero the first time it raises its
//! interrupt (the NMI on MPS2) and reloads; at zero again with the
//! interrupt still raised it resets the board. Clearing the interrupt
//! (INTCLR) reloads the counter: that is feeding it. Writes are ignored
//! while LOCK holds anything but the key, so the driver unlocks, writes,
//! and locks again: a stray write elsewhere cannot stop it.

use crate::mmio::{Mmio, Regs};

const LOAD: usize = 0x000;
const CONTROL: usize = 0x008;
const INTCLR: usize = 0x00C;
const RIS: usize = 0x010;
const LOCK: usize = 0xC00;

/// Writing this to LOCK enables writes; anything else disables them.
const UNLOCK_KEY: u32 = 0x1ACC_E551;
/// Interrupt (and counter) enable.
const INTEN: u32 = 1 << 0;
/// Reset on the second timeout.
const RESEN: u32 = 1 << 1;

/// One CMSDK watchdog.
#[derive(Debug)]
pub struct Watchdog<R: Regs = Mmio> {
    regs: R,
}

impl Watchdog {
    /// # Safety
    ///
    /// `base` must be the address of a CMSDK APB watchdog that nothing
    /// else drives.
    pub unsafe fn new(base: usize) -> Self {
        // SAFETY: forwarded contract; we pass only this block's registers.
        Self::with_regs(unsafe { Mmio::new(base) })
    }
}

impl<R: Regs> Watchdog<R> {
    /// The watchdog behind `regs`.
    pub fn with_regs(regs: R) -> Self {
        Self { regs }
    }

    /// Counter ticks for `ms` at `clock_hz` (at most the 32-bit counter's).
    pub fn ticks(clock_hz: u32, ms: u32) -> u32 {
        let ticks = u64::from(clock_hz) * u64::from(ms) / 1000;
        u32::try_from(ticks).unwrap_or(u32::MAX).max(1)
    }

    /// Starts counting `ticks` to the warning interrupt, and as many again
    /// to the reset.
    pub fn start(&mut self, ticks: u32) {
        self.regs.write(LOCK, UNLOCK_KEY);
        self.regs.write(LOAD, ticks);
        // A warning left from before (it survives nothing but a reset, but
        // a restart of the firmware without one would inherit it).
        self.regs.write(INTCLR, 1);
        self.regs.write(CONTROL, INTEN | RESEN);
        self.regs.write(LOCK, 0);
    }

    /// Feeds it: clears the warning and reloads the counter.
    pub fn feed(&mut self) {
        self.regs.write(LOCK, UNLOCK_KEY);
        self.regs.write(INTCLR, 1);
        self.regs.write(LOCK, 0);
    }

    /// Whether the first timeout passed unfed (the reset comes at the next).
    pub fn warned(&mut self) -> bool {
        self.regs.read(RIS) & 1 != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmio::fake::{Access, Recorder};

    #[test]
    fn starting_unlocks_loads_clears_enables_interrupt_and_reset_then_locks() {
        let mut regs = Recorder::default();
        Watchdog::with_regs(&mut regs).start(100_000_000);
        assert_eq!(
            regs.log,
            [
                Access::W(LOCK, UNLOCK_KEY),
                Access::W(LOAD, 100_000_000),
                Access::W(INTCLR, 1),
                Access::W(CONTROL, INTEN | RESEN),
                Access::W(LOCK, 0),
            ]
        );
    }

    #[test]
    fn feeding_clears_the_interrupt_between_unlock_and_lock_and_reads_nothing() {
        let mut regs = Recorder::default();
        Watchdog::with_regs(&mut regs).feed();
        assert_eq!(regs.log, [Access::W(LOCK, UNLOCK_KEY), Access::W(INTCLR, 1), Access::W(LOCK, 0)]);
    }

    #[test]
    fn the_warning_is_the_raw_interrupt_bit() {
        let mut regs = Recorder::default().script(RIS, &[0, 1]);
        let mut wd = Watchdog::with_regs(&mut regs);
        assert!(!wd.warned());
        assert!(wd.warned());
        assert_eq!(regs.writes(), []);
    }

    #[test]
    fn ticks_follow_the_clock_and_saturate() {
        assert_eq!(Watchdog::<Mmio>::ticks(25_000_000, 4_000), 100_000_000);
        assert_eq!(Watchdog::<Mmio>::ticks(25_000_000, 1_000_000), u32::MAX);
        assert_eq!(Watchdog::<Mmio>::ticks(32_768, 0), 1, "never zero: that would reset at once");
    }
}
