//! The link to the gateway, as the TLS client sees it: a [`Link`] (one TCP
//! connection over smoltcp here, or a UART in `uart.rs`) and a blocking
//! `embedded_io` byte stream over it.

use alloc::vec;
use core::cell::RefCell;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddrV4};

use wasmbed_fw_drivers::smoltcp::iface::{Config, Interface, SocketHandle, SocketSet, SocketStorage};
use wasmbed_fw_drivers::smoltcp::phy::Device;
use wasmbed_fw_drivers::smoltcp::socket::tcp;
use wasmbed_fw_drivers::smoltcp::time::{Duration, Instant};
use wasmbed_fw_drivers::smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};

use crate::now_ms;

/// How long a blocked read or write, or a connect, may wait.
const IO_TIMEOUT_MS: u64 = 30_000;
const CONNECT_TIMEOUT_MS: u64 = 10_000;
/// smoltcp socket buffers. A TLS record is up to ~16.6 KB; the socket only
/// needs to cover the TCP window, the TLS layer reassembles records.
const TCP_RX: usize = 8 * 1024;
const TCP_TX: usize = 4 * 1024;

/// Why the link failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetError {
    /// No route or bad address.
    Setup(&'static str),
    /// The gateway did not accept the TCP connection in time.
    ConnectTimeout,
    /// The gateway refused or reset the connection.
    Refused,
    /// The connection closed.
    Closed,
    /// No progress for [`IO_TIMEOUT_MS`].
    Timeout,
}

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setup(what) => f.write_str(what),
            Self::ConnectTimeout => f.write_str("TCP connect to the gateway timed out"),
            Self::Refused => f.write_str("the gateway refused the TCP connection"),
            Self::Closed => f.write_str("the connection closed"),
            Self::Timeout => f.write_str("the connection stalled"),
        }
    }
}

impl core::error::Error for NetError {}

impl embedded_io::Error for NetError {
    fn kind(&self) -> embedded_io::ErrorKind {
        match self {
            Self::Setup(_) => embedded_io::ErrorKind::InvalidInput,
            Self::ConnectTimeout | Self::Timeout => embedded_io::ErrorKind::TimedOut,
            Self::Refused => embedded_io::ErrorKind::ConnectionRefused,
            Self::Closed => embedded_io::ErrorKind::ConnectionReset,
        }
    }
}

fn instant() -> Instant {
    Instant::from_millis(now_ms() as i64)
}

/// A byte link to the gateway that the session loop polls between reads.
pub trait Link {
    /// Opens a fresh connection (dropping any earlier one).
    fn connect(&mut self, remote: SocketAddrV4) -> Result<(), NetError>;
    /// Services the link; true when bytes wait to be read, or the peer
    /// closed (a read then reports it).
    fn readable(&mut self) -> bool;
    /// Reads what is there (at least one byte), waiting up to the I/O timeout.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError>;
    /// Queues some of `buf`, waiting up to the I/O timeout for room.
    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError>;
    /// Sends what is queued and closes (best effort).
    fn close(&mut self);
    /// Like [`close`](Self::close), after waiting up to `ms` for the peer to
    /// close its side too, so it has read everything sent.
    fn close_after_peer(&mut self, ms: u64) {
        let _ = ms;
        self.close();
    }
}

/// The IP stack with one TCP socket.
pub struct Net<D: Device> {
    dev: D,
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
    next_port: u16,
}

impl<D: Device> Net<D> {
    /// Static IPv4 configuration on `dev`.
    pub fn new(mut dev: D, mac: [u8; 6], ip: [u8; 4], router: [u8; 4], port_seed: u16) -> Result<Self, NetError> {
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let mut iface = Interface::new(config, &mut dev, instant());
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(Ipv4Addr::from(ip).into(), 24));
        });
        iface.routes_mut().add_default_ipv4_route(Ipv4Addr::from(router)).map_err(|_| NetError::Setup("no route"))?;
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; TCP_RX]), tcp::SocketBuffer::new(vec![0; TCP_TX]));
        let storage: &'static mut [SocketStorage<'static>] =
            alloc::boxed::Box::leak(alloc::boxed::Box::new([SocketStorage::EMPTY]));
        let mut sockets = SocketSet::new(storage);
        let tcp = sockets.add(socket);
        Ok(Self { dev, iface, sockets, tcp, next_port: 49152 + port_seed % 16384 })
    }

    /// Moves frames in and out and runs TCP timers.
    pub fn poll(&mut self) {
        self.iface.poll(instant(), &mut self.dev, &mut self.sockets);
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }
}

impl<D: Device> Link for Net<D> {
    fn connect(&mut self, remote: SocketAddrV4) -> Result<(), NetError> {
        self.socket().abort();
        self.poll();
        // A new local port per attempt, so a late segment of an earlier
        // connection can't be taken for this one.
        let port = self.next_port;
        self.next_port = if port == u16::MAX { 49152 } else { port + 1 };
        let cx = self.iface.context();
        let s = self.sockets.get_mut::<tcp::Socket>(self.tcp);
        s.connect(cx, (*remote.ip(), remote.port()), port)
            .map_err(|_| NetError::Setup("cannot start a TCP connection"))?;
        // Dead peers are noticed even when the device has nothing to send.
        s.set_keep_alive(Some(Duration::from_secs(10)));
        s.set_timeout(Some(Duration::from_secs(30)));
        s.set_nagle_enabled(false);
        let deadline = now_ms() + CONNECT_TIMEOUT_MS;
        loop {
            self.poll();
            let s = self.socket();
            match s.state() {
                tcp::State::Established => return Ok(()),
                tcp::State::Closed => return Err(NetError::Refused),
                _ if now_ms() > deadline => return Err(NetError::ConnectTimeout),
                _ => idle(),
            }
        }
    }

    fn readable(&mut self) -> bool {
        self.poll();
        let s = self.socket();
        s.can_recv() || !s.may_recv()
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        let deadline = now_ms() + IO_TIMEOUT_MS;
        loop {
            self.poll();
            let s = self.socket();
            if s.can_recv() {
                return s.recv_slice(buf).map_err(|_| NetError::Closed);
            }
            if !s.may_recv() {
                return Err(NetError::Closed);
            }
            if now_ms() > deadline {
                return Err(NetError::Timeout);
            }
            idle();
        }
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        let deadline = now_ms() + IO_TIMEOUT_MS;
        loop {
            let s = self.socket();
            if !s.may_send() {
                return Err(NetError::Closed);
            }
            let n = if s.can_send() { s.send_slice(buf).map_err(|_| NetError::Closed)? } else { 0 };
            self.poll();
            if n > 0 || buf.is_empty() {
                return Ok(n);
            }
            if now_ms() > deadline {
                return Err(NetError::Timeout);
            }
            idle();
        }
    }

    fn close_after_peer(&mut self, ms: u64) {
        self.socket().close();
        let until = now_ms() + ms;
        while now_ms() < until && !matches!(self.socket().state(), tcp::State::TimeWait | tcp::State::Closed) {
            self.poll();
            idle();
        }
        self.close();
    }

    fn close(&mut self) {
        self.socket().close();
        let until = now_ms() + 200;
        while now_ms() < until && self.socket().send_queue() > 0 {
            self.poll();
            idle();
        }
        self.socket().abort();
        self.poll();
    }
}

/// Waits for the next interrupt (at most a SysTick, 1 ms): QEMU then idles
/// instead of spinning a host core. Every wait of the main loop comes here
/// (never an app call): it feeds the watchdog.
pub fn idle() {
    crate::warm::feed();
    cortex_m::asm::wfi();
}

/// A blocking byte stream over a link, shared with the session loop (which
/// services the link between reads).
pub struct Stream<'a, L: Link>(pub &'a RefCell<L>);

impl<L: Link> embedded_io::ErrorType for Stream<'_, L> {
    type Error = NetError;
}

impl<L: Link> embedded_io::Read for Stream<'_, L> {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        self.0.borrow_mut().read(buf)
    }
}

impl<L: Link> embedded_io::Write for Stream<'_, L> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        self.0.borrow_mut().write(buf)
    }

    fn flush(&mut self) -> Result<(), NetError> {
        self.0.borrow_mut().readable();
        Ok(())
    }
}
