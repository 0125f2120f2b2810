//! `wasmbed device add|list|rm` (`sensor` is in [`crate::sensors`]).

use std::path::Path;

use anyhow::{Result, bail};
use wasmbed_model::{AttachedPeripheral, Device, DeviceSpec, Labels};

use crate::api::{Api, write_private};
use crate::output::{ago, json_or_table, print_json};

/// Creates a device (and writes its bundle when asked).
pub async fn add(
    api: &Api,
    name: &str,
    board: &str,
    labels: Labels,
    peripherals: Vec<AttachedPeripheral>,
    bundle_out: Option<&Path>,
    json: bool,
) -> Result<()> {
    // Refused here, naming the field, before anything is sent.
    let spec = DeviceSpec { board: board.into(), labels, peripherals, ..Default::default() };
    spec.validate()?;
    let Some(device) = api.create_device_with(name, board, &spec.labels, &spec.peripherals).await? else {
        bail!("device {name:?} already exists");
    };
    if let Some(path) = bundle_out {
        let bytes = api.bundle(name).await?;
        write_private(path, &bytes)?;
    }
    if json {
        return print_json(&device);
    }
    println!("device {name} created (board {board})");
    if let Some(p) = bundle_out {
        let what = match wasmbed_model::board(board).and_then(|b| b.attached()) {
            Some(_) => "provisioning record (its id and link key, for the board's flash)",
            None => "identity bundle",
        };
        println!("{what} written to {}", p.display());
    }
    Ok(())
}

/// Lists devices.
pub async fn list(api: &Api, json: bool) -> Result<()> {
    let devices: Vec<Device> = api.get("devices").await?;
    json_or_table(&devices, json, &["NAME", "BOARD", "PHASE", "GATEWAY", "HEARTBEAT", "LABELS", "APPS"], |d| {
        let board =
            if d.spec.board == wasmbed_model::SIM_BOARD { "sim (simulator)".into() } else { d.spec.board.clone() };
        let labels: Vec<String> = d.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let apps: Vec<String> =
            d.status.session.apps.iter().map(|a| format!("{}@{}:{}", a.name, a.version, a.state.as_str())).collect();
        vec![
            d.meta.name.clone(),
            board,
            d.status.phase.as_str().into(),
            d.status.session.gateway.clone().unwrap_or_else(|| "-".into()),
            ago(d.status.session.last_heartbeat_ms),
            labels.join(","),
            apps.join(" "),
        ]
    })
}

/// Deletes a device.
pub async fn rm(api: &Api, name: &str) -> Result<()> {
    api.delete(&format!("devices/{name}")).await?;
    println!("device {name} deleted");
    Ok(())
}
