//! Issued identities and device ids.

use std::fmt;

use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;

use crate::PkiError;

/// Longest device id: one DNS label, so `<id>.device.wasmbed` is a valid name.
pub const MAX_DEVICE_ID_LEN: usize = 63;

/// A certificate and its private key.
///
/// `Debug` shows only the certificate's length, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    /// DER of the certificate, signed by the platform CA.
    pub cert_der: Vec<u8>,
    /// PKCS#8 DER of the certificate's P-256 private key.
    pub key_der: Vec<u8>,
}

impl Identity {
    /// The certificate, typed for rustls.
    pub fn cert(&self) -> CertificateDer<'static> {
        CertificateDer::from(self.cert_der.clone())
    }

    /// The private key, typed for rustls.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity").field("cert_der_len", &self.cert_der.len()).finish_non_exhaustive()
    }
}

/// Checks that `id` is a device id: 1-63 characters of `[a-z0-9-]`, not
/// starting or ending with `-` (the rule for resource names, so it is also a
/// DNS label and a safe file name).
pub fn validate_device_id(id: &str) -> Result<(), PkiError> {
    let ok = (1..=MAX_DEVICE_ID_LEN).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-')
        && !id.ends_with('-');
    if ok {
        Ok(())
    } else {
        // Bound what an error can echo back.
        Err(PkiError::InvalidDeviceId(id.chars().take(80).collect()))
    }
}

/// Extracts the device id (the subject common name) from a DER certificate.
///
/// Fails if the bytes are not one certificate, if the subject has no common
/// name or more than one, if it is not a UTF-8 compatible string, or if it is
/// not a valid device id (see [`validate_device_id`]). This does not check
/// the signature: call it on a certificate the TLS layer has verified.
pub fn device_id_from_cert(der: &[u8]) -> Result<String, PkiError> {
    let cert = parse_cert(der)?;
    common_name(&cert).and_then(|cn| {
        validate_device_id(&cn)?;
        Ok(cn)
    })
}

pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>, PkiError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(PkiError::InvalidCertificate("trailing bytes after the certificate".into())),
        Err(e) => Err(PkiError::InvalidCertificate(format!("not a DER X.509 certificate: {e}"))),
    }
}

/// The single subject common name.
pub(crate) fn common_name(cert: &X509Certificate<'_>) -> Result<String, PkiError> {
    let mut names = cert.subject().iter_common_name();
    let cn = names.next().ok_or_else(|| PkiError::InvalidCertificate("subject has no common name".into()))?;
    if names.next().is_some() {
        return Err(PkiError::InvalidCertificate("subject has more than one common name".into()));
    }
    cn.as_str()
        .map(str::to_owned)
        .map_err(|_| PkiError::InvalidCertificate("subject common name is not a UTF-8 string".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_resource_names() {
        for id in ["a", "dev-1", "0", "x".repeat(63).as_str(), "a-b-c9"] {
            assert!(validate_device_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_bad_device_ids() {
        let long = "x".repeat(64);
        for id in ["", &long, "-a", "a-", "Dev", "a.b", "..", "../etc", "a/b", "a\\b", "a b", "a\0", "é", "dev_1"] {
            assert!(matches!(validate_device_id(id), Err(PkiError::InvalidDeviceId(_))), "{id:?}");
        }
    }

    #[test]
    fn error_echo_is_bounded() {
        let Err(PkiError::InvalidDeviceId(echo)) = validate_device_id(&"A".repeat(10_000)) else {
            panic!("accepted");
        };
        assert_eq!(echo.len(), 80);
    }

    #[test]
    fn debug_never_prints_the_key() {
        let id = Identity { cert_der: vec![1, 2, 3], key_der: vec![0xAB; 8] };
        let s = format!("{id:?}");
        assert!(!s.contains("key") && !s.contains("171"), "{s}");
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        for der in [&[][..], &[0x30], &[0x30, 0x03, 1, 2, 3], &[0xff; 40]] {
            assert!(matches!(device_id_from_cert(der), Err(PkiError::InvalidCertificate(_))));
        }
    }
}
