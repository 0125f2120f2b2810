//! The private half: held by the control plane only.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey as EcdsaKey};
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use wasmbed_protocol::{KEY_ID_LEN, KeyRotation, MANIFEST_DOMAIN, Manifest, ROTATION_DOMAIN, Signed, signed_message};

use crate::{TrustedKey, key_id};

/// Why a signing key could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignError {
    /// The randomness never gave a valid scalar (a broken source).
    BadRandomness,
    /// The file is not a PKCS#8 PEM P-256 private key.
    BadKeyFile(String),
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadRandomness => f.write_str("randomness source gave no valid P-256 scalar"),
            Self::BadKeyFile(e) => write!(f, "not a PKCS#8 PEM P-256 private key: {e}"),
        }
    }
}

impl std::error::Error for SignError {}

/// The platform's app-signing key.
#[derive(Clone)]
pub struct SigningKey {
    key: EcdsaKey,
    public: Vec<u8>,
}

impl fmt::Debug for SigningKey {
    // Never print the private key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", crate::Hex(&self.id()))
    }
}

impl SigningKey {
    /// A new key from `fill`, a source of secure random bytes (the caller's
    /// OS generator; tests pass their own).
    pub fn generate(mut fill: impl FnMut(&mut [u8])) -> Result<Self, SignError> {
        // A 32-byte string is a valid scalar except with probability ~2^-32.
        for _ in 0..8 {
            let mut bytes = [0u8; 32];
            fill(&mut bytes);
            if let Ok(key) = EcdsaKey::from_slice(&bytes) {
                return Ok(Self::from_key(key));
            }
        }
        Err(SignError::BadRandomness)
    }

    fn from_key(key: EcdsaKey) -> Self {
        let public = key.verifying_key().to_encoded_point(true).as_bytes().to_vec();
        Self { key, public }
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self, SignError> {
        EcdsaKey::from_pkcs8_pem(pem).map(Self::from_key).map_err(|e| SignError::BadKeyFile(e.to_string()))
    }

    /// The key as PKCS#8 PEM (secret: write it 0600).
    pub fn to_pem(&self) -> Result<String, SignError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| String::from(pem.as_str()))
            .map_err(|e| SignError::BadKeyFile(e.to_string()))
    }

    /// The public key, SEC1 compressed (what a bundle pins).
    pub fn public_sec1(&self) -> &[u8] {
        &self.public
    }

    /// The public key's id.
    pub fn id(&self) -> [u8; KEY_ID_LEN] {
        key_id(&self.public)
    }

    /// The public half as a device holds it at `generation`.
    pub fn trusted(&self) -> TrustedKey {
        // Our own encoding always parses.
        TrustedKey::from_sec1(&self.public).unwrap_or_else(|_| unreachable!("own public key"))
    }

    fn sign(&self, domain: &[u8], body: Vec<u8>) -> Signed {
        let sig: Signature = self.key.sign(&signed_message(domain, &body));
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&sig.to_bytes());
        Signed { body: body.into(), key_id: self.id().into(), signature: signature.into() }
    }

    /// Signs a manifest.
    pub fn sign_manifest(&self, manifest: &Manifest) -> Signed {
        self.sign(MANIFEST_DOMAIN, manifest.to_body())
    }

    /// Announces `next` as the key of `generation`, signed by this key.
    pub fn announce(&self, next: &SigningKey, generation: u32) -> Signed {
        let r = KeyRotation { key: next.public.clone().into(), generation };
        self.sign(ROTATION_DOMAIN, r.to_body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrustError;
    use wasmbed_protocol::{AppLimits, Capability};

    fn key(seed: u8) -> SigningKey {
        let mut n = seed;
        SigningKey::generate(|b| {
            for x in b.iter_mut() {
                n = n.wrapping_mul(31).wrapping_add(7);
                *x = n;
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn manifest() -> Manifest {
        Manifest {
            application: "hello".into(),
            revision: 2,
            version: "1.1".into(),
            module_sha256: [7; 32].into(),
            module_size: 100,
            grants: alloc::vec![Capability::Log],
            resources: Vec::new(),
            limits: AppLimits::default(),
            config: Vec::new(),
            sequence: 5,
            floor: 4,
            edge_grants: None,
            native: None,
        }
    }

    #[test]
    fn a_manifest_verifies_under_its_key_only() {
        let (k, other) = (key(1), key(2));
        let signed = k.sign_manifest(&manifest());
        assert_eq!(k.trusted().verify_manifest(&signed), Ok(manifest()));
        assert!(matches!(other.trusted().verify_manifest(&signed), Err(TrustError::UnknownKey { .. })));
        // Another key's signature under our key id.
        let forged = Signed { key_id: k.id().into(), ..other.sign_manifest(&manifest()) };
        assert_eq!(k.trusted().verify_manifest(&forged), Err(TrustError::BadSignature));
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let k = key(3);
        let signed = k.sign_manifest(&manifest());
        for i in 0..signed.body.len() {
            let mut t = signed.clone();
            t.body[i] ^= 0x01;
            assert_eq!(k.trusted().verify_manifest(&t), Err(TrustError::BadSignature), "byte {i}");
        }
        let mut t = signed.clone();
        t.signature[10] ^= 0x80;
        assert_eq!(k.trusted().verify_manifest(&t), Err(TrustError::BadSignature));
    }

    #[test]
    fn an_announcement_is_not_a_manifest_and_a_manifest_no_announcement() {
        let (k, next) = (key(4), key(5));
        let ann = k.announce(&next, 1);
        assert!(k.trusted().verify_manifest(&ann).is_err());
        assert!(k.trusted().rotate(&k.sign_manifest(&manifest())).is_err());
    }

    #[test]
    fn rotation_moves_forward_only() {
        let (k0, k1, k2) = (key(6), key(7), key(8));
        let t1 = k0.trusted().rotate(&k0.announce(&k1, 1)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((t1.id(), t1.generation()), (k1.id(), 1));
        // The new key verifies; the old one is no longer trusted.
        assert!(t1.verify_manifest(&k1.sign_manifest(&manifest())).is_ok());
        assert!(matches!(t1.verify_manifest(&k0.sign_manifest(&manifest())), Err(TrustError::UnknownKey { .. })));
        let t2 = t1.rotate(&k1.announce(&k2, 2)).unwrap_or_else(|e| panic!("{e}"));
        // Replaying an old announcement under the new key is refused.
        assert_eq!(t2.rotate(&k2.announce(&k1, 1)), Err(TrustError::StaleRotation { current: 2, announced: 1 }));
    }

    #[test]
    fn pem_round_trips_and_garbage_is_refused() {
        let k = key(9);
        let pem = k.to_pem().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(SigningKey::from_pem(&pem).unwrap_or_else(|e| panic!("{e}")).id(), k.id());
        assert!(matches!(SigningKey::from_pem("not a key"), Err(SignError::BadKeyFile(_))));
        assert!(SigningKey::generate(|b| b.fill(0)).is_err(), "zero is not a scalar");
        assert_eq!(TrustedKey::from_sec1(&[1, 2, 3]).err(), Some(TrustError::BadKey));
    }
}
