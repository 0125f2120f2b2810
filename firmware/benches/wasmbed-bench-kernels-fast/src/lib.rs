//! The same kernel source as `wasmbed-bench-kernels` (one file, included),
//! in a crate of its own so the firmware profile can build it at
//! opt-level 3 while the firmware-profile copy stays at "z".
#![no_std]
#![allow(missing_docs)]

#[path = "../../../../benches/wasmbed-bench-kernels/src/lib.rs"]
#[allow(unused_attributes)]
mod kernels;

pub use kernels::run_all;
