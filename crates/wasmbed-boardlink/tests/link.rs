//! The link end to end: frames through noise, messages both ways, both
//! session ends against each other.

mod common;

use common::*;
use proptest::prelude::*;
use wasmbed_boardlink::*;

fn uptime(seq: u16) -> Vec<u8> {
    wire(|o| Request::Uptime.encode(seq, o))
}

/// The frames `stream` yields must be errors, then exactly `good`, decoded.
fn recovers_to(stream: &[u8], good: &[u8]) {
    let mut d = Deframer::new();
    let mut all = deframe(&mut d, stream);
    all.extend(deframe(&mut d, good));
    let last = all.pop().expect("something came out").expect("the good frame decodes after the noise");
    assert_eq!(last, single(good));
    assert!(all.iter().all(Result::is_err), "no other frame decodes: {all:?}");
    assert_eq!(d.buffered(), 0);
}

#[test]
fn every_message_round_trips() {
    for (i, req) in requests().into_iter().enumerate() {
        let f = single(&wire(|o| req.encode(i as u16, o)));
        assert_eq!((f.kind, f.seq), (Kind::Request, i as u16));
        assert_eq!(Request::decode(&f.frame()), Ok(req));
    }
    for resp in responses() {
        let f = single(&wire(|o| resp.encode(0xBEEF, o)));
        assert_eq!(Response::decode(&f.frame()), Ok(resp));
        assert!(matches!(Request::decode(&f.frame()), Err(DecodeError::WrongKind { .. })));
    }
    for ev in events() {
        let f = single(&wire(|o| ev.encode(9, o)));
        assert_eq!(Event::decode(&f.frame()), Ok(ev));
    }
}

#[test]
fn the_largest_messages_fit_the_wire_limit() {
    let data = [0xA5u8; MAX_DATA_LEN];
    let zeros = [0u8; MAX_DATA_LEN];
    for bytes in [&data[..], &zeros[..]] {
        let w = wire(|o| Request::SpiTransfer { bus: 0, bytes }.encode(u16::MAX, o));
        assert!(w.len() <= MAX_WIRE_LEN);
        assert_eq!(Request::decode(&single(&w).frame()), Ok(Request::SpiTransfer { bus: 0, bytes }));
    }
    let mut out = [0u8; MAX_WIRE_LEN];
    let long = [1u8; MAX_DATA_LEN + 1];
    assert_eq!(
        Request::UartWrite { port: 0, bytes: &long }.encode(1, &mut out),
        Err(EncodeError::DataTooLong { len: 241, max: 240 })
    );
    assert_eq!(Request::Uptime.encode(1, &mut out[..8]), Err(EncodeError::NoRoom));
}

#[test]
fn garbage_before_a_frame_is_dropped() {
    let good = uptime(5);
    recovers_to(b"\x13\x37garbage without delimiters", &good);
    recovers_to(b"\x00\x00\x00", &good);
    recovers_to(&[0xFF; 40], &good);
}

#[test]
fn every_flipped_bit_is_caught_and_the_next_frame_decodes() {
    let bad = wire(|o| Request::UartWrite { port: 1, bytes: b"hello, board" }.encode(300, o));
    let good = uptime(301);
    for at in 0..bad.len() {
        for bit in 0..8 {
            let mut noisy = bad.clone();
            noisy[at] ^= 1 << bit;
            recovers_to(&noisy, &good);
        }
    }
}

#[test]
fn a_flipped_bit_in_the_body_is_a_checksum_error() {
    let mut bad = uptime(7);
    // 00 | 03 01 01 | 02 07 ...: byte 5 is the sequence number's low byte.
    assert_eq!(bad[5], 0x07);
    bad[5] ^= 0x10;
    let all = deframe(&mut Deframer::new(), &bad);
    assert!(matches!(all[..], [Err(FrameError::Checksum { .. })]), "{all:?}");
    assert!(all[0].as_ref().unwrap_err().to_string().contains("checksum"));
}

#[test]
fn a_truncated_frame_is_an_error_and_the_next_decodes() {
    let full = wire(|o| Request::LedSet { led: 1, on: true }.encode(40, o));
    let good = uptime(41);
    for cut in 1..full.len() - 1 {
        recovers_to(&full[..cut], &good);
    }
    let all = deframe(&mut Deframer::new(), &[0, 0x03, 0x01, 0x01, 0]);
    assert_eq!(all, [Err(FrameError::TooShort { len: 2 })]);
}

#[test]
fn two_frames_back_to_back() {
    let mut stream = uptime(1);
    stream.extend(wire(|o| Request::LedGet { led: 0 }.encode(2, o)));
    let all = deframe(&mut Deframer::new(), &stream);
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].as_ref().map(|f| f.seq), Ok(1));
    assert_eq!(all[1].as_ref().map(|f| f.seq), Ok(2));
}

#[test]
fn a_frame_split_across_many_pushes() {
    let frame = wire(|o| Request::UartWrite { port: 3, bytes: &[0, 1, 0, 2, 0] }.encode(77, o));
    let mut d = Deframer::new();
    let mut seen = Vec::new();
    for &b in &frame {
        if let Some(r) = d.push(b) {
            seen.push(r.map(|f| f.seq));
        }
    }
    assert_eq!(seen, [Ok(77)]);
    for chunk in 1..8 {
        let mut d = Deframer::new();
        let mut seen = Vec::new();
        for piece in frame.chunks(chunk) {
            seen.extend(deframe(&mut d, piece));
        }
        assert_eq!(seen, [Ok(single(&frame))], "pieces of {chunk}");
    }
}

/// Stuffs a raw frame with a correct CRC, as a peer of another version would.
fn raw_frame(header_and_message: &[u8]) -> Vec<u8> {
    let mut raw = header_and_message.to_vec();
    raw.extend(crc::crc32(header_and_message).to_be_bytes());
    let mut out = vec![0u8; raw.len() + 4];
    let n = cobs::encode(&raw, &mut out[1..]).expect("fits");
    out.truncate(n + 2);
    out[n + 1] = 0;
    out
}

#[test]
fn a_frame_of_another_version_names_both() {
    let all = deframe(&mut Deframer::new(), &raw_frame(&[2, 1, 0, 9, 0x02]));
    assert_eq!(all, [Err(FrameError::Version { got: 2, expected: 1 })]);
    let text = all[0].as_ref().unwrap_err().to_string();
    assert!(text.contains("version 2") && text.contains("version 1"), "{text}");
    // Same bytes in version 1 decode.
    assert_eq!(Request::decode(&single(&raw_frame(&[1, 1, 0, 9, 0x02])).frame()), Ok(Request::Uptime));
    let all = deframe(&mut Deframer::new(), &raw_frame(&[1, 9, 0, 9, 0x02]));
    assert_eq!(all, [Err(FrameError::Kind(9))]);
}

#[test]
fn an_oversize_frame_is_reported_once_and_skipped() {
    let mut stream = vec![0x41u8; 1000];
    stream.push(0);
    let good = uptime(3);
    let mut d = Deframer::new();
    let mut all = deframe(&mut d, &stream);
    all.extend(deframe(&mut d, &good));
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0], Err(FrameError::Oversize { max: MAX_ENCODED_LEN }));
    assert_eq!(all[1], Ok(single(&good)));
}

#[test]
fn messages_are_decoded_strictly() {
    let cases: &[(&[u8], DecodeError)] = &[
        (&[], DecodeError::Empty),
        (&[0x42], DecodeError::UnknownTag { kind: Kind::Request, tag: 0x42 }),
        (&[0x03, 1], DecodeError::Truncated),
        (&[0x03, 1, 2], DecodeError::BadValue { field: "on", value: 2 }),
        (&[0x02, 0], DecodeError::TrailingBytes { extra: 1 }),
        (&[0x06, 0, 241], DecodeError::BadValue { field: "max", value: 241 }),
        (&[0x05, 0, 3, 1, 2], DecodeError::Truncated),
        (&[0x05, 0, 241], DecodeError::DataTooLong { len: 241, max: 240 }),
    ];
    for (message, err) in cases {
        let frame = Frame { kind: Kind::Request, seq: 1, message };
        assert_eq!(Request::decode(&frame), Err(*err), "{message:02x?}");
    }
    let frame = Frame { kind: Kind::Response, seq: 1, message: &[0x87, 0] };
    assert_eq!(Response::decode(&frame), Err(DecodeError::BadValue { field: "code", value: 0 }));
}

proptest! {
    #[test]
    fn any_bytes_then_a_good_frame(noise in proptest::collection::vec(any::<u8>(), 0..700), seq: u16) {
        let good = uptime(seq);
        let mut d = Deframer::new();
        let _ = deframe(&mut d, &noise);
        let after = deframe(&mut d, &good);
        prop_assert_eq!(after.last(), Some(&Ok(single(&good))));
    }

    #[test]
    fn uart_writes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..=MAX_DATA_LEN), port: u8, seq: u16) {
        let req = Request::UartWrite { port, bytes: &bytes };
        let f = single(&wire(|o| req.encode(seq, o)));
        prop_assert_eq!(f.seq, seq);
        prop_assert_eq!(Request::decode(&f.frame()), Ok(req));
    }

    #[test]
    fn cobs_round_trips(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut out = vec![0u8; cobs::max_encoded_len(data.len())];
        let n = cobs::encode(&data, &mut out).expect("fits");
        prop_assert!(!out[..n].contains(&0));
        let mut back = vec![0u8; n];
        let m = cobs::decode(&out[..n], &mut back).expect("decodes");
        prop_assert_eq!(&back[..m], &data[..]);
    }
}

// --- Sessions -------------------------------------------------------------

struct Link {
    gateway: Client,
    board: Server,
}

impl Link {
    fn new(board_key: [u8; 32], id: &[u8]) -> Self {
        Self {
            gateway: Client::new(BoardKey::new(KEY), board_id()),
            board: Server::new(BoardKey::new(board_key), BoardId::new(id).expect("short")),
        }
    }

    /// Hands a frame written by the gateway to the board; returns the step
    /// and the board's reply bytes.
    fn at_board(&mut self, bytes: &[u8]) -> (String, Vec<u8>) {
        let f = single(bytes);
        let mut out = vec![0u8; MAX_WIRE_LEN];
        match self.board.receive(&f.frame(), &mut out) {
            Step::Serve { seq, request } => {
                let answer = match request {
                    Request::Uptime => Response::Uptime { ms: 42 },
                    Request::LedGet { led } => Response::Led { led, on: false, readback: Readback::Shadow },
                    _ => Response::Done,
                };
                let n = self.board.respond(seq, &answer, &mut out).expect("fits");
                out.truncate(n);
                (format!("serve {seq}"), out)
            }
            Step::Reply(n) => {
                out.truncate(n);
                ("reply".into(), out)
            }
            Step::Refused { error, reply } => {
                out.truncate(reply);
                (error.to_string(), out)
            }
        }
    }

    fn at_gateway(&mut self, bytes: &[u8]) -> Result<String, ClientError> {
        let f = single(bytes);
        self.gateway.receive(&f.frame()).map(|i| format!("{i:?}"))
    }

    fn open(&mut self) -> Result<String, ClientError> {
        let hello = wire(|o| self.gateway.hello(CHALLENGE, o));
        let (step, reply) = self.at_board(&hello);
        assert_eq!(step, "reply");
        self.at_gateway(&reply)
    }

    fn ask(&mut self, req: &Request<'_>) -> (Vec<u8>, Vec<u8>) {
        let frame = wire(|o| self.gateway.request(req, o));
        let (step, reply) = self.at_board(&frame);
        assert!(step.starts_with("serve"), "{step}");
        (frame, reply)
    }
}

#[test]
fn a_session_opens_and_serves() {
    let mut link = Link::new(KEY, BOARD);
    assert_eq!(link.open().as_deref(), Ok("Opened"));
    assert_eq!(link.board.state(), ServerState::Open { last: 0x0102 });
    let (_, reply) = link.ask(&Request::Uptime);
    assert_eq!(link.at_gateway(&reply).as_deref(), Ok("Response(Uptime { ms: 42 })"));
    let (_, reply) = link.ask(&Request::LedGet { led: 1 });
    assert_eq!(link.at_gateway(&reply).as_deref(), Ok("Response(Led { led: 1, on: false, readback: Shadow })"));
}

#[test]
fn a_gateway_learns_which_board_dialled_from_its_proof_and_then_checks_it() {
    // The gateway starts knowing no board: it looks the key up by the claimed id.
    let mut link = Link::new(KEY, b"vld-9");
    link.gateway = Client::new(BoardKey::new([0; 32]), BoardId::new(b"").expect("short"));
    let hello = wire(|o| link.gateway.hello(CHALLENGE, o));
    let (_, reply) = link.at_board(&hello);
    let f = single(&reply);
    let claimed = link.gateway.claimed_board(&f.frame()).expect("a proof claims a board");
    assert_eq!(claimed.as_bytes(), b"vld-9");
    link.gateway.expect(BoardKey::new(KEY), claimed);
    assert_eq!(link.gateway.receive(&f.frame()), Ok(Incoming::Opened));
    assert_eq!(link.gateway.board(), claimed);
    // Once open, nothing claims a board any more.
    let (_, reply) = link.ask(&Request::Uptime);
    assert_eq!(link.gateway.claimed_board(&single(&reply).frame()), None);

    // The claim is not the proof: the wrong key for the claimed id is refused.
    let mut link = Link::new([0x5d; 32], b"vld-9");
    link.gateway = Client::new(BoardKey::new([0; 32]), BoardId::new(b"").expect("short"));
    let hello = wire(|o| link.gateway.hello(CHALLENGE, o));
    let (_, reply) = link.at_board(&hello);
    let f = single(&reply);
    let claimed = link.gateway.claimed_board(&f.frame()).expect("claimed");
    link.gateway.expect(BoardKey::new(KEY), claimed);
    assert_eq!(link.gateway.receive(&f.frame()), Err(ClientError::BadProof));
}

#[test]
fn a_board_with_another_key_is_refused() {
    let mut link = Link::new([0x5d; 32], BOARD);
    assert_eq!(link.open(), Err(ClientError::BadProof));
    assert!(!link.gateway.is_open());
    assert!(ClientError::BadProof.to_string().contains("answered the challenge wrongly"));
    let mut out = [0u8; MAX_WIRE_LEN];
    assert_eq!(link.gateway.request(&Request::Uptime, &mut out), Err(ClientError::NotOpen));
}

#[test]
fn a_board_answering_as_another_board_is_refused() {
    let mut link = Link::new(KEY, b"vld-2");
    assert_eq!(link.open(), Err(ClientError::WrongBoard));
}

#[test]
fn a_replayed_proof_does_not_open_a_new_session() {
    let mut link = Link::new(KEY, BOARD);
    let hello = wire(|o| link.gateway.hello(CHALLENGE, o));
    let (_, old_proof) = link.at_board(&hello);
    assert!(link.at_gateway(&old_proof).is_ok());
    // A new Hello with a new challenge: the old proof is stale.
    let _ = wire(|o| link.gateway.hello([9; 16], o));
    assert_eq!(link.at_gateway(&old_proof), Err(ClientError::Stale { expected: Some(0x0909), got: 0x0102 }));
    // Even under the right number, a proof for another challenge fails.
    let _ = wire(|o| link.gateway.hello(CHALLENGE, o));
    let forged = wire(|o| {
        Response::Proof { board_id: BOARD, mac: proof(&BoardKey::new(KEY), &[9; 16], BOARD) }.encode(0x0102, o)
    });
    assert_eq!(link.at_gateway(&forged), Err(ClientError::BadProof));
}

#[test]
fn the_board_refuses_requests_outside_a_session() {
    let mut link = Link::new(KEY, BOARD);
    let frame = uptime(5);
    let (step, reply) = link.at_board(&frame);
    assert_eq!(step, ServerError::NotOpen.to_string());
    let f = single(&reply);
    assert_eq!((f.seq, Response::decode(&f.frame())), (5, Ok(Response::Error(ErrorCode::NotAuthenticated))));
}

#[test]
fn the_board_refuses_replayed_and_stale_requests() {
    let mut link = Link::new(KEY, BOARD);
    link.open().expect("opens");
    let (first, reply) = link.ask(&Request::LedSet { led: 0, on: true });
    link.at_gateway(&reply).expect("answered");
    let (_, reply) = link.ask(&Request::LedSet { led: 0, on: false });
    link.at_gateway(&reply).expect("answered");
    let (step, reply) = link.at_board(&first);
    assert_eq!(step, "replayed or stale frame: request 259, last served 260");
    assert!(reply.is_empty(), "a replay gets no answer");
    // The Hello's own number is as stale as any.
    let (step, _) = link.at_board(&uptime(0x0102));
    assert!(step.starts_with("replayed or stale"), "{step}");
    // Numbers may skip ahead (abandoned requests).
    let (step, _) = link.at_board(&uptime(0x0200));
    assert_eq!(step, "serve 512");
}

#[test]
fn numbering_wraps_around() {
    let mut link = Link::new(KEY, BOARD);
    let hello = wire(|o| link.gateway.hello([0xFF; 16], o));
    let (_, answer) = link.at_board(&hello);
    link.at_gateway(&answer).expect("opens");
    let (frame, reply) = link.ask(&Request::Uptime);
    assert_eq!(single(&frame).seq, 0);
    assert!(link.at_gateway(&reply).is_ok());
    assert!(session::is_newer(0, 0xFFFF) && !session::is_newer(0xFFFF, 0) && !session::is_newer(4, 4));
}

#[test]
fn the_gateway_refuses_replayed_and_stale_responses() {
    let mut link = Link::new(KEY, BOARD);
    link.open().expect("opens");
    let (_, reply) = link.ask(&Request::Uptime);
    assert!(link.at_gateway(&reply).is_ok());
    let err = link.at_gateway(&reply).unwrap_err();
    assert_eq!(err, ClientError::Stale { expected: None, got: 0x0103 });
    assert_eq!(err.to_string(), "replayed or stale frame: response 259, no request outstanding");

    let (_, reply) = link.ask(&Request::Uptime);
    let old = wire(|o| Response::Uptime { ms: 1 }.encode(0x0103, o));
    assert_eq!(link.at_gateway(&old), Err(ClientError::Stale { expected: Some(0x0104), got: 0x0103 }));
    assert!(link.at_gateway(&reply).is_ok(), "the stale frame did not end the wait");
}

#[test]
fn one_request_at_a_time_and_abandon_makes_a_late_answer_stale() {
    let mut link = Link::new(KEY, BOARD);
    link.open().expect("opens");
    let (_, reply) = link.ask(&Request::Uptime);
    let mut out = [0u8; MAX_WIRE_LEN];
    assert_eq!(link.gateway.request(&Request::Uptime, &mut out), Err(ClientError::Busy { outstanding: 0x0103 }));
    link.gateway.abandon();
    assert!(matches!(link.at_gateway(&reply), Err(ClientError::Stale { .. })));
    let (_, reply) = link.ask(&Request::Uptime);
    assert_eq!(single(&reply).seq, 0x0104);
    assert!(link.at_gateway(&reply).is_ok());
}

#[test]
fn events_are_numbered_and_replays_refused() {
    let mut link = Link::new(KEY, BOARD);
    let mut out = [0u8; MAX_WIRE_LEN];
    let fired = Event::TimerFired { timer: 1, count: 1 };
    assert_eq!(link.board.event(&fired, &mut out), Err(ServerError::NotOpen));
    link.open().expect("opens");
    let first = wire(|o| link.board.event(&fired, o));
    assert_eq!(link.at_gateway(&first).as_deref(), Ok("Event(TimerFired { timer: 1, count: 1 })"));
    let second = wire(|o| link.board.event(&Event::TimerFired { timer: 1, count: 2 }, o));
    assert!(link.at_gateway(&second).is_ok());
    assert_eq!(link.at_gateway(&first), Err(ClientError::StaleEvent { last: 0x0104, got: 0x0103 }));
}

#[test]
fn the_board_answers_a_malformed_request_and_ignores_other_kinds() {
    let mut link = Link::new(KEY, BOARD);
    link.open().expect("opens");
    let (step, reply) = link.at_board(&raw_frame(&[1, 1, 0x01, 0x03, 0x03, 0x00, 0x07]));
    assert!(step.starts_with("bad request"), "{step}");
    let f = single(&reply);
    assert_eq!(Response::decode(&f.frame()), Ok(Response::Error(ErrorCode::Malformed)));
    let (step, reply) = link.at_board(&wire(|o| Response::Done.encode(0x0200, o)));
    assert_eq!((step.as_str(), reply.len()), ("the gateway sent a response frame", 0));
    // And the gateway refuses a request frame from the board.
    assert_eq!(link.at_gateway(&uptime(1)), Err(ClientError::UnexpectedKind(Kind::Request)));
}

#[test]
fn sizes_of_the_main_types() {
    use std::mem::size_of;
    let sizes = [
        ("Deframer", size_of::<Deframer>()),
        ("Client", size_of::<Client>()),
        ("Server", size_of::<Server>()),
        ("Frame", size_of::<Frame<'_>>()),
        ("Request", size_of::<Request<'_>>()),
        ("Response", size_of::<Response<'_>>()),
        ("Event", size_of::<Event>()),
        ("BoardId", size_of::<BoardId>()),
    ];
    for (name, size) in sizes {
        println!("size_of::<{name}>() = {size}");
    }
    // A board holds a deframer, a server and one output buffer.
    assert!(size_of::<Deframer>() + size_of::<Server>() + MAX_WIRE_LEN < 1024);
}
