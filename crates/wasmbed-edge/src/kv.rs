//! A component's key-value store: small, bounded, and shared by every
//! version of one application so a hot swap or a rollback keeps it. The
//! platform persists it: [`Kv::encode`] when its [`Kv::changes`] moved,
//! [`Kv::decode`] when the application starts on a gateway.
//!
//! The encoding: `WKV1`, the number of entries (u16, little-endian, so a
//! cut between two entries is seen), then per entry (in key order) the key's length
//! (u8), the key, the value's length (u16, little-endian), the value.

use std::collections::BTreeMap;

use thiserror::Error;

/// At most this many keys.
pub const MAX_KEYS: usize = 256;
/// A key is 1 to this many bytes.
pub const MAX_KEY_LEN: usize = 64;
/// A value is at most this many bytes.
pub const MAX_VALUE_LEN: usize = 4 * 1024;
/// Keys and values together, at most.
pub const MAX_TOTAL: usize = 64 * 1024;

/// Why a `set` was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvError {
    /// The key is empty or too long.
    #[error("a key is 1 to {MAX_KEY_LEN} bytes; this one is {0}")]
    BadKey(usize),
    /// The value is too long.
    #[error("a value is at most {MAX_VALUE_LEN} bytes; this one is {0}")]
    ValueTooLong(usize),
    /// The store would hold too many keys or bytes.
    #[error("the store is full ({MAX_KEYS} keys, {MAX_TOTAL} bytes in all)")]
    Full,
}

/// Why persisted bytes are not a store.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KvDecodeError {
    /// They do not start with the magic.
    #[error("not a key-value store (no WKV1 header)")]
    Magic,
    /// An entry runs past the end.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// Bytes follow the last entry.
    #[error("bytes after the last entry, from byte {0}")]
    Trailing(usize),
    /// A key is not UTF-8.
    #[error("a key at byte {0} is not UTF-8")]
    Key(usize),
}

const MAGIC: &[u8; 4] = b"WKV1";

/// One application's store.
#[derive(Debug, Clone, Default)]
pub struct Kv {
    entries: BTreeMap<String, Vec<u8>>,
    bytes: usize,
    changes: u64,
}

impl PartialEq for Kv {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Eq for Kv {}

impl Kv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding what was persisted; entries past the limits are
    /// left out (the limits may have shrunk), and how many is returned.
    pub fn restore(entries: impl IntoIterator<Item = (String, Vec<u8>)>) -> (Self, usize) {
        let mut kv = Self::new();
        let mut skipped = 0;
        for (k, v) in entries {
            if kv.set(&k, v).is_err() {
                skipped += 1;
            }
        }
        (kv, skipped)
    }

    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&[u8]> {
        self.entries.get(key).map(Vec::as_slice)
    }

    /// Stores `value` under `key`, or refuses and changes nothing.
    pub fn set(&mut self, key: &str, value: Vec<u8>) -> Result<(), KvError> {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(KvError::BadKey(key.len()));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(KvError::ValueTooLong(value.len()));
        }
        let old = self.entries.get(key).map(|v| key.len() + v.len());
        let bytes = self.bytes - old.unwrap_or(0) + key.len() + value.len();
        if bytes > MAX_TOTAL || (old.is_none() && self.entries.len() >= MAX_KEYS) {
            return Err(KvError::Full);
        }
        self.entries.insert(key.to_owned(), value);
        self.bytes = bytes;
        self.changes += 1;
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn delete(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(v) => {
                self.bytes -= key.len() + v.len();
                self.changes += 1;
                true
            }
            None => false,
        }
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }

    /// Keys and values held, in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many times it changed: persist it when this moved.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Its persistent form (see the module's doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAGIC.len() + self.bytes + 3 * self.entries.len());
        out.extend_from_slice(MAGIC);
        // At most MAX_KEYS entries.
        out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
        for (k, v) in &self.entries {
            // The limits keep these in range: a key ≤ 64 bytes, a value ≤ 4 KiB.
            out.push(k.len() as u8);
            out.extend_from_slice(k.as_bytes());
            out.extend_from_slice(&(v.len() as u16).to_le_bytes());
            out.extend_from_slice(v);
        }
        out
    }

    /// A store from its persistent form; entries past today's limits are
    /// left out, and how many is returned beside it.
    pub fn decode(bytes: &[u8]) -> Result<(Self, usize), KvDecodeError> {
        let rest = bytes.strip_prefix(MAGIC).ok_or(KvDecodeError::Magic)?;
        let (count, mut rest) = rest.split_at_checked(2).ok_or(KvDecodeError::Truncated(MAGIC.len()))?;
        let count = u16::from_le_bytes([count[0], count[1]]);
        let mut entries = Vec::new();
        for _ in 0..count {
            let at = bytes.len() - rest.len();
            let (&klen, r) = rest.split_first().ok_or(KvDecodeError::Truncated(at))?;
            let (key, r) = r.split_at_checked(usize::from(klen)).ok_or(KvDecodeError::Truncated(at))?;
            let key = std::str::from_utf8(key).map_err(|_| KvDecodeError::Key(at))?;
            let (vlen, r) = r.split_at_checked(2).ok_or(KvDecodeError::Truncated(at))?;
            let vlen = usize::from(u16::from_le_bytes([vlen[0], vlen[1]]));
            let (value, r) = r.split_at_checked(vlen).ok_or(KvDecodeError::Truncated(at))?;
            entries.push((key.to_owned(), value.to_vec()));
            rest = r;
        }
        if !rest.is_empty() {
            return Err(KvDecodeError::Trailing(bytes.len() - rest.len()));
        }
        Ok(Self::restore(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_refuse_and_change_nothing() {
        let mut kv = Kv::new();
        kv.set("a", vec![1; 10]).unwrap();
        assert_eq!(kv.bytes(), 11);
        assert_eq!(kv.set("", vec![]), Err(KvError::BadKey(0)));
        assert_eq!(kv.set(&"k".repeat(65), vec![]), Err(KvError::BadKey(65)));
        assert_eq!(kv.set("b", vec![0; MAX_VALUE_LEN + 1]), Err(KvError::ValueTooLong(MAX_VALUE_LEN + 1)));
        for i in 0..15 {
            kv.set(&format!("k{i}"), vec![0; MAX_VALUE_LEN]).unwrap();
        }
        assert_eq!(kv.set("full", vec![0; MAX_VALUE_LEN]), Err(KvError::Full));
        assert!(kv.get("full").is_none());
        // Replacing a value counts only the difference.
        kv.set("k0", vec![0; 100]).unwrap();
        kv.set("more", vec![0; 1000]).unwrap();
        assert!(kv.delete("more") && !kv.delete("more"));
        let (copy, skipped) = Kv::restore(kv.entries().map(|(k, v)| (k.to_owned(), v.to_vec())));
        assert_eq!((copy, skipped), (kv.clone(), 0));
    }

    #[test]
    fn the_persistent_form_round_trips_and_bad_bytes_are_errors() {
        let mut kv = Kv::new();
        assert_eq!(kv.changes(), 0);
        kv.set("count", b"41".to_vec()).unwrap();
        kv.set("big", vec![7; MAX_VALUE_LEN]).unwrap();
        kv.set("empty", vec![]).unwrap();
        assert!(kv.delete("empty"));
        assert_eq!(kv.changes(), 4);
        assert_eq!(kv.set("", vec![]).map_err(|_| kv.changes()), Err(4), "a refused set is no change");
        let bytes = kv.encode();
        assert_eq!(Kv::decode(&bytes), Ok((kv.clone(), 0)));
        assert_eq!(Kv::decode(b"WKV1\0\0"), Ok((Kv::new(), 0)));
        assert_eq!(Kv::decode(b"WKV1\0\0\0"), Err(KvDecodeError::Trailing(6)));
        assert_eq!(Kv::decode(b"{}"), Err(KvDecodeError::Magic));
        for cut in 4..bytes.len() {
            assert!(matches!(Kv::decode(&bytes[..cut]), Err(KvDecodeError::Truncated(_))), "cut at {cut}");
        }
        assert_eq!(Kv::decode(b"WKV1\x01\x00\x01\xff\x00\x00"), Err(KvDecodeError::Key(6)));
        // An entry past the limits (written by another version): left out.
        let mut long = b"WKV1\x01\x00\x41".to_vec();
        long.extend_from_slice(&[b'k'; 65]);
        long.extend_from_slice(&[0, 0]);
        assert_eq!(Kv::decode(&long), Ok((Kv::new(), 1)));
    }

    #[test]
    fn too_many_keys_are_refused() {
        let mut kv = Kv::new();
        for i in 0..MAX_KEYS {
            kv.set(&format!("{i}"), vec![]).unwrap();
        }
        assert_eq!(kv.set("one more", vec![]), Err(KvError::Full));
        kv.set("0", vec![1]).unwrap();
    }
}
