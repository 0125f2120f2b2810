//! Handshakes in progress: who may hold one, and who makes room.
//!
//! A connection holds no session slot until it has authenticated; before
//! that it holds a handshake [`Ticket`], from a pool smaller than the
//! sessions' and capped per source address. When the pool (or the source's
//! share of it) is full, the oldest handshake of the busiest source that
//! has been waiting on its peer for [`STALE_HANDSHAKE`] gives way:
//! connections that never finish a handshake cannot keep devices out, even
//! devices behind the same address, unless they are opened faster than
//! devices finish theirs. Otherwise the newcomer is turned away (it retries
//! as devices do), so a fleet dialling in at once is paced, not thrashed.
//!
//! Staleness counts only time spent waiting for the peer's bytes
//! ([`Watched`] notes it): a handshake the gateway itself has not got to
//! yet, because a flood keeps its cores busy, is not stale. (Counting from
//! arrival made devices evict each other's handshakes under load, wasting
//! the work already done on them.)
//!
//! Sources are IPv4 addresses and IPv6 /64 prefixes (what one host holds).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::oneshot;

/// A handshake in progress this long is taken for one that will not finish
/// when room is needed: a healthy device's takes milliseconds, a QEMU
/// device's under load a few hundred.
pub(crate) const STALE_HANDSHAKE: Duration = Duration::from_secs(1);

/// Where connections come from, as far as limits go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4([u8; 4]),
    /// The /64 prefix.
    V6([u8; 8]),
}

impl Source {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => {
                let o = v6.octets();
                Self::V6([o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]])
            }
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::V4(o) => write!(f, "{}", std::net::Ipv4Addr::from(*o)),
            Self::V6(p) => {
                let mut o = [0u8; 16];
                o[..8].copy_from_slice(p);
                write!(f, "{}/64", std::net::Ipv6Addr::from(o))
            }
        }
    }
}

/// What became of a connection asking for a handshake slot.
#[derive(Debug)]
pub(crate) enum Admit {
    /// It may handshake; `evicted` says whether a stale one made room.
    Yes { ticket: Ticket, evicted: bool },
    /// No room: close it.
    No,
}

struct Entry {
    id: u64,
    /// Since when the handshake has been waiting on its peer, if it is.
    wait: Arc<PeerWait>,
    /// Tells the handshake to give way.
    evict: oneshot::Sender<()>,
}

/// Whether a handshake is waiting for its peer's bytes, and since when.
#[derive(Debug, Default)]
pub(crate) struct PeerWait(Mutex<Option<Instant>>);

impl PeerWait {
    /// The handshake wants bytes the peer has not sent (as of `now`).
    pub(crate) fn pending(&self, now: Instant) {
        if let Ok(mut w) = self.0.lock() {
            w.get_or_insert(now);
        }
    }

    /// The peer sent something: not waiting on it any more.
    pub(crate) fn progressed(&self) {
        if let Ok(mut w) = self.0.lock() {
            *w = None;
        }
    }

    /// Waiting on the peer for at least [`STALE_HANDSHAKE`] at `now`.
    fn stale(&self, now: Instant) -> bool {
        self.0.lock().ok().and_then(|w| *w).is_some_and(|since| now.saturating_duration_since(since) >= STALE_HANDSHAKE)
    }
}

/// A connection during its handshake, noting in its ticket's [`PeerWait`]
/// when a read waits on the peer and when bytes arrive.
#[derive(Debug)]
pub(crate) struct Watched<S> {
    inner: S,
    wait: Option<Arc<PeerWait>>,
}

impl<S> Watched<S> {
    /// Authenticated: no one evicts it any more, so stop noting.
    pub(crate) fn unwatch(&mut self) {
        self.wait = None;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Some(wait) = &self.wait {
            match &polled {
                Poll::Pending => wait.pending(Instant::now()),
                Poll::Ready(_) if buf.filled().len() > before => wait.progressed(),
                Poll::Ready(_) => {}
            }
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[derive(Default)]
struct Book {
    next: u64,
    total: usize,
    by_source: HashMap<Source, VecDeque<Entry>>,
}

impl Book {
    /// Removes the oldest handshake of `source` that is stale at `now`.
    fn evict_stale(&mut self, source: Source, now: Instant) -> bool {
        let Some(queue) = self.by_source.get_mut(&source) else { return false };
        let Some(at) = queue.iter().position(|e| e.wait.stale(now)) else { return false };
        let Some(victim) = queue.remove(at) else { return false };
        if queue.is_empty() {
            self.by_source.remove(&source);
        }
        self.total -= 1;
        let _ = victim.evict.send(());
        true
    }

    fn busiest(&self) -> Option<(Source, usize)> {
        self.by_source.iter().map(|(s, q)| (*s, q.len())).max_by_key(|(_, n)| *n)
    }
}

/// The pool of handshake slots.
pub(crate) struct Admission {
    max: usize,
    per_source: usize,
    book: Mutex<Book>,
}

impl Admission {
    /// At most `max` handshakes in progress, `per_source` of them from one
    /// source (both at least 1).
    pub(crate) fn new(max: usize, per_source: usize) -> Arc<Self> {
        Arc::new(Self { max: max.max(1), per_source: per_source.clamp(1, max.max(1)), book: Mutex::default() })
    }

    /// A slot for a connection from `ip` arriving at `now`.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr, now: Instant) -> Admit {
        let source = Source::of(ip);
        let Ok(mut book) = self.book.lock() else { return Admit::No };
        let mine = book.by_source.get(&source).map_or(0, VecDeque::len);
        let mut evicted = false;
        if mine >= self.per_source {
            evicted = book.evict_stale(source, now);
            if !evicted {
                return Admit::No;
            }
        } else if book.total >= self.max {
            let Some((busiest, _)) = book.busiest() else { return Admit::No };
            evicted = book.evict_stale(busiest, now);
            if !evicted {
                return Admit::No;
            }
        }
        let id = book.next;
        book.next += 1;
        let (evict, gone) = oneshot::channel();
        let wait = Arc::new(PeerWait::default());
        // Nothing read yet: waiting on the peer from the start.
        wait.pending(now);
        book.by_source.entry(source).or_default().push_back(Entry { id, wait: wait.clone(), evict });
        book.total += 1;
        Admit::Yes { ticket: Ticket { pool: self.clone(), source, id, gone, wait }, evicted }
    }

    /// Handshakes in progress now.
    pub(crate) fn in_progress(&self) -> usize {
        self.book.lock().map_or(0, |b| b.total)
    }

    /// The source holding the most handshakes in progress, and how many.
    pub(crate) fn busiest(&self) -> Option<(Source, usize)> {
        self.book.lock().ok()?.busiest()
    }

    fn release(&self, source: Source, id: u64) {
        let Ok(mut book) = self.book.lock() else { return };
        let Some(queue) = book.by_source.get_mut(&source) else { return };
        let Some(at) = queue.iter().position(|e| e.id == id) else { return };
        queue.remove(at);
        if queue.is_empty() {
            book.by_source.remove(&source);
        }
        book.total -= 1;
    }
}

/// A handshake slot, given back when dropped.
pub(crate) struct Ticket {
    pool: Arc<Admission>,
    source: Source,
    id: u64,
    gone: oneshot::Receiver<()>,
    wait: Arc<PeerWait>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").field("source", &self.source).field("id", &self.id).finish()
    }
}

impl Ticket {
    /// `stream`, noting in this ticket when its handshake waits on the peer.
    pub(crate) fn watch<S>(&self, stream: S) -> Watched<S> {
        Watched { inner: stream, wait: Some(self.wait.clone()) }
    }

    /// Resolves when this handshake must give way to a newer one.
    pub(crate) async fn evicted(&mut self) {
        // The sender goes only with the slot (eviction) or with the
        // ticket itself, so an error here is an eviction too.
        let _ = (&mut self.gone).await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.pool.release(self.source, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    fn yes(a: Admit) -> (Ticket, bool) {
        match a {
            Admit::Yes { ticket, evicted } => (ticket, evicted),
            Admit::No => panic!("expected a slot"),
        }
    }

    #[test]
    fn a_source_holds_at_most_its_share_and_fresh_handshakes_are_not_evicted() {
        let pool = Admission::new(10, 2);
        let t0 = Instant::now();
        let _a = yes(pool.admit(ip("10.0.0.1"), t0));
        let _b = yes(pool.admit(ip("10.0.0.1"), t0));
        assert!(matches!(pool.admit(ip("10.0.0.1"), t0), Admit::No));
        // Another source still gets in.
        let (_c, evicted) = yes(pool.admit(ip("10.0.0.2"), t0));
        assert!(!evicted);
        assert_eq!(pool.in_progress(), 3);
    }

    #[tokio::test]
    async fn a_stale_handshake_gives_way_to_a_newcomer_from_its_source() {
        let pool = Admission::new(10, 2);
        let t0 = Instant::now();
        let (mut oldest, _) = yes(pool.admit(ip("10.0.0.1"), t0));
        let _next = yes(pool.admit(ip("10.0.0.1"), t0 + Duration::from_millis(10)));
        let (_new, evicted) = yes(pool.admit(ip("10.0.0.1"), t0 + STALE_HANDSHAKE));
        assert!(evicted);
        tokio::time::timeout(Duration::from_secs(1), oldest.evicted()).await.unwrap_or_else(|_| panic!("not told"));
        assert_eq!(pool.in_progress(), 2);
        // Dropping the evicted ticket does not free anyone else's slot.
        drop(oldest);
        assert_eq!(pool.in_progress(), 2);
    }

    #[test]
    fn a_handshake_the_gateway_has_not_got_to_is_not_stale() {
        let pool = Admission::new(10, 1);
        let t0 = Instant::now();
        let (busy, _) = yes(pool.admit(ip("10.0.0.1"), t0));
        // Its peer sent a ClientHello; the gateway is yet to answer.
        busy.wait.progressed();
        assert!(matches!(pool.admit(ip("10.0.0.1"), t0 + 10 * STALE_HANDSHAKE), Admit::No), "not evicted");
        // Answered, and now waiting on the peer again: stale a while later.
        busy.wait.pending(t0 + 10 * STALE_HANDSHAKE);
        assert!(matches!(pool.admit(ip("10.0.0.1"), t0 + 10 * STALE_HANDSHAKE), Admit::No));
        let (_new, evicted) = yes(pool.admit(ip("10.0.0.1"), t0 + 11 * STALE_HANDSHAKE));
        assert!(evicted);
    }

    #[tokio::test]
    async fn a_watched_stream_notes_waiting_on_the_peer_and_its_bytes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let pool = Admission::new(10, 1);
        let (ticket, _) = yes(pool.admit(ip("10.0.0.1"), Instant::now()));
        let (near, mut far) = tokio::io::duplex(64);
        let mut watched = ticket.watch(near);
        ticket.wait.progressed();
        let mut byte = [0u8; 1];
        // Nothing sent: the read waits on the peer.
        assert!(tokio::time::timeout(Duration::from_millis(20), watched.read(&mut byte)).await.is_err());
        assert!(ticket.wait.stale(Instant::now() + STALE_HANDSHAKE));
        far.write_all(b"x").await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(watched.read(&mut byte).await.unwrap_or(0), 1);
        assert!(!ticket.wait.stale(Instant::now() + STALE_HANDSHAKE), "bytes arrived");
    }

    #[test]
    fn a_full_pool_takes_room_from_the_busiest_source() {
        let pool = Admission::new(3, 2);
        let t0 = Instant::now();
        let _a = yes(pool.admit(ip("10.0.0.1"), t0));
        let _b = yes(pool.admit(ip("10.0.0.1"), t0));
        let _c = yes(pool.admit(ip("10.0.0.2"), t0));
        assert!(matches!(pool.admit(ip("10.0.0.3"), t0), Admit::No), "nothing stale yet");
        let (_d, evicted) = yes(pool.admit(ip("10.0.0.3"), t0 + STALE_HANDSHAKE));
        assert!(evicted);
        assert_eq!(pool.busiest().map(|(_, n)| n), Some(1));
        assert_eq!(pool.in_progress(), 3);
    }

    #[test]
    fn dropped_tickets_free_their_slot() {
        let pool = Admission::new(1, 1);
        let t0 = Instant::now();
        let a = yes(pool.admit(ip("10.0.0.1"), t0));
        assert!(matches!(pool.admit(ip("10.0.0.2"), t0), Admit::No));
        drop(a);
        let _b = yes(pool.admit(ip("10.0.0.2"), t0));
    }

    #[test]
    fn ipv6_hosts_are_their_64_prefix_and_mapped_ipv4_is_ipv4() {
        assert_eq!(Source::of(ip("2001:db8::1")), Source::of(ip("2001:db8::ffff:1")));
        assert_ne!(Source::of(ip("2001:db8::1")), Source::of(ip("2001:db8:0:1::1")));
        assert_eq!(Source::of(ip("::ffff:127.0.0.1")), Source::of(ip("127.0.0.1")));
        assert_eq!(Source::of(ip("2001:db8::1")).to_string(), "2001:db8::/64");
    }
}
