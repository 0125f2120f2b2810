//! The identity bundle: what a factory programs into a device.
//!
//! ```text
//! +--------+---------+----------+--------------+------------------+
//! | "WBID" | version | 3 x 0x00 | len: u32 LE  | CBOR IdentityBundle |
//! +--------+---------+----------+--------------+------------------+
//! ```
//!
//! The fixed header lets firmware find and bound the bundle in a reserved
//! memory region before decoding anything.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use minicbor::bytes::{ByteArray, ByteVec};
use minicbor::{Decode, Encode};

/// First four bytes of every bundle.
pub const BUNDLE_MAGIC: [u8; 4] = *b"WBID";
/// The bundle layout version this crate writes and reads.
pub const BUNDLE_VERSION: u8 = 1;
const HEADER_LEN: usize = 12;
/// Largest bundle body accepted (certificates are a few hundred bytes).
const MAX_BUNDLE_LEN: usize = 16 * 1024;

/// A device's provisioned identity.
#[derive(Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct IdentityBundle {
    /// Device identity; equals the certificate's common name.
    #[n(0)]
    pub device_id: String,
    /// Gateway address as `host:port`.
    #[n(1)]
    pub gateway: String,
    /// DER of the platform CA the device pins.
    #[n(2)]
    pub ca_der: ByteVec,
    /// DER of the device certificate.
    #[n(3)]
    pub cert_der: ByteVec,
    /// PKCS#8 DER of the device's P-256 private key.
    #[n(4)]
    pub key_der: ByteVec,
    /// Per-device random seed, mixed with a per-boot seed for the CSPRNG.
    #[n(5)]
    pub seed: ByteArray<32>,
    /// Board the identity was issued for.
    #[n(6)]
    pub board: String,
    /// Other gateways of the fleet, tried in order when `gateway` cannot be
    /// reached (absent in bundles written before there were several).
    #[n(7)]
    pub alternates: Option<Vec<String>>,
    /// SEC1 public key of the platform's app-signing key the device pins:
    /// it installs only deploys this key (or a key it announced) signed.
    /// Absent in bundles issued before deploys were signed.
    #[n(8)]
    pub app_key: Option<ByteVec>,
    /// Generation of `app_key` in the platform's rotation chain (absent: 0).
    #[n(9)]
    pub app_key_generation: Option<u32>,
}

impl IdentityBundle {
    /// Every gateway address, the assigned one first.
    pub fn gateways(&self) -> impl Iterator<Item = &str> {
        core::iter::once(self.gateway.as_str()).chain(self.alternates.iter().flatten().map(String::as_str))
    }
}

impl fmt::Debug for IdentityBundle {
    // Never print the key or seed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityBundle")
            .field("device_id", &self.device_id)
            .field("gateway", &self.gateway)
            .field("board", &self.board)
            .field("alternates", &self.alternates)
            .field("app_key", &self.app_key.as_ref().map(|k| k.len()))
            .finish_non_exhaustive()
    }
}

/// Why bytes are not a usable bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BundleError {
    /// Fewer bytes than the header or the length it announces.
    Truncated,
    /// The magic is not `WBID` (nothing was provisioned there).
    BadMagic,
    /// A layout version this build does not read.
    UnsupportedVersion(u8),
    /// The announced length exceeds the bound.
    TooLarge,
    /// The body is not a valid bundle.
    Malformed,
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated => f.write_str("identity bundle is truncated"),
            Self::BadMagic => f.write_str("no identity bundle (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "identity bundle version {v} is not supported"),
            Self::TooLarge => f.write_str("identity bundle length exceeds limit"),
            Self::Malformed => f.write_str("identity bundle is malformed"),
        }
    }
}

impl core::error::Error for BundleError {}

impl IdentityBundle {
    /// Serializes with the fixed header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = minicbor::to_vec(self).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend_from_slice(&BUNDLE_MAGIC);
        out.extend_from_slice(&[BUNDLE_VERSION, 0, 0, 0]);
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a bundle from the start of `bytes` (trailing bytes, such as the
    /// rest of a reserved region, are ignored).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BundleError> {
        let header = bytes.get(..HEADER_LEN).ok_or(BundleError::Truncated)?;
        if header[..4] != BUNDLE_MAGIC {
            return Err(BundleError::BadMagic);
        }
        if header[4] != BUNDLE_VERSION {
            return Err(BundleError::UnsupportedVersion(header[4]));
        }
        let len = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
        if len > MAX_BUNDLE_LEN {
            return Err(BundleError::TooLarge);
        }
        let body = bytes.get(HEADER_LEN..HEADER_LEN + len).ok_or(BundleError::Truncated)?;
        minicbor::decode(body).map_err(|_| BundleError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sample() -> IdentityBundle {
        IdentityBundle {
            device_id: "dev-1".into(),
            gateway: "10.0.2.2:4443".into(),
            ca_der: vec![1, 2, 3].into(),
            cert_der: vec![4, 5].into(),
            key_der: vec![6].into(),
            seed: [7u8; 32].into(),
            board: "mps2-an385".into(),
            alternates: None,
            app_key: None,
            app_key_generation: None,
        }
    }

    #[test]
    fn round_trips_and_ignores_trailing_region() {
        let mut bytes = sample().to_bytes();
        bytes.extend_from_slice(&[0xff; 64]);
        assert_eq!(IdentityBundle::from_bytes(&bytes).unwrap(), sample());
    }

    #[test]
    fn rejects_bad_input() {
        let good = sample().to_bytes();
        assert_eq!(IdentityBundle::from_bytes(&good[..5]), Err(BundleError::Truncated));
        assert_eq!(IdentityBundle::from_bytes(&[0u8; 64]), Err(BundleError::BadMagic));
        let mut v = good.clone();
        v[4] = 2;
        assert_eq!(IdentityBundle::from_bytes(&v), Err(BundleError::UnsupportedVersion(2)));
        let mut big = good.clone();
        big[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(IdentityBundle::from_bytes(&big), Err(BundleError::TooLarge));
        assert_eq!(IdentityBundle::from_bytes(&good[..good.len() - 1]), Err(BundleError::Truncated));
        let mut junk = good.clone();
        junk[12] = 0xff;
        assert_eq!(IdentityBundle::from_bytes(&junk), Err(BundleError::Malformed));
    }

    #[test]
    fn debug_never_prints_secrets() {
        let s = alloc::format!("{:?}", sample());
        assert!(!s.contains("key_der") && !s.contains("seed"));
    }
}
