//! `wasmbed device sensor DEVICE [SENSOR] [--set VALUE]`, and the
//! `--sensor NAME=KIND@AT[=INITIAL]` flag of `wasmbed device add`.

use anyhow::{Result, anyhow};
use wasmbed_model::{AttachedPeripheral, SensorReading};

use crate::api::Api;
use crate::output::{json_or_table, print_json};

/// Parses `--sensor` flags (`temp0=tmp105@i2c:0:0x48=21.5`); what the
/// board has is checked with the rest of the spec.
pub fn parse(raw: &[String]) -> Result<Vec<AttachedPeripheral>> {
    raw.iter().map(|s| s.parse::<AttachedPeripheral>().map_err(|e| anyhow!("--sensor {e}"))).collect()
}

/// Lists a device's sensors, prints one, or sets one and prints what the
/// emulator now reports.
pub async fn run(api: &Api, device: &str, sensor: Option<&str>, set: Option<f64>, json: bool) -> Result<()> {
    let Some(sensor) = sensor else {
        let all: Vec<SensorReading> = api.get(&format!("devices/{device}/sensors")).await?;
        return json_or_table(&all, json, &["SENSOR", "KIND", "AT", "VALUE", "RANGE"], |r| {
            vec![
                r.name.clone(),
                r.kind.to_string(),
                r.at.clone(),
                match (r.value, &r.error) {
                    (Some(v), _) => format!("{v} {}", r.unit),
                    (None, Some(why)) => format!("- ({why})"),
                    (None, None) => "-".into(),
                },
                format!("{} to {} {}", r.min, r.max, r.unit),
            ]
        });
    };
    let path = format!("devices/{device}/sensors/{sensor}");
    let reading: SensorReading = match set {
        Some(value) => {
            let body = serde_json::json!({ "value": value });
            api.send_json(reqwest::Method::PUT, &path, &body).await?
        }
        None => api.get(&path).await?,
    };
    if json {
        return print_json(&reading);
    }
    let now = reading.value.map_or_else(|| "-".into(), |v| format!("{v} {}", reading.unit));
    match set {
        // QEMU's TMP105 keeps 1/256 °C: say so when the value read back differs.
        Some(asked) if reading.value != Some(asked) => {
            println!("{sensor} on {device} set to {asked} {}: it reads {now}", reading.unit);
        }
        Some(_) => println!("{sensor} on {device} set to {now}"),
        None => println!("{sensor} on {device} ({} at {}): {now}", reading.kind, reading.at),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_parse_or_name_the_flag_and_the_form() {
        let p = parse(&["temp0=tmp105@i2c:0:0x48=21.5".into()]).unwrap();
        assert_eq!(p[0].name, "temp0");
        let e = parse(&["temp0=tmp105".into()]).unwrap_err().to_string();
        assert!(e.starts_with("--sensor \"temp0=tmp105\"") && e.contains("NAME=KIND@AT"), "{e}");
    }
}
