//! The two ends of a session, as pure state machines: frames in, bytes out,
//! no IO, no clock.
//!
//! Rules, in short:
//! - A session opens with [`Request::Hello`]; its sequence number is the
//!   first two bytes of the challenge, and both directions number on from
//!   there, so frames of an earlier session are unlikely to fit this one.
//! - The gateway has one request outstanding at a time; a response must
//!   carry its number, anything else is a replayed or stale frame.
//! - The board serves a request only in an open session and only if its
//!   number is newer than the last one served (serial-number arithmetic,
//!   RFC 1982: up to 32,767 ahead, so numbering wraps); an older or repeated
//!   one gets no answer, so a recorded session cannot make the board act
//!   twice. Events are numbered the same way by the board.
//! - A lost frame is never resent under the same number: the gateway's
//!   timer expires, it calls [`Client::abandon`], and a retry is a new request
//!   (so a retried UART write may happen twice; reads and LED sets are safe).
//! - The board proves its key; it does not authenticate the gateway. The link
//!   is a QEMU serial port only the gateway's process connects to; a link
//!   crossing anything else needs a version 2 that authenticates both ends.

use core::fmt;

use crate::auth::{BoardId, BoardKey, Challenge, proof, verify_proof};
use crate::frame::{EncodeError, Frame, Kind};
use crate::msg::{DecodeError, ErrorCode, Event, Request, Response};

/// Whether `seq` comes after `last` (RFC 1982 serial-number arithmetic).
pub fn is_newer(seq: u16, last: u16) -> bool {
    let ahead = seq.wrapping_sub(last);
    ahead != 0 && ahead < 0x8000
}

/// The sequence number of the Hello carrying `challenge`.
pub fn session_start(challenge: &Challenge) -> u16 {
    u16::from_be_bytes([challenge[0], challenge[1]])
}

/// Where the gateway's end of a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientState {
    /// No session.
    Closed,
    /// Hello sent; awaiting the board's proof.
    Proving {
        /// The Hello's number.
        seq: u16,
        /// The challenge it carried.
        challenge: Challenge,
    },
    /// The board proved its key.
    Open {
        /// The request awaiting its response.
        outstanding: Option<u16>,
    },
}

/// What a frame from the board meant to the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'f> {
    /// The board answered the challenge correctly: the session is open.
    Opened,
    /// The answer to the outstanding request (which may be [`Response::Error`]).
    Response(Response<'f>),
    /// An event from the board.
    Event(Event),
}

/// Why the gateway refused a frame or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// No authenticated session.
    NotOpen,
    /// A request is still outstanding.
    Busy {
        /// Its number.
        outstanding: u16,
    },
    /// A response to no outstanding request.
    Stale {
        /// The number awaited, if any.
        expected: Option<u16>,
        /// The number the response carries.
        got: u16,
    },
    /// An event not newer than the last one.
    StaleEvent {
        /// The last event's number.
        last: u16,
        /// This one's.
        got: u16,
    },
    /// The board sent a frame of a kind only the gateway sends.
    UnexpectedKind(Kind),
    /// A response of the wrong type for the request (a proof outside a Hello,
    /// or anything else answering one).
    UnexpectedResponse,
    /// The board answered the challenge under another board's id.
    WrongBoard,
    /// The board answered the challenge wrongly: it does not hold the key.
    BadProof,
    /// The board refused the Hello.
    HelloRefused(ErrorCode),
    /// The message did not decode.
    Decode(DecodeError),
    /// The request could not be encoded.
    Encode(EncodeError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotOpen => f.write_str("no authenticated session with the board: send Hello first"),
            Self::Busy { outstanding } => write!(f, "request {outstanding} still awaits its response"),
            Self::Stale { expected: Some(e), got } => {
                write!(f, "replayed or stale frame: response {got}, awaiting {e}")
            }
            Self::Stale { expected: None, got } => {
                write!(f, "replayed or stale frame: response {got}, no request outstanding")
            }
            Self::StaleEvent { last, got } => write!(f, "replayed or stale frame: event {got}, last event {last}"),
            Self::UnexpectedKind(k) => write!(f, "the board sent a {k} frame"),
            Self::UnexpectedResponse => f.write_str("response of the wrong type for the request"),
            Self::WrongBoard => f.write_str("the board answered the challenge as another board"),
            Self::BadProof => {
                f.write_str("the board answered the challenge wrongly: it does not hold the provisioned key")
            }
            Self::HelloRefused(code) => write!(f, "the board refused the challenge: {code}"),
            Self::Decode(e) => write!(f, "bad message from the board: {e}"),
            Self::Encode(e) => write!(f, "request not encoded: {e}"),
        }
    }
}

impl core::error::Error for ClientError {}

impl From<EncodeError> for ClientError {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}

impl From<DecodeError> for ClientError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

/// The gateway's end: authenticates the board and matches responses to the
/// one outstanding request.
///
/// ```
/// # use wasmbed_boardlink::*;
/// let mut client = Client::new(BoardKey::new([7; 32]), BoardId::new(b"vld-1").unwrap());
/// let mut out = [0u8; MAX_WIRE_LEN];
/// assert_eq!(client.request(&Request::Uptime, &mut out), Err(ClientError::NotOpen));
/// let n = client.hello([0x12; 16], &mut out).unwrap();
/// assert!(matches!(client.state(), ClientState::Proving { seq: 0x1212, .. }));
/// ```
#[derive(Debug, Clone)]
pub struct Client {
    key: BoardKey,
    board: BoardId,
    state: ClientState,
    next_seq: u16,
    last_event: u16,
}

impl Client {
    /// The gateway's end for the board provisioned with `key` as `board`.
    pub fn new(key: BoardKey, board: BoardId) -> Self {
        Self { key, board, state: ClientState::Closed, next_seq: 0, last_event: 0 }
    }

    /// Where the session is.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// The board this end authenticates.
    pub fn board(&self) -> BoardId {
        self.board
    }

    /// The board id that `frame` claims if it answers the outstanding
    /// Hello with a proof, before anything is checked; `None` for any other
    /// frame. A gateway that cannot know which board dialled (every board
    /// reaches one listener) looks the key up by this id, calls
    /// [`expect`](Self::expect), and only then [`receive`](Self::receive)s
    /// the frame, which verifies the proof.
    pub fn claimed_board(&self, frame: &Frame<'_>) -> Option<BoardId> {
        match self.state {
            ClientState::Proving { seq, .. } if seq == frame.seq && frame.kind == Kind::Response => {
                match Response::decode(frame) {
                    Ok(Response::Proof { board_id, .. }) => BoardId::new(board_id).ok(),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// Authenticates `board` holding `key` from now on; the session state
    /// is kept (see [`claimed_board`](Self::claimed_board)).
    pub fn expect(&mut self, key: BoardKey, board: BoardId) {
        self.key = key;
        self.board = board;
    }

    /// Whether the board has proved its key.
    pub fn is_open(&self) -> bool {
        matches!(self.state, ClientState::Open { .. })
    }

    /// Writes a Hello with a fresh random `challenge` into `out` and starts
    /// a new session (dropping any other); returns the bytes to send.
    pub fn hello(&mut self, challenge: Challenge, out: &mut [u8]) -> Result<usize, ClientError> {
        let seq = session_start(&challenge);
        let n = Request::Hello { challenge }.encode(seq, out)?;
        self.state = ClientState::Proving { seq, challenge };
        self.next_seq = seq.wrapping_add(1);
        self.last_event = seq;
        Ok(n)
    }

    /// Writes `request` into `out` under the next number; returns the bytes
    /// to send. A Hello is [`hello`](Self::hello).
    pub fn request(&mut self, request: &Request<'_>, out: &mut [u8]) -> Result<usize, ClientError> {
        if let Request::Hello { challenge } = *request {
            return self.hello(challenge, out);
        }
        match self.state {
            ClientState::Open { outstanding: None } => {}
            ClientState::Open { outstanding: Some(outstanding) } => return Err(ClientError::Busy { outstanding }),
            _ => return Err(ClientError::NotOpen),
        }
        let seq = self.next_seq;
        let n = request.encode(seq, out)?;
        self.state = ClientState::Open { outstanding: Some(seq) };
        self.next_seq = seq.wrapping_add(1);
        Ok(n)
    }

    /// Gives up on the outstanding request or Hello (the caller's timer
    /// expired); a late answer is then refused as stale.
    pub fn abandon(&mut self) {
        self.state = match self.state {
            ClientState::Open { .. } => ClientState::Open { outstanding: None },
            _ => ClientState::Closed,
        };
    }

    /// Ends the session.
    pub fn close(&mut self) {
        self.state = ClientState::Closed;
    }

    /// Takes a frame from the board. A wrong proof closes the session;
    /// other errors leave it as it was, except that a response to the
    /// outstanding request ends the wait even if it did not decode.
    pub fn receive<'f>(&mut self, frame: &Frame<'f>) -> Result<Incoming<'f>, ClientError> {
        match frame.kind {
            Kind::Request => Err(ClientError::UnexpectedKind(Kind::Request)),
            Kind::Event => {
                if !self.is_open() {
                    return Err(ClientError::NotOpen);
                }
                if !is_newer(frame.seq, self.last_event) {
                    return Err(ClientError::StaleEvent { last: self.last_event, got: frame.seq });
                }
                let event = Event::decode(frame)?;
                self.last_event = frame.seq;
                Ok(Incoming::Event(event))
            }
            Kind::Response => match self.state {
                ClientState::Proving { seq, challenge } if seq == frame.seq => {
                    self.state = ClientState::Closed;
                    self.check_proof(&challenge, Response::decode(frame)?)?;
                    self.state = ClientState::Open { outstanding: None };
                    Ok(Incoming::Opened)
                }
                ClientState::Open { outstanding: Some(seq) } if seq == frame.seq => {
                    self.state = ClientState::Open { outstanding: None };
                    match Response::decode(frame)? {
                        Response::Proof { .. } => Err(ClientError::UnexpectedResponse),
                        response => Ok(Incoming::Response(response)),
                    }
                }
                ClientState::Proving { seq, .. } | ClientState::Open { outstanding: Some(seq) } => {
                    Err(ClientError::Stale { expected: Some(seq), got: frame.seq })
                }
                ClientState::Open { outstanding: None } | ClientState::Closed => {
                    Err(ClientError::Stale { expected: None, got: frame.seq })
                }
            },
        }
    }

    fn check_proof(&self, challenge: &Challenge, response: Response<'_>) -> Result<(), ClientError> {
        match response {
            Response::Proof { board_id, .. } if board_id != self.board.as_bytes() => Err(ClientError::WrongBoard),
            Response::Proof { board_id, mac } if verify_proof(&self.key, challenge, board_id, &mac) => Ok(()),
            Response::Proof { .. } => Err(ClientError::BadProof),
            Response::Error(code) => Err(ClientError::HelloRefused(code)),
            _ => Err(ClientError::UnexpectedResponse),
        }
    }
}

/// Where the board's end of a session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerState {
    /// No Hello yet: only a Hello is served.
    Closed,
    /// Serving requests newer than `last`.
    Open {
        /// The number of the last request accepted.
        last: u16,
    },
}

/// Why the board refused a request frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerError {
    /// The gateway sent a frame of a kind only the board sends.
    UnexpectedKind(Kind),
    /// The request did not decode.
    Decode(DecodeError),
    /// A request other than Hello outside a session.
    NotOpen,
    /// A request number not newer than the last one served.
    Stale {
        /// The last number served.
        last: u16,
        /// This request's.
        got: u16,
    },
    /// The answer did not fit the output buffer.
    Encode(EncodeError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnexpectedKind(k) => write!(f, "the gateway sent a {k} frame"),
            Self::Decode(e) => write!(f, "bad request: {e}"),
            Self::NotOpen => f.write_str("request outside a session: Hello first"),
            Self::Stale { last, got } => write!(f, "replayed or stale frame: request {got}, last served {last}"),
            Self::Encode(e) => write!(f, "answer not encoded: {e}"),
        }
    }
}

impl core::error::Error for ServerError {}

/// What the board does with a request frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'f> {
    /// Carry out `request`, then send [`Server::respond`]`(seq, ..)`.
    Serve {
        /// The number to answer under.
        seq: u16,
        /// What to do.
        request: Request<'f>,
    },
    /// The server answered itself (a proof): send the first bytes of `out`.
    Reply(usize),
    /// Refused; send the first `reply` bytes of `out` (none for a stale
    /// request or a frame of the wrong kind).
    Refused {
        /// Why.
        error: ServerError,
        /// Bytes of `out` holding an error response.
        reply: usize,
    },
}

/// The board's end: answers Hellos with its proof, and lets through only
/// fresh requests of an open session.
#[derive(Debug, Clone)]
pub struct Server {
    key: BoardKey,
    board: BoardId,
    state: ServerState,
    event_seq: u16,
}

impl Server {
    /// The board's end, holding the key and id of its bundle.
    pub fn new(key: BoardKey, board: BoardId) -> Self {
        Self { key, board, state: ServerState::Closed, event_seq: 0 }
    }

    /// Where the session is.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Takes a frame from the gateway; `out` (at most
    /// [`MAX_WIRE_LEN`](crate::MAX_WIRE_LEN) bytes) receives any answer the
    /// server writes itself.
    pub fn receive<'f>(&mut self, frame: &Frame<'f>, out: &mut [u8]) -> Step<'f> {
        if frame.kind != Kind::Request {
            return Step::Refused { error: ServerError::UnexpectedKind(frame.kind), reply: 0 };
        }
        let request = match Request::decode(frame) {
            Ok(request) => request,
            Err(e) => return self.refuse(ServerError::Decode(e), frame.seq, ErrorCode::Malformed, out),
        };
        if let Request::Hello { challenge } = request {
            let mac = proof(&self.key, &challenge, self.board.as_bytes());
            let answer = Response::Proof { board_id: self.board.as_bytes(), mac };
            return match answer.encode(frame.seq, out) {
                Ok(n) => {
                    self.state = ServerState::Open { last: frame.seq };
                    self.event_seq = frame.seq;
                    Step::Reply(n)
                }
                Err(e) => Step::Refused { error: ServerError::Encode(e), reply: 0 },
            };
        }
        match self.state {
            ServerState::Closed => self.refuse(ServerError::NotOpen, frame.seq, ErrorCode::NotAuthenticated, out),
            ServerState::Open { last } if !is_newer(frame.seq, last) => {
                Step::Refused { error: ServerError::Stale { last, got: frame.seq }, reply: 0 }
            }
            ServerState::Open { .. } => {
                self.state = ServerState::Open { last: frame.seq };
                Step::Serve { seq: frame.seq, request }
            }
        }
    }

    fn refuse<'f>(&self, error: ServerError, seq: u16, code: ErrorCode, out: &mut [u8]) -> Step<'f> {
        let reply = Response::Error(code).encode(seq, out).unwrap_or(0);
        Step::Refused { error, reply }
    }

    /// Writes the answer to request `seq` into `out`; returns its length.
    pub fn respond(&self, seq: u16, response: &Response<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        response.encode(seq, out)
    }

    /// Writes `event` under the next event number into `out`; returns its
    /// length. Only in an open session.
    pub fn event(&mut self, event: &Event, out: &mut [u8]) -> Result<usize, ServerError> {
        if self.state == ServerState::Closed {
            return Err(ServerError::NotOpen);
        }
        let seq = self.event_seq.wrapping_add(1);
        let n = event.encode(seq, out).map_err(ServerError::Encode)?;
        self.event_seq = seq;
        Ok(n)
    }

    /// Ends the session (the link was reconnected).
    pub fn close(&mut self) {
        self.state = ServerState::Closed;
    }
}
