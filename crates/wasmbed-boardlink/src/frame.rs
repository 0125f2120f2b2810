//! Frames: the header, the message and the CRC, stuffed with COBS between
//! 0x00 delimiters; [`Deframer`] is the one door for bytes from the wire.

use core::fmt;

use crate::cobs::{self, CobsError, Encoder};
use crate::crc::{Crc32, crc32};

/// The only link version this crate speaks (the first byte of every frame).
pub const VERSION: u8 = 1;

/// Version, kind and sequence number.
pub const HEADER_LEN: usize = 4;

/// The CRC-32 at the end of a frame.
pub const CRC_LEN: usize = 4;

/// Largest message (tag and fields) a frame carries.
pub const MAX_MESSAGE_LEN: usize = 256;

/// Largest frame before COBS: header, message, CRC.
pub const MAX_FRAME_LEN: usize = HEADER_LEN + MAX_MESSAGE_LEN + CRC_LEN;

/// Smallest frame that can pass the checksum: header and CRC.
pub const MIN_FRAME_LEN: usize = HEADER_LEN + CRC_LEN;

/// Largest frame once stuffed, without delimiters: what [`Deframer`] buffers.
pub const MAX_ENCODED_LEN: usize = cobs::max_encoded_len(MAX_FRAME_LEN);

/// Largest frame on the wire, with its leading and trailing delimiter: the
/// output buffer every `encode` needs at most.
pub const MAX_WIRE_LEN: usize = MAX_ENCODED_LEN + 2;

/// What a frame carries: the second byte of every frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Gateway → board: do something and answer.
    Request = 1,
    /// Board → gateway: the answer to the request with the same sequence number.
    Response = 2,
    /// Board → gateway, unasked (a timer fired).
    Event = 3,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Request),
            2 => Some(Self::Response),
            3 => Some(Self::Event),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::Event => "event",
        })
    }
}

/// Why bytes from the wire did not make a frame. After each, the
/// [`Deframer`] has already dropped the bytes and waits for the next frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// More than [`MAX_ENCODED_LEN`] bytes arrived without a delimiter; the
    /// rest up to the next delimiter is dropped unreported.
    Oversize {
        /// The limit in force.
        max: usize,
    },
    /// The stuffed bytes are not valid COBS (noise inside a frame).
    Cobs(CobsError),
    /// Fewer bytes than a header and a checksum.
    TooShort {
        /// Bytes after COBS decoding.
        len: usize,
    },
    /// The CRC-32 does not match: a byte was corrupted.
    Checksum {
        /// The CRC the frame carries.
        carried: u32,
        /// The CRC of the bytes received.
        computed: u32,
    },
    /// The frame is intact but of a link version this side does not speak.
    Version {
        /// The version the frame carries.
        got: u8,
        /// The version this side speaks ([`VERSION`]).
        expected: u8,
    },
    /// The kind byte is none of [`Kind`].
    Kind(u8),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Oversize { max } => {
                write!(f, "oversize frame: more than {max} bytes without a delimiter, dropped to the next one")
            }
            Self::Cobs(e) => write!(f, "corrupted frame: {e}"),
            Self::TooShort { len } => {
                write!(f, "truncated frame: {len} bytes, fewer than the {MIN_FRAME_LEN} of header and checksum")
            }
            Self::Checksum { carried, computed } => {
                write!(f, "corrupted frame: checksum {carried:#010x} carried, {computed:#010x} computed")
            }
            Self::Version { got, expected } => {
                write!(f, "frame of link version {got}, but this side speaks version {expected}")
            }
            Self::Kind(k) => write!(f, "frame of unknown kind {k:#04x}"),
        }
    }
}

impl core::error::Error for FrameError {}

impl From<CobsError> for FrameError {
    fn from(e: CobsError) -> Self {
        Self::Cobs(e)
    }
}

/// A frame that passed its checksum and version check; the message is not
/// decoded yet (see [`Request::decode`](crate::Request::decode) and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// What the message is.
    pub kind: Kind,
    /// The request's number, echoed by its response; the board's own count for events.
    pub seq: u16,
    /// The message bytes: a tag byte, then its fields.
    pub message: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Checks a frame after COBS decoding: length, then CRC, then version
    /// (every version ends in a CRC-32 over the bytes before it, so a
    /// corrupted version byte reads as corruption, not as a newer peer).
    pub fn parse(raw: &'a [u8]) -> Result<Self, FrameError> {
        if raw.len() < MIN_FRAME_LEN {
            return Err(FrameError::TooShort { len: raw.len() });
        }
        let (body, crc) = raw.split_at(raw.len() - CRC_LEN);
        let carried = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32(body);
        if carried != computed {
            return Err(FrameError::Checksum { carried, computed });
        }
        let (header, message) = body.split_at(HEADER_LEN);
        if header[0] != VERSION {
            return Err(FrameError::Version { got: header[0], expected: VERSION });
        }
        let kind = Kind::from_byte(header[1]).ok_or(FrameError::Kind(header[1]))?;
        Ok(Self { kind, seq: u16::from_be_bytes([header[2], header[3]]), message })
    }
}

/// Reassembles frames from the byte stream, in a fixed buffer of
/// [`MAX_ENCODED_LEN`] bytes.
///
/// Bytes accumulate until a 0x00 delimiter; then they are COBS-decoded in
/// place and checked ([`Frame::parse`]). Whatever went wrong, the buffer is
/// empty again afterwards, so the next frame (which starts with its own
/// delimiter) decodes cleanly: noise costs at most the frame it hit. Empty
/// frames (two delimiters in a row) are skipped silently. Never panics.
#[derive(Clone)]
pub struct Deframer {
    buf: [u8; MAX_ENCODED_LEN],
    len: usize,
    /// Dropping bytes until the next delimiter after an oversize frame.
    skipping: bool,
}

impl fmt::Debug for Deframer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deframer").field("buffered", &self.len).field("skipping", &self.skipping).finish()
    }
}

impl Default for Deframer {
    fn default() -> Self {
        Self::new()
    }
}

impl Deframer {
    /// An empty deframer.
    pub const fn new() -> Self {
        Self { buf: [0; MAX_ENCODED_LEN], len: 0, skipping: false }
    }

    /// Bytes held of a frame not yet complete.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// Forgets any partial frame (the link was reconnected).
    pub fn reset(&mut self) {
        self.len = 0;
        self.skipping = false;
    }

    /// Takes one byte; at a delimiter, returns the frame it ended or why
    /// there was none.
    pub fn push(&mut self, byte: u8) -> Option<Result<Frame<'_>, FrameError>> {
        match self.step(byte)? {
            Ok(n) => Some(Frame::parse(&self.buf[..n])),
            Err(e) => Some(Err(e)),
        }
    }

    /// Takes bytes from the front of `input` up to and including the first
    /// delimiter that ends a frame or an error, and returns that; `None`
    /// once `input` is used up. Call it until it returns `None`:
    ///
    /// ```
    /// # use wasmbed_boardlink::*;
    /// let mut wire = [0u8; MAX_WIRE_LEN];
    /// let n = Request::Uptime.encode(7, &mut wire).unwrap();
    /// let mut deframer = Deframer::new();
    /// let mut input = &wire[..n];
    /// while let Some(frame) = deframer.feed(&mut input) {
    ///     let frame = frame.unwrap();
    ///     assert_eq!((frame.seq, Request::decode(&frame).unwrap()), (7, Request::Uptime));
    /// }
    /// ```
    pub fn feed(&mut self, input: &mut &[u8]) -> Option<Result<Frame<'_>, FrameError>> {
        let mut ended = None;
        while let Some((&byte, rest)) = input.split_first() {
            *input = rest;
            if let Some(r) = self.step(byte) {
                ended = Some(r);
                break;
            }
        }
        match ended? {
            Ok(n) => Some(Frame::parse(&self.buf[..n])),
            Err(e) => Some(Err(e)),
        }
    }

    /// Returns, at a delimiter, the length of the COBS-decoded frame now at
    /// the start of the buffer.
    fn step(&mut self, byte: u8) -> Option<Result<usize, FrameError>> {
        if byte == 0 {
            let len = core::mem::take(&mut self.len);
            if core::mem::take(&mut self.skipping) || len == 0 {
                return None;
            }
            return Some(cobs::decode_in_place(&mut self.buf[..len]).map_err(FrameError::from));
        }
        if self.skipping {
            return None;
        }
        match self.buf.get_mut(self.len) {
            Some(slot) => {
                *slot = byte;
                self.len += 1;
                None
            }
            None => {
                self.len = 0;
                self.skipping = true;
                Some(Err(FrameError::Oversize { max: MAX_ENCODED_LEN }))
            }
        }
    }
}

/// Why a message could not be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The output buffer is too small ([`MAX_WIRE_LEN`] always suffices).
    NoRoom,
    /// The message would exceed [`MAX_MESSAGE_LEN`].
    MessageTooLong,
    /// A byte field exceeds its limit.
    DataTooLong {
        /// Bytes given.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoRoom => write!(f, "output buffer too small (a frame takes up to {MAX_WIRE_LEN} bytes)"),
            Self::MessageTooLong => write!(f, "message longer than {MAX_MESSAGE_LEN} bytes"),
            Self::DataTooLong { len, max } => write!(f, "{len} bytes of data exceed the limit of {max}"),
        }
    }
}

impl core::error::Error for EncodeError {}

impl From<CobsError> for EncodeError {
    fn from(_: CobsError) -> Self {
        // The encoder's only failure is running out of output.
        Self::NoRoom
    }
}

/// Writes one frame into an output buffer: leading delimiter, stuffed
/// header, message and CRC, trailing delimiter. Bytes are stuffed and
/// summed as they come, so no second buffer is needed.
#[derive(Debug)]
pub(crate) struct FrameWriter<'o> {
    enc: Encoder<'o>,
    crc: Crc32,
    message: usize,
}

impl<'o> FrameWriter<'o> {
    pub(crate) fn start(out: &'o mut [u8], kind: Kind, seq: u16) -> Result<Self, EncodeError> {
        let (first, rest) = out.split_first_mut().ok_or(EncodeError::NoRoom)?;
        *first = 0;
        let mut enc = Encoder::new(rest);
        enc.begin()?;
        let mut w = Self { enc, crc: Crc32::new(), message: 0 };
        let [hi, lo] = seq.to_be_bytes();
        for b in [VERSION, kind as u8, hi, lo] {
            w.raw(b)?;
        }
        Ok(w)
    }

    fn raw(&mut self, b: u8) -> Result<(), EncodeError> {
        self.crc.update(&[b]);
        self.enc.push(b).map_err(EncodeError::from)
    }

    pub(crate) fn u8(&mut self, b: u8) -> Result<(), EncodeError> {
        if self.message == MAX_MESSAGE_LEN {
            return Err(EncodeError::MessageTooLong);
        }
        self.message += 1;
        self.raw(b)
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        bytes.iter().try_for_each(|&b| self.u8(b))
    }

    /// Appends the CRC and the trailing delimiter; returns the frame's
    /// length on the wire.
    pub(crate) fn finish(mut self) -> Result<usize, EncodeError> {
        for b in self.crc.finish().to_be_bytes() {
            self.enc.push(b)?;
        }
        let (out, n) = self.enc.finish();
        *out.get_mut(n).ok_or(EncodeError::NoRoom)? = 0;
        Ok(n + 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_fit_a_small_board() {
        assert_eq!(MAX_FRAME_LEN, 264);
        assert_eq!(MAX_ENCODED_LEN, 266);
        assert_eq!(MAX_WIRE_LEN, 268);
    }

    #[test]
    fn crc_is_checked_before_the_version() {
        let mut raw = [VERSION + 1, 1, 0, 0, 0x02, 0, 0, 0, 0];
        let crc = crc32(&raw[..5]).to_be_bytes();
        raw[5..].copy_from_slice(&crc);
        assert_eq!(Frame::parse(&raw), Err(FrameError::Version { got: 2, expected: 1 }));
        raw[5] ^= 1;
        assert!(matches!(Frame::parse(&raw), Err(FrameError::Checksum { .. })));
    }
}
