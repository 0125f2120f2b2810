//! How much a component may take: memory (a resource limiter per
//! instance), time (epoch interruption: a ticker advances the engine's
//! epoch, each call gets a deadline in ticks) and size.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::{ResourceLimiter, Result, format_err};

/// How often the engine's epoch advances: the granularity of deadlines.
pub const TICK: Duration = Duration::from_millis(1);

/// Limits for every component an engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest component binary accepted.
    pub max_component_bytes: usize,
    /// Linear memory per instance, in bytes (a component has one memory).
    pub max_memory_bytes: usize,
    /// Table elements per table.
    pub max_table_elements: usize,
    /// The longest one call into a component may run, not counting time
    /// it waits in host functions (a board's answer).
    pub call_deadline: Duration,
    /// The longest one call may take with those waits counted.
    pub call_wall_limit: Duration,
    /// Instances the engine holds at once (its pool's size): every
    /// version of every application, the kept previous ones included.
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_component_bytes: 4 * 1024 * 1024,
            max_memory_bytes: 16 * 1024 * 1024,
            max_table_elements: 10_000,
            call_deadline: Duration::from_millis(100),
            call_wall_limit: Duration::from_secs(10),
            max_instances: 1_000,
        }
    }
}

impl Limits {
    /// The call deadline in epoch ticks (at least one).
    pub fn deadline_ticks(&self) -> u64 {
        ticks(self.call_deadline)
    }
}

/// Epoch ticks in `d` (at least one).
pub(crate) fn ticks(d: Duration) -> u64 {
    (d.as_micros() / TICK.as_micros()).max(1) as u64
}

/// One instance's resource limiter: refuses growth past the limits with a
/// trap that says so, and remembers it, so the failure names the limit.
#[derive(Debug)]
pub(crate) struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    /// The last refusal, for the failure's reason.
    pub(crate) denied: Option<String>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self { memory_bytes: limits.max_memory_bytes, table_elements: limits.max_table_elements, denied: None }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.memory_bytes {
            let why = format!("linear memory would grow to {desired} bytes, over its limit of {}", self.memory_bytes);
            self.denied = Some(why.clone());
            return Err(format_err!("{why}"));
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> Result<bool> {
        if desired > self.table_elements {
            let why = format!("a table would grow to {desired} elements, over its limit of {}", self.table_elements);
            self.denied = Some(why.clone());
            return Err(format_err!("{why}"));
        }
        Ok(true)
    }
}

/// Time since the process first asked: the clock `monotonic-ns` reads.
pub(crate) fn since_start() -> Duration {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}
