//! The web dashboard (`dashboard/`, npm): its build, unit tests and the
//! browser test.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::{root, run, tools};

fn npm(dir: &Path) -> Command {
    let mut c = Command::new("npm");
    c.current_dir(dir);
    c
}

/// Installs the dashboard's locked dependencies (`npm ci`) unless
/// `node_modules` was installed from the current lockfile already.
fn npm_ci(dir: &Path) -> Result<()> {
    let node = Command::new("node").arg("--version").output();
    let major = node
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.trim().trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok()));
    if major.is_none_or(|m| m < 20) {
        bail!("the dashboard needs Node.js 20 or newer with npm (node --version: {major:?})");
    }
    // npm writes node_modules/.package-lock.json on every install.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    let locked = modified(&dir.join("package-lock.json"));
    if installed.is_some() && installed >= locked {
        return Ok(());
    }
    run("npm ci (dashboard)", npm(dir).args(["ci", "--no-audit", "--no-fund"]))
}

/// Builds the dashboard (type check, then Vite) into `dashboard/dist`,
/// what `wasmbed up --dashboard-dir` serves; returns that folder.
pub fn build() -> Result<PathBuf> {
    let dir = root().join("dashboard");
    npm_ci(&dir)?;
    run("build the dashboard (tsc, vite)", npm(&dir).args(["run", "build"]))?;
    Ok(dir.join("dist"))
}

/// The dashboard's unit tests, then the browser test: headless Chromium
/// driving the built dashboard served by `wasmbed up` with a QEMU device
/// (images from `firmware_dir`, apps from `apps`); screenshots in
/// `target/browser-artifacts/`.
pub fn browser_test(firmware_dir: &Path, apps: &Path) -> Result<()> {
    let dir = root().join("dashboard");
    let dist = build()?;
    run("dashboard unit tests (vitest)", npm(&dir).args(["test"]))?;
    tools::ensure_chromium()?;
    // The debug binary `cargo test` built: a release build would add
    // minutes to the test command and the test needs no speed, and
    // `cargo build` would compile much again (without the test targets'
    // features). After `cargo test --workspace` this builds nothing.
    let bin = crate::test_built_bin("wasmbed")?;
    run(
        "dashboard in headless Chromium against wasmbed up with a QEMU device (Playwright)",
        npm(&dir)
            .args(["run", "test:browser"])
            .env("WASMBED_BIN", bin)
            .env("WASMBED_FIRMWARE_DIR", firmware_dir)
            .env("WASMBED_DASHBOARD_DIR", dist)
            .env("WASMBED_APPS_DIR", apps)
            .env("WASMBED_BROWSER_ARTIFACTS", root().join("target/browser-artifacts")),
    )
}
