//! How the platform names one certificate: the SHA-256 of its DER.
//!
//! A device is known by its common name, but the platform records which
//! certificate it issued last ([`Identity::fingerprint`]); the gateway
//! accepts only that one, so an identity re-issued or deleted is revoked
//! without a CRL. Guarantees: the fingerprint is over the exact DER the
//! peer presented (not a re-encoding), written as 64 lower-case hex digits.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::identity::parse_cert;
use crate::{BACKDATE, Identity, PkiError};

/// SHA-256 of a certificate's DER.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// The fingerprint of `der` (any bytes: the TLS layer has verified them).
    pub fn of(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl FromStr for Fingerprint {
    type Err = PkiError;

    /// 64 hex digits (either case).
    fn from_str(s: &str) -> Result<Self, PkiError> {
        let bad = || PkiError::InvalidFingerprint(s.chars().take(80).collect());
        // Digit by digit: `from_str_radix` would also take a sign.
        let digit = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
        if s.len() != 64 {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let (Some(hi), Some(lo)) = (pair.first().and_then(|b| digit(*b)), pair.get(1).and_then(|b| digit(*b)))
            else {
                return Err(bad());
            };
            *byte = hi << 4 | lo;
        }
        Ok(Self(out))
    }
}

impl Identity {
    /// The fingerprint of this identity's certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::of(&self.cert_der)
    }

    /// When this identity's certificate expires.
    pub fn not_after(&self) -> Result<SystemTime, PkiError> {
        let cert = parse_cert(&self.cert_der)?;
        from_unix(cert.validity().not_after.timestamp(), "expires before 1970")
    }

    /// When this identity's certificate was issued, as this PKI issues
    /// certificates (valid from [`BACKDATE`] before the issue): for a
    /// stored certificate whose issue was not recorded.
    pub fn issued_at(&self) -> Result<SystemTime, PkiError> {
        let cert = parse_cert(&self.cert_der)?;
        let not_before = from_unix(cert.validity().not_before.timestamp(), "valid before 1970")?;
        not_before.checked_add(BACKDATE).ok_or(PkiError::InvalidValidity("time out of range"))
    }

    /// What a Device records of this identity, issued at `issued_at`: the
    /// one place that turns a certificate into its record.
    #[cfg(feature = "model")]
    pub fn record(&self, issued_at: SystemTime) -> Result<wasmbed_model::DeviceIdentity, PkiError> {
        use wasmbed_model::clock::to_unix_ms as ms;
        Ok(wasmbed_model::DeviceIdentity {
            fingerprint: self.fingerprint().to_string(),
            issued_at_ms: ms(issued_at),
            not_after_ms: ms(self.not_after()?),
        })
    }
}

/// `secs` after the Unix epoch; `before_1970` when negative.
fn from_unix(secs: i64, before_1970: &'static str) -> Result<SystemTime, PkiError> {
    let secs = u64::try_from(secs).map_err(|_| PkiError::InvalidValidity(before_1970))?;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs)).ok_or(PkiError::InvalidValidity("time out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::setup;
    use crate::validity::LEAF_LIFETIME;

    #[test]
    fn a_fingerprint_is_the_sha256_of_the_der_in_lower_case_hex() {
        // SHA-256 of the empty input.
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Fingerprint::of(b"").to_string(), empty);
        assert_eq!(empty.parse::<Fingerprint>().unwrap(), Fingerprint::of(b""));
        assert_eq!(empty.to_uppercase().parse::<Fingerprint>().unwrap(), Fingerprint::of(b""));
    }

    #[test]
    fn bad_fingerprints_are_refused_and_the_echo_is_bounded() {
        let long = "a".repeat(1000);
        for bad in ["", "abc", &"g".repeat(64), &"é".repeat(32), &long, &format!("{}+1", "0".repeat(62))] {
            match bad.parse::<Fingerprint>() {
                Err(PkiError::InvalidFingerprint(echo)) => assert!(echo.chars().count() <= 80),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn every_identity_has_its_own_fingerprint_and_its_expiry() {
        let (_tmp, _dir, now, pki) = setup();
        let first = pki.device_identity("dev-1", now).unwrap();
        assert_eq!(first.fingerprint(), Fingerprint::of(&first.cert_der));
        let again = pki.reissue_device("dev-1", now).unwrap();
        assert_ne!(again.fingerprint(), first.fingerprint());
        let expires = again.not_after().unwrap();
        let want = now + LEAF_LIFETIME;
        let off = expires.duration_since(want).unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_secs(1), "{expires:?} vs {want:?}");
        let issued = again.issued_at().unwrap();
        let off = issued.duration_since(now).unwrap_or_else(|e| e.duration());
        assert!(off < Duration::from_secs(1), "{issued:?} vs {now:?}");
        let junk = Identity { cert_der: vec![0x30, 0x00], key_der: vec![] };
        assert!(matches!(junk.not_after(), Err(PkiError::InvalidCertificate(_))));
        assert!(matches!(junk.issued_at(), Err(PkiError::InvalidCertificate(_))));
    }

    #[cfg(feature = "model")]
    #[test]
    fn the_record_names_the_certificate_and_its_times() {
        let (_tmp, _dir, now, pki) = setup();
        let id = pki.device_identity("dev-1", now).unwrap();
        let rec = id.record(UNIX_EPOCH + Duration::from_millis(1234)).unwrap();
        assert_eq!(rec.fingerprint, id.fingerprint().to_string());
        assert!(rec.validate().is_ok());
        assert_eq!(rec.issued_at_ms, 1234);
        assert_eq!(rec.not_after_ms / 1000, id.not_after().unwrap().duration_since(UNIX_EPOCH).unwrap().as_secs());
        let junk = Identity { cert_der: vec![1], key_der: vec![] };
        assert!(junk.record(now).is_err());
    }
}
