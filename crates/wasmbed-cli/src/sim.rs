//! `wasmbed sim`: simulated devices (the device agent on this host, not firmware).

use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::sync::watch;
use wasmbed_model::Labels;
use wasmbed_protocol::IdentityBundle;

use crate::api::Api;

#[derive(Args, Debug)]
/// Flags of `wasmbed sim`.
pub struct SimArgs {
    /// Simulated devices to run (created if missing, named PREFIX-0..N-1).
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Name prefix.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Labels for devices this command creates, `key=value`.
    #[arg(long = "label", short = 'l')]
    labels: Vec<String>,
    /// Run devices from these identity bundles instead.
    #[arg(long = "bundle")]
    bundles: Vec<std::path::PathBuf>,
    /// Only create the devices (and issue identities), then exit.
    #[arg(long, conflicts_with = "bundles")]
    create_only: bool,
}

/// Creates simulated devices `PREFIX-0..N-1` where missing and returns their
/// bundles (32 requests in flight at a time).
pub async fn ensure_sim_devices(
    api: &Api,
    prefix: &str,
    n: usize,
    labels: &[(&str, &str)],
) -> Result<Vec<IdentityBundle>> {
    let labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut bundles = Vec::with_capacity(n);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    for chunk in names.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for name in chunk {
            let (api, labels, name) = (api.clone(), labels.clone(), name.clone());
            set.spawn(async move {
                api.create_device(&name, wasmbed_model::SIM_BOARD, &labels).await?;
                let bytes = api.bundle(&name).await?;
                Ok::<_, anyhow::Error>(IdentityBundle::from_bytes(&bytes)?)
            });
        }
        while let Some(b) = set.join_next().await {
            bundles.push(b??);
        }
    }
    Ok(bundles)
}

/// Runs simulated devices until Ctrl-C.
pub async fn run(api: &Api, args: SimArgs) -> Result<()> {
    crate::system::raise_fd_limit();
    let labels = crate::parse_labels(&args.labels)?;
    let mut bundles = Vec::new();
    for path in &args.bundles {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        bundles.push(IdentityBundle::from_bytes(&bytes).with_context(|| format!("{}", path.display()))?);
    }
    if args.bundles.is_empty() {
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bundles = ensure_sim_devices(api, &args.prefix, args.devices, &pairs).await?;
        if args.create_only {
            println!("created {} simulated devices", bundles.len());
            return Ok(());
        }
    }
    for b in &bundles {
        if b.board != wasmbed_model::SIM_BOARD {
            bail!("device {} is a {} device: the simulator only runs devices of board \"sim\"", b.device_id, b.board);
        }
    }
    println!(
        "SIMULATOR: running {} simulated devices (the device agent on this host, not firmware). Ctrl-C stops.",
        bundles.len()
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let fleet = tokio::spawn(wasmbed_sim::run_fleet(bundles, wasmbed_sim::SimOptions::default(), stop_rx));
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), fleet).await;
    Ok(())
}
