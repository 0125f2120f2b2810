//! What an attached board's firmware does, without its hardware: it reads
//! frames from the link to its gateway, lets the boardlink [`Server`]
//! authenticate and filter them, carries out the requests on the board's
//! peripherals, and reports its timers as events.
//!
//! The board passes in the time ([`Attached::poll`]'s `now_ms`), the link
//! ([`Link`]) and its peripherals ([`Hardware`]); nothing here touches a
//! register, so it all runs in host tests. No allocator: every buffer is a
//! fixed array.
//!
//! What it guarantees:
//! - LEDs are a shadow: [`Readback::Shadow`] reports what was last written
//!   (the board this serves, QEMU's STM32F100, models no GPIO).
//! - Timers count off `now_ms`; a periodic timer that fell behind fires
//!   once with its count advanced by every period that passed, so a gap
//!   shows. A new session (a Hello) stops every timer: the gateway that
//!   started them is gone.
//! - A frame that does not decode, a stale or replayed request, and
//!   anything outside a session cost nothing but the frame (counted in
//!   [`Stats`]).
//!
//! ```
//! use wasmbed_boardlink::*;
//! use wasmbed_fw_attached::*;
//!
//! struct NoPeripherals;
//! impl Hardware for NoPeripherals {}
//!
//! /// The link as two byte queues.
//! #[derive(Default)]
//! struct Wire { to_board: Vec<u8>, to_gateway: Vec<u8> }
//! impl Link for Wire {
//!     fn read_byte(&mut self) -> Option<u8> {
//!         (!self.to_board.is_empty()).then(|| self.to_board.remove(0))
//!     }
//!     fn write(&mut self, bytes: &[u8]) {
//!         self.to_gateway.extend_from_slice(bytes)
//!     }
//! }
//!
//! let (key, id) = (BoardKey::new([7; 32]), BoardId::new(b"vld-1").unwrap());
//! let mut board = Attached::new(Provisioning::new(id, key.clone()), NoPeripherals, Config::default());
//! let mut gateway = Client::new(key, id);
//! let mut wire = Wire::default();
//! let mut out = [0; MAX_WIRE_LEN];
//!
//! let n = gateway.hello([9; 16], &mut out).unwrap();
//! wire.to_board.extend_from_slice(&out[..n]);
//! board.poll(0, &mut wire);
//! let mut deframer = Deframer::new();
//! let frame = deframer.feed(&mut &wire.to_gateway[..]).unwrap().unwrap();
//! assert_eq!(gateway.receive(&frame), Ok(Incoming::Opened));
//! assert_eq!(board.stats().sessions, 1);
//! ```
#![no_std]
#![forbid(unsafe_code)]

mod ring;
mod timers;

pub use ring::Ring;
pub use timers::{MAX_TIMERS, Timers};
pub use wasmbed_boardlink::Readback;

use wasmbed_boardlink::{
    Deframer, ErrorCode, Event, MAX_DATA_LEN, MAX_WIRE_LEN, Provisioning, Request, Response, Server, Step,
};

/// Bytes taken from the link per [`Attached::poll`], so timers are served
/// between bursts.
pub const LINK_BURST: usize = 64;

/// The byte stream to the gateway.
pub trait Link {
    /// The next byte received, if one has arrived.
    fn read_byte(&mut self) -> Option<u8>;
    /// Sends `bytes` (a whole frame), waiting as long as it takes.
    fn write(&mut self, bytes: &[u8]);
}

/// Why a peripheral did not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HwError {
    /// The board has no such UART or SPI bus.
    NoSuchPeripheral,
    /// Nothing could be taken now (a transmitter that stays full).
    Busy,
    /// The peripheral reported a fault or never answered.
    Fault,
}

impl From<HwError> for ErrorCode {
    fn from(e: HwError) -> Self {
        match e {
            HwError::NoSuchPeripheral => ErrorCode::NoSuchPeripheral,
            HwError::Busy => ErrorCode::Busy,
            HwError::Fault => ErrorCode::Hardware,
        }
    }
}

/// The board's peripherals besides the link. Each method has a default
/// that answers "no such peripheral", so a board implements what it has.
pub trait Hardware {
    /// Queues `bytes` on UART `port`; returns how many were taken.
    fn uart_write(&mut self, port: u8, bytes: &[u8]) -> Result<usize, HwError> {
        let _ = (port, bytes);
        Err(HwError::NoSuchPeripheral)
    }

    /// Moves bytes received on UART `port` into `buf`; returns how many.
    fn uart_read(&mut self, port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        let _ = (port, buf);
        Err(HwError::NoSuchPeripheral)
    }

    /// Clocks `buf` out on SPI bus `bus`, replacing each byte by the one
    /// clocked in.
    fn spi_transfer(&mut self, bus: u8, buf: &mut [u8]) -> Result<(), HwError> {
        let _ = (bus, buf);
        Err(HwError::NoSuchPeripheral)
    }
}

/// What the board offers beyond its [`Hardware`], from its table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// LEDs kept as a shadow, at most 8.
    pub leds: u8,
    /// Timers, at most [`MAX_TIMERS`].
    pub timers: u8,
}

impl Default for Config {
    /// Two LEDs and four timers, the STM32VLDISCOVERY's.
    fn default() -> Self {
        Self { leds: 2, timers: 4 }
    }
}

impl Config {
    /// `leds` shadow LEDs (at most 8) and `timers` timers (at most
    /// [`MAX_TIMERS`]); more are cut to the limit.
    pub const fn new(leds: u8, timers: u8) -> Self {
        let leds = if leds > 8 { 8 } else { leds };
        let timers = if timers as usize > MAX_TIMERS { MAX_TIMERS as u8 } else { timers };
        Self { leds, timers }
    }
}

/// What happened on the link so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Sessions opened (Hellos answered).
    pub sessions: u32,
    /// Requests carried out.
    pub served: u32,
    /// Frames that did not pass the deframer (noise, damage).
    pub bad_frames: u32,
    /// Frames the server refused (outside a session, stale, undecodable).
    pub refused: u32,
    /// Timer events not sent because no session was open.
    pub events_dropped: u32,
}

/// An attached board's firmware: the server end of the link and the
/// state it serves (LED shadow, timers).
#[derive(Debug)]
pub struct Attached<H> {
    server: Server,
    deframer: Deframer,
    out: [u8; MAX_WIRE_LEN],
    hw: H,
    leds: Leds,
    timers: Timers,
    stats: Stats,
}

/// The LED shadow: bit N is LED N as last written.
#[derive(Debug, Clone, Copy)]
struct Leds {
    count: u8,
    bits: u8,
}

impl<H: Hardware> Attached<H> {
    /// The firmware of a board provisioned with `provisioning`, serving `hw`.
    pub fn new(provisioning: Provisioning, hw: H, config: Config) -> Self {
        let config = Config::new(config.leds, config.timers);
        Self {
            server: Server::new(provisioning.key, provisioning.board),
            deframer: Deframer::new(),
            out: [0; MAX_WIRE_LEN],
            hw,
            leds: Leds { count: config.leds, bits: 0 },
            timers: Timers::new(config.timers),
            stats: Stats::default(),
        }
    }

    /// What happened on the link so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The board's peripherals.
    pub fn hardware(&mut self) -> &mut H {
        &mut self.hw
    }

    /// One pass at time `now_ms`: takes up to [`LINK_BURST`] bytes from the
    /// link and serves every frame they end, then reports due timers.
    pub fn poll(&mut self, now_ms: u64, link: &mut impl Link) {
        for _ in 0..LINK_BURST {
            let Some(byte) = link.read_byte() else { break };
            self.take(byte, now_ms, link);
        }
        self.fire_timers(now_ms, link);
    }

    /// Feeds one byte to the deframer and serves the frame it ends, if any.
    fn take(&mut self, byte: u8, now_ms: u64, link: &mut impl Link) {
        let frame = match self.deframer.push(byte) {
            None => return,
            Some(Err(_)) => {
                self.stats.bad_frames = self.stats.bad_frames.wrapping_add(1);
                return;
            }
            Some(Ok(frame)) => frame,
        };
        let reply = match self.server.receive(&frame, &mut self.out) {
            Step::Reply(n) => {
                self.stats.sessions = self.stats.sessions.wrapping_add(1);
                self.timers.stop_all();
                n
            }
            Step::Refused { reply, .. } => {
                self.stats.refused = self.stats.refused.wrapping_add(1);
                reply
            }
            Step::Serve { seq, request } => {
                self.stats.served = self.stats.served.wrapping_add(1);
                let mut data = [0; MAX_DATA_LEN];
                let response = serve(&mut self.hw, &mut self.leds, &mut self.timers, now_ms, request, &mut data);
                // A response always fits MAX_WIRE_LEN; 0 sends nothing if not.
                self.server.respond(seq, &response, &mut self.out).unwrap_or(0)
            }
        };
        if let Some(bytes) = self.out.get(..reply).filter(|b| !b.is_empty()) {
            link.write(bytes);
        }
    }

    fn fire_timers(&mut self, now_ms: u64, link: &mut impl Link) {
        while let Some((timer, count)) = self.timers.next_due(now_ms) {
            match self.server.event(&Event::TimerFired { timer, count }, &mut self.out) {
                Ok(n) => link.write(&self.out[..n]),
                Err(_) => self.stats.events_dropped = self.stats.events_dropped.wrapping_add(1),
            }
        }
    }
}

/// Carries out one request of an open session; `data` holds what a read
/// or a transfer returns.
fn serve<'d>(
    hw: &mut impl Hardware,
    leds: &mut Leds,
    timers: &mut Timers,
    now_ms: u64,
    request: Request<'_>,
    data: &'d mut [u8; MAX_DATA_LEN],
) -> Response<'d> {
    let done = |r: Result<(), ErrorCode>| r.map_or_else(Response::Error, |()| Response::Done);
    match request {
        Request::Uptime => Response::Uptime { ms: now_ms },
        Request::LedSet { led, on } if led < leds.count => {
            let bit = 1 << led;
            leds.bits = if on { leds.bits | bit } else { leds.bits & !bit };
            Response::Done
        }
        Request::LedGet { led } if led < leds.count => {
            Response::Led { led, on: leds.bits & (1 << led) != 0, readback: Readback::Shadow }
        }
        Request::LedSet { .. } | Request::LedGet { .. } => Response::Error(ErrorCode::NoSuchPeripheral),
        Request::UartWrite { port, bytes } => match hw.uart_write(port, bytes) {
            // At most MAX_DATA_LEN (240) bytes were sent, so the count fits.
            Ok(n) => Response::Written { count: n.min(bytes.len()) as u8 },
            Err(e) => Response::Error(e.into()),
        },
        Request::UartRead { port, max } => {
            let (buf, _) = data.split_at_mut(usize::from(max).min(MAX_DATA_LEN));
            match hw.uart_read(port, buf) {
                Ok(n) => Response::Data { bytes: &buf[..n.min(buf.len())] },
                Err(e) => Response::Error(e.into()),
            }
        }
        Request::SpiTransfer { bus, bytes } => {
            // Decoding bounds `bytes` by MAX_DATA_LEN; checked again, not assumed.
            let Some(buf) = data.get_mut(..bytes.len()) else { return Response::Error(ErrorCode::BadArgument) };
            buf.copy_from_slice(bytes);
            match hw.spi_transfer(bus, buf) {
                Ok(()) => Response::Data { bytes: buf },
                Err(e) => Response::Error(e.into()),
            }
        }
        Request::TimerStart { timer, period_ms, periodic } => done(timers.start(timer, period_ms, periodic, now_ms)),
        Request::TimerStop { timer } => done(timers.stop(timer)),
        // The server answers Hellos itself.
        Request::Hello { .. } => Response::Error(ErrorCode::Unsupported),
    }
}

#[cfg(test)]
mod tests;
