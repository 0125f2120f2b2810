//! Certificates refused at enrollment: which one a device may use, and how
//! a refusal is told without letting a flood of them flood the log.
//!
//! A device may enroll only with the certificate recorded on its spec
//! ([`DeviceIdentity`]): an old bundle (the device was re-created, or its
//! bundle re-issued) is signed by the platform CA and passes TLS, so this
//! is the check that revokes it. Each refusal is counted on the device's
//! status by the gateway that refused it; log lines about them are capped
//! at [`LOG_BURST`] per [`LOG_WINDOW`], the next line saying how many were
//! held back.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use wasmbed_model::DeviceIdentity;
use wasmbed_pki::Fingerprint;

/// Refusal lines logged per window at most.
pub(crate) const LOG_BURST: u32 = 5;
/// The window [`LOG_BURST`] counts over.
pub(crate) const LOG_WINDOW: Duration = Duration::from_secs(10);

/// Why a certificate is not accepted for a device, or `None` if it is.
pub(crate) fn refusal(recorded: Option<&DeviceIdentity>, presented: &Fingerprint) -> Option<&'static str> {
    match recorded {
        None => Some("no certificate is recorded for this device; fetch its bundle again"),
        Some(id) if id.accepts(&presented.to_string()) => None,
        Some(_) => Some("this is not the device's current certificate (it was re-issued or the device re-created)"),
    }
}

/// Caps log lines to a burst per window.
#[derive(Debug)]
pub(crate) struct LogThrottle {
    burst: u32,
    window: Duration,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Option<Instant>,
    logged: u32,
    held_back: u64,
}

impl LogThrottle {
    pub(crate) fn new(burst: u32, window: Duration) -> Self {
        Self { burst, window, state: Mutex::new(Window { start: None, logged: 0, held_back: 0 }) }
    }

    /// `Some(n)` if a line may be logged at `now`, `n` being the lines held
    /// back since the last one logged; `None` to hold this one back.
    pub(crate) fn admit(&self, now: Instant) -> Option<u64> {
        let mut w = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let expired = w.start.is_none_or(|s| now.saturating_duration_since(s) >= self.window);
        if expired {
            w.start = Some(now);
            w.logged = 0;
        }
        if w.logged >= self.burst {
            w.held_back = w.held_back.saturating_add(1);
            return None;
        }
        w.logged += 1;
        Some(std::mem::take(&mut w.held_back))
    }
}

impl Default for LogThrottle {
    fn default() -> Self {
        Self::new(LOG_BURST, LOG_WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_recorded_certificate_is_accepted() {
        let current = Fingerprint::of(b"current");
        let recorded = DeviceIdentity { fingerprint: current.to_string(), issued_at_ms: 0, not_after_ms: u64::MAX };
        assert_eq!(refusal(Some(&recorded), &current), None);
        assert!(refusal(Some(&recorded), &Fingerprint::of(b"old")).is_some_and(|w| w.contains("re-issued")));
        assert!(refusal(None, &current).is_some_and(|w| w.contains("no certificate is recorded")));
        // Upper-case hex in a record never matches (the model refuses it).
        let upper = DeviceIdentity { fingerprint: current.to_string().to_uppercase(), ..recorded };
        assert!(refusal(Some(&upper), &current).is_some());
    }

    #[test]
    fn a_flood_logs_a_burst_per_window_and_then_says_how_many_were_held_back() {
        let t = LogThrottle::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        let logged: Vec<Option<u64>> = (0..1000).map(|i| t.admit(t0 + Duration::from_millis(i))).collect();
        assert_eq!(logged.iter().filter(|l| l.is_some()).count(), 3);
        assert_eq!(&logged[..4], &[Some(0), Some(0), Some(0), None]);
        assert_eq!(t.admit(t0 + Duration::from_secs(10)), Some(997), "the next window tells the count");
        assert_eq!(t.admit(t0 + Duration::from_secs(10)), Some(0));
        // A clock that does not move never opens a window early.
        let still = LogThrottle::new(1, Duration::from_secs(10));
        assert_eq!(still.admit(t0), Some(0));
        assert_eq!(still.admit(t0), None);
        assert_eq!(still.admit(t0), None);
        assert_eq!(still.admit(t0 + Duration::from_secs(10)), Some(2));
    }
}
