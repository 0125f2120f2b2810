//! The app-signing keys on disk, apart from the CA: whoever holds the CA
//! or a gateway key cannot sign a deploy, and the control plane that signs
//! needs nothing else.
//!
//! Layout of the directory:
//!
//! ```text
//! <dir>/                0700
//!   key-<gen>.pem       0600  PKCS#8 P-256 key of generation <gen>
//!   announce-<gen>.cbor 0644  generation <gen>'s public key, signed by <gen - 1>
//!   .lock                     serialises processes sharing the directory
//! ```
//!
//! The highest generation with a key is current. Rotating writes the next
//! key and its announcement; retiring deletes the older private keys (the
//! announcements stay, so a device holding an old bundle can still walk
//! the chain to the current key).

use std::path::{Path, PathBuf};

use wasmbed_protocol::Signed;
use wasmbed_trust::SigningKey;

use crate::PkiError;
use crate::files::{self, CERT_MODE, KEY_MODE};

/// Generations kept at most (a chain longer than this is not ours).
const MAX_GENERATIONS: u32 = 1024;

/// The platform's app-signing keys.
#[derive(Debug)]
pub struct AppSigning {
    dir: PathBuf,
    key: SigningKey,
    generation: u32,
    chain: Vec<Signed>,
}

impl AppSigning {
    /// Opens the keys in `dir`, creating generation 0 from `fill` (a secure
    /// random source) on first use.
    pub fn open_or_create(dir: &Path, fill: impl FnMut(&mut [u8])) -> Result<Self, PkiError> {
        files::ensure_dir(dir)?;
        let _lock = files::lock(dir)?;
        let mut current = None;
        for generation in 0..MAX_GENERATIONS {
            match files::read(&key_path(dir, generation))? {
                Some(pem) => current = Some((generation, pem)),
                None if current.is_some() || generation > 0 && announcement(dir, generation)?.is_none() => break,
                None => {}
            }
        }
        let (generation, key) = match current {
            Some((generation, pem)) => {
                let path = key_path(dir, generation);
                let pem = String::from_utf8(pem).map_err(|_| PkiError::corrupt(&path, "not PEM text"))?;
                (generation, SigningKey::from_pem(&pem).map_err(|e| PkiError::corrupt(&path, e.to_string()))?)
            }
            None => {
                let key = SigningKey::generate(fill).map_err(|e| PkiError::corrupt(dir, e.to_string()))?;
                write_key(dir, 0, &key)?;
                (0, key)
            }
        };
        let mut chain = Vec::new();
        for g in 1..=generation {
            let signed = announcement(dir, g)?
                .ok_or_else(|| PkiError::corrupt(announce_path(dir, g), "announcement of a kept key is missing"))?;
            chain.push(signed);
        }
        Ok(Self { dir: dir.to_owned(), key, generation, chain })
    }

    /// The key deploys are signed with now.
    pub fn key(&self) -> &SigningKey {
        &self.key
    }

    /// Its generation (the first key is 0).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Announcements of generations 1 to the current, in order: a device
    /// that pins any earlier key walks them to the current one.
    pub fn chain(&self) -> &[Signed] {
        &self.chain
    }

    /// Makes a new key current, announced under the present one.
    pub fn rotate(&mut self, fill: impl FnMut(&mut [u8])) -> Result<(), PkiError> {
        let _lock = files::lock(&self.dir)?;
        let next = SigningKey::generate(fill).map_err(|e| PkiError::corrupt(&self.dir, e.to_string()))?;
        let generation = self.generation + 1;
        let signed = self.key.announce(&next, generation);
        let path = announce_path(&self.dir, generation);
        files::write(
            &path,
            &minicbor::to_vec(&signed).map_err(|e| PkiError::corrupt(&path, e.to_string()))?,
            CERT_MODE,
        )?;
        write_key(&self.dir, generation, &next)?;
        self.chain.push(signed);
        self.key = next;
        self.generation = generation;
        Ok(())
    }

    /// Deletes the private keys of every older generation; returns how
    /// many were deleted. Nothing can be signed with them afterwards.
    pub fn retire_old(&self) -> Result<usize, PkiError> {
        let _lock = files::lock(&self.dir)?;
        let mut n = 0;
        for g in 0..self.generation {
            let path = key_path(&self.dir, g);
            if path.exists() {
                files::remove_if_present(&path)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

fn key_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("key-{generation}.pem"))
}

fn announce_path(dir: &Path, generation: u32) -> PathBuf {
    dir.join(format!("announce-{generation}.cbor"))
}

fn write_key(dir: &Path, generation: u32, key: &SigningKey) -> Result<(), PkiError> {
    let path = key_path(dir, generation);
    let pem = key.to_pem().map_err(|e| PkiError::corrupt(&path, e.to_string()))?;
    files::write(&path, pem.as_bytes(), KEY_MODE)
}

fn announcement(dir: &Path, generation: u32) -> Result<Option<Signed>, PkiError> {
    let path = announce_path(dir, generation);
    let Some(bytes) = files::read(&path)? else { return Ok(None) };
    minicbor::decode(&bytes).map(Some).map_err(|_| PkiError::corrupt(&path, "not a key announcement"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn counter() -> impl FnMut(&mut [u8]) {
        let mut n = 1u8;
        move |b: &mut [u8]| {
            for x in b.iter_mut() {
                n = n.wrapping_mul(29).wrapping_add(11);
                *x = n;
            }
        }
    }

    #[test]
    fn created_once_reopened_rotated_and_retired() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join("app-signing");
        let mut s = AppSigning::open_or_create(&dir, counter()).unwrap_or_else(|e| panic!("{e}"));
        let first = s.key().id();
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!((mode(&dir), mode(&key_path(&dir, 0))), (0o700, 0o600));
        let again = AppSigning::open_or_create(&dir, counter()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((again.key().id(), again.generation()), (first, 0), "reopened, not replaced");

        s.rotate(counter()).unwrap_or_else(|e| panic!("{e}"));
        s.rotate(counter()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.generation(), 2);
        // A device pinning the first key walks the chain to the current one.
        let mut trusted =
            wasmbed_trust::TrustedKey::from_sec1(again.key().public_sec1()).unwrap_or_else(|e| panic!("{e}"));
        for a in s.chain() {
            trusted = trusted.rotate(a).unwrap_or_else(|e| panic!("{e}"));
        }
        assert_eq!(trusted.id(), s.key().id());
        assert_eq!(s.retire_old().unwrap_or_else(|e| panic!("{e}")), 2);
        assert!(!key_path(&dir, 0).exists() && !key_path(&dir, 1).exists());
        let reopened = AppSigning::open_or_create(&dir, counter()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((reopened.generation(), reopened.key().id(), reopened.chain().len()), (2, s.key().id(), 2));
    }

    #[test]
    fn a_corrupt_key_is_an_error_not_a_new_key() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let dir = tmp.path().join("k");
        AppSigning::open_or_create(&dir, counter()).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(key_path(&dir, 0), "garbage").unwrap_or_else(|e| panic!("{e}"));
        let err = AppSigning::open_or_create(&dir, counter()).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("key-0.pem"), "{err}");
    }
}
