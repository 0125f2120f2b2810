//! The diff at the heart of the gateway: desired apps against reported ones.

use std::collections::BTreeMap;

use wasmbed_model::DesiredApp;
use wasmbed_protocol::{AppReport, AppState};

/// One thing to send to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the module and install it (started or not, as `run` says).
    Deploy(DesiredApp),
    /// Start an installed, stopped slot.
    Start(String),
    /// Stop a running slot, keeping it installed (blue-green's old side).
    Stop(String),
    /// Uninstall a slot nobody wants.
    Remove(String),
}

/// What a session has asked for and not yet seen happen, so each action is
/// sent once, and refusals are not retried in a loop.
#[derive(Debug, Default, Clone)]
pub struct Pending {
    /// App → digest being deployed.
    pub deploying: BTreeMap<String, String>,
    /// App → (digest, reason) the device refused; not retried for that digest.
    pub rejected: BTreeMap<String, (String, String)>,
    /// Slots a Remove, Start or Stop was sent for, with the state they were
    /// in then: the ask is settled once the device reports another.
    pub asked: BTreeMap<String, AppState>,
}

/// Hex digest of a report.
pub fn digest_of(r: &AppReport) -> String {
    hex::encode(*r.sha256)
}

/// Whether a reported slot holds the desired revision: same module, and
/// the same revision when the device reports one.
pub fn holds(r: &AppReport, d: &DesiredApp) -> bool {
    digest_of(r) == d.digest && r.revision.is_none_or(|rev| rev == d.revision)
}

/// The key a deploy in flight or refused is remembered by.
pub fn deploy_key(d: &DesiredApp) -> String {
    format!("{}@{}", d.digest, d.revision)
}

/// Whether `r` shows the deploy remembered as `key` carried out.
pub fn shows(r: &AppReport, key: &str) -> bool {
    match r.revision {
        Some(rev) => *key == format!("{}@{rev}", digest_of(r)),
        None => key.split('@').next() == Some(digest_of(r).as_str()),
    }
}

impl Pending {
    /// Forgets requests the device has visibly carried out.
    pub fn settle(&mut self, reported: &BTreeMap<String, AppReport>) {
        self.deploying.retain(|slot, key| !reported.get(slot).is_some_and(|r| shows(r, key)));
        self.asked.retain(|slot, was| reported.get(slot).is_some_and(|r| r.state == *was));
    }
}

/// Actions that move `reported` towards `desired`.
pub fn plan(desired: &[DesiredApp], reported: &BTreeMap<String, AppReport>, pending: &Pending) -> Vec<Action> {
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
                let refused = pending.rejected.get(&d.slot).is_some_and(|(k, _)| *k == key);
                if !in_flight && !refused {
                    actions.push(Action::Deploy(d.clone()));
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
            limits: Limits::default(),
            capabilities: vec![],
            run: true,
        }
    }

    fn has(name: &str, digest_byte: u8, state: AppState) -> (String, AppReport) {
        let r = AppReport {
            app: name.into(),
            version: "1".into(),
            sha256: [digest_byte; 32].into(),
            state,
            revision: Some(u64::from(digest_byte)),
        };
        (name.into(), r)
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
        let got = plan(&desired, &reported, &Pending::default());
        assert_eq!(got, [Action::Deploy(want("b", 2)), Action::Start("c".into()), Action::Remove("z".into())]);
    }

    #[test]
    fn in_flight_and_refused_deploys_are_not_repeated() {
        let desired = [want("a", 1), want("b", 2)];
        let mut p = Pending::default();
        p.deploying.insert("a".into(), deploy_key(&want("a", 1)));
        p.rejected.insert("b".into(), (deploy_key(&want("b", 2)), "hash".into()));
        assert!(plan(&desired, &BTreeMap::new(), &p).is_empty());
        // A new digest for a refused app is tried.
        let desired = [want("b", 3)];
        assert_eq!(plan(&desired, &BTreeMap::new(), &p), [Action::Deploy(want("b", 3))]);
    }

    #[test]
    fn failed_apps_are_left_alone() {
        let desired = [want("a", 1)];
        let reported: BTreeMap<_, _> = [has("a", 1, AppState::Failed)].into();
        assert!(plan(&desired, &reported, &Pending::default()).is_empty());
    }

    #[test]
    fn stopped_slots_are_kept_stopped_and_running_ones_stopped() {
        let mut keep = want("a.r1", 1);
        keep.run = false;
        let reported: BTreeMap<_, _> = [has("a.r1", 1, AppState::Running), has("a.r2", 2, AppState::Stopped)].into();
        let got = plan(&[keep, want("a.r2", 2)], &reported, &Pending::default());
        assert_eq!(got, [Action::Stop("a.r1".into()), Action::Start("a.r2".into())]);
    }

    #[test]
    fn the_same_module_under_another_revision_is_redeployed() {
        let mut d = want("a", 1);
        d.revision = 9; // e.g. new limits, same module
        let reported: BTreeMap<_, _> = [has("a", 1, AppState::Running)].into();
        assert_eq!(plan(std::slice::from_ref(&d), &reported, &Pending::default()), [Action::Deploy(d)]);
    }
}
