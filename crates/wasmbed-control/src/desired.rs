//! What each device should run, read off the applications' rollouts, and
//! how a device is doing with one revision, read off its status.
//!
//! The rollout reconciler writes per-application assignments (the
//! rollout's touched set, phase and stage) into the Application's status;
//! this module turns them into per-device app slots. It is the only place
//! that knows how slots are named.

use wasmbed_model::{
    AppObservation, AppState, Application, DesiredApp, Device, Labels, RolloutPhase, RolloutStatus, Runtime, Selector,
    Strategy,
};

/// How a targeted device is doing with one revision of an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionState {
    /// Not there (yet).
    Absent,
    /// Being installed.
    Pending,
    /// Installed and stopped (blue-green: ready to be switched to).
    Installed,
    /// Running.
    Running,
    /// Failed, trapped, or refused by the device.
    Failed,
}

/// Slot of `app` holding `revision` under `strategy`. Blue-green keeps two
/// revisions side by side, so its slots carry the revision; every other
/// strategy replaces the one slot named like the application.
pub fn slot_name(app: &str, revision: u64, strategy: &Strategy) -> String {
    match strategy {
        Strategy::BlueGreen { .. } => format!("{app}.r{revision}"),
        _ => app.to_string(),
    }
}

/// Whether `app` targets a device with `labels`. Selectors that do not
/// parse match nothing (the API refuses them); edge applications target
/// gateways, never devices.
pub fn targets(app: &Application, labels: &Labels) -> bool {
    app.spec.runtime == Runtime::Device && selects(app, labels)
}

/// The labels an edge application's selector sees on a gateway: its name
/// as `gateway=<name>`.
pub fn gateway_labels(gateway: &str) -> Labels {
    Labels::from([("gateway".to_string(), gateway.to_string())])
}

/// Whether edge application `app` drives attached boards: granted
/// `attached-board`, it targets the attached-board devices its selector
/// matches (each run on the gateway the board is wired to, with exactly
/// that board); otherwise it targets gateways.
pub fn drives_boards(app: &Application) -> bool {
    app.spec.runtime == Runtime::Edge && app.spec.capabilities.iter().any(|c| c == ATTACHED_BOARD)
}

/// The edge capability that binds a component to one attached board.
pub const ATTACHED_BOARD: &str = "attached-board";

/// Whether edge application `app` targets the gateway named `gateway`.
pub fn targets_gateway(app: &Application, gateway: &str) -> bool {
    app.spec.runtime == Runtime::Edge && !drives_boards(app) && selects(app, &gateway_labels(gateway))
}

/// Whether edge application `app` targets `device`, an attached board.
pub fn targets_board(app: &Application, device: &Device) -> bool {
    let attached = wasmbed_model::board(&device.spec.board).is_some_and(|b| b.attached().is_some());
    attached && drives_boards(app) && selects(app, &device.spec.labels)
}

/// The slot a gateway runs `slot` in for the board of `device` (a gateway
/// may hold several boards, each with its own instance).
pub fn board_slot(slot: &str, device: &str) -> String {
    format!("{slot}@{device}")
}

/// The slot an edge slot keeps its state under: its name without a
/// blue-green revision (`watch.r3` → `watch`, `blink.r3@vld-1` →
/// `blink@vld-1`), so the revisions side by side share one store.
pub fn unversioned_slot(slot: &str) -> String {
    match slot.split_once('@') {
        Some((head, device)) => board_slot(wasmbed_model::telemetry::app_of_slot(head), device),
        None => wasmbed_model::telemetry::app_of_slot(slot).to_string(),
    }
}

fn selects(app: &Application, labels: &Labels) -> bool {
    app.spec.selector.parse::<Selector>().is_ok_and(|s| s.matches(labels))
}

/// Slots `device` should have, sorted by slot name.
pub fn desired_apps(device: &Device, apps: &[Application]) -> Vec<DesiredApp> {
    let targeted = apps.iter().filter(|a| targets(a, &device.spec.labels));
    desired_of(&device.meta.name, Some(&device.spec.board), targeted)
}

/// Edge slots the gateway named `gateway` should run, sorted by slot name.
pub fn desired_edge_apps(gateway: &str, apps: &[Application]) -> Vec<DesiredApp> {
    desired_of(gateway, None, apps.iter().filter(|a| targets_gateway(a, gateway)))
}

/// Edge slots the gateway holding `device`'s board should run for it
/// (slots named by [`board_slot`]), sorted by slot name.
pub fn desired_board_apps(device: &Device, apps: &[Application]) -> Vec<DesiredApp> {
    let mut out = desired_of(&device.meta.name, None, apps.iter().filter(|a| targets_board(a, device)));
    for d in &mut out {
        d.slot = board_slot(&d.slot, &device.meta.name);
    }
    out
}

/// What the rollouts of `apps` assign to the target named `name`, a
/// device of `board` (which may run native code) or a gateway.
fn desired_of<'a>(name: &str, board: Option<&str>, apps: impl Iterator<Item = &'a Application>) -> Vec<DesiredApp> {
    let mut out = Vec::new();
    for app in apps {
        let Some(ro) = &app.status.rollout else { continue };
        for (revision, run) in assignment(&app.spec.strategy, ro, name) {
            let Some(rev) = app.status.revision(revision) else { continue };
            let t = &rev.template;
            let manifest = app.status.signing.as_ref().and_then(|s| s.manifest(revision)).map(|m| m.envelope.clone());
            // Native code travels only under a signed manifest naming it:
            // the one signed now was made from these very build records.
            let native = board.filter(|_| manifest.is_some()).and_then(|b| rev.artifact_for(b)).cloned();
            out.push(DesiredApp {
                slot: slot_name(&app.meta.name, revision, &app.spec.strategy),
                app: app.meta.name.clone(),
                revision,
                version: t.version.clone(),
                digest: t.digest.clone(),
                size: t.size,
                manifest,
                limits: t.limits,
                capabilities: t.capabilities.clone(),
                config: t.config.clone(),
                run,
                native,
            });
        }
    }
    out.sort_by(|a, b| a.slot.cmp(&b.slot));
    out
}

/// Revisions `device` should hold for one rollout, with whether each runs.
pub fn assignment(strategy: &Strategy, ro: &RolloutStatus, device: &str) -> Vec<(u64, bool)> {
    let blue_green = matches!(strategy, Strategy::BlueGreen { .. });
    if !blue_green {
        return ro.assigned(device).map(|r| (r, true)).into_iter().collect();
    }
    let new = ro.revision;
    let old = ro.previous.filter(|p| *p != new);
    let touched = ro.touched.contains(device);
    // (revision that runs, revision kept stopped beside it)
    let (run, beside) = match ro.phase {
        RolloutPhase::Completed => (Some(new), old),
        RolloutPhase::RolledBack | RolloutPhase::Aborted => (old, None),
        RolloutPhase::Progressing | RolloutPhase::Paused if !touched => (old, None),
        // A rollback returns to a revision kept beside: switch at once.
        RolloutPhase::Progressing | RolloutPhase::Paused if ro.rollback || ro.step >= 1 => (Some(new), old),
        RolloutPhase::Progressing | RolloutPhase::Paused => (old, Some(new)),
    };
    run.map(|r| (r, true)).into_iter().chain(beside.map(|r| (r, false))).collect()
}

/// What `device` reports for `revision` of `app` (whose module is `digest`).
pub fn revision_state(device: &Device, slot: &str, revision: u64, digest: &str) -> RevisionState {
    revision_state_in(&device.status.session.apps, slot, revision, digest)
}

/// How a target reporting `observations` (a device's apps, a gateway's
/// edge apps) is doing with `revision` in `slot`.
pub fn revision_state_in(observations: &[AppObservation], slot: &str, revision: u64, digest: &str) -> RevisionState {
    let obs = observations.iter().find(|o| o.name == slot && holds(o, revision, digest));
    match obs.map(|o| o.state) {
        None => RevisionState::Absent,
        Some(AppState::Running) => RevisionState::Running,
        Some(AppState::Stopped) => RevisionState::Installed,
        Some(AppState::Failed | AppState::Rejected) => RevisionState::Failed,
        Some(AppState::Installing) => RevisionState::Pending,
    }
}

/// An observation is of `revision` when the device says so, or, from
/// devices that report no revision, when the module is the same.
fn holds(o: &AppObservation, revision: u64, digest: &str) -> bool {
    match o.revision {
        Some(r) => r == revision,
        None => o.digest == digest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blue_green_slots_share_their_unversioned_state() {
        assert_eq!(unversioned_slot("watch"), "watch");
        assert_eq!(unversioned_slot("watch.r3"), "watch");
        assert_eq!(unversioned_slot("blink.r3@vld-1"), "blink@vld-1");
        assert_eq!(unversioned_slot("blink@vld-1"), "blink@vld-1");
    }
    use wasmbed_model::Step;
    use wasmbed_testkit::{With, observation};

    fn rollout(phase: RolloutPhase, step: u32, touched: &[&str]) -> RolloutStatus {
        RolloutStatus {
            phase,
            step,
            touched: touched.iter().map(|s| s.to_string()).collect(),
            ..RolloutStatus::start(2, Some(1), 0)
        }
    }

    #[test]
    fn replace_strategies_run_one_revision() {
        let s = Strategy::Rolling { max_unavailable: Step::Devices(1) };
        assert_eq!(assignment(&s, &rollout(RolloutPhase::Progressing, 0, &["a"]), "a"), [(2, true)]);
        assert_eq!(assignment(&s, &rollout(RolloutPhase::Progressing, 0, &["a"]), "b"), [(1, true)]);
        assert_eq!(assignment(&s, &rollout(RolloutPhase::RolledBack, 0, &["a"]), "a"), [(1, true)]);
        assert_eq!(assignment(&s, &rollout(RolloutPhase::Completed, 0, &[]), "b"), [(2, true)]);
        let first = RolloutStatus { previous: None, ..rollout(RolloutPhase::RolledBack, 0, &["a"]) };
        assert!(assignment(&s, &first, "a").is_empty(), "a failed first deploy leaves nothing");
    }

    #[test]
    fn blue_green_installs_beside_then_switches_and_keeps_the_old() {
        let s = Strategy::BlueGreen { soak_ms: 0 };
        let at = |phase, step| assignment(&s, &rollout(phase, step, &["a"]), "a");
        assert_eq!(at(RolloutPhase::Progressing, 0), [(1, true), (2, false)]);
        assert_eq!(at(RolloutPhase::Progressing, 1), [(2, true), (1, false)]);
        assert_eq!(at(RolloutPhase::Completed, 1), [(2, true), (1, false)]);
        assert_eq!(at(RolloutPhase::RolledBack, 1), [(1, true)]);
        assert_eq!(assignment(&s, &rollout(RolloutPhase::Progressing, 1, &["a"]), "b"), [(1, true)]);
        assert_eq!(slot_name("hello", 2, &s), "hello.r2");
        assert_eq!(slot_name("hello", 2, &Strategy::AllAtOnce), "hello");
    }

    #[test]
    fn observations_are_matched_by_revision_or_digest() {
        let mut d = wasmbed_testkit::device("a");
        let obs = |state, revision| observation("hello", revision, state).with(|o| o.digest = "aa".into());
        d.status.session.apps = vec![obs(AppState::Running, Some(2))];
        assert_eq!(revision_state(&d, "hello", 2, "zz"), RevisionState::Running);
        assert_eq!(revision_state(&d, "hello", 3, "aa"), RevisionState::Absent, "another revision, same module");
        d.status.session.apps = vec![obs(AppState::Stopped, None)];
        assert_eq!(revision_state(&d, "hello", 9, "aa"), RevisionState::Installed);
        d.status.session.apps = vec![obs(AppState::Rejected, Some(2))];
        assert_eq!(revision_state(&d, "hello", 2, "aa"), RevisionState::Failed);
        d.status.session.apps = vec![obs(AppState::Installing, Some(2))];
        assert_eq!(revision_state(&d, "hello", 2, "aa"), RevisionState::Pending);
    }
}
