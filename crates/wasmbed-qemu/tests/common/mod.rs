//! Shared by the QEMU test files: the firmware image under test.

use std::path::PathBuf;

/// The mps2-an385 firmware ELF (prebuilt by `cargo xtask test`, or built here).
pub fn firmware() -> PathBuf {
    wasmbed_qemu::firmware_from_source("mps2-an385").unwrap()
}
