//! The platform's one wall clock: Unix milliseconds.
//!
//! Logic takes a [`Clock`] (or a `now_ms` argument) so that tests control
//! time; only the edges of the platform call [`unix_ms`].
//!
//! ```
//! let clock = wasmbed_model::clock::system();
//! assert!(clock() > 1_700_000_000_000);
//! assert_eq!(wasmbed_model::clock::to_unix_ms(std::time::UNIX_EPOCH), 0);
//! ```

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall clock, Unix milliseconds (passed in so tests control it).
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// `t` as Unix milliseconds (0 before 1970, saturating far in the future).
pub fn to_unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    to_unix_ms(SystemTime::now())
}

/// The system clock as a [`Clock`].
pub fn system() -> Clock {
    Arc::new(unix_ms)
}
