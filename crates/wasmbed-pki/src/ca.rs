//! The platform CA on disk: created on first use, then opened and checked
//! (readable, a CA, its key beside it, valid now) every time.
//!
//! Guarantees: the CA's key is written before its certificate, so a
//! certificate on disk always has its key; half a CA, or one that does not
//! parse, is an error naming the file and is never replaced.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use crate::PkiError;
use crate::files::{self, CERT_MODE, KEY_MODE};
use crate::identity::parse_cert;
use crate::validity::{CA_LIFETIME, backdate, later, to_datetime, unix_secs};

/// Common name of the platform CA.
pub const CA_COMMON_NAME: &str = "Wasmbed Platform CA";

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";

/// The platform PKI, kept in a directory.
///
/// Layout of the directory (all PEM):
///
/// ```text
/// <dir>/            0700
///   ca.crt          0644  self-signed P-256 CA, path length 0
///   ca.key          0600
///   gateway.crt     0644  serverAuth, SANs as requested
///   gateway.key     0600
///   devices/        0700
///     <id>.crt      0644  clientAuth, CN = <id>
///     <id>.key      0600
///   .lock                 serialises processes sharing the directory
/// ```
///
/// A stored gateway or device identity is reused while it is signed by this
/// CA, matches its key, names what was asked for and stays valid for at least
/// [`RENEW_BEFORE`](crate::RENEW_BEFORE); otherwise it is reissued. A stored
/// file that cannot be parsed is an error naming it, never silently replaced.
///
/// Cheap to share behind an `Arc`: every method takes `&self`, and
/// processes sharing the directory are serialised by a file lock.
pub struct Pki {
    /// The directory, as given to [`Pki::open_or_create`].
    pub(crate) dir: PathBuf,
    /// DER of the CA certificate.
    pub(crate) ca_der: Vec<u8>,
    /// The CA's certificate and key, to sign leaves with.
    pub(crate) issuer: Issuer<'static, KeyPair>,
    /// Public app-signing key (SEC1) and its generation, pinned in every
    /// bundle issued; the private half is not here (see `AppSigning`).
    pub(crate) app_key: std::sync::RwLock<Option<(Vec<u8>, u32)>>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Pki {
    /// Opens the CA in `dir`, creating it on first use: a P-256 key and a
    /// self-signed certificate with common name [`CA_COMMON_NAME`], valid
    /// from `now` less [`BACKDATE`](crate::BACKDATE) for [`CA_LIFETIME`].
    ///
    /// `dir` (and missing parents) are created; `dir` itself with mode 0700.
    /// Private keys are created with mode 0600, certificates with 0644.
    /// A stored CA that is unreadable, corrupt, half-present or not valid at
    /// `now` is an error naming the file.
    pub fn open_or_create(dir: &Path, now: SystemTime) -> Result<Pki, PkiError> {
        files::ensure_dir(dir)?;
        let _lock = files::lock(dir)?;
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let (cert_pem, key_pem) = match (files::read(&cert_path)?, files::read(&key_path)?) {
            (Some(cert), Some(key)) => (cert, key),
            (None, None) => create_ca(&cert_path, &key_path, now)?,
            (Some(_), None) => {
                return Err(PkiError::Incomplete { missing: key_path, present: cert_path });
            }
            (None, Some(_)) => {
                return Err(PkiError::Incomplete { missing: cert_path, present: key_path });
            }
        };

        let ca_der = pem_cert(&cert_path, &cert_pem)?;
        let key = pem_key(&key_path, &key_pem)?;
        {
            let cert = parse_cert(&ca_der).map_err(|e| PkiError::corrupt(&cert_path, e.to_string()))?;
            if !cert.is_ca() {
                return Err(PkiError::corrupt(&cert_path, "not a CA certificate"));
            }
            if cert.public_key().raw != key.subject_public_key_info().as_slice() {
                return Err(PkiError::corrupt(&key_path, format!("key does not match {CA_CERT}")));
            }
            let now = unix_secs(now)?;
            let validity = cert.validity();
            if now < validity.not_before.timestamp() || now > validity.not_after.timestamp() {
                return Err(PkiError::CaNotValid { path: cert_path });
            }
        }
        let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(ca_der.as_slice()), key)
            .map_err(|e| PkiError::corrupt(&cert_path, e.to_string()))?;
        Ok(Pki { dir: dir.to_owned(), ca_der, issuer, app_key: Default::default() })
    }

    /// The directory this PKI lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// DER of the platform CA certificate: what gateways and devices pin.
    pub fn ca_cert_der(&self) -> &[u8] {
        &self.ca_der
    }
}

fn create_ca(cert_path: &Path, key_path: &Path, now: SystemTime) -> Result<(Vec<u8>, Vec<u8>), PkiError> {
    let mut params = CertificateParams::default();
    params.not_before = to_datetime(backdate(now)?)?;
    params.not_after = to_datetime(later(now, CA_LIFETIME)?)?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Wasmbed");
    // Every CA has the same common name; a unit derived from the key keeps
    // their subjects apart, so a certificate from another installation is
    // reported as from an unknown issuer rather than as a bad signature.
    let key_id: String = params.key_identifier(&key).iter().take(8).map(|b| format!("{b:02x}")).collect();
    params.distinguished_name.push(DnType::OrganizationalUnitName, format!("ca-{key_id}"));
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    // Only leaves below the CA: no intermediate can be minted with its key.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key)?;
    let (cert_pem, key_pem) = (cert.pem().into_bytes(), key.serialize_pem().into_bytes());
    // Key first: a certificate on disk always has its key.
    files::write(key_path, &key_pem, KEY_MODE)?;
    files::write(cert_path, &cert_pem, CERT_MODE)?;
    Ok((cert_pem, key_pem))
}

/// The certificate in a PEM file, as DER.
pub(crate) fn pem_cert(path: &Path, pem: &[u8]) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(pem)
        .map(|der| der.to_vec())
        .map_err(|e| PkiError::corrupt(path, format!("not a PEM certificate: {e}")))
}

/// The P-256 key in a PEM PKCS#8 file.
pub(crate) fn pem_key(path: &Path, pem: &[u8]) -> Result<KeyPair, PkiError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
        .map_err(|e| PkiError::corrupt(path, format!("not a PEM PKCS#8 private key: {e}")))?;
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::corrupt(path, format!("not a P-256 private key: {e}")))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::Duration;

    use super::*;
    use crate::identity::common_name;
    use crate::testing::{mode, sans, setup};

    #[test]
    fn files_get_their_modes() {
        let (_tmp, dir, now, pki) = setup();
        pki.gateway_identity(&sans(&["localhost"]), now).unwrap();
        pki.device_identity("dev-1", now).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("devices")), 0o700);
        for key in ["ca.key", "gateway.key", "devices/dev-1.key"] {
            assert_eq!(mode(&dir.join(key)), 0o600, "{key}");
        }
        for cert in ["ca.crt", "gateway.crt", "devices/dev-1.crt"] {
            assert_eq!(mode(&dir.join(cert)), 0o644, "{cert}");
        }
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn ca_is_p256_self_signed_and_lasts_ten_years() {
        let (_tmp, _dir, now, pki) = setup();
        let ca = parse_cert(pki.ca_cert_der()).unwrap();
        assert!(ca.is_ca());
        assert_eq!(common_name(&ca).unwrap(), CA_COMMON_NAME);
        assert_eq!(ca.issuer(), ca.subject());
        ca.verify_signature(None).unwrap();
        let lifetime = ca.validity().not_after.timestamp() - unix_secs(now).unwrap();
        assert!((3650 * 86_400..3660 * 86_400).contains(&lifetime), "{lifetime}");
        assert_eq!(
            ca.public_key().algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()),
            Some(x509_parser::oid_registry::OID_EC_P256)
        );
    }

    #[test]
    fn two_cas_have_different_subjects() {
        let (_tmp, _dir, now, pki) = setup();
        let other = tempfile::tempdir().unwrap();
        let other = Pki::open_or_create(other.path(), now).unwrap();
        let (a, b) = (parse_cert(pki.ca_cert_der()).unwrap(), parse_cert(other.ca_cert_der()).unwrap());
        assert_ne!(a.subject(), b.subject());
        assert_eq!(common_name(&b).unwrap(), CA_COMMON_NAME);
    }

    #[test]
    fn reopening_loads_the_same_ca() {
        let (_tmp, dir, now, pki) = setup();
        let again = Pki::open_or_create(&dir, now + Duration::from_secs(3600)).unwrap();
        assert_eq!(pki.ca_cert_der(), again.ca_cert_der());
        // And it can still issue: the loaded issuer signs what the CA verifies.
        let dev = again.device_identity("dev-1", now).unwrap();
        let ca = parse_cert(pki.ca_cert_der()).unwrap();
        parse_cert(&dev.cert_der).unwrap().verify_signature(Some(ca.public_key())).unwrap();
    }

    #[test]
    fn corrupt_ca_key_is_an_error_naming_the_file() {
        let (_tmp, dir, now, _pki) = setup();
        for junk in [&b"not a key"[..], b"", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"] {
            fs::write(dir.join("ca.key"), junk).unwrap();
            let err = Pki::open_or_create(&dir, now).unwrap_err();
            assert!(matches!(&err, PkiError::Corrupt { path, .. } if path.ends_with("ca.key")), "{err:?}");
            assert!(err.to_string().contains("ca.key"), "{err}");
        }
    }

    #[test]
    fn corrupt_or_mismatched_ca_cert_is_an_error_naming_the_file() {
        let (_tmp, dir, now, _pki) = setup();
        let other = tempfile::tempdir().unwrap();
        Pki::open_or_create(other.path(), now).unwrap();

        let good_cert = fs::read(dir.join("ca.crt")).unwrap();
        fs::write(dir.join("ca.crt"), b"garbage").unwrap();
        let err = Pki::open_or_create(&dir, now).unwrap_err();
        assert!(err.to_string().contains("ca.crt"), "{err}");

        // A key from another CA beside this certificate.
        fs::write(dir.join("ca.crt"), good_cert).unwrap();
        fs::copy(other.path().join("ca.key"), dir.join("ca.key")).unwrap();
        let err = Pki::open_or_create(&dir, now).unwrap_err();
        assert!(matches!(&err, PkiError::Corrupt { path, .. } if path.ends_with("ca.key")), "{err:?}");
    }

    #[test]
    fn half_a_ca_is_an_error() {
        let (_tmp, dir, now, _pki) = setup();
        fs::remove_file(dir.join("ca.crt")).unwrap();
        let err = Pki::open_or_create(&dir, now).unwrap_err();
        assert!(matches!(&err, PkiError::Incomplete { missing, .. } if missing.ends_with("ca.crt")), "{err:?}");
    }

    #[test]
    fn expired_ca_is_an_error() {
        let (_tmp, dir, now, _pki) = setup();
        let err = Pki::open_or_create(&dir, now + CA_LIFETIME + Duration::from_secs(60)).unwrap_err();
        assert!(matches!(err, PkiError::CaNotValid { .. }), "{err:?}");
    }

    #[test]
    fn unreadable_dir_is_an_error_not_a_panic() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = Pki::open_or_create(&file.join("pki"), SystemTime::now()).unwrap_err();
        assert!(matches!(err, PkiError::Io { .. }), "{err:?}");
    }

    #[test]
    fn pki_can_be_shared_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pki>();
        let (_tmp, _dir, now, pki) = setup();
        let pki = std::sync::Arc::new(pki);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let pki = pki.clone();
                std::thread::spawn(move || pki.device_identity("shared", now).unwrap())
            })
            .collect();
        let ids: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert!(ids.windows(2).all(|w| w[0] == w[1]));
    }
}
