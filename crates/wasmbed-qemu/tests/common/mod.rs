//! Shared by the QEMU test files: the firmware image under test, and how
//! a test image is booted alone.

#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};

use wasmbed_qemu::{Launch, machine};

/// The mps2-an385 firmware ELF (prebuilt by `cargo xtask test`, or built here).
pub fn firmware() -> PathBuf {
    wasmbed_qemu::firmware_from_source("mps2-an385").unwrap()
}

/// `kernel` on mps2-an385 with its console in `console`: no bundle, seed,
/// network or peripherals (test images that need none).
pub fn alone(kernel: PathBuf, console: &Path) -> Launch {
    Launch {
        board: machine("mps2-an385").unwrap(),
        kernel,
        bundle: None,
        seed: None,
        console: console.to_path_buf(),
        mac: None,
        gateway_ports: Vec::new(),
        peripherals: Vec::new(),
        qmp: None,
        paused: false,
        app_uarts: None,
    }
}
