//! Signed deploys: what the platform's app-signing key vouches for, and the
//! envelope that carries its signature.
//!
//! The control plane signs one [`Manifest`] per revision (and signs again
//! when an old revision must become acceptable again, e.g. a rollback past
//! the revision just before). A gateway relays the [`Signed`] envelope in
//! [`DeployBegin::manifest`](crate::DeployBegin) without being able to
//! change it; the device checks the signature against the key pinned in its
//! identity bundle, then holds the deploy to every field of the manifest.
//!
//! Replays: every signing takes the next `sequence` of its application, and
//! states the `floor` below which the signer no longer vouches for older
//! manifests of it. A device keeps, per application, the highest floor it
//! has accepted and refuses any manifest whose sequence is below it.
//!
//! The signature is ECDSA P-256 with SHA-256 over [`signed_message`]: a
//! domain tag, then the body's CBOR. Tags keep a key announcement from ever
//! being read as a manifest and the other way round.

use alloc::string::String;
use alloc::vec::Vec;
use minicbor::bytes::{ByteArray, ByteVec};
use minicbor::{Decode, Encode};

use crate::{AppLimits, Capability, ConfigEntry, Resource};

/// Bytes of a key id: the first bytes of SHA-256 over the SEC1 public key.
pub const KEY_ID_LEN: usize = 8;
/// Bytes of a P-256 signature (`r || s`).
pub const SIGNATURE_LEN: usize = 64;
/// Longest signed body accepted (a manifest with the largest config is a
/// few KiB; anything bigger is not ours).
pub const MAX_SIGNED_BODY_LEN: usize = 8 * 1024;

/// Domain tag of a [`Manifest`] body.
pub const MANIFEST_DOMAIN: &[u8] = b"wasmbed/manifest/v1\0";
/// Domain tag of a [`KeyRotation`] body.
pub const ROTATION_DOMAIN: &[u8] = b"wasmbed/key-rotation/v1\0";

/// What the platform vouches for about one revision of an application.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Manifest {
    /// Application name (the slot is this name, or `<name>.r<revision>`).
    #[n(0)]
    pub application: String,
    /// Platform revision.
    #[n(1)]
    pub revision: u64,
    /// Version label.
    #[n(2)]
    pub version: String,
    /// SHA-256 of the module.
    #[n(3)]
    pub module_sha256: ByteArray<32>,
    /// Module size in bytes.
    #[n(4)]
    pub module_size: u32,
    /// Host-function groups granted.
    #[n(5)]
    pub grants: Vec<Capability>,
    /// Hardware granted.
    #[n(6)]
    pub resources: Vec<Resource>,
    /// Limits to run under.
    #[n(7)]
    pub limits: AppLimits,
    /// Configuration delivered with the module.
    #[n(8)]
    pub config: Vec<ConfigEntry>,
    /// This signing's number, per application, increasing.
    #[n(9)]
    pub sequence: u64,
    /// Manifests of this application with a lower sequence are no longer
    /// vouched for.
    #[n(10)]
    pub floor: u64,
    /// Capabilities granted that a device does not have — the edge tier's
    /// (`kv`, `clocks`, `attached-board`), as the spec writes
    /// them — checked by the gateway that runs an edge component. Absent
    /// (and not encoded) for device apps.
    #[n(11)]
    pub edge_grants: Option<Vec<String>>,
    /// The module compiled ahead of time, one artifact per board (see
    /// [`crate::NativeArtifact`]). A device runs native code only when its
    /// deploy names one of these exactly. Absent (and not encoded) for a
    /// module only.
    #[n(12)]
    pub native: Option<Vec<NativeCode>>,
}

/// One board's native artifact of a module, as a manifest vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct NativeCode {
    /// The board it was compiled for.
    #[n(0)]
    pub board: String,
    /// SHA-256 of the artifact's encoding.
    #[n(1)]
    pub sha256: ByteArray<32>,
    /// The artifact's size in bytes.
    #[n(2)]
    pub size: u32,
    /// What compiled it ([`crate::NativeArtifact::compiler`]).
    #[n(3)]
    pub compiler: String,
}

/// A new app-signing key, announced under the current one.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct KeyRotation {
    /// SEC1 encoding of the new P-256 public key.
    #[n(0)]
    pub key: ByteVec,
    /// Position of the new key in the chain (the bundle's key is 0).
    #[n(1)]
    pub generation: u32,
}

/// A body and the signature over it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Signed {
    /// CBOR of a [`Manifest`] or a [`KeyRotation`].
    #[n(0)]
    pub body: ByteVec,
    /// Which key signed it.
    #[n(1)]
    pub key_id: ByteArray<KEY_ID_LEN>,
    /// ECDSA P-256 / SHA-256 signature, `r || s`.
    #[n(2)]
    pub signature: ByteArray<SIGNATURE_LEN>,
}

/// The bytes a signature covers: `domain || body`.
pub fn signed_message(domain: &[u8], body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + body.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(body);
    m
}

impl Manifest {
    /// The CBOR the signature covers (after [`MANIFEST_DOMAIN`]).
    pub fn to_body(&self) -> Vec<u8> {
        minicbor::to_vec(self).unwrap_or_default()
    }

    /// Whether `slot` is a slot of this manifest's application: the name
    /// itself, or `<application>.<suffix>`.
    pub fn names_slot(&self, slot: &str) -> bool {
        slot == self.application
            || slot.strip_prefix(self.application.as_str()).is_some_and(|rest| rest.starts_with('.'))
    }
}

impl KeyRotation {
    /// The CBOR the signature covers (after [`ROTATION_DOMAIN`]).
    pub fn to_body(&self) -> Vec<u8> {
        minicbor::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(application: &str) -> Manifest {
        Manifest {
            application: application.into(),
            revision: 3,
            version: "1".into(),
            module_sha256: [0; 32].into(),
            module_size: 1,
            grants: Vec::new(),
            resources: Vec::new(),
            limits: AppLimits::default(),
            config: Vec::new(),
            sequence: 1,
            floor: 1,
            edge_grants: None,
            native: None,
        }
    }

    #[test]
    fn slots_of_an_application() {
        let m = manifest("hello");
        assert!(m.names_slot("hello") && m.names_slot("hello.r3"));
        assert!(!m.names_slot("hellox") && !m.names_slot("hell") && !m.names_slot("other.r3"));
    }

    #[test]
    fn edge_grants_are_encoded_only_when_present() {
        let device = manifest("a");
        let edge = Manifest { edge_grants: Some(alloc::vec!["kv".into(), "attached-board".into()]), ..device.clone() };
        let (d, e) = (device.to_body(), edge.to_body());
        // A device manifest's body is what it was before edge grants existed.
        assert_eq!(d.first(), Some(&0xab), "a map of 11 fields");
        assert_eq!(e.first(), Some(&0xac), "a map of 12 fields");
        assert_eq!(minicbor::decode::<Manifest>(&d).ok(), Some(device));
        assert_eq!(minicbor::decode::<Manifest>(&e).ok(), Some(edge));
    }

    #[test]
    fn domains_differ() {
        assert_ne!(signed_message(MANIFEST_DOMAIN, b"x"), signed_message(ROTATION_DOMAIN, b"x"));
    }
}
