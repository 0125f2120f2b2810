//! The app-signing keys in the cluster, so that they can be rotated.
//!
//! - The private keys (`key-<gen>.pem`) and their announcements
//!   (`announce-<gen>.cbor`, see `wasmbed_pki::AppSigning`) live in one
//!   updatable Secret that only the controller reads ([`sync_signing_dir`]
//!   writes it into the controller's memory-backed folder at start;
//!   [`persist_signing_dir`] writes a rotation or a retirement back before
//!   the controller acts on it, so a restart never loses a key devices
//!   have already moved to).
//! - Announcements are public (a device checks each against the key it
//!   already trusts): each generation's goes into an immutable ConfigMap of
//!   its own, [`announcement_config_map`], that the gateways read
//!   ([`read_announcements`]) and relay. One object per generation means
//!   the controller only ever creates them (no update rights), and the
//!   gateways only ever get them by name.
//! - Public keys: at every start the controller publishes its current
//!   key's public half in an immutable ConfigMap of its generation,
//!   [`public_key_config_map`]. A gateway pins the oldest it finds
//!   ([`read_public_key`]) and walks the announcements from there, so it
//!   checks the edge components it runs as devices check their modules.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::secrets::{Mutability, Outcome, SecretError, api, read_files, secret, write_files};
use crate::store::{PART_OF, describe};

/// Key of an announcement in its ConfigMap.
pub const ANNOUNCEMENT_KEY: &str = "announce.cbor";

/// Generations a gateway reads past the ones it has, at most, per look
/// (a chain is a handful long; this bounds a runaway).
const MAX_NEW_PER_READ: u32 = 64;

/// The ConfigMap holding the announcement of generation `generation`.
pub fn announcement_config_map(release: &str, generation: u32) -> String {
    format!("{release}-app-signing-announce-{generation}")
}

/// Key of a public key (SEC1) in its ConfigMap.
pub const PUBLIC_KEY_KEY: &str = "key.sec1";

/// The ConfigMap holding the public key of generation `generation`.
pub fn public_key_config_map(release: &str, generation: u32) -> String {
    format!("{release}-app-signing-key-{generation}")
}

/// Whether `name` is a file of an app-signing folder: `key-<n>.pem` or
/// `announce-<n>.cbor` (nothing else is written from the Secret, so a
/// stray key cannot name a path outside the folder).
pub fn is_signing_file(name: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    name.strip_prefix("key-").and_then(|r| r.strip_suffix(".pem")).is_some_and(number)
        || name.strip_prefix("announce-").and_then(|r| r.strip_suffix(".cbor")).is_some_and(number)
}

/// The signing files in `dir`, by name.
fn signing_files(dir: &Path) -> Result<Vec<String>, SecretError> {
    let io = |source| SecretError::Io { path: dir.to_path_buf(), source };
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let name = entry.map_err(io)?.file_name();
        if let Some(name) = name.to_str().filter(|n| is_signing_file(n)) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Writes the keys kept in Secret `name` into `dir`, or on the first start
/// has `make` create them there and stores them in a new updatable Secret.
/// Entries that are not signing files are refused, naming them.
pub async fn sync_signing_dir(
    secrets: &Api<Secret>,
    name: &str,
    dir: &Path,
    make: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<Outcome, SecretError> {
    let write_back = |s: &Secret| {
        let keys: Vec<&str> = s.data.iter().flat_map(|d| d.keys()).map(String::as_str).collect();
        if let Some(bad) = keys.iter().find(|k| !is_signing_file(k)) {
            return Err(SecretError::Make {
                name: name.to_owned(),
                why: format!("key {bad:?} is not an app-signing file (key-N.pem or announce-N.cbor)"),
            });
        }
        write_files(dir, name, s, &keys)
    };
    if let Some(s) = secrets.get_opt(name).await.map_err(api("reading", name))? {
        write_back(&s)?;
        return Ok(Outcome::Found);
    }
    make(dir).map_err(|why| SecretError::Make { name: name.to_owned(), why })?;
    let files = signing_files(dir)?;
    let data = read_files(dir, &files.iter().map(String::as_str).collect::<Vec<_>>())?;
    match secrets.create(&PostParams::default(), &secret(name, data, Mutability::Updatable)).await {
        Ok(_) => Ok(Outcome::Created),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let theirs = secrets.get(name).await.map_err(api("reading", name))?;
            write_back(&theirs)?;
            Ok(Outcome::Found)
        }
        Err(e) => Err(api("creating", name)(e)),
    }
}

/// Writes every signing file of `dir` into Secret `name`, and removes the
/// entries named in `removed` (keys retired here).
pub async fn persist_signing_dir(
    secrets: &Api<Secret>,
    name: &str,
    dir: &Path,
    removed: &[String],
) -> Result<(), SecretError> {
    let files = signing_files(dir)?;
    let data = read_files(dir, &files.iter().map(String::as_str).collect::<Vec<_>>())?;
    let mut entries = serde_json::Map::new();
    for (k, v) in data {
        entries.insert(k, serde_json::to_value(ByteString(v)).unwrap_or_default());
    }
    for k in removed.iter().filter(|k| is_signing_file(k) && !files.contains(k)) {
        entries.insert(k.clone(), serde_json::Value::Null);
    }
    let patch = Patch::Merge(serde_json::json!({ "data": entries }));
    secrets.patch(name, &PatchParams::default(), &patch).await.map_err(api("updating", name))?;
    Ok(())
}

/// Why announcements could not be published or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnouncementError {
    /// The API server refused.
    #[error("{doing} ConfigMap {name}: {detail}")]
    Api {
        /// What was being done.
        doing: &'static str,
        /// The ConfigMap.
        name: String,
        /// The server's answer.
        detail: String,
    },
    /// A ConfigMap of that name holds no announcement (or no key).
    #[error("ConfigMap {name} holds no binaryData key {ANNOUNCEMENT_KEY} or {PUBLIC_KEY_KEY}")]
    Empty {
        /// The ConfigMap.
        name: String,
    },
}

/// Creates the immutable ConfigMap `name` holding `bytes` under `key`; one
/// already there is kept (what these hold never changes).
async fn publish_once(
    config_maps: &Api<ConfigMap>,
    name: String,
    key: &str,
    bytes: &[u8],
) -> Result<(), AnnouncementError> {
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(BTreeMap::from([(PART_OF.0.to_owned(), PART_OF.1.to_owned())])),
            ..ObjectMeta::default()
        },
        binary_data: Some(BTreeMap::from([(key.to_owned(), ByteString(bytes.to_vec()))])),
        immutable: Some(true),
        ..ConfigMap::default()
    };
    match config_maps.create(&PostParams::default(), &cm).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(AnnouncementError::Api { doing: "creating", name, detail: describe(&e) }),
    }
}

/// What ConfigMap `name` holds under `key`; `None` when there is no such
/// ConfigMap, an error when it holds nothing under `key`.
async fn read_one(config_maps: &Api<ConfigMap>, name: String, key: &str) -> Result<Option<Vec<u8>>, AnnouncementError> {
    let got = config_maps.get_opt(&name).await.map_err(|e| AnnouncementError::Api {
        doing: "reading",
        name: name.clone(),
        detail: describe(&e),
    })?;
    let Some(cm) = got else { return Ok(None) };
    match cm.binary_data.and_then(|mut d| d.remove(key)) {
        Some(bytes) => Ok(Some(bytes.0)),
        None => Err(AnnouncementError::Empty { name }),
    }
}

/// Publishes `announcement` (the CBOR of generation `generation`'s signed
/// announcement) for the gateways; one already there is kept (announcements
/// are never changed: a generation is announced once).
pub async fn publish_announcement(
    config_maps: &Api<ConfigMap>,
    release: &str,
    generation: u32,
    announcement: &[u8],
) -> Result<(), AnnouncementError> {
    publish_once(config_maps, announcement_config_map(release, generation), ANNOUNCEMENT_KEY, announcement).await
}

/// Publishes the public key (`sec1`) of generation `generation`; one
/// already there is kept (a generation's key never changes).
pub async fn publish_public_key(
    config_maps: &Api<ConfigMap>,
    release: &str,
    generation: u32,
    sec1: &[u8],
) -> Result<(), AnnouncementError> {
    publish_once(config_maps, public_key_config_map(release, generation), PUBLIC_KEY_KEY, sec1).await
}

/// The oldest public key published among generations `0..=newest` (a
/// gateway knows the newest from the announcements it follows), with its
/// generation; `None` when none is published yet.
pub async fn read_public_key(
    config_maps: &Api<ConfigMap>,
    release: &str,
    newest: u32,
) -> Result<Option<(Vec<u8>, u32)>, AnnouncementError> {
    for generation in 0..=newest.min(MAX_NEW_PER_READ) {
        if let Some(sec1) = read_one(config_maps, public_key_config_map(release, generation), PUBLIC_KEY_KEY).await? {
            return Ok(Some((sec1, generation)));
        }
    }
    Ok(None)
}

/// The announcements of generations `from`, `from + 1`, … that are
/// published, in order, up to the first that is not.
pub async fn read_announcements(
    config_maps: &Api<ConfigMap>,
    release: &str,
    from: u32,
) -> Result<Vec<Vec<u8>>, AnnouncementError> {
    let mut out = Vec::new();
    for generation in from..from.saturating_add(MAX_NEW_PER_READ) {
        match read_one(config_maps, announcement_config_map(release, generation), ANNOUNCEMENT_KEY).await? {
            Some(bytes) => out.push(bytes),
            None => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbered_keys_and_announcements_are_signing_files() {
        for good in ["key-0.pem", "key-12.pem", "announce-1.cbor", "announce-1023.cbor"] {
            assert!(is_signing_file(good), "{good}");
        }
        for bad in ["", "key-.pem", "key-x.pem", "../key-0.pem", "key-0.pem/", "ca.key", "key-00000.pem", "announce-1"]
        {
            assert!(!is_signing_file(bad), "{bad}");
        }
        assert_eq!(announcement_config_map("rel", 2), "rel-app-signing-announce-2");
    }
}
