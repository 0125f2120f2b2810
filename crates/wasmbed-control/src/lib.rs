//! Control-plane decisions, as pure functions over resources.
//!
//! This version implements the all-at-once strategy: a device should run
//! every application whose selector matches its labels. Progressive rollouts
//! (canary, rolling, blue-green) replace [`desired_apps`] with per-device
//! assignments written by a rollout reconciler; callers already go through
//! this one function, so that change stays here.
//!
//! ```
//! use wasmbed_control::desired_apps;
//! let apps = desired_apps(&Default::default(), &[]);
//! assert!(apps.is_empty());
//! ```

pub mod rollout;

use wasmbed_model::{Application, ApplicationStatus, DesiredApp, Device, DevicePhase, Labels, Selector};

/// Apps a device with `labels` should run, sorted by name. Applications
/// whose selector does not parse match nothing (the API refuses them).
pub fn desired_apps(labels: &Labels, apps: &[Application]) -> Vec<DesiredApp> {
    let mut out: Vec<DesiredApp> = apps
        .iter()
        .filter(|a| a.spec.selector.parse::<Selector>().is_ok_and(|s| s.matches(labels)))
        .map(|a| DesiredApp {
            name: a.meta.name.clone(),
            version: a.spec.version.clone(),
            digest: a.spec.digest.clone(),
            limits: a.spec.limits,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// An application's fleet-wide status, derived from device statuses.
pub fn application_status(app: &Application, devices: &[Device]) -> ApplicationStatus {
    let Ok(selector) = app.spec.selector.parse::<Selector>() else {
        return ApplicationStatus::default();
    };
    let mut st = ApplicationStatus::default();
    for d in devices.iter().filter(|d| selector.matches(&d.spec.labels)) {
        st.desired += 1;
        let obs = d.status.apps.iter().find(|o| o.name == app.meta.name && o.digest == app.spec.digest);
        match obs.map(|o| o.state.as_str()) {
            Some("running") if d.status.phase == DevicePhase::Online => st.running += 1,
            Some("failed") | Some("rejected") => st.failed += 1,
            _ if d.status.phase != DevicePhase::Online => st.pending_offline += 1,
            _ => {}
        }
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::*;

    fn app(name: &str, selector: &str) -> Application {
        Application {
            meta: Meta { name: name.into(), ..Default::default() },
            spec: ApplicationSpec {
                version: "1".into(),
                digest: "00".repeat(32),
                size: 1,
                selector: selector.into(),
                limits: Limits::default(),
            },
            status: Default::default(),
        }
    }

    fn device(labels: &[(&str, &str)], phase: DevicePhase, running: Option<&str>) -> Device {
        Device {
            meta: Meta { name: "d".into(), ..Default::default() },
            spec: DeviceSpec {
                board: "sim".into(),
                labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            },
            status: DeviceStatus {
                phase,
                apps: running
                    .map(|n| AppObservation {
                        name: n.into(),
                        version: "1".into(),
                        digest: "00".repeat(32),
                        state: "running".into(),
                        reason: None,
                    })
                    .into_iter()
                    .collect(),
                ..Default::default()
            },
        }
    }

    #[test]
    fn selects_matching_apps_sorted() {
        let apps = [app("b", "x=1"), app("a", ""), app("c", "x=2"), app("bad", "x=")];
        let labels = [("x".to_string(), "1".to_string())].into();
        let names: Vec<_> = desired_apps(&labels, &apps).into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn counts_running_and_offline() {
        let a = app("a", "x=1");
        let devices = [
            device(&[("x", "1")], DevicePhase::Online, Some("a")),
            device(&[("x", "1")], DevicePhase::Unreachable, None),
            device(&[("x", "2")], DevicePhase::Online, None),
        ];
        let st = application_status(&a, &devices);
        assert_eq!((st.desired, st.running, st.pending_offline, st.failed), (2, 1, 1, 0));
    }
}
