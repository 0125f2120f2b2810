//! The diff at the heart of the gateway: desired apps against reported ones,
//! and when a deploy the device refused is sent again.
//!
//! Rules, in short:
//! - a missing or changed slot is deployed; a deploy in flight is not
//!   repeated;
//! - a refusal about the module itself (hash mismatch, invalid module,
//!   unlinkable imports, ...) stands for that revision: only a new one is
//!   tried;
//! - a refusal for lack of room (`no-resources`) is tried again: at once when
//!   the device shows more room than when it refused (an app fewer, or more
//!   free heap), otherwise after a backoff that grows with each refusal in a
//!   row up to a cap ([`RetryPolicy`]); never twice within
//!   [`RetryPolicy::min_gap_ms`], so a device that keeps refusing is asked at
//!   a bounded rate;
//! - while it waits, the slot stays rejected and its reason says it will be
//!   retried ([`RETRY_NOTE`]).
//!
//! Pure: time and the device's room are passed in. Sessions plan on every
//! heartbeat, so a retry that falls due goes out with the next one.

use std::collections::BTreeMap;

use wasmbed_agent::Backoff;
use wasmbed_model::DesiredApp;
use wasmbed_protocol::{AppReport, AppState, ErrorCode, FailReason};

/// One thing to send to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the module and install it (started or not, as `run` says).
    Deploy(Box<DesiredApp>),
    /// Start an installed, stopped slot.
    Start(String),
    /// Stop a running slot, keeping it installed (blue-green's old side).
    Stop(String),
    /// Uninstall a slot nobody wants.
    Remove(String),
}

/// Added to the reason of a refusal that will be retried.
pub const RETRY_NOTE: &str = "retrying when room appears";

/// Free heap growth below this is allocator noise (frames, log lines in
/// flight), not room an app left behind.
pub const ROOM_NOISE_BYTES: u32 = 1024;

/// How refusals for lack of room are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait when no room is seen, per refusal in a row (the agent's
    /// formula: the window doubles up to the cap, the delay is drawn from
    /// its upper half).
    pub backoff: Backoff,
    /// The least time between a refusal and the next attempt, even when
    /// room appears: what bounds the rate for a device that keeps refusing
    /// while its reports keep changing.
    pub min_gap_ms: u32,
}

impl RetryPolicy {
    /// 5–10 s after the first refusal, doubling up to 2.5–5 min; room
    /// seen a second after a refusal is tried at once.
    pub const DEFAULT: Self = Self::new(Backoff::new(10_000, 300_000), 1_000);

    /// A policy with this backoff and least gap.
    pub const fn new(backoff: Backoff, min_gap_ms: u32) -> Self {
        Self { backoff, min_gap_ms }
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The room a device shows in its reports: what a refusal for lack of room
/// is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Room {
    /// Slots installed.
    pub apps: usize,
    /// Free heap, once the device has reported it.
    pub free_memory: Option<u32>,
}

impl Room {
    /// The room shown by `reported` slots and the last reported free heap.
    pub fn of(reported: &BTreeMap<String, AppReport>, free_memory: Option<u32>) -> Self {
        Self { apps: reported.len(), free_memory }
    }

    /// Whether this shows more room than `before`: a slot fewer, or more
    /// free heap by more than [`ROOM_NOISE_BYTES`]. Free heap first reported
    /// now says nothing about then.
    pub fn exceeds(&self, before: &Room) -> bool {
        let more_heap = match (self.free_memory, before.free_memory) {
            (Some(now), Some(then)) => now > then.saturating_add(ROOM_NOISE_BYTES),
            _ => false,
        };
        self.apps < before.apps || more_heap
    }
}

/// Whether a refusal with `code` can go away without a new revision: only
/// lack of room can (another app leaves, memory is freed). The others are
/// about the module, and sending it again would be refused again.
pub fn retryable(code: ErrorCode) -> bool {
    code == ErrorCode::NoResources
}

/// A deploy the device refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The deploy refused ([`deploy_key`]).
    pub key: String,
    /// The device's reason, `code: detail`.
    pub why: String,
    /// When it is tried again; `None`: never, for this revision.
    pub retry: Option<Retry>,
}

/// When a deploy refused for lack of room is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Refusals of this deploy in a row.
    pub refusals: u32,
    /// When the last one arrived.
    pub at_ms: u64,
    /// Tried again from then on, even if no room is seen.
    pub due_ms: u64,
    /// The room the device showed when it refused.
    pub room: Room,
}

impl Refusal {
    /// What the slot's observation says about it.
    pub fn reason(&self) -> String {
        match self.retry {
            Some(_) => format!("{}; {RETRY_NOTE}", self.why),
            None => self.why.clone(),
        }
    }

    /// Whether the refused deploy goes out again at `now_ms`, the device
    /// showing `room`.
    pub fn retry_now(&self, room: &Room, now_ms: u64, policy: &RetryPolicy) -> bool {
        let Some(r) = &self.retry else { return false };
        // The clock went back: the times recorded mean nothing now; one
        // attempt records new ones.
        if now_ms < r.at_ms {
            return true;
        }
        let gap_passed = now_ms - r.at_ms >= u64::from(policy.min_gap_ms);
        now_ms >= r.due_ms || (gap_passed && room.exceeds(&r.room))
    }
}

/// What a session has asked for and not yet seen happen, so each action is
/// sent once, and refusals are retried only as [`Refusal::retry_now`] says.
#[derive(Debug, Default, Clone)]
pub struct Pending {
    /// App → digest being deployed.
    pub deploying: BTreeMap<String, String>,
    /// App → the deploy the device refused, kept while that revision is
    /// wanted (through its retries, until the device shows it installed).
    pub rejected: BTreeMap<String, Refusal>,
    /// Slots a Remove, Start or Stop was sent for, with the state they were
    /// in then: the ask is settled once the device reports another.
    pub asked: BTreeMap<String, AppState>,
    /// How refusals for lack of room are retried.
    pub policy: RetryPolicy,
}
/// Hex digest of a report.
pub fn digest_of(r: &AppReport) -> String {
    hex::encode(*r.sha256)
}

/// Whether a reported slot holds the desired revision: the same bytes
/// (the module, or the native artifact the device's board is sent), and
/// the same revision when the device reports one. So a device still
/// interpreting a revision that now has native code for its board is
/// sent the native code.
pub fn holds(r: &AppReport, d: &DesiredApp) -> bool {
    digest_of(r) == d.shipped_digest() && r.revision.is_none_or(|rev| rev == d.revision)
}

/// The key a deploy in flight or refused is remembered by.
pub fn deploy_key(d: &DesiredApp) -> String {
    match &d.manifest {
        // A new signature makes a new deploy: one refused as unsigned, or
        // under a key the device has moved past, goes out again once signed.
        Some(m) => format!("{}@{}/{}", d.shipped_digest(), d.revision, &m[m.len().saturating_sub(16)..]),
        None => format!("{}@{}", d.shipped_digest(), d.revision),
    }
}

/// Whether `r` shows the deploy remembered as `key` carried out.
pub fn shows(r: &AppReport, key: &str) -> bool {
    let key = key.split('/').next().unwrap_or(key);
    match r.revision {
        Some(rev) => *key == format!("{}@{rev}", digest_of(r)),
        None => key.split('@').next() == Some(digest_of(r).as_str()),
    }
}

impl Pending {
    /// Nothing pending, retrying refusals for lack of room under `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        Self { policy, ..Self::default() }
    }

    /// Forgets requests the device has visibly carried out (a refused
    /// deploy that a retry installed included).
    pub fn settle(&mut self, reported: &BTreeMap<String, AppReport>) {
        self.deploying.retain(|slot, key| !reported.get(slot).is_some_and(|r| shows(r, key)));
        self.rejected.retain(|slot, r| !reported.get(slot).is_some_and(|rep| shows(rep, &r.key)));
        self.asked.retain(|slot, was| reported.get(slot).is_some_and(|r| r.state == *was));
    }

    /// The device refused the deploy in flight for `slot` at `now_ms`,
    /// showing `room`; `random` jitters the backoff. A refusal of the same
    /// deploy as last time counts as one more in a row.
    pub fn refused(&mut self, slot: &str, reason: &FailReason, room: Room, now_ms: u64, random: u32) -> Refusal {
        let key = self.deploying.remove(slot).unwrap_or_default();
        let before = self.rejected.get(slot).filter(|r| r.key == key).and_then(|r| r.retry);
        let retry = retryable(reason.code).then(|| {
            let refusals = before.map_or(0, |r| r.refusals).saturating_add(1);
            let wait = self.policy.backoff.delay_ms(refusals - 1, random);
            Retry { refusals, at_ms: now_ms, due_ms: now_ms.saturating_add(u64::from(wait)), room }
        });
        let why = format!("{}: {}", reason.code.as_str(), reason.detail);
        let refusal = Refusal { key, why, retry };
        self.rejected.insert(slot.to_string(), refusal.clone());
        refusal
    }

    /// Forgets refusals of revisions nobody wants any more.
    pub fn forget_unwanted(&mut self, desired: &[DesiredApp]) {
        self.rejected.retain(|slot, r| desired.iter().any(|d| &d.slot == slot && deploy_key(d) == r.key));
    }
}

/// Actions that move `reported` towards `desired` at `now_ms`, the device
/// showing `room`.
pub fn plan(
    desired: &[DesiredApp],
    reported: &BTreeMap<String, AppReport>,
    pending: &Pending,
    room: Room,
    now_ms: u64,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for d in desired {
        match reported.get(&d.slot) {
            Some(r) if holds(r, d) => {
                let asked = pending.asked.contains_key(&d.slot);
                match (r.state, d.run) {
                    (AppState::Stopped, true) if !asked => actions.push(Action::Start(d.slot.clone())),
                    (AppState::Running, false) if !asked => actions.push(Action::Stop(d.slot.clone())),
                    _ => {}
                }
            }
            _ => {
                let key = deploy_key(d);
                let in_flight = pending.deploying.get(&d.slot) == Some(&key);
                let held = pending
                    .rejected
                    .get(&d.slot)
                    .is_some_and(|r| r.key == key && !r.retry_now(&room, now_ms, &pending.policy));
                if !in_flight && !held {
                    actions.push(Action::Deploy(Box::new(d.clone())));
                }
            }
        }
    }
    for name in reported.keys() {
        if !desired.iter().any(|d| &d.slot == name) && !pending.asked.contains_key(name) {
            actions.push(Action::Remove(name.clone()));
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::Limits;

    fn want(name: &str, digest_byte: u8) -> DesiredApp {
        DesiredApp {
            slot: name.into(),
            app: name.into(),
            revision: u64::from(digest_byte),
            version: "1".into(),
            digest: hex::encode([digest_byte; 32]),
            size: 1,
            manifest: None,
            limits: Limits::default(),
            capabilities: vec![],
            config: Default::default(),
            run: true,
            native: None,
        }
    }

    fn has(name: &str, digest_byte: u8, state: AppState) -> (String, AppReport) {
        let r = AppReport {
            app: name.into(),
            version: "1".into(),
            sha256: [digest_byte; 32].into(),
            state,
            revision: Some(u64::from(digest_byte)),
            counters: None,
        };
        (name.into(), r)
    }

    fn because(code: ErrorCode, detail: &str) -> FailReason {
        FailReason { code, detail: detail.into() }
    }

    fn full() -> FailReason {
        because(ErrorCode::NoResources, "all 4 app slots are in use")
    }

    fn room(apps: usize, free: u32) -> Room {
        Room { apps, free_memory: Some(free) }
    }

    /// `d` deployed by the session and refused at `now` for `reason`.
    fn deploy_refused(p: &mut Pending, d: &DesiredApp, reason: &FailReason, at: Room, now: u64) -> Refusal {
        p.deploying.insert(d.slot.clone(), deploy_key(d));
        p.refused(&d.slot, reason, at, now, 0)
    }

    fn deploys(desired: &[DesiredApp], p: &Pending, room: Room, now: u64) -> bool {
        plan(desired, &BTreeMap::new(), p, room, now).iter().any(|a| matches!(a, Action::Deploy(_)))
    }

    #[test]
    fn deploys_missing_and_changed_removes_unwanted_starts_stopped() {
        let desired = [want("a", 1), want("b", 2), want("c", 3)];
        let reported: BTreeMap<_, _> = [
            has("a", 1, AppState::Running),
            has("b", 9, AppState::Running),
            has("c", 3, AppState::Stopped),
            has("z", 1, AppState::Running),
        ]
        .into();
        let got = plan(&desired, &reported, &Pending::default(), Room::of(&reported, None), 0);
        assert_eq!(
            got,
            [Action::Deploy(Box::new(want("b", 2))), Action::Start("c".into()), Action::Remove("z".into())]
        );
    }

    #[test]
    fn in_flight_and_refused_deploys_are_not_repeated() {
        let desired = [want("a", 1), want("b", 2)];
        let mut p = Pending::default();
        p.deploying.insert("a".into(), deploy_key(&want("a", 1)));
        deploy_refused(&mut p, &want("b", 2), &because(ErrorCode::HashMismatch, "x"), Room::default(), 0);
        assert!(plan(&desired, &BTreeMap::new(), &p, Room::default(), 0).is_empty());
        // A new digest for a refused app is tried.
        let desired = [want("b", 3)];
        assert_eq!(plan(&desired, &BTreeMap::new(), &p, Room::default(), 0), [Action::Deploy(Box::new(want("b", 3)))]);
    }

    #[test]
    fn a_refusal_about_the_module_stands_whatever_the_time_or_room() {
        for code in
            [ErrorCode::HashMismatch, ErrorCode::InvalidModule, ErrorCode::InstantiateFailed, ErrorCode::BadChunk]
        {
            let d = want("a", 1);
            let mut p = Pending::default();
            let r = deploy_refused(&mut p, &d, &because(code, "bad"), room(4, 1_000), 0);
            assert_eq!(r.retry, None, "{code:?}");
            assert_eq!(r.reason(), format!("{}: bad", code.as_str()), "no promise of a retry");
            let emptied = room(0, 1_000_000);
            for now in [0, 1_000, 3_600_000, u64::MAX] {
                assert!(!deploys(std::slice::from_ref(&d), &p, emptied, now), "{code:?} at {now}");
            }
        }
    }

    #[test]
    fn a_refusal_for_lack_of_room_says_it_will_be_retried() {
        let mut p = Pending::default();
        let r = deploy_refused(&mut p, &want("a", 1), &full(), room(4, 50_000), 7);
        assert_eq!(r.reason(), "no-resources: all 4 app slots are in use; retrying when room appears");
        assert_eq!(r.retry.map(|r| (r.refusals, r.at_ms, r.room)), Some((1, 7, room(4, 50_000))));
        assert_eq!(p.rejected["a"], r, "remembered for the slot's observation");
    }

    #[test]
    fn without_room_the_retry_waits_a_backoff_that_grows_per_refusal_up_to_a_cap() {
        let d = [want("a", 1)];
        let same = room(4, 50_000);
        let mut p = Pending::default();
        let mut now = 1_000_000;
        let mut waits = Vec::new();
        for _ in 0..8 {
            let r = deploy_refused(&mut p, &d[0], &full(), same, now);
            let retry = r.retry.unwrap();
            let wait = retry.due_ms - now;
            assert!(!deploys(&d, &p, same, now + wait - 1), "not before the delay");
            assert!(deploys(&d, &p, same, now + wait), "at the delay");
            waits.push(wait);
            now += wait;
        }
        // Random 0: the lower half of windows of 10 s doubling to the 300 s cap.
        assert_eq!(waits, [5_000, 10_000, 20_000, 40_000, 80_000, 150_000, 150_000, 150_000]);
        assert_eq!(p.rejected["a"].retry.unwrap().refusals, 8);
    }

    #[test]
    fn room_appearing_is_tried_at_once_but_not_within_the_least_gap() {
        let d = [want("a", 1)];
        let mut p = Pending::default();
        let t = 1_000_000;
        deploy_refused(&mut p, &d[0], &full(), room(4, 50_000), t);
        let gap = u64::from(RetryPolicy::DEFAULT.min_gap_ms);
        let after = t + gap;
        assert!(deploys(&d, &p, room(3, 50_000), after), "a slot freed");
        assert!(!deploys(&d, &p, room(3, 50_000), after - 1), "a slot freed, but too soon after the refusal");
        assert!(deploys(&d, &p, room(4, 50_000 + ROOM_NOISE_BYTES + 1), after), "heap freed");
        assert!(!deploys(&d, &p, room(4, 50_000 + ROOM_NOISE_BYTES), after), "heap noise is not room");
        assert!(!deploys(&d, &p, room(5, 40_000), after), "less room");
        assert!(!deploys(&d, &p, Room { apps: 4, free_memory: None }, after), "heap unknown");
        let mut unknown_then = Pending::default();
        deploy_refused(&mut unknown_then, &d[0], &full(), Room { apps: 4, free_memory: None }, t);
        assert!(!deploys(&d, &unknown_then, room(4, 1_000_000), after), "heap first reported: nothing to compare");
        assert!(deploys(&d, &unknown_then, room(2, 1_000_000), after));
    }

    #[test]
    fn a_retry_in_flight_is_not_repeated_and_its_success_clears_the_refusal() {
        let d = [want("a", 1)];
        let mut p = Pending::default();
        deploy_refused(&mut p, &d[0], &full(), room(4, 50_000), 0);
        let freed = room(3, 50_000);
        assert_eq!(plan(&d, &BTreeMap::new(), &p, freed, 5_000), [Action::Deploy(Box::new(want("a", 1)))]);
        p.deploying.insert("a".into(), deploy_key(&d[0]));
        assert!(plan(&d, &BTreeMap::new(), &p, freed, 5_000).is_empty(), "sent once");
        assert!(p.rejected.contains_key("a"), "still reported rejected while the retry is on its way");
        let reported: BTreeMap<_, _> = [has("a", 1, AppState::Running)].into();
        p.settle(&reported);
        assert!(p.rejected.is_empty() && p.deploying.is_empty());
        assert!(plan(&d, &reported, &p, Room::of(&reported, Some(1)), 5_000).is_empty());
    }

    #[test]
    fn a_device_that_keeps_refusing_is_asked_at_a_bounded_rate() {
        // An hour of heartbeats every 100 ms from a device that refuses
        // every deploy while its reports swing between 4 apps and none and
        // its free heap keeps growing.
        let d = [want("a", 1)];
        let policy = RetryPolicy::DEFAULT;
        let mut p = Pending::new(policy);
        let (mut attempts, mut last) = (0u64, None::<u64>);
        for beat in 0..36_000u32 {
            let now = u64::from(beat) * 100;
            let shown = room(if beat % 2 == 0 { 4 } else { 0 }, 10_000 + beat * 4096);
            if deploys(&d, &p, shown, now) {
                if let Some(last) = last {
                    assert!(now - last >= u64::from(policy.min_gap_ms), "attempts {last} and {now} too close");
                }
                attempts += 1;
                last = Some(now);
                deploy_refused(&mut p, &d[0], &full(), shown, now);
            }
        }
        assert!(attempts <= 3_600, "{attempts} attempts in an hour");
        assert!(attempts > 1, "room that appears is still tried");
        // With reports that show no more room, the backoff alone paces it.
        let mut p = Pending::new(policy);
        let steady = room(4, 10_000);
        let mut attempts = 0;
        for beat in 0..36_000u64 {
            let now = beat * 100;
            if deploys(&d, &p, steady, now) {
                attempts += 1;
                deploy_refused(&mut p, &d[0], &full(), steady, now);
            }
        }
        // 0, then 5, 10, 20, 40, 80 s, then every 150 s (random 0).
        assert!((20..=30).contains(&attempts), "{attempts} attempts in an hour");
    }

    #[test]
    fn a_clock_that_went_back_retries_once_then_waits_again() {
        let d = [want("a", 1)];
        let same = room(4, 50_000);
        let mut p = Pending::default();
        deploy_refused(&mut p, &d[0], &full(), same, 1_000_000);
        assert!(deploys(&d, &p, same, 10));
        deploy_refused(&mut p, &d[0], &full(), same, 10);
        assert!(!deploys(&d, &p, same, 20));
    }

    #[test]
    fn a_refusal_of_a_revision_nobody_wants_is_forgotten() {
        let mut p = Pending::default();
        deploy_refused(&mut p, &want("a", 1), &full(), room(4, 1), 0);
        deploy_refused(&mut p, &want("b", 2), &full(), room(4, 1), 0);
        p.forget_unwanted(&[want("a", 3), want("b", 2)]);
        assert_eq!(p.rejected.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn failed_apps_are_left_alone() {
        let desired = [want("a", 1)];
        let reported: BTreeMap<_, _> = [has("a", 1, AppState::Failed)].into();
        assert!(plan(&desired, &reported, &Pending::default(), Room::of(&reported, None), 0).is_empty());
    }

    #[test]
    fn stopped_slots_are_kept_stopped_and_running_ones_stopped() {
        let mut keep = want("a.r1", 1);
        keep.run = false;
        let reported: BTreeMap<_, _> = [has("a.r1", 1, AppState::Running), has("a.r2", 2, AppState::Stopped)].into();
        let got = plan(&[keep, want("a.r2", 2)], &reported, &Pending::default(), Room::of(&reported, None), 0);
        assert_eq!(got, [Action::Stop("a.r1".into()), Action::Start("a.r2".into())]);
    }

    #[test]
    fn the_same_module_under_another_revision_is_redeployed() {
        let mut d = want("a", 1);
        d.revision = 9; // e.g. new limits, same module
        let reported: BTreeMap<_, _> = [has("a", 1, AppState::Running)].into();
        let room = Room::of(&reported, None);
        assert_eq!(
            plan(std::slice::from_ref(&d), &reported, &Pending::default(), room, 0),
            [Action::Deploy(Box::new(d))]
        );
    }

    #[test]
    fn a_native_revision_is_held_by_its_artifact_not_by_the_module() {
        let mut d = want("a", 1);
        d.native = Some(wasmbed_model::NativeArtifactRef {
            board: "mps2-an385".into(),
            digest: hex::encode([7; 32]),
            size: 1,
            compiler: "c".into(),
        });
        // Still interpreting revision 1 (the module's digest): sent the native code.
        let (name, mut r) = has("a", 1, AppState::Running);
        let interpreted: BTreeMap<_, _> = [(name.clone(), r.clone())].into();
        let room = Room::of(&interpreted, None);
        assert_eq!(
            plan(std::slice::from_ref(&d), &interpreted, &Pending::default(), room, 0),
            [Action::Deploy(Box::new(d.clone()))]
        );
        // Reporting the artifact's digest: nothing to do, and the deploy in flight is settled.
        r.sha256 = [7; 32].into();
        assert!(shows(&r, &deploy_key(&d)));
        let native: BTreeMap<_, _> = [(name, r)].into();
        assert!(plan(std::slice::from_ref(&d), &native, &Pending::default(), room, 0).is_empty());
    }
}
