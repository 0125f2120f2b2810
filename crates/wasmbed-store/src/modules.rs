//! App module bytes, and edge slots' persistent state (the other blobs).
//!
//! Modules are content-addressed by their SHA-256, the one thing the
//! store reads from the file rather than from its cache (modules are large
//! and read once per deploy).
//!
//! Guarantees: a stored digest holds the bytes first stored under it
//! (storing again is a no-op); writes are durable. Assumes: digests arrive
//! lowercased and verified by the caller.

use redb::{ReadableDatabase, ReadableTable};
use wasmbed_model::StoreError;

use crate::schema::{EDGE_STATE, MODULES, backend};
use crate::store::Inner;
use crate::write::Op;

impl Inner {
    pub(crate) fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let run = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(MODULES)?;
            Ok(table.get(digest.as_bytes())?.map(|b| b.value().to_vec()))
        };
        run().map_err(|e| backend(format_args!("reading module {digest}"), e))
    }

    pub(crate) fn put_module(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        // Content-addressed: a digest present already holds these bytes.
        if self.get_module(digest)?.is_some() {
            return Ok(());
        }
        self.commit(format_args!("storing module {digest}"), true, &[Op::Put(MODULES, digest, bytes)])
    }

    pub(crate) fn list_modules(&self) -> Result<Vec<String>, StoreError> {
        let run = || -> Result<Vec<String>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(MODULES)?;
            let mut digests = Vec::new();
            for entry in table.iter()? {
                let (key, _) = entry?;
                digests.push(String::from_utf8_lossy(key.value()).into_owned());
            }
            Ok(digests)
        };
        run().map_err(|e| backend("listing modules", e))
    }

    pub(crate) fn delete_module(&self, digest: &str) -> Result<(), StoreError> {
        if self.get_module(digest)?.is_none() {
            return Ok(());
        }
        self.commit(format_args!("deleting module {digest}"), true, &[Op::Remove(MODULES, digest)])
    }
}

/// An edge slot's row key.
pub(crate) fn edge_state_key(gateway: &str, slot: &str) -> String {
    format!("{gateway}/{slot}")
}

impl Inner {
    pub(crate) fn get_edge_state(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let run = || -> Result<Option<Vec<u8>>, redb::Error> {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(EDGE_STATE)?;
            Ok(table.get(key.as_bytes())?.map(|b| b.value().to_vec()))
        };
        run().map_err(|e| backend(format_args!("reading edge state {key}"), e))
    }

    pub(crate) fn put_edge_state(&self, key: &str, bytes: &[u8]) -> Result<(), StoreError> {
        self.commit(format_args!("storing edge state {key}"), true, &[Op::Put(EDGE_STATE, key, bytes)])
    }

    pub(crate) fn delete_edge_state(&self, key: &str) -> Result<(), StoreError> {
        self.commit(format_args!("deleting edge state {key}"), true, &[Op::Remove(EDGE_STATE, key)])
    }
}
