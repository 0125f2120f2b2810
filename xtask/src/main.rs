//! `cargo xtask`: the project's automation, one place for CI and people.
//! `cargo xtask --help` lists every command and benchmark scenario.
//!
//! One module per concern: `test` (what CI runs), `demo`, `apps` (example
//! apps), `firmware` (board images), `bench` (benchmarks), `fuzz` (the
//! protocol's fuzz targets), `generate` (CRDs, OpenAPI), `k8s` (offline
//! manifest checks), `dashboard` (the web dashboard and its browser test)
//! and `tools` (installing what is missing, every pinned version).

mod apps;
mod bench;
mod dashboard;
mod demo;
mod firmware;
mod fuzz;
mod generate;
mod k8s;
mod test;
mod tools;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

/// The command line.
#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Wasmbed's automation: build, test, benchmark and generate, one place for CI and people."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

/// Every command; the first line of each doc comment is its line in `--help`.
#[derive(Debug, Subcommand)]
enum Cmd {
    /// Every check CI runs: formatting, clippy, example apps, firmware, fuzz targets, unit to end-to-end tests, the dashboard in Chromium.
    ///
    /// Installs what is missing: Rust targets, QEMU 10, Chromium, helm,
    /// kubernetes-validate, and for the fuzz targets a pinned nightly and
    /// cargo-fuzz (under target/tools).
    Test,
    /// Bring the platform up with a demo fleet of QEMU devices and an example app (Ctrl-C stops it).
    ///
    /// Builds what is missing (example apps, every board's firmware, the
    /// dashboard, release binaries), then runs `wasmbed up --demo`.
    Demo {
        /// Devices in the demo fleet, of mixed boards.
        #[arg(default_value_t = 5)]
        devices: usize,
        /// More flags for `wasmbed up`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "UP_FLAGS")]
        up: Vec<OsString>,
    },
    /// Build the example apps (wasm32) in apps/.
    Apps,
    /// Run a benchmark (release build): progress on stderr, one JSON object as the last stdout line.
    #[command(subcommand_value_name = "SCENARIO", subcommand_help_heading = "Scenarios")]
    Bench {
        /// The scenario.
        #[command(subcommand)]
        scenario: wasmbed_bench_cli::Scenario,
    },
    /// Run every fuzz target in fuzz/ for SECONDS each, or for a fixed number of inputs (--runs).
    ///
    /// Uses a pinned nightly and cargo-fuzz, installed under target/tools
    /// when missing; the golden vectors of crates/wasmbed-protocol seed
    /// every target. Crashes land in fuzz/artifacts/.
    Fuzz {
        /// Seconds per target (its corpus is kept in fuzz/corpus/).
        #[arg(default_value_t = 60, conflicts_with = "runs")]
        seconds: u64,
        /// Inputs per target, from a fresh corpus and a fixed seed [without a value: what `cargo xtask test` runs].
        #[arg(long, value_name = "N")]
        runs: Option<Option<u64>>,
    },
    /// Build a board's firmware and print the ELF's path; with --all, every board's image into a folder.
    Firmware {
        /// The board (one of the board table's with firmware).
        #[arg(default_value = "mps2-an385", value_parser = firmware::board_parser())]
        board: String,
        /// Every board with firmware, each copied to OUT/wasmbed-fw-<board>; prints OUT.
        #[arg(long, conflicts_with = "board")]
        all: bool,
        /// The folder for --all [default: target/firmware, what the tests and `wasmbed up --firmware-dir` read].
        #[arg(long, value_name = "OUT", requires = "all")]
        out: Option<PathBuf>,
    },
    /// Install QEMU 10 when qemu-system-arm is missing or older.
    Qemu,
    /// Regenerate the CRD YAML in deploy/ from the Rust types (a test fails on drift).
    Crds,
    /// Regenerate docs/openapi.json from the API's code (a test fails on drift).
    Openapi,
    /// Validate the CRDs, the rendered Helm chart and the device Pod offline.
    K8s,
    /// Build the web dashboard into dashboard/dist and print that folder.
    Dashboard,
    /// The dashboard's unit tests, then the dashboard in headless Chromium against a real `wasmbed up` with a QEMU device.
    BrowserTest,
}

/// The command line with the benchmark scenarios in its help.
fn command() -> clap::Command {
    Cli::command().after_help(bench::scenarios_help()).mut_subcommand("bench", |c| c.after_help(bench::flags_help()))
}

fn main() -> Result<()> {
    let cli = Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Cmd::Test => test::run_all(),
        Cmd::Demo { devices, up } => demo::run(devices, &up),
        Cmd::Apps => apps::build().map(drop),
        Cmd::Bench { scenario } => bench::run(&scenario, &bench::forwarded(std::env::args_os())),
        Cmd::Fuzz { seconds, runs } => {
            let budget = match runs {
                Some(n) => fuzz::Budget::Runs(n.unwrap_or(fuzz::TEST_RUNS)),
                None => fuzz::Budget::Seconds(seconds),
            };
            fuzz::run(budget)
        }
        Cmd::Firmware { all: true, out, .. } => {
            let out = out.unwrap_or_else(firmware::images_dir);
            firmware::all_boards(&out).map(|()| println!("{}", out.display()))
        }
        Cmd::Firmware { board, .. } => firmware::build(&board).map(|elf| println!("{}", elf.display())),
        Cmd::Qemu => tools::ensure_qemu(),
        Cmd::Crds => generate::crds(),
        Cmd::Openapi => generate::openapi(),
        Cmd::K8s => k8s::manifests(),
        Cmd::Dashboard => dashboard::build().map(|dist| println!("{}", dist.display())),
        Cmd::BrowserTest => {
            let apps = apps::build()?;
            tools::ensure_qemu()?;
            dashboard::browser_test(&firmware::images()?, &apps)
        }
    }
}

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The cargo that runs xtask, in the repository's root.
fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs a step, announcing it; a failure names the step.
fn run(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {what}");
    let started = std::time::Instant::now();
    let status = cmd.status().with_context(|| format!("cannot start: {what}"))?;
    // Each step's time, so a slow CI run says where its minutes went.
    eprintln!("<== {what}: {:.0} s", started.elapsed().as_secs_f64());
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// The workspace binary `name` as `cargo test --workspace` builds it (the
/// same features, so nothing is compiled twice; after the test step this
/// builds nothing).
fn test_built_bin(name: &str) -> Result<PathBuf> {
    run(
        &format!("{name} as `cargo test --workspace` builds it"),
        cargo().args(["test", "--workspace", "--locked", "--no-run", "--quiet"]),
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    Ok(target.join("debug").join(name))
}

/// A command's stdout when it ran and succeeded.
fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `cmd` run so that it gets SIGTERM when xtask dies: a benchmark or the
/// demo killed through xtask stops too (and its own children with it).
fn tied(cmd: &Command) -> Command {
    let mut c = Command::new("setpriv");
    c.args(["--pdeathsig", "TERM", "--"]).arg(cmd.get_program()).args(cmd.get_args());
    if let Some(dir) = cmd.get_current_dir() {
        c.current_dir(dir);
    }
    for (key, value) in cmd.get_envs() {
        match value {
            Some(v) => c.env(key, v),
            None => c.env_remove(key),
        };
    }
    c
}

/// Builds the release binaries (`wasmbed`, `wasmbed-bench`); returns their
/// folder. Always the same package set: building a subset unifies features
/// differently and rebuilds half the tree.
fn release_bins() -> Result<PathBuf> {
    run(
        "build wasmbed and benchmarks (release)",
        cargo().args(["build", "--release", "--locked", "-p", "wasmbed-cli", "-p", "wasmbed-bench"]),
    )?;
    Ok(root().join("target/release"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn help_lists_every_command_and_every_scenario() {
        let help = command().render_help().to_string();
        for sub in Cli::command().get_subcommands() {
            assert!(help.contains(&format!("  {} ", sub.get_name())), "{} missing from\n{help}", sub.get_name());
        }
        for (scenario, about) in wasmbed_bench_cli::scenarios() {
            assert!(help.contains(&scenario) && help.contains(&about), "{scenario} missing from\n{help}");
        }
        let mut bench = command();
        let bench = bench.find_subcommand_mut("bench").map(|b| b.render_long_help().to_string()).unwrap_or_default();
        assert!(bench.contains("api") && bench.contains("--heartbeat-ms <MS>"), "{bench}");
    }

    #[test]
    fn demo_hands_the_rest_to_wasmbed_up() {
        let cli = Cli::try_parse_from(["cargo xtask", "demo", "3", "--gateways", "2"]).unwrap();
        let Cmd::Demo { devices, up } = cli.command else { panic!("not demo") };
        assert_eq!((devices, up), (3, vec![OsString::from("--gateways"), OsString::from("2")]));
        let Cmd::Demo { devices, .. } = Cli::try_parse_from(["cargo xtask", "demo"]).unwrap().command else {
            panic!("not demo")
        };
        assert_eq!(devices, 5);
    }

    #[test]
    fn bench_flags_are_checked_before_anything_is_built() {
        assert!(Cli::try_parse_from(["cargo xtask", "bench", "api", "--devices", "50", "--clients", "5"]).is_ok());
        assert!(Cli::try_parse_from(["cargo xtask", "bench", "api", "--sessions", "5"]).is_err());
        assert!(Cli::try_parse_from(["cargo xtask", "bench", "nope"]).is_err());
    }

    #[test]
    fn fuzz_takes_seconds_or_runs() {
        let parse = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.command) {
            Ok(Cmd::Fuzz { seconds, runs }) => Some((seconds, runs)),
            _ => None,
        };
        assert_eq!(parse(&["x", "fuzz"]), Some((60, None)));
        assert_eq!(parse(&["x", "fuzz", "10"]), Some((10, None)));
        assert_eq!(parse(&["x", "fuzz", "--runs"]), Some((60, Some(None))));
        assert_eq!(parse(&["x", "fuzz", "--runs", "7"]), Some((60, Some(Some(7)))));
        assert_eq!(parse(&["x", "fuzz", "10", "--runs", "7"]), None);
    }

    #[test]
    fn firmware_boards_come_from_the_table() {
        assert!(Cli::try_parse_from(["x", "firmware", "olimex-stm32-h405"]).is_ok());
        assert!(Cli::try_parse_from(["x", "firmware", "stm32vldiscovery"]).is_ok(), "attached firmware");
        assert!(Cli::try_parse_from(["x", "firmware", "pdp-11"]).is_err(), "not in the table");
        assert!(Cli::try_parse_from(["x", "firmware", "--all", "--out", "/tmp/fw"]).is_ok());
        assert!(Cli::try_parse_from(["x", "firmware", "--out", "/tmp/fw"]).is_err(), "--out needs --all");
    }
}
