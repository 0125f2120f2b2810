//! The platform's app-signing keys at run time: the files (`AppSigning`),
//! the key the control plane signs with, the chain the gateways relay and
//! the key new bundles pin, moved together on a rotation.

use std::sync::{Arc, Mutex, RwLock};

use wasmbed_control::SharedKey;
use wasmbed_gateway::TrustChain;
use wasmbed_pki::{AppSigning, Pki, PkiError};

/// What a device is told to trust, as the platform sees it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppKeyInfo {
    /// Hex id of the key deploys are signed with.
    pub key_id: String,
    /// Its generation (the first key is 0).
    pub generation: u32,
    /// Announcements devices walk to reach it.
    pub chain_len: usize,
}

/// The app-signing keys and everything that follows them.
#[derive(Debug)]
pub struct AppKeys {
    files: Mutex<AppSigning>,
    signer: SharedKey,
    chain: TrustChain,
    pki: Arc<Pki>,
}

impl AppKeys {
    /// Takes over `files`: pins its key in `pki`'s bundles and makes the
    /// signer and chain handles the control plane and gateways share.
    pub fn new(files: AppSigning, pki: Arc<Pki>) -> Self {
        pki.pin_app_key(files.key(), files.generation());
        let signer = Arc::new(RwLock::new(files.key().clone()));
        let chain = TrustChain::new(RwLock::new(files.chain().to_vec()));
        Self { files: Mutex::new(files), signer, chain, pki }
    }

    /// The key the control plane signs with (replaced on rotation).
    pub fn signer(&self) -> SharedKey {
        self.signer.clone()
    }

    /// The announcements gateways relay (appended on rotation).
    pub fn chain(&self) -> TrustChain {
        self.chain.clone()
    }

    /// The current key's public half, for a gateway to pin: it checks the
    /// edge components it runs against it (and the keys announced after it).
    pub fn pinned(&self) -> wasmbed_gateway::edge::PinnedKey {
        let f = self.files.lock().unwrap_or_else(|p| p.into_inner());
        wasmbed_gateway::edge::PinnedKey { sec1: f.key().public_sec1().to_vec(), generation: f.generation() }
    }

    /// The current key.
    pub fn info(&self) -> AppKeyInfo {
        let f = self.files.lock().unwrap_or_else(|p| p.into_inner());
        AppKeyInfo { key_id: hex::encode(f.key().id()), generation: f.generation(), chain_len: f.chain().len() }
    }

    /// Rotates to a new key from `fill`: announced under the current one and
    /// relayed to every device (live sessions at their next sync, the rest
    /// when they connect), pinned in new bundles, and every application's
    /// manifests signed again with it by the control plane.
    pub fn rotate(&self, fill: impl FnMut(&mut [u8])) -> Result<AppKeyInfo, PkiError> {
        {
            let mut f = self.files.lock().unwrap_or_else(|p| p.into_inner());
            f.rotate(fill)?;
            // The chain first: a manifest signed by the new key must not
            // reach a device before the announcement that makes it trusted.
            if let (Ok(mut chain), Some(last)) = (self.chain.write(), f.chain().last()) {
                chain.push(last.clone());
            }
            self.pki.pin_app_key(f.key(), f.generation());
            if let Ok(mut k) = self.signer.write() {
                *k = f.key().clone();
            }
        }
        Ok(self.info())
    }

    /// Deletes the private halves of older generations; returns how many.
    pub fn retire_old(&self) -> Result<usize, PkiError> {
        self.files.lock().unwrap_or_else(|p| p.into_inner()).retire_old()
    }
}

/// Rotation through the API.
impl wasmbed_api::SigningKeys for AppKeys {
    fn current(&self) -> wasmbed_api::SigningKeyInfo {
        self.info().into()
    }

    fn rotate(&self, fill: &mut dyn FnMut(&mut [u8])) -> Result<wasmbed_api::Rotated, wasmbed_api::SigningError> {
        let before = self.info();
        let now = AppKeys::rotate(self, fill)?;
        // The new key's announcement names the key that signed it: right
        // even if another rotation ran in between.
        let index = (now.generation as usize).checked_sub(1);
        let previous = index
            .and_then(|i| self.chain.read().ok().and_then(|c| c.get(i).map(|s| hex::encode(*s.key_id))))
            .unwrap_or(before.key_id);
        Ok(wasmbed_api::Rotated { previous_key_id: previous, current: now.into() })
    }

    fn retire(&self) -> Result<usize, wasmbed_api::SigningError> {
        Ok(self.retire_old()?)
    }
}

impl From<AppKeyInfo> for wasmbed_api::SigningKeyInfo {
    fn from(i: AppKeyInfo) -> Self {
        Self { key_id: i.key_id, generation: i.generation, chain_len: i.chain_len }
    }
}
