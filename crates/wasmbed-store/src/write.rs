//! The durable write path: spec writes, application status, deletes, and
//! the one place a write transaction is committed.
//!
//! Guarantees: each write commits (durably, unless the caller is the status
//! flusher) before the cache changes and the event is sent; a write that
//! changes nothing commits nothing and emits nothing; `resource_version`
//! moves on every stored change, `generation` only when the spec changes.
//! Assumes: the caller holds the store's writer lock (see
//! `RedbStore::write`), so the check and the commit are one step.

use std::fmt;
use std::sync::atomic::Ordering;

use redb::{Durability, WriteTransaction};
use serde::Serialize;
use wasmbed_model::{Meta, StoreError};

use crate::cache::Kind;
use crate::schema::{self, Table, backend};
use crate::store::Inner;

/// A row to write or remove.
pub(crate) enum Op<'a> {
    Put(Table, &'a str, &'a [u8]),
    Remove(Table, &'a str),
}

/// How a spec write treats an existing resource.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    /// The name must be free.
    Create,
    /// The resource must exist at the given version.
    Replace,
    /// Create when the given version is 0 and the name is free, else replace.
    Either,
}

pub(crate) fn not_found(kind: &'static str, name: &str) -> StoreError {
    StoreError::NotFound { kind, name: name.to_owned() }
}

fn conflict(kind: &'static str, name: &str) -> StoreError {
    StoreError::Conflict { kind, name: name.to_owned() }
}

fn next_version(kind: &'static str, meta: &Meta) -> Result<u64, StoreError> {
    meta.resource_version
        .checked_add(1)
        .ok_or_else(|| StoreError::Backend(format!("{kind} {:?}: resource_version exhausted", meta.name)))
}

impl Inner {
    /// Applies `ops` in one transaction and commits it.
    pub(crate) fn commit(&self, what: fmt::Arguments<'_>, durable: bool, ops: &[Op<'_>]) -> Result<(), StoreError> {
        let run = || -> Result<(), redb::Error> {
            let mut txn: WriteTransaction = self.db.begin_write()?;
            txn.set_durability(if durable { Durability::Immediate } else { Durability::None })?;
            for op in ops {
                match *op {
                    Op::Put(table, key, value) => {
                        txn.open_table(table)?.insert(key.as_bytes(), value)?;
                    }
                    Op::Remove(table, key) => {
                        txn.open_table(table)?.remove(key.as_bytes())?;
                    }
                }
            }
            txn.commit()?;
            Ok(())
        };
        run().map_err(|e| backend(what, e))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        if durable {
            self.last_durable_ms.store((self.clock)(), Ordering::Relaxed);
        }
        Ok(())
    }

    fn spec_bytes<S: Serialize>(kind: &str, meta: &Meta, spec: &S) -> Result<Vec<u8>, StoreError> {
        #[derive(Serialize)]
        struct Ref<'a, S> {
            meta: &'a Meta,
            spec: &'a S,
        }
        schema::encode(kind, &meta.name, &Ref { meta, spec })
    }

    /// Writes a spec (durably). The status is never written here: a new
    /// resource starts with the default status, a replaced one keeps its own.
    /// `generation` moves only when the spec changes.
    pub(crate) fn put<K: Kind>(&self, meta: Meta, spec: K::Spec, mode: Put) -> Result<K, StoreError> {
        let name = meta.name;
        let (meta, status) = {
            let cache = self.cache()?;
            match (K::map(&cache).get(&name), mode) {
                (Some(_), Put::Create) => return Err(StoreError::AlreadyExists { kind: K::NAME, name }),
                (None, Put::Replace) => return Err(not_found(K::NAME, &name)),
                // Absent reads as version 0: a write based on a version read
                // before a delete must not silently recreate the resource.
                (None, Put::Either) if meta.resource_version != 0 => return Err(conflict(K::NAME, &name)),
                (None, _) => (
                    Meta { name: name.clone(), resource_version: 1, generation: 1, created_ms: (self.clock)() },
                    K::Status::default(),
                ),
                (Some(current), _) if current.meta().resource_version != meta.resource_version => {
                    return Err(conflict(K::NAME, &name));
                }
                (Some(current), _) => {
                    let old = current.meta();
                    let changed = *current.spec() != spec;
                    let generation = if changed { old.generation.saturating_add(1) } else { old.generation };
                    (
                        Meta {
                            name: name.clone(),
                            resource_version: next_version(K::NAME, old)?,
                            generation,
                            created_ms: old.created_ms,
                        },
                        current.status().clone(),
                    )
                }
            }
        };
        let bytes = Self::spec_bytes(K::NAME, &meta, &spec)?;
        self.commit(format_args!("writing {} {name:?}", K::NAME), true, &[Op::Put(K::SPECS, &name, &bytes)])?;
        let stored = {
            let mut cache = self.cache_mut()?;
            let map = K::map_mut(&mut cache);
            // A status staged since it was read above wins over that read.
            let status = map.get(&name).map_or(status, |current| current.status().clone());
            let stored = K::assemble(meta, spec, status);
            map.insert(name.clone(), stored.clone());
            stored
        };
        self.emit(K::EVENT, &name, false, false);
        Ok(stored)
    }

    /// Read-modify-write of a status; a write that changes nothing commits
    /// nothing and emits no event.
    pub(crate) fn update_status<K: Kind>(
        &self,
        name: &str,
        durable: bool,
        change: impl FnOnce(&mut K::Status),
    ) -> Result<(), StoreError> {
        let mut status = match K::map(&*self.cache()?).get(name) {
            None => return Err(not_found(K::NAME, name)),
            Some(current) => current.status().clone(),
        };
        let before = status.clone();
        change(&mut status);
        if status == before {
            return Ok(());
        }
        let bytes = schema::encode(K::NAME, name, &status)?;
        self.commit(
            format_args!("writing status of {} {name:?}", K::NAME),
            durable,
            &[Op::Put(K::STATUS, name, &bytes)],
        )?;
        if let Some(entry) = K::map_mut(&mut *self.cache_mut()?).get_mut(name) {
            *entry = K::assemble(entry.meta().clone(), entry.spec().clone(), status);
        }
        self.emit(K::EVENT, name, false, true);
        Ok(())
    }

    pub(crate) fn delete<K: Kind>(&self, name: &str) -> Result<(), StoreError> {
        if !K::map(&*self.cache()?).contains_key(name) {
            return Err(not_found(K::NAME, name));
        }
        // The flusher is kept out until the resource and its pending status
        // are gone, so it cannot write the status row back.
        let _flushing = self.flushing.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        self.commit(
            format_args!("deleting {} {name:?}", K::NAME),
            true,
            &[Op::Remove(K::SPECS, name), Op::Remove(K::STATUS, name)],
        )?;
        {
            let mut cache = self.cache_mut()?;
            K::map_mut(&mut cache).remove(name);
            self.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&(K::NAME, name.to_owned()));
        }
        self.emit(K::EVENT, name, true, false);
        Ok(())
    }
}
