//! The audit log's hash chain, and its check.
//!
//! Rules, in short:
//! - An entry's canonical encoding is its line as written: compact JSON,
//!   fields in a fixed order, facts sorted by key. The chain hashes those
//!   bytes, never a re-encoding, so a later version that adds a field
//!   still checks old lines.
//! - Each entry's `prev` is the SHA-256 (hex) of the line before it, or
//!   [`GENESIS`] on the first line.
//! - Lines written before the chain existed have no `prev`. They are
//!   accepted only before the first chained entry, counted as
//!   `unchained`, and protected only as far as the first chained entry
//!   covers the last of them: editing an earlier one goes unnoticed.
//! - A line that is not an entry is a torn write (a crash mid-append) when
//!   it is the last line, the next entry links to it, or it is among the
//!   unchained lines; anywhere else it is tampering.
//! - A file alone cannot show that its last lines were removed, or that
//!   its last line was changed: nothing follows them. The API holds the
//!   hash of the last line it wrote, and its verify compares the two.

use std::io::BufRead;

use sha2::{Digest, Sha256};

/// `prev` of the first entry of a log: 32 zero bytes, in hex.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hash the next line links to: SHA-256 of `line` (without its newline), hex.
pub fn link(line: &[u8]) -> String {
    hex::encode(Sha256::digest(line))
}

/// What a check of an intact log found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verified {
    /// Lines read.
    pub lines: usize,
    /// Of them, entries in the chain.
    pub chained: usize,
    /// Of them, entries written before the chain existed (no `prev`).
    pub unchained: usize,
    /// Line numbers (from 1) of torn writes the chain carries over.
    pub torn: Vec<usize>,
    /// The hash the next entry will link to.
    pub head: String,
}

/// Where and how a log breaks its chain; lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    /// An entry's link does not match the line before it.
    #[error(
        "line {line} does not link to line {previous}: line {previous} was changed, or lines were deleted, \
         inserted or moved between them"
    )]
    Broken {
        /// The line whose link is wrong.
        line: usize,
        /// The line it should have linked to.
        previous: usize,
    },
    /// The first line links to something other than the genesis value.
    #[error("line 1 does not start the chain: its prev is not the genesis value (lines before it were removed?)")]
    NoGenesis,
    /// A line that is not an entry, and not a torn write.
    #[error("line {line}: not an audit entry ({why})")]
    NotAnEntry {
        /// The line.
        line: usize,
        /// What the parser said.
        why: String,
    },
    /// An entry without a link after chained entries.
    #[error("line {line}: an entry without a chain link after chained entries (inserted)")]
    Unchained {
        /// The line.
        line: usize,
    },
    /// The log could not be read.
    #[error("cannot read the audit log: {0}")]
    Read(String),
}

impl ChainError {
    /// The line the problem is on, when there is one.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Broken { line, .. } | Self::NotAnEntry { line, .. } | Self::Unchained { line } => Some(*line),
            Self::NoGenesis => Some(1),
            Self::Read(_) => None,
        }
    }
}

/// Only the link of a line; the rest is not needed to check the chain.
#[derive(serde::Deserialize)]
struct Link {
    #[serde(default)]
    prev: Option<String>,
}

/// Checks the chain of a log read from `r` (the JSON-lines file).
pub fn verify(mut r: impl BufRead) -> Result<Verified, ChainError> {
    let mut v = Verified { lines: 0, chained: 0, unchained: 0, torn: Vec::new(), head: GENESIS.to_string() };
    // A line that did not parse, waiting to see whether the next links to it.
    let mut pending: Option<(usize, String)> = None;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if r.read_until(b'\n', &mut buf).map_err(|e| ChainError::Read(e.to_string()))? == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        v.lines += 1;
        let n = v.lines;
        match serde_json::from_slice::<Link>(line) {
            Ok(Link { prev: Some(prev) }) => {
                if prev != v.head {
                    return Err(if n == 1 {
                        ChainError::NoGenesis
                    } else {
                        ChainError::Broken { line: n, previous: n - 1 }
                    });
                }
                if let Some((torn, _)) = pending.take() {
                    v.torn.push(torn);
                }
                v.chained += 1;
            }
            // Before the chain, a torn write was merged with the next line
            // (old versions appended right after it): nothing to link.
            Ok(Link { prev: None }) if v.chained == 0 => {
                if let Some((torn, _)) = pending.take() {
                    v.torn.push(torn);
                }
                v.unchained += 1;
            }
            Ok(Link { prev: None }) => return Err(ChainError::Unchained { line: n }),
            Err(e) => {
                if let Some((line, why)) = pending.take() {
                    return Err(ChainError::NotAnEntry { line, why });
                }
                pending = Some((n, e.to_string()));
            }
        }
        v.head = link(line);
    }
    // A torn last line: the crash this rule is for.
    if let Some((torn, _)) = pending {
        v.torn.push(torn);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chained log of `n` lines, each a minimal entry.
    fn log(n: usize) -> Vec<String> {
        let mut prev = GENESIS.to_string();
        (0..n)
            .map(|i| {
                let line = format!(r#"{{"atMs":{i},"action":"a","prev":"{prev}"}}"#);
                prev = link(line.as_bytes());
                line
            })
            .collect()
    }

    fn check(lines: &[String]) -> Result<Verified, ChainError> {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        verify(text.as_bytes())
    }

    #[test]
    fn an_intact_log_passes_and_names_its_head() {
        let lines = log(4);
        let v = check(&lines).unwrap();
        assert_eq!((v.lines, v.chained, v.unchained), (4, 4, 0));
        assert_eq!(v.head, link(lines[3].as_bytes()));
        assert_eq!(check(&[]).unwrap().head, GENESIS, "an empty log links to genesis");
    }

    #[test]
    fn a_changed_line_is_named() {
        let mut lines = log(5);
        lines[2] = lines[2].replace(r#""atMs":2"#, r#""atMs":9"#);
        let e = check(&lines).unwrap_err();
        assert_eq!(e, ChainError::Broken { line: 4, previous: 3 });
        assert!(e.to_string().contains("line 3 was changed"), "{e}");
    }

    #[test]
    fn deleted_inserted_and_moved_lines_break_the_chain_where_they_are() {
        let lines = log(5);
        let mut deleted = lines.clone();
        deleted.remove(1);
        assert_eq!(check(&deleted).unwrap_err().line(), Some(2));
        let mut inserted = lines.clone();
        inserted.insert(3, lines[1].clone());
        assert_eq!(check(&inserted).unwrap_err().line(), Some(4));
        let mut moved = lines.clone();
        moved.swap(2, 3);
        assert_eq!(check(&moved).unwrap_err().line(), Some(3));
        let mut first_gone = lines.clone();
        first_gone.remove(0);
        assert_eq!(check(&first_gone).unwrap_err(), ChainError::NoGenesis);
    }

    #[test]
    fn entries_from_before_the_chain_are_a_prefix_only() {
        let legacy = r#"{"atMs":1,"action":"old"}"#.to_string();
        let first = format!(r#"{{"atMs":2,"action":"a","prev":"{}"}}"#, link(legacy.as_bytes()));
        let v = check(&[legacy.clone(), first.clone()]).unwrap();
        assert_eq!((v.chained, v.unchained), (1, 1));
        let e = check(&[legacy.clone(), first, legacy]).unwrap_err();
        assert_eq!(e, ChainError::Unchained { line: 3 });
    }

    #[test]
    fn a_torn_write_is_carried_but_garbage_in_the_middle_is_not() {
        let mut lines = log(2);
        let torn = r#"{"atMs":2,"act"#.to_string();
        let after = format!(r#"{{"atMs":3,"action":"a","prev":"{}"}}"#, link(torn.as_bytes()));
        lines.push(torn.clone());
        assert_eq!(check(&lines).unwrap().torn, [3], "a torn last line");
        lines.push(after);
        assert_eq!(check(&lines).unwrap().torn, [3], "linked over by the next entry");
        let mut garbage = log(3);
        garbage[1] = "not json".into();
        assert!(matches!(check(&garbage).unwrap_err(), ChainError::Broken { line: 3, previous: 2 }));
        let mut two = log(3);
        two.insert(1, "x".into());
        two.insert(1, "y".into());
        assert!(matches!(check(&two).unwrap_err(), ChainError::NotAnEntry { line: 2, .. }));
    }

    #[test]
    fn a_line_without_its_newline_still_counts() {
        let lines = log(2);
        let text = format!("{}\n{}", lines[0], lines[1]);
        assert_eq!(verify(text.as_bytes()).unwrap().head, link(lines[1].as_bytes()));
    }
}
