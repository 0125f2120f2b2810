//! Host functions offered to apps, grouped by capability.
//!
//! Every import lives in the `wasmbed` module. The table below is the only
//! place host functions are defined: an app's linker gets exactly the groups
//! it was granted, so an ungranted import fails to instantiate.

use alloc::string::String;
use alloc::vec::Vec;
use wasmi::{Caller, Engine, Error, Extern, Linker, StoreLimits};

use crate::apps::MAX_LOG_LINE;

/// Import module name of ABI v1.
pub const IMPORT_MODULE: &str = "wasmbed";

/// Most log lines kept from one call; the rest are counted and reported.
pub const MAX_LOGS_PER_CALL: usize = 16;

/// What a running app's store carries.
#[derive(Debug)]
pub struct HostCtx {
    /// Memory ceiling, enforced by wasmi.
    pub limits: StoreLimits,
    /// Monotonic time of the current call.
    pub now_ms: u64,
    /// Lines logged during the current call.
    pub logs: Vec<String>,
    /// Lines dropped during the current call (over [`MAX_LOGS_PER_CALL`]).
    pub dropped_logs: u32,
}

/// Capability groups of ABI v1, numbered like system calls: numbers are
/// stable, names are what specs and manifests say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Capability {
    /// `log(ptr, len)`.
    Log = 0,
    /// `now_ms() -> i64`.
    Time = 1,
}

/// Capabilities every app gets in this version of the agent.
pub const DEFAULT_GRANTS: &[Capability] = &[Capability::Log, Capability::Time];

/// Builds a linker holding only the granted groups.
pub fn linker(engine: &Engine, grants: &[Capability]) -> Result<Linker<HostCtx>, Error> {
    let mut linker = Linker::new(engine);
    for cap in grants {
        match cap {
            Capability::Log => {
                linker.func_wrap(IMPORT_MODULE, "log", host_log)?;
            }
            Capability::Time => {
                linker.func_wrap(IMPORT_MODULE, "now_ms", |caller: Caller<'_, HostCtx>| -> i64 {
                    caller.data().now_ms as i64
                })?;
            }
        }
    }
    Ok(linker)
}

/// `log(ptr, len)`: a guest pointer outside its memory breaks the contract
/// and traps; long lines are cut to [`MAX_LOG_LINE`] bytes.
fn host_log(mut caller: Caller<'_, HostCtx>, ptr: i32, len: i32) -> Result<(), Error> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(Error::new("log: the app exports no memory"));
    };
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    let end = start.checked_add(len).ok_or_else(|| Error::new("log: pointer overflow"))?;
    let data = memory.data(&caller);
    let bytes = data.get(start..end).ok_or_else(|| Error::new("log: buffer outside memory"))?;
    let kept = &bytes[..len.min(MAX_LOG_LINE)];
    let line = String::from_utf8_lossy(kept).into_owned();
    let ctx = caller.data_mut();
    if ctx.logs.len() < MAX_LOGS_PER_CALL {
        ctx.logs.push(line);
    } else {
        ctx.dropped_logs = ctx.dropped_logs.saturating_add(1);
    }
    Ok(())
}

/// Import names of each capability group.
fn group_imports(cap: Capability) -> &'static [&'static str] {
    match cap {
        Capability::Log => &["log"],
        Capability::Time => &["now_ms"],
    }
}

/// Checks a module as a device would before it is ever sent: it must
/// validate under the agent's engine and import only functions the granted
/// capability groups provide. Returns the validator's message on failure.
pub fn validate_module(bytes: &[u8]) -> Result<(), String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = wasmi::Module::new(&engine, bytes).map_err(|e| alloc::format!("invalid WebAssembly: {e}"))?;
    for import in module.imports() {
        let granted = import.module() == IMPORT_MODULE
            && DEFAULT_GRANTS.iter().any(|c| group_imports(*c).contains(&import.name()));
        if !granted {
            return Err(alloc::format!(
                "import {}.{} is not provided by any granted capability (ABI v1 offers wasmbed.log, wasmbed.now_ms)",
                import.module(),
                import.name()
            ));
        }
    }
    let exports_entry = module.exports().any(|e| e.name() == "init" || e.name() == "tick");
    if !exports_entry {
        return Err("the module exports neither `init` nor `tick`".into());
    }
    Ok(())
}
