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

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use sha2::{Digest, Sha256};
use wasmbed_protocol::{
    AppLimits, AppLog, AppReport, AppState, AppStatus, DeployBegin, DeployChunk, DeployRejected, ErrorCode, FailReason,
    valid_app_name,
};
use wasmi::{Config, Engine, Linker, Module, Store, StoreLimitsBuilder, TrapCode, TypedFunc};

use crate::host::{self, Capability, HostCtx};

const PAGE: usize = 64 * 1024;

/// What app work produced, for the session to send.
#[derive(Debug)]
pub(crate) enum Note {
    Status(AppStatus),
    Rejected(DeployRejected),
    Log(AppLog),
}

struct Running {
    store: Store<HostCtx>,
    init: Option<TypedFunc<(), ()>>,
    tick: Option<TypedFunc<i64, ()>>,
    memory: Option<wasmi::Memory>,
}

struct Slot {
    name: String,
    version: String,
    revision: Option<u64>,
    sha256: [u8; 32],
    size: usize,
    limits: AppLimits,
    module: Module,
    /// Only the granted host functions: an ungranted import cannot link.
    linker: Linker<HostCtx>,
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
    start: bool,
    size: usize,
    buf: Vec<u8>,
}

pub(crate) struct Apps {
    engine: Engine,
    device_id: String,
    slots: Vec<Slot>,
    staging: BTreeMap<String, Staging>,
    /// Apps whose deploy was refused at its start (their chunks are dropped).
    refused: alloc::collections::BTreeSet<String>,
    max_apps: usize,
    max_module_len: usize,
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
    pub(crate) fn new(max_apps: usize, max_module_len: usize, device_id: &str) -> Self {
        // Function bodies are validated (and translated) at their first call.
        Self::with_mode(max_apps, max_module_len, device_id, wasmi::CompilationMode::Lazy)
    }

    fn with_mode(max_apps: usize, max_module_len: usize, device_id: &str, mode: wasmi::CompilationMode) -> Self {
        let mut config = Config::default();
        config.consume_fuel(true);
        config.compilation_mode(mode);
        let engine = Engine::new(&config);
        Self {
            engine,
            device_id: device_id.into(),
            slots: Vec::new(),
            staging: BTreeMap::new(),
            refused: Default::default(),
            max_apps,
            max_module_len,
        }
    }

    pub(crate) fn reports(&self) -> Vec<AppReport> {
        self.slots.iter().map(Slot::report).collect()
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

    /// `free`: the device's free heap, when known. The module, its compiled
    /// form and a page of linear memory must fit beside what runs now (the
    /// old version of the app keeps running until the new one is installed).
    pub(crate) fn begin(&mut self, msg: DeployBegin, free: Option<usize>, out: &mut Vec<Note>) {
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
        let size = msg.size as usize;
        if size > self.max_module_len {
            self.refused.insert(msg.app.clone());
            out.push(reject(
                ErrorCode::NoResources,
                format!("module of {size} bytes exceeds this device's limit of {}", self.max_module_len),
            ));
            return;
        }
        // At least one page of linear memory (apps rarely start with more;
        // growth beyond is bounded by the limits and checked then).
        let need = size.saturating_mul(2).saturating_add(PAGE.min((msg.limits.max_memory_pages as usize) * PAGE));
        if let Some(free) = free
            && need > free
        {
            self.refused.insert(msg.app.clone());
            out.push(reject(
                ErrorCode::NoResources,
                format!("not enough free memory: the module needs about {need} bytes, {free} are free"),
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
            start: msg.starts(),
            version: msg.version,
            revision: msg.revision,
            sha256: *msg.sha256,
            limits: msg.limits,
            size,
            buf,
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

    fn install(&mut self, name: String, st: Staging, now: u64, out: &mut Vec<Note>) {
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
        let module = match Module::new(&self.engine, &st.buf) {
            Ok(m) => m,
            Err(e) => {
                out.push(reject(ErrorCode::InvalidModule, host::invalid_module(&st.buf, &e)));
                return;
            }
        };
        if let Err(e) = host::check_imports(&module, &st.grants) {
            out.push(reject(ErrorCode::InstantiateFailed, e));
            return;
        }
        let linker = match host::linker(&self.engine, &st.grants) {
            Ok(l) => l,
            Err(e) => {
                out.push(reject(ErrorCode::InstantiateFailed, format!("host functions: {e}")));
                return;
            }
        };
        let running = if st.start {
            match self.instantiate(&module, &linker, &st.limits, now) {
                Ok(r) => Some(r),
                Err(e) => {
                    out.push(reject(ErrorCode::InstantiateFailed, e));
                    return;
                }
            }
        } else {
            None
        };
        // From here the new version replaces the old one.
        let mut slot = Slot {
            name: name.clone(),
            version: st.version,
            revision: st.revision,
            sha256: digest,
            size: st.size,
            limits: st.limits,
            module,
            linker,
            state: AppState::Stopped,
            running: None,
            next_tick: now,
        };
        match running {
            Some(running) => slot.launch(running, now, out),
            // Installed beside a running version, to be started on a switch.
            None => out.push(slot.status(None)),
        }
        match self.slots.iter_mut().find(|s| s.name == name) {
            Some(old) => *old = slot,
            None => self.slots.push(slot),
        }
    }

    fn instantiate(
        &self,
        module: &Module,
        linker: &Linker<HostCtx>,
        limits: &AppLimits,
        now: u64,
    ) -> Result<Running, String> {
        let memory = (limits.max_memory_pages as usize).saturating_mul(PAGE);
        let ctx = HostCtx {
            limits: StoreLimitsBuilder::new()
                .memory_size(memory)
                .memories(1)
                .tables(1)
                .instances(1)
                .trap_on_grow_failure(true)
                .build(),
            now_ms: now,
            logs: Vec::new(),
            dropped_logs: 0,
            device_id: self.device_id.clone(),
        };
        let mut store = Store::new(&self.engine, ctx);
        store.limiter(|ctx| &mut ctx.limits);
        // The start function runs during instantiation: give it a budget too.
        store.set_fuel(limits.fuel_per_call).map_err(|e| format!("fuel: {e}"))?;
        let instance =
            linker.instantiate_and_start(&mut store, module).map_err(|e| format!("cannot instantiate: {e}"))?;
        let init = instance.get_typed_func::<(), ()>(&store, "init").ok();
        let tick = instance.get_typed_func::<i64, ()>(&store, "tick").ok();
        if init.is_none() && tick.is_none() {
            return Err("the module exports neither `init` nor `tick(i64)`".into());
        }
        let memory = instance.get_memory(&store, "memory");
        Ok(Running { store, tick, init, memory })
    }

    pub(crate) fn start(&mut self, name: &str, now: u64, out: &mut Vec<Note>) {
        let Some(idx) = self.slots.iter().position(|s| s.name == name) else { return };
        if self.slots[idx].running.is_some() {
            return;
        }
        let slot = &self.slots[idx];
        let instance = self.instantiate(&slot.module, &slot.linker, &slot.limits, now);
        let slot = &mut self.slots[idx];
        match instance {
            Ok(running) => slot.launch(running, now, out),
            Err(e) => slot.fail(reason(ErrorCode::InstantiateFailed, e), out),
        }
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

    /// Runs every tick that is due at `now`.
    pub(crate) fn run_due(&mut self, now: u64, out: &mut Vec<Note>) {
        for slot in &mut self.slots {
            let Some(running) = slot.running.as_mut() else { continue };
            if slot.next_tick > now {
                continue;
            }
            // Catch up without bursts: the next tick is one interval from now.
            slot.next_tick = now.saturating_add(u64::from(slot.limits.tick_ms.max(1)));
            let Some(tick) = running.tick else { continue };
            running.store.data_mut().now_ms = now;
            let result = running
                .store
                .set_fuel(slot.limits.fuel_per_call)
                .and_then(|()| tick.call(&mut running.store, now as i64));
            slot.drain_logs(now, out);
            if let Err(e) = result {
                slot.fail(classify(&e), out);
            }
        }
    }
}

impl Running {
    fn call_init(&mut self, limits: &AppLimits) -> Result<(), FailReason> {
        let Some(init) = self.init else { return Ok(()) };
        self.store.set_fuel(limits.fuel_per_call).map_err(|e| classify(&e))?;
        init.call(&mut self.store, ()).map_err(|e| classify(&e))
    }

    fn memory_bytes(&self) -> usize {
        self.memory.map_or(0, |m| m.data(&self.store).len())
    }
}

impl Slot {
    /// Runs `init` on a fresh instance and reports Running, or Failed with
    /// the reason; the instance's log lines are reported either way.
    fn launch(&mut self, mut running: Running, now: u64, out: &mut Vec<Note>) {
        running.store.data_mut().now_ms = now;
        let result = running.call_init(&self.limits);
        self.running = Some(running);
        self.drain_logs(now, out);
        match result {
            Ok(()) => {
                self.state = AppState::Running;
                self.next_tick = now.saturating_add(u64::from(self.limits.tick_ms));
                out.push(self.status(None));
            }
            Err(why) => self.fail(why, out),
        }
    }

    fn report(&self) -> AppReport {
        AppReport {
            app: self.name.clone(),
            version: self.version.clone(),
            sha256: self.sha256.into(),
            state: self.state,
            revision: self.revision,
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

    fn drain_logs(&mut self, now: u64, out: &mut Vec<Note>) {
        let Some(running) = self.running.as_mut() else { return };
        let ctx = running.store.data_mut();
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
    running: Running,
    limits: AppLimits,
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
        Self(Apps::new(1, usize::MAX, "bench"))
    }
}

impl AppRuntime {
    /// The runtime validating every function body at install instead (what
    /// the agent did before lazy validation), to measure the difference.
    pub fn with_eager_validation() -> Self {
        Self(Apps::with_mode(1, usize::MAX, "bench", wasmi::CompilationMode::LazyTranslation))
    }

    /// Validates, compiles and instantiates `bytes` as an install does,
    /// with the default grants.
    pub fn instantiate(&self, bytes: &[u8], limits: AppLimits) -> Result<Instantiated, String> {
        let module = Module::new(&self.0.engine, bytes).map_err(|e| host::invalid_module(bytes, &e))?;
        host::check_imports(&module, host::DEFAULT_GRANTS)?;
        let linker = host::linker(&self.0.engine, host::DEFAULT_GRANTS).map_err(|e| format!("host functions: {e}"))?;
        let running = self.0.instantiate(&module, &linker, &limits, 0)?;
        Ok(Instantiated { running, limits })
    }
}

impl Instantiated {
    /// Calls `tick(now)` with a fresh fuel budget; returns the lines it logged.
    pub fn tick(&mut self, now: u64) -> Result<Vec<String>, String> {
        let tick = self.running.tick.ok_or("the module exports no tick")?;
        self.running.store.data_mut().now_ms = now;
        self.running.store.set_fuel(self.limits.fuel_per_call).map_err(|e| e.to_string())?;
        tick.call(&mut self.running.store, now as i64).map_err(|e| classify(&e).detail)?;
        Ok(core::mem::take(&mut self.running.store.data_mut().logs))
    }
}
