//! The build script every image crate shares (`build = "../../image-build.rs"`):
//! the linker's `memory.x` comes from the board table, so no image carries
//! a memory map of its own. An image crate is named after its board
//! (`wasmbed-fw-mps2-an386`, `wasmbed-check-fault-mps2-an385`, ...).
//!
//! It also keeps the `.wasmbed.board` section `board_main!` fills with the
//! board's name, where the host's image check reads it, and tells the
//! crate which board it links for (`WASMBED_BOARD`), so `board_main!` can
//! refuse a board value that disagrees.

use std::path::PathBuf;

/// Kept even though no code reads it; after `.rodata`, so it is in flash.
const BOARD_SECTION: &str = "
/* The board's name, for the host's image check (see wasmbed-fw-device). */
SECTIONS
{
  .wasmbed.board : { KEEP(*(.wasmbed.board)) } > FLASH
}
INSERT AFTER .rodata;
";

fn main() {
    let package = std::env::var("CARGO_PKG_NAME").expect("cargo sets CARGO_PKG_NAME");
    let board = wasmbed_boards::BOARDS
        .iter()
        .filter(|b| package.ends_with(&format!("-{}", b.name)))
        .max_by_key(|b| b.name.len())
        .unwrap_or_else(|| {
            let names: Vec<_> = wasmbed_boards::BOARDS.iter().map(|b| b.name).collect();
            panic!("{package}: an image crate's name ends in its board's, one of {}", names.join(", "))
        });
    let mut memory_x = String::new();
    board.memory.write_memory_x(board.name, &mut memory_x).expect("formatting into a String");
    memory_x.push_str(BOARD_SECTION);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("memory.x"), memory_x).expect("writing memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    // Identical functions folded into one: 3.7 KB of the mps2-an385 image
    // (measured). Rust does not promise distinct function addresses, so
    // no code may rely on them; `--icf=safe` folds nothing (rustc emits no
    // address-significance table).
    println!("cargo:rustc-link-arg=--icf=all");
    println!("cargo:rustc-env=WASMBED_BOARD={}", board.name);
    // The table is a build-dependency (a change rebuilds this script); the
    // crate's name is in its manifest.
    println!("cargo:rerun-if-changed=Cargo.toml");
}
