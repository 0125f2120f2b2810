//! Ahead-of-time compilation of app modules for a board: WebAssembly to C
//! with `wasm2c` (Debian's `wabt`), C to Thumb-2 with `arm-none-eabi-gcc`
//! (Debian's `gcc-arm-none-eabi`), linked at address 0 into a
//! [`NativeArtifact`] a device relocates and runs.
//!
//! Why this pair: Cranelift has no 32-bit Arm backend and LLVM's Wasm
//! front end does not exist; wasm2c keeps WebAssembly's semantics in
//! portable C (traps, integer edge cases, NaN rules), and gcc's Cortex-M
//! code is what the firmware world ships. Both come from Debian, pinned by
//! the distribution, and the versions are part of every artifact's
//! [`compiler`](NativeArtifact::compiler) string, so a cached artifact is
//! never reused by another compiler.
//!
//! What the C keeps of the sandbox (see `rt/`): no linear-memory access
//! reaches outside the memory (each is unprivileged and the device's MPU
//! confines them, or each is checked in software: [`Bounds`]); a trap
//! unwinds to the device's call with
//! its reason; each function entry checks the stack left; runaway code is
//! stopped by the device at the call's deadline, at no cost per loop (its
//! timer sends the app's code, and only that, to the runtime's abort path:
//! `wasmbed-fw-native`); imports reach only the host functions the device
//! binds by name, under its grants.

mod cache;
mod compile;
mod module;

pub use cache::{Cache, Origin};
pub use compile::{Bounds, Toolchain, compile, compile_with};
pub use module::{EntryPoints, ModuleShape};
use wasmbed_protocol::NativeArtifact;

/// Why a module was not compiled.
#[derive(Debug, thiserror::Error)]
pub enum AotError {
    /// The module does not validate or breaks the app contract.
    #[error("invalid module: {0}")]
    Module(String),
    /// The board runs no agent, so no native code.
    #[error("board {0} runs no apps of its own")]
    NoAgent(String),
    /// A tool is missing or could not start.
    #[error("{tool} is not available: {why}")]
    Tool {
        /// The tool.
        tool: &'static str,
        /// What went wrong.
        why: String,
    },
    /// A tool ran and failed.
    #[error("{tool} failed: {output}")]
    Failed {
        /// The tool.
        tool: &'static str,
        /// The start of what it printed.
        output: String,
    },
    /// wasm2c's output did not have the shape this crate rewrites.
    #[error("unexpected wasm2c output: {0}")]
    Unexpected(String),
    /// The linked image holds what a device cannot load.
    #[error("cannot be loaded by a device: {0}")]
    Unloadable(String),
    /// Files in the scratch folder.
    #[error("scratch files: {0}")]
    Io(#[from] std::io::Error),
}

/// The key an artifact is cached under: module, board and compiler.
pub fn cache_key(module_sha256: &[u8; 32], board: &str, compiler: &str) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(module_sha256);
    h.update([0]);
    h.update(board.as_bytes());
    h.update([0]);
    h.update(compiler.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 a manifest names for `artifact`: over its encoding.
pub fn artifact_sha256(artifact: &NativeArtifact) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(artifact.encode()).into()
}
