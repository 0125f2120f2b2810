//! Capability `config`: the application's configuration, text values by
//! key, delivered with the module (a change is a new revision, not a new
//! module). Numbers parse with [`parse_number`], without `core::fmt`'s or
//! `str::parse`'s size.
//!
//! ```
//! use wasmbed_sdk::config;
//!
//! // Off wasm32 there is no configuration: every key is missing.
//! let threshold = config::number("threshold_c").unwrap_or(30.0);
//! assert_eq!(threshold, 30.0);
//! assert_eq!(config::parse_number("-12.25"), Some(-12.25));
//! ```

use crate::HostError;
use crate::error::filled;

/// Longest configuration value, bytes: a buffer this long holds any.
pub const MAX_VALUE_LEN: usize = 128;

/// Copies the value of `key` into `buf`: the value, or `NotFound` (no such
/// key), or `Invalid` when `buf` is shorter than the value or it is not
/// UTF-8.
pub fn get<'a>(key: &str, buf: &'a mut [u8]) -> Result<&'a str, HostError> {
    let code = crate::host::config_get(key, buf);
    let bytes = filled(code, buf)?;
    core::str::from_utf8(bytes).map_err(|_| HostError::Invalid)
}

/// The value of `key` as a number ([`parse_number`]): `NotFound` without
/// the key, `Invalid` when it is not a number.
pub fn number(key: &str) -> Result<f64, HostError> {
    let mut buf = [0u8; MAX_VALUE_LEN];
    parse_number(get(key, &mut buf)?).ok_or(HostError::Invalid)
}

/// Parses a decimal number: an optional sign, digits, and optionally a
/// point and more digits (`30`, `-4.5`, `+0.125`, `.5`); surrounding spaces
/// are ignored. No exponents, no `inf` or `nan`. At most 18 significant
/// digits on each side of the point.
///
/// ```
/// use wasmbed_sdk::config::parse_number;
/// assert_eq!(parse_number(" 21.5 "), Some(21.5));
/// assert_eq!(parse_number("7"), Some(7.0));
/// for bad in ["", "-", ".", "1.2.3", "1e3", "ten", "1 2"] {
///     assert_eq!(parse_number(bad), None, "{bad}");
/// }
/// ```
pub fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim_ascii();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let (whole, _) = digits(int)?;
    let (part, places) = digits(frac)?;
    let mut scale = 1.0;
    for _ in 0..places {
        scale *= 10.0;
    }
    let v = whole as f64 + part as f64 / scale;
    Some(if negative { -v } else { v })
}

/// An unsigned decimal and its digit count; `None` for anything else or
/// more than 18 digits.
fn digits(s: &str) -> Option<(u64, u32)> {
    if s.len() > 18 {
        return None;
    }
    let mut v = 0u64;
    for b in s.bytes() {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    Some((v, s.len() as u32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_written() {
        let cases = [("30", 30.0), ("-4.5", -4.5), ("+0.125", 0.125), (".5", 0.5), ("5.", 5.0), ("007", 7.0)];
        for (s, v) in cases {
            assert_eq!(parse_number(s), Some(v), "{s}");
        }
        assert_eq!(parse_number("1234567890.123456789"), Some(1_234_567_890.123_456_8));
    }

    #[test]
    fn anything_else_is_no_number() {
        for s in ["", " ", "+", "-.", "1-", "--1", "0x10", "1,5", "nan", "inf", &"9".repeat(19)] {
            assert_eq!(parse_number(s), None, "{s:?}");
        }
    }
}
