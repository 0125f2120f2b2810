//! The board's proof of identity: HMAC-SHA-256 (RFC 2104) under the 32-byte
//! key of its bundle, over a label, the gateway's challenge and the board id:
//!
//! ```text
//! mac = HMAC-SHA-256(key, "wasmbed-boardlink/1 proof" || challenge (16) || board id)
//! ```
//!
//! The label keeps the key from ever signing anything else by accident; the
//! board id comes last, so the concatenation is unambiguous.

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::msg::{CHALLENGE_LEN, MAC_LEN, MAX_BOARD_ID_LEN};

type HmacSha256 = Hmac<Sha256>;

/// Domain separation for [`proof`].
pub const PROOF_LABEL: &[u8] = b"wasmbed-boardlink/1 proof";

/// Bytes of a [`BoardKey`].
pub const KEY_LEN: usize = 32;

/// A challenge: fresh random bytes from the gateway.
pub type Challenge = [u8; CHALLENGE_LEN];

/// The secret a board shares with the platform, from its bundle. `Debug`
/// does not print it.
#[derive(Clone)]
pub struct BoardKey([u8; KEY_LEN]);

impl BoardKey {
    /// Wraps the key bytes.
    pub const fn new(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key's bytes, for the provisioning record.
    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for BoardKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoardKey(..)")
    }
}

/// A board id longer than [`MAX_BOARD_ID_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardIdTooLong(pub usize);

impl fmt::Display for BoardIdTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "board id of {} bytes exceeds {MAX_BOARD_ID_LEN}", self.0)
    }
}

impl core::error::Error for BoardIdTooLong {}

/// A board's id (the device id of its bundle), held without an allocator.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct BoardId {
    len: u8,
    bytes: [u8; MAX_BOARD_ID_LEN],
}

impl BoardId {
    /// Copies `id`, at most [`MAX_BOARD_ID_LEN`] bytes.
    pub fn new(id: &[u8]) -> Result<Self, BoardIdTooLong> {
        let mut bytes = [0; MAX_BOARD_ID_LEN];
        bytes.get_mut(..id.len()).ok_or(BoardIdTooLong(id.len()))?.copy_from_slice(id);
        Ok(Self { len: id.len() as u8, bytes })
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for BoardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match core::str::from_utf8(self.as_bytes()) {
            Ok(s) => write!(f, "BoardId({s:?})"),
            Err(_) => write!(f, "BoardId({:02x?})", self.as_bytes()),
        }
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC hashes long keys and pads short ones: no length is refused.
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// HMAC-SHA-256 of the concatenation of `parts` under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; MAC_LEN] {
    let mut mac = keyed(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// What a board holding `key` answers to `challenge`.
pub fn proof(key: &BoardKey, challenge: &Challenge, board_id: &[u8]) -> [u8; MAC_LEN] {
    hmac_sha256(&key.0, &[PROOF_LABEL, challenge, board_id])
}

/// Whether `mac` is the proof of `key` for `challenge` and `board_id`,
/// compared in constant time.
pub fn verify_proof(key: &BoardKey, challenge: &Challenge, board_id: &[u8], mac: &[u8; MAC_LEN]) -> bool {
    let mut m = keyed(&key.0);
    for part in [PROOF_LABEL, challenge, board_id] {
        m.update(part);
    }
    m.verify_slice(mac).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> std::vec::Vec<u8> {
        hex::decode(s).expect("hex")
    }

    extern crate std;

    /// RFC 4231, test cases 1, 2, 3, 6 and 7 (HMAC-SHA-256 column).
    #[test]
    fn rfc_4231_vectors() {
        let cases: [(std::vec::Vec<u8>, std::vec::Vec<u8>, &str); 5] = [
            (
                [0x0b; 20].to_vec(),
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            ([0xaa; 20].to_vec(), [0xdd; 50].to_vec(), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
            (
                [0xaa; 131].to_vec(),
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                [0xaa; 131].to_vec(),
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, mac) in cases {
            assert_eq!(hmac_sha256(&key, &[&data]).to_vec(), unhex(mac));
            // Split input gives the same MAC.
            let (a, b) = data.split_at(data.len() / 2);
            assert_eq!(hmac_sha256(&key, &[a, b]).to_vec(), unhex(mac));
        }
    }

    #[test]
    fn a_proof_verifies_only_for_its_key_challenge_and_board() {
        let key = BoardKey::new([7; 32]);
        let challenge = [1; 16];
        let mac = proof(&key, &challenge, b"stm32-1");
        assert!(verify_proof(&key, &challenge, b"stm32-1", &mac));
        assert!(!verify_proof(&BoardKey::new([8; 32]), &challenge, b"stm32-1", &mac));
        assert!(!verify_proof(&key, &[2; 16], b"stm32-1", &mac));
        assert!(!verify_proof(&key, &challenge, b"stm32-2", &mac));
    }

    #[test]
    fn board_ids_are_bounded_and_keys_are_not_printed() {
        assert_eq!(BoardId::new(&[b'a'; 33]), Err(BoardIdTooLong(33)));
        assert_eq!(BoardId::new(b"stm32-1").expect("fits").as_bytes(), b"stm32-1");
        assert_eq!(std::format!("{:?}", BoardKey::new([7; 32])), "BoardKey(..)");
    }
}
