//! Module garbage collection, as a pure decision.
//!
//! A stored module is **used** while an Application's spec names it or a
//! kept revision of its history does (a rollback may need it again); so is
//! a kept revision's native artifact, which the module store also holds. A
//! module that stays unused for a grace period is deleted: the grace spares
//! a module uploaded a moment before the deploy that names it, and a
//! restarted control plane starts every grace period again (it never
//! deletes sooner than one grace after it first saw the module unused).

use std::collections::{BTreeMap, BTreeSet};

use wasmbed_model::Application;

/// Digests the applications use: their specs and every kept revision.
pub fn used<'a>(apps: impl IntoIterator<Item = &'a Application>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for a in apps {
        used.insert(a.spec.digest.to_ascii_lowercase());
        used.extend(a.status.history.iter().map(|r| r.template.digest.to_ascii_lowercase()));
        let artifacts = a.status.history.iter().flat_map(|r| &r.native).filter_map(|b| b.artifact());
        used.extend(artifacts.map(|n| n.digest.to_ascii_lowercase()));
    }
    used
}

/// When each unused module was first seen unused.
#[derive(Debug, Default, Clone)]
pub struct Sweeper {
    unused_since: BTreeMap<String, u64>,
}

impl Sweeper {
    /// The modules of `stored` to delete now: unused for at least
    /// `grace_ms`. Used modules and gone ones are forgotten.
    pub fn sweep(&mut self, stored: &[String], used: &BTreeSet<String>, now_ms: u64, grace_ms: u64) -> Vec<String> {
        let unused: BTreeSet<&String> = stored.iter().filter(|d| !used.contains(*d)).collect();
        self.unused_since.retain(|d, _| unused.contains(d));
        let mut due = Vec::new();
        for d in unused {
            let since = *self.unused_since.entry(d.clone()).or_insert(now_ms);
            if now_ms.saturating_sub(since) >= grace_ms {
                due.push(d.clone());
            }
        }
        for d in &due {
            self.unused_since.remove(d);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::{ApplicationSpec, Meta, NativeArtifactRef, NativeBuild, Revision};

    fn app(digest: &str, history: &[&str]) -> Application {
        let mut a = Application {
            meta: Meta::named("a"),
            spec: ApplicationSpec::new("1", digest, 1),
            status: Default::default(),
        };
        for (i, d) in history.iter().enumerate() {
            let template = ApplicationSpec::new("0", d, 1).template();
            a.status.history.push(Revision::new(i as u64 + 1, template, 0));
        }
        a
    }

    #[test]
    fn specs_and_kept_revisions_are_used() {
        let mut apps = [app("AA", &["bb", "cc"]), app("dd", &[])];
        assert_eq!(used(&apps).into_iter().collect::<Vec<_>>(), ["aa", "bb", "cc", "dd"]);
        // A kept revision's native artifacts are used too; a failed build names none.
        let artifact = NativeArtifactRef { board: "b".into(), digest: "EE".into(), size: 1, compiler: "c".into() };
        apps[0].status.history[0].native = vec![NativeBuild::built(artifact), NativeBuild::failed("x", "why")];
        assert_eq!(used(&apps).into_iter().collect::<Vec<_>>(), ["aa", "bb", "cc", "dd", "ee"]);
    }

    #[test]
    fn only_modules_unused_for_the_whole_grace_go() {
        let stored: Vec<String> = ["used", "fresh", "old"].map(String::from).into();
        let used: BTreeSet<String> = ["used".to_string()].into();
        let mut s = Sweeper::default();
        assert!(s.sweep(&stored[..], &used, 1_000, 500).is_empty(), "first seen unused now");
        // "fresh" is deployed meanwhile: it is used again, and forgotten.
        let mut now_used = used.clone();
        now_used.insert("fresh".into());
        assert!(s.sweep(&stored[..], &now_used, 1_400, 500).is_empty(), "grace not over");
        assert_eq!(s.sweep(&stored[..], &now_used, 1_500, 500), ["old"]);
        // Unused again: its grace starts over.
        assert!(s.sweep(&stored[..2], &used, 1_600, 500).is_empty());
        assert_eq!(s.sweep(&stored[..2], &used, 2_100, 500), ["fresh"]);
        assert!(s.sweep(&[], &used, 9_000, 500).is_empty(), "nothing stored, nothing to do");
        assert!(s.unused_since.is_empty(), "gone modules are forgotten");
    }
}
