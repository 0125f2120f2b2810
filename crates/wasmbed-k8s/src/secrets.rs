//! The platform's keys in the cluster: Secrets the controller creates once
//! and reads back on every start.
//!
//! - [`sync_dir`] keeps a folder's files (the platform CA: `ca.crt`,
//!   `ca.key`) in a Secret. On the first start the files are made (by the
//!   PKI) and stored; later starts write the stored files back into the
//!   folder, so every controller start signs with the same CA. If two
//!   controllers race, the Secret that reached the API server first wins
//!   and the loser takes its files.
//! - [`ensure`] creates a Secret from data made on demand (the gateway's
//!   TLS identity) unless it exists.
//! - [`store_files`] writes a folder's files back into an
//!   [`Updatable`](Mutability::Updatable) Secret (the API's token file,
//!   which changes as tokens are created and revoked).
//!
//! Secrets are created immutable unless asked otherwise and labelled
//! `app.kubernetes.io/part-of: wasmbed`; files are written owner-only
//! (0600) in a 0700 folder. The folder should be memory-backed (an
//! `emptyDir` with `medium: Memory`).

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::store::{PART_OF, describe};

/// Why a Secret could not be kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The API server refused or failed.
    #[error("{doing} Secret {name}: {detail}")]
    Api {
        /// What was being done.
        doing: &'static str,
        /// The Secret.
        name: String,
        /// What the server said.
        detail: String,
    },
    /// The Secret exists but lacks a key it must have.
    #[error("Secret {name} has no key {key:?}; delete it to have it made again (a new CA invalidates every identity)")]
    MissingKey {
        /// The Secret.
        name: String,
        /// The key.
        key: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Making the data failed.
    #[error("making the contents of Secret {name}: {why}")]
    Make {
        /// The Secret.
        name: String,
        /// Why.
        why: String,
    },
}

/// Whether a Secret's data may change after it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    /// Made once, never changed (the API server enforces it).
    Immutable,
    /// Followed by [`store_files`].
    Updatable,
}

/// Whether a Secret was found or made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It existed; its contents were used.
    Found,
    /// It was created from what was made here.
    Created,
}

pub(crate) fn api(doing: &'static str, name: &str) -> impl FnOnce(kube::Error) -> SecretError {
    let name = name.to_owned();
    move |e| SecretError::Api { doing, name, detail: describe(&e) }
}

pub(crate) fn secret(name: &str, data: BTreeMap<String, Vec<u8>>, mutability: Mutability) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(BTreeMap::from([(PART_OF.0.to_owned(), PART_OF.1.to_owned())])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        immutable: Some(mutability == Mutability::Immutable),
        ..Secret::default()
    }
}

/// Creates the Secret `name` with `make()`'s data unless it exists.
pub async fn ensure(
    secrets: &Api<Secret>,
    name: &str,
    make: impl FnOnce() -> Result<BTreeMap<String, Vec<u8>>, String>,
) -> Result<Outcome, SecretError> {
    if secrets.get_opt(name).await.map_err(api("reading", name))?.is_some() {
        return Ok(Outcome::Found);
    }
    let data = make().map_err(|why| SecretError::Make { name: name.to_owned(), why })?;
    match secrets.create(&PostParams::default(), &secret(name, data, Mutability::Immutable)).await {
        Ok(_) => Ok(Outcome::Created),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(Outcome::Found),
        Err(e) => Err(api("creating", name)(e)),
    }
}

/// Writes `files` of `dir` into the existing Secret `name` (made
/// [`Updatable`](Mutability::Updatable) by [`sync_dir`]).
pub async fn store_files(secrets: &Api<Secret>, name: &str, dir: &Path, files: &[&str]) -> Result<(), SecretError> {
    let data: BTreeMap<String, ByteString> =
        read_files(dir, files)?.into_iter().map(|(k, v)| (k, ByteString(v))).collect();
    let patch = Patch::Merge(serde_json::json!({ "data": data }));
    secrets.patch(name, &PatchParams::default(), &patch).await.map_err(api("updating", name))?;
    Ok(())
}

pub(crate) fn write_files(dir: &Path, name: &str, s: &Secret, files: &[&str]) -> Result<(), SecretError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SecretError::Io { path, source }
    };
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io(dir))?;
    for file in files {
        let Some(bytes) = s.data.as_ref().and_then(|d| d.get(*file)) else {
            return Err(SecretError::MissingKey { name: name.to_owned(), key: (*file).to_owned() });
        };
        let path = dir.join(file);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        // The mode above applies only to a new file: tighten one that was there.
        f.set_permissions(std::fs::Permissions::from_mode(0o600)).map_err(io(&path))?;
        f.write_all(&bytes.0).map_err(io(&path))?;
    }
    Ok(())
}

pub(crate) fn read_files(dir: &Path, files: &[&str]) -> Result<BTreeMap<String, Vec<u8>>, SecretError> {
    let mut data = BTreeMap::new();
    for file in files {
        let path = dir.join(file);
        let bytes = std::fs::read(&path).map_err(|source| SecretError::Io { path: path.clone(), source })?;
        data.insert((*file).to_owned(), bytes);
    }
    Ok(data)
}

/// Keeps `files` of `dir` in the Secret `name` (see the module docs):
/// written from the Secret when it exists, otherwise made by `make(dir)`
/// and stored.
pub async fn sync_dir(
    secrets: &Api<Secret>,
    name: &str,
    dir: &Path,
    files: &[&str],
    mutability: Mutability,
    make: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Outcome, SecretError> {
    if let Some(s) = secrets.get_opt(name).await.map_err(api("reading", name))? {
        write_files(dir, name, &s, files)?;
        return Ok(Outcome::Found);
    }
    make(dir).map_err(|why| SecretError::Make { name: name.to_owned(), why })?;
    let data = read_files(dir, files)?;
    match secrets.create(&PostParams::default(), &secret(name, data, mutability)).await {
        Ok(_) => Ok(Outcome::Created),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            // Another controller stored its own first: use that one.
            let theirs = secrets.get(name).await.map_err(api("reading", name))?;
            write_files(dir, name, &theirs, files)?;
            Ok(Outcome::Found)
        }
        Err(e) => Err(api("creating", name)(e)),
    }
}

/// Follows a folder kept in an updatable Secret: after each change
/// signalled by `changes`, [`store_files`] (retried with backoff while the
/// API server refuses, a newer change taking over). Ends when `stop` turns
/// true or the signal goes.
pub async fn follow(
    secrets: Api<Secret>,
    name: String,
    dir: PathBuf,
    files: Vec<String>,
    mut changes: tokio::sync::watch::Receiver<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let mut retry: Option<std::time::Duration> = None;
    loop {
        let wait = async {
            match retry {
                Some(d) => {
                    tokio::time::sleep(d).await;
                    true
                }
                None => changes.changed().await.is_ok(),
            }
        };
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            go_on = wait => if !go_on { return },
        }
        changes.mark_unchanged();
        match store_files(&secrets, &name, &dir, &files).await {
            Ok(()) => retry = None,
            Err(e) => {
                let next = retry.map_or(std::time::Duration::from_secs(1), |d| (d * 2).min(MAX_RETRY));
                tracing::warn!("{e}; trying again in {next:?}");
                retry = Some(next);
            }
        }
    }
}

/// Longest wait between two tries of [`follow`].
const MAX_RETRY: std::time::Duration = std::time::Duration::from_secs(30);
