//! What every Wasmbed firmware does before its board-specific transport:
//! find its provisioned identity, refuse to go on without entropy, and seed
//! a CSPRNG. Pure logic over byte slices, so it is tested on the host.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod provision;
