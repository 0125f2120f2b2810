//! Artifacts kept on disk by (module digest, board, compiler): a revision
//! rolled out again, or to more devices of a board, is compiled once.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use wasmbed_boards::Board;
use wasmbed_protocol::NativeArtifact;

use crate::{AotError, Toolchain, cache_key, compile};

/// A folder of compiled artifacts.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// Where an artifact came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from the cache.
    Cached,
    /// Compiled now (and kept).
    Compiled,
}

impl Cache {
    /// A cache in `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// `module` compiled for `board` by `tools`: from the cache when a
    /// readable copy for the same module, board and compiler is there,
    /// otherwise compiled and kept. A copy that does not decode or does
    /// not match is compiled again (and replaced).
    pub fn get_or_compile(
        &self,
        module: &[u8],
        board: &Board,
        tools: &Toolchain,
    ) -> Result<(NativeArtifact, Origin), AotError> {
        let digest: [u8; 32] = Sha256::digest(module).into();
        let compiler = tools.compiler_for(board);
        let path = self.dir.join(cache_key(&digest, board.name, &compiler));
        if let Ok(bytes) = std::fs::read(&path)
            && let Ok(a) = NativeArtifact::decode(&bytes)
            && a.module_sha256 == digest.into()
            && a.board == board.name
            && a.compiler == compiler
        {
            return Ok((a, Origin::Cached));
        }
        let a = compile(module, board, tools)?;
        std::fs::create_dir_all(&self.dir)?;
        // Written whole under another name, then renamed: a reader never
        // sees half an artifact.
        let tmp = path.with_extension("partial");
        std::fs::write(&tmp, a.encode())?;
        std::fs::rename(&tmp, &path)?;
        Ok((a, Origin::Compiled))
    }
}
