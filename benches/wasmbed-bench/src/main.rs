//! Wasmbed benchmarks. Each scenario prints progress on stderr and one JSON
//! object as the last line of stdout. The scenarios and their flags are
//! `wasmbed_bench_cli` (shared with `cargo xtask bench`); each is measured
//! in its own module:
//!
//! - `deploy-sim` in `deploy.rs`, `gateway-scale` in `scale.rs`, `api` in
//!   `api.rs`, `rollout` in `rollout.rs`, `telemetry` in `telemetry.rs`,
//!   `edge` in `edge.rs`;
//! - `device-boot`, `deploy-qemu`, `interp` and `host-calls`, on real
//!   firmware in QEMU, in `qemu.rs`.

mod api;
mod deploy;
mod edge;
mod qemu;
mod rollout;
mod scale;
mod telemetry;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use wasmbed_bench_cli::{Cli, FirmwareDir, Scenario};

/// The path a flag (or its environment variable) gave, or an error naming the flag.
fn required(path: Option<PathBuf>, flag: &str) -> Result<PathBuf> {
    path.with_context(|| format!("{flag} is required (cargo xtask bench passes it)"))
}

fn firmware_dir(dir: FirmwareDir) -> Result<PathBuf> {
    required(dir.firmware_dir, "--firmware-dir DIR")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Ok((_, hard)) = rlimit::Resource::NOFILE.get() {
        let _ = rlimit::Resource::NOFILE.set(hard, hard);
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let json = match cli.scenario {
        Scenario::DeploySim(a) => rt.block_on(deploy::run(a.devices, &required(a.app, "--app FILE")?))?,
        Scenario::GatewayScale(a) => rt.block_on(scale::run(a.sessions, a.half_open))?,
        Scenario::DeviceBoot(a) => {
            let board = wasmbed_model::board_table::board(&a.board)
                .filter(|b| b.has_firmware())
                .with_context(|| format!("no firmware for {}", a.board))?;
            let image = firmware_dir(a.firmware)?.join(board.image_name().to_string());
            rt.block_on(qemu::device_boot(&a.board, &image, a.runs))?
        }
        Scenario::DeployQemu(a) => {
            let firmware = wasmbed_qemu::manager::ManagerConfig::firmware_in(&firmware_dir(a.firmware)?);
            rt.block_on(qemu::deploy_qemu(a.devices, firmware, a.rounds))?
        }
        Scenario::Interp(a) => {
            let image = required(a.image, "--image ELF")?;
            rt.block_on(qemu::interp(&image, &required(a.kernels, "--kernels FILE")?, a.mode, a.bounds))?
        }
        Scenario::Api(a) => rt.block_on(api::run(a.devices, a.clients, a.seconds, a.heartbeat_ms))?,
        Scenario::Rollout(a) => rt.block_on(rollout::run(a.devices, a.strategy, a.fail_ratio))?,
        Scenario::Telemetry(a) => rt.block_on(telemetry::run(a.devices, a.rate, a.seconds))?,
        Scenario::HostCalls(a) => rt.block_on(qemu::host_calls(&required(a.image, "--image ELF")?))?,
        Scenario::Verify(a) => {
            let board = wasmbed_qemu::machine(&a.board).with_context(|| format!("no firmware for {}", a.board))?;
            let firmware = firmware_dir(a.firmware)?.join(board.image_name().to_string());
            rt.block_on(qemu::verify(&a.board, &required(a.image, "--image ELF")?, &firmware))?
        }
        Scenario::Edge(a) => edge::run(a.components, &required(a.component, "--component FILE")?)?,
    };
    println!("{json}");
    Ok(())
}
