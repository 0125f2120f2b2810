//! A wall clock tests move by hand.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use wasmbed_model::clock::Clock;

/// Unix milliseconds that change only when a test says so; clones share it.
#[derive(Debug, Clone, Default)]
pub struct FakeClock(Arc<AtomicU64>);

impl FakeClock {
    /// A clock reading `ms`.
    pub fn at(ms: u64) -> Self {
        Self(Arc::new(AtomicU64::new(ms)))
    }

    /// What it reads.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Sets it.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }

    /// Moves it forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// As the [`Clock`] the platform's components take.
    pub fn clock(&self) -> Clock {
        let c = self.clone();
        Arc::new(move || c.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_only_when_told_and_clones_share_it() {
        let c = FakeClock::at(5);
        let as_clock = c.clock();
        c.advance(10);
        assert_eq!(as_clock(), 15);
        c.clone().set(1);
        assert_eq!(c.now(), 1);
    }
}
