//! What the host programs into an attached board before it boots: the
//! board's id and the key it proves with, as one fixed-layout record.
//!
//! ```text
//!  offset  bytes
//!       0      4  magic "WBAP"
//!       4      1  version (1)
//!       5      1  board id length, 1..=32
//!       6     32  board id, zero-padded
//!      38     32  key
//!      70      4  CRC-32/ISO-HDLC (BE) of bytes 0..70
//!      74         (end; the rest of the flash page is not read)
//! ```
//!
//! The host writes it with [`Provisioning::encode`] and QEMU's loader
//! (`-device loader,file=...,addr=...,force-raw=on`) programs it into the
//! board's provisioning page; the firmware reads it with
//! [`Provisioning::decode`], which never panics and says what is wrong
//! ([`ProvisioningError`]), so a board with no or a damaged record refuses
//! to serve and can say why. As for frames, the checksum is checked before
//! the version, so a damaged version byte reads as damage.
//!
//! ```
//! use wasmbed_boardlink::*;
//! let p = Provisioning::new(BoardId::new(b"vld-1").unwrap(), BoardKey::new([7; 32]));
//! let page = p.encode();
//! assert_eq!(Provisioning::decode(&page), Ok(p));
//! assert_eq!(Provisioning::decode(&[0xFF; 1024]), Err(ProvisioningError::Blank));
//! ```

use core::fmt;

use crate::auth::{BoardId, BoardKey, KEY_LEN};
use crate::crc::crc32;
use crate::msg::MAX_BOARD_ID_LEN;

/// First bytes of a provisioning record.
pub const PROVISIONING_MAGIC: [u8; 4] = *b"WBAP";

/// The record layout this crate writes and reads.
pub const PROVISIONING_VERSION: u8 = 1;

/// Bytes of a provisioning record.
pub const PROVISIONING_LEN: usize = 4 + 1 + 1 + MAX_BOARD_ID_LEN + KEY_LEN + 4;

const VERSION_AT: usize = 4;
const ID_LEN_AT: usize = 5;
const ID_AT: usize = 6;
const KEY_AT: usize = ID_AT + MAX_BOARD_ID_LEN;
const CRC_AT: usize = KEY_AT + KEY_LEN;

/// A board's provisioning: who it is and the key it proves that with.
/// `Debug` does not print the key.
#[derive(Debug, Clone)]
pub struct Provisioning {
    /// The board's id (the platform's device id).
    pub board: BoardId,
    /// The key shared with the platform, for [`proof`](crate::proof).
    pub key: BoardKey,
}

impl PartialEq for Provisioning {
    fn eq(&self, other: &Self) -> bool {
        self.board == other.board && self.key.bytes() == other.key.bytes()
    }
}

impl Eq for Provisioning {}

/// Why a provisioning record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProvisioningError {
    /// Fewer bytes than a record.
    Truncated {
        /// Bytes given.
        len: usize,
    },
    /// The record's place holds erased flash (all 0xFF) or nothing at all
    /// (all 0x00): the host never programmed it.
    Blank,
    /// The bytes do not start with [`PROVISIONING_MAGIC`]: something else
    /// is there.
    Magic([u8; 4]),
    /// The CRC-32 does not match: the record is damaged.
    Checksum {
        /// The CRC the record carries.
        carried: u32,
        /// The CRC of its bytes.
        computed: u32,
    },
    /// An intact record of a layout this side does not read.
    Version {
        /// The record's version.
        got: u8,
        /// [`PROVISIONING_VERSION`].
        expected: u8,
    },
    /// The board id's length is 0 or above [`MAX_BOARD_ID_LEN`].
    BoardIdLength(u8),
    /// Bytes after the board id inside its field are not zero.
    BoardIdPadding,
}

impl fmt::Display for ProvisioningError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { len } => {
                write!(f, "truncated provisioning: {len} bytes, a record takes {PROVISIONING_LEN}")
            }
            Self::Blank => f.write_str("no provisioning: the page is blank, the host never programmed it"),
            Self::Magic(m) => write!(f, "no provisioning record: the page starts {m:02x?}, not \"WBAP\""),
            Self::Checksum { carried, computed } => {
                write!(f, "damaged provisioning: checksum {carried:#010x} carried, {computed:#010x} computed")
            }
            Self::Version { got, expected } => {
                write!(f, "provisioning of layout version {got}; this firmware reads version {expected}")
            }
            Self::BoardIdLength(n) => write!(f, "provisioning names a board id of {n} bytes (1 to {MAX_BOARD_ID_LEN})"),
            Self::BoardIdPadding => f.write_str("provisioning's board id field has bytes after the id"),
        }
    }
}

impl core::error::Error for ProvisioningError {}

impl Provisioning {
    /// A record for `board` holding `key`.
    pub fn new(board: BoardId, key: BoardKey) -> Self {
        Self { board, key }
    }

    /// The record's bytes, ready to program.
    pub fn encode(&self) -> [u8; PROVISIONING_LEN] {
        let mut out = [0; PROVISIONING_LEN];
        let id = self.board.as_bytes();
        out[..VERSION_AT].copy_from_slice(&PROVISIONING_MAGIC);
        out[VERSION_AT] = PROVISIONING_VERSION;
        // A BoardId is at most MAX_BOARD_ID_LEN (32) bytes.
        out[ID_LEN_AT] = id.len() as u8;
        out[ID_AT..ID_AT + id.len()].copy_from_slice(id);
        out[KEY_AT..CRC_AT].copy_from_slice(self.key.bytes());
        let crc = crc32(&out[..CRC_AT]);
        out[CRC_AT..].copy_from_slice(&crc.to_be_bytes());
        out
    }

    /// Reads the record at the start of `bytes` (a whole flash page may be
    /// passed; what follows the record is ignored). Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProvisioningError> {
        let Some(record) = bytes.get(..PROVISIONING_LEN) else {
            return Err(ProvisioningError::Truncated { len: bytes.len() });
        };
        let (body, crc) = record.split_at(CRC_AT);
        let magic = [body[0], body[1], body[2], body[3]];
        if magic != PROVISIONING_MAGIC {
            if record.iter().all(|&b| b == 0xFF) || record.iter().all(|&b| b == 0) {
                return Err(ProvisioningError::Blank);
            }
            return Err(ProvisioningError::Magic(magic));
        }
        let carried = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        let computed = crc32(body);
        if carried != computed {
            return Err(ProvisioningError::Checksum { carried, computed });
        }
        if body[VERSION_AT] != PROVISIONING_VERSION {
            return Err(ProvisioningError::Version { got: body[VERSION_AT], expected: PROVISIONING_VERSION });
        }
        let id_len = body[ID_LEN_AT];
        let field = &body[ID_AT..KEY_AT];
        let (id, padding) = match usize::from(id_len) {
            0 => return Err(ProvisioningError::BoardIdLength(id_len)),
            n => field.split_at_checked(n).ok_or(ProvisioningError::BoardIdLength(id_len))?,
        };
        if padding.iter().any(|&b| b != 0) {
            return Err(ProvisioningError::BoardIdPadding);
        }
        let board = BoardId::new(id).map_err(|_| ProvisioningError::BoardIdLength(id_len))?;
        let mut key = [0; KEY_LEN];
        key.copy_from_slice(&body[KEY_AT..CRC_AT]);
        Ok(Self { board, key: BoardKey::new(key) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Provisioning {
        Provisioning::new(BoardId::new(b"vld-1").expect("short id"), BoardKey::new([0x5c; 32]))
    }

    /// Re-seals `record` with a correct CRC after an edit.
    fn reseal(mut record: [u8; PROVISIONING_LEN]) -> [u8; PROVISIONING_LEN] {
        let crc = crc32(&record[..CRC_AT]);
        record[CRC_AT..].copy_from_slice(&crc.to_be_bytes());
        record
    }

    #[test]
    fn a_record_round_trips_alone_and_at_the_start_of_a_page() {
        let p = sample();
        let record = p.encode();
        assert_eq!(record.len(), 74);
        assert_eq!(Provisioning::decode(&record), Ok(p.clone()));
        let mut page = [0xFF; 1024];
        page[..PROVISIONING_LEN].copy_from_slice(&record);
        assert_eq!(Provisioning::decode(&page), Ok(p));
        let longest = Provisioning::new(BoardId::new(&[b'x'; 32]).expect("32 bytes fit"), BoardKey::new([1; 32]));
        assert_eq!(Provisioning::decode(&longest.encode()), Ok(longest));
    }

    #[test]
    fn truncated_records_are_refused_at_every_length() {
        let record = sample().encode();
        for len in 0..PROVISIONING_LEN {
            assert_eq!(Provisioning::decode(&record[..len]), Err(ProvisioningError::Truncated { len }));
        }
    }

    #[test]
    fn blank_flash_is_missing_provisioning_not_damage() {
        assert_eq!(Provisioning::decode(&[0xFF; PROVISIONING_LEN]), Err(ProvisioningError::Blank));
        assert_eq!(Provisioning::decode(&[0; 1024]), Err(ProvisioningError::Blank));
        let mut other = [0xFF; PROVISIONING_LEN];
        other[..4].copy_from_slice(b"WBSD");
        assert_eq!(Provisioning::decode(&other), Err(ProvisioningError::Magic(*b"WBSD")));
    }

    #[test]
    fn every_flipped_bit_is_refused() {
        let record = sample().encode();
        for byte in 0..PROVISIONING_LEN {
            for bit in 0..8 {
                let mut bad = record;
                bad[byte] ^= 1 << bit;
                let e = Provisioning::decode(&bad).expect_err("a flipped bit is caught");
                assert!(
                    matches!(e, ProvisioningError::Checksum { .. } | ProvisioningError::Magic(_)),
                    "byte {byte} bit {bit}: {e:?}"
                );
            }
        }
    }

    #[test]
    fn intact_records_with_bad_fields_name_the_field() {
        let mut r = sample().encode();
        r[VERSION_AT] = 2;
        assert_eq!(Provisioning::decode(&reseal(r)), Err(ProvisioningError::Version { got: 2, expected: 1 }));
        for n in [0, 33, 255] {
            let mut r = sample().encode();
            r[ID_LEN_AT] = n;
            assert_eq!(Provisioning::decode(&reseal(r)), Err(ProvisioningError::BoardIdLength(n)));
        }
        let mut r = sample().encode();
        r[ID_AT + 10] = b'!';
        assert_eq!(Provisioning::decode(&reseal(r)), Err(ProvisioningError::BoardIdPadding));
    }

    #[test]
    fn errors_say_what_is_wrong_and_debug_hides_the_key() {
        extern crate std;
        use std::string::ToString;
        assert!(ProvisioningError::Blank.to_string().contains("never programmed"));
        assert!(ProvisioningError::Truncated { len: 3 }.to_string().contains("74"));
        let shown = std::format!("{:?}", sample());
        assert!(shown.contains("vld-1") && shown.contains("BoardKey(..)") && !shown.contains("92"), "{shown}");
    }
}
