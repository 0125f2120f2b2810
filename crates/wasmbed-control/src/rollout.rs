//! The rollout reconciler's decision, as one pure function: given the
//! strategy, the rollout's status and how each targeted device is doing,
//! the next status. Level-triggered and idempotent: calling it again with
//! the same inputs changes nothing, so a restart resumes from the stored
//! status. (Groundwork for issue 4: not wired to the gateway yet.)

use wasmbed_model::{RolloutPhase, RolloutStatus, Strategy};

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

/// A device's report about one revision of the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevisionState {
    /// Not there (yet).
    Absent,
    /// Installing or starting.
    Pending,
    /// Running.
    Running,
    /// Failed, trapped, or refused by the device.
    Failed,
}

/// The next status. `devices` are the devices the selector targets now
/// (devices that joined mid-rollout included).
pub fn advance(strategy: &Strategy, st: &RolloutStatus, devices: &[DeviceHealth], now_ms: u64) -> RolloutStatus {
    let mut next = st.clone();
    if !matches!(st.phase, RolloutPhase::Progressing) {
        return next;
    }
    let total = devices.len();
    let (soak_ms, max_failures) = match strategy {
        Strategy::Canary { soak_ms, max_failures, .. } => (*soak_ms, *max_failures as usize),
        Strategy::BlueGreen { soak_ms } => (*soak_ms, 0),
        Strategy::AllAtOnce | Strategy::Rolling { .. } => (0, 0),
    };

    // Health gate over the touched devices that are online: offline ones
    // are pending, never failures.
    let touched: Vec<&DeviceHealth> = devices.iter().filter(|d| st.touched.contains(&d.name)).collect();
    let failed = touched.iter().filter(|d| d.online && d.new_revision == RevisionState::Failed).count();
    if failed > max_failures {
        next.phase = RolloutPhase::RolledBack;
        next.message = Some(format!(
            "{failed} of {} updated devices failed at step {} (at most {max_failures} allowed); rolled back",
            touched.len(),
            st.step + 1
        ));
        return next;
    }
    let settled = touched.iter().all(|d| !d.online || d.new_revision == RevisionState::Running);
    let soaked = now_ms.saturating_sub(st.step_started_ms) >= soak_ms;

    // Devices the current step covers, and whether this is the last step.
    let (target, last) = match strategy {
        Strategy::AllAtOnce | Strategy::BlueGreen { .. } => (total, true),
        Strategy::Canary { steps, .. } => {
            let i = (st.step as usize).min(steps.len().saturating_sub(1));
            (steps.get(i).map_or(total, |s| s.resolve(total)), i + 1 >= steps.len())
        }
        Strategy::Rolling { max_unavailable } => {
            let wave = max_unavailable.resolve(total).max(1);
            let covered = (st.step as usize + 1).saturating_mul(wave).min(total);
            (covered, covered >= total)
        }
    };

    if st.touched.len() < target {
        // Touch more devices: online ones first (offline ones would only
        // wait), in name order so the choice is stable across restarts.
        let mut candidates: Vec<&DeviceHealth> = devices.iter().filter(|d| !st.touched.contains(&d.name)).collect();
        candidates.sort_by(|a, b| b.online.cmp(&a.online).then_with(|| a.name.cmp(&b.name)));
        for d in candidates.into_iter().take(target - st.touched.len()) {
            next.touched.insert(d.name.clone());
        }
        return next;
    }
    if settled && soaked {
        if last {
            next.phase = RolloutPhase::Completed;
            next.message = None;
        } else {
            next.step += 1;
            next.step_started_ms = now_ms;
        }
    }
    next
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

        fn health(&self, st: &RolloutStatus, seen: &std::collections::BTreeSet<String>, now: u64) -> Vec<DeviceHealth> {
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
            let mut seen = std::collections::BTreeSet::new();
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
                if matches!(next.phase, RolloutPhase::Completed | RolloutPhase::RolledBack) {
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
        fleet.fails = Box::new(|_| false);
        let (st, _) = fleet.run(&canary());
        assert_eq!(st.phase, RolloutPhase::Completed);
        assert_eq!(st.touched.len(), 200);
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
}
