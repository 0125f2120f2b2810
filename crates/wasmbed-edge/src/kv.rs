//! A component's key-value store: small, bounded, and shared by every
//! version of one application so a hot swap or a rollback keeps it. The
//! platform persists it ([`Kv::entries`] after each change it is told of,
//! [`Kv::restore`] at start).

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

/// One application's store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kv {
    entries: BTreeMap<String, Vec<u8>>,
    bytes: usize,
}

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
        Ok(())
    }

    /// Removes `key`; whether it was there.
    pub fn delete(&mut self, key: &str) -> bool {
        match self.entries.remove(key) {
            Some(v) => {
                self.bytes -= key.len() + v.len();
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
    fn too_many_keys_are_refused() {
        let mut kv = Kv::new();
        for i in 0..MAX_KEYS {
            kv.set(&format!("{i}"), vec![]).unwrap();
        }
        assert_eq!(kv.set("one more", vec![]), Err(KvError::Full));
        kv.set("0", vec![1]).unwrap();
    }
}
