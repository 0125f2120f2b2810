//! Wasmbed benchmarks. Each scenario prints progress on stderr and one JSON
//! object as the last line of stdout.
//!
//! - `deploy-sim --devices N --app FILE`: the platform and N simulated
//!   devices in this process; time from the deploy request (HTTP PUT) to each
//!   device's status saying the app is Running (observed through the store's
//!   watch, so no polling interval is added).
//! - `gateway-scale --sessions N --app FILE`: `wasmbed up` and `wasmbed sim`
//!   as separate processes; sessions held, gateway RSS per session, accept
//!   and heartbeat rates; then Mosquitto with mutual TLS on loopback, held
//!   by this process's MQTT client, measured the same way.
//! - `device-boot --board B --firmware-dir D [--runs N]` and
//!   `deploy-qemu --devices N --firmware-dir D [--rounds R]`: real firmware
//!   in QEMU (see `qemu.rs`).
//! - `interp --board mps2-an385 --image ELF`: compute kernels natively and
//!   as a WASM app in the agent's runtime, in guest instructions.
//! - `api --devices N [--clients C] [--seconds S]`: device list latency and
//!   event-stream lag with N heartbeating devices and C stream clients.
//! - `rollout --devices N --strategy S [--fail-ratio R]`: a rollout to N
//!   simulated devices, its total time, and with failures its rollback (see
//!   `rollout.rs`).

mod api;
mod deploy;
mod qemu;
mod rollout;
mod scale;

use anyhow::{Result, bail};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

fn firmware_dir(args: &[String]) -> Result<std::path::PathBuf> {
    flag(args, "--firmware-dir")
        .or_else(|| std::env::var("WASMBED_FIRMWARE_DIR").ok())
        .map(std::path::PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("--firmware-dir DIR is required (cargo xtask bench passes it)"))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(scenario) = args.first() else { bail!("usage: wasmbed-bench SCENARIO [flags]") };
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let app = flag(&args, "--app").map(std::path::PathBuf::from);
    let json = match scenario.as_str() {
        "deploy-sim" => {
            let devices = flag(&args, "--devices").map_or(Ok(1000), |v| v.parse())?;
            let Some(app) = app else { bail!("--app FILE is required") };
            rt.block_on(deploy::run(devices, &app))?
        }
        "gateway-scale" => {
            let sessions = flag(&args, "--sessions").map_or(Ok(10_000), |v| v.parse())?;
            rt.block_on(scale::run(sessions))?
        }
        "device-boot" => {
            let board = flag(&args, "--board").unwrap_or_else(|| "mps2-an385".into());
            let dir = firmware_dir(&args)?;
            let runs = flag(&args, "--runs").map_or(Ok(7), |v| v.parse())?;
            rt.block_on(qemu::device_boot(&board, &dir.join(format!("wasmbed-fw-{board}")), runs))?
        }
        "deploy-qemu" => {
            let devices = flag(&args, "--devices").map_or(Ok(4), |v| v.parse())?;
            let rounds = flag(&args, "--rounds").map_or(Ok(5), |v| v.parse())?;
            let firmware = wasmbed_qemu::manager::ManagerConfig::firmware_in(&firmware_dir(&args)?);
            rt.block_on(qemu::deploy_qemu(devices, firmware, rounds))?
        }
        "interp" => {
            let board = flag(&args, "--board").unwrap_or_else(|| "mps2-an385".into());
            if board != "mps2-an385" {
                bail!("--board {board}: the interp image exists for mps2-an385 only");
            }
            let image = flag(&args, "--image").ok_or_else(|| anyhow::anyhow!("--image ELF is required"))?;
            let Some(app) = app else { bail!("--app FILE is required") };
            let kernels = app.with_file_name("kernels.wasm");
            rt.block_on(qemu::interp(std::path::Path::new(&image), &kernels))?
        }
        "api" => {
            let devices = flag(&args, "--devices").map_or(Ok(1000), |v| v.parse())?;
            let clients = flag(&args, "--clients").map_or(Ok(100), |v| v.parse())?;
            let seconds = flag(&args, "--seconds").map_or(Ok(10), |v| v.parse())?;
            let heartbeat: u32 = flag(&args, "--heartbeat-ms").map_or(Ok(5000), |v| v.parse())?;
            rt.block_on(api::run(devices, clients, seconds, heartbeat))?
        }
        "rollout" => {
            let devices = flag(&args, "--devices").map_or(Ok(1000), |v| v.parse())?;
            let strategy = flag(&args, "--strategy").unwrap_or_else(|| "canary".into());
            let fail: f64 = flag(&args, "--fail-ratio").map_or(Ok(0.0), |v| v.parse())?;
            rt.block_on(rollout::run(devices, &strategy, fail))?
        }
        other => {
            bail!(
                "unknown scenario {other:?} (deploy-sim, gateway-scale, device-boot, deploy-qemu, interp, rollout, api)"
            )
        }
    };
    println!("{json}");
    Ok(())
}
