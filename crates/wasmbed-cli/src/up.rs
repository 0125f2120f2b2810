//! `wasmbed up`: the whole platform in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::sync::watch;
use tracing::info;
use wasmbed_platform::{Platform, PlatformConfig};

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address devices connect to (TLS). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:4443")]
    gateway: SocketAddr,
    /// Gateways to run; the others listen on the next ports (or free ports
    /// when --gateway has port 0). Devices fail over between them.
    #[arg(long, default_value_t = 1)]
    gateways: u16,
    /// Address of the HTTP API and dashboard (every API route needs a token).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The built dashboard (`dashboard/dist`) to serve at the API address.
    #[arg(long, env = "WASMBED_DASHBOARD_DIR")]
    dashboard_dir: Option<std::path::PathBuf>,
    /// Heartbeat interval devices are told to keep.
    #[arg(long, default_value_t = wasmbed_model::defaults::HEARTBEAT_MS)]
    heartbeat_ms: u32,
    /// Most concurrent device sessions per gateway.
    #[arg(long, default_value_t = wasmbed_model::defaults::MAX_SESSIONS)]
    max_sessions: usize,
    /// Create this many QEMU devices (boards mixed over those with firmware,
    /// labelled app=demo) if missing.
    #[arg(long, default_value_t = 0)]
    demo: usize,
    /// Also run this many simulated devices (the agent on this host,
    /// labelled app=demo) in this process.
    #[arg(long, default_value_t = 0)]
    demo_sim: usize,
    /// App deployed to the demo fleet.
    #[arg(long)]
    demo_app: Option<std::path::PathBuf>,
    /// The thermostat example, deployed to the demo devices with a
    /// temperature sensor (labelled sensor=temp0): QEMU devices whose board
    /// has the I2C bus and LED it needs get a TMP105 at i2c:0:0x48.
    #[arg(long)]
    demo_thermostat: Option<std::path::PathBuf>,
    /// Folder with the board firmware images (`wasmbed-fw-<board>` ELFs)
    /// QEMU devices boot; without it, QEMU devices cannot start.
    #[arg(long, env = "WASMBED_FIRMWARE_DIR")]
    firmware_dir: Option<std::path::PathBuf>,
}

/// What the thermostat example needs (see `apps/thermostat`).
const THERMOSTAT_GRANTS: &[&str] = &["log", "time", "telemetry", "config", "gpio:led0", "i2c:0:0x48"];

/// The sensor a demo device of `board` gets: a TMP105 at 21.5 °C where the
/// board has what the thermostat drives (I2C bus 0 and LED 0), else none.
fn demo_sensors(board: &str) -> Vec<wasmbed_model::AttachedPeripheral> {
    let Some(b) = wasmbed_model::board(board) else { return Vec::new() };
    let needs = [
        wasmbed_protocol::Resource::I2c { bus: 0, addr: 0x48 },
        wasmbed_protocol::Resource::Gpio(wasmbed_protocol::Pin::Led(0)),
    ];
    if !needs.iter().all(|r| b.has(r)) {
        return Vec::new();
    }
    vec![wasmbed_model::AttachedPeripheral {
        name: "temp0".into(),
        kind: wasmbed_model::SensorKind::Tmp105,
        at: "i2c:0:0x48".into(),
        initial: Some(wasmbed_model::Gauge(21.5)),
    }]
}

fn gateway_addrs(args: &UpArgs) -> Result<Vec<SocketAddr>> {
    (0..args.gateways)
        .map(|i| {
            let mut addr = args.gateway;
            if addr.port() != 0 {
                addr.set_port(addr.port().checked_add(i).context("--gateway: port out of range for --gateways")?);
            }
            Ok(addr)
        })
        .collect()
}

pub async fn run(data_dir: &Path, args: UpArgs) -> Result<()> {
    crate::system::raise_fd_limit();
    if args.heartbeat_ms < 100 {
        bail!("--heartbeat-ms {}: must be at least 100", args.heartbeat_ms);
    }
    if args.gateways == 0 || args.gateways > 16 {
        bail!("--gateways {}: must be 1 to 16", args.gateways);
    }
    let firmware =
        args.firmware_dir.as_deref().map(wasmbed_qemu::manager::ManagerConfig::firmware_in).unwrap_or_default();
    let mut cfg = PlatformConfig::new(data_dir).with_heartbeat_ms(args.heartbeat_ms).with_firmware(firmware.clone());
    cfg.gateways = gateway_addrs(&args)?;
    cfg.api = Some(args.listen);
    cfg.max_sessions = args.max_sessions;
    if let Some(d) = &args.dashboard_dir
        && !d.join("index.html").is_file()
    {
        bail!("--dashboard-dir {}: no index.html there (cargo xtask dashboard builds it)", d.display());
    }
    cfg.dashboard = args.dashboard_dir.clone();
    let platform = Platform::start(cfg).await?;

    let api_url = platform.api_url().context("the API is not running")?;
    let gw_addrs = &platform.gateway_addrs;
    let endpoint = serde_json::json!({
        "api": api_url,
        "gateway": gw_addrs[0].to_string(),
        "gateways": gw_addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
    });
    std::fs::write(data_dir.join("endpoint.json"), endpoint.to_string())?;
    println!("Wasmbed is up");
    println!("  api:      {api_url}");
    if args.dashboard_dir.is_some() {
        println!("  open:     {api_url}/  (the dashboard)");
    }
    if let Some(t) = &platform.admin_token {
        println!("  admin token: {t}");
        println!("            (shown this once: only its hash is stored; sign in to the dashboard with it)");
        // The CLI on this machine works against the platform it started:
        // the data directory already holds the CA's key, so the token adds
        // no exposure there. `wasmbed login` replaces it.
        let saved = crate::api::credentials_path(data_dir);
        if !saved.exists() {
            crate::api::login(data_dir, t)?;
            println!("  cli:      signed in as admin ({}; `wasmbed login TOKEN` replaces it)", saved.display());
        }
    }
    for (i, a) in gw_addrs.iter().enumerate() {
        println!("  gateway:  gateway-{i} on {a} (mutual TLS 1.3)");
    }
    println!("  data:     {}", data_dir.display());
    if firmware.is_empty() {
        println!("  qemu:     no firmware images (--firmware-dir): QEMU devices cannot start");
    } else {
        let boards: Vec<&str> = firmware.keys().map(String::as_str).collect();
        println!("  qemu:     firmware for {}", boards.join(", "));
    }
    // `up` itself acts with a token of its own for the demo fleet.
    let own = platform.tokens.create_ephemeral(
        "wasmbed-up",
        wasmbed_api::Role::Operator,
        rand::random(),
        wasmbed_model::clock::unix_ms(),
    );
    let api = crate::api::Api::locate(Some(&api_url), data_dir)?.with_token(Some(own));
    let demo_labels = [("app", "demo")];
    if args.demo > 0 {
        let boards: Vec<&str> = firmware.keys().map(String::as_str).collect();
        if boards.is_empty() {
            bail!("--demo {}: no firmware images found; pass --firmware-dir (cargo xtask demo builds them)", args.demo);
        }
        let mut with_sensor = 0;
        for i in 0..args.demo {
            let board = boards[i % boards.len()];
            let mut labels: wasmbed_model::Labels =
                demo_labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            let sensors = demo_sensors(board);
            if !sensors.is_empty() {
                labels.insert("sensor".into(), "temp0".into());
                with_sensor += 1;
            }
            api.create_device_with(&format!("demo-{i}"), board, &labels, &sensors).await?;
        }
        println!(
            "  demo:     {} QEMU devices running our firmware (labelled app=demo); {with_sensor} with a TMP105 temperature sensor (temp0, labelled sensor=temp0)",
            args.demo
        );
    }
    let (sim_stop, sim_rx) = watch::channel(false);
    let sim_fleet = if args.demo_sim > 0 {
        let bundles = crate::sim::ensure_sim_devices(&api, "sim", args.demo_sim, &demo_labels).await?;
        println!("  demo:     {} SIMULATED devices (the device agent on this host, labelled app=demo)", args.demo_sim);
        // Registered with the platform, so `wasmbed device sensor` reaches them.
        let opts = wasmbed_sim::SimOptions::default().with_peripherals(platform.simulated.clone());
        Some(tokio::spawn(wasmbed_sim::run_fleet(bundles, opts, sim_rx)))
    } else {
        None
    };
    if let Some(app) = &args.demo_app {
        crate::apps::deploy_file(&api, "hello", app, "app=demo", 2000, Default::default()).await?;
    }
    if let Some(app) = &args.demo_thermostat {
        let grants = crate::apps::Grants { capabilities: THERMOSTAT_GRANTS, config: &[("threshold_c", "30")] };
        crate::apps::deploy_file(&api, "thermostat", app, "sensor=temp0", 1000, grants).await?;
        println!("  demo:     thermostat deployed to sensor=temp0 (LED 0 on above 30 °C; temp_c telemetry)");
    }
    if args.demo + args.demo_sim > 0 {
        let me = std::env::current_exe().map_or_else(|_| "wasmbed".into(), |p| p.display().to_string());
        let dd = data_dir.display();
        println!("  try:      {me} --data-dir {dd} device list");
        println!("            {me} --data-dir {dd} app status hello");
        println!("            {me} --data-dir {dd} logs demo-0 --follow");
        println!("            {me} --data-dir {dd} console demo-0 --follow");
        if args.demo_thermostat.is_some() {
            println!("            {me} --data-dir {dd} telemetry demo-0 --metric temp_c --follow");
            println!("            {me} --data-dir {dd} device sensor demo-0 temp0 --set 31.5");
        }
    }
    println!("Stop with Ctrl-C.");

    wait_for_signal().await;
    info!("stopping");
    let _ = sim_stop.send(true);
    if let Some(fleet) = sim_fleet {
        let _ = tokio::time::timeout(Duration::from_secs(5), fleet).await;
    }
    platform.shutdown().await;
    let _ = std::fs::remove_file(data_dir.join("endpoint.json"));
    Ok(())
}

async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}
