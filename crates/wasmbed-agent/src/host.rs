//! Host functions offered to apps, grouped by capability.
//!
//! Every import lives in the `wasmbed` module. The table below is the only
//! place host functions are defined: an app's linker gets exactly the groups
//! it was granted, so an ungranted import fails to instantiate.

use alloc::string::String;
use alloc::vec::Vec;
pub use wasmbed_protocol::{Capability, DEFAULT_GRANTS};
use wasmi::{Caller, Engine, Error, Extern, Linker, Module, StoreLimits};

/// The four bytes every WebAssembly binary starts with.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Why `bytes` did not compile, in one line for people: random bytes are
/// "not a WebAssembly module" (wasmi's own message prints both magic
/// numbers as multi-line arrays), anything else is wasmi's reason with its
/// line breaks folded.
pub fn invalid_module(bytes: &[u8], error: &impl core::fmt::Display) -> String {
    if !bytes.starts_with(WASM_MAGIC) {
        return "not a WebAssembly module: it does not start with \\0asm".into();
    }
    let reason = alloc::format!("{error}");
    let words: Vec<&str> = reason.split_whitespace().collect();
    alloc::format!("invalid WebAssembly: {}", words.join(" "))
}

/// Longest log line kept, in bytes.
pub const MAX_LOG_LINE: usize = 256;

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
    /// The device's identity, for the `device` group.
    pub device_id: String,
}

/// Builds a linker holding only the granted groups. The capability table
/// (numbers, names, import names) is [`Capability`], shared with the
/// platform; this is the one place the functions behind it are defined.
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
            Capability::Device => {
                linker.func_wrap(IMPORT_MODULE, "device_id", host_device_id)?;
            }
            // A group this build does not implement is never linked, so an
            // app importing it fails to instantiate with the import named.
            _ => {}
        }
    }
    Ok(linker)
}

/// `device_id(ptr, cap) -> len`: copies up to `cap` bytes of the device id
/// to `ptr` and returns the id's full length (an app can retry with a
/// larger buffer). A buffer outside memory breaks the contract and traps.
fn host_device_id(mut caller: Caller<'_, HostCtx>, ptr: i32, cap: i32) -> Result<i32, Error> {
    let Some(Extern::Memory(memory)) = caller.get_export("memory") else {
        return Err(Error::new("device_id: the app exports no memory"));
    };
    let (start, cap) = (ptr as u32 as usize, cap as u32 as usize);
    let end = start.checked_add(cap).ok_or_else(|| Error::new("device_id: pointer overflow"))?;
    let (data, ctx) = memory.data_and_store_mut(&mut caller);
    let buf = data.get_mut(start..end).ok_or_else(|| Error::new("device_id: buffer outside memory"))?;
    let id = ctx.device_id.as_bytes();
    let n = id.len().min(cap);
    buf[..n].copy_from_slice(&id[..n]);
    Ok(id.len() as i32)
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

/// Every import of `module` must come from a granted group; the error
/// names the first that does not and the capability that would provide it.
pub(crate) fn check_imports(module: &Module, grants: &[Capability]) -> Result<(), String> {
    for import in module.imports() {
        let (m, name) = (import.module(), import.name());
        if m == IMPORT_MODULE && grants.iter().any(|c| c.imports().contains(&name)) {
            continue;
        }
        let provider = Capability::ALL.iter().find(|c| m == IMPORT_MODULE && c.imports().contains(&name));
        return Err(match provider {
            Some(c) => alloc::format!("import {m}.{name} needs the capability {:?}, which was not granted", c.name()),
            None => alloc::format!("import {m}.{name} is not provided by any capability of ABI v1"),
        });
    }
    Ok(())
}

/// Checks a module as a device would before it is ever sent: it must
/// validate under the agent's engine and import only functions the
/// `grants` provide. Returns its imports (`module.name`), or the
/// validator's message.
pub fn validate_module(bytes: &[u8], grants: &[Capability]) -> Result<Vec<String>, String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = wasmi::Module::new(&engine, bytes).map_err(|e| invalid_module(bytes, &e))?;
    check_imports(&module, grants)?;
    let exports_entry = module.exports().any(|e| e.name() == "init" || e.name() == "tick");
    if !exports_entry {
        return Err("the module exports neither `init` nor `tick`".into());
    }
    Ok(module.imports().map(|i| alloc::format!("{}.{}", i.module(), i.name())).collect())
}
