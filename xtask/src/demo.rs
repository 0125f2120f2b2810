//! `cargo xtask demo`: the platform with a demo fleet, built from source.

use std::ffi::OsString;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use crate::{apps, dashboard, firmware, release_bins, root, tied, tools};

/// Builds what is missing and runs `wasmbed up --demo DEVICES` with the
/// example app, every board's firmware and the dashboard; `up` goes on
/// `wasmbed up`'s command line. Returns when `wasmbed up` exits.
pub fn run(devices: usize, up: &[OsString]) -> Result<()> {
    tools::ensure_targets()?;
    let apps = apps::build()?;
    tools::ensure_qemu()?;
    let firmware = firmware::images()?;
    let dashboard = dashboard::build()?;
    let bin = release_bins()?.join("wasmbed");
    let mut cmd = Command::new(&bin);
    cmd.args(["up", "--demo", &devices.to_string(), "--demo-app"])
        .arg(apps.join("hello.wasm"))
        .arg("--demo-thermostat")
        .arg(apps.join("thermostat.wasm"))
        .arg("--firmware-dir")
        .arg(&firmware)
        .arg("--data-dir")
        .arg(root().join(".wasmbed"))
        .arg("--dashboard-dir")
        .arg(&dashboard)
        .args(up);
    let status = tied(&cmd).stdin(Stdio::inherit()).status().context("cannot start wasmbed up")?;
    if !status.success() {
        bail!("wasmbed up exited with {status}");
    }
    Ok(())
}
