//! Native builds: which (revision, board) pairs an application needs
//! compiled, the record of each, and the condition that tells people which
//! boards run native code and which fall back to the interpreter.
//!
//! Compiling is the platform's job, behind [`NativeBuilder`]: the control
//! plane runs no process. A revision asking for `native` or `auto` is
//! built once per board among the devices it targets, before its manifest
//! is signed (the manifest names each artifact); a board that joins later
//! is built when it does, and the manifest signed again. Builds run in
//! the background ([`Builds`]): only the application waiting for one
//! waits. Without a
//! builder, or when a build fails, the board's devices run the interpreter
//! and the record says why.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{Semaphore, mpsc};
use wasmbed_model::{
    Application, ApplicationStatus, Condition, Device, NativeArtifactRef, NativeBuild, NativeBuildState,
    merge_conditions,
};

use crate::desired::targets;

/// Compiles a stored module for a board and stores the artifact where
/// gateways read modules.
#[async_trait]
pub trait NativeBuilder: Send + Sync {
    /// The module stored under `module_digest`, compiled for `board`: the
    /// artifact (already in the module store), or why there is none.
    async fn build(&self, module_digest: &str, board: &str) -> Result<NativeArtifactRef, String>;

    /// What a build for `board` would name as its compiler now (`None`:
    /// no build for it). Code built by another compiler (an older
    /// platform's) is built again.
    fn compiler(&self, board: &str) -> Option<String>;
}

impl std::fmt::Debug for dyn NativeBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NativeBuilder")
    }
}

/// What a control plane without a builder records for every board.
pub const NO_TOOLCHAIN: &str = "no native toolchain on this control plane: runs interpreted";

/// The condition a native application's status carries.
pub const CONDITION: &str = "NativeCode";

/// Boards of the devices `app` targets.
pub fn target_boards<'a>(app: &Application, devices: impl IntoIterator<Item = &'a Device>) -> BTreeSet<String> {
    devices.into_iter().filter(|d| targets(app, &d.spec.labels)).map(|d| d.spec.board.clone()).collect()
}

/// The (revision, module digest, board) builds `status` lacks: for the
/// revisions devices may be sent now (the rollout's and the one it
/// replaces), when they ask for native code, one per board in `boards`
/// that has no record, or code from a compiler other than `compiler`
/// says is current for the board.
pub fn missing(
    status: &ApplicationStatus,
    boards: &BTreeSet<String>,
    compiler: impl Fn(&str) -> Option<String>,
) -> Vec<(u64, String, String)> {
    let Some(ro) = &status.rollout else { return Vec::new() };
    let mut out = Vec::new();
    for rev in ro.sent_revisions() {
        let Some(r) = status.revision(rev).filter(|r| !r.template.execution.is_interpreted()) else { continue };
        for board in boards {
            let current = |b: &NativeBuild| match (b.artifact(), compiler(board)) {
                (Some(a), Some(now)) => a.compiler == now,
                _ => true,
            };
            if !r.native.iter().any(|b| &b.board == board && current(b)) {
                out.push((rev, r.template.digest.clone(), board.clone()));
            }
        }
    }
    out.dedup();
    out
}

/// Module digests of the revisions devices may be sent now (the
/// rollout's and the one it replaces).
pub fn sent_digests(status: &ApplicationStatus) -> Vec<String> {
    let Some(ro) = &status.rollout else { return Vec::new() };
    let revs = ro.sent_revisions().into_iter();
    let mut out: Vec<String> = revs.filter_map(|r| status.revision(r)).map(|r| r.template.digest.clone()).collect();
    out.dedup();
    out
}

/// Records `build` on revision `rev`, keeping the records sorted by board.
pub fn record(status: &mut ApplicationStatus, rev: u64, build: NativeBuild) {
    let Some(r) = status.history.iter_mut().find(|r| r.revision == rev) else { return };
    r.native.retain(|b| b.board != build.board);
    r.native.push(build);
    r.native.sort_by(|a, b| a.board.cmp(&b.board));
}

/// What a build for `board` that answered `result` is recorded as.
fn outcome(board: &str, result: Result<NativeArtifactRef, String>) -> NativeBuild {
    let build = match result {
        Ok(artifact) if artifact.board == board => NativeBuild::built(artifact),
        Ok(artifact) => NativeBuild::failed(board, format!("the builder made code for {}", artifact.board)),
        Err(why) => NativeBuild::failed(board, why),
    };
    match &build.reason {
        Some(why) => tracing::warn!(%board, "native build failed, runs interpreted: {why}"),
        None => tracing::info!(%board, "native code built"),
    }
    build
}

/// How many builds run at once (each runs a compiler process).
pub const PARALLEL_BUILDS: usize = 2;

/// A build that ended, as [`Builds`] reports it to the reconcilers.
#[derive(Debug)]
pub struct Finished {
    digest: String,
    board: String,
    build: NativeBuild,
}

/// Native builds in the background, so the reconcilers never wait for a
/// compiler: an application whose builds are running keeps its status
/// (nothing is signed or sent for it) until they end, while every other
/// resource is reconciled as usual.
pub struct Builds {
    builder: Option<Arc<dyn NativeBuilder>>,
    /// (module digest, board) being built → the applications waiting.
    running: BTreeMap<(String, String), BTreeSet<String>>,
    /// Builds that ended (cached by the builder too; kept here so an
    /// application's next pass records them without asking again).
    ended: BTreeMap<(String, String), NativeBuild>,
    done: mpsc::UnboundedSender<Finished>,
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Builds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builds").field("running", &self.running).finish_non_exhaustive()
    }
}

impl Builds {
    /// Builds with `builder` (`None`: every board records [`NO_TOOLCHAIN`]);
    /// what ends arrives on the receiver, for [`Builds::ended`].
    pub fn new(builder: Option<Arc<dyn NativeBuilder>>) -> (Self, mpsc::UnboundedReceiver<Finished>) {
        let (done, ended) = mpsc::unbounded_channel();
        let slots = Arc::new(Semaphore::new(PARALLEL_BUILDS));
        (Self { builder, running: BTreeMap::new(), ended: BTreeMap::new(), done, slots }, ended)
    }

    /// Records in `status` (application `app`'s next status) every build
    /// that ended, and starts those it lacks for `boards`. True when `app`
    /// waits for a build still running.
    pub fn advance(&mut self, app: &str, status: &mut ApplicationStatus, boards: &BTreeSet<String>) -> bool {
        let builder = self.builder.clone();
        let compiler = |board: &str| builder.as_ref().and_then(|b| b.compiler(board));
        let mut waiting = false;
        for (rev, digest, board) in missing(status, boards, compiler) {
            let Some(b) = &builder else {
                record(status, rev, NativeBuild::failed(&board, NO_TOOLCHAIN));
                continue;
            };
            let key = (digest, board);
            if let Some(build) = self.ended.get(&key) {
                record(status, rev, build.clone());
                continue;
            }
            waiting = true;
            let waiters = self.running.entry(key.clone()).or_default();
            if waiters.is_empty() {
                let (b, done, slots) = (b.clone(), self.done.clone(), self.slots.clone());
                tokio::spawn(async move {
                    // Closed only if the reconcilers stopped: nothing to build for.
                    let Ok(_slot) = slots.acquire_owned().await else { return };
                    let (digest, board) = key;
                    let build = outcome(&board, b.build(&digest, &board).await);
                    let _ = done.send(Finished { digest, board, build });
                });
            }
            waiters.insert(app.to_owned());
        }
        waiting
    }

    /// Keeps a build that ended; returns the applications waiting for it.
    pub fn ended(&mut self, f: Finished) -> BTreeSet<String> {
        let key = (f.digest, f.board);
        self.ended.insert(key.clone(), f.build);
        self.running.remove(&key).unwrap_or_default()
    }
}

/// `status`'s conditions with [`CONDITION`] for the rollout's revision:
/// true when every board it was built for runs native code, false (with
/// each fallback's reason) when some run the interpreter; absent for an
/// interpreted revision.
pub fn with_condition(old: &[Condition], mut status: ApplicationStatus, now_ms: u64) -> ApplicationStatus {
    let rev = status.rollout.as_ref().and_then(|ro| status.revision(ro.revision));
    let cond = rev.filter(|r| !r.template.execution.is_interpreted() && !r.native.is_empty()).map(|r| {
        let built: Vec<&str> = r.native.iter().filter(|b| b.artifact().is_some()).map(|b| b.board.as_str()).collect();
        let failed: Vec<String> = r
            .native
            .iter()
            .filter(|b| b.state == NativeBuildState::Failed)
            .map(|b| format!("{}: {}", b.board, b.reason.as_deref().unwrap_or("failed")))
            .collect();
        let mut message = format!("revision {}", r.revision);
        if !built.is_empty() {
            message.push_str(&format!(": native code on {}", built.join(", ")));
        }
        if !failed.is_empty() {
            message.push_str(&format!("; interpreted on {}", failed.join("; ")));
        }
        let all = failed.is_empty();
        Condition::new(CONDITION, all, if all { "Built" } else { "Fallback" }, message)
    });
    let mut conditions: Vec<Condition> = status.conditions.iter().filter(|c| c.kind != CONDITION).cloned().collect();
    conditions.extend(cond.map(|c| merge_conditions(old, vec![c], now_ms)).into_iter().flatten());
    status.conditions = conditions;
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use wasmbed_model::{
        ApplicationSpec, ConditionStatus, Execution, Labels, Meta, Revision, RolloutStatus, SIM_BOARD,
    };
    use wasmbed_testkit::With;

    /// What [`Builds::advance`] records, one build awaited after another
    /// (the same `missing`, `outcome` and `record`, without tasks).
    async fn build_missing(
        status: &mut ApplicationStatus,
        boards: &BTreeSet<String>,
        builder: Option<&dyn NativeBuilder>,
    ) {
        let compiler = |board: &str| builder.and_then(|b| b.compiler(board));
        for (rev, digest, board) in missing(status, boards, compiler) {
            let build = match builder {
                None => NativeBuild::failed(&board, NO_TOOLCHAIN),
                Some(b) => outcome(&board, b.build(&digest, &board).await),
            };
            record(status, rev, build);
        }
    }

    struct Fake {
        calls: Mutex<Vec<(String, String)>>,
        compiler: Mutex<String>,
    }

    impl Fake {
        fn new() -> Self {
            Self { calls: Mutex::new(Vec::new()), compiler: Mutex::new("c".into()) }
        }
    }

    #[async_trait]
    impl NativeBuilder for Fake {
        fn compiler(&self, _board: &str) -> Option<String> {
            Some(self.compiler.lock().unwrap().clone())
        }

        async fn build(&self, digest: &str, board: &str) -> Result<NativeArtifactRef, String> {
            self.calls.lock().unwrap().push((digest.into(), board.into()));
            if board == "mps2-an386" {
                return Err("arm-none-eabi-gcc failed: internal error".into());
            }
            if board == "odd" {
                return Ok(NativeArtifactRef {
                    board: "other".into(),
                    digest: "cc".repeat(32),
                    size: 1,
                    compiler: "c".into(),
                });
            }
            let compiler = self.compiler.lock().unwrap().clone();
            Ok(NativeArtifactRef { board: board.into(), digest: "aa".repeat(32), size: 10, compiler })
        }
    }

    fn status(execution: Execution) -> ApplicationStatus {
        let spec = ApplicationSpec { execution, ..ApplicationSpec::new("1", &"ab".repeat(32), 10) };
        ApplicationStatus {
            rollout: Some(RolloutStatus::start(2, Some(1), 0)),
            history: vec![Revision::new(1, spec.template(), 0), Revision::new(2, spec.template(), 0)],
            ..Default::default()
        }
    }

    fn boards(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|b| b.to_string()).collect()
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    }

    #[test]
    fn each_needed_revision_is_built_once_per_target_board_and_failures_fall_back_with_a_reason() {
        let fake = Fake::new();
        let mut st = status(Execution::Auto);
        block_on(build_missing(&mut st, &boards(&["mps2-an385", "mps2-an386", "odd"]), Some(&fake)));
        assert_eq!(fake.calls.lock().unwrap().len(), 6, "two revisions, three boards");
        let r = st.revision(2).unwrap();
        assert_eq!(r.native.iter().map(|b| b.board.as_str()).collect::<Vec<_>>(), ["mps2-an385", "mps2-an386", "odd"]);
        assert_eq!(r.artifact_for("mps2-an385").map(|a| a.size), Some(10));
        assert_eq!(r.artifact_for("mps2-an386"), None);
        assert!(r.native[1].reason.as_deref().unwrap().contains("internal error"));
        assert!(r.native[2].reason.as_deref().unwrap().contains("code for other"), "a wrong board is refused");
        // Nothing is built twice; a new board is built when it appears.
        block_on(build_missing(&mut st, &boards(&["mps2-an385", "mps2-an386", "odd", "mps2-an500"]), Some(&fake)));
        assert_eq!(fake.calls.lock().unwrap().len(), 8);

        let st = with_condition(&[], st, 7);
        let c = st.conditions.iter().find(|c| c.kind == CONDITION).unwrap();
        assert_eq!((c.status, c.reason.as_str(), c.last_transition_ms), (ConditionStatus::False, "Fallback", 7));
        assert!(c.message.contains("native code on mps2-an385, mps2-an500"), "{}", c.message);
        assert!(c.message.contains("interpreted on mps2-an386: arm-none-eabi-gcc failed"), "{}", c.message);
    }

    #[test]
    fn code_from_another_compiler_is_built_again() {
        let fake = Fake::new();
        let mut st = status(Execution::Native);
        block_on(build_missing(&mut st, &boards(&["mps2-an385"]), Some(&fake)));
        assert_eq!(fake.calls.lock().unwrap().len(), 2, "two revisions");
        // The platform was upgraded: its compiler (or runtime) changed.
        *fake.compiler.lock().unwrap() = "c2".into();
        block_on(build_missing(&mut st, &boards(&["mps2-an385"]), Some(&fake)));
        assert_eq!(fake.calls.lock().unwrap().len(), 4, "both rebuilt");
        let artifact = st.revision(2).unwrap().artifact_for("mps2-an385").unwrap();
        assert_eq!(artifact.compiler, "c2");
        assert_eq!(st.revision(2).unwrap().native.len(), 1, "the record replaced");
        block_on(build_missing(&mut st, &boards(&["mps2-an385"]), Some(&fake)));
        assert_eq!(fake.calls.lock().unwrap().len(), 4, "current code is kept");
    }

    #[test]
    fn interpreted_revisions_build_nothing_and_no_builder_says_so() {
        let fake = Fake::new();
        let mut st = status(Execution::Interpreted);
        block_on(build_missing(&mut st, &boards(&["mps2-an385"]), Some(&fake)));
        assert!(fake.calls.lock().unwrap().is_empty());
        assert!(with_condition(&[], st, 0).conditions.is_empty());

        let mut st = status(Execution::Native);
        block_on(build_missing(&mut st, &boards(&["mps2-an385"]), None));
        assert_eq!(st.revision(2).unwrap().native, [NativeBuild::failed("mps2-an385", NO_TOOLCHAIN)]);
        let st = with_condition(&[], st, 0);
        assert!(st.conditions[0].message.contains(NO_TOOLCHAIN), "{:?}", st.conditions);
    }

    #[test]
    fn target_boards_are_those_of_the_devices_the_selector_matches() {
        let app = Application {
            meta: Meta::named("a"),
            spec: ApplicationSpec { selector: "app=x".into(), ..ApplicationSpec::new("1", &"ab".repeat(32), 1) },
            status: Default::default(),
        };
        let dev = |name: &str, board: &str, app: &str| {
            wasmbed_testkit::device(name).with(|d| {
                d.spec.board = board.into();
                d.spec.labels = Labels::from([("app".to_string(), app.to_string())]);
            })
        };
        let devices = [dev("a", "mps2-an385", "x"), dev("b", SIM_BOARD, "x"), dev("c", "mps2-an386", "y")];
        assert_eq!(target_boards(&app, &devices), boards(&["mps2-an385", SIM_BOARD]));
    }
}
