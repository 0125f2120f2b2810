//! `wasmbed`: run the platform on one machine and manage it.
//!
//! `wasmbed up` starts the store, PKI, gateway and API in one process and
//! prints where they listen. Every other verb talks to that API (found with
//! `--api`, `WASMBED_API`, or the `endpoint.json` that `up` writes into the
//! data directory).

mod api;
mod apps;
mod audit;
mod devices;
mod events;
mod gateways;
mod keys;
mod logs;
mod output;
mod run;
mod sensors;
mod sim;
mod status;
mod system;
mod telemetry;
mod tokens;
mod units;
mod up;

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(name = "wasmbed", version, about = "Deploy WebAssembly apps to microcontroller fleets")]
struct Cli {
    /// Data directory (store, PKI, endpoint.json).
    #[arg(long, global = true, env = "WASMBED_DATA_DIR", default_value = ".wasmbed")]
    data_dir: PathBuf,
    /// API base URL (default: read from the data directory's endpoint.json).
    #[arg(long, global = true, env = "WASMBED_API")]
    api: Option<String>,
    /// API token (default: the one `wasmbed login` saved in the data directory).
    #[arg(long, global = true, env = "WASMBED_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Output format.
    #[arg(long, short, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run gateway, store and API on this machine until Ctrl-C.
    Up(up::UpArgs),
    /// Manage devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Deploy applications and control their rollouts.
    #[command(subcommand)]
    App(apps::AppCmd),
    /// Show gateways.
    #[command(subcommand)]
    Gateway(GatewayCmd),
    /// Show the app log lines a device sent.
    Logs {
        /// Device name.
        device: String,
        /// Lines to show.
        #[arg(long, default_value_t = 100)]
        tail: usize,
        /// Keep printing new lines.
        #[arg(long, short)]
        follow: bool,
    },
    /// Show what a device's apps publish: its metrics, one metric's points, or samples as they arrive.
    Telemetry(telemetry::TelemetryArgs),
    /// Show a QEMU device's serial console (firmware output).
    Console {
        /// Device name.
        device: String,
        /// Keep printing new output.
        #[arg(long, short)]
        follow: bool,
    },
    /// Run simulated devices (the device agent on this host, not firmware).
    Sim(sim::SimArgs),
    /// Run one app locally on the device agent with simulated peripherals (no platform needed).
    Run(run::RunArgs),
    /// Show platform status.
    Status,
    /// Save an API token for the commands that follow (in the data directory, owner-only).
    Login {
        /// The token (`wbt_...`), as `wasmbed up` printed it or an admin created it.
        token: String,
    },
    /// Show who the saved token is.
    Whoami,
    /// Manage API tokens (admin).
    #[command(subcommand)]
    Token(tokens::TokenCmd),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Show, rotate and retire the app-signing key.
    #[command(subcommand)]
    Keys(keys::KeysCmd),
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Check the audit log's hash chain: every line links to the one before;
    /// a changed, deleted, inserted or moved line is named with its number.
    Verify {
        /// Check this log file here, without the API (e.g. `<data-dir>/audit.log`);
        /// without it, the API checks its own (and catches a cut end too).
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum DeviceCmd {
    /// Create a device and issue its identity.
    Add {
        /// Device name.
        name: String,
        /// Board (`sim` for the host simulator).
        #[arg(long, default_value = "sim")]
        board: String,
        /// Labels, `key=value`, repeatable.
        #[arg(long = "label", short = 'l')]
        labels: Vec<String>,
        /// Also write the identity bundle to this file.
        #[arg(long)]
        bundle_out: Option<PathBuf>,
        /// A sensor wired to the board, repeatable: `NAME=KIND@AT[=INITIAL]`,
        /// e.g. `temp0=tmp105@i2c:0:0x48=21.5` (a TMP105 at I2C bus 0 address
        /// 0x48, reading 21.5 °C at start).
        #[arg(long = "sensor", value_name = "NAME=KIND@AT[=INITIAL]")]
        sensors: Vec<String>,
    },
    /// Show a device's sensors, or what one measures; `--set` sets it (QEMU devices).
    Sensor {
        /// Device name.
        device: String,
        /// Sensor name (all of them when left out).
        sensor: Option<String>,
        /// Set what it measures, in its unit (tmp105: °C).
        #[arg(long, requires = "sensor", allow_negative_numbers = true)]
        set: Option<f64>,
    },
    /// List devices.
    List,
    /// Delete a device and its identity.
    Rm {
        /// Device name.
        name: String,
    },
}

#[derive(Subcommand, Debug)]
enum GatewayCmd {
    /// List gateways with their sessions and health.
    List,
}

fn parse_labels(raw: &[String]) -> Result<wasmbed_model::Labels> {
    raw.iter()
        .map(|l| {
            let (k, v) = l.split_once('=').with_context(|| format!("--label {l:?}: expected key=value"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let json = cli.output == Output::Json;
    if let Cmd::Up(args) = cli.cmd {
        return up::run(&cli.data_dir, args).await;
    }
    if let Cmd::Run(args) = cli.cmd {
        return run::run(args, json);
    }
    if let Cmd::Audit(AuditCmd::Verify { file: Some(file) }) = &cli.cmd {
        return audit::verify_file(file, json);
    }
    if let Cmd::Login { token } = &cli.cmd {
        api::login(&cli.data_dir, token)?;
        println!("token saved in {}", api::credentials_path(&cli.data_dir).display());
        return Ok(());
    }
    let token = api::find_token(cli.token.as_deref(), &cli.data_dir);
    let api = api::Api::locate(cli.api.as_deref(), &cli.data_dir)?.with_token(token);
    match cli.cmd {
        Cmd::Up(_) | Cmd::Run(_) | Cmd::Login { .. } => unreachable!("handled above"),
        Cmd::Whoami => {
            let me: serde_json::Value = api.get("auth/whoami").await?;
            println!("{} ({})", me["name"].as_str().unwrap_or("?"), me["role"].as_str().unwrap_or("?"));
            Ok(())
        }
        Cmd::Status => status::status(&api, json).await,
        Cmd::Token(cmd) => tokens::run(&api, cmd, json).await,
        Cmd::Keys(cmd) => keys::run(&api, cmd, json).await,
        Cmd::Audit(AuditCmd::Verify { file: _ }) => audit::verify_api(&api, json).await,
        Cmd::Device(DeviceCmd::Add { name, board, labels, bundle_out, sensors: s }) => {
            let (labels, peripherals) = (parse_labels(&labels)?, sensors::parse(&s)?);
            devices::add(&api, &name, &board, labels, peripherals, bundle_out.as_deref(), json).await
        }
        Cmd::Device(DeviceCmd::Sensor { device, sensor, set }) => {
            sensors::run(&api, &device, sensor.as_deref(), set, json).await
        }
        Cmd::Device(DeviceCmd::List) => devices::list(&api, json).await,
        Cmd::Device(DeviceCmd::Rm { name }) => devices::rm(&api, &name).await,
        Cmd::App(cmd) => apps::run(&api, cmd, json).await,
        Cmd::Gateway(GatewayCmd::List) => gateways::list(&api, json).await,
        Cmd::Logs { device, tail, follow } => logs::logs(&api, &device, tail, follow, json).await,
        Cmd::Console { device, follow } => logs::console(&api, &device, follow).await,
        Cmd::Telemetry(args) => telemetry::run(&api, args, json).await,
        Cmd::Sim(args) => sim::run(&api, args).await,
    }
}
