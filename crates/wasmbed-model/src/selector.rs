//! Equality-based label selectors, as in Kubernetes: `k=v`, `k!=v`, `k`, `!k`,
//! joined by commas (all must hold). The empty selector matches everything.

use std::fmt;
use std::str::FromStr;

use crate::Labels;

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    NotEq(String, String),
    Exists(String),
    Absent(String),
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    reqs: Vec<Req>,
}

/// Why a selector does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid selector term {term:?}: {why}")]
pub struct SelectorError {
    /// The offending term.
    pub term: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Label keys and values: `[A-Za-z0-9._/-]`, 1..=63 bytes (keys may carry a prefix).
pub(crate) fn valid_label_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
}

impl FromStr for Selector {
    type Err = SelectorError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut reqs = Vec::new();
        for raw in s.split(',') {
            let term = raw.trim();
            if term.is_empty() {
                if s.trim().is_empty() {
                    continue;
                }
                return Err(SelectorError { term: s.into(), why: "empty term between commas" });
            }
            let bad = |why| SelectorError { term: term.into(), why };
            let req = if let Some((k, v)) = term.split_once("!=") {
                Req::NotEq(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some(k) = term.strip_prefix('!') {
                Req::Absent(k.trim().into())
            } else {
                Req::Exists(term.into())
            };
            let (k, v) = match &req {
                Req::Eq(k, v) | Req::NotEq(k, v) => (k, Some(v)),
                Req::Exists(k) | Req::Absent(k) => (k, None),
            };
            if !valid_label_part(k) {
                return Err(bad("key must be 1-253 characters of [A-Za-z0-9._/-]"));
            }
            if let Some(v) = v
                && !valid_label_part(v)
            {
                return Err(bad("value must be 1-253 characters of [A-Za-z0-9._/-]"));
            }
            reqs.push(req);
        }
        Ok(Self { reqs })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reqs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match r {
                Req::Eq(k, v) => write!(f, "{k}={v}")?,
                Req::NotEq(k, v) => write!(f, "{k}!={v}")?,
                Req::Exists(k) => write!(f, "{k}")?,
                Req::Absent(k) => write!(f, "!{k}")?,
            }
        }
        Ok(())
    }
}

impl Selector {
    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => labels.get(k) == Some(v),
            Req::NotEq(k, v) => labels.get(k) != Some(v),
            Req::Exists(k) => labels.contains_key(k),
            Req::Absent(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matches_terms() {
        let l = labels(&[("app", "demo"), ("zone", "a")]);
        for (sel, want) in [
            ("", true),
            ("app=demo", true),
            ("app==demo", true),
            ("app=other", false),
            ("app!=other", true),
            ("zone", true),
            ("!zone", false),
            ("!missing", true),
            ("app=demo,zone=b", false),
        ] {
            assert_eq!(sel.parse::<Selector>().unwrap().matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn bad_selectors_name_the_term() {
        for bad in ["app=", "=x", "a=b,,c=d", "a b=c", "k=v v"] {
            let err = bad.parse::<Selector>().unwrap_err();
            assert!(!err.term.is_empty(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        let s: Selector = "a=b,c!=d,e,!f".parse().unwrap();
        assert_eq!(s.to_string().parse::<Selector>().unwrap(), s);
    }
}
