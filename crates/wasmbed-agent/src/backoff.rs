//! The reconnect policy every device follows, firmware and simulator alike.
//!
//! Rules, in short:
//! - the gateways of the identity bundle are dialled in order, its own first;
//! - one that cannot be reached (or ends the session before the device got
//!   online) is followed after [`NEXT_GATEWAY_MS`] by the next;
//! - after a full round of failures the device waits a delay whose window
//!   doubles per round up to a cap, drawn from the window's upper half, so
//!   a fleet that lost its gateway at the same instant does not come back
//!   in lockstep;
//! - a session that got online forgets earlier failures, and the device
//!   redials the same gateway after the shortest delay.
//!
//! Sans-IO: the caller passes randomness in and sleeps for the delay it is
//! given.
//!
//! ```
//! use wasmbed_agent::{Backoff, NEXT_GATEWAY_MS, Reconnect};
//! let mut r = Reconnect::new(2, Backoff::DEVICE);
//! assert_eq!(r.gateway(), 0);
//! assert_eq!(r.ended(false, 0), NEXT_GATEWAY_MS); // then the second, soon
//! assert_eq!(r.gateway(), 1);
//! assert_eq!(r.ended(false, 0), 250); // a full round failed: back off
//! assert_eq!(r.gateway(), 0);
//! ```

/// How long to wait before dialling the next gateway of a round.
pub const NEXT_GATEWAY_MS: u32 = 100;

/// Exponential backoff with jitter: the formula, and its base and cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base_ms: u32,
    cap_ms: u32,
}

impl Backoff {
    /// What devices use: the first delay is 250–500 ms, growing to 15–30 s.
    pub const DEVICE: Self = Self::new(500, 30_000);

    /// A backoff whose first window is `base_ms` and whose largest is
    /// `cap_ms` (at least `base_ms`).
    pub const fn new(base_ms: u32, cap_ms: u32) -> Self {
        let cap_ms = if cap_ms < base_ms { base_ms } else { cap_ms };
        Self { base_ms, cap_ms }
    }

    /// The first window.
    pub const fn base_ms(&self) -> u32 {
        self.base_ms
    }

    /// The largest window.
    pub const fn cap_ms(&self) -> u32 {
        self.cap_ms
    }

    /// The delay after `failures` earlier delays: the window doubles per
    /// failure up to the cap, and the delay is drawn from its upper half
    /// with `random`.
    pub const fn delay_ms(&self, failures: u32, random: u32) -> u32 {
        let shift = if failures < 16 { failures } else { 16 };
        let mut window = self.base_ms.saturating_mul(1 << shift);
        if window > self.cap_ms {
            window = self.cap_ms;
        }
        if window < 2 {
            window = 2;
        }
        let half = window / 2;
        half + random % (window - half + 1)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::DEVICE
    }
}

/// Which gateway to dial next, and how long to wait first (see the module
/// documentation for the rules).
#[derive(Debug, Clone)]
pub struct Reconnect {
    backoff: Backoff,
    gateways: usize,
    at: usize,
    failures: u32,
}

impl Reconnect {
    /// A device with `gateways` gateways in its bundle (at least one is
    /// assumed), not yet connected.
    pub const fn new(gateways: usize, backoff: Backoff) -> Self {
        let gateways = if gateways == 0 { 1 } else { gateways };
        Self { backoff, gateways, at: 0, failures: 0 }
    }

    /// The index, in the bundle's list, of the gateway to dial.
    pub const fn gateway(&self) -> usize {
        self.at
    }

    /// The attempt on [`gateway`](Self::gateway) ended; `online` says
    /// whether the device got online in it. Returns how many milliseconds
    /// to wait before dialling [`gateway`](Self::gateway), which may now be
    /// the next one.
    pub fn ended(&mut self, online: bool, random: u32) -> u32 {
        if online {
            self.failures = 0;
        } else {
            self.at = (self.at + 1) % self.gateways;
            if self.at != 0 {
                return NEXT_GATEWAY_MS;
            }
        }
        let delay = self.backoff.delay_ms(self.failures, random);
        self.failures = self.failures.saturating_add(1);
        delay
    }

    /// A cold boot: the first gateway, with no failures remembered.
    pub fn restart(&mut self) {
        self.at = 0;
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_doubles_to_the_cap_and_the_delay_jitters_in_its_upper_half() {
        let b = Backoff::DEVICE;
        let lows: [u32; 8] = core::array::from_fn(|i| b.delay_ms(i as u32, 0));
        assert_eq!(lows, [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
        let highs: [u32; 8] = core::array::from_fn(|i| b.delay_ms(i as u32, u32::MAX - 1));
        assert!(highs.iter().zip(lows).all(|(h, l)| *h >= l && *h <= 2 * l), "{highs:?}");
        assert_ne!(highs, lows, "random moves the delay");
        for failures in [0, 5, 16, 40, u32::MAX] {
            for random in [0, 7, u32::MAX] {
                assert!(b.delay_ms(failures, random) <= 30_000);
            }
        }
    }

    #[test]
    fn tiny_and_inverted_settings_still_give_a_delay() {
        assert_eq!(Backoff::new(0, 0).delay_ms(0, 0), 1);
        let b = Backoff::new(50, 10);
        assert_eq!(b.cap_ms(), 50, "the cap is at least the base");
        assert!((25..=50).contains(&b.delay_ms(3, 9)));
        assert_eq!(Backoff::new(u32::MAX, u32::MAX).delay_ms(20, 0), u32::MAX / 2);
    }

    #[test]
    fn a_round_of_failures_moves_through_every_gateway_before_backing_off() {
        let mut r = Reconnect::new(3, Backoff::DEVICE);
        let mut dialled = [r.gateway(); 7];
        let mut delays = [0; 6];
        for i in 0..6 {
            delays[i] = r.ended(false, 0);
            dialled[i + 1] = r.gateway();
        }
        assert_eq!(dialled, [0, 1, 2, 0, 1, 2, 0]);
        assert_eq!(delays, [NEXT_GATEWAY_MS, NEXT_GATEWAY_MS, 250, NEXT_GATEWAY_MS, NEXT_GATEWAY_MS, 500]);
    }

    #[test]
    fn getting_online_forgets_failures_and_keeps_the_gateway() {
        let mut r = Reconnect::new(2, Backoff::DEVICE);
        for _ in 0..8 {
            r.ended(false, 0);
        }
        assert_eq!(r.ended(false, 0), NEXT_GATEWAY_MS);
        assert_eq!(r.gateway(), 1);
        assert_eq!(r.ended(true, 0), 250, "online: the shortest delay");
        assert_eq!(r.gateway(), 1, "online: the same gateway again");
        assert_eq!(r.ended(false, 0), 500, "wrapping to the first gateway ends a round, counted from there");
        assert_eq!(r.gateway(), 0);
        r.restart();
        assert_eq!((r.gateway(), r.ended(true, 0)), (0, 250));
    }

    #[test]
    fn one_gateway_backs_off_every_time_and_none_is_taken_as_one() {
        let mut r = Reconnect::new(1, Backoff::new(100, 400));
        let delays: [u32; 4] = core::array::from_fn(|_| r.ended(false, 0));
        assert_eq!(delays, [50, 100, 200, 200]);
        let mut none = Reconnect::new(0, Backoff::DEVICE);
        assert_eq!((none.ended(false, 0), none.gateway()), (250, 0));
    }
}
