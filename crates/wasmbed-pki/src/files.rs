//! Files under the PKI directory.
//!
//! Guarantees: a private key is never readable by anyone but the owner, not
//! even for an instant (its mode is given to `open(2)`, and tightened to the
//! exact value on the descriptor before any byte is written); a file is
//! replaced whole by `rename(2)` or not at all; reads are bounded.
//! Assumes: a Unix file system, and that every process sharing a directory
//! takes [`lock`] around what it reads and writes there.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::PkiError;

/// Mode of the PKI directory and its `devices/` subdirectory.
pub(crate) const DIR_MODE: u32 = 0o700;
/// Mode of private keys.
pub(crate) const KEY_MODE: u32 = 0o600;
/// Mode of certificates (public).
pub(crate) const CERT_MODE: u32 = 0o644;
/// Stored PEM files are well under a kilobyte; anything far larger is not ours.
const MAX_FILE_LEN: u64 = 64 * 1024;
const LOCK_FILE: &str = ".lock";

/// Creates `dir` with mode 0700 if it does not exist (its parents with the
/// default mode). An existing directory keeps its mode.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), PkiError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(PkiError::io(parent))?;
    }
    match DirBuilder::new().mode(DIR_MODE).create(dir) {
        // The umask may have cleared bits; the directory is still empty.
        Ok(()) => fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(PkiError::io(dir)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(PkiError::io(dir)(e)),
    }
}

/// Takes an exclusive advisory lock on `dir`, held until the file is dropped.
pub(crate) fn lock(dir: &Path) -> Result<File, PkiError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(KEY_MODE)
        .open(&path)
        .map_err(PkiError::io(&path))?;
    file.lock().map_err(PkiError::io(&path))?;
    Ok(file)
}

/// Reads a whole file; `None` if it does not exist.
pub(crate) fn read(path: &Path) -> Result<Option<Vec<u8>>, PkiError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(PkiError::io(path)(e)),
    };
    let mut bytes = Vec::new();
    file.take(MAX_FILE_LEN + 1).read_to_end(&mut bytes).map_err(PkiError::io(path))?;
    if bytes.len() as u64 > MAX_FILE_LEN {
        return Err(PkiError::corrupt(path, "file is far too large"));
    }
    Ok(Some(bytes))
}

/// Writes `bytes` to `path` with exactly `mode`, replacing any previous file
/// atomically.
pub(crate) fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = tmp_path(path);
    remove_if_present(&tmp)?;
    let mut file = OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp).map_err(PkiError::io(&tmp))?;
    let written = file
        .set_permissions(Permissions::from_mode(mode))
        .and_then(|()| file.write_all(bytes))
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(PkiError::io(&tmp)(e));
    }
    fs::rename(&tmp, path).map_err(PkiError::io(path))?;
    sync_dir(path)
}

/// Removes a file; absent is fine.
pub(crate) fn remove_if_present(path: &Path) -> Result<(), PkiError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(PkiError::io(path)(e)),
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a rename durable.
fn sync_dir(path: &Path) -> Result<(), PkiError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(PkiError::io(dir))
}
