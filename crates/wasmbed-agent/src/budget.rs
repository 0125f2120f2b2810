//! Sizing a module before anything is compiled or instantiated.
//!
//! wasmi bounds a module's linear memory (`StoreLimits`) but not the heap it
//! needs beside it: a 130 KB module of 19,800 mutable globals makes the store
//! ask for 512 KiB at instantiation, and on a microcontroller a failed
//! allocation resets the device. So [`measure`] walks the module's sections
//! with wasmparser (no allocation per item, so a hostile count costs nothing
//! to read) and [`check`] compares what it found with the device's
//! [`ModuleBudget`]: the counts one by one, then the heap wasmi would hold,
//! as an upper bound. The agent refuses a module over budget with
//! `no-resources` naming the limit; the platform runs the same two functions
//! at upload and at deploy.
//!
//! The heap model is per item, calibrated on the host (64-bit: every
//! pointer and `usize` in wasmi's structures is twice what it is on a
//! Cortex-M, so host figures bound the device's) with a counting allocator
//! in `tests/budget.rs`, which holds [`check`]'s figure above what wasmi
//! really allocated for modules of many globals, functions, table elements,
//! data and element items, and no more than a few times above it.
//!
//! ```
//! use wasmbed_agent::{check, measure};
//! use wasmbed_protocol::{AppLimits, ModuleBudget};
//! let wasm = wat::parse_str(r#"(module (func (export "init")))"#).unwrap();
//! let needs = measure(&wasm).unwrap();
//! assert_eq!(needs.functions, 1);
//! let heap = check(&needs, &AppLimits::default(), &ModuleBudget::DEFAULT).unwrap();
//! assert!(heap.running < 64 * 1024);
//! ```

use core::fmt;

use wasmbed_protocol::{AppLimits, ModuleBudget};
use wasmparser::{ElementItems, Encoding, Operator, Parser, Payload, TypeRef};

/// Bytes of one page of linear memory.
pub(crate) const PAGE: usize = 64 * 1024;

/// What a module declares, section by section.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleNeeds {
    /// The module's size.
    pub module_bytes: u32,
    /// Function types.
    pub types: u32,
    /// Imports of every kind.
    pub imports: u32,
    /// Functions, imported and defined.
    pub functions: u32,
    /// Bytes of all function bodies.
    pub code_bytes: u32,
    /// Targets of all `br_table`s: a byte each in the module, many once
    /// compiled.
    pub branch_targets: u64,
    /// Globals, imported and defined.
    pub globals: u32,
    /// Tables, imported and defined.
    pub tables: u32,
    /// Elements the tables start with, all tables.
    pub table_elements: u64,
    /// The largest any table may grow to; `None` when one has no maximum.
    pub table_max: Option<u64>,
    /// Linear memories, imported and defined.
    pub memories: u32,
    /// Pages the memories start with.
    pub memory_pages: u64,
    /// Exports.
    pub exports: u32,
    /// Bytes of import and export names.
    pub name_bytes: u32,
    /// Data segments.
    pub data_segments: u32,
    /// Bytes in all data segments.
    pub data_bytes: u64,
    /// Element segments.
    pub element_segments: u32,
    /// Items in all element segments.
    pub element_items: u64,
}

/// Why a module does not fit a budget: the limit and by how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverBudget {
    /// More functions than the board allows.
    Functions {
        /// In the module.
        need: u64,
        /// The board's limit.
        limit: u32,
    },
    /// More globals than the board allows.
    Globals {
        /// In the module.
        need: u64,
        /// The board's limit.
        limit: u32,
    },
    /// Tables larger than the board allows.
    TableElements {
        /// Elements the tables start with.
        need: u64,
        /// The board's limit.
        limit: u32,
    },
    /// More data segment bytes than the board allows.
    DataBytes {
        /// In the module.
        need: u64,
        /// The board's limit.
        limit: u32,
    },
    /// More element segment items than the board allows.
    ElementItems {
        /// In the module.
        need: u64,
        /// The board's limit.
        limit: u32,
    },
    /// More data and element segments than the board allows.
    Segments {
        /// In the module.
        need: u64,
        /// The board's limit.
        limit: u32,
    },
    /// More linear memory to start with than the app may have.
    MemoryPages {
        /// Pages the module starts with.
        need: u64,
        /// The app's `max_memory_pages`.
        limit: u32,
    },
    /// More heap than the board gives apps.
    Heap {
        /// The estimate, bytes.
        need: u64,
        /// The board's heap for apps, bytes.
        limit: u64,
    },
}

impl OverBudget {
    /// The limit's name, as operators read it in a reason.
    pub fn limit_name(&self) -> &'static str {
        match self {
            Self::Functions { .. } => "functions",
            Self::Globals { .. } => "globals",
            Self::TableElements { .. } => "table elements",
            Self::DataBytes { .. } => "data segment bytes",
            Self::ElementItems { .. } => "element segment items",
            Self::Segments { .. } => "data and element segments",
            Self::MemoryPages { .. } => "memory pages",
            Self::Heap { .. } => "heap bytes",
        }
    }

    fn need_limit(&self) -> (u64, u64) {
        match *self {
            Self::Functions { need, limit }
            | Self::Globals { need, limit }
            | Self::TableElements { need, limit }
            | Self::DataBytes { need, limit }
            | Self::ElementItems { need, limit }
            | Self::Segments { need, limit }
            | Self::MemoryPages { need, limit } => (need, u64::from(limit)),
            Self::Heap { need, limit } => (need, limit),
        }
    }
}

impl fmt::Display for OverBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (need, limit) = self.need_limit();
        let name = self.limit_name();
        match self {
            Self::MemoryPages { .. } => write!(f, "{name}: the module starts with {need}, the app may have {limit}"),
            Self::Heap { .. } => {
                write!(f, "{name}: the module needs up to {need} bytes, the board has {limit} for apps")
            }
            _ => write!(f, "{name}: the module has {need}, the board allows {limit}"),
        }
    }
}

impl core::error::Error for OverBudget {}

/// Heap an app needs, bytes: while it installs, and at most once running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeapNeed {
    /// While it installs: the received module, wasmi's parse of it and the
    /// new instance, before the bytes are let go.
    pub install: usize,
    /// Once running, at most: the parsed module, compiled code, the
    /// instance, linear memory and tables grown to their limits, stacks
    /// at their limits.
    pub running: usize,
}

impl HeapNeed {
    /// The most the app holds at any time.
    pub fn peak(&self) -> usize {
        self.install.max(self.running)
    }
}

/// Bytes [`measure`] cannot read as a core WebAssembly module.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum MeasureError {
    /// The parser's reason.
    Malformed(wasmparser::BinaryReaderError),
    /// A component, which devices do not run.
    Component,
}

impl fmt::Display for MeasureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "{e}"),
            Self::Component => f.write_str("a component, not a core module"),
        }
    }
}

impl core::error::Error for MeasureError {}

impl From<wasmparser::BinaryReaderError> for MeasureError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        Self::Malformed(e)
    }
}

/// What a module declares, read section by section.
pub fn measure(bytes: &[u8]) -> Result<ModuleNeeds, MeasureError> {
    let mut n = ModuleNeeds { module_bytes: u32::try_from(bytes.len()).unwrap_or(u32::MAX), ..Default::default() };
    let mut table_max = Some(0u64);
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::Version { encoding: Encoding::Component, .. } => return Err(MeasureError::Component),
            Payload::TypeSection(r) => n.types = n.types.saturating_add(r.count()),
            Payload::ImportSection(r) => {
                for import in r {
                    let import = import?;
                    n.imports = n.imports.saturating_add(1);
                    n.name_bytes = n.name_bytes.saturating_add(len32(import.module) + len32(import.name));
                    match import.ty {
                        TypeRef::Func(_) => n.functions = n.functions.saturating_add(1),
                        TypeRef::Global(_) => n.globals = n.globals.saturating_add(1),
                        TypeRef::Table(t) => add_table(&mut n, &mut table_max, t.initial, t.maximum),
                        TypeRef::Memory(m) => add_memory(&mut n, m.initial),
                        TypeRef::Tag(_) => {}
                    }
                }
            }
            Payload::FunctionSection(r) => n.functions = n.functions.saturating_add(r.count()),
            Payload::TableSection(r) => {
                for table in r {
                    let t = table?.ty;
                    add_table(&mut n, &mut table_max, t.initial, t.maximum);
                }
            }
            Payload::MemorySection(r) => {
                for memory in r {
                    add_memory(&mut n, memory?.initial);
                }
            }
            Payload::GlobalSection(r) => n.globals = n.globals.saturating_add(r.count()),
            Payload::ExportSection(r) => {
                for export in r {
                    n.exports = n.exports.saturating_add(1);
                    n.name_bytes = n.name_bytes.saturating_add(len32(export?.name));
                }
            }
            Payload::ElementSection(r) => {
                for segment in r {
                    let items = match segment?.items {
                        ElementItems::Functions(f) => f.count(),
                        ElementItems::Expressions(_, e) => e.count(),
                    };
                    n.element_segments = n.element_segments.saturating_add(1);
                    n.element_items = n.element_items.saturating_add(u64::from(items));
                }
            }
            Payload::DataSection(r) => {
                for segment in r {
                    n.data_segments = n.data_segments.saturating_add(1);
                    n.data_bytes = n.data_bytes.saturating_add(segment?.data.len() as u64);
                }
            }
            Payload::CodeSectionStart { size, .. } => n.code_bytes = n.code_bytes.saturating_add(size),
            Payload::CodeSectionEntry(body) => {
                let mut ops = body.get_operators_reader()?;
                while !ops.eof() {
                    if let Operator::BrTable { targets } = ops.read()? {
                        n.branch_targets = n.branch_targets.saturating_add(u64::from(targets.len()));
                    }
                }
            }
            _ => {}
        }
    }
    n.table_max = table_max;
    Ok(n)
}

fn len32(s: &str) -> u32 {
    u32::try_from(s.len()).unwrap_or(u32::MAX)
}

fn add_table(n: &mut ModuleNeeds, max: &mut Option<u64>, initial: u64, maximum: Option<u64>) {
    n.tables = n.tables.saturating_add(1);
    n.table_elements = n.table_elements.saturating_add(initial);
    *max = match (*max, maximum) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
}

fn add_memory(n: &mut ModuleNeeds, initial: u64) {
    n.memories = n.memories.saturating_add(1);
    n.memory_pages = n.memory_pages.saturating_add(initial);
}

/// Heap bytes per item, upper bounds of what `tests/budget.rs` measured
/// on the host (in brackets), with the margin stated there; growth by
/// doubling and the copy a `Vec` makes while it grows are included.
mod cost {
    /// An engine, a store, a linker with every host function, an instance:
    /// what the smallest module costs [16.8 KB].
    pub const BASE: usize = 18 * 1024;
    /// Per function: its entry in the engine's code map, its type, its
    /// handle in the store and the instance [236-264].
    pub const FUNCTION: usize = 320;
    /// Per byte of function bodies: the body kept for lazy compilation and
    /// the code compiled from it at its first call [3-4].
    pub const CODE_BYTE: usize = 6;
    /// Per `br_table` target, beyond its byte of code [24-36].
    pub const BRANCH_TARGET: usize = 48;
    /// Per global: its type and initializer in the module, its entity in
    /// the store, its handle in the instance [110-116].
    pub const GLOBAL: usize = 160;
    /// Per table element [4]; growth by doubling is bounded separately
    /// ([`super::held_while_growing`]).
    pub const TABLE_ELEMENT: usize = 4;
    /// Per function type, while the module is validated [212].
    pub const TYPE: usize = 256;
    /// Per import or export beyond its function [~290].
    pub const IMPORT_EXPORT: usize = 320;
    /// Per byte of import and export names, kept in several maps.
    pub const NAME_BYTE: usize = 4;
    /// Per data or element segment [130].
    pub const SEGMENT: usize = 192;
    /// Per data byte kept by the module (its copy into linear memory is
    /// counted with the memory) [1].
    pub const DATA_BYTE: usize = 2;
    /// Per element item: its initializer in the module and its slot [32].
    pub const ELEMENT_ITEM: usize = 48;
    /// Per call frame: wasmi's frame (24 bytes) three times over, as a
    /// `Vec` holds while it doubles.
    pub const FRAME: usize = 72;
    /// The value stack doubles as it grows: while it copies, it holds up
    /// to three times its limit.
    pub const VALUE_STACK_FACTOR: usize = 3;
}

/// The least any module of `module_bytes` needs to install: its bytes
/// and the smallest instance (what a device can check before it has them).
pub(crate) fn floor(module_bytes: usize) -> usize {
    module_bytes.saturating_add(cost::BASE)
}

/// Compares what a module declares with a budget: each count with its
/// limit, then the heap it would need (an upper bound) with the board's
/// heap for apps. `limits` are the app's own (its linear memory ceiling).
pub fn check(needs: &ModuleNeeds, limits: &AppLimits, budget: &ModuleBudget) -> Result<HeapNeed, OverBudget> {
    let count = |need: u64, limit: u32, over: fn(u64, u32) -> OverBudget| {
        if need > u64::from(limit) { Err(over(need, limit)) } else { Ok(()) }
    };
    count(needs.functions.into(), budget.functions, |need, limit| OverBudget::Functions { need, limit })?;
    count(needs.globals.into(), budget.globals, |need, limit| OverBudget::Globals { need, limit })?;
    count(needs.table_elements, budget.table_elements, |need, limit| OverBudget::TableElements { need, limit })?;
    count(needs.data_bytes, budget.data_bytes, |need, limit| OverBudget::DataBytes { need, limit })?;
    count(needs.element_items, budget.element_items, |need, limit| OverBudget::ElementItems { need, limit })?;
    let segments = u64::from(needs.data_segments) + u64::from(needs.element_segments);
    count(segments, budget.segments, |need, limit| OverBudget::Segments { need, limit })?;
    count(needs.memory_pages, limits.max_memory_pages, |need, limit| OverBudget::MemoryPages { need, limit })?;
    let heap = heap_need(needs, budget);
    let peak = heap.peak() as u64;
    if peak > budget.heap as u64 {
        return Err(OverBudget::Heap { need: peak, limit: budget.heap as u64 });
    }
    Ok(heap)
}

/// The heap model. Only called once every count is within its budget, so
/// no term is large; saturating all the same (a 32-bit device).
fn heap_need(n: &ModuleNeeds, budget: &ModuleBudget) -> HeapNeed {
    let mul = |count: u64, each: usize| usize::try_from(count).unwrap_or(usize::MAX).saturating_mul(each);
    let parsed = [
        cost::BASE,
        mul(n.functions.into(), cost::FUNCTION),
        mul(n.globals.into(), cost::GLOBAL),
        mul(n.types.into(), cost::TYPE),
        mul(u64::from(n.imports) + u64::from(n.exports), cost::IMPORT_EXPORT),
        mul(n.name_bytes.into(), cost::NAME_BYTE),
        mul(u64::from(n.data_segments) + u64::from(n.element_segments), cost::SEGMENT),
        mul(n.data_bytes, cost::DATA_BYTE),
        mul(n.element_items, cost::ELEMENT_ITEM),
        mul(n.code_bytes.into(), cost::CODE_BYTE),
        mul(n.branch_targets, cost::BRANCH_TARGET),
        // What the instance starts with; growth is sized by the agent
        // from the room left ([`growth_room`]).
        mul(n.memory_pages, PAGE),
        mul(n.table_elements, cost::TABLE_ELEMENT),
    ]
    .iter()
    .fold(0usize, |a, b| a.saturating_add(*b));
    HeapNeed {
        install: (n.module_bytes as usize).saturating_add(parsed),
        running: parsed.saturating_add(stacks(budget)),
    }
}

/// The most wasmi's value and call stacks hold under `budget`.
fn stacks(budget: &ModuleBudget) -> usize {
    (budget.value_stack as usize)
        .saturating_mul(cost::VALUE_STACK_FACTOR)
        .saturating_add((budget.call_depth as usize).saturating_mul(cost::FRAME))
}

/// How far an app's linear memory and tables may grow once running, given
/// `room` bytes of the budget left beside it: memory first (up to the
/// app's own ceiling), tables with the rest (up to their maximum and the
/// budget's count). The store stops growth there, and growing further
/// traps, failing only that app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Growth {
    /// Linear memory ceiling, bytes (whole pages).
    pub(crate) memory_bytes: usize,
    /// Table ceiling, elements.
    pub(crate) table_elements: usize,
    /// Heap the growth may take beyond what the instance starts with.
    pub(crate) bytes: usize,
}

/// The most a buffer that wasmi grows by doubling (linear memory, a
/// table) holds at once, in units, on its way from `start` to `end`: a
/// reallocation happens when `n > cap` (so `cap <= end - 1`) and makes
/// `max(2 cap, n) <= 2 (end - 1)`, and the old buffer lives while it is
/// copied: at most `3 (end - 1)`.
pub(crate) fn held_while_growing(start: usize, end: usize) -> usize {
    if end <= start { start } else { end.max(end.saturating_sub(1).saturating_mul(3)) }
}

/// The largest size in `start..=max` whose growth takes at most `room`
/// units beyond `start` (see [`held_while_growing`]), and what it takes.
fn largest_within(start: usize, max: usize, room: usize) -> (usize, usize) {
    let extra = |end| held_while_growing(start, end) - start;
    if max <= start {
        return (start, 0);
    }
    // `extra` grows with `end`: search the largest that fits.
    let (mut fits, mut over) = (start, max.saturating_add(1));
    while over - fits > 1 {
        let mid = fits + (over - fits) / 2;
        if extra(mid) <= room { fits = mid } else { over = mid }
    }
    (fits, extra(fits))
}

/// See [`Growth`].
pub(crate) fn growth_room(n: &ModuleNeeds, limits: &AppLimits, budget: &ModuleBudget, room: usize) -> Growth {
    let start_pages = usize::try_from(n.memory_pages).unwrap_or(usize::MAX);
    let max_pages = if n.memories == 0 { start_pages } else { (limits.max_memory_pages as usize).max(start_pages) };
    let (pages, more_pages) = largest_within(start_pages, max_pages, room / PAGE);
    let memory = more_pages * PAGE;
    let start_elements = usize::try_from(n.table_elements).unwrap_or(usize::MAX);
    let cap = n.table_max.map_or(budget.table_elements as usize, |m| {
        usize::try_from(m).unwrap_or(usize::MAX).min(budget.table_elements as usize)
    });
    let cap = if n.tables == 0 { start_elements } else { cap.max(start_elements) };
    let left = room.saturating_sub(memory) / cost::TABLE_ELEMENT;
    let (elements, more_elements) = largest_within(start_elements, cap, left);
    Growth {
        memory_bytes: pages.saturating_mul(PAGE),
        table_elements: elements,
        bytes: memory + more_elements * cost::TABLE_ELEMENT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growing_by_doubling_holds_up_to_three_times_the_last_size() {
        assert_eq!(held_while_growing(1, 1), 1);
        assert_eq!(held_while_growing(1, 2), 3, "1 page, then 2 while the first is copied");
        assert_eq!(held_while_growing(1, 5), 12, "4 pages copied into 8");
        assert_eq!(held_while_growing(0, 1), 1);
        assert_eq!(largest_within(1, 5, 2), (2, 2));
        assert_eq!(largest_within(1, 5, 1000), (5, 11));
        assert_eq!(largest_within(1, 5, 0), (1, 0));
        assert_eq!(largest_within(3, 2, 10), (3, 0));
    }
}
