//! What every resource carries: metadata, conditions, labels, and the
//! errors that name a bad field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels on a device, matched by application selectors.
pub type Labels = BTreeMap<String, String>;

/// Metadata every resource carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Meta {
    /// Unique within its kind; DNS-label-like.
    pub name: String,
    /// Bumped by the store on every spec write; a stale write is a conflict.
    #[serde(default)]
    pub resource_version: u64,
    /// Bumped when the spec changes; reconcilers compare it with the
    /// generation they last acted on.
    #[serde(default)]
    pub generation: u64,
    /// Creation time, Unix milliseconds.
    #[serde(default)]
    pub created_ms: u64,
}

impl Meta {
    /// Metadata for a resource about to be created.
    pub fn named(name: &str) -> Self {
        Self { name: name.into(), ..Self::default() }
    }
}

/// A Kubernetes-style condition: a named fact with a reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// What the condition is about, e.g. `Ready`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// One CamelCase word for machines.
    pub reason: String,
    /// A sentence for people.
    #[serde(default)]
    pub message: String,
    /// When `status` last changed, Unix milliseconds.
    #[serde(default)]
    pub last_transition_ms: u64,
}

/// Whether a condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ConditionStatus {
    /// It holds.
    True,
    /// It does not.
    False,
    /// Not known (yet).
    Unknown,
}

impl Condition {
    /// A condition, not yet stamped with a transition time.
    pub fn new(kind: &str, holds: bool, reason: &str, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            status: if holds { ConditionStatus::True } else { ConditionStatus::False },
            reason: reason.into(),
            message: message.into(),
            last_transition_ms: 0,
        }
    }
}

/// Replaces `conditions` with `next`, keeping each transition time whose
/// status did not change and stamping the others with `now_ms`, so that
/// re-deriving the same facts writes nothing new.
pub fn merge_conditions(conditions: &[Condition], next: Vec<Condition>, now_ms: u64) -> Vec<Condition> {
    next.into_iter()
        .map(|mut c| {
            c.last_transition_ms = match conditions.iter().find(|o| o.kind == c.kind) {
                Some(old) if old.status == c.status => old.last_transition_ms,
                _ => now_ms,
            };
            c
        })
        .collect()
}

/// A spec field that fails validation, named so the user can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct ValidationError {
    /// Dotted path of the field, e.g. `spec.selector`.
    pub field: &'static str,
    /// What is wrong.
    pub why: String,
}

/// Resource names: 1..=63 of `[a-z0-9-]`, not starting or ending with `-`.
pub fn validate_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ValidationError {
            field: "metadata.name",
            why: format!("{name:?} must be 1-63 characters of [a-z0-9-], not starting or ending with '-'"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("dev-1").is_ok());
        for bad in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conditions_keep_their_transition_time_while_unchanged() {
        let first = merge_conditions(&[], vec![Condition::new("Ready", true, "Online", "")], 10);
        assert_eq!(first[0].last_transition_ms, 10);
        let same = merge_conditions(&first, vec![Condition::new("Ready", true, "Online", "again")], 20);
        assert_eq!(same[0].last_transition_ms, 10);
        let flipped = merge_conditions(&same, vec![Condition::new("Ready", false, "Silent", "")], 30);
        assert_eq!(flipped[0].last_transition_ms, 30);
    }
}
