//! The engine a gateway shares between all its components: wasmtime with
//! the component model, Cranelift, the pooling allocator and epoch
//! interruption; compiling a component and preparing it for a set of
//! grants (so instantiating it again, for a hot swap or another gateway
//! replica's restart, costs microseconds).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use thiserror::Error;
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::bindings::wasmbed::edge::{attached_board, clocks, config, kv, log, messages, telemetry, types};
use crate::grant::{Capability, Grants, ImportRefused, check_imports};
use crate::host::HostState;
use crate::limits::{Limits, TICK};

/// Core instances, memories and tables a component may hold: its own
/// module and the small shims `wit-component` adds.
const CORE_INSTANCES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 4;
/// Address space reserved per linear memory beyond its limit: accesses
/// past the limit hit the guard instead of another instance.
const GUARD_BYTES: u64 = 2 * 1024 * 1024;

/// Why a component cannot run.
#[derive(Debug, Error)]
pub enum LoadError {
    /// The engine could not be set up (the pool could not be reserved).
    #[error("the edge engine could not start: {0}")]
    Engine(String),
    /// The binary is over the size limit.
    #[error("the component is {size} bytes, over the limit of {limit}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not a valid component (a core module, bad bytes, a feature the
    /// engine does not enable).
    #[error("not a valid component: {0}")]
    Invalid(String),
    /// An import the grants do not allow.
    #[error(transparent)]
    Refused(#[from] ImportRefused),
    /// Its exports are not the `wasmbed:edge/component` world's.
    #[error("the component does not export the wasmbed:edge component world: {0}")]
    Exports(String),
}

/// The engine and its epoch ticker (stopped when the last handle drops).
#[derive(Clone, Debug)]
pub struct EdgeEngine {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    engine: Engine,
    limits: Limits,
    stop: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl EdgeEngine {
    /// An engine for components within `limits`.
    pub fn new(limits: Limits) -> Result<Self, LoadError> {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(limits.max_instances)
            .total_core_instances(limits.max_instances * CORE_INSTANCES_PER_COMPONENT)
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .total_memories(limits.max_instances)
            .max_memories_per_component(1)
            .total_tables(limits.max_instances * TABLES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .table_elements(limits.max_table_elements)
            .max_memory_size(limits.max_memory_bytes)
            // Keep a freed slot's first pages mapped: the next instance in
            // it starts without page faults.
            .linear_memory_keep_resident(64 * 1024);
        let mut config = Config::new();
        config
            .wasm_component_model(true)
            .epoch_interruption(true)
            .memory_reservation(limits.max_memory_bytes as u64)
            .memory_guard_size(GUARD_BYTES)
            .memory_reservation_for_growth(0)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.weak(), stop.clone())?;
        Ok(Self { inner: Arc::new(Inner { engine, limits, stop }) })
    }

    /// The limits every component runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Compiles a component binary (once per version; the result is
    /// shared by every instance of it).
    pub fn compile(&self, bytes: &[u8]) -> Result<Compiled, LoadError> {
        let limit = self.inner.limits.max_component_bytes;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge { size: bytes.len(), limit });
        }
        // A core module is refused here too, with wasmtime's words.
        let component = Component::new(&self.inner.engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let imports = component.component_type().imports(&self.inner.engine).map(|(name, _)| name.to_owned()).collect();
        Ok(Compiled { component, imports })
    }

    /// Links a compiled component with exactly the granted interfaces.
    pub fn prepare(&self, compiled: &Compiled, grants: Grants) -> Result<Prepared, LoadError> {
        check_imports(compiled.imports.iter().map(String::as_str), grants)?;
        let mut linker: Linker<HostState> = Linker::new(&self.inner.engine);
        link(&mut linker, grants).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let pre = linker.instantiate_pre(&compiled.component).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
        let pre = crate::bindings::ComponentPre::new(pre).map_err(|e| LoadError::Exports(format!("{e:#}")))?;
        Ok(Prepared { pre, grants })
    }
}

/// Adds the granted interfaces' host functions (and the shared types).
fn link(linker: &mut Linker<HostState>, grants: Grants) -> wasmtime::Result<()> {
    types::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?;
    for cap in grants.iter() {
        match cap {
            Capability::Log => log::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            Capability::Clocks => clocks::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            Capability::Config => config::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            Capability::Kv => kv::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            Capability::Telemetry => telemetry::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            Capability::Messages => messages::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            Capability::AttachedBoard => attached_board::add_to_linker::<_, HasSelf<_>>(linker, |s| s)?,
            // Its context (see `host::sandboxed_wasi`) leaves nothing to reach.
            Capability::Wasi => wasmtime_wasi::p2::add_to_linker_sync(linker)?,
        }
    }
    Ok(())
}

/// Advances the engine's epoch every [`TICK`] until the engine is gone.
fn spawn_ticker(engine: wasmtime::EngineWeak, stop: Arc<AtomicBool>) -> Result<(), LoadError> {
    thread::Builder::new()
        .name("edge-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(TICK);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(drop)
        .map_err(|e| LoadError::Engine(format!("no epoch thread: {e}")))
}

/// A compiled component.
#[derive(Clone)]
pub struct Compiled {
    component: Component,
    imports: Vec<String>,
}

impl std::fmt::Debug for Compiled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compiled").field("imports", &self.imports).finish()
    }
}

impl Compiled {
    /// What the component imports, as it names them.
    pub fn imports(&self) -> &[String] {
        &self.imports
    }
}

/// A component linked for its grants, ready to instantiate.
#[derive(Clone)]
pub struct Prepared {
    pub(crate) pre: crate::bindings::ComponentPre<HostState>,
    grants: Grants,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared").field("grants", &self.grants).finish()
    }
}

impl Prepared {
    /// The grants it was linked with.
    pub fn grants(&self) -> Grants {
        self.grants
    }
}

/// Whether `bytes` start like a component (not a core module): the
/// `\0asm` magic and the component layer's version.
pub fn is_component(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm") && bytes.get(4..8) == Some(&[0x0d, 0x00, 0x01, 0x00])
}

/// Checks `bytes` the way a gateway will — compiling them as a component —
/// and returns what it imports, for the platform to refuse at upload and
/// deploy what no gateway would run. Compiled on an engine of its own (no
/// pool, no deadline: nothing runs).
pub fn inspect(bytes: &[u8]) -> Result<Vec<String>, LoadError> {
    static ENGINE: std::sync::OnceLock<Result<Engine, String>> = std::sync::OnceLock::new();
    if !is_component(bytes) {
        return Err(LoadError::Invalid("not a WebAssembly component (a core module runs on devices)".into()));
    }
    let engine = ENGINE
        .get_or_init(|| {
            let mut config = Config::new();
            config.wasm_component_model(true);
            Engine::new(&config).map_err(|e| format!("{e:#}"))
        })
        .as_ref()
        .map_err(|e| LoadError::Engine(e.clone()))?;
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    Ok(component.component_type().imports(engine).map(|(name, _)| name.to_owned()).collect())
}
