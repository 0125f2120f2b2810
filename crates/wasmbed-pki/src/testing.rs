//! What the unit tests of this crate share: a fresh PKI in a temporary
//! directory, and small helpers.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::Pki;

pub(crate) fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

pub(crate) fn sans(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

pub(crate) fn setup() -> (tempfile::TempDir, PathBuf, SystemTime, Pki) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state").join("pki");
    let now = SystemTime::now();
    let pki = Pki::open_or_create(&dir, now).unwrap();
    (tmp, dir, now, pki)
}
