//! What every Wasmbed firmware does before and around its board-specific
//! transport: find its provisioned identity, refuse to go on without
//! entropy or time, seed a CSPRNG, pace reconnects, count its heap. Pure
//! logic, so it is tested on the host.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod backoff;
pub mod heap;
pub mod provision;
