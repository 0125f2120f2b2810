//! The device reconciler's decision: a device's phase and conditions,
//! derived from what its gateway and its process manager observed.
//!
//! ```text
//! Provisioning ──process starts──▶ Connecting ──enrolls──▶ Online ⇄ Unreachable
//!        └───────────── no firmware / process fails ──────────▶ Failed
//! ```
//!
//! Online means a session is open *and* its last heartbeat is within the
//! liveness window (missed heartbeats × interval): a gateway that died
//! without closing its sessions cannot keep its devices Online.

use wasmbed_model::{
    AppState, Condition, DesiredApp, Device, DevicePhase, DeviceStatus, ProcessState, board, merge_conditions,
};

use wasmbed_model::defaults::{HEARTBEAT_MS, MISSED_HEARTBEATS};

/// When the device's last heartbeat stops counting, if it has one.
pub fn heartbeat_deadline(status: &DeviceStatus) -> Option<u64> {
    let s = &status.session;
    let interval = u64::from(s.heartbeat_ms.unwrap_or(HEARTBEAT_MS));
    s.last_heartbeat_ms.map(|t| t.saturating_add(interval.saturating_mul(u64::from(MISSED_HEARTBEATS))))
}

/// The phase and conditions `device` should have at `now_ms`, given the
/// slots it should run (`desired`, for the `Synced` condition).
pub fn lifecycle(device: &Device, desired: &[DesiredApp], now_ms: u64) -> (DevicePhase, Vec<Condition>) {
    let st = &device.status;
    let s = &st.session;
    let fresh = s.connected && heartbeat_deadline(st).is_some_and(|d| now_ms <= d);
    let emulated = board(&device.spec.board).is_some_and(|b| b.emulated);
    let process = st.process.as_ref();
    let process_failed = process.is_some_and(|p| p.state == ProcessState::Failed);
    let running = process.is_some_and(|p| p.state == ProcessState::Running);

    let phase = if fresh {
        DevicePhase::Online
    } else if process_failed {
        DevicePhase::Failed
    } else if s.last_heartbeat_ms.is_some() {
        DevicePhase::Unreachable
    } else if running {
        DevicePhase::Connecting
    } else {
        DevicePhase::Provisioning
    };

    let ready = match phase {
        DevicePhase::Online => Condition::new("Ready", true, "Heartbeating", ""),
        DevicePhase::Unreachable if s.connected => Condition::new(
            "Ready",
            false,
            "HeartbeatsStopped",
            format!("no heartbeat for {} intervals", MISSED_HEARTBEATS),
        ),
        DevicePhase::Unreachable if device.spec.disconnected => {
            Condition::new("Ready", false, "Disconnected", "disconnected by an operator")
        }
        DevicePhase::Unreachable => Condition::new("Ready", false, "SessionClosed", "its session ended"),
        DevicePhase::Failed => {
            Condition::new("Ready", false, "ProcessFailed", process.and_then(|p| p.message.clone()).unwrap_or_default())
        }
        DevicePhase::Connecting => Condition::new("Ready", false, "Connecting", "started; not enrolled yet"),
        DevicePhase::Provisioning => Condition::new("Ready", false, "NeverConnected", "identity issued"),
    };
    let mut conditions = vec![ready];
    if emulated {
        let (holds, reason) = match process.map(|p| p.state) {
            Some(ProcessState::Running) => (true, "Running"),
            Some(ProcessState::Restarting) => (false, "Restarting"),
            Some(ProcessState::Stopped) => (false, "Stopped"),
            Some(ProcessState::Failed) => (false, "Failed"),
            None => (false, "NotStarted"),
        };
        let message = process.and_then(|p| p.message.clone()).unwrap_or_default();
        conditions.push(Condition::new("ProcessRunning", holds, reason, message));
    }
    conditions.push(synced(device, desired));
    (phase, merge_conditions(&st.conditions, conditions, now_ms))
}

/// `Synced`: every slot the device should have is there, in the right
/// revision and run state.
fn synced(device: &Device, desired: &[DesiredApp]) -> Condition {
    let obs = &device.status.session.apps;
    let missing: Vec<&str> = desired
        .iter()
        .filter(|d| {
            !obs.iter().any(|o| {
                o.name == d.slot
                    && o.revision.map_or(o.digest == d.shipped_digest(), |r| r == d.revision)
                    && o.state == if d.run { AppState::Running } else { AppState::Stopped }
            })
        })
        .map(|d| d.slot.as_str())
        .collect();
    let extra = obs.iter().filter(|o| !desired.iter().any(|d| d.slot == o.name)).count();
    if missing.is_empty() && extra == 0 {
        Condition::new("Synced", true, "AppsMatch", format!("{} apps as desired", desired.len()))
    } else {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("not yet as desired: {}", missing.join(", ")));
        }
        if extra > 0 {
            why.push(format!("{extra} to remove"));
        }
        Condition::new("Synced", false, "Syncing", why.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::*;
    use wasmbed_testkit::{With, observation};

    fn device(board: &str) -> Device {
        wasmbed_testkit::device("d").with(|d| d.spec.board = board.into())
    }

    fn process(state: ProcessState) -> Option<ProcessStatus> {
        Some(ProcessStatus { state, restarts: 0, started_ms: None, message: Some("why".into()) })
    }

    #[test]
    fn phases_follow_the_facts() {
        let mut d = device("mps2-an385");
        assert_eq!(lifecycle(&d, &[], 0).0, DevicePhase::Provisioning);
        d.status.process = process(ProcessState::Running);
        assert_eq!(lifecycle(&d, &[], 0).0, DevicePhase::Connecting);
        d.status.session = SessionStatus {
            connected: true,
            last_heartbeat_ms: Some(1_000),
            heartbeat_ms: Some(1_000),
            ..Default::default()
        };
        assert_eq!(lifecycle(&d, &[], 3_999).0, DevicePhase::Online);
        let (phase, conds) = lifecycle(&d, &[], 4_001);
        assert_eq!(phase, DevicePhase::Unreachable, "three heartbeats missed while 'connected'");
        assert_eq!(conds[0].reason, "HeartbeatsStopped");
        d.status.session.connected = false;
        assert_eq!(lifecycle(&d, &[], 2_000).0, DevicePhase::Unreachable);
        d.status.process = process(ProcessState::Failed);
        let (phase, conds) = lifecycle(&d, &[], 2_000);
        assert_eq!(phase, DevicePhase::Failed);
        assert_eq!(conds[1].kind, "ProcessRunning");
        assert_eq!(conds[1].status, ConditionStatus::False);
    }

    #[test]
    fn synced_compares_slots_revisions_and_run_state() {
        let mut d = device("sim");
        let want = DesiredApp {
            slot: "hello".into(),
            app: "hello".into(),
            revision: 2,
            version: "2".into(),
            digest: "aa".into(),
            size: 1,
            manifest: None,
            limits: Limits::default(),
            capabilities: vec![],
            config: Default::default(),
            run: true,
            native: None,
        };
        let (_, c) = lifecycle(&d, std::slice::from_ref(&want), 0);
        assert_eq!(c.last().unwrap().status, ConditionStatus::False);
        d.status.session.apps.push(observation("hello", Some(2), AppState::Running));
        let (_, c) = lifecycle(&d, std::slice::from_ref(&want), 0);
        assert_eq!(c.last().unwrap().status, ConditionStatus::True, "{c:?}");
        assert_eq!(c.len(), 2, "no process condition for a simulator");
    }
}
