//! deploy-sim: deploy request → Running on N simulated devices.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use wasmbed_gateway::{Gateway, GatewayConfig};
use wasmbed_model::{Device, DeviceSpec, LogBook, Meta, Store};
use wasmbed_pki::Pki;

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

pub async fn run(n: usize, app: &Path) -> Result<serde_json::Value> {
    let module = std::fs::read(app).with_context(|| format!("cannot read {}", app.display()))?;
    let digest = hex::encode(Sha256::digest(&module));
    let tmp = tempfile::tempdir()?;
    let pki = Arc::new(Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now())?);
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("store.redb"))?;
    let logs = Arc::new(LogBook::new(100));
    let server = pki.gateway_identity(&["127.0.0.1".into()], SystemTime::now())?;
    let tls = wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server)?;
    let gw = Gateway::new(GatewayConfig::default(), tls, store.clone(), logs.clone(), Arc::new(unix_ms));
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw_addr = gw_listener.local_addr()?;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(gw.clone().run(gw_listener, stop.clone()));
    let api_state = wasmbed_api::ApiState {
        store: store.clone(),
        pki: pki.clone(),
        logs,
        gateway_port: gw_addr.port(),
        gateway: Arc::new(Default::default),
        random: Arc::new(|| [7u8; 32]),
        now: Arc::new(SystemTime::now),
        consoles: None,
    };
    let api_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let api_addr = api_listener.local_addr()?;
    tokio::spawn(async move { axum::serve(api_listener, wasmbed_api::router(api_state)).await });

    eprintln!("creating {n} devices");
    let mut bundles = Vec::with_capacity(n);
    for i in 0..n {
        let name = format!("bench-{i}");
        let labels = [("bench".to_string(), "deploy".to_string())].into();
        let spec = DeviceSpec { board: "sim".into(), labels };
        store
            .create_device(Device {
                meta: Meta { name: name.clone(), ..Default::default() },
                spec,
                status: Default::default(),
            })
            .await?;
        bundles.push(pki.bundle(&name, "sim", &gw_addr.to_string(), [i as u8; 32], SystemTime::now())?);
    }
    eprintln!("connecting {n} simulated devices");
    tokio::spawn(wasmbed_sim::run_fleet(bundles, Default::default(), stop.clone()));
    let start = Instant::now();
    while gw.session_count() < n {
        if start.elapsed() > Duration::from_secs(300) {
            bail!("only {} of {n} devices enrolled", gw.session_count());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("{n} devices online after {:?}; deploying", start.elapsed());

    let mut events = store.watch();
    let mut running: std::collections::HashMap<String, f64> = Default::default();
    let url =
        format!("http://{api_addr}/api/v1/applications/bench-app?version=1&selector=bench%3Ddeploy&digest={digest}");
    let t0 = Instant::now();
    let resp = reqwest::Client::new().put(url).body(module).send().await?;
    if !resp.status().is_success() {
        bail!("deploy refused: {}", resp.text().await.unwrap_or_default());
    }
    let deadline = t0 + Duration::from_secs(120);
    while running.len() < n && Instant::now() < deadline {
        let ev = match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(Ok(ev)) => ev,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            _ => break,
        };
        if !ev.status_only || running.contains_key(&ev.name) {
            continue;
        }
        let at = t0.elapsed().as_secs_f64() * 1000.0;
        if let Some(d) = store.get_device(&ev.name).await?
            && d.status.apps.iter().any(|a| a.digest == digest && a.state == "running")
        {
            running.insert(ev.name, at);
        }
    }
    let total_ms = running.values().copied().fold(0.0, f64::max);
    let mut times: Vec<f64> = running.values().copied().collect();
    times.sort_by(f64::total_cmp);
    let _ = stop_tx.send(true);
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(serde_json::json!({
        "devices": n,
        "running": running.len(),
        "p50_ms": (percentile(&times, 0.5) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&times, 0.99) * 10.0).round() / 10.0,
        "total_ms": (total_ms * 10.0).round() / 10.0,
    }))
}
