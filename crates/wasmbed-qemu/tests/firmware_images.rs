//! Every built firmware image agrees with the board table: the board name
//! it carries, its core, its vector table at the start of flash, every
//! section inside the linked memory, and nothing where the host loads the
//! bundle and the boot seed (or an attached board's provisioning). Images
//! are the ones `cargo xtask test` prebuilt (`WASMBED_FIRMWARE_DIR`), or
//! built here.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use wasmbed_model::board_table::{BOARDS, Board, Cpu, MPS2_AN385, MPS2_AN386, MemoryMap, Region};
use wasmbed_qemu::image::{Image, Mismatch};

fn image(board: &str) -> Image {
    let path = wasmbed_qemu::firmware_from_source(board).unwrap();
    Image::read(&path).unwrap()
}

#[test]
fn every_firmware_image_agrees_with_its_board_table_entry() {
    let boards: Vec<&Board> = BOARDS.iter().filter(|b| b.has_firmware()).collect();
    assert!(boards.len() >= 6, "the boards with firmware: {:?}", boards.iter().map(|b| b.name).collect::<Vec<_>>());
    for board in boards {
        let image = image(board.name);
        let found = image.mismatches(board);
        assert!(found.is_empty(), "{}:\n{}", board.name, found.iter().map(|m| format!("  {m}\n")).collect::<String>());
        let sizes = image.sizes();
        if board.attached().is_some() {
            // Issue 14's budget for the attached board: flash within 64 KB;
            // static RAM (data, bss and the stack's region) within 6 KB.
            let stack = board.memory.stack.map_or(0, |s| u64::from(s.len));
            assert!(sizes.flash <= 64 * 1024, "{}: {sizes:?}", board.name);
            assert!(sizes.static_ram + stack <= 6 * 1024 && image.heap_arena == 0, "{}: {sizes:?}", board.name);
            continue;
        }
        assert!(sizes.flash > 100_000 && sizes.flash < u64::from(board.memory.flash.len), "{}: {sizes:?}", board.name);
        assert!(
            image.heap_arena > 0 && sizes.static_ram < u64::from(board.memory.ram.len),
            "{}: {sizes:?}",
            board.name
        );
    }
}

/// A wrong table entry, and the mismatch it must cause.
type Case = (&'static str, Board, fn(&Mismatch) -> bool);

/// The MPS2-AN385 entry with its memory map changed.
fn an385_memory(change: fn(&mut MemoryMap)) -> Board {
    let mut board = MPS2_AN385;
    change(&mut board.memory);
    board
}

/// The same real image against table entries that are wrong in one way
/// each: the check must say so.
#[test]
fn an_image_checked_against_a_wrong_entry_fails() {
    let an385 = image("mps2-an385");
    let cases: [Case; 4] = [
        ("another board", MPS2_AN386, |m| matches!(m, Mismatch::BoardName { .. })),
        ("another core", Board { cpu: Cpu::CortexM33, ..MPS2_AN385 }, |m| matches!(m, Mismatch::Cpu { .. })),
        ("flash elsewhere", an385_memory(|m| m.flash = Region::new(0x1000_0000, 0x40_0000)), |m| {
            matches!(m, Mismatch::VectorTable { .. })
        }),
        ("less RAM", an385_memory(|m| m.ram = Region::new(0x2000_0000, 0x1000)), |m| {
            matches!(m, Mismatch::OutsideMemory { .. })
        }),
    ];
    for (what, board, expected) in cases {
        let found = an385.mismatches(&board);
        assert!(found.iter().any(expected), "{what}: {found:?}");
    }
}
