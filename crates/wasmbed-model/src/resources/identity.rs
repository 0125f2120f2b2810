//! Which certificate a device may use, and the attempts made with others.
//!
//! The platform records the device's current certificate on its spec
//! ([`DeviceIdentity`], written by whoever issues it: the API, the QEMU
//! manager, the Kubernetes device reconciler) and the gateway accepts only
//! that one; a certificate re-issued, or one from a deleted device of the
//! same name, is refused. The gateway records the refusals on the status
//! ([`RefusedIdentity`], its own part). A spec, not a status, because it is
//! the platform's decision (as an issued Secret's name would be), and
//! because sessions and device processes follow spec changes: a re-issue
//! ends the previous identity's session at once.

use serde::{Deserialize, Serialize};

use super::{Device, ValidationError};
use crate::{Attempt, Store, StoreError, retry_on_conflict};

/// The certificate a device must present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeviceIdentity {
    /// SHA-256 of the certificate's DER, 64 lower-case hex digits.
    pub fingerprint: String,
    /// When it was issued, Unix milliseconds.
    pub issued_at_ms: u64,
    /// When it expires, Unix milliseconds.
    pub not_after_ms: u64,
}

impl DeviceIdentity {
    /// Checks the fingerprint is 64 lower-case hex digits (what the
    /// gateway compares against, so any other spelling could never match).
    pub fn validate(&self) -> Result<(), ValidationError> {
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if self.fingerprint.len() != 64 || !self.fingerprint.bytes().all(hex) {
            return Err(ValidationError {
                field: "spec.identity.fingerprint",
                why: "must be 64 lower-case hex digits (SHA-256 of the certificate)".into(),
            });
        }
        Ok(())
    }

    /// True when `fingerprint` (lower-case hex) names this certificate.
    pub fn accepts(&self, fingerprint: &str) -> bool {
        self.fingerprint == fingerprint
    }
}

/// Attempts to enroll as a device with a certificate that is not its
/// current one (an old bundle after a re-issue or a re-creation), written
/// by the gateway that refused them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RefusedIdentity {
    /// Attempts refused so far.
    pub attempts: u64,
    /// The last attempt, Unix milliseconds.
    pub last_attempt_ms: u64,
    /// Fingerprint of the certificate the last attempt presented.
    pub fingerprint: String,
    /// Address (`ip:port`) the last attempt came from, as the gateway saw it.
    pub source: String,
    /// Gateway that refused the last attempt.
    pub gateway: String,
}

impl RefusedIdentity {
    /// `previous` plus one attempt, made at `at_ms` with `fingerprint` from `source`.
    pub fn next(previous: Option<&Self>, at_ms: u64, fingerprint: &str, source: &str, gateway: &str) -> Self {
        Self {
            attempts: previous.map_or(0, |p| p.attempts).saturating_add(1),
            last_attempt_ms: at_ms,
            fingerprint: fingerprint.to_owned(),
            source: source.to_owned(),
            gateway: gateway.to_owned(),
        }
    }
}

/// Records `identity` as the one certificate device `name` may use (a
/// read-change-write of its spec, retried on conflicts). The certificate
/// it replaces is refused from then on, and a session holding it ends.
pub async fn record_identity(store: &dyn Store, name: &str, identity: DeviceIdentity) -> Result<Device, StoreError> {
    retry_on_conflict(|| {
        let identity = identity.clone();
        async move {
            let Some(mut d) = store.get_device(name).await? else {
                return Err(Attempt::Failed(StoreError::NotFound { kind: "device", name: name.to_owned() }));
            };
            if d.spec.identity.as_ref() == Some(&identity) {
                return Ok(d);
            }
            d.spec.identity = Some(identity);
            Ok(store.update_device_spec(&d).await?)
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(fingerprint: &str) -> DeviceIdentity {
        DeviceIdentity { fingerprint: fingerprint.into(), issued_at_ms: 1, not_after_ms: 2 }
    }

    #[test]
    fn only_64_lower_case_hex_digits_are_a_fingerprint() {
        assert!(id(&"0a".repeat(32)).validate().is_ok());
        for bad in ["", "abc", &"0A".repeat(32), &"0g".repeat(32), &"0a".repeat(33), &"é".repeat(32)] {
            let e = id(bad).validate().unwrap_err();
            assert_eq!(e.field, "spec.identity.fingerprint", "{bad:?}");
        }
    }

    #[test]
    fn a_device_accepts_only_its_recorded_certificate() {
        let current = id(&"ab".repeat(32));
        assert!(current.accepts(&"ab".repeat(32)));
        assert!(!current.accepts(&"cd".repeat(32)));
        assert!(!current.accepts(""));
    }

    #[test]
    fn refusals_count_up_and_keep_the_last_attempt() {
        let first = RefusedIdentity::next(None, 10, "f1", "1.2.3.4:5", "gw-0");
        assert_eq!((first.attempts, first.last_attempt_ms), (1, 10));
        let second = RefusedIdentity::next(Some(&first), 20, "f2", "5.6.7.8:9", "gw-1");
        assert_eq!(second.attempts, 2);
        assert_eq!(
            (second.fingerprint.as_str(), second.source.as_str(), second.gateway.as_str()),
            ("f2", "5.6.7.8:9", "gw-1")
        );
        let maxed = RefusedIdentity { attempts: u64::MAX, ..second };
        assert_eq!(RefusedIdentity::next(Some(&maxed), 30, "f", "s", "g").attempts, u64::MAX);
    }
}
