//! Which deploys the device believes: those the platform's app-signing key
//! vouches for, exactly as vouched, and never older than one it already
//! believed. A gateway only relays; it cannot change what runs.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;

use wasmbed_protocol::{DeployBegin, ErrorCode, IdentityBundle, Manifest, Signed};
pub use wasmbed_trust::{TrustError, TrustedKey};

/// Applications whose replay floor a device remembers. Entries come only
/// from verified manifests, so the bound guards memory, not trust.
const MAX_FLOORS: usize = 64;

/// A refused deploy or key announcement: the code and what to tell the
/// operator.
pub type Refusal = (ErrorCode, String);

/// The device's app-signing trust: the key it pins (from its bundle, moved
/// on by rotations) and, per application, the lowest manifest sequence it
/// still accepts.
#[derive(Debug, Clone, Default)]
pub struct DeployTrust {
    key: Option<TrustedKey>,
    floors: BTreeMap<String, u64>,
}

impl DeployTrust {
    /// Trusts deploys signed by `key` only.
    pub fn pinned(key: TrustedKey) -> Self {
        Self { key: Some(key), floors: BTreeMap::new() }
    }

    /// No key pinned (a bundle issued before apps were signed): unsigned
    /// deploys are accepted, as they were then.
    pub fn unpinned() -> Self {
        Self::default()
    }

    /// What a device's bundle says to trust: the one rule the firmware and
    /// the simulator share. A key that does not parse is an error (the
    /// device must not fall back to trusting everything).
    pub fn from_bundle(bundle: &IdentityBundle) -> Result<Self, TrustError> {
        match &bundle.app_key {
            None => Ok(Self::unpinned()),
            Some(k) => Ok(Self::pinned(TrustedKey::at_generation(k, bundle.app_key_generation.unwrap_or(0))?)),
        }
    }

    /// The key trusted now, if one is pinned.
    pub fn key(&self) -> Option<&TrustedKey> {
        self.key.as_ref()
    }

    /// Checks a deploy against its signed manifest; on success the
    /// application's replay floor rises to what the manifest states.
    pub fn check(&mut self, begin: &DeployBegin) -> Result<(), Refusal> {
        let Some(key) = &self.key else {
            // Machine code is never taken on trust: only a signed manifest
            // can vouch for it.
            if begin.native.is_some() {
                return Err((
                    ErrorCode::Unsigned,
                    format!(
                        "deploy of {} is native code, which this device runs only under a signed manifest, and it pins no app-signing key",
                        begin.app
                    ),
                ));
            }
            return Ok(());
        };
        let Some(signed) = &begin.manifest else {
            return Err((
                ErrorCode::Unsigned,
                format!("deploy of {} carries no signed manifest; this device accepts only signed deploys", begin.app),
            ));
        };
        let m = key.verify_manifest(signed).map_err(|e| (ErrorCode::BadSignature, format!("manifest: {e}")))?;
        matches(begin, &m).map_err(|what| {
            (ErrorCode::ManifestMismatch, format!("deploy of {} differs from its signed manifest: {what}", begin.app))
        })?;
        let floor = self.floors.get(&m.application).copied().unwrap_or(0);
        if m.sequence < floor {
            return Err((
                ErrorCode::Replayed,
                format!(
                    "manifest {} of {} revision {} is older than manifest {floor}, which this device already accepted",
                    m.sequence, m.application, m.revision
                ),
            ));
        }
        if m.floor > floor && (self.floors.len() < MAX_FLOORS || self.floors.contains_key(&m.application)) {
            self.floors.insert(m.application, m.floor);
        }
        Ok(())
    }

    /// Moves to the key `signed` announces, if the trusted key signed it.
    /// The gateway sends the whole chain every session: an announcement the
    /// device is already past (an older generation, or signed by a key it
    /// no longer trusts) changes nothing and is not an error.
    pub fn rotate(&mut self, signed: &Signed) -> Result<(), Refusal> {
        let Some(key) = &self.key else {
            return Err((ErrorCode::BadSignature, "key announcement, but this device pins no app-signing key".into()));
        };
        match key.rotate(signed) {
            Ok(next) => {
                self.key = Some(next);
                Ok(())
            }
            Err(TrustError::StaleRotation { .. } | TrustError::UnknownKey { .. }) => Ok(()),
            Err(e) => Err((ErrorCode::BadSignature, format!("key announcement: {e}"))),
        }
    }
}

/// Which field of `begin` differs from `m`, if any.
fn matches(begin: &DeployBegin, m: &Manifest) -> Result<(), String> {
    let differs = |field: &str| Err(String::from(field));
    if !m.names_slot(&begin.app) {
        return Err(format!("slot {} is not a slot of application {}", begin.app, m.application));
    }
    if begin.revision != Some(m.revision) {
        return differs("revision");
    }
    if begin.version != m.version {
        return differs("version");
    }
    match &begin.native {
        // The bytes are the module: its digest and size.
        None => {
            if *begin.sha256 != *m.module_sha256 {
                return differs("module digest");
            }
            if begin.size != m.module_size {
                return differs("module size");
            }
        }
        // The bytes are native code: one the manifest names, exactly.
        Some(code) => {
            if !m.native.as_deref().unwrap_or_default().contains(&**code) {
                return differs("native code (not named by the manifest)");
            }
            if *begin.sha256 != *code.sha256 || begin.size != code.size {
                return differs("native code digest or size");
            }
        }
    }
    if begin.granted() != m.grants.as_slice() {
        return differs("capabilities");
    }
    if begin.resources() != m.resources.as_slice() {
        return differs("hardware grants");
    }
    if begin.limits != m.limits {
        return differs("limits");
    }
    if begin.config() != m.config.as_slice() {
        return differs("config");
    }
    Ok(())
}
