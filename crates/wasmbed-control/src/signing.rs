//! Signing the manifests devices are sent. The control plane is the only
//! holder of the app-signing key; gateways relay what it signed.
//!
//! Which manifests are valid: signed by the current key, with a sequence
//! at or above the application's highest stated floor (a device refuses
//! anything below a floor it has seen). Each pass makes sure every
//! revision a device may be sent now (the rollout's revision and the one
//! it replaces) has a valid manifest; those that do not are signed afresh,
//! with a floor at the lowest of those in use. So a rollback to the
//! revision just before needs no new signature, a rollback further back
//! gets one, and nothing older than what is in use can be replayed.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use wasmbed_model::{ApplicationStatus, Condition, SignedManifest, deploy_manifest, merge_conditions, native_codes};
use wasmbed_trust::SigningKey;

/// The current app-signing key, shared with whoever rotates it.
pub type SharedKey = Arc<RwLock<SigningKey>>;

/// Checks a stored device module before anything signs it: device
/// firmware compiles signed modules without validating them, so a
/// signature must only ever cover a module that validates. (Edge
/// components are compiled, and so checked, by the gateway running them.)
#[async_trait]
pub trait ModuleCheck: Send + Sync {
    /// Whether the module stored under `digest` validates; if not, why.
    async fn check(&self, digest: &str) -> Result<(), CheckError>;
}

/// Why a module is not signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckError {
    /// It does not validate. A digest names fixed bytes: it never will.
    Invalid(String),
    /// It cannot be read now (not uploaded yet, or the store failed): it is
    /// checked again on a later pass.
    Unavailable(String),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(why) => write!(f, "does not validate: {why}"),
            Self::Unavailable(why) => write!(f, "cannot be checked yet: {why}"),
        }
    }
}

/// The condition a device application's status carries about signing.
pub const SIGNED_CONDITION: &str = "Signed";

/// `status`'s conditions with [`SIGNED_CONDITION`]: true when the
/// module of every revision devices may be sent now passed its check,
/// false naming each that `refused` (why), whose devices refuse it as
/// unsigned. Absent while there is no rollout.
pub fn with_signed_condition(
    old: &[Condition],
    mut status: ApplicationStatus,
    refused: impl Fn(&str) -> Option<CheckError>,
    now_ms: u64,
) -> ApplicationStatus {
    let cond = status.rollout.as_ref().map(|ro| {
        let revs = ro.sent_revisions();
        let problems: Vec<(u64, String, CheckError)> = revs
            .iter()
            .filter_map(|&rev| status.revision(rev))
            .filter_map(|r| refused(&r.template.digest).map(|e| (r.revision, r.template.digest.clone(), e)))
            .collect();
        if problems.is_empty() {
            let list: Vec<String> = revs.iter().map(u64::to_string).collect();
            return Condition::new(SIGNED_CONDITION, true, "Signed", format!("revision {} signed", list.join(", ")));
        }
        let invalid = problems.iter().any(|(_, _, e)| matches!(e, CheckError::Invalid(_)));
        let message: Vec<String> = problems
            .iter()
            .map(|(rev, digest, e)| format!("revision {rev}: module {} {e}", digest.get(..12).unwrap_or(digest)))
            .collect();
        let reason = if invalid { "ModuleInvalid" } else { "ModuleUnavailable" };
        let message = format!("{}; devices refuse it as unsigned", message.join("; "));
        Condition::new(SIGNED_CONDITION, false, reason, message)
    });
    let mut conditions: Vec<Condition> =
        status.conditions.iter().filter(|c| c.kind != SIGNED_CONDITION).cloned().collect();
    conditions.extend(cond.map(|c| merge_conditions(old, vec![c], now_ms)).into_iter().flatten());
    status.conditions = conditions;
    status
}

impl std::fmt::Debug for dyn ModuleCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModuleCheck")
    }
}

/// Signs what `status` (the next status of application `app`) needs and
/// drops manifests of revisions no device is sent any more. A revision
/// whose module `valid` refuses is not signed (devices then refuse it as
/// unsigned).
pub fn sign_manifests(
    app: &str,
    status: &mut ApplicationStatus,
    key: &SigningKey,
    valid_module: impl Fn(&str) -> bool,
) {
    let Some(ro) = &status.rollout else { return };
    let needed = ro.sent_revisions();
    let mut signing = status.signing.take().unwrap_or_default();
    // Read off the envelope itself (which must decode anyway), not the
    // record's hex copy of its key id. A manifest naming other native code
    // than the revision's builds (a board built since) is signed afresh.
    let valid = |m: &SignedManifest, floor: u64, rev: u64| {
        m.sequence >= floor
            && m.signed().is_some_and(|s| *s.key_id == key.id())
            && m.manifest().is_some_and(|man| man.native == status.revision(rev).and_then(|r| native_codes(&r.native)))
    };
    // Sequences: kept where valid, the next ones where not.
    let mut plan: Vec<(u64, u64, bool)> = Vec::new();
    for &rev in &needed {
        if status.revision(rev).is_none_or(|r| !valid_module(&r.template.digest)) {
            continue;
        }
        match signing.manifest(rev).filter(|m| valid(m, signing.floor, rev)) {
            Some(m) => plan.push((rev, m.sequence, false)),
            None => {
                signing.sequence += 1;
                plan.push((rev, signing.sequence, true));
            }
        }
    }
    let floor = plan.iter().map(|p| p.1).min().unwrap_or(signing.floor).max(signing.floor);
    let mut manifests = Vec::new();
    for (rev, sequence, fresh) in plan {
        if !fresh {
            manifests.extend(signing.manifest(rev).cloned());
            continue;
        }
        let Some(r) = status.revision(rev) else { continue };
        let t = &r.template;
        let Some(mut m) =
            deploy_manifest(app, rev, &t.version, &t.digest, t.size, &t.capabilities, t.limits, &t.config)
        else {
            continue;
        };
        m.native = native_codes(&r.native);
        m.sequence = sequence;
        m.floor = floor;
        manifests.push(SignedManifest::new(rev, sequence, &key.sign_manifest(&m)));
    }
    signing.floor = floor;
    signing.manifests = manifests;
    status.signing = Some(signing);
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::{AppTemplate, Limits, NativeArtifactRef, NativeBuild, Revision, RolloutStatus};
    use wasmbed_trust::TrustedKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::generate(|b| b.fill(seed)).unwrap_or_else(|e| panic!("{e}"))
    }

    fn template(version: &str) -> AppTemplate {
        AppTemplate {
            version: version.into(),
            digest: "ab".repeat(32),
            size: 10,
            capabilities: vec!["log".into()],
            limits: Limits::default(),
            config: Default::default(),
            execution: wasmbed_model::Execution::Native,
        }
    }

    fn status_at(revision: u64, previous: Option<u64>, history: u64) -> ApplicationStatus {
        ApplicationStatus {
            rollout: Some(RolloutStatus::start(revision, previous, 0)),
            history: (1..=history).map(|r| Revision::new(r, template(&r.to_string()), 0)).collect(),
            ..Default::default()
        }
    }

    fn seq(st: &ApplicationStatus, rev: u64) -> u64 {
        st.signing.as_ref().and_then(|s| s.manifest(rev)).map_or(0, |m| m.sequence)
    }

    /// Plays a device that accepted every manifest in `st`: its floor.
    fn device_floor(st: &ApplicationStatus, k: &SigningKey, floor: u64) -> u64 {
        let t = k.trusted();
        st.signing.iter().flat_map(|s| &s.manifests).fold(floor, |f, m| {
            let man =
                t.verify_manifest(&m.signed().unwrap_or_else(|| panic!("envelope"))).unwrap_or_else(|e| panic!("{e}"));
            assert!(man.sequence >= f, "a device would refuse revision {}", m.revision);
            f.max(man.floor)
        })
    }

    #[test]
    fn new_revisions_are_signed_and_old_ones_stay_valid_until_replaced() {
        let k = key(1);
        let mut st = status_at(1, None, 1);
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!(seq(&st, 1), 1);
        let f = device_floor(&st, &k, 0);
        // Rollout of 2 from 1: 1 keeps its manifest, 2 gets the next.
        st.rollout = Some(RolloutStatus::start(2, Some(1), 0));
        st.history.push(Revision::new(2, template("2"), 0));
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!((seq(&st, 1), seq(&st, 2)), (1, 2));
        let f = device_floor(&st, &k, f);
        // Signing again changes nothing.
        let before = st.clone();
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!(st, before);
        // Rollout of 3 from 2: 1 is dropped and no longer vouched for.
        st.rollout = Some(RolloutStatus::start(3, Some(2), 0));
        st.history.push(Revision::new(3, template("3"), 0));
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!((seq(&st, 1), seq(&st, 2), seq(&st, 3)), (0, 2, 3));
        let f = device_floor(&st, &k, f);
        assert_eq!(f, 2, "revision 1's manifest is now a replay");
        // Rollback to 1 (kept in history): signed again, above the floor.
        st.rollout = Some(RolloutStatus { rollback: true, ..RolloutStatus::start(1, Some(3), 0) });
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!((seq(&st, 1), seq(&st, 3)), (4, 3));
        device_floor(&st, &k, f);
    }

    #[test]
    fn manifests_name_the_native_builds_and_a_new_build_is_signed_again() {
        let k = key(5);
        let mut st = status_at(1, None, 1);
        let artifact = |board: &str, byte: u8| NativeArtifactRef {
            board: board.into(),
            digest: hex::encode([byte; 32]),
            size: 100,
            compiler: "wasm2c; gcc".into(),
        };
        st.history[0].native =
            vec![NativeBuild::built(artifact("mps2-an385", 1)), NativeBuild::failed("mps2-an386", "gcc failed")];
        sign_manifests("a", &mut st, &k, |_| true);
        let named = |st: &ApplicationStatus| {
            let m = st.signing.as_ref().and_then(|s| s.manifest(1)).unwrap_or_else(|| panic!("signed"));
            let env = m.signed().unwrap_or_else(|| panic!("envelope"));
            let man = k.trusted().verify_manifest(&env).unwrap_or_else(|e| panic!("{e}"));
            man.native.unwrap_or_default().iter().map(|c| c.board.clone()).collect::<Vec<_>>()
        };
        assert_eq!(named(&st), ["mps2-an385"], "failed builds are not named");
        assert_eq!(seq(&st, 1), 1);
        // Unchanged builds keep the manifest; a board built since gets a new one.
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!(seq(&st, 1), 1);
        st.history[0].native.push(NativeBuild::built(artifact("mps2-an500", 2)));
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!(seq(&st, 1), 2);
        assert_eq!(named(&st), ["mps2-an385", "mps2-an500"]);
    }

    #[test]
    fn a_module_that_does_not_validate_is_never_signed() {
        let k = key(6);
        let mut st = status_at(2, Some(1), 2);
        st.history[1].template.digest = "cd".repeat(32);
        sign_manifests("a", &mut st, &k, |d| d != "cd".repeat(32));
        assert_eq!((seq(&st, 1), seq(&st, 2)), (1, 0), "revision 2's module does not validate");
    }

    #[test]
    fn a_new_key_signs_everything_in_use_again() {
        let (k0, k1) = (key(2), key(3));
        let mut st = status_at(2, Some(1), 2);
        sign_manifests("a", &mut st, &k0, |_| true);
        sign_manifests("a", &mut st, &k1, |_| true);
        let s = st.signing.as_ref().unwrap_or_else(|| panic!("signed"));
        assert_eq!(s.manifests.len(), 2);
        let t: TrustedKey = k1.trusted();
        assert!(s.manifests.iter().all(|m| m.signed().is_some_and(|e| t.verify_manifest(&e).is_ok())));
        assert_eq!((seq(&st, 1), seq(&st, 2)), (3, 4));
    }

    #[test]
    fn a_corrupt_record_is_signed_again_and_no_rollout_signs_nothing() {
        let k = key(4);
        let mut st = status_at(1, None, 1);
        sign_manifests("a", &mut st, &k, |_| true);
        if let Some(s) = st.signing.as_mut() {
            s.manifests[0].envelope = "not hex".into();
        }
        sign_manifests("a", &mut st, &k, |_| true);
        assert_eq!(seq(&st, 1), 2);
        let mut idle = ApplicationStatus::default();
        sign_manifests("a", &mut idle, &k, |_| true);
        assert_eq!(idle.signing, None);
    }
}
