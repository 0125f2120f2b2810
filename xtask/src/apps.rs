//! The example apps in `apps/` and the edge components in `components/`
//! (each its own workspace, built for wasm32).

use std::path::PathBuf;

use anyhow::Result;

use crate::{cargo, root, run, tools};

/// The wasm32 workspaces: their folder and what they hold. Each has its own
/// `.cargo/config.toml` (the target; for components, the component linker),
/// which cargo reads from the folder it runs in.
pub const WORKSPACES: [(&str, &str); 2] =
    [("apps", "example apps (wasm32)"), ("components", "edge components (wasm32, component model)")];

/// Builds the example apps; returns the folder holding the `.wasm` files.
pub fn build() -> Result<PathBuf> {
    build_workspace(WORKSPACES[0])
}

/// Builds the edge components; returns the folder holding the `.wasm` files.
pub fn build_components() -> Result<PathBuf> {
    build_workspace(WORKSPACES[1])
}

fn build_workspace((folder, what): (&str, &str)) -> Result<PathBuf> {
    tools::ensure_targets()?;
    let mut c = cargo();
    c.current_dir(root().join(folder)).args(["build", "--release", "--locked"]).env_remove("CARGO_TARGET_DIR");
    run(&format!("build {what}"), &mut c)?;
    Ok(root().join(folder).join("target/wasm32-unknown-unknown/release"))
}
