//! Link keys of attached boards (the stm32vldiscovery): the 32-byte secret
//! a board proves itself with on its serial link to its gateway, stored as
//! `devices/<id>.link` (raw bytes, owner-only like device keys).
//!
//! Guarantees: a new key is drawn from the operating system's random
//! source, written whole with mode 0600 before any use, and replaces the
//! previous one (re-issuing revokes: a board still holding the old key
//! answers the challenge wrongly); `Debug` never prints a key.
//! Assumes: the platform records [`LinkKey::fingerprint`] on the Device, so
//! a key file swapped behind its back is refused as a changed identity.

use std::fmt;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmbed_boardlink::{BoardId, BoardKey, Provisioning};

use crate::files::{self, KEY_MODE};
use crate::identity::validate_device_id;
use crate::{Fingerprint, Pki, PkiError};

/// Bytes of a link key.
pub const LINK_KEY_LEN: usize = 32;

/// Domain separation: the recorded fingerprint of a link key is never the
/// fingerprint of anything else.
const FINGERPRINT_LABEL: &[u8] = b"wasmbed link key fingerprint/1";

const DEVICES: &str = "devices";

/// An attached board's link key. `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkKey([u8; LINK_KEY_LEN]);

impl LinkKey {
    /// Wraps key bytes (from a provisioning record, in tests).
    pub const fn new(bytes: [u8; LINK_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, for the board's provisioning record and the
    /// gateway's check of its proof.
    pub fn bytes(&self) -> &[u8; LINK_KEY_LEN] {
        &self.0
    }

    /// What the platform records of this key: a labelled SHA-256, which
    /// names the key without revealing it.
    pub fn fingerprint(&self) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(FINGERPRINT_LABEL);
        h.update(self.0);
        Fingerprint(h.finalize().into())
    }

    /// What a Device records of this key, issued at `issued_at`: a link key
    /// does not expire (re-issuing is what retires it).
    #[cfg(feature = "model")]
    pub fn record(&self, issued_at: std::time::SystemTime) -> wasmbed_model::DeviceIdentity {
        wasmbed_model::DeviceIdentity {
            fingerprint: self.fingerprint().to_string(),
            issued_at_ms: wasmbed_model::clock::to_unix_ms(issued_at),
            not_after_ms: u64::MAX,
        }
    }
}

impl fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkKey({})", self.fingerprint())
    }
}

impl Pki {
    /// A new link key for the attached board `device_id`, stored in place
    /// of any previous one.
    pub fn reissue_link_key(&self, device_id: &str) -> Result<LinkKey, PkiError> {
        let path = self.link_key_path(device_id)?;
        files::ensure_dir(&self.dir.join(DEVICES))?;
        let _lock = files::lock(&self.dir)?;
        let key = LinkKey(rand::random());
        files::write(&path, key.bytes(), KEY_MODE)?;
        Ok(key)
    }

    /// The link key stored for `device_id`, if any. Never issues one.
    pub fn link_key(&self, device_id: &str) -> Result<Option<LinkKey>, PkiError> {
        let path = self.link_key_path(device_id)?;
        let _lock = files::lock(&self.dir)?;
        let Some(bytes) = files::read(&path)? else { return Ok(None) };
        let bytes: [u8; LINK_KEY_LEN] =
            bytes.try_into().map_err(|_| PkiError::corrupt(&path, "a link key is 32 bytes"))?;
        Ok(Some(LinkKey(bytes)))
    }

    /// Deletes a stored link key; absent is fine (see also
    /// [`forget_device`](Self::forget_device), which deletes it too).
    pub(crate) fn forget_link_key(&self, device_id: &str) -> Result<(), PkiError> {
        files::remove_if_present(&self.link_key_path(device_id)?)
    }

    /// The provisioning record of the attached board `device_id` holding
    /// `key`: what the host programs into the board's flash (see
    /// `wasmbed_boardlink::provision`), as [`bundle`](Self::bundle) is for
    /// agent devices.
    pub fn provisioning(&self, device_id: &str, key: &LinkKey) -> Result<Provisioning, PkiError> {
        validate_device_id(device_id)?;
        let board = BoardId::new(device_id.as_bytes()).map_err(|_| PkiError::BoardIdTooLong(device_id.into()))?;
        Ok(Provisioning::new(board, BoardKey::new(key.0)))
    }

    fn link_key_path(&self, device_id: &str) -> Result<PathBuf, PkiError> {
        validate_device_id(device_id)?;
        Ok(self.dir.join(DEVICES).join(format!("{device_id}.link")))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use crate::testing::setup;

    #[test]
    fn a_link_key_is_stored_owner_only_replaced_and_forgotten() {
        let (_tmp, dir, _now, pki) = setup();
        assert_eq!(pki.link_key("vld-1").unwrap(), None);
        let first = pki.reissue_link_key("vld-1").unwrap();
        let path = dir.join("devices/vld-1.link");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(pki.link_key("vld-1").unwrap(), Some(first.clone()));
        let second = pki.reissue_link_key("vld-1").unwrap();
        assert_ne!(first, second);
        assert_ne!(first.fingerprint(), second.fingerprint());
        assert_eq!(pki.link_key("vld-1").unwrap(), Some(second.clone()));
        pki.forget_device("vld-1").unwrap();
        assert_eq!(pki.link_key("vld-1").unwrap(), None);
    }

    #[test]
    fn a_damaged_key_file_and_bad_ids_are_errors() {
        let (_tmp, dir, _now, pki) = setup();
        pki.reissue_link_key("vld-1").unwrap();
        std::fs::write(dir.join("devices/vld-1.link"), [1, 2, 3]).unwrap();
        assert!(matches!(pki.link_key("vld-1"), Err(crate::PkiError::Corrupt { .. })));
        for bad in ["../ca", "", "UP"] {
            assert!(matches!(pki.reissue_link_key(bad), Err(crate::PkiError::InvalidDeviceId(_))));
            assert!(matches!(pki.link_key(bad), Err(crate::PkiError::InvalidDeviceId(_))));
        }
    }

    #[test]
    fn the_provisioning_record_names_the_device_and_holds_its_key() {
        let (_tmp, _dir, _now, pki) = setup();
        let key = pki.reissue_link_key("vld-1").unwrap();
        let p = pki.provisioning("vld-1", &key).unwrap();
        assert_eq!(p.board.as_bytes(), b"vld-1");
        let want = wasmbed_boardlink::Provisioning::new(p.board, wasmbed_boardlink::BoardKey::new(*key.bytes()));
        assert_eq!(p, want);
        let long = "a".repeat(33);
        assert!(matches!(pki.provisioning(&long, &key), Err(crate::PkiError::BoardIdTooLong(_))));
        assert!(pki.provisioning(&"a".repeat(32), &key).is_ok());
    }

    #[test]
    fn debug_names_the_key_by_its_fingerprint_only() {
        let key = super::LinkKey::new([0xab; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.contains(&"ab".repeat(32)), "{shown}");
        assert!(shown.contains(&key.fingerprint().to_string()), "{shown}");
    }
}
