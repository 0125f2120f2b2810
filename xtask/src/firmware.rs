//! Firmware images, one per board with firmware in the board table
//! (`crates/wasmbed-boards`): the list of boards lives there only.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::builder::PossibleValuesParser;

use crate::{cargo, root, run, tools};

/// The boards with firmware (the agent's, or an attached board's), from
/// the board table.
pub fn boards() -> impl Iterator<Item = &'static wasmbed_boards::Board> {
    wasmbed_boards::BOARDS.iter().filter(|b| b.has_firmware())
}

/// Accepts the name of a board with firmware (and lists them when not).
pub fn board_parser() -> PossibleValuesParser {
    PossibleValuesParser::new(boards().map(|b| b.name))
}

/// Builds the firmware workspace's image in `firmware/<folder>` (release).
fn build_image(what: &str, folder: &str) -> Result<()> {
    tools::ensure_targets()?;
    let mut c = cargo();
    c.current_dir(root().join("firmware").join(folder))
        .args(["build", "--release", "--locked"])
        .env_remove("CARGO_TARGET_DIR");
    run(what, &mut c)
}

/// The ELF `name` built for `target` in the firmware workspace.
fn elf(target: &str, name: &str) -> PathBuf {
    root().join("firmware/target").join(target).join("release").join(name)
}

/// Builds the firmware of one board; returns the ELF.
pub fn build(board: &str) -> Result<PathBuf> {
    let Some(b) = boards().find(|b| b.name == board) else {
        let all: Vec<&str> = boards().map(|b| b.name).collect();
        bail!("no firmware for board {board:?}; boards with firmware: {}", all.join(", "));
    };
    let image = b.image_name().to_string();
    build_image(&format!("build firmware for {board}"), &format!("boards/{image}"))?;
    Ok(elf(b.target, &image))
}

/// Copies `elf` into `out` as `name`.
fn copy(elf: &Path, out: &Path, name: &str) -> Result<()> {
    std::fs::copy(elf, out.join(name))
        .with_context(|| format!("cannot copy {} to {}", elf.display(), out.display()))?;
    Ok(())
}

/// Builds every board's firmware into `out` as `wasmbed-fw-<board>` (what
/// `wasmbed up --firmware-dir` and the device image read).
pub fn all_boards(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    for b in boards() {
        copy(&build(b.name)?, out, &b.image_name().to_string())?;
    }
    Ok(())
}

/// Where the tests, the demo and the benchmarks take images from.
pub fn images_dir() -> PathBuf {
    root().join("target/firmware")
}

/// Test-only images (fault injection) and their board, built beside the
/// boards' images for the tests.
const CHECKS: &[(&str, &str)] = &[
    ("wasmbed-check-fault-mps2-an385", "mps2-an385"),
    ("wasmbed-check-native-mps2-an385", "mps2-an385"),
    ("wasmbed-check-peripherals-mps2-an385", "mps2-an385"),
    ("wasmbed-check-peripherals-mps2-an505", "mps2-an505"),
    ("wasmbed-check-peripherals-olimex-stm32-h405", "olimex-stm32-h405"),
];

/// The Rust target of a board in the table.
fn target_of(board: &str) -> Result<&'static str> {
    wasmbed_boards::board(board).map(|b| b.target).with_context(|| format!("{board} is not in the board table"))
}

/// Every board's image and the test-only ones, gathered in
/// [`images_dir`]; returns it.
pub fn images() -> Result<PathBuf> {
    let out = images_dir();
    all_boards(&out)?;
    for (name, board) in CHECKS {
        build_image(&format!("build test image {name}"), &format!("checks/{name}"))?;
        copy(&elf(target_of(board)?, name), &out, name)?;
    }
    Ok(out)
}

/// The image folders under `firmware/` that clippy checks one by one:
/// every board's, the benchmark's and the checks'.
pub fn image_folders() -> Vec<String> {
    boards()
        .map(|b| format!("boards/{}", b.image_name()))
        .chain([format!("benches/{INTERP}"), format!("benches/{HOST_CALLS}"), format!("benches/{VERIFY}")])
        .chain(CHECKS.iter().map(|(name, _)| format!("checks/{name}")))
        .collect()
}

/// The `interp` benchmark's image (for mps2-an385 only).
const INTERP: &str = "wasmbed-bench-interp-mps2-an385";

/// Builds the `interp` benchmark's image; returns the ELF.
pub fn interp_image() -> Result<PathBuf> {
    build_image("build the interp benchmark image", &format!("benches/{INTERP}"))?;
    Ok(elf(target_of("mps2-an385")?, INTERP))
}

/// The `host-calls` benchmark's image (for mps2-an385 only).
const HOST_CALLS: &str = "wasmbed-bench-host-calls-mps2-an385";

/// Builds the `host-calls` benchmark's image; returns the ELF.
pub fn host_calls_image() -> Result<PathBuf> {
    build_image("build the host-calls benchmark image", &format!("benches/{HOST_CALLS}"))?;
    Ok(elf(target_of("mps2-an385")?, HOST_CALLS))
}

/// The `verify` benchmark's image (for mps2-an385 only).
const VERIFY: &str = "wasmbed-bench-verify-mps2-an385";

/// Builds the `verify` benchmark's image; returns the ELF.
pub fn verify_image() -> Result<PathBuf> {
    build_image("build the verify benchmark image", &format!("benches/{VERIFY}"))?;
    Ok(elf(target_of("mps2-an385")?, VERIFY))
}
