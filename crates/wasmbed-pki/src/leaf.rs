//! Issuing a leaf certificate, storing it, and deciding whether a stored
//! one is still good to use: the rule [`Pki`] states, written once for the
//! gateway and every device.
//!
//! Guarantees: a replaced identity never leaves a certificate beside the
//! wrong key (the old certificate goes first, the new one last); a stored
//! identity is reused only if it is signed by this CA, matches its key,
//! names what was asked for and stays valid for [`RENEW_BEFORE`].

use std::path::Path;
use std::time::SystemTime;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType,
};
use x509_parser::certificate::X509Certificate;

use crate::ca::{pem_cert, pem_key};
use crate::files::{self, CERT_MODE, KEY_MODE};
use crate::identity::parse_cert;
use crate::validity::{RENEW_BEFORE, to_datetime, unix_secs};
use crate::{Identity, Pki, PkiError};

impl Pki {
    /// Signs a new leaf (not a CA) for `common_name`, with a fresh P-256 key.
    pub(crate) fn issue(
        &self,
        common_name: &str,
        sans: Vec<SanType>,
        usage: ExtendedKeyUsagePurpose,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::default();
        params.not_before = to_datetime(not_before)?;
        params.not_after = to_datetime(not_after)?;
        if params.not_after <= params.not_before {
            return Err(PkiError::InvalidValidity("not_after must be later than not_before"));
        }
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.subject_alt_names = sans;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued { cert, key })
    }

    /// A stored leaf identity if it is still good to use; `None` if absent
    /// or stale (to be reissued); an error if a file is corrupt.
    pub(crate) fn load_leaf(
        &self,
        cert_path: &Path,
        key_path: &Path,
        now: SystemTime,
        names_what_was_asked: impl Fn(&X509Certificate<'_>) -> bool,
    ) -> Result<Option<Identity>, PkiError> {
        let now = unix_secs(now)?;
        self.read_leaf(cert_path, key_path, |cert| {
            let validity = cert.validity();
            let fresh = now >= validity.not_before.timestamp()
                && now.saturating_add(RENEW_BEFORE.as_secs() as i64) <= validity.not_after.timestamp();
            fresh && names_what_was_asked(cert)
        })
    }

    /// A stored leaf identity signed by this CA that `accept` accepts,
    /// whatever its validity period; `None` if absent or not accepted; an
    /// error if a file is corrupt. Reads only.
    pub(crate) fn read_leaf(
        &self,
        cert_path: &Path,
        key_path: &Path,
        accept: impl Fn(&X509Certificate<'_>) -> bool,
    ) -> Result<Option<Identity>, PkiError> {
        let (Some(cert_pem), Some(key_pem)) = (files::read(cert_path)?, files::read(key_path)?) else {
            return Ok(None);
        };
        let cert_der = pem_cert(cert_path, &cert_pem)?;
        let key = pem_key(key_path, &key_pem)?;
        let cert = parse_cert(&cert_der).map_err(|e| PkiError::corrupt(cert_path, e.to_string()))?;
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            let name = cert_path.file_name().unwrap_or_default().to_string_lossy();
            return Err(PkiError::corrupt(key_path, format!("key does not match {name}")));
        }

        let ca = parse_cert(&self.ca_der)?;
        let signed_by_ca = cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok();
        if !(signed_by_ca && accept(&cert)) {
            return Ok(None);
        }
        Ok(Some(Identity { cert_der, key_der: key.serialize_der() }))
    }
}

/// A freshly issued certificate and key.
pub(crate) struct Issued {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issued {
    pub(crate) fn identity(&self) -> Identity {
        Identity { cert_der: self.cert.der().to_vec(), key_der: self.key.serialize_der() }
    }

    /// Replaces a stored identity. The old certificate goes first and the new
    /// one comes last, so an interruption leaves a lone key (reissued on the
    /// next call), never a certificate beside the wrong key.
    pub(crate) fn store(self, cert_path: &Path, key_path: &Path) -> Result<Identity, PkiError> {
        files::remove_if_present(cert_path)?;
        files::write(key_path, self.key.serialize_pem().as_bytes(), KEY_MODE)?;
        files::write(cert_path, self.cert.pem().as_bytes(), CERT_MODE)?;
        Ok(self.identity())
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;
    use crate::testing::setup;
    use crate::validity::LEAF_LIFETIME;

    #[test]
    fn stale_device_identity_is_reissued() {
        let (_tmp, _dir, now, pki) = setup();
        let first = pki.device_identity("dev-1", now).unwrap();
        let near_expiry = now + LEAF_LIFETIME - RENEW_BEFORE + Duration::from_secs(60);
        let renewed = pki.device_identity("dev-1", near_expiry).unwrap();
        assert_ne!(first, renewed);
        let cert = parse_cert(&renewed.cert_der).unwrap();
        assert!(cert.validity().not_after.timestamp() > unix_secs(near_expiry + RENEW_BEFORE).unwrap());
    }

    #[test]
    fn lone_device_key_is_replaced() {
        let (_tmp, dir, now, pki) = setup();
        let first = pki.device_identity("dev-1", now).unwrap();
        fs::remove_file(dir.join("devices/dev-1.crt")).unwrap();
        let second = pki.device_identity("dev-1", now).unwrap();
        assert_ne!(first.key_der, second.key_der);
        assert_eq!(pki.device_identity("dev-1", now).unwrap(), second);
    }

    #[test]
    fn corrupt_device_key_is_an_error_naming_the_file() {
        let (_tmp, dir, now, pki) = setup();
        pki.device_identity("dev-1", now).unwrap();
        fs::write(dir.join("devices/dev-1.key"), b"junk").unwrap();
        let err = pki.device_identity("dev-1", now).unwrap_err();
        assert!(err.to_string().contains("dev-1.key"), "{err}");
    }

    #[test]
    fn leaf_from_a_replaced_ca_is_reissued() {
        let (_tmp, dir, now, pki) = setup();
        let old = pki.device_identity("dev-1", now).unwrap();
        fs::remove_file(dir.join("ca.crt")).unwrap();
        fs::remove_file(dir.join("ca.key")).unwrap();
        let new_pki = Pki::open_or_create(&dir, now).unwrap();
        assert_ne!(new_pki.ca_cert_der(), pki.ca_cert_der());
        assert_ne!(new_pki.device_identity("dev-1", now).unwrap(), old);
    }
}
