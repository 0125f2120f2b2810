//! A 1 ms time base from SysTick (DWT's cycle counter reads 0 under QEMU).

use core::cell::Cell;

use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::SCB;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));
static CYCLES_PER_MS: AtomicU32 = AtomicU32::new(0);

/// Starts SysTick interrupting every millisecond at `core_hz`.
pub fn start(mut syst: SYST, core_hz: u32) {
    CYCLES_PER_MS.store(core_hz / 1000, Relaxed);
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(core_hz / 1000 - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

/// Call from the SysTick exception handler.
pub fn on_tick() {
    cortex_m::interrupt::free(|cs| {
        let c = MILLIS.borrow(cs);
        c.set(c.get() + 1);
    });
}

/// Milliseconds since [`start`].
pub fn now_ms() -> u64 {
    cortex_m::interrupt::free(|cs| MILLIS.borrow(cs).get())
}

/// Core clock cycles since [`start`], to one cycle: milliseconds from the
/// tick count plus the SysTick down-counter's progress in this one.
pub fn cycles() -> u64 {
    let per_ms = u64::from(CYCLES_PER_MS.load(Relaxed));
    cortex_m::interrupt::free(|cs| {
        let mut ms = MILLIS.borrow(cs).get();
        let mut current = SYST::get_current();
        // Wrapped after interrupts were masked: the tick is pending, not counted.
        if SCB::is_pendst_pending() {
            ms += 1;
            current = SYST::get_current();
        }
        ms * per_ms + (per_ms - 1).saturating_sub(u64::from(current))
    })
}
