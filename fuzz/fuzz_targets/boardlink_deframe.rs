//! Untrusted bytes as the gateway reads them from an attached board's
//! serial link: through the `Deframer` (split where the first input byte's
//! low seven bits say), each frame decoded as every kind and handed to a
//! gateway `Client` (in a session when the first byte's top bit is set,
//! with a request outstanding) and to a board `Server`. Nothing may panic;
//! whatever decodes must re-encode to the same frame; whatever the server
//! answers must be a good frame; and after any input, a good frame still
//! comes through the same deframer. The same bytes are also read as an
//! attached board's provisioning record.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use wasmbed_boardlink::*;

const KEY: [u8; 32] = [0x5c; 32];

/// Deframes `bytes`, which must hold exactly one good frame, and runs `f` on it.
fn with_single<R>(bytes: &[u8], f: impl FnOnce(&Frame<'_>) -> R) -> R {
    let mut d = Deframer::new();
    let mut input = bytes;
    let frame = d.feed(&mut input).expect("a frame").expect("a good frame");
    let r = f(&frame);
    assert!(d.feed(&mut input).is_none(), "exactly one frame");
    r
}

/// Whatever decodes re-encodes under the same number and decodes the same.
fn round_trip(frame: &Frame<'_>) {
    let mut out = [0u8; MAX_WIRE_LEN];
    if let Ok(m) = Request::decode(frame) {
        let n = m.encode(frame.seq, &mut out).expect("a decoded request encodes");
        with_single(&out[..n], |f| assert_eq!(Request::decode(f), Ok(m)));
    }
    if let Ok(m) = Response::decode(frame) {
        let n = m.encode(frame.seq, &mut out).expect("a decoded response encodes");
        with_single(&out[..n], |f| assert_eq!(Response::decode(f), Ok(m)));
    }
    if let Ok(m) = Event::decode(frame) {
        let n = m.encode(frame.seq, &mut out).expect("a decoded event encodes");
        with_single(&out[..n], |f| assert_eq!(Event::decode(f), Ok(m)));
    }
}

fn open(client: &mut Client, server: &mut Server) {
    let (mut wire, mut answer) = ([0u8; MAX_WIRE_LEN], [0u8; MAX_WIRE_LEN]);
    let n = client.hello([0x11; CHALLENGE_LEN], &mut wire).expect("hello encodes");
    let replied = with_single(&wire[..n], |f| match server.receive(f, &mut answer) {
        Step::Reply(m) => Some(m),
        _ => None,
    });
    let m = replied.expect("the board answers a hello");
    let opened = with_single(&answer[..m], |f| client.receive(f).map(|i| i == Incoming::Opened));
    assert_eq!(opened, Ok(true));
    client.request(&Request::Uptime, &mut wire).expect("a request encodes");
}

/// Both ends, made once and cloned for each input: opening a session costs
/// two HMACs that would otherwise run on every input.
static OPENED: OnceLock<(Client, Server)> = OnceLock::new();
static CLOSED: OnceLock<(Client, Server)> = OnceLock::new();

fn ends(opened: bool) -> (Client, Server) {
    let id = BoardId::new(b"vld-1").expect("short id");
    let mut client = Client::new(BoardKey::new(KEY), id);
    let mut server = Server::new(BoardKey::new(KEY), id);
    if opened {
        open(&mut client, &mut server);
    }
    (client, server)
}

fuzz_target!(|data: &[u8]| {
    let mut scratch = data.to_vec();
    let _ = cobs::decode_in_place(&mut scratch);
    // The provisioning page is read by the same rule: never a panic, and
    // whatever decodes re-encodes to the same record.
    if let Ok(p) = Provisioning::decode(data) {
        assert_eq!(p.encode()[..], data[..PROVISIONING_LEN]);
    }

    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let (mut client, mut server) =
        if first & 0x80 != 0 { OPENED.get_or_init(|| ends(true)) } else { CLOSED.get_or_init(|| ends(false)) }.clone();
    let mut deframer = Deframer::new();
    let mut out = [0u8; MAX_WIRE_LEN];
    for piece in stream.chunks(usize::from(first & 0x7f).max(1)) {
        let mut input = piece;
        while let Some(result) = deframer.feed(&mut input) {
            let frame = match result {
                Ok(frame) => frame,
                Err(e) => {
                    let _ = e.to_string();
                    continue;
                }
            };
            assert!(frame.message.len() <= MAX_MESSAGE_LEN);
            round_trip(&frame);
            match client.receive(&frame) {
                Ok(_) if client.state() == (ClientState::Open { outstanding: None }) => {
                    client.request(&Request::LedGet { led: 0 }, &mut out).expect("a request encodes");
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = e.to_string();
                }
            }
            let reply = match server.receive(&frame, &mut out) {
                Step::Reply(n) => n,
                Step::Refused { error, reply } => {
                    let _ = error.to_string();
                    reply
                }
                Step::Serve { .. } => 0,
            };
            if reply > 0 {
                with_single(&out[..reply], |f| assert!(Response::decode(f).is_ok()));
            }
        }
    }
    // Whatever came before, the next good frame decodes.
    let n = Event::TimerFired { timer: 1, count: 2 }.encode(7, &mut out).expect("an event encodes");
    let mut input = &out[..n];
    let mut last = None;
    while let Some(r) = deframer.feed(&mut input) {
        last = Some(r.map(|f| (f.kind, f.seq)));
    }
    assert_eq!(last, Some(Ok((Kind::Event, 7))), "a good frame after any input decodes");
});
