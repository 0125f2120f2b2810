//! The benchmarks' command line: every scenario, its flags and their
//! defaults, written once. The benchmark binary (`wasmbed-bench`) parses
//! it, and so does `cargo xtask bench` before it builds what a scenario
//! needs and hands the same arguments on: the list of scenarios cannot
//! drift between the two, and a new scenario does not compile in xtask
//! until xtask says what it needs.
//!
//! What xtask builds (the example apps, firmware images) reaches the binary
//! through environment variables the flags fall back to, so flags a user
//! gives still win.
//!
//! ```
//! use clap::Parser;
//! use wasmbed_bench_cli::{Cli, Scenario};
//!
//! let cli = Cli::try_parse_from(["wasmbed-bench", "api", "--devices", "50"]).unwrap();
//! let Scenario::Api(api) = cli.scenario else { panic!("not the api scenario") };
//! assert_eq!((api.devices, api.clients), (50, 100));
//! assert!(api.heartbeat_ms.is_none(), "the platform's own interval unless asked");
//! ```

use std::path::PathBuf;

use clap::builder::PossibleValuesParser;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

/// `wasmbed-bench SCENARIO [FLAGS]`: progress on stderr, one JSON object as
/// the last line of stdout.
#[derive(Debug, Parser)]
#[command(
    name = "wasmbed-bench",
    about = "Wasmbed benchmarks: the last stdout line is one JSON object.",
    subcommand_value_name = "SCENARIO",
    subcommand_help_heading = "Scenarios"
)]
pub struct Cli {
    /// What to measure.
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The benchmark scenarios. The first line of each doc comment is its
/// one-line description in every help that lists scenarios.
#[derive(Debug, Clone, Subcommand)]
pub enum Scenario {
    /// Deploy request → Running on N simulated devices (platform and fleet in this process).
    ///
    /// Time from the deploy request (HTTP PUT) to each device's status
    /// saying the app is Running, observed through the store's watch.
    DeploySim(DeploySim),
    /// Sessions one gateway process holds, its memory per session and accept rate, beside Mosquitto.
    ///
    /// `wasmbed up` and `wasmbed sim` as separate processes; then Mosquitto
    /// with mutual TLS on loopback, held by this process's MQTT client,
    /// measured the same way.
    GatewayScale(GatewayScale),
    /// QEMU start → enrollment recorded by the gateway, or an attached board authenticated on its link (median of runs), flash, static RAM, heap peak.
    DeviceBoot(DeviceBoot),
    /// Deploy request → Running on QEMU devices of every board with firmware, 10 KB app, several rounds.
    ///
    /// Devices are spread round-robin over the boards that have an image;
    /// the output's `boards` lists the boards that ran. The app is code
    /// without linear memory, which every board's heap can hold.
    DeployQemu(DeployQemu),
    /// The same compute kernels natively and as a WASM app in the agent's runtime, in guest instructions.
    Interp(Interp),
    /// `GET /api/v1/devices` latency and event-stream lag under a fleet of heartbeating simulated devices.
    ///
    /// The list is timed back to back; event lag is, for each device event
    /// a client receives, the time since the gateway stamped that heartbeat.
    Api(Api),
    /// A rollout to N simulated devices running revision 1; with a fail ratio, its rollback.
    ///
    /// Revision 2 is rolled out with the strategy asked for, soak times 0;
    /// with `--fail-ratio R` it traps at init on that share of the devices
    /// and every touched device must go back to revision 1.
    Rollout(Rollout),
    /// Samples N simulated devices publish at a rate, through gateway, store and API event stream.
    ///
    /// `wasmbed up` and `wasmbed sim` as separate processes; every device
    /// runs an app publishing `--rate` samples per second for `--seconds`;
    /// lag is from the app's publish (the sample's time) to the sample on
    /// the API's event stream.
    Telemetry(Telemetry),
    /// Guest instructions per host call from a WASM app, and per direct native call of the same driver.
    HostCalls(HostCalls),
    /// Guest instructions for a device to check one signed deploy, and the firmware's flash with signing in.
    ///
    /// The check is the agent's own (`DeployTrust::check`: the manifest's
    /// ECDSA P-256 signature, then every field of the deploy against it),
    /// run once by a benchmark image under `-icount`; the flash figure is
    /// the board's device firmware image.
    Verify(Verify),
    /// Edge components under wasmtime: instantiate, call, hot swap under events, rollback, memory per instance.
    ///
    /// The probe component (`components/probe`) in this process: N
    /// instances staged (instantiated and initialised) one by one, calls
    /// of its `on-tick` through the slot, hot swaps and rollbacks of a
    /// worker while another thread streams telemetry events at it, and the
    /// events the component counted (in the host-held kv store) against
    /// those sent.
    Edge(Edge),
}

/// Flags of `edge`.
#[derive(Debug, Clone, Args)]
pub struct Edge {
    /// Component instances held at once.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub components: usize,
    /// The probe component (cargo xtask bench builds and passes it).
    #[arg(long, value_name = "FILE", env = "WASMBED_BENCH_COMPONENT")]
    pub component: Option<PathBuf>,
}

/// Flags of `verify`.
#[derive(Debug, Clone, Args)]
pub struct Verify {
    /// The board (the benchmark image exists for mps2-an385 only).
    #[arg(long, value_name = "BOARD", default_value = "mps2-an385", value_parser = ["mps2-an385"])]
    pub board: String,
    /// The benchmark image's ELF (cargo xtask bench builds and passes it).
    #[arg(long, value_name = "ELF", env = "WASMBED_BENCH_VERIFY_IMAGE")]
    pub image: Option<PathBuf>,
    /// Where the device firmware images are (for their flash size).
    #[command(flatten)]
    pub firmware: FirmwareDir,
}

/// Flags of `telemetry`.
#[derive(Debug, Clone, Args)]
pub struct Telemetry {
    /// Simulated devices, each publishing.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub devices: usize,
    /// Samples per second per device.
    #[arg(long, value_name = "R", default_value_t = 1)]
    pub rate: u32,
    /// How long samples are measured (at least 30).
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub seconds: u64,
}

/// Flags of `host-calls`.
#[derive(Debug, Clone, Args)]
pub struct HostCalls {
    /// The board (the benchmark image exists for mps2-an385 only).
    #[arg(long, value_name = "BOARD", default_value = "mps2-an385", value_parser = ["mps2-an385"])]
    pub board: String,
    /// The benchmark image's ELF (cargo xtask bench builds and passes it).
    #[arg(long, value_name = "ELF", env = "WASMBED_BENCH_HOST_CALLS_IMAGE")]
    pub image: Option<PathBuf>,
}

/// Flags of `deploy-sim`.
#[derive(Debug, Clone, Args)]
pub struct DeploySim {
    /// Simulated devices.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub devices: usize,
    /// The app deployed (cargo xtask bench passes the example `hello.wasm`).
    #[arg(long, value_name = "FILE", env = "WASMBED_BENCH_APP")]
    pub app: Option<PathBuf>,
}

/// Flags of `gateway-scale`.
#[derive(Debug, Clone, Args)]
pub struct GatewayScale {
    /// Sessions to open (and MQTT connections for the comparison).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub sessions: usize,
    /// Connections a second client holds open without ever finishing a
    /// TLS handshake, for the whole run (from 127.0.0.2).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub half_open: usize,
}

/// Flags of `device-boot`.
#[derive(Debug, Clone, Args)]
pub struct DeviceBoot {
    /// The board booted (one of the board table's with firmware).
    #[arg(long, value_name = "BOARD", default_value = "mps2-an385", value_parser = firmware_boards())]
    pub board: String,
    /// Boots timed; the median is reported.
    #[arg(long, value_name = "N", default_value_t = 7)]
    pub runs: usize,
    /// Where the firmware images are.
    #[command(flatten)]
    pub firmware: FirmwareDir,
}

/// Flags of `deploy-qemu`.
#[derive(Debug, Clone, Args)]
pub struct DeployQemu {
    /// QEMU devices, spread round-robin over the boards [default: one per board with an image].
    #[arg(long, value_name = "N")]
    pub devices: Option<usize>,
    /// Deploys timed, each a new 10 KB app.
    #[arg(long, value_name = "R", default_value_t = 5)]
    pub rounds: usize,
    /// Where the firmware images are.
    #[command(flatten)]
    pub firmware: FirmwareDir,
}

/// Flags of `interp`.
#[derive(Debug, Clone, Args)]
pub struct Interp {
    /// The board (the benchmark image exists for mps2-an385 only).
    #[arg(long, value_name = "BOARD", default_value = "mps2-an385", value_parser = ["mps2-an385"])]
    pub board: String,
    /// The benchmark image's ELF (cargo xtask bench builds and passes it).
    #[arg(long, value_name = "ELF", env = "WASMBED_BENCH_INTERP_IMAGE")]
    pub image: Option<PathBuf>,
    /// The kernels as a WASM app (cargo xtask bench passes the example `kernels.wasm`).
    #[arg(long, value_name = "FILE", env = "WASMBED_BENCH_KERNELS")]
    pub kernels: Option<PathBuf>,
    /// How the app runs: in the interpreter (wasmi), or compiled ahead of
    /// time to native code (wasm2c and arm-none-eabi-gcc, see wasmbed-aot).
    #[arg(long, value_enum, default_value_t = InterpMode::Interpreted)]
    pub mode: InterpMode,
    /// With `--mode native`: who keeps linear memory's bounds, the MPU
    /// (what devices get) or a check in the code (to compare).
    #[arg(long, value_enum, default_value_t = InterpBounds::Mpu)]
    pub bounds: InterpBounds,
}

/// Who keeps the native code's memory bounds in the `interp` benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InterpBounds {
    /// The MPU confines unprivileged accesses to the memory.
    Mpu,
    /// Each access compares its address with the memory's size.
    Software,
}

/// How the `interp` benchmark runs the kernels app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InterpMode {
    /// In wasmi, as devices run apps without a native artifact.
    Interpreted,
    /// As native code compiled ahead of time for the board.
    Native,
}

/// Flags of `api`.
#[derive(Debug, Clone, Args)]
pub struct Api {
    /// Simulated devices, heartbeating.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub devices: usize,
    /// Clients following the live event stream.
    #[arg(long, value_name = "C", default_value_t = 100)]
    pub clients: usize,
    /// How long the device list is timed.
    #[arg(long, value_name = "S", default_value_t = 10)]
    pub seconds: u64,
    /// Heartbeat interval the devices are told to keep [default: the platform's, reported in the output].
    #[arg(long, value_name = "MS")]
    pub heartbeat_ms: Option<u32>,
}

/// Flags of `rollout`.
#[derive(Debug, Clone, Args)]
pub struct Rollout {
    /// Simulated devices.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub devices: usize,
    /// How revision 2 is rolled out.
    #[arg(long, value_enum, default_value_t = Strategy::Canary)]
    pub strategy: Strategy,
    /// Share of devices (0 to 1) on which revision 2 traps at init.
    #[arg(long, value_name = "R", default_value_t = 0.0)]
    pub fail_ratio: f64,
}

/// The rollout strategies the `rollout` scenario can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Strategy {
    /// Steps 1%, 10%, 50%, 100%, soak 0.
    Canary,
    /// Waves of 25%.
    Rolling,
    /// Installed stopped beside the old revision, then switched.
    BlueGreen,
    /// Every device at once.
    AllAtOnce,
}

impl Strategy {
    /// The name as the command line says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Canary => "canary",
            Self::Rolling => "rolling",
            Self::BlueGreen => "blue-green",
            Self::AllAtOnce => "all-at-once",
        }
    }
}

/// The folder of firmware images, shared by the QEMU scenarios.
#[derive(Debug, Clone, Args)]
pub struct FirmwareDir {
    /// Folder of firmware images `wasmbed-fw-<board>` (cargo xtask bench builds and passes it).
    #[arg(long, value_name = "DIR", env = "WASMBED_FIRMWARE_DIR")]
    pub firmware_dir: Option<PathBuf>,
}

/// The boards with firmware (agent or attached), from the board table.
fn firmware_boards() -> PossibleValuesParser {
    PossibleValuesParser::new(wasmbed_boards::BOARDS.iter().filter(|b| b.has_firmware()).map(|b| b.name))
}

/// Every scenario's name and one-line description, in order.
pub fn scenarios() -> Vec<(String, String)> {
    Cli::command()
        .get_subcommands()
        .map(|s| (s.get_name().to_string(), s.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect()
}

/// One line per scenario with its flags and their defaults, e.g.
/// `api  [--devices <N>=1000] [--clients <C>=100] ...`.
pub fn synopsis() -> String {
    let cmd = Cli::command();
    let width = cmd.get_subcommands().map(|s| s.get_name().len()).max().unwrap_or(0);
    let mut out = String::new();
    for sub in cmd.get_subcommands() {
        let mut line = format!("  {:width$}", sub.get_name());
        for arg in sub.get_arguments().filter(|a| a.get_long().is_some_and(|l| l != "help")) {
            let long = arg.get_long().unwrap_or_default();
            let value = arg.get_value_names().and_then(|v| v.first()).map(|v| format!(" <{v}>")).unwrap_or_default();
            let default =
                arg.get_default_values().first().map(|d| format!("={}", d.to_string_lossy())).unwrap_or_default();
            line.push_str(&format!(" [--{long}{value}{default}]"));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_scenario_has_a_one_line_description_and_a_synopsis_line() {
        let scenarios = scenarios();
        assert!(scenarios.iter().any(|(name, _)| name == "deploy-qemu"), "{scenarios:?}");
        let synopsis = synopsis();
        for (name, about) in &scenarios {
            assert!(!about.is_empty() && !about.contains('\n'), "{name}: {about:?}");
            assert!(synopsis.lines().any(|l| l.trim_start().starts_with(name.as_str())), "{name} in\n{synopsis}");
        }
        assert!(synopsis.contains("[--devices <N>=1000]") && synopsis.contains("[--strategy <STRATEGY>=canary]"));
    }

    #[test]
    fn boards_come_from_the_table() {
        let ok = Cli::try_parse_from(["b", "device-boot", "--board", "olimex-stm32-h405"]);
        assert!(ok.is_ok(), "{ok:?}");
        let attached = Cli::try_parse_from(["b", "device-boot", "--board", "stm32vldiscovery"]);
        assert!(attached.is_ok(), "{attached:?}");
        let err = Cli::try_parse_from(["b", "device-boot", "--board", "pdp-11"]).unwrap_err();
        assert!(err.to_string().contains("mps2-an385"), "the error lists the boards: {err}");
    }

    #[test]
    fn strategies_parse_by_their_names() {
        for s in Strategy::value_variants() {
            let cli = Cli::try_parse_from(["b", "rollout", "--strategy", s.as_str()]).unwrap();
            assert!(matches!(cli.scenario, Scenario::Rollout(r) if r.strategy == *s));
        }
    }
}
