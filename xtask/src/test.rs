//! `cargo xtask test`: everything CI runs (the README's test command), in
//! the order that fails fastest: formatting and lints, then builds, then
//! tests that start processes, QEMU and a browser.

use anyhow::Result;

use crate::{apps, cargo, dashboard, firmware, fuzz, k8s, root, run, tools};

/// Runs every check; the first failure stops it.
pub fn run_all() -> Result<()> {
    tools::ensure_targets()?;
    run("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    for folder in ["firmware", "apps", "components"] {
        run(
            &format!("cargo fmt --check ({folder})"),
            cargo().current_dir(root().join(folder)).args(["fmt", "--all", "--", "--check"]),
        )?;
    }
    run(
        "clippy (workspace, all targets, -D warnings)",
        cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
    )?;
    let apps = apps::build()?;
    apps::build_components()?;
    tools::ensure_qemu()?;
    tools::ensure_aot()?;
    let firmware_dir = firmware::images()?;
    // The firmware crates that build for the host too (the rest are bare-metal only).
    let host_crates =
        ["-p", "wasmbed-fw-runtime", "-p", "wasmbed-fw-drivers", "-p", "wasmbed-fw-tls", "-p", "wasmbed-fw-attached"];
    run(
        "firmware unit tests (host)",
        cargo().current_dir(root().join("firmware")).args(["test", "--locked"]).args(host_crates),
    )?;
    run(
        "clippy (firmware host-testable crates, all targets)",
        cargo().current_dir(root().join("firmware")).args(["clippy", "--locked"]).args(host_crates).args([
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    for image in firmware::image_folders() {
        run(
            &format!("clippy (firmware, {image})"),
            cargo().current_dir(root().join("firmware").join(&image)).args([
                "clippy",
                "--release",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
    }
    for (folder, what) in apps::WORKSPACES {
        run(
            &format!("clippy ({what})"),
            cargo().current_dir(root().join(folder)).args(["clippy", "--release", "--locked", "--", "-D", "warnings"]),
        )?;
    }
    // The agent must stay no_std with its default features too (device
    // images build it without `validate`, and the device TLS client inside
    // every image): checked for the smallest Cortex-M target.
    run(
        "device agent for thumbv7m-none-eabi (no_std)",
        cargo().args([
            "check",
            "--locked",
            "-p",
            "wasmbed-agent",
            "-p",
            "wasmbed-protocol",
            "--target",
            "thumbv7m-none-eabi",
        ]),
    )?;
    // Decoding never panics: every fuzz target, a fixed number of inputs.
    fuzz::run(fuzz::Budget::Runs(fuzz::TEST_RUNS))?;
    run(
        "cargo test --workspace",
        cargo().args(["test", "--workspace", "--locked"]).env("WASMBED_FIRMWARE_DIR", &firmware_dir),
    )?;
    k8s::manifests_with(Some(&crate::test_built_bin("wasmbed-crds")?))?;
    dashboard::browser_test(&firmware_dir, &apps)?;
    eprintln!("==> all checks passed");
    Ok(())
}
