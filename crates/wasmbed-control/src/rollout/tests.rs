//! The rollout reconciler against seeded fleets: tests named as sentences.

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
                DeviceHealth { name: name.clone(), online, new_revision, metrics: GateVerdict::Within }
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
    assert!(st.touched.iter().all(|d| st.assigned(d) == Some(1)), "every touched device back on the previous revision");
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
    let away = |n: &str| DeviceHealth {
        name: n.into(),
        online: false,
        new_revision: RevisionState::Absent,
        metrics: GateVerdict::Within,
    };
    let st = advance(&canary(), &st, &[away("a"), away("b")], 10);
    assert_eq!(st.touched.len(), 1);
    let again = advance(&canary(), &st, &[away("a"), away("b")], 20);
    assert_eq!((again.step, again.phase), (0, RolloutPhase::Progressing), "no evidence, no progress");
}

#[test]
fn soak_time_holds_each_step_and_paused_rollouts_do_not_move() {
    let strategy = Strategy::Canary {
        steps: vec![Step::Devices(1), Step::Percent(100)],
        soak_ms: 1000,
        max_failures: 0,
        gates: vec![],
    };
    let names = ["a", "b"];
    let health = |running: &[&str]| -> Vec<DeviceHealth> {
        names
            .iter()
            .map(|n| DeviceHealth {
                name: (*n).into(),
                online: true,
                new_revision: if running.contains(n) { RevisionState::Running } else { RevisionState::Absent },
                metrics: GateVerdict::Within,
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
        DeviceHealth {
            name: "a".into(),
            online: true,
            new_revision: RevisionState::Running,
            metrics: GateVerdict::Within,
        },
        DeviceHealth {
            name: "b".into(),
            online: true,
            new_revision: RevisionState::Absent,
            metrics: GateVerdict::Within,
        },
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
        spec: ApplicationSpec { strategy, ..ApplicationSpec::new(version, &format!("{digest:02x}").repeat(32), 10) },
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
    let offline: Vec<Device> =
        (0..5).map(|i| device(&format!("d{i}"), None).with(|d| d.status.phase = DevicePhase::Unreachable)).collect();
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

fn gated(gate: &str) -> Strategy {
    Strategy::Canary {
        steps: Strategy::canary_steps("1,100%"),
        soak_ms: 0,
        max_failures: 0,
        gates: vec![gate.parse().expect("gate parses")],
    }
}

fn one(metrics: GateVerdict) -> Vec<DeviceHealth> {
    vec![
        DeviceHealth { name: "a".into(), online: true, new_revision: RevisionState::Running, metrics },
        DeviceHealth {
            name: "b".into(),
            online: true,
            new_revision: RevisionState::Absent,
            metrics: GateVerdict::Within,
        },
    ]
}

#[test]
fn a_metric_gate_breach_rolls_the_canary_back_and_says_which() {
    let strategy = gated("temp_c < 80");
    let st = advance(&strategy, &RolloutStatus::start(2, Some(1), 0), &one(GateVerdict::Within), 0);
    assert_eq!(st.touched.len(), 1);
    let breach = GateVerdict::Breach("a reported temp_c = 91, outside `temp_c < 80`".into());
    let rolled = advance(&strategy, &st, &one(breach), 10);
    assert_eq!(rolled.phase, RolloutPhase::RolledBack);
    let message = rolled.message.unwrap_or_default();
    assert!(message.contains("metric gate") && message.contains("temp_c = 91"), "{message}");
}

#[test]
fn a_canary_waits_for_the_gated_metric_before_it_moves_on() {
    let strategy = gated("temp_c < 80");
    let st = RolloutStatus::start(2, Some(1), 0);
    let waiting = advance(&strategy, &st, &one(GateVerdict::Missing("temp_c".into())), 10);
    assert_eq!((waiting.phase, waiting.step), (RolloutPhase::Progressing, 0), "no evidence yet");
    let moved = advance(&strategy, &waiting, &one(GateVerdict::Within), 20);
    assert_eq!(moved.step, 1);
}

#[test]
fn gate_verdicts_read_the_new_revisions_latest_metrics() {
    use wasmbed_model::{AppState, Gauge};
    let gates: Vec<MetricGate> = vec!["temp_c < 80".parse().unwrap()];
    let mut d = wasmbed_testkit::device("a");
    assert_eq!(gate_verdict(&gates, &d, "thermo", 2), GateVerdict::Missing("temp_c".into()));
    let mut obs = wasmbed_testkit::observation("thermo", Some(2), AppState::Running);
    obs.metrics.insert("temp_c".into(), Gauge(85.0));
    d.status.session.apps.push(obs);
    assert!(matches!(gate_verdict(&gates, &d, "thermo", 2), GateVerdict::Breach(why) if why.contains("85")));
    assert_eq!(
        gate_verdict(&gates, &d, "thermo", 3),
        GateVerdict::Missing("temp_c".into()),
        "another revision's report"
    );
    assert_eq!(gate_verdict(&[], &d, "thermo", 2), GateVerdict::Within);
}

#[test]
fn an_edge_application_granted_a_board_targets_attached_boards_through_their_gateways() {
    use wasmbed_model::{AppObservation, AppState, ApplicationSpec, DeviceSpec, Meta, Runtime};
    let mut app = Application {
        meta: Meta::named("blink"),
        spec: ApplicationSpec {
            runtime: Runtime::Edge,
            capabilities: vec!["log".into(), "attached-board".into()],
            selector: "room=lab".into(),
            ..ApplicationSpec::new("1", &"ab".repeat(32), 10)
        },
        status: Default::default(),
    };
    let device = |name: &str, board: &str| {
        let mut d = Device {
            meta: Meta::named(name),
            spec: DeviceSpec {
                board: board.into(),
                labels: [("room".into(), "lab".into())].into(),
                ..Default::default()
            },
            status: Default::default(),
        };
        d.status.phase = DevicePhase::Online;
        d.status.session.gateway = Some("gw-a".into());
        d
    };
    let vld = device("vld-1", "stm32vldiscovery");
    let mps2 = device("m-1", "mps2-an385");
    let spec = wasmbed_model::GatewaySpec { endpoint: "127.0.0.1:1".into(), capacity: 1, ..Default::default() };
    let mut gw = Gateway { meta: Meta::named("gw-a"), spec, status: Default::default() };
    gw.status.health = GatewayHealth::Healthy;

    // The first pass starts the rollout: only the attached board is a
    // target (not the MPS2 device, not the gateway itself).
    app.status = reconcile_fleet(&app, &[&vld, &mps2], &[&gw], 0);
    assert_eq!(app.status.desired, 1, "{:?}", app.status);
    let desired = crate::desired_board_apps(&vld, std::slice::from_ref(&app));
    assert_eq!(desired.iter().map(|d| d.slot.as_str()).collect::<Vec<_>>(), ["blink@vld-1"]);
    assert!(crate::desired_board_apps(&mps2, std::slice::from_ref(&app)).is_empty());
    assert!(crate::desired_edge_apps("gw-a", std::slice::from_ref(&app)).is_empty());

    // The gateway holding the board reports the slot running: the rollout
    // completes on it.
    gw.status.edge = vec![AppObservation {
        name: "blink@vld-1".into(),
        version: "1".into(),
        digest: "ab".repeat(32),
        state: AppState::Running,
        revision: Some(1),
        reason: None,
        counters: None,
        metrics: Default::default(),
    }];
    app.status = reconcile_fleet(&app, &[&vld, &mps2], &[&gw], 10);
    assert_eq!(app.status.running, 1, "{:?}", app.status);
    assert_eq!(app.status.rollout.map(|r| r.phase), Some(RolloutPhase::Completed));
}
