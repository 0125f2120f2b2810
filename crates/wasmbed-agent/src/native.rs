//! Native apps: modules compiled ahead of time for this board
//! (`wasmbed-aot`), run under the same rules as interpreted ones.
//!
//! The agent keeps the policy and knows no machine code: it checks that an
//! artifact was built for this board, binds each of its imports by name
//! to a host function a granted group provides (the same rule and the
//! same functions as the interpreter's linker), and maps a trap to why the
//! app failed. The mechanism (placing the image in RAM, relocating it,
//! calling into it with a stack limit) is the firmware's, behind
//! [`NativeLoader`]: it needs `unsafe`, which this crate forbids.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wasmbed_protocol::{AppLimits, ErrorCode, FailReason, NATIVE_IO_WORDS, NativeArtifact};

use crate::host::{self, Capability, HostCtx, NativeFn};

/// An entry point of the app contract, numbered as the artifact's header
/// numbers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// `init()`.
    Init = 0,
    /// `tick(now_ms)`.
    Tick = 1,
    /// `on_message(len)`.
    OnMessage = 2,
}

/// Why native code stopped: its runtime's trap number (`rt/wasm-rt.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NativeTrap(pub u32);

impl NativeTrap {
    /// The host refused a call (the reason is the host's).
    pub const HOST: Self = Self(11);

    fn reason(self, broken: Option<String>) -> FailReason {
        let (code, what) = match self.0 {
            1 => (ErrorCode::Trap, "out of bounds memory access"),
            2 => (ErrorCode::Trap, "integer overflow"),
            3 => (ErrorCode::Trap, "integer divide by zero"),
            4 => (ErrorCode::Trap, "invalid conversion to integer"),
            5 => (ErrorCode::Trap, "unreachable executed"),
            6 => (ErrorCode::Trap, "indirect call type mismatch or null"),
            9 => (ErrorCode::Trap, "call stack exhausted"),
            10 => (ErrorCode::OutOfFuel, "all fuel consumed"),
            12 => (ErrorCode::MemoryLimit, "memory or table over the app's limit"),
            13 => (ErrorCode::Deadline, "stopped at the call's deadline"),
            _ => (ErrorCode::Trap, "trap"),
        };
        let detail = match (self, broken) {
            (Self::HOST, Some(why)) => why,
            _ => format!("{what} (native code)"),
        };
        FailReason { code, detail }
    }
}

/// A host call refused: the call traps (the agent keeps the reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostRefused;

/// What native code calls back: import `n` of its artifact.
pub trait NativeHost {
    /// Runs import `import` on the arguments in `io` (floats as their
    /// bits), leaving the result in `io[0]`; `memory` is the app's
    /// exported memory. `Err` traps the app.
    fn call(
        &mut self,
        import: u32,
        memory: Option<&mut [u8]>,
        io: &mut [u64; NATIVE_IO_WORDS],
    ) -> Result<(), HostRefused>;
}

/// A loaded artifact's instance, as the firmware runs it.
pub trait NativeInstance: Send {
    /// Whether the app exports `entry` (with the contract's signature).
    fn exports(&self, entry: Entry) -> bool;
    /// Sets the instance up (memory, data, tables, start function),
    /// stopping it after `deadline_ms`.
    fn instantiate(&mut self, host: &mut dyn NativeHost, deadline_ms: u32) -> Result<(), NativeTrap>;
    /// Runs `entry` with `arg`, stopping it after `deadline_ms`.
    fn call(&mut self, entry: Entry, arg: u64, host: &mut dyn NativeHost, deadline_ms: u32) -> Result<(), NativeTrap>;
    /// Bytes it holds: image, instance, linear memory.
    fn memory_bytes(&self) -> usize;
}

/// What the firmware offers to place native code (absent on the host
/// simulator: its code is not Thumb-2).
pub trait NativeLoader: Send {
    /// The board whose code it runs.
    fn board(&self) -> &str;
    /// Places `artifact`'s image in RAM and relocates it; its memory and
    /// table may grow to these limits.
    fn load(
        &mut self,
        artifact: &NativeArtifact,
        max_memory_pages: u32,
        max_table_elements: u32,
    ) -> Result<Box<dyn NativeInstance>, String>;
}

/// The host functions an artifact's imports are bound to, with the app's
/// context, lent to the code for one call.
struct Bound {
    ctx: HostCtx,
    fns: Vec<NativeFn>,
    /// Why the last refused host call broke the contract.
    broken: Option<String>,
}

impl NativeHost for Bound {
    fn call(
        &mut self,
        import: u32,
        memory: Option<&mut [u8]>,
        io: &mut [u64; NATIVE_IO_WORDS],
    ) -> Result<(), HostRefused> {
        let Some(f) = self.fns.get(import as usize) else {
            self.broken = Some(format!("native code called import {import}, which it does not have"));
            return Err(HostRefused);
        };
        f(&mut self.ctx, memory, io).map_err(|why| {
            self.broken = Some(why);
            HostRefused
        })
    }
}

/// Checks `artifact` is for `board` and binds its imports under `grants`.
pub(crate) fn bind(artifact: &NativeArtifact, board: &str, grants: &[Capability]) -> Result<Vec<NativeFn>, FailReason> {
    if artifact.board != board {
        return Err(FailReason {
            code: ErrorCode::InvalidModule,
            detail: format!("native code for board {}, this device is {board}", artifact.board),
        });
    }
    artifact
        .imports
        .iter()
        .map(|name| host::native_binding(name, grants))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|detail| FailReason { code: ErrorCode::InstantiateFailed, detail })
}

/// One native app instance with its bound host functions.
///
/// Native code spends no fuel (counting it cost a third of its speed):
/// a call that runs past the per-call deadline is stopped by the device's
/// timer instead, and fails its app with `deadline`.
pub struct NativeApp {
    instance: Box<dyn NativeInstance>,
    bound: Bound,
    limits: AppLimits,
    deadline_ms: u32,
}

impl core::fmt::Debug for NativeApp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NativeApp").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl NativeApp {
    /// Loads `artifact` with `loader`, binds it under `grants` and
    /// instantiates it with `ctx`.
    pub(crate) fn start(
        loader: &mut dyn NativeLoader,
        artifact: &NativeArtifact,
        grants: &[Capability],
        limits: AppLimits,
        ctx: HostCtx,
        max_table_elements: u32,
        deadline_ms: u32,
    ) -> Result<Self, FailReason> {
        let fns = bind(artifact, loader.board(), grants)?;
        let instance = loader
            .load(artifact, limits.max_memory_pages, max_table_elements)
            .map_err(|detail| FailReason { code: ErrorCode::InstantiateFailed, detail })?;
        let mut app = Self { instance, bound: Bound { ctx, fns, broken: None }, limits, deadline_ms };
        app.instance.instantiate(&mut app.bound, deadline_ms).map_err(|t| t.reason(app.bound.broken.take()))?;
        if ![Entry::Init, Entry::Tick, Entry::OnMessage].iter().any(|e| app.instance.exports(*e)) {
            return Err(FailReason {
                code: ErrorCode::InstantiateFailed,
                detail: "the module exports none of `init`, `tick(i64)` and `on_message(i32)`".into(),
            });
        }
        Ok(app)
    }

    /// Whether the app has `entry`.
    pub fn exports(&self, entry: Entry) -> bool {
        self.instance.exports(entry)
    }

    /// Runs `entry(arg)` under the per-call deadline.
    pub fn call(&mut self, entry: Entry, arg: u64) -> Result<(), FailReason> {
        let deadline = self.deadline_ms;
        self.instance.call(entry, arg, &mut self.bound, deadline).map_err(|t| t.reason(self.bound.broken.take()))
    }

    /// The app's context (time, logs, samples, the lent peripherals).
    pub(crate) fn ctx(&mut self) -> &mut HostCtx {
        &mut self.bound.ctx
    }

    /// Bytes the instance holds.
    pub fn memory_bytes(&self) -> usize {
        self.instance.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(board: &str, imports: &[&str]) -> NativeArtifact {
        NativeArtifact {
            board: board.into(),
            compiler: "test".into(),
            module_sha256: [0; 32].into(),
            imports: imports.iter().map(|s| (*s).into()).collect(),
            image: alloc::vec![0u8; 64].into(),
            ram_size: 64,
            relocations: Vec::new(),
        }
    }

    #[test]
    fn code_for_another_board_or_an_ungranted_import_is_refused() {
        let grants = [Capability::Log, Capability::Time];
        assert_eq!(bind(&artifact("mps2-an385", &["log", "now_ms"]), "mps2-an385", &grants).map(|f| f.len()), Ok(2));
        let err = bind(&artifact("mps2-an386", &["log"]), "mps2-an385", &grants).expect_err("other board");
        assert_eq!(err.code, ErrorCode::InvalidModule);
        assert!(err.detail.contains("mps2-an386"), "{}", err.detail);
        let err = bind(&artifact("mps2-an385", &["gpio_write"]), "mps2-an385", &grants).expect_err("ungranted");
        assert_eq!(err.code, ErrorCode::InstantiateFailed);
        assert!(err.detail.contains("gpio"), "{}", err.detail);
        let err = bind(&artifact("mps2-an385", &["format_disk"]), "mps2-an385", &grants).expect_err("unknown");
        assert!(err.detail.contains("not provided by any capability"), "{}", err.detail);
    }

    #[test]
    fn traps_become_reasons() {
        assert_eq!(NativeTrap(13).reason(None).code, ErrorCode::Deadline);
        assert_eq!(NativeTrap(1).reason(None).code, ErrorCode::Trap);
        let host = NativeTrap::HOST.reason(Some("log: buffer outside memory".into()));
        assert_eq!(host.detail, "log: buffer outside memory");
    }
}
