//! A fixed byte queue between a receive interrupt and the main loop.

/// A FIFO of at most `N` bytes. Pushing to a full ring refuses the byte:
/// the caller leaves it in the UART, whose flow control (QEMU's) holds the
/// rest back, rather than lose it or an older one.
#[derive(Debug, Clone)]
pub struct Ring<const N: usize> {
    buf: [u8; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ring<N> {
    /// An empty ring.
    pub const fn new() -> Self {
        Self { buf: [0; N], head: 0, len: 0 }
    }

    /// Bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether another byte would be refused.
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Appends `b`; false (and nothing stored) when full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.is_full() {
            return false;
        }
        self.buf[(self.head + self.len) % N] = b;
        self.len += 1;
        true
    }

    /// The oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.is_empty() {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(b)
    }

    /// Moves the oldest bytes into `out`; returns how many.
    pub fn take(&mut self, out: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in out.iter_mut() {
            let Some(b) = self.pop() else { break };
            *slot = b;
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_come_out_in_order_across_the_wrap() {
        let mut r = Ring::<4>::new();
        for round in 0..10u8 {
            assert!(r.push(round) && r.push(round + 100));
            assert_eq!((r.pop(), r.pop(), r.pop()), (Some(round), Some(round + 100), None));
        }
    }

    #[test]
    fn a_full_ring_refuses_and_keeps_what_it_has() {
        let mut r = Ring::<3>::new();
        assert!(r.push(1) && r.push(2) && r.push(3));
        assert!(r.is_full() && !r.push(4));
        let mut out = [0; 8];
        assert_eq!(r.take(&mut out), 3);
        assert_eq!(out[..3], [1, 2, 3]);
        assert!(r.is_empty());
        assert_eq!(r.len(), 0);
        let mut small = [0; 1];
        assert!(r.push(5) && r.push(6));
        assert_eq!((r.take(&mut small), small[0], r.len()), (1, 5, 1));
    }
}
