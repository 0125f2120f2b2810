//! Framing: a length prefix, a version byte, then one CBOR message.

use alloc::vec::Vec;
use core::fmt;

use crate::msg::{DeviceMsg, GatewayMsg};

/// The only protocol version this crate speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest frame body (version byte + message) either side accepts.
///
/// Deploy chunks are sized so a chunk frame stays below this; devices with
/// 1 KiB TLS fragments reassemble records, not frames, so this bounds RAM.
pub const MAX_FRAME_LEN: usize = 16 * 1024;

/// Bytes before the message: 4 length bytes and the version byte.
pub const FRAME_HEADER_LEN: usize = 5;

/// Why a frame was refused. Each variant ends the session that sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FrameError {
    /// The length prefix exceeds the reader's limit; nothing was buffered.
    TooLarge {
        /// The length the peer announced.
        len: u32,
        /// The limit in force.
        max: u32,
    },
    /// A zero-length frame: there is not even a version byte.
    Empty,
    /// The version byte names a protocol this side does not speak.
    UnsupportedVersion(u8),
    /// The CBOR message did not decode into a known message.
    Malformed,
    /// The message could not be encoded (only on the sending side).
    Encode,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len, max } => write!(f, "frame of {len} bytes exceeds limit of {max}"),
            Self::Empty => f.write_str("empty frame"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported protocol version {v}"),
            Self::Malformed => f.write_str("malformed message"),
            Self::Encode => f.write_str("message could not be encoded"),
        }
    }
}

impl core::error::Error for FrameError {}

impl FrameError {
    /// The error code to report to the peer before closing the session.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            Self::TooLarge { .. } => crate::ErrorCode::FrameTooLarge,
            Self::UnsupportedVersion(_) => crate::ErrorCode::UnsupportedVersion,
            _ => crate::ErrorCode::Malformed,
        }
    }
}

/// Appends one frame holding `msg` to `out`.
pub fn encode_frame<M: minicbor::Encode<()>>(msg: &M, out: &mut Vec<u8>) -> Result<(), FrameError> {
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0, 0, PROTOCOL_VERSION]);
    minicbor::encode(msg, &mut *out).map_err(|_| FrameError::Encode)?;
    let body = out.len() - start - 4;
    if body > MAX_FRAME_LEN {
        out.truncate(start);
        return Err(FrameError::TooLarge { len: body as u32, max: MAX_FRAME_LEN as u32 });
    }
    out[start..start + 4].copy_from_slice(&(body as u32).to_be_bytes());
    Ok(())
}

/// Decodes a device → gateway message from a frame payload.
pub fn decode_device_msg(payload: &[u8]) -> Result<DeviceMsg, FrameError> {
    decode_exact(payload)
}

/// Decodes a gateway → device message from a frame payload.
pub fn decode_gateway_msg(payload: &[u8]) -> Result<GatewayMsg, FrameError> {
    decode_exact(payload)
}

/// Decodes one message and refuses trailing bytes, so one frame is one message.
fn decode_exact<T: for<'b> minicbor::Decode<'b, ()>>(payload: &[u8]) -> Result<T, FrameError> {
    let mut d = minicbor::Decoder::new(payload);
    let msg = d.decode().map_err(|_| FrameError::Malformed)?;
    if d.position() != payload.len() {
        return Err(FrameError::Malformed);
    }
    Ok(msg)
}

/// Reassembles frames from a byte stream (TLS records arrive in any split).
///
/// Memory held is bounded by the limit given to [`FrameReader::new`] plus
/// one header: a length above the limit is refused as soon as its 4 bytes
/// have arrived, before any of the body is kept.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    max: usize,
}

impl FrameReader {
    /// A reader refusing frames whose body exceeds `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { buf: Vec::new(), max }
    }

    /// Like [`new`](Self::new), with `capacity` bytes reserved now: a device
    /// that feeds it small pieces never grows the buffer later, when its
    /// heap may be full of apps.
    pub fn with_capacity(max: usize, capacity: usize) -> Self {
        Self { buf: Vec::with_capacity(capacity), max }
    }

    /// Buffers bytes from the stream; fails at once on an oversized header.
    pub fn push(&mut self, bytes: &[u8]) -> Result<(), FrameError> {
        self.buf.extend_from_slice(bytes);
        self.check_header()
    }

    fn check_header(&self) -> Result<(), FrameError> {
        if let Some(len) = self.announced_len() {
            if len as usize > self.max {
                return Err(FrameError::TooLarge { len, max: self.max as u32 });
            }
            if len == 0 {
                return Err(FrameError::Empty);
            }
        }
        Ok(())
    }

    fn announced_len(&self) -> Option<u32> {
        let head: [u8; 4] = self.buf.get(..4)?.try_into().ok()?;
        Some(u32::from_be_bytes(head))
    }

    /// Bytes buffered but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Takes the next complete frame's message bytes, if one has arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        self.check_header()?;
        let Some(len) = self.announced_len() else { return Ok(None) };
        let end = 4 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let version = self.buf[4];
        if version != PROTOCOL_VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let payload = self.buf[FRAME_HEADER_LEN..end].to_vec();
        self.buf.drain(..end);
        self.check_header()?;
        Ok(Some(payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::*;
    use alloc::vec;

    fn hb() -> DeviceMsg {
        DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 1, free_memory: 2, apps: vec![] })
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let mut r = FrameReader::new(100);
        let err = r.push(&101u32.to_be_bytes()).unwrap_err();
        assert_eq!(err, FrameError::TooLarge { len: 101, max: 100 });
        assert_eq!(r.buffered(), 4);
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut wire = vec![];
        encode_frame(&hb(), &mut wire).unwrap();
        wire[4] = 9;
        let mut r = FrameReader::new(MAX_FRAME_LEN);
        r.push(&wire).unwrap();
        assert_eq!(r.next_frame(), Err(FrameError::UnsupportedVersion(9)));
    }

    #[test]
    fn frames_split_anywhere_reassemble() {
        let mut wire = vec![];
        encode_frame(&hb(), &mut wire).unwrap();
        encode_frame(&hb(), &mut wire).unwrap();
        for split in 0..wire.len() {
            let mut r = FrameReader::new(MAX_FRAME_LEN);
            r.push(&wire[..split]).unwrap();
            let mut got = vec![];
            while let Some(f) = r.next_frame().unwrap() {
                got.push(f);
            }
            r.push(&wire[split..]).unwrap();
            while let Some(f) = r.next_frame().unwrap() {
                got.push(f);
            }
            assert_eq!(got.len(), 2, "split at {split}");
            for f in got {
                assert_eq!(decode_device_msg(&f).unwrap(), hb());
            }
        }
    }

    #[test]
    fn truncated_and_trailing_bytes_are_malformed() {
        let mut wire = vec![];
        encode_frame(&hb(), &mut wire).unwrap();
        let payload = &wire[FRAME_HEADER_LEN..];
        assert_eq!(decode_device_msg(&payload[..payload.len() - 1]), Err(FrameError::Malformed));
        let mut long = payload.to_vec();
        long.push(0);
        assert_eq!(decode_device_msg(&long), Err(FrameError::Malformed));
        assert_eq!(decode_device_msg(&[0xff, 0x00, 0x13]), Err(FrameError::Malformed));
    }

    #[test]
    fn zero_length_frame_is_refused() {
        let mut r = FrameReader::new(MAX_FRAME_LEN);
        assert_eq!(r.push(&[0, 0, 0, 0]), Err(FrameError::Empty));
    }
}
