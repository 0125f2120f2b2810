//! The example apps of `apps/` and the edge components of `components/`,
//! built for wasm32 once per test binary (a no-op when they are fresh),
//! for tests that deploy real apps and components.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `apps/target/wasm32-unknown-unknown/release`, after building the
/// example apps (`cargo build --release --locked` in `apps/`).
///
/// # Panics
///
/// When the build fails: a test that needs the apps cannot go on.
pub fn example_apps() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_wasm_workspace("apps"))
}

/// `components/target/wasm32-unknown-unknown/release`, after building the
/// edge components (`cargo build --release --locked` in `components/`).
///
/// # Panics
///
/// When the build fails: a test that needs the components cannot go on.
pub fn edge_components() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_wasm_workspace("components"))
}

/// The bytes of edge component `name` (`components/<name>`).
///
/// # Panics
///
/// When the component does not exist or cannot be built.
pub fn edge_component(name: &str) -> Vec<u8> {
    let path = edge_components().join(format!("{}.wasm", name.replace('-', "_")));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Builds the wasm32 workspace in `folder` (its own `.cargo/config.toml`
/// names the target, so cargo runs there); returns its release folder.
fn build_wasm_workspace(folder: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(folder);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "--quiet"])
        .current_dir(&dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .status();
    match status {
        Ok(s) if s.success() => dir.join("target/wasm32-unknown-unknown/release"),
        other => panic!("building {} failed: {other:?}", dir.display()),
    }
}

/// The bytes of example app `name` (`apps/<name>`).
///
/// # Panics
///
/// When the app does not exist or cannot be built.
pub fn example_app(name: &str) -> Vec<u8> {
    let path = example_apps().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
