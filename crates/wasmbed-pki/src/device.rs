//! Device identities: issued per device id, stored under `devices/`,
//! re-issued on demand, and forgotten when the device is deleted.
//!
//! Guarantees: a device id is validated before any path is built from it,
//! so no id can name a file outside `devices/`; a re-issued identity has a
//! new key. Assumes: neither forgetting nor re-issuing revokes by itself;
//! the platform records the current certificate's
//! [`Fingerprint`](crate::Fingerprint) on the Device and the gateway
//! accepts only that one.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rcgen::{ExtendedKeyUsagePurpose, SanType};
use x509_parser::certificate::X509Certificate;

use crate::files;
use crate::identity::{common_name, validate_device_id};
use crate::leaf::Issued;
use crate::validity::leaf_validity;
use crate::{Identity, Pki, PkiError};

/// DNS suffix of the name put in each device certificate: `<id>.device.wasmbed`.
pub const DEVICE_DNS_SUFFIX: &str = "device.wasmbed";

const DEVICES: &str = "devices";

impl Pki {
    /// A device's client identity: common name `device_id`, DNS name
    /// `<device_id>.device.wasmbed`, valid from `now` less
    /// [`BACKDATE`](crate::BACKDATE) for [`LEAF_LIFETIME`](crate::LEAF_LIFETIME).
    ///
    /// Stored as `devices/<device_id>.crt`/`.key`; a stored identity is
    /// reused (see [`Pki`]). Rejects an invalid device id.
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

    /// The identity stored for `device_id`, as it is: `None` when none is
    /// stored, or when the stored certificate is not this CA's or does not
    /// name the device. Unlike [`device_identity`](Self::device_identity)
    /// it never issues nor writes anything, and returns a stored
    /// certificate near or past its expiry as it is: what the device holds
    /// in its bundle (for recording it on a Device that has none recorded).
    /// Rejects an invalid device id.
    pub fn stored_device_identity(&self, device_id: &str) -> Result<Option<Identity>, PkiError> {
        validate_device_id(device_id)?;
        let _lock = files::lock(&self.dir)?;
        let (cert_path, key_path) = device_paths(&self.dir.join(DEVICES), device_id);
        self.read_leaf(&cert_path, &key_path, |cert| common_name(cert).is_ok_and(|cn| cn == device_id))
    }

    /// A new identity for `device_id` (new key, new certificate), stored in
    /// place of any previous one: what re-issuing a device's bundle does.
    pub fn reissue_device(&self, device_id: &str, now: SystemTime) -> Result<Identity, PkiError> {
        validate_device_id(device_id)?;
        let devices = self.dir.join(DEVICES);
        files::ensure_dir(&devices)?;
        let _lock = files::lock(&self.dir)?;
        let (cert_path, key_path) = device_paths(&devices, device_id);
        let (not_before, not_after) = leaf_validity(now)?;
        self.issue_device(device_id, not_before, not_after)?.store(&cert_path, &key_path)
    }

    /// A new identity for `device_id`, never stored: for issuers that keep
    /// identities elsewhere (Kubernetes keeps each in the device's Secret).
    pub fn new_device_identity(&self, device_id: &str, now: SystemTime) -> Result<Identity, PkiError> {
        validate_device_id(device_id)?;
        let (not_before, not_after) = leaf_validity(now)?;
        self.issue_device_with_validity(device_id, not_before, not_after)
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

    /// Deletes a device's stored identity (and an attached board's link
    /// key); absent is fine.
    ///
    /// This does not revoke the certificate by itself: what does is that the
    /// gateway accepts only the certificate recorded on an existing Device.
    pub fn forget_device(&self, device_id: &str) -> Result<(), PkiError> {
        validate_device_id(device_id)?;
        let _lock = files::lock(&self.dir)?;
        let (cert_path, key_path) = device_paths(&self.dir.join(DEVICES), device_id);
        files::remove_if_present(&cert_path)?;
        files::remove_if_present(&key_path)?;
        self.forget_link_key(device_id)
    }

    fn issue_device(&self, device_id: &str, not_before: SystemTime, not_after: SystemTime) -> Result<Issued, PkiError> {
        let dns = format!("{device_id}.{DEVICE_DNS_SUFFIX}");
        let san = SanType::DnsName(dns.try_into()?);
        self.issue(device_id, vec![san], ExtendedKeyUsagePurpose::ClientAuth, not_before, not_after)
    }
}

fn device_paths(devices: &Path, device_id: &str) -> (PathBuf, PathBuf) {
    (devices.join(format!("{device_id}.crt")), devices.join(format!("{device_id}.key")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, UNIX_EPOCH};

    use rcgen::{KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData};
    use rustls_pki_types::PrivatePkcs8KeyDer;

    use super::*;
    use crate::device_id_from_cert;
    use crate::gateway::{San, cert_sans};
    use crate::identity::parse_cert;
    use crate::testing::{sans, setup};
    use crate::validity::{LEAF_LIFETIME, unix_secs};

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

    /// Every file under `dir`, with its contents.
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut todo = vec![dir.to_path_buf()];
        while let Some(d) = todo.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    todo.push(path.clone());
                    out.push((path, Vec::new()));
                } else {
                    out.push((path.clone(), std::fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_stored_identity_is_read_and_never_issued() {
        let (_tmp, dir, now, pki) = setup();
        let before = snapshot(&dir);
        assert_eq!(pki.stored_device_identity("dev-1").unwrap(), None);
        assert_eq!(snapshot(&dir), before, "asking created nothing");
        assert!(!dir.join("devices").exists());

        let issued = pki.device_identity("dev-1", now).unwrap();
        let after_issue = snapshot(&dir);
        assert_eq!(pki.stored_device_identity("dev-1").unwrap(), Some(issued.clone()));
        assert_eq!(pki.stored_device_identity("dev-2").unwrap(), None);
        assert_eq!(snapshot(&dir), after_issue, "reading changed nothing");

        // Returned as stored even where `device_identity` would replace it.
        let day = Duration::from_secs(86_400);
        let later = now + LEAF_LIFETIME + day;
        assert_eq!(pki.stored_device_identity("dev-1").unwrap(), Some(issued.clone()));
        assert_ne!(Pki::open_or_create(&dir, now).unwrap().device_identity("dev-1", later).unwrap(), issued);
        let reissued = pki.stored_device_identity("dev-1").unwrap().unwrap();
        assert_ne!(reissued, issued, "the replacement is what is stored now");

        // Another CA's certificate, or one naming another device, is not this device's.
        let other = tempfile::tempdir().unwrap();
        let foreign = Pki::open_or_create(other.path(), now).unwrap();
        foreign.device_identity("dev-1", now).unwrap();
        for f in ["dev-1.crt", "dev-1.key"] {
            std::fs::copy(other.path().join("devices").join(f), dir.join("devices").join(f)).unwrap();
        }
        assert_eq!(pki.stored_device_identity("dev-1").unwrap(), None);
        pki.device_identity("dev-3", now).unwrap();
        for (from, to) in [("dev-3.crt", "dev-1.crt"), ("dev-3.key", "dev-1.key")] {
            std::fs::copy(dir.join("devices").join(from), dir.join("devices").join(to)).unwrap();
        }
        assert_eq!(pki.stored_device_identity("dev-1").unwrap(), None);
        // A half-present identity is absent; a key beside another certificate is corrupt.
        pki.device_identity("dev-4", now).unwrap();
        std::fs::remove_file(dir.join("devices/dev-4.key")).unwrap();
        assert_eq!(pki.stored_device_identity("dev-4").unwrap(), None);
        std::fs::copy(dir.join("devices/dev-3.key"), dir.join("devices/dev-4.key")).unwrap();
        assert!(matches!(pki.stored_device_identity("dev-4"), Err(PkiError::Corrupt { .. })));
        for bad in ["../ca", "", "UP"] {
            assert!(matches!(pki.stored_device_identity(bad), Err(PkiError::InvalidDeviceId(_))));
        }
    }

    #[test]
    fn reissuing_gives_a_new_key_that_is_then_the_stored_one() {
        let (_tmp, dir, now, pki) = setup();
        let first = pki.device_identity("dev-1", now).unwrap();
        let second = pki.reissue_device("dev-1", now).unwrap();
        assert_ne!(first.key_der, second.key_der);
        assert_eq!(pki.device_identity("dev-1", now).unwrap(), second, "the re-issued one is kept");
        assert_eq!(device_id_from_cert(&second.cert_der).unwrap(), "dev-1");

        let unstored = pki.new_device_identity("dev-1", now).unwrap();
        assert_ne!(unstored.key_der, second.key_der);
        assert_eq!(pki.device_identity("dev-1", now).unwrap(), second, "a new identity is not stored");
        assert!(!dir.join("devices/dev-2.crt").exists() && pki.new_device_identity("dev-2", now).is_ok());
        assert!(!dir.join("devices/dev-2.crt").exists());
        for bad in ["../ca", "", "UP"] {
            assert!(matches!(pki.reissue_device(bad, now), Err(PkiError::InvalidDeviceId(_))));
            assert!(matches!(pki.new_device_identity(bad, now), Err(PkiError::InvalidDeviceId(_))));
        }
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
}
