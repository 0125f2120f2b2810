//! Compiling modules the device does not validate: the agent is built
//! without its validator (about 150 KB of flash) and asks only for modules
//! a signed manifest it checked vouches for.

use wasmbed_agent::wasmi::{Engine, Error, Module};

/// wasmi's compiler without its validator.
pub struct Unvalidated;

impl wasmbed_agent::TrustedCompiler for Unvalidated {
    fn compile(&self, engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        // SAFETY: the agent calls this only for a module whose digest a
        // signed manifest names (checked against the pinned app-signing
        // key); the platform signs only modules it validated with the
        // agent's own validator (`wasmbed_agent::validate_module`, at
        // upload). The same signature vouches for native code, which no
        // device can check at all.
        unsafe { Module::new_unchecked(engine, bytes) }
    }
}
