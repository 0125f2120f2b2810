//! Samples and helpers shared by the test files.
#![allow(dead_code)]

use wasmbed_boardlink::*;

pub const KEY: [u8; 32] = [0x5c; 32];
pub const BOARD: &[u8] = b"vld-1";
pub const CHALLENGE: Challenge = *b"\x01\x02challenge-1234";

pub fn board_id() -> BoardId {
    BoardId::new(BOARD).expect("short id")
}

/// The bytes one `encode` call writes.
pub fn wire<E: std::fmt::Debug>(encode: impl FnOnce(&mut [u8]) -> Result<usize, E>) -> Vec<u8> {
    let mut out = vec![0u8; MAX_WIRE_LEN];
    let n = encode(&mut out).expect("encodes");
    out.truncate(n);
    out
}

/// A frame as it came out of the deframer, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    pub kind: Kind,
    pub seq: u16,
    pub message: Vec<u8>,
}

impl Owned {
    pub fn frame(&self) -> Frame<'_> {
        Frame { kind: self.kind, seq: self.seq, message: &self.message }
    }
}

/// Everything the deframer makes of `bytes`, fed in one go.
pub fn deframe(d: &mut Deframer, bytes: &[u8]) -> Vec<Result<Owned, FrameError>> {
    let mut input = bytes;
    let mut out = Vec::new();
    while let Some(r) = d.feed(&mut input) {
        out.push(r.map(|f| Owned { kind: f.kind, seq: f.seq, message: f.message.to_vec() }));
    }
    out
}

/// The one frame in `bytes`.
pub fn single(bytes: &[u8]) -> Owned {
    let mut all = deframe(&mut Deframer::new(), bytes);
    assert_eq!(all.len(), 1, "exactly one frame in {bytes:02x?}");
    all.remove(0).expect("a good frame")
}

pub fn requests() -> Vec<Request<'static>> {
    vec![
        Request::Hello { challenge: CHALLENGE },
        Request::Uptime,
        Request::LedSet { led: 2, on: true },
        Request::LedGet { led: 2 },
        Request::UartWrite { port: 2, bytes: b"AT\r\n\0" },
        Request::UartRead { port: 2, max: 64 },
        Request::SpiTransfer { bus: 1, bytes: &[0x9f, 0x00, 0x00, 0x00] },
        Request::TimerStart { timer: 3, period_ms: 250, periodic: true },
        Request::TimerStop { timer: 3 },
    ]
}

pub fn responses() -> Vec<Response<'static>> {
    vec![
        Response::Proof { board_id: BOARD, mac: proof(&BoardKey::new(KEY), &CHALLENGE, BOARD) },
        Response::Uptime { ms: 86_400_123 },
        Response::Done,
        Response::Led { led: 2, on: true, readback: Readback::Shadow },
        Response::Written { count: 5 },
        Response::Data { bytes: &[0xef, 0x40, 0x18] },
        Response::Error(ErrorCode::NoSuchPeripheral),
    ]
}

pub fn events() -> Vec<Event> {
    vec![Event::TimerFired { timer: 3, count: 7 }]
}
