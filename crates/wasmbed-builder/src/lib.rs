//! The control plane's native builder in this process: modules from the
//! store compiled by `wasmbed-aot` (Debian's `wasm2c` and
//! `arm-none-eabi-gcc`), cached under the data folder, and the artifacts
//! put back in the module store, where gateways read what they send.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use wasmbed_aot::{Cache, Toolchain};
use wasmbed_control::NativeBuilder;
use wasmbed_model::{NativeArtifactRef, SIM_BOARD, Store};

/// Which compilers the platform builds native code with.
#[derive(Debug, Clone, Default)]
pub enum NativeTools {
    /// `wasm2c` and `arm-none-eabi-gcc` found on `PATH`.
    #[default]
    FromPath,
    /// These two programs.
    Paths {
        /// `wasm2c`.
        wasm2c: PathBuf,
        /// `arm-none-eabi-gcc`.
        gcc: PathBuf,
    },
}

/// Builds with [`wasmbed_aot`] into a [`Cache`], storing artifacts as modules.
pub struct AotBuilder {
    store: Arc<dyn Store>,
    cache: Cache,
    /// The toolchain, or why there is none (every build then says so).
    tools: Result<Toolchain, String>,
}

impl AotBuilder {
    /// A builder over `store`, caching in `cache_dir`, with `tools`.
    pub fn new(store: Arc<dyn Store>, cache_dir: PathBuf, tools: &NativeTools) -> Self {
        let found = match tools {
            NativeTools::FromPath => Toolchain::from_path(),
            NativeTools::Paths { wasm2c, gcc } => Toolchain::with(wasm2c.clone(), gcc.clone()),
        };
        let tools = found.map_err(|e| format!("no native toolchain: {e}; runs interpreted"));
        if let Err(why) = &tools {
            tracing::warn!("{why}");
        }
        Self { store, cache: Cache::new(cache_dir), tools }
    }
}

impl std::fmt::Debug for AotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AotBuilder").field("cache", &self.cache).field("tools", &self.tools).finish_non_exhaustive()
    }
}

#[async_trait]
impl NativeBuilder for AotBuilder {
    fn compiler(&self, board: &str) -> Option<String> {
        let tools = self.tools.as_ref().ok()?;
        Some(tools.compiler_for(wasmbed_boards::board(board)?))
    }

    async fn build(&self, module_digest: &str, board: &str) -> Result<NativeArtifactRef, String> {
        if board == SIM_BOARD {
            return Err("the host simulator runs no native code: interpreted".into());
        }
        let tools = self.tools.clone()?;
        let b = wasmbed_boards::board(board).ok_or_else(|| format!("board {board} is not in the board table"))?;
        let module = self
            .store
            .get_module(module_digest)
            .await
            .map_err(|e| format!("cannot read module {module_digest}: {e}"))?
            .ok_or_else(|| format!("module {module_digest} is not in the store"))?;
        let cache = self.cache.clone();
        // Compiling runs two processes for a second or more: off the runtime.
        let (artifact, _) = tokio::task::spawn_blocking(move || cache.get_or_compile(&module, b, &tools))
            .await
            .map_err(|e| format!("native build stopped: {e}"))?
            .map_err(|e| format!("native build for {board} failed: {e}"))?;
        let bytes = artifact.encode();
        let digest = hex::encode(Sha256::digest(&bytes));
        self.store.put_module(&digest, &bytes).await.map_err(|e| format!("cannot store native code {digest}: {e}"))?;
        Ok(NativeArtifactRef { board: board.into(), digest, size: bytes.len() as u32, compiler: artifact.compiler })
    }
}
