//! App-signing keys in Kubernetes, rotatable through the API the controller
//! serves: the same `wasmbed_pki::AppSigning` folder as in embedded mode
//! (memory-backed here), kept in the `<release>-app-signing` Secret, with
//! each announcement published for the gateways (`wasmbed_k8s::signing`).
//!
//! A rotation is made durable before anything acts on it: the new key and
//! its announcement are written to the Secret (undone locally if the API
//! server refuses), then the announcement is published for the gateways,
//! and only then do new bundles pin the key and the control plane sign
//! with it, so no manifest signed by it reaches a gateway before the
//! announcement that makes devices trust it. Gateways follow the
//! announcements ([`follow_announcements`]) and relay them as in embedded
//! mode.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use tokio::sync::watch;
use wasmbed_api::{Rotated, SigningError, SigningKeyInfo, SigningKeys};
use wasmbed_control::SharedKey;
use wasmbed_gateway::TrustChain;
use wasmbed_k8s::signing::{
    persist_signing_dir, publish_announcement, publish_public_key, read_announcements, read_public_key,
    sync_signing_dir,
};
use wasmbed_pki::{AppSigning, Pki, PkiError};

/// How often a gateway looks for a new announcement.
pub const ANNOUNCEMENT_POLL: Duration = Duration::from_secs(5);

/// The app-signing keys of a release, held by its controller.
#[derive(Debug)]
pub struct ClusterAppKeys {
    /// Held through a whole rotation or retirement (they await the API server).
    busy: tokio::sync::Mutex<()>,
    files: Mutex<AppSigning>,
    dir: PathBuf,
    signer: SharedKey,
    pki: Arc<Pki>,
    secrets: Api<Secret>,
    secret: String,
    config_maps: Api<ConfigMap>,
    release: String,
}

/// Why the keys could not be opened, rotated or retired.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterKeyError {
    /// The key folder.
    #[error(transparent)]
    Files(#[from] PkiError),
    /// The Secret.
    #[error(transparent)]
    Secret(#[from] wasmbed_k8s::secrets::SecretError),
    /// An announcement's ConfigMap.
    #[error(transparent)]
    Announcement(#[from] wasmbed_k8s::signing::AnnouncementError),
    /// An announcement that does not encode.
    #[error("announcement of generation {generation} does not encode: {why}")]
    Encode {
        /// Its generation.
        generation: u32,
        /// Why.
        why: String,
    },
}

impl ClusterAppKeys {
    /// Opens the keys of `release` into `dir` (made on the first start),
    /// publishes every announcement (a controller stopped between keeping a
    /// rotation and publishing it finishes the job here), and pins the
    /// current key in `pki`'s bundles.
    pub async fn open(
        secrets: Api<Secret>,
        config_maps: Api<ConfigMap>,
        release: &str,
        dir: &Path,
        pki: Arc<Pki>,
        mut fill: impl FnMut(&mut [u8]),
    ) -> Result<Self, ClusterKeyError> {
        let secret = crate::app_signing_secret(release);
        let outcome = sync_signing_dir(&secrets, &secret, dir, |d| {
            AppSigning::open_or_create(d, &mut fill).map(drop).map_err(|e| e.to_string())
        })
        .await?;
        tracing::info!(%secret, ?outcome, "app-signing keys");
        let files = AppSigning::open_or_create(dir, &mut fill)?;
        for (i, signed) in files.chain().iter().enumerate() {
            let generation = u32::try_from(i + 1).unwrap_or(u32::MAX);
            publish_announcement(&config_maps, release, generation, &encode(generation, signed)?).await?;
        }
        // Gateways pin the oldest public key published and walk from there.
        publish_public_key(&config_maps, release, files.generation(), files.key().public_sec1()).await?;
        pki.pin_app_key(files.key(), files.generation());
        let signer = Arc::new(RwLock::new(files.key().clone()));
        Ok(Self {
            busy: tokio::sync::Mutex::new(()),
            files: Mutex::new(files),
            dir: dir.to_owned(),
            signer,
            pki,
            secrets,
            secret,
            config_maps,
            release: release.to_owned(),
        })
    }

    /// The key the control plane signs with (replaced on rotation).
    pub fn signer(&self) -> SharedKey {
        self.signer.clone()
    }

    fn info(&self) -> SigningKeyInfo {
        let f = self.files.lock().unwrap_or_else(|p| p.into_inner());
        SigningKeyInfo { key_id: hex(&f.key().id()), generation: f.generation(), chain_len: f.chain().len() }
    }

    /// Rotates to a key from `fill`; see the module docs for the order.
    pub async fn rotate_now(&self, fill: &mut dyn FnMut(&mut [u8])) -> Result<Rotated, ClusterKeyError> {
        let _busy = self.busy.lock().await;
        let before = self.info();
        let (generation, announcement, key) = {
            let mut f = self.files.lock().unwrap_or_else(|p| p.into_inner());
            f.rotate(&mut *fill)?;
            let generation = f.generation();
            let announcement = f.chain().last().map(|s| encode(generation, s)).transpose()?;
            (generation, announcement, f.key().clone())
        };
        if let Err(e) = persist_signing_dir(&self.secrets, &self.secret, &self.dir, &[]).await {
            self.undo(generation);
            return Err(e.into());
        }
        if let Some(bytes) = &announcement {
            // Kept already: a failure here is finished by the next start.
            publish_announcement(&self.config_maps, &self.release, generation, bytes).await?;
        }
        self.pki.pin_app_key(&key, generation);
        if let Ok(mut k) = self.signer.write() {
            *k = key;
        }
        Ok(Rotated { previous_key_id: before.key_id, current: self.info() })
    }

    /// Forgets a rotation the Secret did not take: its files go, and the
    /// folder is read again (the previous key is current again).
    fn undo(&self, generation: u32) {
        let _ = std::fs::remove_file(self.dir.join(format!("key-{generation}.pem")));
        let _ = std::fs::remove_file(self.dir.join(format!("announce-{generation}.cbor")));
        let mut f = self.files.lock().unwrap_or_else(|p| p.into_inner());
        match AppSigning::open_or_create(&self.dir, |_| {}) {
            Ok(reopened) => *f = reopened,
            Err(e) => tracing::error!("app-signing folder after an undone rotation: {e}"),
        }
    }

    /// Deletes older private keys here and in the Secret; returns how many
    /// were deleted here (retrying after a Secret failure deletes them there).
    pub async fn retire_now(&self) -> Result<usize, ClusterKeyError> {
        let _busy = self.busy.lock().await;
        let (n, generation) = {
            let f = self.files.lock().unwrap_or_else(|p| p.into_inner());
            (f.retire_old()?, f.generation())
        };
        let removed: Vec<String> = (0..generation).map(|g| format!("key-{g}.pem")).collect();
        persist_signing_dir(&self.secrets, &self.secret, &self.dir, &removed).await?;
        Ok(n)
    }
}

fn encode(generation: u32, signed: &wasmbed_protocol::Signed) -> Result<Vec<u8>, ClusterKeyError> {
    minicbor::to_vec(signed).map_err(|e| ClusterKeyError::Encode { generation, why: e.to_string() })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Through the API (whose handlers call these on a blocking thread).
impl SigningKeys for ClusterAppKeys {
    fn current(&self) -> SigningKeyInfo {
        self.info()
    }

    fn rotate(&self, fill: &mut dyn FnMut(&mut [u8])) -> Result<Rotated, SigningError> {
        Ok(tokio::runtime::Handle::current().block_on(self.rotate_now(fill))?)
    }

    fn retire(&self) -> Result<usize, SigningError> {
        Ok(tokio::runtime::Handle::current().block_on(self.retire_now())?)
    }
}

/// Sets a gateway's `pin` to the oldest app-signing public key the
/// controller published, looking every [`ANNOUNCEMENT_POLL`] until it
/// finds one (or `stop` turns true). Until then the gateway refuses edge
/// components as unsigned.
pub async fn follow_public_key(
    config_maps: Api<ConfigMap>,
    release: String,
    chain: TrustChain,
    pin: wasmbed_gateway::AppKeyPin,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let newest = chain.read().map(|c| c.len()).unwrap_or(0);
        match read_public_key(&config_maps, &release, u32::try_from(newest).unwrap_or(u32::MAX)).await {
            Ok(Some((sec1, generation))) => {
                if let Ok(mut p) = pin.write() {
                    *p = Some(wasmbed_gateway::edge::PinnedKey { sec1, generation });
                }
                tracing::info!(generation, "app-signing key pinned for edge components");
                return;
            }
            Ok(None) => tracing::debug!("no app-signing key published yet"),
            Err(e) => tracing::warn!("reading the app-signing key: {e}"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(ANNOUNCEMENT_POLL) => {}
        }
    }
}

/// Keeps a gateway's `chain` up with the announcements the controller
/// publishes, every [`ANNOUNCEMENT_POLL`], until `stop` turns true. An
/// announcement that does not decode is not relayed (and said so): the
/// chain stops before it, as a device would.
pub async fn follow_announcements(
    config_maps: Api<ConfigMap>,
    release: String,
    chain: TrustChain,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let have = chain.read().map(|c| c.len()).unwrap_or(0);
        let next = u32::try_from(have + 1).unwrap_or(u32::MAX);
        match read_announcements(&config_maps, &release, next).await {
            Ok(found) => {
                for (i, bytes) in found.iter().enumerate() {
                    match minicbor::decode::<wasmbed_protocol::Signed>(bytes) {
                        Ok(signed) => {
                            if let Ok(mut c) = chain.write() {
                                c.push(signed);
                            }
                            tracing::info!(generation = next as usize + i, "app-signing key announcement relayed");
                        }
                        Err(e) => {
                            tracing::warn!(generation = next as usize + i, "announcement does not decode: {e}");
                            break;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!("reading app-signing announcements: {e}"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(ANNOUNCEMENT_POLL) => {}
        }
    }
}
