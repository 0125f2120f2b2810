//! `wasmbed status`.

use anyhow::Result;
use wasmbed_api::Status;

use crate::api::Api;
use crate::output::print_json;

/// Prints the platform's summary.
pub async fn status(api: &Api, json: bool) -> Result<()> {
    let s: Status = api.get("status").await?;
    if json {
        return print_json(&s);
    }
    print!("{}", render(&s));
    Ok(())
}

/// The summary as aligned lines, devices counted by phase.
fn render(s: &Status) -> String {
    let total: usize = s.devices.values().sum();
    let phases: Vec<String> = s.devices.iter().map(|(phase, n)| format!("{} {n}", phase.as_str())).collect();
    let devices = if phases.is_empty() { "0".to_string() } else { format!("{total} ({})", phases.join(", ")) };
    let rows = [
        ("version", s.version.clone()),
        ("gateway port", s.gateway_port.to_string()),
        ("gateways", s.gateways.to_string()),
        ("sessions", s.sessions.to_string()),
        ("devices", devices),
        ("  simulated", s.simulated_devices.to_string()),
        ("applications", s.applications.to_string()),
    ];
    rows.iter().map(|(k, v)| format!("{k:<14}{v}\n")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::DevicePhase;

    #[test]
    fn devices_are_counted_by_phase_in_words_not_json() {
        let s = Status {
            version: "0.1.0".into(),
            gateway_port: 4443,
            sessions: 5,
            gateway: Default::default(),
            devices: [(DevicePhase::Online, 5), (DevicePhase::Unreachable, 1)].into(),
            simulated_devices: 0,
            applications: 1,
            gateways: 1,
        };
        let text = render(&s);
        assert!(text.contains("devices       6 (Online 5, Unreachable 1)\n"), "{text}");
        assert!(!text.contains('{') && !text.contains('"'), "{text}");
        let empty = Status { devices: Default::default(), ..s };
        assert!(render(&empty).contains("devices       0\n"));
    }
}
