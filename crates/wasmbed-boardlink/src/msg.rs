//! Messages: a tag byte, then fixed fields in order. Integers are big-endian;
//! `bool` is 0 or 1; byte strings are a length byte and the bytes. Nothing
//! is optional and nothing may follow the last field, so each message has
//! exactly one encoding. Decoding borrows byte strings from the frame.

use core::fmt;

use crate::frame::{EncodeError, Frame, FrameWriter, Kind};

/// Bytes of a challenge the gateway sends in [`Request::Hello`].
pub const CHALLENGE_LEN: usize = 16;

/// Bytes of the HMAC-SHA-256 a board answers a challenge with.
pub const MAC_LEN: usize = 32;

/// Most bytes one UART write, UART read or SPI transfer carries.
pub const MAX_DATA_LEN: usize = 240;

/// Longest board id (the device id of its bundle).
pub const MAX_BOARD_ID_LEN: usize = 32;

/// Gateway → board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request<'a> {
    /// Opens a session: the board answers [`Response::Proof`]. Tag 0x01.
    Hello {
        /// Fresh random bytes from the gateway.
        challenge: [u8; CHALLENGE_LEN],
    },
    /// Milliseconds since the board started: [`Response::Uptime`]. Tag 0x02.
    Uptime,
    /// Switches an LED: [`Response::Done`]. Tag 0x03.
    LedSet {
        /// LED number on the board.
        led: u8,
        /// Lit or not.
        on: bool,
    },
    /// Reads an LED back: [`Response::Led`]. Tag 0x04.
    LedGet {
        /// LED number on the board.
        led: u8,
    },
    /// Queues bytes on a UART: [`Response::Written`]. Tag 0x05.
    UartWrite {
        /// UART number (USART1 carries this link and is not one).
        port: u8,
        /// At most [`MAX_DATA_LEN`] bytes.
        bytes: &'a [u8],
    },
    /// Takes received bytes from a UART: [`Response::Data`]. Tag 0x06.
    UartRead {
        /// UART number.
        port: u8,
        /// Most bytes wanted, at most [`MAX_DATA_LEN`].
        max: u8,
    },
    /// Clocks bytes out on an SPI bus and returns those clocked in:
    /// [`Response::Data`] of the same length. Tag 0x07.
    SpiTransfer {
        /// SPI bus number.
        bus: u8,
        /// At most [`MAX_DATA_LEN`] bytes.
        bytes: &'a [u8],
    },
    /// Starts (or restarts) a timer; it reports [`Event::TimerFired`].
    /// [`Response::Done`]. Tag 0x08.
    TimerStart {
        /// Timer number.
        timer: u8,
        /// Period in milliseconds, at least 1.
        period_ms: u32,
        /// Fires every period, or once.
        periodic: bool,
    },
    /// Stops a timer: [`Response::Done`]. Tag 0x09.
    TimerStop {
        /// Timer number.
        timer: u8,
    },
}

/// Where an LED's reported state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Readback {
    /// The firmware's record of what it last wrote: QEMU does not model the
    /// STM32F100's GPIO, so on that board nothing can be read back.
    Shadow = 0,
    /// Read from the pin.
    Pin = 1,
}

/// Why a board did not do what was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u8)]
pub enum ErrorCode {
    /// The request did not decode.
    Malformed = 1,
    /// No session: the gateway must send [`Request::Hello`] first.
    NotAuthenticated = 2,
    /// No such LED, UART, SPI bus or timer on this board.
    NoSuchPeripheral = 3,
    /// The peripheral is busy (a transmit buffer is full).
    Busy = 4,
    /// The peripheral reported a fault.
    Hardware = 5,
    /// The board does not serve this request.
    Unsupported = 6,
    /// A value is out of range (a zero timer period).
    BadArgument = 7,
}

impl ErrorCode {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Malformed,
            2 => Self::NotAuthenticated,
            3 => Self::NoSuchPeripheral,
            4 => Self::Busy,
            5 => Self::Hardware,
            6 => Self::Unsupported,
            7 => Self::BadArgument,
            _ => return None,
        })
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed request",
            Self::NotAuthenticated => "no authenticated session",
            Self::NoSuchPeripheral => "no such peripheral",
            Self::Busy => "peripheral busy",
            Self::Hardware => "peripheral fault",
            Self::Unsupported => "request not supported by this board",
            Self::BadArgument => "argument out of range",
        })
    }
}

/// Board → gateway, answering the request with the same sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// Answers [`Request::Hello`]: the board's id and
    /// [`proof`](crate::proof)`(key, challenge, board_id)`. Tag 0x81.
    Proof {
        /// The board's id, at most [`MAX_BOARD_ID_LEN`] bytes.
        board_id: &'a [u8],
        /// HMAC-SHA-256 under the board's key.
        mac: [u8; MAC_LEN],
    },
    /// Answers [`Request::Uptime`]. Tag 0x82.
    Uptime {
        /// Milliseconds since the board started.
        ms: u64,
    },
    /// The request was carried out. Tag 0x83.
    Done,
    /// Answers [`Request::LedGet`]. Tag 0x84.
    Led {
        /// LED number.
        led: u8,
        /// Lit or not.
        on: bool,
        /// Whether `on` was read from the pin or is the firmware's shadow.
        readback: Readback,
    },
    /// Answers [`Request::UartWrite`]: bytes queued (possibly fewer than sent). Tag 0x85.
    Written {
        /// Bytes accepted.
        count: u8,
    },
    /// Answers [`Request::UartRead`] and [`Request::SpiTransfer`]. Tag 0x86.
    Data {
        /// At most [`MAX_DATA_LEN`] bytes.
        bytes: &'a [u8],
    },
    /// The request was refused. Tag 0x87.
    Error(ErrorCode),
}

/// Board → gateway, unasked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A timer started by [`Request::TimerStart`] fired. Tag 0xC1.
    TimerFired {
        /// Timer number.
        timer: u8,
        /// Times it fired since it was started (so a lost event shows).
        count: u32,
    },
}

/// Why a frame's message did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// A message of one kind was decoded as another.
    WrongKind {
        /// The kind asked for.
        expected: Kind,
        /// The frame's kind.
        got: Kind,
    },
    /// The frame holds no message at all.
    Empty,
    /// The tag names no message of this kind.
    UnknownTag {
        /// The frame's kind.
        kind: Kind,
        /// The tag.
        tag: u8,
    },
    /// The message ends inside a field.
    Truncated,
    /// Bytes follow the last field.
    TrailingBytes {
        /// How many.
        extra: usize,
    },
    /// A field holds a value it cannot take.
    BadValue {
        /// The field.
        field: &'static str,
        /// Its value (the first byte of it).
        value: u8,
    },
    /// A byte string is longer than its limit.
    DataTooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongKind { expected, got } => write!(f, "expected a {expected} frame, got a {got} frame"),
            Self::Empty => f.write_str("frame holds no message"),
            Self::UnknownTag { kind, tag } => write!(f, "unknown {kind} tag {tag:#04x}"),
            Self::Truncated => f.write_str("message ends inside a field"),
            Self::TrailingBytes { extra } => write!(f, "{extra} bytes after the last field"),
            Self::BadValue { field, value } => write!(f, "field {field} cannot be {value}"),
            Self::DataTooLong { len, max } => write!(f, "{len} bytes of data exceed the limit of {max}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Fields out of a message, never reading past its end.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn bool(&mut self, field: &'static str) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            value => Err(DecodeError::BadValue { field, value }),
        }
    }

    fn data(&mut self, max: usize) -> Result<&'a [u8], DecodeError> {
        let len = usize::from(self.u8()?);
        if len > max {
            return Err(DecodeError::DataTooLong { len, max });
        }
        self.take(len)
    }

    fn end<T>(self, value: T) -> Result<T, DecodeError> {
        match self.rest.len() {
            0 => Ok(value),
            extra => Err(DecodeError::TrailingBytes { extra }),
        }
    }
}

/// Checks the kind and splits off the tag.
fn open<'a>(frame: &Frame<'a>, expected: Kind) -> Result<(u8, Reader<'a>), DecodeError> {
    if frame.kind != expected {
        return Err(DecodeError::WrongKind { expected, got: frame.kind });
    }
    let (&tag, rest) = frame.message.split_first().ok_or(DecodeError::Empty)?;
    Ok((tag, Reader { rest }))
}

fn put_data(w: &mut FrameWriter<'_>, bytes: &[u8], max: usize) -> Result<(), EncodeError> {
    if bytes.len() > max {
        return Err(EncodeError::DataTooLong { len: bytes.len(), max });
    }
    w.u8(bytes.len() as u8)?;
    w.bytes(bytes)
}

impl<'a> Request<'a> {
    /// Decodes a request frame's message. Never panics.
    pub fn decode(frame: &Frame<'a>) -> Result<Self, DecodeError> {
        let (tag, mut r) = open(frame, Kind::Request)?;
        let msg = match tag {
            0x01 => Self::Hello { challenge: r.array()? },
            0x02 => Self::Uptime,
            0x03 => Self::LedSet { led: r.u8()?, on: r.bool("on")? },
            0x04 => Self::LedGet { led: r.u8()? },
            0x05 => Self::UartWrite { port: r.u8()?, bytes: r.data(MAX_DATA_LEN)? },
            0x06 => {
                let port = r.u8()?;
                let max = r.u8()?;
                if usize::from(max) > MAX_DATA_LEN {
                    return Err(DecodeError::BadValue { field: "max", value: max });
                }
                Self::UartRead { port, max }
            }
            0x07 => Self::SpiTransfer { bus: r.u8()?, bytes: r.data(MAX_DATA_LEN)? },
            0x08 => Self::TimerStart { timer: r.u8()?, period_ms: r.u32()?, periodic: r.bool("periodic")? },
            0x09 => Self::TimerStop { timer: r.u8()? },
            tag => return Err(DecodeError::UnknownTag { kind: Kind::Request, tag }),
        };
        r.end(msg)
    }

    /// Writes this request as one frame numbered `seq` into `out` (at most
    /// [`MAX_WIRE_LEN`](crate::MAX_WIRE_LEN) bytes); returns the bytes written.
    pub fn encode(&self, seq: u16, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = FrameWriter::start(out, Kind::Request, seq)?;
        match *self {
            Self::Hello { challenge } => {
                w.u8(0x01)?;
                w.bytes(&challenge)?;
            }
            Self::Uptime => w.u8(0x02)?,
            Self::LedSet { led, on } => w.bytes(&[0x03, led, u8::from(on)])?,
            Self::LedGet { led } => w.bytes(&[0x04, led])?,
            Self::UartWrite { port, bytes } => {
                w.bytes(&[0x05, port])?;
                put_data(&mut w, bytes, MAX_DATA_LEN)?;
            }
            Self::UartRead { port, max } => {
                if usize::from(max) > MAX_DATA_LEN {
                    return Err(EncodeError::DataTooLong { len: usize::from(max), max: MAX_DATA_LEN });
                }
                w.bytes(&[0x06, port, max])?;
            }
            Self::SpiTransfer { bus, bytes } => {
                w.bytes(&[0x07, bus])?;
                put_data(&mut w, bytes, MAX_DATA_LEN)?;
            }
            Self::TimerStart { timer, period_ms, periodic } => {
                w.bytes(&[0x08, timer])?;
                w.bytes(&period_ms.to_be_bytes())?;
                w.u8(u8::from(periodic))?;
            }
            Self::TimerStop { timer } => w.bytes(&[0x09, timer])?,
        }
        w.finish()
    }
}

impl<'a> Response<'a> {
    /// Decodes a response frame's message. Never panics.
    pub fn decode(frame: &Frame<'a>) -> Result<Self, DecodeError> {
        let (tag, mut r) = open(frame, Kind::Response)?;
        let msg = match tag {
            0x81 => Self::Proof { board_id: r.data(MAX_BOARD_ID_LEN)?, mac: r.array()? },
            0x82 => Self::Uptime { ms: r.u64()? },
            0x83 => Self::Done,
            0x84 => {
                let led = r.u8()?;
                let on = r.bool("on")?;
                let readback = match r.u8()? {
                    0 => Readback::Shadow,
                    1 => Readback::Pin,
                    value => return Err(DecodeError::BadValue { field: "readback", value }),
                };
                Self::Led { led, on, readback }
            }
            0x85 => Self::Written { count: r.u8()? },
            0x86 => Self::Data { bytes: r.data(MAX_DATA_LEN)? },
            0x87 => {
                let value = r.u8()?;
                Self::Error(ErrorCode::from_byte(value).ok_or(DecodeError::BadValue { field: "code", value })?)
            }
            tag => return Err(DecodeError::UnknownTag { kind: Kind::Response, tag }),
        };
        r.end(msg)
    }

    /// Writes this response as one frame numbered `seq` into `out`; returns
    /// the bytes written.
    pub fn encode(&self, seq: u16, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = FrameWriter::start(out, Kind::Response, seq)?;
        match *self {
            Self::Proof { board_id, mac } => {
                w.u8(0x81)?;
                put_data(&mut w, board_id, MAX_BOARD_ID_LEN)?;
                w.bytes(&mac)?;
            }
            Self::Uptime { ms } => {
                w.u8(0x82)?;
                w.bytes(&ms.to_be_bytes())?;
            }
            Self::Done => w.u8(0x83)?,
            Self::Led { led, on, readback } => w.bytes(&[0x84, led, u8::from(on), readback as u8])?,
            Self::Written { count } => w.bytes(&[0x85, count])?,
            Self::Data { bytes } => {
                w.u8(0x86)?;
                put_data(&mut w, bytes, MAX_DATA_LEN)?;
            }
            Self::Error(code) => w.bytes(&[0x87, code as u8])?,
        }
        w.finish()
    }
}

impl Event {
    /// Decodes an event frame's message. Never panics.
    pub fn decode(frame: &Frame<'_>) -> Result<Self, DecodeError> {
        let (tag, mut r) = open(frame, Kind::Event)?;
        let msg = match tag {
            0xC1 => Self::TimerFired { timer: r.u8()?, count: r.u32()? },
            tag => return Err(DecodeError::UnknownTag { kind: Kind::Event, tag }),
        };
        r.end(msg)
    }

    /// Writes this event as one frame numbered `seq` into `out`; returns the
    /// bytes written.
    pub fn encode(&self, seq: u16, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = FrameWriter::start(out, Kind::Event, seq)?;
        match *self {
            Self::TimerFired { timer, count } => {
                w.bytes(&[0xC1, timer])?;
                w.bytes(&count.to_be_bytes())?;
            }
        }
        w.finish()
    }
}
