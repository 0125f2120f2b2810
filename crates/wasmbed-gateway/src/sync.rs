//! The diff at the heart of the gateway: desired apps against reported ones.

use std::collections::{BTreeMap, BTreeSet};

use wasmbed_model::DesiredApp;
use wasmbed_protocol::{AppReport, AppState};

/// One thing to send to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send the module and install it.
    Deploy(DesiredApp),
    /// Start an installed, stopped app.
    Start(String),
    /// Uninstall an app nobody wants.
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
    /// Apps a Remove or Start was sent for.
    pub asked: BTreeSet<String>,
}

/// Hex digest of a report.
pub fn digest_of(r: &AppReport) -> String {
    hex::encode(*r.sha256)
}

/// Actions that move `reported` towards `desired`.
pub fn plan(desired: &[DesiredApp], reported: &BTreeMap<String, AppReport>, pending: &Pending) -> Vec<Action> {
    let mut actions = Vec::new();
    for d in desired {
        match reported.get(&d.name) {
            Some(r) if digest_of(r) == d.digest => {
                if r.state == AppState::Stopped && !pending.asked.contains(&d.name) {
                    actions.push(Action::Start(d.name.clone()));
                }
            }
            _ => {
                let in_flight = pending.deploying.get(&d.name) == Some(&d.digest);
                let refused = pending.rejected.get(&d.name).is_some_and(|(dg, _)| *dg == d.digest);
                if !in_flight && !refused {
                    actions.push(Action::Deploy(d.clone()));
                }
            }
        }
    }
    for name in reported.keys() {
        if !desired.iter().any(|d| &d.name == name) && !pending.asked.contains(name) {
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
            name: name.into(),
            version: "1".into(),
            digest: hex::encode([digest_byte; 32]),
            limits: Limits::default(),
        }
    }

    fn has(name: &str, digest_byte: u8, state: AppState) -> (String, AppReport) {
        let r = AppReport { app: name.into(), version: "1".into(), sha256: [digest_byte; 32].into(), state };
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
        p.deploying.insert("a".into(), hex::encode([1u8; 32]));
        p.rejected.insert("b".into(), (hex::encode([2u8; 32]), "hash".into()));
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
}
