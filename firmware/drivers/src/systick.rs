//! A 1 ms time base from SysTick (DWT's cycle counter reads 0 under QEMU).

use core::cell::Cell;

use cortex_m::interrupt::Mutex;
use cortex_m::peripheral::SYST;
use cortex_m::peripheral::syst::SystClkSource;

static MILLIS: Mutex<Cell<u64>> = Mutex::new(Cell::new(0));

/// Starts SysTick interrupting every millisecond at `core_hz`.
pub fn start(mut syst: SYST, core_hz: u32) {
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
