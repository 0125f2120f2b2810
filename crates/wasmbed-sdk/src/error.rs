//! What a host function says when it did not do its job.

/// Why an ABI v2 call failed: the negative `status` of
/// `wit/wasmbed-device.wit`'s `host-error`, decoded. The same codes as
/// `wasmbed_protocol::HostError` (a test holds the two to it; the SDK does
/// not depend on the protocol crate, which needs an allocator apps do not
/// have).
///
/// ```
/// use wasmbed_sdk::HostError;
/// assert_eq!(HostError::from_code(-2), HostError::Nack);
/// assert_eq!(HostError::Nack.code(), -2);
/// assert_eq!(HostError::Denied.name(), "denied");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HostError {
    /// The argument is outside what the app was granted (another pin,
    /// address, bus, channel or port); nothing reached the hardware.
    Denied,
    /// No device acknowledged the I2C address.
    Nack,
    /// The bus or peripheral failed or timed out.
    Bus,
    /// An argument no call accepts (a transfer over 256 bytes, a bad metric
    /// name, an input pin written), or an answer that does not fit the
    /// buffer given (see each function).
    Invalid,
    /// No such config key, or no message being delivered.
    NotFound,
    /// Over the telemetry rate limit: the sample was dropped.
    Limited,
    /// The device has no driver for this peripheral (and off wasm32, no
    /// device at all).
    Unsupported,
    /// A code this SDK does not know, from a newer device.
    Other(i32),
}

impl HostError {
    /// The error a negative status names.
    pub const fn from_code(code: i32) -> Self {
        match code {
            -1 => Self::Denied,
            -2 => Self::Nack,
            -3 => Self::Bus,
            -4 => Self::Invalid,
            -5 => Self::NotFound,
            -6 => Self::Limited,
            -7 => Self::Unsupported,
            other => Self::Other(other),
        }
    }

    /// The negative status the device returns for it.
    pub const fn code(self) -> i32 {
        match self {
            Self::Denied => -1,
            Self::Nack => -2,
            Self::Bus => -3,
            Self::Invalid => -4,
            Self::NotFound => -5,
            Self::Limited => -6,
            Self::Unsupported => -7,
            Self::Other(code) => code,
        }
    }

    /// Kebab-case name, as the WIT says it (`other` for an unknown code).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Denied => "denied",
            Self::Nack => "nack",
            Self::Bus => "bus",
            Self::Invalid => "invalid",
            Self::NotFound => "not-found",
            Self::Limited => "limited",
            Self::Unsupported => "unsupported",
            Self::Other(_) => "other",
        }
    }
}

/// A status as a count: `Ok` when >= 0, the error otherwise.
pub(crate) fn status(code: i32) -> Result<usize, HostError> {
    if code >= 0 { Ok(code as usize) } else { Err(HostError::from_code(code)) }
}

/// A status that says how long a value is, copied into `buf` up to its
/// length: the bytes when it all fit, `Invalid` when `buf` was too short.
pub(crate) fn filled(code: i32, buf: &[u8]) -> Result<&[u8], HostError> {
    let n = status(code)?;
    buf.get(..n).ok_or(HostError::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_unknown_ones_are_kept() {
        for code in -7..=-1 {
            assert_eq!(HostError::from_code(code).code(), code);
            assert_ne!(HostError::from_code(code).name(), "other");
        }
        assert_eq!(HostError::from_code(-99), HostError::Other(-99));
        assert_eq!(status(3), Ok(3));
        assert_eq!(status(-2), Err(HostError::Nack));
    }

    #[test]
    fn a_value_longer_than_its_buffer_is_invalid() {
        let buf = [1u8, 2, 3];
        assert_eq!(filled(2, &buf), Ok(&buf[..2]));
        assert_eq!(filled(4, &buf), Err(HostError::Invalid));
        assert_eq!(filled(-5, &buf), Err(HostError::NotFound));
    }
}
