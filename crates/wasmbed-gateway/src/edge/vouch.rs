//! Signed edge components: a gateway runs a component only when the
//! control plane's signed manifest vouches for it — its bytes, and every
//! fact of the deploy (revision, version, capabilities, limits, config) —
//! as a device does before it installs a module. The gateway pins the
//! app-signing key it was started with and walks the announcements it
//! relays to the key of the day. Refusals use the device's words.

use sha2::{Digest, Sha256};
use thiserror::Error;
use wasmbed_model::DesiredApp;
use wasmbed_protocol::{Manifest, Signed};
use wasmbed_trust::{TrustError, TrustedKey};

/// The app-signing key a gateway pins: SEC1 bytes and its generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedKey {
    /// The public key, SEC1.
    pub sec1: Vec<u8>,
    /// Its place in the rotation chain (the first key is 0).
    pub generation: u32,
}

/// Why a component is not run.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Unvouched {
    /// The revision carries no manifest.
    #[error("unsigned: no signed manifest vouches for revision {0}")]
    Unsigned(u64),
    /// The manifest record does not decode.
    #[error("bad-signature: the manifest envelope does not decode")]
    Corrupt,
    /// The pinned key or an announcement after it is not usable.
    #[error("bad-signature: the app-signing key chain does not verify: {0}")]
    Chain(TrustError),
    /// Signed by another key, tampered with, or not a manifest.
    #[error("bad-signature: {0}")]
    Signature(TrustError),
    /// The component's bytes are not the ones named.
    #[error("manifest-mismatch: the component's SHA-256 is {found}, not the {named} the deploy names")]
    Digest {
        /// What the deploy names.
        named: String,
        /// What the bytes hash to.
        found: String,
    },
    /// A fact of the deploy differs from what was signed.
    #[error("manifest-mismatch: the deploy's {0} is not what the manifest vouches for")]
    Mismatch(&'static str),
    /// An older manifest than one already accepted for the application.
    #[error("replayed: manifest sequence {sequence} is below the floor {floor} already accepted")]
    Replayed {
        /// The manifest's sequence.
        sequence: u64,
        /// The floor accepted before.
        floor: u64,
    },
}

/// The key `pinned` has moved to along `chain` (announcement `i`
/// announces generation `i + 1`).
fn current_key(pinned: &PinnedKey, chain: &[Signed]) -> Result<TrustedKey, TrustError> {
    let mut key = TrustedKey::at_generation(&pinned.sec1, pinned.generation)?;
    for announcement in chain.iter().skip(pinned.generation as usize) {
        key = key.rotate(announcement)?;
    }
    Ok(key)
}

/// The first fact in which `signed` and `expected` differ.
fn differs(signed: &Manifest, expected: &Manifest) -> Option<&'static str> {
    let facts: [(&'static str, bool); 9] = [
        ("application", signed.application == expected.application),
        ("revision", signed.revision == expected.revision),
        ("version", signed.version == expected.version),
        ("module size", signed.module_size == expected.module_size),
        ("module digest", signed.module_sha256 == expected.module_sha256),
        ("capabilities", signed.grants == expected.grants && signed.edge_grants == expected.edge_grants),
        ("hardware", signed.resources == expected.resources),
        ("limits", signed.limits == expected.limits),
        ("config", signed.config == expected.config),
    ];
    facts.into_iter().find(|(_, same)| !same).map(|(what, _)| what)
}

/// Checks that `d`'s signed manifest vouches for running `component` as
/// `d` says, given the `floor` accepted for the application so far;
/// returns the manifest (whose floor the caller keeps).
pub fn check(
    pinned: &PinnedKey,
    chain: &[Signed],
    d: &DesiredApp,
    component: &[u8],
    floor: u64,
) -> Result<Manifest, Unvouched> {
    let envelope = d.manifest.as_deref().ok_or(Unvouched::Unsigned(d.revision))?;
    let signed = wasmbed_model::envelope(envelope).ok_or(Unvouched::Corrupt)?;
    let key = current_key(pinned, chain).map_err(Unvouched::Chain)?;
    let manifest = key.verify_manifest(&signed).map_err(Unvouched::Signature)?;
    let found = hex::encode(Sha256::digest(component));
    if !found.eq_ignore_ascii_case(&d.digest) {
        return Err(Unvouched::Digest { named: d.digest.clone(), found });
    }
    let size = u32::try_from(component.len()).unwrap_or(u32::MAX);
    let expected = wasmbed_model::deploy_manifest(
        &d.app,
        d.revision,
        &d.version,
        &d.digest,
        size,
        &d.capabilities,
        d.limits,
        &d.config,
    )
    .ok_or(Unvouched::Mismatch("module digest"))?;
    if let Some(what) = differs(&manifest, &expected) {
        return Err(Unvouched::Mismatch(what));
    }
    if manifest.sequence < floor {
        return Err(Unvouched::Replayed { sequence: manifest.sequence, floor });
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::{Limits, SignedManifest};
    use wasmbed_trust::SigningKey;

    fn key(seed: u8) -> SigningKey {
        let mut n = seed;
        SigningKey::generate(|b| {
            for x in b {
                n = n.wrapping_mul(31).wrapping_add(7);
                *x = n;
            }
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0 a component";

    fn desired(caps: &[&str]) -> DesiredApp {
        DesiredApp {
            slot: "watch".into(),
            app: "watch".into(),
            revision: 3,
            version: "1.2".into(),
            digest: hex::encode(Sha256::digest(COMPONENT)),
            size: COMPONENT.len() as u32,
            manifest: None,
            limits: Limits::default(),
            capabilities: caps.iter().map(|c| c.to_string()).collect(),
            config: [("threshold_c".to_string(), "30".to_string())].into(),
            run: true,
            native: None,
        }
    }

    /// `d` signed by `k` at `sequence`.
    fn signed(k: &SigningKey, d: &DesiredApp, sequence: u64) -> DesiredApp {
        let mut m = wasmbed_model::deploy_manifest(
            &d.app,
            d.revision,
            &d.version,
            &d.digest,
            d.size,
            &d.capabilities,
            d.limits,
            &d.config,
        )
        .unwrap_or_else(|| panic!("digest"));
        m.sequence = sequence;
        let rec = SignedManifest::new(d.revision, sequence, &k.sign_manifest(&m));
        DesiredApp { manifest: Some(rec.envelope), ..d.clone() }
    }

    fn pin(k: &SigningKey) -> PinnedKey {
        PinnedKey { sec1: k.public_sec1().to_vec(), generation: 0 }
    }

    #[test]
    fn a_signed_component_runs_as_signed() {
        let k = key(1);
        let d = signed(&k, &desired(&["log", "messages", "kv", "attached-board"]), 5);
        let m = check(&pin(&k), &[], &d, COMPONENT, 0).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.edge_grants, Some(vec!["kv".into(), "attached-board".into()]), "what devices do not know");
    }

    #[test]
    fn unsigned_tampered_foreign_mismatched_and_replayed_are_refused() {
        let (k, other) = (key(1), key(2));
        let d = signed(&k, &desired(&["log", "kv"]), 5);
        let refused = |d: &DesiredApp, bytes: &[u8], floor| check(&pin(&k), &[], d, bytes, floor).unwrap_err();
        assert_eq!(refused(&desired(&["log"]), COMPONENT, 0), Unvouched::Unsigned(3));
        assert_eq!(refused(&DesiredApp { manifest: Some("zz".into()), ..d.clone() }, COMPONENT, 0), Unvouched::Corrupt);
        let foreign = signed(&other, &desired(&["log", "kv"]), 5);
        assert!(matches!(refused(&foreign, COMPONENT, 0), Unvouched::Signature(TrustError::UnknownKey { .. })));
        // A grant added after signing (in the store, say).
        let more = DesiredApp { capabilities: vec!["log".into(), "kv".into(), "attached-board".into()], ..d.clone() };
        assert_eq!(refused(&more, COMPONENT, 0), Unvouched::Mismatch("capabilities"));
        let config = DesiredApp { config: Default::default(), ..d.clone() };
        assert_eq!(refused(&config, COMPONENT, 0), Unvouched::Mismatch("config"));
        // Bytes swapped under the digest.
        assert!(matches!(refused(&d, b"\0asm another", 0), Unvouched::Digest { .. }));
        assert_eq!(refused(&d, COMPONENT, 6), Unvouched::Replayed { sequence: 5, floor: 6 });
        // A tampered envelope: one byte of the body flipped.
        let mut env = wasmbed_model::envelope(d.manifest.as_deref().unwrap_or_default()).unwrap_or_else(|| panic!());
        let mut body = env.body.to_vec();
        let last = body.len() - 1;
        body[last] ^= 1;
        env.body = body.into();
        let tampered = DesiredApp { manifest: Some(hex::encode(minicbor::to_vec(&env).unwrap_or_default())), ..d };
        assert_eq!(refused(&tampered, COMPONENT, 0), Unvouched::Signature(TrustError::BadSignature));
    }

    #[test]
    fn the_pinned_key_walks_the_announcements() {
        let (k0, k1) = (key(1), key(2));
        let chain = [k0.announce(&k1, 1)];
        let d = signed(&k1, &desired(&["log"]), 1);
        assert!(check(&pin(&k0), &chain, &d, COMPONENT, 0).is_ok());
        assert!(matches!(check(&pin(&k0), &[], &d, COMPONENT, 0), Err(Unvouched::Signature(_))));
        // A gateway started after the rotation pins generation 1 already.
        let at1 = PinnedKey { sec1: k1.public_sec1().to_vec(), generation: 1 };
        assert!(check(&at1, &chain, &d, COMPONENT, 0).is_ok());
        let forged = [key(3).announce(&k1, 1)];
        assert!(matches!(check(&pin(&k0), &forged, &d, COMPONENT, 0), Err(Unvouched::Chain(_))));
    }
}
