//! The example apps, built for wasm32 (a no-op when they are fresh).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `apps/target/wasm32-unknown-unknown/release`, built once per test binary.
fn apps_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let apps = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apps");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "--locked", "--quiet"])
            .current_dir(&apps)
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("RUSTFLAGS")
            .status()
            .expect("cargo");
        assert!(status.success(), "building example apps failed");
        apps.join("target/wasm32-unknown-unknown/release")
    })
}

/// The bytes of example app `name`.
pub fn app(name: &str) -> Vec<u8> {
    std::fs::read(apps_dir().join(format!("{name}.wasm"))).unwrap()
}
