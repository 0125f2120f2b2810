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
    /// Also run this many simulated devices (labelled app=demo) in this process.
    #[arg(long, default_value_t = 0)]
    demo: usize,
    /// App deployed to the demo fleet.
    #[arg(long, requires = "demo")]
    demo_app: Option<std::path::PathBuf>,
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

    let api_url = format!("http://{api_addr}");
    let endpoint = serde_json::json!({ "api": api_url, "gateway": gw_addr.to_string() });
    std::fs::write(data_dir.join("endpoint.json"), endpoint.to_string())?;
    println!("Wasmbed is up");
    println!("  api:      {api_url}");
    println!("  gateway:  {gw_addr} (mutual TLS 1.3)");
    println!("  data:     {}", data_dir.display());
    let demo = if args.demo > 0 {
        let api = crate::client::Api::locate(Some(&api_url), data_dir)?;
        let bundles = crate::client::ensure_sim_devices(&api, "demo", args.demo, &[("app", "demo")]).await?;
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
        println!("  demo:     {} SIMULATED devices (the device agent on this host, labelled app=demo)", args.demo);
        println!("            QEMU firmware devices are not part of this build yet.");
        let me = std::env::current_exe().map_or_else(|_| "wasmbed".into(), |p| p.display().to_string());
        println!("  try:      {me} device list");
        println!("            {me} logs demo-0 --follow");
        Some(tokio::spawn(wasmbed_sim::run_fleet(bundles, wasmbed_sim::SimOptions::default(), stop_rx.clone())))
    } else {
        None
    };
    println!("Stop with Ctrl-C.");

    wait_for_signal().await;
    info!("stopping");
    let _ = stop_tx.send(true);
    if let Some(fleet) = demo {
        let _ = tokio::time::timeout(Duration::from_secs(5), fleet).await;
    }
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
