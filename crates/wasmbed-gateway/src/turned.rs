//! What was turned away before authentication, told as one summary line per
//! interval instead of a line per connection: a flood of idle connections
//! must not flood the log as well.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts since the last summary.
#[derive(Debug, Default)]
pub(crate) struct Turned {
    no_room: AtomicU64,
    evicted: AtomicU64,
    timed_out: AtomicU64,
    tls_failed: AtomicU64,
    over_session_cap: AtomicU64,
    /// The last TLS failure, to say what kind they were.
    last_failure: Mutex<Option<String>>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Why {
    /// No handshake slot (the pool or its source's share was full).
    NoRoom,
    /// A stale handshake gave way to a newer connection.
    Evicted,
    /// The handshake did not finish within the handshake timeout.
    TimedOut,
    /// The TLS handshake failed (bad, expired or missing certificate, or
    /// not TLS at all).
    TlsFailed,
    /// Authenticated, but every session slot was taken.
    OverSessionCap,
}

impl Turned {
    pub(crate) fn count(&self, why: Why) {
        let counter = match why {
            Why::NoRoom => &self.no_room,
            Why::Evicted => &self.evicted,
            Why::TimedOut => &self.timed_out,
            Why::TlsFailed => &self.tls_failed,
            Why::OverSessionCap => &self.over_session_cap,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// A failed TLS handshake, with what went wrong.
    pub(crate) fn tls_failed(&self, detail: String) {
        self.count(Why::TlsFailed);
        if let Ok(mut last) = self.last_failure.lock() {
            *last = Some(detail);
        }
    }

    /// The counts since the last call, starting over; None when nothing
    /// was turned away.
    pub(crate) fn take(&self) -> Option<Summary> {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        let s = Summary {
            no_room: take(&self.no_room),
            evicted: take(&self.evicted),
            timed_out: take(&self.timed_out),
            tls_failed: take(&self.tls_failed),
            over_session_cap: take(&self.over_session_cap),
            last_failure: self.last_failure.lock().ok().and_then(|mut l| l.take()),
        };
        let any = s.no_room + s.evicted + s.timed_out + s.tls_failed + s.over_session_cap > 0;
        any.then_some(s)
    }
}

/// One interval's counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub no_room: u64,
    pub evicted: u64,
    pub timed_out: u64,
    pub tls_failed: u64,
    pub over_session_cap: u64,
    pub last_failure: Option<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = [
            (self.no_room, "refused for want of a handshake slot"),
            (self.evicted, "stale handshakes evicted"),
            (self.timed_out, "handshakes timed out"),
            (self.tls_failed, "TLS handshakes failed"),
            (self.over_session_cap, "refused at the session cap"),
        ];
        let mut first = true;
        for (n, what) in parts.iter().filter(|(n, _)| *n > 0) {
            write!(f, "{}{n} {what}", if first { "" } else { ", " })?;
            first = false;
        }
        if let Some(last) = &self.last_failure {
            write!(f, " (last TLS failure: {last})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_come_out_once_and_start_over() {
        let t = Turned::default();
        assert_eq!(t.take(), None, "nothing to say");
        for _ in 0..300 {
            t.count(Why::Evicted);
        }
        t.tls_failed("peer 10.0.0.9:1: unknown CA".into());
        t.count(Why::TimedOut);
        let s = t.take().unwrap_or_default();
        assert_eq!((s.evicted, s.tls_failed, s.timed_out, s.no_room), (300, 1, 1, 0));
        assert_eq!(
            s.to_string(),
            "300 stale handshakes evicted, 1 handshakes timed out, 1 TLS handshakes failed \
             (last TLS failure: peer 10.0.0.9:1: unknown CA)"
        );
        assert_eq!(t.take(), None, "the next interval starts at zero");
    }
}
