//! Timers the gateway starts, counted off the board's millisecond clock
//! (QEMU models none of the STM32F100's timer blocks; SysTick is enough).

use wasmbed_boardlink::ErrorCode;

/// Most timers a board can offer.
pub const MAX_TIMERS: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct Timer {
    running: bool,
    periodic: bool,
    period_ms: u32,
    /// When it fires next.
    due_ms: u64,
    /// Times fired since started.
    count: u32,
}

/// The board's timers.
#[derive(Debug, Clone)]
pub struct Timers {
    timers: [Timer; MAX_TIMERS],
    len: u8,
}

impl Timers {
    /// `len` timers (at most [`MAX_TIMERS`]), all stopped.
    pub fn new(len: u8) -> Self {
        Self { timers: [Timer::default(); MAX_TIMERS], len: len.min(MAX_TIMERS as u8) }
    }

    fn get(&mut self, timer: u8) -> Result<&mut Timer, ErrorCode> {
        if timer >= self.len {
            return Err(ErrorCode::NoSuchPeripheral);
        }
        self.timers.get_mut(usize::from(timer)).ok_or(ErrorCode::NoSuchPeripheral)
    }

    /// (Re)starts `timer`: it fires `period_ms` after `now_ms`, then every
    /// period if `periodic`. A zero period is refused.
    pub fn start(&mut self, timer: u8, period_ms: u32, periodic: bool, now_ms: u64) -> Result<(), ErrorCode> {
        if period_ms == 0 {
            return Err(ErrorCode::BadArgument);
        }
        *self.get(timer)? =
            Timer { running: true, periodic, period_ms, due_ms: now_ms.saturating_add(period_ms.into()), count: 0 };
        Ok(())
    }

    /// Stops `timer` (stopping a stopped one is fine).
    pub fn stop(&mut self, timer: u8) -> Result<(), ErrorCode> {
        self.get(timer)?.running = false;
        Ok(())
    }

    /// Stops every timer.
    pub fn stop_all(&mut self) {
        self.timers.iter_mut().for_each(|t| t.running = false);
    }

    /// The next timer due at `now_ms`, with its count after this firing.
    /// A periodic timer that fell behind fires once, its count advanced by
    /// every period that passed; a one-shot timer stops.
    pub fn next_due(&mut self, now_ms: u64) -> Option<(u8, u32)> {
        let len = usize::from(self.len);
        let (i, t) = self.timers[..len].iter_mut().enumerate().find(|(_, t)| t.running && t.due_ms <= now_ms)?;
        let period = u64::from(t.period_ms);
        let periods = if t.periodic { (now_ms - t.due_ms) / period + 1 } else { 1 };
        t.count = t.count.wrapping_add(periods as u32);
        if t.periodic {
            t.due_ms = t.due_ms.saturating_add(periods * period);
        } else {
            t.running = false;
        }
        // `i` is below `len`, a u8.
        Some((i as u8, t.count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn due(t: &mut Timers, now: u64) -> std::vec::Vec<(u8, u32)> {
        core::iter::from_fn(|| t.next_due(now)).collect()
    }

    extern crate std;

    #[test]
    fn a_periodic_timer_fires_every_period_and_a_one_shot_once() {
        let mut t = Timers::new(2);
        t.start(0, 10, true, 100).unwrap();
        t.start(1, 15, false, 100).unwrap();
        assert_eq!(due(&mut t, 109), []);
        assert_eq!(due(&mut t, 110), [(0, 1)]);
        assert_eq!(due(&mut t, 115), [(1, 1)]);
        assert_eq!(due(&mut t, 120), [(0, 2)]);
        assert_eq!(due(&mut t, 500), [(0, 40)], "late: one event, the count shows the gap");
        assert_eq!(due(&mut t, 509), []);
        assert_eq!(due(&mut t, 510), [(0, 41)]);
    }

    #[test]
    fn stopping_restarting_and_bad_arguments() {
        let mut t = Timers::new(2);
        assert_eq!(t.start(2, 10, true, 0), Err(ErrorCode::NoSuchPeripheral));
        assert_eq!(t.start(0, 0, true, 0), Err(ErrorCode::BadArgument));
        assert_eq!(t.stop(9), Err(ErrorCode::NoSuchPeripheral));
        t.start(0, 10, true, 0).unwrap();
        assert_eq!(due(&mut t, 10), [(0, 1)]);
        t.stop(0).unwrap();
        assert_eq!(due(&mut t, 100), []);
        t.start(0, 10, true, 100).unwrap();
        assert_eq!(due(&mut t, 110), [(0, 1)], "a restart counts from zero");
        t.stop_all();
        assert_eq!(due(&mut t, 1000), []);
        assert_eq!(Timers::new(200).len, MAX_TIMERS as u8);
    }
}
