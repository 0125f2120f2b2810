//! Wasmbed's app-signing scheme: what a device checks before it installs a
//! module, and what the control plane does to make a deploy pass.
//!
//! - [`TrustedKey`] (every build, `no_std`): a P-256 public key a device
//!   pins from its identity bundle. It verifies [`Signed`] manifests and
//!   [`KeyRotation`] announcements, and hands over to the announced key.
//! - [`SigningKey`] (feature `sign`): the platform's private half, kept
//!   apart from the CA and the gateways.
//!
//! Why ECDSA P-256 and not Ed25519: the firmware already carries P-256
//! (its TLS session's certificates), so checking a deploy adds almost no
//! flash to the smallest boards, and the cost of one verification is
//! measured on a device by `cargo xtask bench verify`.
#![no_std]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "sign")]
extern crate std;

#[cfg(feature = "sign")]
mod sign;

use core::fmt;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};
use wasmbed_protocol::{
    KEY_ID_LEN, KeyRotation, MANIFEST_DOMAIN, MAX_SIGNED_BODY_LEN, Manifest, ROTATION_DOMAIN, Signed, signed_message,
};

#[cfg(feature = "sign")]
pub use sign::{SignError, SigningKey};

/// Why a signed body is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustError {
    /// The key bytes are not a P-256 public key.
    BadKey,
    /// Signed by a key other than the trusted one.
    UnknownKey {
        /// The key id the envelope names.
        signed_by: [u8; KEY_ID_LEN],
        /// The id of the key the device trusts.
        trusted: [u8; KEY_ID_LEN],
    },
    /// The signature does not verify: the body was changed, or the
    /// signature is not the trusted key's.
    BadSignature,
    /// The signature verifies but the body does not decode (or is too big).
    Malformed,
    /// A rotation that does not move the chain forward.
    StaleRotation {
        /// Generation of the trusted key.
        current: u32,
        /// Generation announced.
        announced: u32,
    },
}

impl fmt::Display for TrustError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadKey => f.write_str("not a P-256 public key"),
            Self::UnknownKey { signed_by, trusted } => {
                write!(f, "signed by key {} but this device trusts key {}", Hex(signed_by), Hex(trusted))
            }
            Self::BadSignature => f.write_str("signature does not verify (tampered, or not the trusted key's)"),
            Self::Malformed => f.write_str("signed body is malformed"),
            Self::StaleRotation { current, announced } => {
                write!(f, "key generation {announced} does not follow the trusted generation {current}")
            }
        }
    }
}

impl core::error::Error for TrustError {}

/// Lower-case hex of a short byte string, for messages.
struct Hex<'a>(&'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The id of a key: the first bytes of SHA-256 over its SEC1 encoding.
pub fn key_id(sec1: &[u8]) -> [u8; KEY_ID_LEN] {
    let digest = Sha256::digest(sec1);
    let mut id = [0; KEY_ID_LEN];
    id.copy_from_slice(&digest[..KEY_ID_LEN]);
    id
}

/// A public app-signing key a device trusts.
#[derive(Clone, PartialEq, Eq)]
pub struct TrustedKey {
    key: VerifyingKey,
    id: [u8; KEY_ID_LEN],
    generation: u32,
}

impl fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustedKey({}, generation {})", Hex(&self.id), self.generation)
    }
}

impl TrustedKey {
    /// The key pinned in a bundle (generation 0), from its SEC1 bytes.
    pub fn from_sec1(sec1: &[u8]) -> Result<Self, TrustError> {
        Self::at_generation(sec1, 0)
    }

    /// A key at `generation` of the rotation chain (a bundle issued after
    /// rotations pins the key of its day).
    pub fn at_generation(sec1: &[u8], generation: u32) -> Result<Self, TrustError> {
        let key = VerifyingKey::from_sec1_bytes(sec1).map_err(|_| TrustError::BadKey)?;
        Ok(Self { key, id: key_id(sec1), generation })
    }

    /// This key's id.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        self.id
    }

    /// Its position in the rotation chain (the bundle's key is 0).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Checks `signed` against this key under `domain` and returns the body.
    fn open<'a>(&self, signed: &'a Signed, domain: &[u8]) -> Result<&'a [u8], TrustError> {
        if *signed.key_id != self.id {
            return Err(TrustError::UnknownKey { signed_by: *signed.key_id, trusted: self.id });
        }
        if signed.body.len() > MAX_SIGNED_BODY_LEN {
            return Err(TrustError::Malformed);
        }
        let sig = Signature::from_slice(&signed.signature[..]).map_err(|_| TrustError::BadSignature)?;
        self.key.verify(&signed_message(domain, &signed.body), &sig).map_err(|_| TrustError::BadSignature)?;
        Ok(&signed.body)
    }

    /// The manifest `signed` carries, if this key signed it.
    pub fn verify_manifest(&self, signed: &Signed) -> Result<Manifest, TrustError> {
        let body = self.open(signed, MANIFEST_DOMAIN)?;
        minicbor::decode(body).map_err(|_| TrustError::Malformed)
    }

    /// The key `signed` announces, if this key signed the announcement and
    /// it moves the chain forward: the device then trusts only the new key.
    pub fn rotate(&self, signed: &Signed) -> Result<TrustedKey, TrustError> {
        let body = self.open(signed, ROTATION_DOMAIN)?;
        let r: KeyRotation = minicbor::decode(body).map_err(|_| TrustError::Malformed)?;
        if r.generation <= self.generation {
            return Err(TrustError::StaleRotation { current: self.generation, announced: r.generation });
        }
        Self::at_generation(&r.key, r.generation)
    }
}
