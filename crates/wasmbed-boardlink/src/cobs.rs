//! Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999).
//!
//! An encoded block never contains 0x00, so 0x00 can delimit frames: a
//! receiver that lost its place drops bytes until the next 0x00 and starts
//! again. Each block is a code byte `n` (1..=255) followed by `n - 1`
//! non-zero bytes; a block with `n < 255` stands for those bytes and one
//! zero, except the last block, whose zero is not part of the data. The
//! encoder here writes no final `0x01` block after a last 255-code block
//! (the form of Wikipedia's examples); the decoder accepts both forms.
//!
//! Overhead: one byte per 254 bytes of data, plus one ([`max_encoded_len`]).

use core::fmt;

/// Bytes that `len` bytes of data occupy at most once encoded.
pub const fn max_encoded_len(len: usize) -> usize {
    len + len / 254 + 1
}

/// Why COBS bytes did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CobsError {
    /// A code byte of 0x00 inside the encoded data (0x00 only delimits).
    ZeroByte {
        /// Where the zero was.
        at: usize,
    },
    /// A code byte announces more bytes than the frame holds.
    Truncated {
        /// Where the code byte was.
        at: usize,
    },
    /// The output slice is too small for the result.
    NoRoom,
    /// Nothing to decode: even empty data encodes to one code byte.
    Empty,
}

impl fmt::Display for CobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroByte { at } => write!(f, "bad COBS: zero byte at offset {at}"),
            Self::Truncated { at } => write!(f, "bad COBS: code byte at offset {at} runs past the end"),
            Self::NoRoom => f.write_str("COBS output does not fit its buffer"),
            Self::Empty => f.write_str("bad COBS: no code byte"),
        }
    }
}

impl core::error::Error for CobsError {}

/// An encoder writing straight into `out`, fed a byte at a time, so a frame
/// is stuffed as it is written, without a second buffer.
#[derive(Debug)]
pub(crate) struct Encoder<'o> {
    out: &'o mut [u8],
    /// Next byte of `out` to write.
    pos: usize,
    /// Where the open block's code byte goes; `None` after a full block
    /// until the next byte opens one.
    code_at: Option<usize>,
    code: u8,
}

impl<'o> Encoder<'o> {
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        Self { out, pos: 0, code_at: None, code: 1 }
    }

    fn put(&mut self, byte: u8) -> Result<usize, CobsError> {
        let at = self.pos;
        *self.out.get_mut(at).ok_or(CobsError::NoRoom)? = byte;
        self.pos += 1;
        Ok(at)
    }

    fn open(&mut self) -> Result<usize, CobsError> {
        let at = self.put(0)?;
        self.code_at = Some(at);
        self.code = 1;
        Ok(at)
    }

    fn close(&mut self) {
        if let Some(at) = self.code_at.take()
            && let Some(slot) = self.out.get_mut(at)
        {
            *slot = self.code;
        }
    }

    /// Writes a raw (unencoded) byte.
    pub(crate) fn push(&mut self, byte: u8) -> Result<(), CobsError> {
        if self.code_at.is_none() {
            self.open()?;
        }
        if byte == 0 {
            self.close();
            self.open()?;
        } else {
            self.put(byte)?;
            self.code += 1;
            if self.code == 0xFF {
                self.close();
            }
        }
        Ok(())
    }

    /// Closes the last block; returns the output and the bytes written.
    pub(crate) fn finish(mut self) -> (&'o mut [u8], usize) {
        self.close();
        (self.out, self.pos)
    }

    /// Opens the first block even if no byte follows (empty data → `01`).
    pub(crate) fn begin(&mut self) -> Result<(), CobsError> {
        self.open().map(drop)
    }
}

/// Encodes `data` into `out` (no delimiter); returns the length written.
pub fn encode(data: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    let mut enc = Encoder::new(out);
    enc.begin()?;
    for &b in data {
        enc.push(b)?;
    }
    Ok(enc.finish().1)
}

/// Decodes the COBS bytes in `buf` in place (the result is never longer
/// than its encoding); returns the decoded length. Never panics.
pub fn decode_in_place(buf: &mut [u8]) -> Result<usize, CobsError> {
    if buf.is_empty() {
        return Err(CobsError::Empty);
    }
    let (mut read, mut write) = (0usize, 0usize);
    while let Some(&code) = buf.get(read) {
        if code == 0 {
            return Err(CobsError::ZeroByte { at: read });
        }
        let start = read + 1;
        let end = start + usize::from(code) - 1;
        let block = buf.get(start..end).ok_or(CobsError::Truncated { at: read })?;
        if let Some(at) = block.iter().position(|&b| b == 0) {
            return Err(CobsError::ZeroByte { at: start + at });
        }
        // `write < start` always holds, so the copy moves bytes left.
        buf.copy_within(start..end, write);
        write += end - start;
        read = end;
        if code != 0xFF && read < buf.len() {
            *buf.get_mut(write).ok_or(CobsError::NoRoom)? = 0;
            write += 1;
        }
    }
    Ok(write)
}

/// Decodes `src` into `out`; returns the decoded length.
pub fn decode(src: &[u8], out: &mut [u8]) -> Result<usize, CobsError> {
    let dst = out.get_mut(..src.len()).ok_or(CobsError::NoRoom)?;
    dst.copy_from_slice(src);
    decode_in_place(dst)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;

    fn enc(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; max_encoded_len(data.len())];
        let n = encode(data, &mut out).expect("fits");
        out.truncate(n);
        out
    }

    fn dec(bytes: &[u8]) -> Result<Vec<u8>, CobsError> {
        let mut buf = bytes.to_vec();
        let n = decode_in_place(&mut buf)?;
        buf.truncate(n);
        Ok(buf)
    }

    fn round_trip(data: &[u8]) -> Vec<u8> {
        let e = enc(data);
        assert!(!e.contains(&0), "encoding holds no zero");
        assert!(e.len() <= max_encoded_len(data.len()));
        assert_eq!(dec(&e).expect("decodes"), data);
        e
    }

    #[test]
    fn empty_data_is_one_code_byte() {
        assert_eq!(round_trip(&[]), [0x01]);
        assert_eq!(dec(&[]), Err(CobsError::Empty));
    }

    #[test]
    fn zeros_become_code_ones() {
        assert_eq!(round_trip(&[0]), [0x01, 0x01]);
        assert_eq!(round_trip(&[0, 0]), [0x01, 0x01, 0x01]);
        assert_eq!(round_trip(&[0; 300]), [0x01; 301]);
    }

    #[test]
    fn the_examples_of_the_paper_and_wikipedia() {
        assert_eq!(round_trip(&[0x11, 0x22, 0x00, 0x33]), [0x03, 0x11, 0x22, 0x02, 0x33]);
        assert_eq!(round_trip(&[0x11, 0x00, 0x00, 0x00]), [0x02, 0x11, 0x01, 0x01, 0x01]);
        assert_eq!(round_trip(&[0x00, 0x11, 0x00]), [0x01, 0x02, 0x11, 0x01]);
    }

    #[test]
    fn a_run_of_254_non_zero_bytes_is_one_full_block() {
        let data: Vec<u8> = (1..=254).map(|i| i as u8).collect();
        let e = round_trip(&data);
        assert_eq!(e.len(), 255);
        assert_eq!(e[0], 0xFF);
        // The form with a final 01 block decodes to the same data.
        let mut long = e.clone();
        long.push(0x01);
        assert_eq!(dec(&long).expect("decodes"), data);
    }

    #[test]
    fn a_run_of_255_non_zero_bytes_spills_into_a_second_block() {
        let data: Vec<u8> = (0..255).map(|i| (i % 255 + 1) as u8).collect();
        let e = round_trip(&data);
        assert_eq!(e.len(), 257);
        assert_eq!((e[0], e[255], e[256]), (0xFF, 0x02, data[254]));
    }

    #[test]
    fn a_full_block_followed_by_a_zero() {
        let mut data = vec![0x42u8; 254];
        data.push(0);
        data.push(0x43);
        let e = round_trip(&data);
        assert_eq!(&e[255..], [0x01, 0x02, 0x43]);
    }

    #[test]
    fn broken_encodings_are_refused() {
        assert_eq!(dec(&[0x05, 0x11, 0x22]), Err(CobsError::Truncated { at: 0 }));
        assert_eq!(dec(&[0x02, 0x11, 0x00, 0x01]), Err(CobsError::ZeroByte { at: 2 }));
        assert_eq!(dec(&[0x03, 0x00, 0x11]), Err(CobsError::ZeroByte { at: 1 }));
    }

    #[test]
    fn the_encoder_refuses_a_short_buffer() {
        let mut out = [0u8; 3];
        assert_eq!(encode(&[1, 2, 3], &mut out), Err(CobsError::NoRoom));
    }
}
