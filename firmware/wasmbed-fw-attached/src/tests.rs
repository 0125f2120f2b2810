//! The firmware against a gateway `Client` over an in-memory wire, with
//! fake peripherals.

extern crate std;

use std::collections::VecDeque;
use std::vec::Vec;

use wasmbed_boardlink::*;

use super::*;

const KEY: [u8; 32] = [0x5c; 32];

fn id() -> BoardId {
    BoardId::new(b"vld-1").unwrap()
}

/// One UART (port 1) that records writes and has bytes to read, and one
/// SPI bus (0) that answers each byte inverted.
#[derive(Default)]
struct Fake {
    written: Vec<u8>,
    to_read: VecDeque<u8>,
}

impl Hardware for Fake {
    fn uart_write(&mut self, port: u8, bytes: &[u8]) -> Result<usize, HwError> {
        if port != 1 {
            return Err(HwError::NoSuchPeripheral);
        }
        // A transmit queue with room for 8 bytes.
        let n = bytes.len().min(8);
        self.written.extend_from_slice(&bytes[..n]);
        Ok(n)
    }

    fn uart_read(&mut self, port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        if port != 1 {
            return Err(HwError::NoSuchPeripheral);
        }
        let mut n = 0;
        while let (Some(slot), Some(b)) = (buf.get_mut(n), self.to_read.front().copied()) {
            *slot = b;
            self.to_read.pop_front();
            n += 1;
        }
        Ok(n)
    }

    fn spi_transfer(&mut self, bus: u8, buf: &mut [u8]) -> Result<(), HwError> {
        match bus {
            0 => {
                buf.iter_mut().for_each(|b| *b = !*b);
                Ok(())
            }
            1 => Err(HwError::Fault),
            _ => Err(HwError::NoSuchPeripheral),
        }
    }
}

#[derive(Default)]
struct Wire {
    to_board: VecDeque<u8>,
    to_gateway: Vec<u8>,
}

impl Link for Wire {
    fn read_byte(&mut self) -> Option<u8> {
        self.to_board.pop_front()
    }

    fn write(&mut self, bytes: &[u8]) {
        self.to_gateway.extend_from_slice(bytes);
    }
}

/// A board and a gateway, joined by a wire.
struct Bench {
    board: Attached<Fake>,
    gateway: Client,
    wire: Wire,
    deframer: Deframer,
    now: u64,
}

/// What the gateway made of one frame from the board.
#[derive(Debug, PartialEq)]
enum Got {
    Opened,
    Response(Response<'static>),
    Data(Vec<u8>),
    Event(Event),
    Refused(ClientError),
}

impl Bench {
    fn new() -> Self {
        let board = Attached::new(Provisioning::new(id(), BoardKey::new(KEY)), Fake::default(), Config::default());
        Self {
            board,
            gateway: Client::new(BoardKey::new(KEY), id()),
            wire: Wire::default(),
            deframer: Deframer::new(),
            now: 0,
        }
    }

    fn opened() -> Self {
        let mut b = Self::new();
        b.hello();
        b
    }

    fn send(&mut self, bytes: &[u8]) {
        self.wire.to_board.extend(bytes);
    }

    /// Runs the board until its input is used up; returns what the gateway
    /// received.
    fn run(&mut self) -> Vec<Got> {
        while !self.wire.to_board.is_empty() {
            self.board.poll(self.now, &mut self.wire);
        }
        self.board.poll(self.now, &mut self.wire);
        let bytes = core::mem::take(&mut self.wire.to_gateway);
        let mut input = &bytes[..];
        let mut got = Vec::new();
        while let Some(frame) = self.deframer.feed(&mut input) {
            let frame = frame.expect("the board sends good frames");
            got.push(match self.gateway.receive(&frame) {
                Ok(Incoming::Opened) => Got::Opened,
                Ok(Incoming::Event(e)) => Got::Event(e),
                Ok(Incoming::Response(Response::Data { bytes })) => Got::Data(bytes.to_vec()),
                Ok(Incoming::Response(r)) => Got::Response(owned(r)),
                Err(e) => Got::Refused(e),
            });
        }
        got
    }

    fn hello(&mut self) {
        let mut out = [0; MAX_WIRE_LEN];
        let n = self.gateway.hello([self.now as u8; 16], &mut out).unwrap();
        self.send(&out[..n]);
        assert_eq!(self.run(), [Got::Opened]);
    }

    fn call(&mut self, r: Request<'_>) -> Vec<Got> {
        let mut out = [0; MAX_WIRE_LEN];
        let n = self.gateway.request(&r, &mut out).unwrap();
        self.send(&out[..n]);
        self.run()
    }
}

/// Responses without borrowed data, for comparing.
fn owned(r: Response<'_>) -> Response<'static> {
    match r {
        Response::Uptime { ms } => Response::Uptime { ms },
        Response::Done => Response::Done,
        Response::Led { led, on, readback } => Response::Led { led, on, readback },
        Response::Written { count } => Response::Written { count },
        Response::Error(e) => Response::Error(e),
        Response::Proof { .. } | Response::Data { .. } => panic!("not expected here: {r:?}"),
    }
}

fn error(code: ErrorCode) -> Vec<Got> {
    std::vec![Got::Response(Response::Error(code))]
}

#[test]
fn a_request_before_the_hello_is_refused_and_then_the_session_opens() {
    let mut b = Bench::new();
    let mut out = [0; MAX_WIRE_LEN];
    let n = Request::Uptime.encode(5, &mut out).unwrap();
    b.send(&out[..n]);
    assert!(matches!(b.run()[..], [Got::Refused(ClientError::Stale { .. })]), "the gateway awaited nothing");
    assert_eq!((b.board.stats().refused, b.board.stats().sessions), (1, 0));
    b.hello();
    b.now = 1234;
    assert_eq!(b.call(Request::Uptime), [Got::Response(Response::Uptime { ms: 1234 })]);
    assert_eq!(b.board.stats().served, 1);
}

#[test]
fn a_board_holding_another_key_fails_the_challenge() {
    let mut b = Bench::new();
    b.gateway = Client::new(BoardKey::new([1; 32]), id());
    let mut out = [0; MAX_WIRE_LEN];
    let n = b.gateway.hello([3; 16], &mut out).unwrap();
    b.send(&out[..n]);
    assert_eq!(b.run(), [Got::Refused(ClientError::BadProof)]);
}

#[test]
fn leds_are_a_shadow_of_what_was_written() {
    let mut b = Bench::opened();
    let led = |led, on| Got::Response(Response::Led { led, on, readback: Readback::Shadow });
    assert_eq!(b.call(Request::LedGet { led: 1 }), [led(1, false)]);
    assert_eq!(b.call(Request::LedSet { led: 1, on: true }), [Got::Response(Response::Done)]);
    assert_eq!(b.call(Request::LedGet { led: 1 }), [led(1, true)]);
    assert_eq!(b.call(Request::LedGet { led: 0 }), [led(0, false)]);
    assert_eq!(b.call(Request::LedSet { led: 1, on: false }), [Got::Response(Response::Done)]);
    assert_eq!(b.call(Request::LedGet { led: 1 }), [led(1, false)]);
    assert_eq!(b.call(Request::LedSet { led: 2, on: true }), error(ErrorCode::NoSuchPeripheral));
    assert_eq!(b.call(Request::LedGet { led: 7 }), error(ErrorCode::NoSuchPeripheral));
}

#[test]
fn uart_writes_report_what_was_taken_and_reads_return_what_arrived() {
    let mut b = Bench::opened();
    assert_eq!(
        b.call(Request::UartWrite { port: 1, bytes: b"hello" }),
        [Got::Response(Response::Written { count: 5 })]
    );
    assert_eq!(
        b.call(Request::UartWrite { port: 1, bytes: b"0123456789" }),
        [Got::Response(Response::Written { count: 8 })],
        "the rest did not fit"
    );
    assert_eq!(b.board.hardware().written, b"hello01234567");
    assert_eq!(b.call(Request::UartWrite { port: 0, bytes: b"x" }), error(ErrorCode::NoSuchPeripheral));
    b.board.hardware().to_read.extend(b"abcdef");
    assert_eq!(b.call(Request::UartRead { port: 1, max: 4 }), [Got::Data(b"abcd".to_vec())]);
    assert_eq!(b.call(Request::UartRead { port: 1, max: 240 }), [Got::Data(b"ef".to_vec())]);
    assert_eq!(b.call(Request::UartRead { port: 1, max: 240 }), [Got::Data(Vec::new())]);
    assert_eq!(b.call(Request::UartRead { port: 2, max: 1 }), error(ErrorCode::NoSuchPeripheral));
}

#[test]
fn spi_transfers_return_what_was_clocked_in() {
    let mut b = Bench::opened();
    assert_eq!(b.call(Request::SpiTransfer { bus: 0, bytes: &[0x9F, 0, 0] }), [Got::Data(std::vec![0x60, 0xFF, 0xFF])]);
    let long = [0xAA; MAX_DATA_LEN];
    assert_eq!(b.call(Request::SpiTransfer { bus: 0, bytes: &long }), [Got::Data(std::vec![0x55; MAX_DATA_LEN])]);
    assert_eq!(b.call(Request::SpiTransfer { bus: 1, bytes: &[1] }), error(ErrorCode::Hardware));
    assert_eq!(b.call(Request::SpiTransfer { bus: 5, bytes: &[1] }), error(ErrorCode::NoSuchPeripheral));
}

#[test]
fn timers_report_events_in_a_session_and_a_new_session_stops_them() {
    let mut b = Bench::opened();
    let start = Request::TimerStart { timer: 3, period_ms: 10, periodic: true };
    assert_eq!(b.call(start), [Got::Response(Response::Done)]);
    b.now = 9;
    assert_eq!(b.run(), []);
    b.now = 10;
    assert_eq!(b.run(), [Got::Event(Event::TimerFired { timer: 3, count: 1 })]);
    b.now = 45;
    assert_eq!(b.run(), [Got::Event(Event::TimerFired { timer: 3, count: 4 })]);
    assert_eq!(
        b.call(Request::TimerStart { timer: 4, period_ms: 10, periodic: true }),
        error(ErrorCode::NoSuchPeripheral)
    );
    assert_eq!(b.call(Request::TimerStart { timer: 0, period_ms: 0, periodic: true }), error(ErrorCode::BadArgument));
    b.hello();
    b.now = 1000;
    assert_eq!(b.run(), [], "the new session's gateway started no timer");
    assert_eq!(
        b.call(Request::TimerStart { timer: 0, period_ms: 5, periodic: false }),
        [Got::Response(Response::Done)]
    );
    assert_eq!(b.call(Request::TimerStop { timer: 0 }), [Got::Response(Response::Done)]);
    b.now = 2000;
    assert_eq!(b.run(), []);
}

#[test]
fn noise_and_damaged_frames_cost_only_themselves() {
    let mut b = Bench::opened();
    let mut out = [0; MAX_WIRE_LEN];
    let n = b.gateway.request(&Request::Uptime, &mut out).unwrap();
    let mut damaged = out[..n].to_vec();
    damaged[4] ^= 0x10;
    b.send(&[0x13, 0x37, 0, 0xFF, 0xFF, 0xFF, 0]);
    b.send(&damaged);
    b.send(&out[..n / 2]);
    assert_eq!(b.run(), []);
    assert!(b.board.stats().bad_frames >= 2, "{:?}", b.board.stats());
    b.send(&out[..n]);
    b.now = 77;
    assert_eq!(b.run(), [Got::Response(Response::Uptime { ms: 77 })], "the intact frame after the noise");
}

#[test]
fn a_replayed_request_is_not_carried_out_twice() {
    let mut b = Bench::opened();
    let mut out = [0; MAX_WIRE_LEN];
    let n = b.gateway.request(&Request::UartWrite { port: 1, bytes: b"pay" }, &mut out).unwrap();
    let recorded = out[..n].to_vec();
    b.send(&recorded);
    assert_eq!(b.run(), [Got::Response(Response::Written { count: 3 })]);
    b.send(&recorded);
    assert_eq!(b.run(), [], "no answer to a replay");
    assert_eq!(b.board.hardware().written, b"pay");
    assert_eq!(b.board.stats().refused, 1);
}

#[test]
fn events_outside_a_session_are_counted_not_sent() {
    let mut b = Bench::opened();
    assert_eq!(b.call(Request::TimerStart { timer: 0, period_ms: 5, periodic: true }), [Got::Response(Response::Done)]);
    // A board whose link dropped its session keeps counting, but cannot send.
    b.board.server = Server::new(BoardKey::new(KEY), id());
    b.now = 5;
    assert_eq!(b.run(), []);
    assert_eq!(b.board.stats().events_dropped, 1);
}
