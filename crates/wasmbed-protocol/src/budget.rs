//! What a device lets its apps hold outside their linear memory, and the one
//! rule that sizes it from the device's heap.
//!
//! A module controls far more than its linear memory: functions, globals,
//! tables and their growth, data and element segments, the interpreter's
//! value and call stacks. None of that is bounded by wasmi's `StoreLimits`,
//! and on a microcontroller a failed allocation resets the device. So every
//! device has a [`ModuleBudget`], the agent sizes a module against it before
//! compiling anything, and the platform sizes it against the smallest
//! targeted board before it can reach one. Boards get theirs from the board
//! table (`wasmbed_boards`), which calls [`ModuleBudget::for_heap`].
//!
//! ```
//! use wasmbed_protocol::ModuleBudget;
//! let b = ModuleBudget::for_heap(1024 * 1024);
//! assert_eq!(b.heap, 960 * 1024); // 64 KiB stay with the agent
//! assert!(b.globals < 19_800, "the module that reset every MPS2 device");
//! ```

/// Limits on what apps may hold on one device. Counts are per module; `heap`
/// is for all apps together (each app is admitted with its worst case
/// reserved, so apps that grow later cannot take each other's room).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ModuleBudget {
    /// Heap bytes apps may hold in all: modules, compiled code, instances,
    /// linear memories, tables and stacks.
    pub heap: usize,
    /// Functions, imported and defined.
    pub functions: u32,
    /// Globals, imported and defined.
    pub globals: u32,
    /// Elements in all tables, as declared and after any `table.grow`.
    pub table_elements: u32,
    /// Bytes in all data segments.
    pub data_bytes: u32,
    /// Items in all element segments.
    pub element_items: u32,
    /// Data and element segments, counted together.
    pub segments: u32,
    /// The interpreter's value stack, bytes.
    pub value_stack: u32,
    /// Nested calls.
    pub call_depth: u32,
}

/// Most heap the agent keeps for itself: TLS records (16.6 + 4 KiB), TCP
/// buffers (12 KiB), frames and reports.
const AGENT_HEAP_MAX: usize = 64 * 1024;

impl ModuleBudget {
    /// The heap of the host simulator (an MPS2 board's) and of an agent
    /// whose embedder names no budget.
    pub const DEFAULT_HEAP: usize = 1024 * 1024;

    /// The budget of an agent with a [`DEFAULT_HEAP`](Self::DEFAULT_HEAP).
    pub const DEFAULT: Self = Self::for_heap(Self::DEFAULT_HEAP);

    /// The budget of a device whose agent has `heap` bytes of heap: an
    /// eighth of it (at most 64 KiB) stays with the agent, the rest is for
    /// apps; the counts scale with what is left, so that each alone stays
    /// well within it, and the stacks are sized for apps compiled from Rust
    /// (whose own stack lives in linear memory).
    pub const fn for_heap(heap: usize) -> Self {
        let agent = if heap / 8 < AGENT_HEAP_MAX { heap / 8 } else { AGENT_HEAP_MAX };
        let apps = heap - agent;
        Self {
            heap: apps,
            functions: scaled(apps, 64, 0, 10_000),
            globals: scaled(apps, 256, 0, 1_000),
            table_elements: scaled(apps, 64, 0, 10_000),
            data_bytes: scaled(apps, 4, 0, 256 * 1024),
            element_items: scaled(apps, 64, 0, 10_000),
            segments: scaled(apps, 256, 0, 1_000),
            value_stack: scaled(apps, 128, 2 * 1024, 8 * 1024),
            call_depth: scaled(apps, 2048, 64, 256),
        }
    }
}

/// One of each `per` bytes of `apps`, within `min..=max`.
const fn scaled(apps: usize, per: usize, min: u32, max: u32) -> u32 {
    let n = apps / per;
    if n > max as usize {
        max
    } else if n < min as usize {
        min
    } else {
        n as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_heaps_keep_an_eighth_for_the_agent_and_large_ones_64_kib() {
        assert_eq!(ModuleBudget::for_heap(112 * 1024).heap, 98 * 1024);
        assert_eq!(ModuleBudget::for_heap(1024 * 1024).heap, 960 * 1024);
        assert_eq!(ModuleBudget::for_heap(0).heap, 0);
        assert_eq!(ModuleBudget::for_heap(0).functions, 0);
    }

    #[test]
    fn counts_are_capped_on_large_heaps_and_stacks_floored_on_small_ones() {
        let b = ModuleBudget::for_heap(64 * 1024 * 1024);
        assert_eq!((b.functions, b.globals, b.call_depth, b.value_stack), (10_000, 1_000, 256, 8 * 1024));
        let b = ModuleBudget::for_heap(16 * 1024);
        assert_eq!((b.call_depth, b.value_stack), (64, 2 * 1024));
    }
}
