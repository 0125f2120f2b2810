//! Test image: the app peripherals of mps2-an385 as the board table lists
//! them, driven through the firmware's own `BoardPeripherals` against
//! the devices QEMU emulates (see `checks/peripherals.rs`). Run with
//! `cargo run --release` in this folder: QEMU's exit status is the verdict.
//! Not a production image.
#![no_std]
#![no_main]

#[path = "../../peripherals.rs"]
#[macro_use]
mod peripherals;

check_main!(wasmbed_boards::MPS2_AN385);
