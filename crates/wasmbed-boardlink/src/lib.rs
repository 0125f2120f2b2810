//! The wire between a gateway and a board too small for a WebAssembly
//! runtime (the STM32VLDISCOVERY: 8 KB of RAM): the gateway asks, the board
//! serves its UARTs, SPI, LEDs, timers and uptime, over USART1 (which QEMU
//! carries to the gateway as a TCP byte stream).
//!
//! `no_std`, no allocator, no `unsafe`: every buffer is a fixed array, and
//! the same code runs in the board's firmware and in the gateway.
//!
//! # Frames
//!
//! ```text
//!  00 | COBS( version | kind | seq (u16 BE) | tag | fields ... | CRC-32 (BE) ) | 00
//!       1 byte   1 byte   2 bytes        message, ≤ 256 bytes   4 bytes
//! ```
//!
//! - **Delimiters.** COBS ([`cobs`]) removes every 0x00 from the frame, so
//!   0x00 marks frame boundaries. Each frame is sent with a delimiter before
//!   and after it: whatever noise preceded it ends at its first byte, so
//!   noise costs at most the frame it hit. [`Deframer`] buffers at most
//!   [`MAX_ENCODED_LEN`] bytes and, after any error, starts over at the next
//!   delimiter. Empty frames (two delimiters in a row) are ignored.
//! - **Checksum.** CRC-32/ISO-HDLC (the IEEE/zlib CRC, [`crc`]) over every
//!   byte before it, big-endian. It is checked before the version, and every
//!   future version keeps it in that place, so a damaged version byte reads
//!   as corruption, not as a newer peer.
//! - **Version.** [`VERSION`] is 1. An intact frame of another version is
//!   refused with both versions named ([`FrameError::Version`]).
//! - **Kind.** [`Kind`]: 1 request (gateway → board), 2 response, 3 event
//!   (board → gateway).
//! - **Sequence number.** A request's number, echoed by its response; the
//!   board numbers its events. See [`session`] for the replay rules.
//! - **Message.** A tag byte and fixed fields ([`msg`]): [`Request`]
//!   0x01–0x09, [`Response`] 0x81–0x87, [`Event`] 0xC1.
//!
//! A frame is at most [`MAX_FRAME_LEN`] = 264 bytes before stuffing and
//! [`MAX_WIRE_LEN`] = 268 on the wire; a board needs one receive and one
//! send buffer of that size.
//!
//! # Authentication
//!
//! The gateway opens a session with [`Request::Hello`] and a random
//! challenge; the board answers [`Response::Proof`]: its id and
//! HMAC-SHA-256 under the 32-byte key of its bundle ([`proof`]). A board
//! answering wrongly is refused with [`ClientError::BadProof`].
//!
//! # Provisioning
//!
//! The board's id and key come from a fixed 74-byte record the host
//! programs into its flash ([`Provisioning`], in [`provision`]): magic,
//! layout version, id, key, CRC-32.
//!
//! # The two ends
//!
//! [`Client`] (gateway) and [`Server`] (board) are sans-IO state machines:
//! frames from a [`Deframer`] in, bytes to send out, no clock.
//!
//! ```
//! use wasmbed_boardlink::*;
//! let key = BoardKey::new([7; 32]);
//! let id = BoardId::new(b"vld-1").unwrap();
//! let mut gateway = Client::new(key.clone(), id);
//! let mut board = Server::new(key, id);
//! let (mut wire, mut answer) = ([0; MAX_WIRE_LEN], [0; MAX_WIRE_LEN]);
//! let (mut at_board, mut at_gateway) = (Deframer::new(), Deframer::new());
//!
//! // Hello and proof.
//! let n = gateway.hello([0x42; 16], &mut wire).unwrap();
//! let frame = at_board.feed(&mut &wire[..n]).unwrap().unwrap();
//! let Step::Reply(m) = board.receive(&frame, &mut answer) else { unreachable!() };
//! let frame = at_gateway.feed(&mut &answer[..m]).unwrap().unwrap();
//! assert_eq!(gateway.receive(&frame), Ok(Incoming::Opened));
//!
//! // A request served.
//! let n = gateway.request(&Request::Uptime, &mut wire).unwrap();
//! let frame = at_board.feed(&mut &wire[..n]).unwrap().unwrap();
//! let Step::Serve { seq, request: Request::Uptime } = board.receive(&frame, &mut answer) else { unreachable!() };
//! let m = board.respond(seq, &Response::Uptime { ms: 1234 }, &mut answer).unwrap();
//! let frame = at_gateway.feed(&mut &answer[..m]).unwrap().unwrap();
//! assert_eq!(gateway.receive(&frame), Ok(Incoming::Response(Response::Uptime { ms: 1234 })));
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(test)]
extern crate std;

mod auth;
pub mod cobs;
pub mod crc;
mod frame;
pub mod msg;
pub mod provision;
pub mod session;

pub use auth::{BoardId, BoardIdTooLong, BoardKey, Challenge, KEY_LEN, PROOF_LABEL, hmac_sha256, proof, verify_proof};
pub use frame::{
    CRC_LEN, Deframer, EncodeError, Frame, FrameError, HEADER_LEN, Kind, MAX_ENCODED_LEN, MAX_FRAME_LEN,
    MAX_MESSAGE_LEN, MAX_WIRE_LEN, MIN_FRAME_LEN, VERSION,
};
pub use msg::{
    CHALLENGE_LEN, DecodeError, ErrorCode, Event, MAC_LEN, MAX_BOARD_ID_LEN, MAX_DATA_LEN, Readback, Request, Response,
};
pub use provision::{PROVISIONING_LEN, PROVISIONING_MAGIC, PROVISIONING_VERSION, Provisioning, ProvisioningError};
pub use session::{Client, ClientError, ClientState, Incoming, Server, ServerError, ServerState, Step};
