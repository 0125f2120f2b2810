//! The control plane's native builder: modules from the store compiled by
//! `wasmbed-aot` (Debian's `wasm2c` and `arm-none-eabi-gcc`) for a board,
//! cached under a folder, and the artifacts put back in the module store,
//! where gateways read what they send.
//!
//! One builder for both deployments: `wasmbed up` (the platform in one
//! process) and the Kubernetes controller (whose image carries the two
//! compilers). A control plane without them still runs: every build says
//! why there is none, and the board's devices run the interpreter.

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

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_protocol::NativeArtifact;

    const APP: &str = r#"(module (memory (export "memory") 1) (func (export "init")))"#;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Arc<dyn Store>,
        builder: AotBuilder,
    }

    fn fixture(tools: &NativeTools) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&dir.path().join("store.redb")).expect("store");
        let builder = AotBuilder::new(store.clone(), dir.path().join("cache"), tools);
        Fixture { _dir: dir, store, builder }
    }

    async fn put(store: &Arc<dyn Store>, bytes: &[u8]) -> String {
        let digest = hex::encode(Sha256::digest(bytes));
        store.put_module(&digest, bytes).await.expect("put");
        digest
    }

    #[tokio::test]
    async fn a_module_is_built_once_and_its_artifact_stored_under_its_digest() {
        let f = fixture(&NativeTools::FromPath);
        let digest = put(&f.store, &wat::parse_str(APP).expect("wat")).await;
        let built = f.builder.build(&digest, "mps2-an505").await.expect("built");
        assert_eq!(built.board, "mps2-an505");
        assert_eq!(Some(built.compiler.clone()), f.builder.compiler("mps2-an505"));
        let stored = f.store.get_module(&built.digest).await.expect("read").expect("stored");
        assert_eq!(hex::encode(Sha256::digest(&stored)), built.digest);
        assert_eq!(stored.len(), built.size as usize);
        let artifact = NativeArtifact::decode(&stored).expect("an artifact");
        assert_eq!(artifact.board, "mps2-an505");
        assert_eq!(hex::encode(*artifact.module_sha256), digest);
        // The cache answers the second build with the same bytes.
        assert_eq!(f.builder.build(&digest, "mps2-an505").await, Ok(built));
    }

    #[tokio::test]
    async fn what_cannot_be_built_says_why() {
        let f = fixture(&NativeTools::FromPath);
        let garbage = put(&f.store, b"\0asm\x01\0\0\0\x01\x02").await;
        let err = f.builder.build(&garbage, "mps2-an385").await.expect_err("not a module");
        assert!(err.contains("native build for mps2-an385 failed"), "{err}");
        let good = put(&f.store, &wat::parse_str(APP).expect("wat")).await;
        let err = f.builder.build(&good, SIM_BOARD).await.expect_err("the simulator");
        assert!(err.contains("interpreted"), "{err}");
        let err = f.builder.build(&good, "no-such-board").await.expect_err("unknown board");
        assert!(err.contains("not in the board table"), "{err}");
        let err = f.builder.build(&good, "stm32vldiscovery").await.expect_err("no agent");
        assert!(err.contains("stm32vldiscovery"), "{err}");
        let err = f.builder.build(&"0".repeat(64), "mps2-an385").await.expect_err("absent");
        assert!(err.contains("not in the store"), "{err}");
        // And the builder still builds.
        assert!(f.builder.build(&good, "mps2-an385").await.is_ok());
    }

    #[tokio::test]
    async fn without_compilers_every_build_says_so() {
        let missing = NativeTools::Paths { wasm2c: "/nonexistent/wasm2c".into(), gcc: "/nonexistent/gcc".into() };
        let f = fixture(&missing);
        let digest = put(&f.store, &wat::parse_str(APP).expect("wat")).await;
        assert_eq!(f.builder.compiler("mps2-an385"), None);
        let err = f.builder.build(&digest, "mps2-an385").await.expect_err("no tools");
        assert!(err.contains("no native toolchain") && err.contains("interpreted"), "{err}");
    }
}
