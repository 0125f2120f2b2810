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

mod deploy;
mod scale;

use anyhow::{Result, bail};

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
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
        other => bail!("unknown scenario {other:?} (deploy-sim, gateway-scale)"),
    };
    println!("{json}");
    Ok(())
}
