//! `wasmbed up`: the whole platform in one process.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use rand::RngCore;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;
use wasmbed_gateway::{Gateway, GatewayConfig};
use wasmbed_model::{LogBook, Store};
use wasmbed_pki::Pki;

#[derive(Args, Debug)]
pub struct UpArgs {
    /// Address devices connect to (TLS). Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:4443")]
    gateway: SocketAddr,
    /// Address of the HTTP API (loopback only: it has no authentication yet).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Heartbeat interval devices are told to keep.
    #[arg(long, default_value_t = 5000)]
    heartbeat_ms: u32,
    /// Most concurrent device sessions.
    #[arg(long, default_value_t = 20_000)]
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
    /// Folder with the board firmware images (`wasmbed-fw-<board>` ELFs)
    /// QEMU devices boot; without it, QEMU devices cannot start.
    #[arg(long, env = "WASMBED_FIRMWARE_DIR")]
    firmware_dir: Option<std::path::PathBuf>,
}

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub async fn run(data_dir: &Path, args: UpArgs) -> Result<()> {
    raise_fd_limit();
    if !args.listen.ip().is_loopback() {
        bail!("--listen {}: the API has no authentication yet, so it only listens on loopback", args.listen);
    }
    if args.heartbeat_ms < 100 {
        bail!("--heartbeat-ms {}: must be at least 100", args.heartbeat_ms);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let pki = Arc::new(Pki::open_or_create(&data_dir.join("pki"), SystemTime::now())?);
    let store_path = data_dir.join("wasmbed.redb");
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&store_path)
        .with_context(|| format!("cannot open the store at {}", store_path.display()))?;
    let logs = Arc::new(LogBook::new(1000));

    let sans = ["localhost", "127.0.0.1", "10.0.2.2"].map(String::from);
    let server_id = pki.gateway_identity(&sans, SystemTime::now())?;
    let tls = wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server_id)?;
    let gw_listener =
        TcpListener::bind(args.gateway).await.with_context(|| format!("cannot listen on {}", args.gateway))?;
    let api_listener =
        TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let gw_addr = gw_listener.local_addr()?;
    let api_addr = api_listener.local_addr()?;

    let cfg = GatewayConfig::default().with_heartbeat_ms(args.heartbeat_ms).with_max_sessions(args.max_sessions);
    let gateway = Gateway::new(cfg, tls, store.clone(), logs.clone(), Arc::new(unix_ms));
    let state = wasmbed_api::ApiState {
        store: store.clone(),
        pki: pki.clone(),
        logs: logs.clone(),
        gateway_port: gw_addr.port(),
        gateway: {
            let gw = gateway.clone();
            Arc::new(move || {
                use std::sync::atomic::Ordering::Relaxed;
                let st = gw.stats();
                wasmbed_api::GatewayCounters {
                    sessions: gw.session_count(),
                    heartbeats: st.heartbeats.load(Relaxed),
                    handshake_failures: st.handshake_failures.load(Relaxed),
                    protocol_errors: st.protocol_errors.load(Relaxed),
                }
            })
        },
        random: Arc::new(|| {
            let mut seed = [0u8; 32];
            rand::rng().fill_bytes(&mut seed);
            seed
        }),
        now: Arc::new(SystemTime::now),
        consoles: Some(data_dir.join("devices")),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let gw_task = tokio::spawn(gateway.clone().run(gw_listener, stop_rx.clone()));
    let mut api_stop = stop_rx.clone();
    let api_task = tokio::spawn(async move {
        axum::serve(api_listener, wasmbed_api::router(state))
            .with_graceful_shutdown(async move {
                let _ = api_stop.changed().await;
            })
            .await
    });

    let firmware =
        args.firmware_dir.as_deref().map(wasmbed_qemu::manager::ManagerConfig::firmware_in).unwrap_or_default();
    let qemu = wasmbed_qemu::manager::QemuManager::new(
        wasmbed_qemu::manager::ManagerConfig::new(data_dir.join("devices"), firmware.clone(), gw_addr.port()),
        store.clone(),
        pki.clone(),
    );
    let qemu_task = tokio::spawn(qemu.clone().run(stop_rx.clone()));

    let api_url = format!("http://{api_addr}");
    let endpoint = serde_json::json!({ "api": api_url, "gateway": gw_addr.to_string() });
    std::fs::write(data_dir.join("endpoint.json"), endpoint.to_string())?;
    println!("Wasmbed is up");
    println!("  api:      {api_url}");
    println!("  gateway:  {gw_addr} (mutual TLS 1.3)");
    println!("  data:     {}", data_dir.display());
    if firmware.is_empty() {
        println!("  qemu:     no firmware images (--firmware-dir): QEMU devices cannot start");
    } else {
        let boards: Vec<&str> = firmware.keys().map(String::as_str).collect();
        println!("  qemu:     firmware for {}", boards.join(", "));
    }
    let api = crate::client::Api::locate(Some(&api_url), data_dir)?;
    let demo_labels = [("app", "demo")];
    if args.demo > 0 {
        let boards: Vec<&str> = firmware.keys().map(String::as_str).collect();
        if boards.is_empty() {
            bail!("--demo {}: no firmware images found; pass --firmware-dir (cargo xtask demo builds them)", args.demo);
        }
        for i in 0..args.demo {
            let board = boards[i % boards.len()];
            let labels = demo_labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            api.create_device(&format!("demo-{i}"), board, &labels).await?;
        }
        println!("  demo:     {} QEMU devices running our firmware (labelled app=demo)", args.demo);
    }
    let sim_fleet = if args.demo_sim > 0 {
        let bundles = crate::client::ensure_sim_devices(&api, "sim", args.demo_sim, &demo_labels).await?;
        println!("  demo:     {} SIMULATED devices (the device agent on this host, labelled app=demo)", args.demo_sim);
        Some(tokio::spawn(wasmbed_sim::run_fleet(bundles, wasmbed_sim::SimOptions::default(), stop_rx.clone())))
    } else {
        None
    };
    if let Some(app) = &args.demo_app {
        let opts = crate::client::DeployOpts {
            selector: "app=demo".into(),
            version: Some("1".into()),
            fuel: None,
            memory_pages: None,
            tick_ms: Some(2000),
        };
        crate::client::app_deploy(&api, "hello", app, opts, false).await?;
    }
    if args.demo + args.demo_sim > 0 {
        let me = std::env::current_exe().map_or_else(|_| "wasmbed".into(), |p| p.display().to_string());
        let dd = data_dir.display();
        println!("  try:      {me} --data-dir {dd} device list");
        println!("            {me} --data-dir {dd} logs demo-0 --follow");
        println!("            {me} --data-dir {dd} console demo-0 --follow");
    }
    println!("Stop with Ctrl-C.");

    wait_for_signal().await;
    info!("stopping");
    let _ = stop_tx.send(true);
    if let Some(fleet) = sim_fleet {
        let _ = tokio::time::timeout(Duration::from_secs(5), fleet).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), qemu_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(6), gw_task).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), api_task).await;
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

/// A gateway holds one descriptor per device: use the hard limit, not the
/// default soft limit of 1024.
pub fn raise_fd_limit() {
    if let Ok((soft, hard)) = rlimit::Resource::NOFILE.get()
        && soft < hard
        && let Err(e) = rlimit::Resource::NOFILE.set(hard, hard)
    {
        tracing::warn!("cannot raise the open-file limit from {soft} to {hard}: {e}");
    }
}
