//! Golden vectors: the exact wire bytes of one frame per message variant
//! (delimiters, COBS, header, message, CRC), and of the provisioning
//! record, checked in as hex under `tests/golden/`.
//!
//! Board firmware built from an older commit must keep understanding a
//! newer gateway, so any change to these bytes is a wire change: it must be
//! deliberate and, if old boards cannot read it, bump `VERSION`.
//! Regenerate after one with:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p wasmbed-boardlink --test golden
//! ```
//!
//! Without `UPDATE_GOLDEN`, a missing or different file fails the test.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::*;
use wasmbed_boardlink::*;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Lower-case hex, 32 bytes a line.
fn to_hex_lines(bytes: &[u8]) -> String {
    bytes.chunks(32).map(|line| hex::encode(line) + "\n").collect()
}

fn from_hex_text(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).expect("golden file is not valid hex")
}

/// Compares `wire` with `tests/golden/<name>.hex` (or rewrites it) and
/// returns the file's bytes.
fn check_golden(name: &str, wire: &[u8]) -> Vec<u8> {
    let path = golden_dir().join(format!("{name}.hex"));
    if updating() {
        std::fs::create_dir_all(golden_dir()).expect("create tests/golden");
        std::fs::write(&path, to_hex_lines(wire)).expect("write golden file");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with `UPDATE_GOLDEN=1 cargo test -p wasmbed-boardlink --test golden`",
            path.display()
        )
    });
    let expected = from_hex_text(&text);
    assert!(
        expected == wire,
        "{name}: encoding differs from {}\nexpected:\n{}actual:\n{}if the wire change is intended, rerun with UPDATE_GOLDEN=1",
        path.display(),
        to_hex_lines(&expected),
        to_hex_lines(wire),
    );
    expected
}

// Exhaustive matches: a new variant fails to compile here until it has a
// name, and then `every_variant_has_a_vector` until it has a sample.
fn request_name(r: &Request<'_>) -> &'static str {
    match r {
        Request::Hello { .. } => "request_hello",
        Request::Uptime => "request_uptime",
        Request::LedSet { .. } => "request_led_set",
        Request::LedGet { .. } => "request_led_get",
        Request::UartWrite { .. } => "request_uart_write",
        Request::UartRead { .. } => "request_uart_read",
        Request::SpiTransfer { .. } => "request_spi_transfer",
        Request::TimerStart { .. } => "request_timer_start",
        Request::TimerStop { .. } => "request_timer_stop",
    }
}

fn response_name(r: &Response<'_>) -> &'static str {
    match r {
        Response::Proof { .. } => "response_proof",
        Response::Uptime { .. } => "response_uptime",
        Response::Done => "response_done",
        Response::Led { .. } => "response_led",
        Response::Written { .. } => "response_written",
        Response::Data { .. } => "response_data",
        Response::Error(_) => "response_error",
    }
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::TimerFired { .. } => "event_timer_fired",
    }
}

const REQUEST_VARIANTS: usize = 9;
const RESPONSE_VARIANTS: usize = 7;
const EVENT_VARIANTS: usize = 1;

#[test]
fn requests_match_golden_frames() {
    for (i, req) in requests().into_iter().enumerate() {
        let seq = 0x0102 + i as u16;
        let file = check_golden(request_name(&req), &wire(|o| req.encode(seq, o)));
        let f = single(&file);
        assert_eq!((f.seq, Request::decode(&f.frame())), (seq, Ok(req)));
    }
}

#[test]
fn responses_match_golden_frames() {
    for (i, resp) in responses().into_iter().enumerate() {
        let seq = 0x0102 + i as u16;
        let file = check_golden(response_name(&resp), &wire(|o| resp.encode(seq, o)));
        let f = single(&file);
        assert_eq!((f.seq, Response::decode(&f.frame())), (seq, Ok(resp)));
    }
}

#[test]
fn events_match_golden_frames() {
    for ev in events() {
        let file = check_golden(event_name(&ev), &wire(|o| ev.encode(0x0103, o)));
        let f = single(&file);
        assert_eq!((f.seq, Event::decode(&f.frame())), (0x0103, Ok(ev)));
    }
}

/// The golden proof is the proof of the sample key: a gateway built from
/// this crate accepts the board that wrote it.
#[test]
fn the_golden_proof_opens_a_session() {
    let text = std::fs::read_to_string(golden_dir().join("response_proof.hex")).expect("golden proof");
    let mut client = Client::new(BoardKey::new(KEY), board_id());
    let _ = wire(|o| client.hello(CHALLENGE, o));
    let f = single(&from_hex_text(&text));
    assert_eq!(client.receive(&f.frame()), Ok(Incoming::Opened));
}

/// The provisioning record of the sample board and key: what the host
/// programs and every firmware built since must read.
#[test]
fn provisioning_matches_its_golden_record() {
    let p = Provisioning::new(board_id(), BoardKey::new(KEY));
    let file = check_golden(PROVISIONING_FILE, &p.encode());
    assert_eq!(Provisioning::decode(&file), Ok(p));
}

/// Not a frame: the record the host programs into an attached board.
const PROVISIONING_FILE: &str = "provisioning";

#[test]
fn every_variant_has_a_vector_and_no_vector_is_stale() {
    let mut expected: BTreeSet<String> = BTreeSet::new();
    expected.insert(format!("{PROVISIONING_FILE}.hex"));
    expected.extend(requests().iter().map(|m| format!("{}.hex", request_name(m))));
    expected.extend(responses().iter().map(|m| format!("{}.hex", response_name(m))));
    expected.extend(events().iter().map(|m| format!("{}.hex", event_name(m))));
    assert_eq!(expected.len(), 1 + REQUEST_VARIANTS + RESPONSE_VARIANTS + EVENT_VARIANTS, "one sample per variant");
    if updating() {
        return; // the other tests may still be writing files
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hex"))
        .collect();
    assert_eq!(on_disk, expected, "tests/golden holds exactly one file per sample");
}
