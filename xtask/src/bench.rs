//! `cargo xtask bench SCENARIO`: builds what the scenario needs, then runs
//! the release benchmark binary with the same arguments.
//!
//! The scenarios and their flags are `wasmbed_bench_cli`, which the binary
//! parses too: xtask parses them for its help and to know what to build,
//! then hands the arguments on as they were given. Nothing here lists a
//! scenario's flags, so nothing can drift; the `match` below is exhaustive,
//! so a new scenario does not compile until it says what it needs.

use std::ffi::OsString;
use std::process::Command;

use anyhow::{Context, Result, bail};
use wasmbed_bench_cli::Scenario;

use crate::{apps, firmware, release_bins, tied, tools};

/// The arguments after `bench` in xtask's command line `args` (program
/// name first), as given.
pub fn forwarded(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter().skip(1).skip_while(|a| a != "bench").skip(1).collect()
}

/// Builds what `scenario` needs and runs it with `args` (the scenario's
/// name and flags); what was built reaches the binary through the
/// environment variables its flags fall back to.
pub fn run(scenario: &Scenario, args: &[OsString]) -> Result<()> {
    let mut cmd = Command::new(release_bins()?.join("wasmbed-bench"));
    match scenario {
        Scenario::DeploySim(_) => {
            cmd.env("WASMBED_BENCH_APP", apps::build()?.join("hello.wasm"));
        }
        Scenario::GatewayScale(_) | Scenario::Api(_) | Scenario::Rollout(_) | Scenario::Telemetry(_) => {}
        Scenario::HostCalls(_) => {
            tools::ensure_qemu()?;
            cmd.env("WASMBED_BENCH_HOST_CALLS_IMAGE", firmware::host_calls_image()?);
        }
        Scenario::DeviceBoot(_) | Scenario::DeployQemu(_) => {
            tools::ensure_qemu()?;
            let dir = firmware::images_dir();
            firmware::all_boards(&dir)?;
            cmd.env("WASMBED_FIRMWARE_DIR", dir);
        }
        Scenario::Verify(_) => {
            tools::ensure_qemu()?;
            cmd.env("WASMBED_BENCH_VERIFY_IMAGE", firmware::verify_image()?);
            let dir = firmware::images_dir();
            firmware::all_boards(&dir)?;
            cmd.env("WASMBED_FIRMWARE_DIR", dir);
        }
        Scenario::Edge(_) => {
            cmd.env("WASMBED_BENCH_COMPONENT", apps::build_components()?.join("probe.wasm"));
        }
        Scenario::Interp(a) => {
            tools::ensure_qemu()?;
            if a.mode == wasmbed_bench_cli::InterpMode::Native {
                tools::ensure_aot()?;
            }
            cmd.env("WASMBED_BENCH_KERNELS", apps::build()?.join("kernels.wasm"));
            cmd.env("WASMBED_BENCH_INTERP_IMAGE", firmware::interp_image()?);
        }
    }
    cmd.args(args);
    let status = tied(&cmd).status().context("cannot start the benchmark")?;
    if !status.success() {
        bail!("benchmark failed ({status})");
    }
    Ok(())
}

/// The scenarios with their one-line descriptions, for `cargo xtask --help`.
pub fn scenarios_help() -> String {
    let scenarios = wasmbed_bench_cli::scenarios();
    let width = scenarios.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    let mut out = String::from("Benchmark scenarios (cargo xtask bench SCENARIO):\n");
    for (name, about) in scenarios {
        out.push_str(&format!("  {name:width$}  {about}\n"));
    }
    out
}

/// Each scenario's flags and defaults, for `cargo xtask bench --help`.
pub fn flags_help() -> String {
    format!("Flags by scenario (cargo xtask bench SCENARIO --help says more):\n{}", wasmbed_bench_cli::synopsis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_follows_bench_is_handed_on_as_given() {
        let args = ["/x/bench/xtask", "bench", "api", "--devices", "50"].map(OsString::from);
        assert_eq!(forwarded(args), ["api", "--devices", "50"].map(OsString::from));
    }
}
