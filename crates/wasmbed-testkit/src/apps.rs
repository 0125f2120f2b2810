//! The example apps of `apps/`, built for wasm32 once per test binary (a
//! no-op when they are fresh), for tests that deploy real apps.

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
    DIR.get_or_init(|| {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--locked", "--quiet"])
            .current_dir(&apps)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .status();
        match status {
            Ok(s) if s.success() => apps.join("target/wasm32-unknown-unknown/release"),
            other => panic!("building the example apps in {} failed: {other:?}", apps.display()),
        }
    })
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
