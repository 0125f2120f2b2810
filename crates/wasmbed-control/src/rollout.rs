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

use std::borrow::Cow;
use std::collections::BTreeSet;

use wasmbed_model::{
    AppObservation, Application, ApplicationStatus, Condition, Device, DevicePhase, Gateway, GatewayHealth, MetricGate,
    Revision, RevisionOutcome, RolloutPhase, RolloutStatus, Runtime, StepStatus, Strategy, merge_conditions,
};

use crate::desired::{
    RevisionState, board_slot, drives_boards, revision_state_in, slot_name, targets, targets_board, targets_gateway,
};

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
    /// How the new revision's reported metrics stand against the
    /// strategy's metric gates.
    pub metrics: GateVerdict,
}

/// A device's latest metrics against a canary's metric gates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GateVerdict {
    /// Every gated metric was reported and keeps its bound (or there are no gates).
    #[default]
    Within,
    /// A gated metric has not been reported yet: the device is not ready.
    Missing(String),
    /// A reported value breaks a gate: the device counts as failed.
    Breach(String),
}

/// The verdict of `gates` on what `device` reports for `slot` at `revision`.
pub fn gate_verdict(gates: &[MetricGate], device: &Device, slot: &str, revision: u64) -> GateVerdict {
    gate_verdict_in(gates, &device.meta.name, &device.status.session.apps, slot, revision)
}

/// The verdict of `gates` on what target `name` reports in `observations`.
fn gate_verdict_in(
    gates: &[MetricGate],
    name: &str,
    observations: &[AppObservation],
    slot: &str,
    revision: u64,
) -> GateVerdict {
    if gates.is_empty() {
        return GateVerdict::Within;
    }
    let obs = observations.iter().find(|o| o.name == slot && o.revision == Some(revision));
    for gate in gates {
        match obs.and_then(|o| o.metrics.get(&gate.metric)) {
            None => return GateVerdict::Missing(gate.metric.clone()),
            Some(v) if !gate.holds(v.0) => {
                return GateVerdict::Breach(format!("{name} reported {} = {}, outside `{gate}`", gate.metric, v.0));
            }
            Some(_) => {}
        }
    }
    GateVerdict::Within
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
    advance_targets(strategy, st, devices, now_ms, "devices")
}

/// [`advance`] over targets its messages call `noun` (`devices`,
/// `gateways`, `boards`).
fn advance_targets(
    strategy: &Strategy,
    st: &RolloutStatus,
    devices: &[DeviceHealth],
    now_ms: u64,
    noun: &str,
) -> RolloutStatus {
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
    // A breach counts only where the new revision runs (a stale report of
    // an older instance is not evidence).
    let breach = |d: &DeviceHealth| match (&d.metrics, d.new_revision) {
        (GateVerdict::Breach(why), RevisionState::Running) => Some(why.clone()),
        _ => None,
    };
    let breaches: Vec<String> = touched.iter().filter_map(|d| breach(d)).collect();
    let failed = touched.iter().filter(|d| d.new_revision == RevisionState::Failed).count() + breaches.len();
    if gated && failed > max_failures {
        next.phase = RolloutPhase::RolledBack;
        let gate_note = match breaches.first() {
            Some(why) => format!(" (metric gate: {why})"),
            None => String::new(),
        };
        next.message = Some(format!(
            "{failed} of {} updated {noun} failed at step {} ({}; at most {} allowed){gate_note}: rolled back to {}",
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

    let ready = |d: &DeviceHealth| match d.new_revision {
        // Running, and (with metric gates) every gated metric reported.
        RevisionState::Running => !gated || d.metrics == GateVerdict::Within,
        RevisionState::Installed => blue_green_install,
        RevisionState::Failed => !gated,
        RevisionState::Absent | RevisionState::Pending => false,
    };
    let online: Vec<&&DeviceHealth> = touched.iter().filter(|d| d.online).collect();
    let settled = online.iter().all(|d| ready(d));
    // A gate needs evidence: one online device showing the new revision.
    let evidence = !gated || target == 0 || online.iter().any(|d| ready(d));
    let soaked = now_ms.saturating_sub(st.step_started_ms) >= soak_ms;
    if settled && evidence && soaked {
        if last {
            next.phase = RolloutPhase::Completed;
            let failed_note = (failed > 0).then(|| format!("{failed} {noun} failed"));
            next.message = failed_note;
        } else {
            next.step += 1;
            next.step_started_ms = now_ms;
        }
    }
    next
}

/// What the rollout engine needs of one target (a device, or for an edge
/// application a gateway): its name, whether it is there, and what it
/// reports of its apps.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// Its name (rollouts assign revisions by name).
    pub name: &'a str,
    /// Holding a session (a device) or reporting (a gateway) now.
    pub online: bool,
    /// What it reports of its apps.
    pub observations: Cow<'a, [AppObservation]>,
}

impl<'a> Target<'a> {
    /// A device as a target.
    pub fn device(d: &'a Device) -> Self {
        let online = d.status.phase == DevicePhase::Online;
        Self { name: &d.meta.name, online, observations: Cow::Borrowed(&d.status.session.apps) }
    }

    /// A gateway as an edge application's target.
    pub fn gateway(g: &'a Gateway) -> Self {
        let online = g.status.health == GatewayHealth::Healthy;
        Self { name: &g.meta.name, online, observations: Cow::Borrowed(&g.status.edge) }
    }

    /// An attached board as an edge application's target: online while
    /// attached, its observations those the gateway holding it reports for
    /// it (slots named by [`board_slot`], renamed to the application's).
    pub fn board(d: &'a Device, gateways: &[&Gateway]) -> Self {
        let suffix = board_slot("", &d.meta.name);
        let holder = d.status.session.gateway.as_deref();
        let observations = gateways
            .iter()
            .filter(|g| Some(g.meta.name.as_str()) == holder)
            .flat_map(|g| g.status.edge.iter())
            .filter_map(|o| {
                let slot = o.name.strip_suffix(&suffix)?;
                Some(AppObservation { name: slot.to_string(), ..o.clone() })
            })
            .collect();
        Self {
            name: &d.meta.name,
            online: d.status.phase == DevicePhase::Online,
            observations: Cow::Owned(observations),
        }
    }
}

/// The application's next status, given every device of the fleet (edge
/// applications: every gateway).
pub fn reconcile(app: &Application, devices: &[&Device], now_ms: u64) -> ApplicationStatus {
    reconcile_fleet(app, devices, &[], now_ms)
}

/// The application's next status, given every device and gateway.
pub fn reconcile_fleet(
    app: &Application,
    devices: &[&Device],
    gateways: &[&Gateway],
    now_ms: u64,
) -> ApplicationStatus {
    let targets: Vec<Target<'_>> = match app.spec.runtime {
        Runtime::Device => devices.iter().filter(|d| targets(app, &d.spec.labels)).map(|d| Target::device(d)).collect(),
        Runtime::Edge if drives_boards(app) => {
            devices.iter().filter(|d| targets_board(app, d)).map(|d| Target::board(d, gateways)).collect()
        }
        Runtime::Edge => {
            gateways.iter().filter(|g| targets_gateway(app, &g.meta.name)).map(|g| Target::gateway(g)).collect()
        }
    };
    reconcile_targets(app, &targets, now_ms)
}

/// What an application's targets are called in its rollout's messages.
fn targets_noun(app: &Application) -> &'static str {
    match app.spec.runtime {
        Runtime::Device => "devices",
        Runtime::Edge if drives_boards(app) => "boards",
        Runtime::Edge => "gateways",
    }
}

/// The application's next status, given the targets its selector chose.
fn reconcile_targets(app: &Application, targeted: &[Target<'_>], now_ms: u64) -> ApplicationStatus {
    let spec = &app.spec;
    let noun = targets_noun(app);
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
            "aborted by an operator: every touched {} goes back to {}",
            noun.trim_end_matches('s'),
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
    let gates: &[MetricGate] = match &spec.strategy {
        Strategy::Canary { gates, .. } if !ro.rollback => gates,
        _ => &[],
    };
    let health: Vec<DeviceHealth> = targeted
        .iter()
        .map(|t| DeviceHealth {
            name: t.name.to_string(),
            online: t.online,
            new_revision: revision_state_in(&t.observations, &slot, ro.revision, &digest),
            metrics: gate_verdict_in(gates, t.name, &t.observations, &slot, ro.revision),
        })
        .collect();
    let ro = advance_targets(&spec.strategy, &ro, &health, now_ms, noun);
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
    st.conditions = merge_conditions(&st.conditions, conditions(&ro, &st, noun), now_ms);
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

fn conditions(ro: &RolloutStatus, st: &ApplicationStatus, noun: &str) -> Vec<Condition> {
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
        format!("{} of {} targeted {noun} run revision {rev}", st.running, st.desired),
    );
    vec![progressing, available]
}

#[cfg(test)]
mod tests;
