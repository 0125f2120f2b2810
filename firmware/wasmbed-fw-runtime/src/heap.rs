//! A global allocator wrapper that counts bytes in use and their peak, so
//! the firmware can report what its heap really needed.

use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Wraps an allocator; counts live bytes and the high-water mark.
pub struct Counting<A> {
    inner: A,
    used: AtomicUsize,
    peak: AtomicUsize,
}

impl<A> Counting<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self { inner, used: AtomicUsize::new(0), peak: AtomicUsize::new(0) }
    }

    /// The wrapped allocator (to initialise it).
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Bytes allocated now.
    pub fn used(&self) -> usize {
        self.used.load(Relaxed)
    }

    /// Most bytes ever allocated at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }

    /// Starts a new high-water mark from what is in use now.
    pub fn reset_peak(&self) {
        self.peak.store(self.used(), Relaxed);
    }

    fn grew(&self, n: usize) {
        // Single core, and allocation is not reentrant: load+store is enough,
        // but fetch_add keeps it right anywhere.
        let now = self.used.fetch_add(n, Relaxed) + n;
        self.peak.fetch_max(now, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to the inner allocator; the
// wrapper only keeps counts.
#[allow(unsafe_code)]
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            self.grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { self.inner.dealloc(ptr, layout) };
        self.used.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as ours.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            self.used.fetch_sub(layout.size(), Relaxed);
            self.grew(new_size);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::alloc::System;

    extern crate std;

    #[test]
    fn counts_live_bytes_and_peak() {
        let h = Counting::new(System);
        let a = Layout::from_size_align(100, 8).unwrap();
        // SAFETY: test allocations, freed with their layouts.
        #[allow(unsafe_code)]
        unsafe {
            let p = h.alloc(a);
            let q = h.alloc(a);
            assert_eq!((h.used(), h.peak()), (200, 200));
            h.dealloc(p, a);
            let q = h.realloc(q, a, 300);
            assert_eq!((h.used(), h.peak()), (300, 300));
            h.dealloc(q, Layout::from_size_align(300, 8).unwrap());
        }
        assert_eq!((h.used(), h.peak()), (0, 300));
    }
}
