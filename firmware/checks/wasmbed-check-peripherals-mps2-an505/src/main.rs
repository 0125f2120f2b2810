//! Test image: the app peripherals of mps2-an505 as the board table lists
//! them, driven through the firmware's own `BoardPeripherals` against
//! the devices QEMU emulates (see `checks/peripherals.rs`). Run with
//! `cargo run --release` in this folder: QEMU's exit status is the verdict.
//! Not a production image.
#![no_std]
#![no_main]

#[path = "../../peripherals.rs"]
mod peripherals;

use wasmbed_boards::MPS2_AN505 as BOARD;

const _: () = assert!(
    wasmbed_fw_device::same_name(BOARD.name, env!("WASMBED_BOARD", "build images with firmware/image-build.rs")),
    "this board is not the one the crate is named after (and its memory.x made for)"
);

#[cortex_m_rt::entry]
fn main() -> ! {
    static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; 16 * 1024] = [core::mem::MaybeUninit::uninit(); 16 * 1024];
    // SAFETY (cortex-m-rt): `entry` turns this static into a unique
    // `&'static mut`; nothing else names it.
    peripherals::run(&BOARD, HEAP_MEM)
}

wasmbed_fw_device::exception_handlers!();
