//! Compiling modules a device does not validate itself.
//!
//! wasmparser's validator is about 150 KB of a device's flash. Firmware
//! built without the agent's `validate` feature leaves it out: the device
//! then takes only modules a signed manifest vouches for — the platform
//! validated each with the validator before signing it, and the same
//! signature already vouches for native code, which no device can check —
//! and compiles them with the firmware's [`TrustedCompiler`] (the one
//! `unsafe` step, which this crate does not take).

use alloc::string::String;

/// Compiles a module without validating it.
pub trait TrustedCompiler: Send {
    /// `bytes` compiled for `engine`; the agent calls it only for modules
    /// a signed manifest it checked vouches for.
    fn compile(&self, engine: &wasmi::Engine, bytes: &[u8]) -> Result<wasmi::Module, wasmi::Error>;
}

/// Whether an agent that validates modules itself (`validates`), or has a
/// compiler for vouched-for ones (`compiler`), may compile a module a
/// signed manifest does (`vouched`) or does not vouch for; if not, why.
pub(crate) fn may_compile(validates: bool, vouched: bool, compiler: bool) -> Result<(), String> {
    if validates {
        return Ok(());
    }
    if !vouched {
        return Err("this device does not validate modules itself: it runs only modules a signed manifest vouches for, and it pins no app-signing key".into());
    }
    if !compiler {
        return Err("this device does not validate modules itself and has no compiler for signed ones".into());
    }
    Ok(())
}

/// Whether this build of the agent validates modules itself.
pub const VALIDATES: bool = cfg!(feature = "validate");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_validator_only_vouched_modules_with_a_compiler_are_compiled() {
        for vouched in [false, true] {
            for compiler in [false, true] {
                assert_eq!(may_compile(true, vouched, compiler), Ok(()), "the validator takes any module");
            }
        }
        assert_eq!(may_compile(false, true, true), Ok(()));
        let unsigned = may_compile(false, false, true).unwrap_err();
        assert!(unsigned.contains("only modules a signed manifest vouches for"), "{unsigned}");
        let no_compiler = may_compile(false, true, false).unwrap_err();
        assert!(no_compiler.contains("no compiler"), "{no_compiler}");
    }
}
