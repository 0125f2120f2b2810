//! The example apps in `apps/` and the edge components in `components/`
//! (each its own workspace, built for wasm32).

use std::path::PathBuf;

use anyhow::Result;

use crate::{cargo, root, run, tools};

/// Builds the example apps; returns the folder holding the `.wasm` files.
pub fn build() -> Result<PathBuf> {
    tools::ensure_targets()?;
    // apps/ is its own workspace with its own .cargo/config.toml (wasm32 target).
    let mut c = cargo();
    c.current_dir(root().join("apps")).args(["build", "--release", "--locked"]).env_remove("CARGO_TARGET_DIR");
    run("build example apps (wasm32)", &mut c)?;
    Ok(root().join("apps/target/wasm32-unknown-unknown/release"))
}

/// Builds the edge components; returns the folder holding the `.wasm` files.
pub fn build_components() -> Result<PathBuf> {
    tools::ensure_targets()?;
    // components/ has its own .cargo/config.toml (target, component linker).
    let mut c = cargo();
    c.current_dir(root().join("components")).args(["build", "--release", "--locked"]).env_remove("CARGO_TARGET_DIR");
    run("build edge components (wasm32, component model)", &mut c)?;
    Ok(root().join("components/target/wasm32-unknown-unknown/release"))
}
