//! What every Wasmbed firmware does before and around its board-specific
//! transport: find its provisioned identity, refuse to go on without
//! entropy or time, seed a CSPRNG, count its heap, keep what must survive
//! a reset. Pure logic, so it is tested on the host. (Reconnects follow
//! the agent's policy, `wasmbed_agent::Reconnect`, which the simulator
//! follows too.)
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod heap;
pub mod persist;
pub mod provision;
