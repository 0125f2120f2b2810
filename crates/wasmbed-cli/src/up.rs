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
}

/// Unix milliseconds now.
pub fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub async fn run(data_dir: &Path, args: UpArgs) -> Result<()> {
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
        sessions: {
            let gw = gateway.clone();
            Arc::new(move || gw.session_count())
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
    println!("Stop with Ctrl-C.");

    wait_for_signal().await;
    info!("stopping");
    let _ = stop_tx.send(true);
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
