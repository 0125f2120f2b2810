//! App slots: install (chunks, hash, validation), instantiate, tick, stop.
//!
//! Guarantees: a deploy that fails before instantiation (bad chunk, hash
//! mismatch, an invalid module structure, unlinkable imports) leaves the
//! previous version of that app untouched; a trap, fuel exhaustion or memory
//! ceiling during a call fails only that app.
//!
//! Validation: the module's structure (types, imports, exports, globals,
//! memories, data, element segments) is validated at install; each function
//! body is validated when it is first called, before it runs (wasmi's lazy
//! compilation): no code runs unvalidated, and a 16 KB app installs in
//! about 170 k guest instructions instead of 1.85 M on a Cortex-M3 (see
//! `cargo xtask bench interp`). A body that does not validate fails its app
//! with `invalid-module` at that first call. The platform validates every
//! module eagerly, with this crate's [`crate::validate_module`], before it
//! can reach a device, so through the platform that case does not arise.
//!
//! Resources: before anything is compiled, a module is sized against the
//! device's [`ModuleBudget`] ([`crate::measure`], [`crate::check`]) and
//! refused with `no-resources` naming the limit it exceeds. Each installed
//! app reserves the most it can ever hold (linear memory, tables and stacks
//! at their limits), so apps that grow later cannot take each other's room;
//! wasmi's stacks and the store's tables and memory stop at the budget's
//! limits and trap, failing only that app. Each app has its own engine:
//! wasmi's code map only grows while its engine lives, so a shared one would
//! keep every replaced version's code.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use wasmbed_protocol::{
    AppCounters, AppLimits, AppLog, AppReport, AppState, AppStatus, ConfigEntry, Delivery, DeployBegin, DeployChunk,
    DeployRejected, ErrorCode, FailReason, MAX_MESSAGE_LEN, MAX_SAMPLES_PER_BATCH, ModuleBudget, NativeArtifact,
    Resource, TelemetryBatch, valid_app_name,
};
use wasmi::{Config, Engine, Linker, Module, Store, StoreLimitsBuilder, TrapCode, TypedFunc};

use crate::budget::{self, Growth};
use crate::compiler::TrustedCompiler;
use crate::host::{self, Capability, HostCtx, TokenBucket};
use crate::journal::{AppId, Guard, Stage};
use crate::native::{Entry, NativeApp, NativeLoader};
use crate::peripherals::Peripherals;

/// Heap a native app holds beyond its image and memory (instance,
/// tables, the host table), reserved with it.
const NATIVE_SLACK: usize = 4 * 1024;

/// The value stack wasmi starts with (its default), or the budget's limit
/// when that is smaller.
const MIN_VALUE_STACK: usize = 1000;

/// What app work produced, for the session to send.
#[derive(Debug)]
pub(crate) enum Note {
    Status(AppStatus),
    Rejected(DeployRejected),
    Log(AppLog),
    /// Samples; the session dates the batch before sending it.
    Telemetry(TelemetryBatch),
}

/// An instance in wasmi.
struct WasmRunning {
    store: Store<HostCtx>,
    init: Option<TypedFunc<(), ()>>,
    tick: Option<TypedFunc<i64, ()>>,
    on_message: Option<TypedFunc<i32, ()>>,
    memory: Option<wasmi::Memory>,
}

/// A running instance: interpreted, or native code.
// The interpreter's instance stays inline in its slot, as before native
// code: boxing it would add a heap block per instance, which the module
// budget (tests/budget.rs) accounts to the byte.
#[allow(clippy::large_enum_variant)]
enum Running {
    Wasm(WasmRunning),
    Native(Box<NativeApp>),
}

/// What an installed app runs from, to instantiate it again.
enum Code {
    Wasm {
        module: Module,
        /// Only the granted host functions: an ungranted import cannot link.
        linker: Linker<HostCtx>,
    },
    Native {
        artifact: alloc::sync::Arc<NativeArtifact>,
        grants: Vec<Capability>,
    },
}

struct Slot {
    name: String,
    version: String,
    revision: Option<u64>,
    sha256: [u8; 32],
    size: usize,
    limits: AppLimits,
    resources: Vec<Resource>,
    config: Vec<ConfigEntry>,
    counters: AppCounters,
    /// What it was admitted with: how far it may grow, and so the most it
    /// can hold once running.
    admitted: Admitted,
    code: Code,
    /// Its deploy starts it once installed (false: installed stopped,
    /// beside a running version).
    start: bool,
    state: AppState,
    running: Option<Running>,
    next_tick: u64,
}

struct Staging {
    version: String,
    revision: Option<u64>,
    sha256: [u8; 32],
    limits: AppLimits,
    grants: Vec<Capability>,
    resources: Vec<Resource>,
    config: Vec<ConfigEntry>,
    start: bool,
    size: usize,
    /// The device's free heap when the deploy began, if known.
    free: Option<usize>,
    buf: Vec<u8>,
    /// The bytes are a native artifact for this board (vouched for by the
    /// manifest; checked at the deploy's start).
    native: bool,
}

pub(crate) struct Apps {
    /// Each install gets an engine of its own from this.
    config: Config,
    budget: ModuleBudget,
    device_id: String,
    slots: Vec<Slot>,
    staging: BTreeMap<String, Staging>,
    /// Apps whose deploy was refused at its start (their chunks are dropped).
    refused: alloc::collections::BTreeSet<String>,
    max_apps: usize,
    max_module_len: usize,
    /// The board's peripherals, lent to one app call at a time.
    hw: Option<Box<dyn Peripherals>>,
    /// Places native code (firmware only).
    loader: Option<Box<dyn NativeLoader>>,
    /// Compiles vouched-for modules when the agent has no validator.
    trusted: Option<Box<dyn TrustedCompiler>>,
    /// Journals and times every stage an app runs through (crash-loop
    /// protection, per-call deadline).
    pub(crate) guard: Guard,
}

impl core::fmt::Debug for Apps {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Apps").field("slots", &self.slots.len()).finish_non_exhaustive()
    }
}

fn reason(code: ErrorCode, detail: impl Into<String>) -> FailReason {
    FailReason { code, detail: detail.into() }
}

/// Maps a wasmi call error to why the app failed.
fn classify(err: &wasmi::Error) -> FailReason {
    if matches!(err.kind(), wasmi::errors::ErrorKind::Wasm(_) | wasmi::errors::ErrorKind::Translation(_)) {
        return reason(
            ErrorCode::InvalidModule,
            format!("invalid WebAssembly in a function body (validated at its first call): {err}"),
        );
    }
    let code = match err.as_trap_code() {
        Some(TrapCode::OutOfFuel) => ErrorCode::OutOfFuel,
        Some(TrapCode::GrowthOperationLimited) => ErrorCode::MemoryLimit,
        _ => ErrorCode::Trap,
    };
    reason(code, err.to_string())
}

impl Apps {
    pub(crate) fn new(max_apps: usize, max_module_len: usize, device_id: &str, budget: ModuleBudget) -> Self {
        // Function bodies are validated (and translated) at their first call.
        Self::with_mode(max_apps, max_module_len, device_id, budget, wasmi::CompilationMode::Lazy)
    }

    fn with_mode(
        max_apps: usize,
        max_module_len: usize,
        device_id: &str,
        budget: ModuleBudget,
        mode: wasmi::CompilationMode,
    ) -> Self {
        let mut config = Config::default();
        config.consume_fuel(true);
        config.compilation_mode(mode);
        // The minimum first: wasmi panics on a maximum below it.
        let value_stack = budget.value_stack as usize;
        config.set_min_stack_height(MIN_VALUE_STACK.min(value_stack));
        config.set_max_stack_height(value_stack);
        config.set_max_recursion_depth(budget.call_depth as usize);
        // One app per engine runs one call at a time: one stack to keep.
        config.set_max_cached_stacks(1);
        Self {
            config,
            budget,
            device_id: device_id.into(),
            slots: Vec::new(),
            staging: BTreeMap::new(),
            refused: Default::default(),
            max_apps,
            max_module_len,
            hw: None,
            loader: None,
            trusted: None,
            guard: Guard::new(crate::journal::DEFAULT_DEADLINE_MS),
        }
    }

    pub(crate) fn set_peripherals(&mut self, hw: Box<dyn Peripherals>) {
        self.hw = Some(hw);
    }

    pub(crate) fn set_native_loader(&mut self, loader: Box<dyn NativeLoader>) {
        self.loader = Some(loader);
    }

    pub(crate) fn set_trusted_compiler(&mut self, compiler: Box<dyn TrustedCompiler>) {
        self.trusted = Some(compiler);
    }

    /// Whether this agent compiles modules it has not validated: without
    /// the validator, only those a signed manifest vouches for, with the
    /// firmware's compiler.
    fn compiles(&self, vouched: bool) -> Result<(), String> {
        crate::compiler::may_compile(crate::VALIDATES, vouched, self.trusted.is_some())
    }

    /// Compiles a module: validated here when the agent carries the
    /// validator, else by the firmware's [`TrustedCompiler`] (only modules
    /// a signed manifest vouches for get this far, see [`Self::compiles`]).
    fn compile(&self, engine: &Engine, bytes: &[u8]) -> Result<Module, wasmi::Error> {
        #[cfg(feature = "validate")]
        return Module::new(engine, bytes);
        #[cfg(not(feature = "validate"))]
        match &self.trusted {
            Some(c) => c.compile(engine, bytes),
            None => Err(wasmi::Error::new("no module compiler")),
        }
    }

    pub(crate) fn reports(&self) -> Vec<AppReport> {
        self.slots.iter().map(Slot::report).chain(self.guard.reports()).collect()
    }

    /// Bytes held for apps: modules and linear memories (the simulator's
    /// stand-in for a heap gauge; firmware reports its allocator instead).
    pub(crate) fn memory_bytes(&self) -> usize {
        let staged: usize = self.staging.values().map(|s| s.buf.capacity()).sum();
        let slots: usize = self.slots.iter().map(|s| s.size + s.running.as_ref().map_or(0, |r| r.memory_bytes())).sum();
        staged + slots
    }

    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.slots.iter().filter(|s| s.running.is_some()).map(|s| s.next_tick).min()
    }

    /// Refuses the deploy `msg` announces without looking at it further
    /// (e.g. its manifest is not believed); its chunks are dropped.
    pub(crate) fn refuse(&mut self, msg: &DeployBegin, code: ErrorCode, detail: String, out: &mut Vec<Note>) {
        if valid_app_name(&msg.app) {
            self.refused.insert(msg.app.clone());
        }
        out.push(Note::Rejected(DeployRejected {
            app: msg.app.clone(),
            version: msg.version.clone(),
            reason: reason(code, detail),
        }));
    }

    /// `free`: the device's free heap, when known. The module's bytes must
    /// fit now; what compiling and instantiating it needs is sized once they
    /// are all here ([`install`](Self::install)), against this same figure
    /// (the old version of the app keeps running until the new one is
    /// installed).
    /// A deploy starts; `vouched`: a signed manifest the device checked
    /// vouches for it.
    pub(crate) fn begin(&mut self, msg: DeployBegin, vouched: bool, free: Option<usize>, out: &mut Vec<Note>) {
        self.refused.remove(&msg.app);
        let reject = |code, detail: String| {
            Note::Rejected(DeployRejected {
                app: msg.app.clone(),
                version: msg.version.clone(),
                reason: reason(code, detail),
            })
        };
        if !valid_app_name(&msg.app) {
            out.push(reject(ErrorCode::UnknownApp, format!("invalid app name {:?}", msg.app)));
            return;
        }
        // The revision that reset the device is not run again.
        let id = AppId { app: &msg.app, version: &msg.version, revision: msg.revision, digest: &msg.sha256 };
        if let Err(why) = self.guard.admit(id) {
            self.refused.insert(msg.app.clone());
            out.push(Note::Rejected(DeployRejected {
                app: msg.app.clone(),
                version: msg.version.clone(),
                reason: why,
            }));
            return;
        }
        if msg.native.is_none()
            && let Err(why) = self.compiles(vouched)
        {
            self.refused.insert(msg.app.clone());
            out.push(reject(ErrorCode::Unsigned, why));
            return;
        }
        // Native code needs this board's loader (firmware has one; the
        // simulator's code is not Thumb-2).
        if let Some(code) = &msg.native {
            let board = self.loader.as_ref().map(|l| l.board());
            if board != Some(code.board.as_str()) {
                self.refused.insert(msg.app.clone());
                let why = match board {
                    None => {
                        format!("native code for {}: this device runs no native code; deploy the module", code.board)
                    }
                    Some(b) => format!("native code for {}: this device is {b}", code.board),
                };
                out.push(reject(ErrorCode::InstantiateFailed, why));
                return;
            }
        }
        let size = msg.size as usize;
        if size > self.max_module_len {
            self.refused.insert(msg.app.clone());
            out.push(reject(
                ErrorCode::NoResources,
                format!("module of {size} bytes exceeds this device's limit of {}", self.max_module_len),
            ));
            return;
        }
        let least = if msg.native.is_some() { size } else { budget::floor(size) };
        if least > self.budget.heap || free.is_some_and(|free| least > free) {
            self.refused.insert(msg.app.clone());
            let free = free.map_or(String::new(), |f| format!(", {f} are free"));
            out.push(reject(
                ErrorCode::NoResources,
                format!(
                    "not enough free memory: a module of {size} bytes needs at least {least}, the device has {} for apps{free}",
                    self.budget.heap
                ),
            ));
            return;
        }
        let missing: Vec<String> = msg
            .resources()
            .iter()
            .filter(|r| !self.hw.as_ref().is_some_and(|hw| hw.has(r)))
            .map(|r| r.to_string())
            .collect();
        if !missing.is_empty() {
            self.refused.insert(msg.app.clone());
            out.push(reject(
                ErrorCode::MissingPeripheral,
                format!("this device has no {} (granted to the app)", missing.join(", ")),
            ));
            return;
        }
        let known = self.slots.iter().any(|s| s.name == msg.app) || self.staging.contains_key(&msg.app);
        if !known && self.slots.len() + self.staging.len() >= self.max_apps {
            self.refused.insert(msg.app.clone());
            out.push(reject(ErrorCode::NoResources, format!("all {} app slots are in use", self.max_apps)));
            return;
        }
        // Small boards: refuse a module the heap cannot hold instead of
        // failing the allocation (which would reset the device).
        let mut buf = Vec::new();
        if buf.try_reserve_exact(size).is_err() {
            self.refused.insert(msg.app.clone());
            out.push(reject(ErrorCode::NoResources, format!("not enough free memory for a module of {size} bytes")));
            return;
        }
        let staging = Staging {
            grants: msg.granted().to_vec(),
            resources: msg.resources().to_vec(),
            config: msg.config().to_vec(),
            start: msg.starts(),
            version: msg.version,
            revision: msg.revision,
            sha256: *msg.sha256,
            limits: msg.limits,
            size,
            free,
            buf,
            native: msg.native.is_some(),
        };
        self.staging.insert(msg.app, staging);
    }

    pub(crate) fn chunk(&mut self, msg: DeployChunk, now: u64, out: &mut Vec<Note>) {
        // The rest of a deploy already refused at its start: one rejection
        // said why; more would only bury the reason.
        if self.refused.contains(&msg.app) {
            return;
        }
        let Some(st) = self.staging.get_mut(&msg.app) else {
            out.push(Note::Rejected(DeployRejected {
                app: msg.app,
                version: String::new(),
                reason: reason(ErrorCode::BadChunk, "chunk without a deploy in progress"),
            }));
            return;
        };
        let fits = st.buf.len().checked_add(msg.data.len()).is_some_and(|end| end <= st.size);
        if msg.offset as usize != st.buf.len() || !fits {
            let detail = format!(
                "chunk at {} of {} bytes does not follow {} of {}",
                msg.offset,
                msg.data.len(),
                st.buf.len(),
                st.size
            );
            let version = st.version.clone();
            self.staging.remove(&msg.app);
            out.push(Note::Rejected(DeployRejected {
                app: msg.app,
                version,
                reason: reason(ErrorCode::BadChunk, detail),
            }));
            return;
        }
        st.buf.extend_from_slice(&msg.data);
        if st.buf.len() == st.size
            && let Some(st) = self.staging.remove(&msg.app)
        {
            self.install(msg.app, st, now, out);
        }
    }

    fn install(&mut self, name: String, mut st: Staging, now: u64, out: &mut Vec<Note>) {
        let reject = |code, detail: String| {
            Note::Rejected(DeployRejected {
                app: name.clone(),
                version: st.version.clone(),
                reason: reason(code, detail),
            })
        };
        let digest: [u8; 32] = Sha256::digest(&st.buf).into();
        if digest != st.sha256 {
            out.push(reject(ErrorCode::HashMismatch, "module SHA-256 does not match the announced digest".into()));
            return;
        }
        if st.native {
            return self.install_native(name, st, digest, now, out);
        }
        let admitted = match self.size_up(&name, &st.buf, &st.limits, st.free) {
            Ok(a) => a,
            Err((code, why)) => {
                out.push(reject(code, why));
                return;
            }
        };
        let engine = Engine::new(&self.config);
        let id = AppId { app: &name, version: &st.version, revision: st.revision, digest: &digest };
        self.guard.enter(id, Stage::Install);
        let module = self.compile(&engine, &st.buf);
        // Compiling is not held to the per-call deadline: only journaled.
        let _ = self.guard.leave();
        let module = match module {
            Ok(m) => m,
            Err(e) => {
                out.push(reject(ErrorCode::InvalidModule, host::invalid_module(&st.buf, &e)));
                return;
            }
        };
        // wasmi keeps what it needs (bodies, segments): the bytes can go
        // before the instance takes its memory.
        st.buf = Vec::new();
        if let Err(e) = host::check_imports(&module, &st.grants) {
            out.push(reject(ErrorCode::InstantiateFailed, e));
            return;
        }
        let linker = match host::linker(&engine, &st.grants) {
            Ok(l) => l,
            Err(e) => {
                out.push(reject(ErrorCode::InstantiateFailed, format!("host functions: {e}")));
                return;
            }
        };
        let slot = Slot::new(name, st, digest, admitted, Code::Wasm { module, linker }, now);
        self.start_new(slot, now, out);
    }

    /// Instantiates a newly installed `slot` when its deploy starts it
    /// (refused with the reason if that fails: the old version stays), and
    /// puts it in place of the old version.
    fn start_new(&mut self, mut slot: Slot, now: u64, out: &mut Vec<Note>) {
        let running = if slot.start {
            match self.instantiate_slot(&mut slot, now) {
                Ok(r) => Some(r),
                Err(reason) => {
                    return out.push(Note::Rejected(DeployRejected { app: slot.name, version: slot.version, reason }));
                }
            }
        } else {
            None
        };
        self.put(slot, running, now, out);
    }

    /// The new version `slot` replaces the old one; `running` (its fresh
    /// instance, when it starts now) runs `init`.
    fn put(&mut self, mut slot: Slot, running: Option<Running>, now: u64, out: &mut Vec<Note>) {
        match running {
            Some(running) => slot.launch(running, &mut self.hw, &mut self.guard, now, out),
            // Installed beside a running version, to be started on a switch.
            None => out.push(slot.status(None)),
        }
        match self.slots.iter_mut().find(|s| s.name == slot.name) {
            Some(old) => *old = slot,
            None => self.slots.push(slot),
        }
    }

    /// Installs native code: an artifact for this board, its imports bound
    /// under the grants, sized against the budget, then loaded.
    fn install_native(&mut self, name: String, st: Staging, digest: [u8; 32], now: u64, out: &mut Vec<Note>) {
        let reject = |code, detail: String| {
            Note::Rejected(DeployRejected {
                app: name.clone(),
                version: st.version.clone(),
                reason: reason(code, detail),
            })
        };
        let artifact = match NativeArtifact::decode(&st.buf) {
            Ok(a) => a,
            Err(e) => return out.push(reject(ErrorCode::InvalidModule, e.to_string())),
        };
        // What the image, its memory at the limit and its table can hold.
        let memory = st.limits.max_memory_pages as usize * budget::PAGE;
        let needs = (artifact.ram_size as usize).saturating_add(memory).saturating_add(NATIVE_SLACK);
        let others: usize = self.slots.iter().filter(|s| s.name != name).map(|s| s.admitted.reserved).sum();
        if others.saturating_add(needs) > self.budget.heap {
            return out.push(reject(
                ErrorCode::NoResources,
                format!(
                    "not enough free memory: native code needs up to {needs} bytes, other apps hold {others} of the {} this device has for apps",
                    self.budget.heap
                ),
            ));
        }
        let growth = Growth { memory_bytes: memory, table_elements: self.budget.table_elements as usize, bytes: 0 };
        let admitted = Admitted { reserved: needs, growth };
        let code = Code::Native { artifact: alloc::sync::Arc::new(artifact), grants: st.grants.clone() };
        let slot = Slot::new(name, st, digest, admitted, code, now);
        self.start_new(slot, now, out);
    }

    /// A fresh instance of `slot`'s code, under the guard.
    fn instantiate_slot(&mut self, slot: &mut Slot, now: u64) -> Result<Running, FailReason> {
        let setup = Setup {
            limits: &slot.limits,
            growth: slot.admitted.growth,
            resources: &slot.resources,
            config: &slot.config,
            counters: slot.counters,
        };
        self.guard.enter(slot.id(), Stage::Instantiate);
        let instance = match &slot.code {
            Code::Wasm { module, linker } => {
                let (module, linker) = (module.clone(), linker.clone());
                self.instantiate(&module, &linker, &setup, now).map_err(|e| reason(ErrorCode::InstantiateFailed, e))
            }
            Code::Native { artifact, grants } => {
                let ctx = self.host_ctx(&setup, now);
                match self.loader.as_deref_mut() {
                    Some(loader) => NativeApp::start(
                        loader,
                        artifact,
                        grants,
                        *setup.limits,
                        ctx,
                        self.budget.table_elements,
                        self.guard.deadline_ms(),
                    )
                    .map(|app| Running::Native(Box::new(app))),
                    None => Err(reason(ErrorCode::InstantiateFailed, "this device runs no native code")),
                }
            }
        };
        let late = self.guard.leave();
        match (instance, late) {
            (Ok(r), Ok(())) => Ok(r),
            (Err(e), _) => Err(e),
            (Ok(_), Err(why)) => Err(why),
        }
    }

    /// Sizes `bytes` against the budget before anything is compiled: each
    /// count within its limit; what it needs to run within what the other
    /// apps (all but `name`, which it replaces) leave of the budget, the
    /// rest of which it may grow into; what installing it takes within the
    /// heap that was free (`free`, when known).
    fn size_up(
        &self,
        name: &str,
        bytes: &[u8],
        limits: &AppLimits,
        free: Option<usize>,
    ) -> Result<Admitted, (ErrorCode, String)> {
        let no_room = |why: String| (ErrorCode::NoResources, format!("not enough free memory: {why}"));
        let needs = budget::measure(bytes).map_err(|e| (ErrorCode::InvalidModule, host::invalid_module(bytes, &e)))?;
        let heap = budget::check(&needs, limits, &self.budget).map_err(|e| match e {
            budget::OverBudget::Heap { .. } => no_room(format!("{e}")),
            _ => (ErrorCode::NoResources, format!("over this device's budget: {e}")),
        })?;
        let others: usize = self.slots.iter().filter(|s| s.name != name).map(|s| s.admitted.reserved).sum();
        let Some(room) = self.budget.heap.checked_sub(others).and_then(|left| left.checked_sub(heap.running)) else {
            return Err(no_room(format!(
                "the module needs up to {} bytes, other apps hold {others} of the {} this device has for apps",
                heap.running, self.budget.heap
            )));
        };
        if let Some(free) = free
            && heap.install > free
        {
            return Err(no_room(format!("installing needs about {} bytes, {free} are free", heap.install)));
        }
        let growth = budget::growth_room(&needs, limits, &self.budget, room);
        Ok(Admitted { reserved: heap.running.saturating_add(growth.bytes), growth })
    }

    fn instantiate(
        &mut self,
        module: &Module,
        linker: &Linker<HostCtx>,
        setup: &Setup<'_>,
        now: u64,
    ) -> Result<Running, String> {
        let limits = setup.limits;
        let ctx = self.host_ctx(setup, now);
        let mut store = Store::new(module.engine(), ctx);
        store.limiter(|ctx| &mut ctx.limits);
        // The start function runs during instantiation: give it a budget too.
        store.set_fuel(limits.fuel_per_call).map_err(|e| format!("fuel: {e}"))?;
        let instance = lend(&mut self.hw, &mut store, |store| linker.instantiate_and_start(store, module))
            .map_err(|e| format!("cannot instantiate: {e}"))?;
        let init = instance.get_typed_func::<(), ()>(&store, "init").ok();
        let tick = instance.get_typed_func::<i64, ()>(&store, "tick").ok();
        let on_message = instance.get_typed_func::<i32, ()>(&store, "on_message").ok();
        if init.is_none() && tick.is_none() && on_message.is_none() {
            return Err("the module exports none of `init`, `tick(i64)` and `on_message(i32)`".into());
        }
        let memory = instance.get_memory(&store, "memory");
        Ok(Running::Wasm(WasmRunning { store, tick, init, on_message, memory }))
    }

    /// The context an instance of an app set up with `setup` calls its
    /// host functions with, interpreted or native.
    fn host_ctx(&self, setup: &Setup<'_>, now: u64) -> HostCtx {
        HostCtx {
            limits: StoreLimitsBuilder::new()
                .memory_size(setup.growth.memory_bytes)
                .memories(1)
                .tables(1)
                .table_elements(setup.growth.table_elements)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
            now_ms: now,
            logs: Vec::new(),
            dropped_logs: 0,
            device_id: self.device_id.clone(),
            resources: setup.resources.to_vec(),
            config: setup.config.to_vec(),
            hw: None,
            samples: Vec::new(),
            dropped_samples: 0,
            bucket: TokenBucket::new(now),
            message: None,
            counters: setup.counters,
        }
    }

    pub(crate) fn start(&mut self, name: &str, now: u64, out: &mut Vec<Note>) {
        let Some(idx) = self.slots.iter().position(|s| s.name == name) else { return };
        if self.slots[idx].running.is_some() {
            return;
        }
        // Out of the list while it is instantiated (which borrows the rest).
        let mut slot = self.slots.remove(idx);
        match self.instantiate_slot(&mut slot, now) {
            Ok(running) => slot.launch(running, &mut self.hw, &mut self.guard, now, out),
            Err(why) => slot.fail(why, out),
        }
        self.slots.insert(idx, slot);
    }

    pub(crate) fn stop(&mut self, name: &str, out: &mut Vec<Note>) {
        if let Some(slot) = self.slots.iter_mut().find(|s| s.name == name) {
            slot.running = None;
            slot.state = AppState::Stopped;
            out.push(slot.status(None));
        }
    }

    pub(crate) fn remove(&mut self, name: &str) -> bool {
        self.staging.remove(name);
        if self.guard.forget(name) {
            return true;
        }
        let before = self.slots.len();
        self.slots.retain(|s| s.name != name);
        before != self.slots.len()
    }

    /// Each installed app with the bytes it holds (module and linear memory).
    pub(crate) fn usage(&self) -> Vec<(AppReport, usize)> {
        self.slots.iter().map(|s| (s.report(), s.size + s.running.as_ref().map_or(0, Running::memory_bytes))).collect()
    }

    /// A fresh instance of an installed app, `init` run again; `None` when
    /// no such app is installed. The old instance goes first, so a small
    /// heap never holds two.
    pub(crate) fn restart(&mut self, name: &str, now: u64, out: &mut Vec<Note>) -> Option<AppReport> {
        self.slots.iter_mut().find(|s| s.name == name)?.running = None;
        self.start(name, now, out);
        self.slots.iter().find(|s| s.name == name).map(Slot::report)
    }

    /// Delivers a message to `name`'s `on_message(len)` under its fuel
    /// budget; a trap or running out of fuel fails the app.
    pub(crate) fn deliver(&mut self, name: &str, payload: Vec<u8>, now: u64, out: &mut Vec<Note>) -> Delivery {
        if payload.len() > MAX_MESSAGE_LEN {
            return Delivery::TooLarge;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.name == name) else { return Delivery::NotRunning };
        let Some(running) = slot.running.as_mut() else { return Delivery::NotRunning };
        if !running.has(Entry::OnMessage) {
            return Delivery::NoHandler;
        }
        let len = payload.len() as u64;
        let ctx = running.ctx();
        ctx.now_ms = now;
        ctx.message = Some(payload);
        let id = AppId { app: &slot.name, version: &slot.version, revision: slot.revision, digest: &slot.sha256 };
        self.guard.enter(id, Stage::Message);
        let result = running.call(Entry::OnMessage, len, &slot.limits, &mut self.hw);
        let late = self.guard.leave();
        running.ctx().message = None;
        slot.drain(now, out);
        let result = result.and(late);
        match result {
            Ok(()) => {
                slot.counters.messages = slot.counters.messages.saturating_add(1);
                if let Some(r) = slot.running.as_mut() {
                    r.ctx().counters = slot.counters;
                }
                Delivery::Delivered
            }
            Err(why) => {
                slot.fail(why, out);
                Delivery::Failed
            }
        }
    }

    /// Runs every tick that is due at `now`.
    pub(crate) fn run_due(&mut self, now: u64, out: &mut Vec<Note>) {
        for slot in &mut self.slots {
            let Some(running) = slot.running.as_mut() else { continue };
            if slot.next_tick > now {
                continue;
            }
            // Catch up without bursts: the next tick is one interval from now.
            slot.next_tick = now.saturating_add(u64::from(slot.limits.tick_ms.max(1)));
            if !running.has(Entry::Tick) {
                continue;
            }
            running.ctx().now_ms = now;
            let id = AppId { app: &slot.name, version: &slot.version, revision: slot.revision, digest: &slot.sha256 };
            self.guard.enter(id, Stage::Tick);
            let result = running.call(Entry::Tick, now, &slot.limits, &mut self.hw);
            let late = self.guard.leave();
            slot.drain(now, out);
            if let Err(why) = result.and(late) {
                slot.fail(why, out);
            }
        }
    }
}

/// What an app was admitted with (see [`Apps::size_up`]).
#[derive(Debug, Clone, Copy)]
struct Admitted {
    /// The most it can hold once running: the budget other apps cannot use.
    reserved: usize,
    /// How far its memory and tables may grow.
    growth: Growth,
}

/// What an instance is set up with, from its deploy.
struct Setup<'a> {
    limits: &'a AppLimits,
    growth: Growth,
    resources: &'a [Resource],
    config: &'a [ConfigEntry],
    /// Counted so far by earlier instances of the same install.
    counters: AppCounters,
}

/// Lends the board's peripherals to one call on `store` (one app at a time
/// holds them), and takes them back whatever the call did.
fn lend<T>(
    hw: &mut Option<Box<dyn Peripherals>>,
    store: &mut Store<HostCtx>,
    f: impl FnOnce(&mut Store<HostCtx>) -> T,
) -> T {
    store.data_mut().hw = hw.take();
    let out = f(store);
    *hw = store.data_mut().hw.take();
    out
}

impl WasmRunning {
    /// Calls `entry(arg)` (nothing when not exported) with a fresh fuel
    /// budget and the peripherals lent.
    fn call(
        &mut self,
        entry: Entry,
        arg: u64,
        limits: &AppLimits,
        hw: &mut Option<Box<dyn Peripherals>>,
    ) -> Result<(), FailReason> {
        let fuel = limits.fuel_per_call;
        let result = match entry {
            Entry::Init => {
                self.init.map(|f| lend(hw, &mut self.store, |s| s.set_fuel(fuel).and_then(|()| f.call(s, ()))))
            }
            Entry::Tick => {
                self.tick.map(|f| lend(hw, &mut self.store, |s| s.set_fuel(fuel).and_then(|()| f.call(s, arg as i64))))
            }
            Entry::OnMessage => self
                .on_message
                .map(|f| lend(hw, &mut self.store, |s| s.set_fuel(fuel).and_then(|()| f.call(s, arg as i32)))),
        };
        result.unwrap_or(Ok(())).map_err(|e| classify(&e))
    }
}

impl Running {
    fn ctx(&mut self) -> &mut HostCtx {
        match self {
            Self::Wasm(r) => r.store.data_mut(),
            Self::Native(n) => n.ctx(),
        }
    }

    fn has(&self, entry: Entry) -> bool {
        match self {
            Self::Wasm(r) => match entry {
                Entry::Init => r.init.is_some(),
                Entry::Tick => r.tick.is_some(),
                Entry::OnMessage => r.on_message.is_some(),
            },
            Self::Native(n) => n.exports(entry),
        }
    }

    /// Calls `entry(arg)` (nothing when not exported) under the app's
    /// limits, with the board's peripherals lent for the call.
    fn call(
        &mut self,
        entry: Entry,
        arg: u64,
        limits: &AppLimits,
        hw: &mut Option<Box<dyn Peripherals>>,
    ) -> Result<(), FailReason> {
        match self {
            Self::Wasm(r) => r.call(entry, arg, limits, hw),
            Self::Native(n) => {
                if !n.exports(entry) {
                    return Ok(());
                }
                n.ctx().hw = hw.take();
                let result = n.call(entry, arg);
                *hw = n.ctx().hw.take();
                result
            }
        }
    }

    fn memory_bytes(&self) -> usize {
        match self {
            Self::Wasm(r) => r.memory.map_or(0, |m| m.data(&r.store).len()),
            Self::Native(n) => n.memory_bytes(),
        }
    }
}

impl Slot {
    /// The slot a completed deploy `st` installs: stopped, no instance yet.
    fn new(name: String, st: Staging, sha256: [u8; 32], admitted: Admitted, code: Code, now: u64) -> Self {
        Self {
            name,
            version: st.version,
            revision: st.revision,
            sha256,
            size: st.size,
            limits: st.limits,
            resources: st.resources,
            config: st.config,
            counters: AppCounters::default(),
            admitted,
            code,
            start: st.start,
            state: AppState::Stopped,
            running: None,
            next_tick: now,
        }
    }

    /// Runs `init` on a fresh instance and reports Running, or Failed with
    /// the reason; the instance's log lines are reported either way.
    fn launch(
        &mut self,
        mut running: Running,
        hw: &mut Option<Box<dyn Peripherals>>,
        guard: &mut Guard,
        now: u64,
        out: &mut Vec<Note>,
    ) {
        running.ctx().now_ms = now;
        guard.enter(self.id(), Stage::Init);
        let result = running.call(Entry::Init, 0, &self.limits, hw);
        let result = result.and(guard.leave());
        self.running = Some(running);
        self.drain(now, out);
        match result {
            Ok(()) => {
                self.state = AppState::Running;
                self.next_tick = now.saturating_add(u64::from(self.limits.tick_ms));
                out.push(self.status(None));
            }
            Err(why) => self.fail(why, out),
        }
    }

    fn id(&self) -> AppId<'_> {
        AppId { app: &self.name, version: &self.version, revision: self.revision, digest: &self.sha256 }
    }

    fn report(&self) -> AppReport {
        AppReport {
            app: self.name.clone(),
            version: self.version.clone(),
            sha256: self.sha256.into(),
            state: self.state,
            revision: self.revision,
            counters: (!self.counters.is_zero()).then_some(self.counters),
        }
    }

    fn status(&self, reason: Option<FailReason>) -> Note {
        Note::Status(AppStatus { report: self.report(), reason })
    }

    fn fail(&mut self, why: FailReason, out: &mut Vec<Note>) {
        self.running = None;
        self.state = AppState::Failed;
        out.push(self.status(Some(why)));
    }

    /// Takes what the last call produced: log lines, samples, counters.
    fn drain(&mut self, now: u64, out: &mut Vec<Note>) {
        let Some(running) = self.running.as_mut() else { return };
        let ctx = running.ctx();
        self.counters = ctx.counters;
        if !ctx.samples.is_empty() || ctx.dropped_samples > 0 {
            let samples = core::mem::take(&mut ctx.samples);
            let dropped = core::mem::take(&mut ctx.dropped_samples);
            debug_assert!(samples.len() <= MAX_SAMPLES_PER_BATCH);
            out.push(Note::Telemetry(TelemetryBatch {
                app: self.name.clone(),
                revision: self.revision,
                uptime_ms: now,
                unix_ms: None,
                samples,
                dropped,
            }));
        }
        for line in ctx.logs.drain(..) {
            out.push(Note::Log(AppLog { app: self.name.clone(), uptime_ms: now, line }));
        }
        if ctx.dropped_logs > 0 {
            let line =
                format!("[agent] {} log lines dropped (over {} per call)", ctx.dropped_logs, host::MAX_LOGS_PER_CALL);
            ctx.dropped_logs = 0;
            out.push(Note::Log(AppLog { app: self.name.clone(), uptime_ms: now, line }));
        }
    }
}

/// One app instantiated exactly as an install does it (same engine
/// configuration, host functions and limits, minus the SHA-256 check), for
/// measuring the runtime on a device (the `interp` benchmark).
pub struct Instantiated {
    running: WasmRunning,
    limits: AppLimits,
    hw: Option<Box<dyn Peripherals>>,
}

impl core::fmt::Debug for Instantiated {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Instantiated").field("limits", &self.limits).finish_non_exhaustive()
    }
}

/// The agent's app runtime (engine and host functions), outside the agent.
pub struct AppRuntime(Apps);

impl core::fmt::Debug for AppRuntime {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppRuntime").finish_non_exhaustive()
    }
}

impl Default for AppRuntime {
    fn default() -> Self {
        Self::with_budget(ModuleBudget::DEFAULT)
    }
}

impl AppRuntime {
    /// The runtime of a device with this budget.
    pub fn with_budget(budget: ModuleBudget) -> Self {
        Self(Apps::new(1, usize::MAX, "bench", budget))
    }

    /// The runtime validating every function body at install instead (what
    /// the agent did before lazy validation), to measure the difference.
    pub fn with_eager_validation() -> Self {
        let mode = wasmi::CompilationMode::LazyTranslation;
        Self(Apps::with_mode(1, usize::MAX, "bench", ModuleBudget::DEFAULT, mode))
    }

    /// Validates, compiles and instantiates `bytes` as an install does,
    /// with the default grants.
    pub fn instantiate(&mut self, bytes: &[u8], limits: AppLimits) -> Result<Instantiated, String> {
        self.instantiate_granted(bytes, limits, host::DEFAULT_GRANTS, &[], &[])
    }

    /// As [`instantiate`](Self::instantiate), with these groups, hardware
    /// and configuration granted, reaching the peripherals given to
    /// [`with_peripherals`](Self::with_peripherals). `init` is not called.
    /// The module is sized against the budget first, as an install does.
    pub fn instantiate_granted(
        &mut self,
        bytes: &[u8],
        limits: AppLimits,
        groups: &[Capability],
        resources: &[Resource],
        config: &[ConfigEntry],
    ) -> Result<Instantiated, String> {
        let admitted = self.0.size_up("", bytes, &limits, None).map_err(|(_, why)| why)?;
        let engine = Engine::new(&self.0.config);
        self.0.compiles(false)?;
        let module = self.0.compile(&engine, bytes).map_err(|e| host::invalid_module(bytes, &e))?;
        host::check_imports(&module, groups)?;
        let linker = host::linker(&engine, groups).map_err(|e| format!("host functions: {e}"))?;
        let growth = admitted.growth;
        let setup = Setup { limits: &limits, growth, resources, config, counters: AppCounters::default() };
        let Running::Wasm(running) = self.0.instantiate(&module, &linker, &setup, 0)? else {
            return Err("not a WebAssembly instance".into());
        };
        Ok(Instantiated { running, limits, hw: self.0.hw.take() })
    }

    /// The runtime with these peripherals (lent to the next instance).
    pub fn with_peripherals(mut self, hw: Box<dyn Peripherals>) -> Self {
        self.0.set_peripherals(hw);
        self
    }
}

impl AppRuntime {
    /// The per-call deadline native code is stopped at (default
    /// [`crate::DEFAULT_DEADLINE_MS`]).
    pub fn with_call_deadline(mut self, ms: u32) -> Self {
        self.0.guard.set_deadline(ms);
        self
    }

    /// Loads native code (`artifact`, an encoded [`NativeArtifact`]) with
    /// `loader`, binds it under `groups` as an install does, and
    /// instantiates it; `init` is not called. Its memory may grow to the
    /// limits' pages.
    pub fn instantiate_native(
        &mut self,
        loader: &mut dyn NativeLoader,
        artifact: &[u8],
        limits: AppLimits,
        groups: &[Capability],
    ) -> Result<NativeApp, String> {
        let artifact = NativeArtifact::decode(artifact).map_err(|e| e.to_string())?;
        let growth = Growth {
            memory_bytes: limits.max_memory_pages as usize * budget::PAGE,
            table_elements: self.0.budget.table_elements as usize,
            bytes: 0,
        };
        let setup = Setup { limits: &limits, growth, resources: &[], config: &[], counters: AppCounters::default() };
        let ctx = self.0.host_ctx(&setup, 0);
        let (tables, deadline) = (self.0.budget.table_elements, self.0.guard.deadline_ms());
        NativeApp::start(loader, &artifact, groups, limits, ctx, tables, deadline).map_err(|e| e.detail)
    }
}

impl NativeApp {
    /// Calls `init` (when exported) under the per-call deadline.
    pub fn init(&mut self) -> Result<(), String> {
        if !self.exports(Entry::Init) {
            return Ok(());
        }
        self.call(Entry::Init, 0).map_err(|e| e.detail)
    }

    /// Calls `tick(now)` under the per-call deadline; returns the lines it logged.
    pub fn tick(&mut self, now: u64) -> Result<Vec<String>, String> {
        if !self.exports(Entry::Tick) {
            return Err("the module exports no tick".into());
        }
        self.ctx().now_ms = now;
        self.call(Entry::Tick, now).map_err(|e| e.detail)?;
        Ok(core::mem::take(&mut self.ctx().logs))
    }
}

impl Instantiated {
    /// Calls `tick(now)` with a fresh fuel budget; returns the lines it logged.
    pub fn tick(&mut self, now: u64) -> Result<Vec<String>, String> {
        let tick = self.running.tick.ok_or("the module exports no tick")?;
        self.running.store.data_mut().now_ms = now;
        self.running.store.set_fuel(self.limits.fuel_per_call).map_err(|e| e.to_string())?;
        lend(&mut self.hw, &mut self.running.store, |store| tick.call(store, now as i64))
            .map_err(|e| classify(&e).detail)?;
        Ok(core::mem::take(&mut self.running.store.data_mut().logs))
    }

    /// Calls `init` with a fresh fuel budget.
    pub fn init(&mut self) -> Result<(), String> {
        self.running.call(Entry::Init, 0, &self.limits, &mut self.hw).map_err(|e| e.detail)
    }

    /// Samples published since the last call of this, and the counters.
    pub fn take_samples(&mut self) -> (Vec<wasmbed_protocol::Sample>, AppCounters) {
        let ctx = self.running.store.data_mut();
        (core::mem::take(&mut ctx.samples), ctx.counters)
    }
}
