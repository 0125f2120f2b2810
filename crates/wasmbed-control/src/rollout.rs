//! The rollout reconciler's decisions, as pure functions.
//!
//! [`reconcile`] takes an Application and the devices of the fleet and
//! returns the application's next status: which revision the spec asks
//! for (recording a new one in the history when the template changed),
//! where its rollout is, counts and per-step progress. [`advance`] is the
//! step logic inside it. Both are level-triggered and idempotent: the same
//! inputs give the same output, so a restarted control plane resumes from
//! the stored status, and calling them again changes nothing.
//!
//! Rules, in short:
//! - A spec whose template equals a kept revision that once completed is a
//!   **rollback**: applied to every device at once, without a gate (the fleet
//!   ran it before). Any other template is a new rollout through the strategy.
//! - A health gate passes when every touched device that is online runs the
//!   new revision (and at least one does), for the soak time. More failures
//!   than the strategy allows stop the rollout and every touched device goes
//!   back to the previous revision (`RolledBack`).
//! - Offline devices are pending, never failures; devices that join or
//!   reconnect mid-rollout get what the rollout assigns them.
//! - All-at-once has no gate: failures are counted and reported.

use std::collections::BTreeSet;

use wasmbed_model::{
    Application, ApplicationStatus, Condition, Device, DevicePhase, Revision, RevisionOutcome, RolloutPhase,
    RolloutStatus, StepStatus, Strategy, merge_conditions,
};

use crate::desired::{RevisionState, revision_state, slot_name, targets};

/// Revisions kept in an application's history (the current and the stable
/// one are always kept).
pub const KEPT_REVISIONS: usize = 10;

/// How a targeted device is doing with the revision being rolled out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceHealth {
    /// Device name.
    pub name: String,
    /// Holding a session now.
    pub online: bool,
    /// What it reports for the new revision.
    pub new_revision: RevisionState,
}

/// The step list of a strategy: the cumulative devices each step covers
/// in a fleet of `total`, with a label.
pub fn plan_steps(strategy: &Strategy, rollback: bool, total: usize) -> Vec<(String, usize)> {
    if rollback {
        return vec![("rollback".into(), total)];
    }
    match strategy {
        Strategy::AllAtOnce => vec![("all".into(), total)],
        Strategy::BlueGreen { .. } => vec![("install".into(), total), ("switch".into(), total)],
        Strategy::Canary { steps, .. } => steps.iter().map(|s| (s.to_string(), s.resolve(total))).collect(),
        Strategy::Rolling { max_unavailable } => {
            let wave = max_unavailable.resolve(total).max(1);
            let waves = total.div_ceil(wave).max(1);
            (1..=waves).map(|i| (format!("wave {i}"), (i * wave).min(total))).collect()
        }
    }
}

/// The next rollout status. `devices` are the devices the selector targets
/// now (devices that joined mid-rollout included).
pub fn advance(strategy: &Strategy, st: &RolloutStatus, devices: &[DeviceHealth], now_ms: u64) -> RolloutStatus {
    let mut next = st.clone();
    if st.phase != RolloutPhase::Progressing {
        return next;
    }
    // Devices seen holding the new revision were touched, even if a crash
    // lost the write that said so: the set is re-derived, never shrunk.
    for d in devices {
        if d.new_revision != RevisionState::Absent {
            next.touched.insert(d.name.clone());
        }
    }
    let total = devices.len();
    let steps = plan_steps(strategy, st.rollback, total);
    let i = (st.step as usize).min(steps.len().saturating_sub(1));
    let target = steps.get(i).map_or(total, |s| s.1);
    let last = i + 1 >= steps.len();
    let blue_green_install = matches!(strategy, Strategy::BlueGreen { .. }) && !st.rollback && i == 0;
    let (soak_ms, max_failures, gated) = match strategy {
        _ if st.rollback => (0, usize::MAX, false),
        Strategy::Canary { soak_ms, max_failures, .. } => (*soak_ms, *max_failures as usize, true),
        Strategy::BlueGreen { soak_ms } => (if blue_green_install { 0 } else { *soak_ms }, 0, true),
        Strategy::Rolling { .. } => (0, 0, true),
        Strategy::AllAtOnce => (0, usize::MAX, false),
    };

    let touched: Vec<&DeviceHealth> = devices.iter().filter(|d| next.touched.contains(&d.name)).collect();
    let failed = touched.iter().filter(|d| d.new_revision == RevisionState::Failed).count();
    if gated && failed > max_failures {
        next.phase = RolloutPhase::RolledBack;
        next.message = Some(format!(
            "{failed} of {} updated devices failed at step {} ({}; at most {} allowed): rolled back to {}",
            touched.len(),
            i + 1,
            steps.get(i).map_or("-", |s| s.0.as_str()),
            max_failures,
            st.previous.map_or("nothing (first revision)".into(), |p| format!("revision {p}")),
        ));
        return next;
    }

    if next.touched.len() < target {
        // Touch more devices: online ones first (offline ones would only
        // wait), in name order so the choice is stable across restarts.
        let mut candidates: Vec<&DeviceHealth> = devices.iter().filter(|d| !next.touched.contains(&d.name)).collect();
        candidates.sort_by(|a, b| b.online.cmp(&a.online).then_with(|| a.name.cmp(&b.name)));
        let want = target - next.touched.len();
        for d in candidates.into_iter().take(want) {
            next.touched.insert(d.name.clone());
        }
        return next;
    }

    let ready = |s: RevisionState| match s {
        RevisionState::Running => true,
        RevisionState::Installed => blue_green_install,
        RevisionState::Failed => !gated,
        RevisionState::Absent | RevisionState::Pending => false,
    };
    let online: Vec<&&DeviceHealth> = touched.iter().filter(|d| d.online).collect();
    let settled = online.iter().all(|d| ready(d.new_revision));
    // A gate needs evidence: one online device showing the new revision.
    let evidence = !gated || target == 0 || online.iter().any(|d| ready(d.new_revision));
    let soaked = now_ms.saturating_sub(st.step_started_ms) >= soak_ms;
    if settled && evidence && soaked {
        if last {
            next.phase = RolloutPhase::Completed;
            let failed_note = (failed > 0).then(|| format!("{failed} devices failed"));
            next.message = failed_note;
        } else {
            next.step += 1;
            next.step_started_ms = now_ms;
        }
    }
    next
}

/// The application's next status, given every device of the fleet.
pub fn reconcile(app: &Application, devices: &[&Device], now_ms: u64) -> ApplicationStatus {
    let spec = &app.spec;
    let mut st = app.status.clone();
    st.observed_generation = app.meta.generation;
    if let Err(e) = spec.validate() {
        // The API refuses such specs; one written around it changes nothing.
        st.conditions = merge_conditions(
            &st.conditions,
            vec![Condition::new("Progressing", false, "InvalidSpec", e.to_string())],
            now_ms,
        );
        return st;
    }
    let template = spec.template();

    // Which revision the spec asks for.
    let current = st.revision.and_then(|r| st.revision(r)).map(|r| &r.template);
    if current != Some(&template) {
        let stable = st.stable_revision;
        if let Some(ro) = st.rollout.as_ref().filter(|ro| !ro.phase.is_final()) {
            let superseded = ro.revision;
            set_outcome(&mut st, superseded, RevisionOutcome::Superseded, None);
        }
        let kept = st.history.iter().find(|r| r.template == template).map(|r| (r.revision, r.outcome));
        let (revision, rollback) = match kept {
            Some((rev, outcome)) => (rev, outcome == Some(RevisionOutcome::Completed)),
            None => {
                let rev = st.history.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
                st.history.push(Revision::new(rev, template, now_ms));
                (rev, false)
            }
        };
        st.revision = Some(revision);
        let previous = stable.filter(|s| *s != revision);
        st.rollout = Some(RolloutStatus { rollback, ..RolloutStatus::start(revision, previous, now_ms) });
        st.steps = Vec::new();
        prune_history(&mut st);
    }
    let Some(mut ro) = st.rollout.clone() else { return st };
    let before = ro.phase;

    // Operator controls.
    if spec.abort_revision == Some(ro.revision) && !ro.phase.is_final() {
        ro.phase = RolloutPhase::Aborted;
        ro.message = Some(format!(
            "aborted by an operator: every touched device goes back to {}",
            ro.previous.map_or("nothing".into(), |p| format!("revision {p}"))
        ));
    }
    match (spec.paused, ro.phase) {
        (true, RolloutPhase::Progressing) => ro.phase = RolloutPhase::Paused,
        (false, RolloutPhase::Paused) => {
            ro.phase = RolloutPhase::Progressing;
            // The soak time is measured again from the resume.
            ro.step_started_ms = now_ms;
        }
        _ => {}
    }

    // Health of every targeted device.
    let slot = slot_name(&app.meta.name, ro.revision, &spec.strategy);
    let digest = st.revision(ro.revision).map(|r| r.template.digest.clone()).unwrap_or_default();
    let targeted: Vec<&Device> = devices.iter().copied().filter(|d| targets(app, &d.spec.labels)).collect();
    let health: Vec<DeviceHealth> = targeted
        .iter()
        .map(|d| DeviceHealth {
            name: d.meta.name.clone(),
            online: d.status.phase == DevicePhase::Online,
            new_revision: revision_state(d, &slot, ro.revision, &digest),
        })
        .collect();
    let ro = advance(&spec.strategy, &ro, &health, now_ms);
    if ro.phase != before
        && let Some(outcome) = RevisionOutcome::of(ro.phase)
    {
        let message = (outcome != RevisionOutcome::Completed).then(|| ro.message.clone()).flatten();
        set_outcome(&mut st, ro.revision, outcome, message);
        if ro.phase == RolloutPhase::Completed {
            st.stable_revision = Some(ro.revision);
        }
    }

    // Counts and per-step progress.
    let is_new = |h: &DeviceHealth| ro.assigned(&h.name) == Some(ro.revision);
    st.desired = health.len() as u32;
    st.updated = health.iter().filter(|h| is_new(h)).count() as u32;
    st.running = health.iter().filter(|h| h.online && h.new_revision == RevisionState::Running).count() as u32;
    st.failed = health.iter().filter(|h| h.new_revision == RevisionState::Failed).count() as u32;
    st.pending_offline = health.iter().filter(|h| !h.online && h.new_revision != RevisionState::Running).count() as u32;
    st.steps = step_progress(&spec.strategy, &ro, &health, &st.steps, now_ms);
    st.conditions = merge_conditions(&st.conditions, conditions(&ro, &st), now_ms);
    st.rollout = Some(ro);
    st
}

fn set_outcome(st: &mut ApplicationStatus, revision: u64, outcome: RevisionOutcome, message: Option<String>) {
    if let Some(r) = st.history.iter_mut().find(|r| r.revision == revision) {
        r.outcome = Some(outcome);
        r.outcome_message = message;
    }
}

/// Keeps the newest [`KEPT_REVISIONS`], and always the current and stable ones.
fn prune_history(st: &mut ApplicationStatus) {
    let keep_always: BTreeSet<u64> = st.revision.into_iter().chain(st.stable_revision).collect();
    while st.history.len() > KEPT_REVISIONS {
        let Some(pos) = st.history.iter().position(|r| !keep_always.contains(&r.revision)) else { break };
        st.history.remove(pos);
    }
}

fn step_progress(
    strategy: &Strategy,
    ro: &RolloutStatus,
    health: &[DeviceHealth],
    previous: &[StepStatus],
    now_ms: u64,
) -> Vec<StepStatus> {
    let plan = plan_steps(strategy, ro.rollback, health.len());
    let touched: Vec<&DeviceHealth> = health.iter().filter(|h| ro.touched.contains(&h.name)).collect();
    let current = ro.step as usize;
    plan.into_iter()
        .enumerate()
        .map(|(i, (step, target))| {
            let old = previous.get(i).filter(|p| p.step == step);
            let done = i < current || ro.phase == RolloutPhase::Completed;
            let mut s = StepStatus { step, target: target as u32, ..StepStatus::default() };
            if i <= current || done {
                // Live figures, as the application's counts are: a step
                // that passed while its devices were offline must not keep
                // saying so once they run.
                let upto: Vec<&&DeviceHealth> = touched.iter().take(target).collect();
                s.updated = upto.len() as u32;
                s.running = upto.iter().filter(|h| h.online && h.new_revision == RevisionState::Running).count() as u32;
                s.failed = upto.iter().filter(|h| h.new_revision == RevisionState::Failed).count() as u32;
                s.pending_offline =
                    upto.iter().filter(|h| !h.online && h.new_revision != RevisionState::Running).count() as u32;
                s.started_ms =
                    old.and_then(|o| o.started_ms).or(Some(if i == current { ro.step_started_ms } else { now_ms }));
            }
            if done {
                // When its gate passed stays as it was.
                s.completed_ms = old.and_then(|o| o.completed_ms).or(Some(now_ms));
            }
            s
        })
        .collect()
}

fn conditions(ro: &RolloutStatus, st: &ApplicationStatus) -> Vec<Condition> {
    let rev = ro.revision;
    let progressing = match ro.phase {
        RolloutPhase::Progressing => Condition::new("Progressing", true, "RollingOut", format!("revision {rev}")),
        RolloutPhase::Paused => Condition::new("Progressing", false, "Paused", format!("revision {rev} is paused")),
        RolloutPhase::Completed => Condition::new("Progressing", false, "Completed", format!("revision {rev}")),
        RolloutPhase::RolledBack => {
            Condition::new("Progressing", false, "RolledBack", ro.message.clone().unwrap_or_default())
        }
        RolloutPhase::Aborted => {
            Condition::new("Progressing", false, "Aborted", ro.message.clone().unwrap_or_default())
        }
    };
    let available = st.desired == 0 || st.running + st.pending_offline >= st.desired;
    let available = Condition::new(
        "Available",
        available,
        if available { "Running" } else { "NotRunning" },
        format!("{} of {} targeted devices run revision {rev}", st.running, st.desired),
    );
    vec![progressing, available]
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::Step;

    /// A deterministic fleet: a device reports Running (or Failed, for the
    /// ones `fails` picks) one tick after it is touched; `offline` ones
    /// are unreachable until `back_at`.
    struct Fleet {
        names: Vec<String>,
        fails: Box<dyn Fn(usize) -> bool>,
        offline: Box<dyn Fn(usize, u64) -> bool>,
    }

    impl Fleet {
        fn new(n: usize) -> Self {
            Self {
                names: (0..n).map(|i| format!("d-{i:03}")).collect(),
                fails: Box::new(|_| false),
                offline: Box::new(|_, _| false),
            }
        }

        fn health(&self, st: &RolloutStatus, seen: &BTreeSet<String>, now: u64) -> Vec<DeviceHealth> {
            self.names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let online = !(self.offline)(i, now);
                    let has = st.assigned(name) == Some(st.revision) && seen.contains(name) && online;
                    let new_revision = match (has, (self.fails)(i)) {
                        (false, _) => RevisionState::Absent,
                        (true, true) => RevisionState::Failed,
                        (true, false) => RevisionState::Running,
                    };
                    DeviceHealth { name: name.clone(), online, new_revision }
                })
                .collect()
        }

        /// Runs the reconciler until the rollout stops moving; returns the final status.
        fn run(&self, strategy: &Strategy) -> (RolloutStatus, u32) {
            let mut st = RolloutStatus::start(2, Some(1), 0);
            let mut seen = BTreeSet::new();
            let mut now = 0;
            let mut rounds = 0;
            while rounds < 10_000 {
                rounds += 1;
                now += 100;
                let h = self.health(&st, &seen, now);
                // Devices that are online pick up their assignment by the next round.
                seen.extend(st.touched.iter().filter(|n| h.iter().any(|d| &d.name == *n && d.online)).cloned());
                let next = advance(strategy, &st, &h, now);
                assert_eq!(advance(strategy, &st, &h, now), next, "deterministic");
                if next.phase.is_final() {
                    return (next, rounds);
                }
                st = next;
            }
            panic!("rollout never finished: {st:?}");
        }
    }

    fn canary() -> Strategy {
        Strategy::canary("1,10%,50%,100%").unwrap()
    }

    #[test]
    fn a_good_canary_completes_on_200_devices_through_every_step() {
        let (st, _) = Fleet::new(200).run(&canary());
        assert_eq!(st.phase, RolloutPhase::Completed);
        assert_eq!(st.step, 3);
        assert_eq!(st.touched.len(), 200);
        assert!((0..200).all(|i| st.assigned(&format!("d-{i:03}")) == Some(2)));
    }

    #[test]
    fn a_version_that_fails_on_some_devices_stops_at_the_first_gate_and_rolls_back() {
        let mut fleet = Fleet::new(200);
        fleet.fails = Box::new(|i| i % 10 == 3); // 10% of devices trap
        let (st, _) = fleet.run(&canary());
        assert_eq!(st.phase, RolloutPhase::RolledBack, "{st:?}");
        // Step 1 (one device, d-000) passed; step 2 (10%) hit failing devices.
        assert_eq!(st.step, 1);
        assert_eq!(st.touched.len(), 20);
        assert!(
            st.touched.iter().all(|d| st.assigned(d) == Some(1)),
            "every touched device back on the previous revision"
        );
        assert!(st.message.as_deref().unwrap_or("").contains("rolled back"));
    }

    #[test]
    fn offline_devices_are_pending_not_failed_and_finish_after_reconnecting() {
        let mut fleet = Fleet::new(200);
        // 20 devices are away until t = 5 s.
        fleet.offline = Box::new(|i, now| i % 10 == 7 && now < 5_000);
        let (st, _) = fleet.run(&canary());
        assert_eq!(st.phase, RolloutPhase::Completed);
        assert_eq!(st.touched.len(), 200);
    }

    #[test]
    fn a_gate_with_every_device_offline_waits() {
        let st = RolloutStatus::start(2, Some(1), 0);
        let away = |n: &str| DeviceHealth { name: n.into(), online: false, new_revision: RevisionState::Absent };
        let st = advance(&canary(), &st, &[away("a"), away("b")], 10);
        assert_eq!(st.touched.len(), 1);
        let again = advance(&canary(), &st, &[away("a"), away("b")], 20);
        assert_eq!((again.step, again.phase), (0, RolloutPhase::Progressing), "no evidence, no progress");
    }

    #[test]
    fn soak_time_holds_each_step_and_paused_rollouts_do_not_move() {
        let strategy =
            Strategy::Canary { steps: vec![Step::Devices(1), Step::Percent(100)], soak_ms: 1000, max_failures: 0 };
        let names = ["a", "b"];
        let health = |running: &[&str]| -> Vec<DeviceHealth> {
            names
                .iter()
                .map(|n| DeviceHealth {
                    name: (*n).into(),
                    online: true,
                    new_revision: if running.contains(n) { RevisionState::Running } else { RevisionState::Absent },
                })
                .collect()
        };
        let st = advance(&strategy, &RolloutStatus::start(2, Some(1), 0), &health(&[]), 0);
        assert_eq!(st.touched.len(), 1);
        let held = advance(&strategy, &st, &health(&["a"]), 999);
        assert_eq!(held.step, 0, "soak not over");
        let moved = advance(&strategy, &held, &health(&["a"]), 1000);
        assert_eq!(moved.step, 1);
        let paused = RolloutStatus { phase: RolloutPhase::Paused, ..moved.clone() };
        assert_eq!(advance(&strategy, &paused, &health(&["a"]), 5000), paused);
    }

    #[test]
    fn rolling_moves_in_waves_of_max_unavailable() {
        let strategy = Strategy::Rolling { max_unavailable: Step::Devices(50) };
        let (st, rounds) = Fleet::new(200).run(&strategy);
        assert_eq!(st.phase, RolloutPhase::Completed);
        assert_eq!(st.step, 3, "four waves of 50");
        assert!(rounds >= 8, "each wave waits for the previous one: {rounds}");
    }

    #[test]
    fn all_at_once_reports_failures_without_rolling_back() {
        let mut fleet = Fleet::new(10);
        fleet.fails = Box::new(|i| i == 3);
        let (st, _) = fleet.run(&Strategy::AllAtOnce);
        assert_eq!(st.phase, RolloutPhase::Completed);
        assert_eq!(st.message.as_deref(), Some("1 devices failed"));
    }

    #[test]
    fn touched_devices_lost_by_a_crash_are_found_again() {
        let st = RolloutStatus::start(2, Some(1), 0);
        let h = vec![
            DeviceHealth { name: "a".into(), online: true, new_revision: RevisionState::Running },
            DeviceHealth { name: "b".into(), online: true, new_revision: RevisionState::Absent },
        ];
        let next = advance(&canary(), &st, &h, 10);
        assert!(next.touched.contains("a"), "a runs revision 2, so it was touched");
    }

    // -- reconcile: revisions, rollbacks, counts --

    use wasmbed_model::*;
    use wasmbed_testkit::{With, observation};

    fn app(version: &str, digest: u8, strategy: Strategy) -> Application {
        Application {
            meta: Meta { name: "hello".into(), generation: 1, ..Meta::default() },
            spec: ApplicationSpec {
                strategy,
                ..ApplicationSpec::new(version, &format!("{digest:02x}").repeat(32), 10)
            },
            status: ApplicationStatus::default(),
        }
    }

    fn device(name: &str, running: Option<(u64, AppState)>) -> Device {
        wasmbed_testkit::device(name).with(|d| {
            d.status.phase = DevicePhase::Online;
            d.status.session.apps.extend(running.map(|(rev, state)| observation("hello", Some(rev), state)));
        })
    }

    /// Reconciles until the status stops changing, with devices that run
    /// whatever they are assigned (`fail` picks devices that fail it).
    fn converge(mut a: Application, n: usize, fail: impl Fn(&str, u64) -> bool) -> Application {
        for round in 0..200u64 {
            let devices: Vec<Device> = (0..n)
                .map(|i| {
                    let name = format!("d{i}");
                    let assigned = a.status.rollout.as_ref().and_then(|ro| ro.assigned(&name));
                    let obs = assigned.map(|r| (r, if fail(&name, r) { AppState::Failed } else { AppState::Running }));
                    device(&name, obs)
                })
                .collect();
            let next = reconcile(&a, &devices.iter().collect::<Vec<_>>(), round * 10);
            if next == a.status {
                return a;
            }
            a.status = next;
        }
        panic!("no convergence: {:?}", a.status.rollout);
    }

    #[test]
    fn new_templates_get_new_revisions_and_completed_ones_roll_back_at_once() {
        let a = converge(app("1", 1, canary()), 20, |_, _| false);
        assert_eq!((a.status.revision, a.status.stable_revision), (Some(1), Some(1)));
        assert_eq!(a.status.history[0].outcome, Some(RevisionOutcome::Completed));
        assert_eq!((a.status.desired, a.status.running, a.status.updated), (20, 20, 20));
        assert!(a.status.steps.iter().all(|s| s.completed_ms.is_some()), "{:?}", a.status.steps);

        let mut v2 = a.clone();
        v2.spec.set_template(&AppTemplate { version: "2".into(), digest: "02".repeat(32), ..v2.spec.template() });
        let v2 = converge(v2, 20, |_, _| false);
        assert_eq!((v2.status.revision, v2.status.stable_revision), (Some(2), Some(2)));
        assert_eq!(v2.status.steps.len(), 4);

        // Back to revision 1's template: a rollback, one step, no new revision.
        let mut back = v2.clone();
        back.spec.set_template(&v2.status.revision(1).unwrap().template);
        let first = reconcile(&back, &[], 0);
        let ro = first.rollout.as_ref().unwrap();
        assert!(ro.rollback && ro.revision == 1, "{ro:?}");
        assert_eq!(first.history.len(), 2);
        let back = converge(back, 20, |_, _| false);
        assert_eq!(back.status.stable_revision, Some(1));
    }

    #[test]
    fn a_failing_revision_rolls_back_and_a_retry_goes_through_the_gates_again() {
        let a = converge(app("1", 1, canary()), 20, |_, _| false);
        let mut bad = a.clone();
        bad.spec.set_template(&AppTemplate { version: "2".into(), digest: "02".repeat(32), ..bad.spec.template() });
        let bad = converge(bad, 20, |name, rev| rev == 2 && name == "d5");
        let ro = bad.status.rollout.as_ref().unwrap();
        assert_eq!(ro.phase, RolloutPhase::RolledBack, "{ro:?}");
        assert_eq!(bad.status.stable_revision, Some(1));
        assert_eq!(bad.status.history[1].outcome, Some(RevisionOutcome::RolledBack));
        assert!(bad.status.history[1].outcome_message.as_deref().is_some_and(|m| !m.is_empty()));
        let cond = bad.status.conditions.iter().find(|c| c.kind == "Progressing").unwrap();
        assert_eq!(cond.reason, "RolledBack");

        // The rolled-back template stays rolled back: reconciling again starts nothing.
        let st = reconcile(&bad, &[], 0);
        assert_eq!(st.rollout.as_ref().unwrap().phase, RolloutPhase::RolledBack);
        // Going back to it from another revision is not a rollback either (it
        // never completed): it goes through the gates again.
        let mut other = bad.clone();
        other.spec.set_template(&AppTemplate { version: "3".into(), ..bad.spec.template() });
        other.status = reconcile(&other, &[], 0);
        other.spec.set_template(&bad.status.revision(2).unwrap().template);
        let ro = reconcile(&other, &[], 0).rollout.unwrap();
        assert!(!ro.rollback && ro.revision == 2, "{ro:?}");
    }

    #[test]
    fn pause_abort_and_counts() {
        let mut a = app("1", 1, canary());
        a.spec.paused = true;
        let st = reconcile(&a, &[&device("d0", None)], 0);
        assert_eq!(st.rollout.as_ref().unwrap().phase, RolloutPhase::Paused);
        a.status = st;
        a.spec.paused = false;
        a.spec.abort_revision = Some(1);
        let st = reconcile(&a, &[&device("d0", Some((1, AppState::Running)))], 5);
        let ro = st.rollout.as_ref().unwrap();
        assert_eq!(ro.phase, RolloutPhase::Aborted);
        assert!(ro.message.as_deref().unwrap().contains("aborted"));
        assert_eq!(st.history[0].outcome, Some(RevisionOutcome::Aborted));
        let mut off = device("d1", None);
        off.status.phase = DevicePhase::Unreachable;
        let st = reconcile(&app("1", 1, Strategy::AllAtOnce), &[&device("d0", Some((1, AppState::Failed))), &off], 0);
        assert_eq!((st.desired, st.failed, st.pending_offline), (2, 1, 1));
    }

    #[test]
    fn step_figures_follow_the_devices_like_the_summary_does() {
        // All at once, completed while every device was offline ...
        let mut a = app("1", 1, Strategy::AllAtOnce);
        let offline: Vec<Device> = (0..5)
            .map(|i| device(&format!("d{i}"), None).with(|d| d.status.phase = DevicePhase::Unreachable))
            .collect();
        for round in 0..10 {
            a.status = reconcile(&a, &offline.iter().collect::<Vec<_>>(), round);
        }
        assert_eq!(a.status.rollout.as_ref().map(|r| r.phase), Some(RolloutPhase::Completed));
        assert_eq!((a.status.steps[0].running, a.status.steps[0].pending_offline), (0, 5));
        let completed_at = a.status.steps[0].completed_ms;
        // ... then they come online running it: the step says so too.
        let online: Vec<Device> = (0..5).map(|i| device(&format!("d{i}"), Some((1, AppState::Running)))).collect();
        let st = reconcile(&a, &online.iter().collect::<Vec<_>>(), 100);
        assert_eq!((st.running, st.pending_offline), (5, 0));
        let step = &st.steps[0];
        assert_eq!((step.running, step.pending_offline, step.updated), (st.running, st.pending_offline, 5));
        assert_eq!(step.completed_ms, completed_at, "when the step passed does not move");
    }

    #[test]
    fn an_invalid_spec_is_reported_and_changes_nothing_else() {
        let mut a = app("1", 1, canary());
        a.spec.selector = "app=".into();
        let st = reconcile(&a, &[], 0);
        assert!(st.rollout.is_none());
        assert_eq!(st.conditions[0].reason, "InvalidSpec");
    }

    #[test]
    fn history_keeps_ten_revisions_and_the_stable_one() {
        let mut a = converge(app("0", 0, canary()), 2, |_, _| false);
        let silent = device("d0", None); // never runs a new revision: no rollout completes
        for v in 1..15u8 {
            a.spec.set_template(&AppTemplate {
                version: v.to_string(),
                digest: format!("{v:02x}").repeat(32),
                ..a.spec.template()
            });
            a.status = reconcile(&a, &[&silent], 0);
        }
        assert_eq!(a.status.history.len(), KEPT_REVISIONS);
        assert_eq!(a.status.stable_revision, Some(1));
        assert!(a.status.revision(1).is_some(), "the stable revision is kept: {:?}", a.status.history);
        assert!(a.status.revision(15).is_some());
    }
}
