//! How long certificates are valid, and the time conversions that keep
//! every validity period inside what X.509 can hold.
//!
//! Guarantees: no conversion panics; a time out of range, or outside the
//! years 1950-9999, is [`PkiError::InvalidValidity`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

use crate::PkiError;

/// The CA is valid for ten years (and two leap days).
pub const CA_LIFETIME: Duration = Duration::from_secs(3652 * 24 * 60 * 60);
/// Gateway and device certificates are valid this long.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(825 * 24 * 60 * 60);
/// Certificates start this long before `now`, for clocks that lag.
pub const BACKDATE: Duration = Duration::from_secs(60 * 60);
/// A stored leaf certificate expiring sooner than this is reissued.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// When a leaf issued at `now` starts and ends.
pub(crate) fn leaf_validity(now: SystemTime) -> Result<(SystemTime, SystemTime), PkiError> {
    Ok((backdate(now)?, later(now, LEAF_LIFETIME)?))
}

pub(crate) fn backdate(now: SystemTime) -> Result<SystemTime, PkiError> {
    now.checked_sub(BACKDATE).ok_or(PkiError::InvalidValidity("time out of range"))
}

pub(crate) fn later(now: SystemTime, by: Duration) -> Result<SystemTime, PkiError> {
    now.checked_add(by).ok_or(PkiError::InvalidValidity("time out of range"))
}

pub(crate) fn unix_secs(t: SystemTime) -> Result<i64, PkiError> {
    let out_of_range = || PkiError::InvalidValidity("time out of range");
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).map_err(|_| out_of_range()),
        Err(e) => i64::try_from(e.duration().as_secs()).map(|s| -s).map_err(|_| out_of_range()),
    }
}

/// Whole seconds, within what an X.509 time (UTCTime or GeneralizedTime) holds.
pub(crate) fn to_datetime(t: SystemTime) -> Result<OffsetDateTime, PkiError> {
    let dt = OffsetDateTime::from_unix_timestamp(unix_secs(t)?)
        .map_err(|_| PkiError::InvalidValidity("time out of range"))?;
    if !(1950..=9999).contains(&dt.year()) {
        return Err(PkiError::InvalidValidity("certificate times must fall in the years 1950-9999"));
    }
    Ok(dt)
}
