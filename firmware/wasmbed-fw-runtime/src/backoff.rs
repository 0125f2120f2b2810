//! Reconnect delays: exponential with jitter, so a fleet that lost its
//! gateway at the same instant does not come back in lockstep.

/// Exponential backoff between `base_ms` and `max_ms`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base_ms: u32,
    max_ms: u32,
    attempt: u32,
}

impl Backoff {
    /// A backoff whose first delay is about `base_ms`.
    pub const fn new(base_ms: u32, max_ms: u32) -> Self {
        Self { base_ms, max_ms, attempt: 0 }
    }

    /// Forget earlier failures (call once a session got online).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The next delay: the window doubles per attempt up to `max_ms`, and
    /// the delay is drawn from its upper half with `random`.
    pub fn next_delay(&mut self, random: u32) -> u32 {
        let window = self.base_ms.saturating_mul(1u32 << self.attempt.min(16)).min(self.max_ms).max(2);
        self.attempt = self.attempt.saturating_add(1);
        let half = window / 2;
        half + random % (window - half + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_jitters() {
        let mut b = Backoff::new(500, 30_000);
        let lows: [u32; 8] = core::array::from_fn(|_| b.next_delay(0));
        assert_eq!(lows, [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
        let mut b = Backoff::new(500, 30_000);
        let highs: [u32; 8] = core::array::from_fn(|_| b.next_delay(u32::MAX - 1));
        assert!(highs.iter().zip(lows).all(|(h, l)| *h >= l && *h <= 2 * l));
        for _ in 0..100 {
            assert!(b.next_delay(7) <= 30_000);
        }
        b.reset();
        assert_eq!(b.next_delay(0), 250);
    }
}
