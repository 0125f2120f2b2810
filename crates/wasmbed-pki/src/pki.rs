//! The platform CA and the identities it issues.
//!
//! Layout of the directory (all PEM):
//!
//! ```text
//! <dir>/            0700
//!   ca.crt          0644  self-signed P-256 CA, path length 0
//!   ca.key          0600
//!   gateway.crt     0644  serverAuth, SANs as requested
//!   gateway.key     0600
//!   devices/        0700
//!     <id>.crt      0644  clientAuth, CN = <id>
//!     <id>.key      0600
//!   .lock                 serialises processes sharing the directory
//! ```
//!
//! A stored gateway or device identity is reused while it is signed by this
//! CA, matches its key, names what was asked for and stays valid for at least
//! [`RENEW_BEFORE`]; otherwise it is reissued. A stored file that cannot be
//! parsed is an error naming it, never silently replaced.

use std::collections::HashSet;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, DnsName, PrivatePkcs8KeyDer};
use time::OffsetDateTime;
use wasmbed_protocol::IdentityBundle;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::files::{self, CERT_MODE, KEY_MODE};
use crate::identity::{common_name, parse_cert, validate_device_id};
use crate::{Identity, PkiError};

/// Common name of the platform CA.
pub const CA_COMMON_NAME: &str = "Wasmbed Platform CA";
/// Common name of the gateway certificate.
pub const GATEWAY_COMMON_NAME: &str = "Wasmbed Gateway";
/// DNS suffix of the name put in each device certificate: `<id>.device.wasmbed`.
pub const DEVICE_DNS_SUFFIX: &str = "device.wasmbed";

/// The CA is valid for ten years (and two leap days).
pub const CA_LIFETIME: Duration = Duration::from_secs(3652 * 24 * 60 * 60);
/// Gateway and device certificates are valid this long.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(825 * 24 * 60 * 60);
/// Certificates start this long before `now`, for clocks that lag.
pub const BACKDATE: Duration = Duration::from_secs(60 * 60);
/// A stored leaf certificate expiring sooner than this is reissued.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 60 * 60);

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const GATEWAY_CERT: &str = "gateway.crt";
const GATEWAY_KEY: &str = "gateway.key";
const DEVICES: &str = "devices";

/// The platform PKI, kept in a directory.
///
/// Cheap to share behind an `Arc`: every method takes `&self`, and
/// processes sharing the directory are serialised by a file lock.
pub struct Pki {
    dir: PathBuf,
    ca_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for Pki {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pki").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Pki {
    /// Opens the CA in `dir`, creating it on first use: a P-256 key and a
    /// self-signed certificate with common name [`CA_COMMON_NAME`], valid
    /// from `now` less [`BACKDATE`] for [`CA_LIFETIME`].
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
        Ok(Pki { dir: dir.to_owned(), ca_der, issuer })
    }

    /// The directory this PKI lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// DER of the platform CA certificate: what gateways and devices pin.
    pub fn ca_cert_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The gateway's server identity, stored as `gateway.crt`/`gateway.key`.
    ///
    /// `sans` are DNS names or IP addresses, e.g. `["localhost",
    /// "127.0.0.1", "10.0.2.2"]`. The stored identity is reused if it names
    /// all of them (and is otherwise usable, see the module docs); if not, a
    /// new one is issued for exactly `sans`, valid from `now` less
    /// [`BACKDATE`] for [`LEAF_LIFETIME`].
    pub fn gateway_identity(&self, sans: &[String], now: SystemTime) -> Result<Identity, PkiError> {
        let wanted = parse_sans(sans)?;
        let _lock = files::lock(&self.dir)?;
        let cert_path = self.dir.join(GATEWAY_CERT);
        let key_path = self.dir.join(GATEWAY_KEY);
        let names_all = |cert: &X509Certificate<'_>| {
            let have = cert_sans(cert);
            wanted.iter().all(|san| have.contains(san))
        };
        if let Some(id) = self.load_leaf(&cert_path, &key_path, now, names_all)? {
            return Ok(id);
        }
        let (not_before, not_after) = leaf_validity(now)?;
        let issued = self.issue(
            GATEWAY_COMMON_NAME,
            wanted.iter().map(San::to_rcgen).collect::<Result<_, _>>()?,
            ExtendedKeyUsagePurpose::ServerAuth,
            not_before,
            not_after,
        )?;
        issued.store(&cert_path, &key_path)
    }

    /// A device's client identity: common name `device_id`, DNS name
    /// `<device_id>.device.wasmbed`, valid from `now` less [`BACKDATE`] for
    /// [`LEAF_LIFETIME`].
    ///
    /// Stored as `devices/<device_id>.crt`/`.key`; a stored identity is
    /// reused (see the module docs). Rejects an invalid device id.
    pub fn device_identity(&self, device_id: &str, now: SystemTime) -> Result<Identity, PkiError> {
        validate_device_id(device_id)?;
        let devices = self.dir.join(DEVICES);
        files::ensure_dir(&devices)?;
        let _lock = files::lock(&self.dir)?;
        let (cert_path, key_path) = device_paths(&devices, device_id);
        let is_device = |cert: &X509Certificate<'_>| common_name(cert).is_ok_and(|cn| cn == device_id);
        if let Some(id) = self.load_leaf(&cert_path, &key_path, now, is_device)? {
            return Ok(id);
        }
        let (not_before, not_after) = leaf_validity(now)?;
        self.issue_device(device_id, not_before, not_after)?.store(&cert_path, &key_path)
    }

    /// Like [`device_identity`](Self::device_identity) with an explicit
    /// validity period, and never stored: for tests that need a certificate
    /// not yet valid or already expired.
    pub fn issue_device_with_validity(
        &self,
        device_id: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<Identity, PkiError> {
        validate_device_id(device_id)?;
        Ok(self.issue_device(device_id, not_before, not_after)?.identity())
    }

    /// Deletes a device's stored identity; absent is fine.
    ///
    /// This does not revoke the certificate: one already given to the device
    /// stays valid until it expires, so the gateway must also check that the
    /// device still exists.
    pub fn forget_device(&self, device_id: &str) -> Result<(), PkiError> {
        validate_device_id(device_id)?;
        let _lock = files::lock(&self.dir)?;
        let (cert_path, key_path) = device_paths(&self.dir.join(DEVICES), device_id);
        files::remove_if_present(&cert_path)?;
        files::remove_if_present(&key_path)
    }

    /// Everything a device is provisioned with: its identity (from
    /// [`device_identity`](Self::device_identity)), the CA it pins, the
    /// gateway addresses (`host:port`, its own first, the others as
    /// alternates), its board and its random `seed`.
    pub fn bundle<S: AsRef<str>>(
        &self,
        device_id: &str,
        board: &str,
        gateways: &[S],
        seed: [u8; 32],
        now: SystemTime,
    ) -> Result<IdentityBundle, PkiError> {
        let (first, rest) = gateways.split_first().ok_or(PkiError::NoGateway)?;
        let Identity { cert_der, key_der } = self.device_identity(device_id, now)?;
        let alternates: Vec<String> = rest.iter().map(|g| g.as_ref().to_owned()).collect();
        Ok(IdentityBundle {
            device_id: device_id.to_owned(),
            gateway: first.as_ref().to_owned(),
            ca_der: self.ca_der.clone().into(),
            cert_der: cert_der.into(),
            key_der: key_der.into(),
            seed: seed.into(),
            board: board.to_owned(),
            alternates: (!alternates.is_empty()).then_some(alternates),
        })
    }

    fn issue_device(&self, device_id: &str, not_before: SystemTime, not_after: SystemTime) -> Result<Issued, PkiError> {
        let dns = format!("{device_id}.{DEVICE_DNS_SUFFIX}");
        let san = SanType::DnsName(dns.try_into()?);
        self.issue(device_id, vec![san], ExtendedKeyUsagePurpose::ClientAuth, not_before, not_after)
    }

    fn issue(
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
    fn load_leaf(
        &self,
        cert_path: &Path,
        key_path: &Path,
        now: SystemTime,
        names_what_was_asked: impl Fn(&X509Certificate<'_>) -> bool,
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
        let now = unix_secs(now)?;
        let validity = cert.validity();
        let fresh = now >= validity.not_before.timestamp()
            && now.saturating_add(RENEW_BEFORE.as_secs() as i64) <= validity.not_after.timestamp();
        if !(signed_by_ca && fresh && names_what_was_asked(&cert)) {
            return Ok(None);
        }
        Ok(Some(Identity { cert_der, key_der: key.serialize_der() }))
    }
}

/// A freshly issued certificate and key.
struct Issued {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Issued {
    fn identity(&self) -> Identity {
        Identity { cert_der: self.cert.der().to_vec(), key_der: self.key.serialize_der() }
    }

    /// Replaces a stored identity. The old certificate goes first and the new
    /// one comes last, so an interruption leaves a lone key (reissued on the
    /// next call), never a certificate beside the wrong key.
    fn store(self, cert_path: &Path, key_path: &Path) -> Result<Identity, PkiError> {
        files::remove_if_present(cert_path)?;
        files::write(key_path, self.key.serialize_pem().as_bytes(), KEY_MODE)?;
        files::write(cert_path, self.cert.pem().as_bytes(), CERT_MODE)?;
        Ok(self.identity())
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

fn device_paths(devices: &Path, device_id: &str) -> (PathBuf, PathBuf) {
    (devices.join(format!("{device_id}.crt")), devices.join(format!("{device_id}.key")))
}

fn pem_cert(path: &Path, pem: &[u8]) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(pem)
        .map(|der| der.to_vec())
        .map_err(|e| PkiError::corrupt(path, format!("not a PEM certificate: {e}")))
}

fn pem_key(path: &Path, pem: &[u8]) -> Result<KeyPair, PkiError> {
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem)
        .map_err(|e| PkiError::corrupt(path, format!("not a PEM PKCS#8 private key: {e}")))?;
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::corrupt(path, format!("not a P-256 private key: {e}")))
}

/// A requested subject alternative name, comparable with one read back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    fn to_rcgen(&self) -> Result<SanType, PkiError> {
        Ok(match self {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(name) => SanType::DnsName(name.clone().try_into()?),
        })
    }
}

fn parse_sans(sans: &[String]) -> Result<Vec<San>, PkiError> {
    if sans.is_empty() {
        return Err(PkiError::InvalidSan(String::new()));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for s in sans {
        let san = if let Ok(ip) = s.parse::<IpAddr>() {
            San::Ip(ip)
        } else {
            let name =
                DnsName::try_from(s.as_str()).map_err(|_| PkiError::InvalidSan(s.chars().take(255).collect()))?;
            San::Dns(name.as_ref().to_ascii_lowercase())
        };
        if seen.insert(san.clone()) {
            out.push(san);
        }
    }
    Ok(out)
}

fn cert_sans(cert: &X509Certificate<'_>) -> HashSet<San> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return HashSet::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(San::Dns(dns.to_ascii_lowercase())),
            GeneralName::IPAddress(bytes) => <[u8; 4]>::try_from(*bytes)
                .map(IpAddr::from)
                .or_else(|_| <[u8; 16]>::try_from(*bytes).map(IpAddr::from))
                .ok()
                .map(San::Ip),
            _ => None,
        })
        .collect()
}

fn leaf_validity(now: SystemTime) -> Result<(SystemTime, SystemTime), PkiError> {
    Ok((backdate(now)?, later(now, LEAF_LIFETIME)?))
}

fn backdate(now: SystemTime) -> Result<SystemTime, PkiError> {
    now.checked_sub(BACKDATE).ok_or(PkiError::InvalidValidity("time out of range"))
}

fn later(now: SystemTime, by: Duration) -> Result<SystemTime, PkiError> {
    now.checked_add(by).ok_or(PkiError::InvalidValidity("time out of range"))
}

fn unix_secs(t: SystemTime) -> Result<i64, PkiError> {
    let out_of_range = || PkiError::InvalidValidity("time out of range");
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).map_err(|_| out_of_range()),
        Err(e) => i64::try_from(e.duration().as_secs()).map(|s| -s).map_err(|_| out_of_range()),
    }
}

/// Whole seconds, within what an X.509 time (UTCTime or GeneralizedTime) holds.
fn to_datetime(t: SystemTime) -> Result<OffsetDateTime, PkiError> {
    let dt = OffsetDateTime::from_unix_timestamp(unix_secs(t)?)
        .map_err(|_| PkiError::InvalidValidity("time out of range"))?;
    if !(1950..=9999).contains(&dt.year()) {
        return Err(PkiError::InvalidValidity("certificate times must fall in the years 1950-9999"));
    }
    Ok(dt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device_id_from_cert;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn sans(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn setup() -> (tempfile::TempDir, PathBuf, SystemTime, Pki) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state").join("pki");
        let now = SystemTime::now();
        let pki = Pki::open_or_create(&dir, now).unwrap();
        (tmp, dir, now, pki)
    }

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
    fn device_identity_carries_the_id() {
        let (_tmp, _dir, now, pki) = setup();
        let dev = pki.device_identity("sensor-7", now).unwrap();
        assert_eq!(device_id_from_cert(&dev.cert_der).unwrap(), "sensor-7");
        let cert = parse_cert(&dev.cert_der).unwrap();
        assert_eq!(cert_sans(&cert), HashSet::from([San::Dns("sensor-7.device.wasmbed".into())]));
        assert!(!cert.is_ca());
        let start = unix_secs(now).unwrap();
        assert_eq!(cert.validity().not_before.timestamp(), start - 3600);
        assert_eq!(cert.validity().not_after.timestamp(), start + 825 * 86_400);
        // The key is PKCS#8 P-256 and belongs to the certificate.
        let key = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(dev.key_der.as_slice()),
            &PKCS_ECDSA_P256_SHA256,
        )
        .unwrap();
        assert_eq!(cert.public_key().raw, key.subject_public_key_info().as_slice());
    }

    #[test]
    fn device_id_is_not_read_from_other_certificates() {
        let (_tmp, _dir, now, pki) = setup();
        // CA and gateway common names are not device ids.
        assert!(device_id_from_cert(pki.ca_cert_der()).is_err());
        let gw = pki.gateway_identity(&sans(&["localhost"]), now).unwrap();
        assert!(matches!(device_id_from_cert(&gw.cert_der), Err(PkiError::InvalidDeviceId(_))));
        let mut trailing = pki.device_identity("d", now).unwrap().cert_der;
        trailing.push(0);
        assert!(matches!(device_id_from_cert(&trailing), Err(PkiError::InvalidCertificate(_))));
    }

    #[test]
    fn bad_device_ids_are_rejected_before_touching_files() {
        let (_tmp, dir, now, pki) = setup();
        for id in ["", "../ca", "..", "a/b", "UPPER", "-x", &"a".repeat(64)] {
            assert!(matches!(pki.device_identity(id, now), Err(PkiError::InvalidDeviceId(_))), "{id:?}");
            assert!(matches!(
                pki.issue_device_with_validity(id, now, now + LEAF_LIFETIME),
                Err(PkiError::InvalidDeviceId(_))
            ));
            assert!(matches!(pki.forget_device(id), Err(PkiError::InvalidDeviceId(_))));
        }
        assert!(dir.join("ca.key").exists() && dir.join("ca.crt").exists());
    }

    #[test]
    fn device_identity_is_stored_reused_and_forgotten() {
        let (_tmp, dir, now, pki) = setup();
        let first = pki.device_identity("dev-1", now).unwrap();
        let second = pki.device_identity("dev-1", now + Duration::from_secs(10)).unwrap();
        assert_eq!(first, second);
        // Reused by another handle on the same directory too.
        let other_handle = Pki::open_or_create(&dir, now).unwrap();
        assert_eq!(other_handle.device_identity("dev-1", now).unwrap(), first);

        pki.forget_device("dev-1").unwrap();
        assert!(!dir.join("devices/dev-1.key").exists());
        pki.forget_device("dev-1").unwrap();
        assert_ne!(pki.device_identity("dev-1", now).unwrap(), first);
    }

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
    fn explicit_validity_is_used_and_not_stored() {
        let (_tmp, dir, now, pki) = setup();
        let day = Duration::from_secs(86_400);
        let expired = pki.issue_device_with_validity("old", now - 10 * day, now - day).unwrap();
        let cert = parse_cert(&expired.cert_der).unwrap();
        assert_eq!(cert.validity().not_after.timestamp(), unix_secs(now - day).unwrap());
        assert!(!dir.join("devices/old.crt").exists());
        assert!(matches!(pki.issue_device_with_validity("old", now, now - day), Err(PkiError::InvalidValidity(_))));
        assert!(matches!(
            pki.issue_device_with_validity("old", UNIX_EPOCH - 365 * 100 * day, now),
            Err(PkiError::InvalidValidity(_))
        ));
    }

    #[test]
    fn gateway_identity_is_reused_until_a_san_is_missing() {
        let (_tmp, _dir, now, pki) = setup();
        let three = sans(&["localhost", "127.0.0.1", "10.0.2.2"]);
        let first = pki.gateway_identity(&three, now).unwrap();
        let cert = parse_cert(&first.cert_der).unwrap();
        assert_eq!(
            cert_sans(&cert),
            HashSet::from([
                San::Dns("localhost".into()),
                San::Ip("127.0.0.1".parse().unwrap()),
                San::Ip("10.0.2.2".parse().unwrap()),
            ])
        );
        assert_eq!(common_name(&cert).unwrap(), GATEWAY_COMMON_NAME);

        // A subset (any case) is already covered.
        assert_eq!(pki.gateway_identity(&sans(&["LOCALHOST", "10.0.2.2"]), now).unwrap(), first);
        let with_v6 = pki.gateway_identity(&sans(&["localhost", "::1"]), now).unwrap();
        assert_ne!(with_v6, first);
        let names = cert_sans(&parse_cert(&with_v6.cert_der).unwrap());
        assert!(names.contains(&San::Ip("::1".parse().unwrap())));
        assert_eq!(pki.gateway_identity(&sans(&["::1"]), now).unwrap(), with_v6);
    }

    #[test]
    fn gateway_sans_are_checked() {
        let (_tmp, _dir, now, pki) = setup();
        for bad in [&[][..], &["".to_string()], &["not a name".to_string()], &["a..b".to_string()]] {
            assert!(matches!(pki.gateway_identity(bad, now), Err(PkiError::InvalidSan(_))), "{bad:?}");
        }
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

    #[test]
    fn bundle_is_filled_from_the_device_identity() {
        let (_tmp, _dir, now, pki) = setup();
        let bundle = pki.bundle("dev-1", "mps2-an385", &["10.0.2.2:4443", "10.0.2.2:4444"], [7; 32], now).unwrap();
        assert_eq!(bundle.alternates.as_deref(), Some(&["10.0.2.2:4444".to_string()][..]));
        let dev = pki.device_identity("dev-1", now).unwrap();
        assert_eq!(bundle.device_id, "dev-1");
        assert_eq!(bundle.board, "mps2-an385");
        assert_eq!(bundle.gateway, "10.0.2.2:4443");
        assert_eq!(bundle.ca_der.as_slice(), pki.ca_cert_der());
        assert_eq!(bundle.cert_der.as_slice(), dev.cert_der.as_slice());
        assert_eq!(bundle.key_der.as_slice(), dev.key_der.as_slice());
        assert_eq!(*bundle.seed, [7; 32]);
        let round = IdentityBundle::from_bytes(&bundle.to_bytes()).unwrap();
        assert_eq!(round, bundle);
        assert!(pki.bundle("../x", "b", &["g:1"], [0; 32], now).is_err());
        assert!(matches!(pki.bundle::<&str>("dev-1", "b", &[], [0; 32], now), Err(PkiError::NoGateway)));
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
