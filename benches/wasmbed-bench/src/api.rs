//! api: the HTTP API under a heartbeating fleet.
//!
//! N simulated devices (the real agent over mutual TLS) heartbeat (every
//! 5 s, the platform's default, or `--heartbeat-ms`), each heartbeat a
//! store change; C clients follow the
//! live event stream; meanwhile `GET /api/v1/devices` is timed back to back.
//! Event lag is, for each `device` event a client receives, the time since
//! the gateway stamped that heartbeat (`status.session.lastHeartbeatMs`,
//! the same wall clock): the whole path gateway → store → hub → client.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::watch;
use wasmbed_model::clock::unix_ms;
use wasmbed_platform::{Platform, PlatformConfig};

use crate::deploy::{percentile, sim_devices, until_sessions};

/// Reads `device` events off one stream and records their lag.
async fn follow(url: String, lags: Arc<Mutex<Vec<f64>>>, stop: watch::Receiver<bool>) -> Result<u64> {
    follow_stamps(url, &["heartbeat", "device"], "lastHeartbeatMs", lags, stop).await
}

/// Reads the events named `events` off one stream and records, for each,
/// the time since the Unix-ms stamp in its field `field`; returns how many.
pub async fn follow_stamps(
    url: String,
    events: &[&str],
    field: &str,
    lags: Arc<Mutex<Vec<f64>>>,
    mut stop: watch::Receiver<bool>,
) -> Result<u64> {
    let mut resp = reqwest::get(&url).await?;
    if !resp.status().is_success() {
        bail!("event stream: HTTP {}", resp.status());
    }
    let names: Vec<String> = events.iter().map(|e| format!("event: {e}\n")).collect();
    let key = format!("\"{field}\":");
    let mut buf = String::new();
    let mut seen = 0u64;
    loop {
        let chunk = tokio::select! {
            c = resp.chunk() => c?,
            _ = stop.changed() => return Ok(seen),
        };
        let Some(chunk) = chunk else { return Ok(seen) };
        let at = unix_ms();
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            if !names.iter().any(|n| block.contains(n.as_str())) {
                continue;
            }
            // The stamp, read without parsing the whole event (this client
            // shares the machine with the platform it measures).
            let stamp = block.split(key.as_str()).nth(1).and_then(|r| {
                let digits: String = r.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u64>().ok()
            });
            if let Some(t) = stamp {
                seen += 1;
                if let Ok(mut l) = lags.lock() {
                    l.push(at.saturating_sub(t) as f64);
                }
            }
        }
    }
}

/// Runs the scenario: `n` devices heartbeating every `heartbeat_ms` (the
/// platform's default when `None`), `clients` stream clients, the list
/// timed for `seconds`.
pub async fn run(n: usize, clients: usize, seconds: u64, heartbeat_ms: Option<u32>) -> Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    let mut cfg = PlatformConfig::new(tmp.path()).with_api();
    if let Some(ms) = heartbeat_ms {
        cfg = cfg.with_heartbeat_ms(ms);
    }
    let heartbeat_ms = cfg.heartbeat_ms;
    let p = Platform::start(cfg).await?;
    let api = p.api_url().context("api")?;
    eprintln!("creating and connecting {n} simulated devices (heartbeat every {heartbeat_ms} ms)");
    let bundles = sim_devices(&p, "api", n, ("bench", "api")).await?;
    let (stop_fleet, fleet_rx) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_fleet(bundles, Default::default(), fleet_rx));
    until_sessions(&p, n, Duration::from_secs(300)).await?;

    let viewer = p.tokens.create_ephemeral("bench-viewer", wasmbed_api::Role::Viewer, rand::random(), 0);
    let lags = Arc::new(Mutex::new(Vec::new()));
    let (stop_clients, clients_rx) = watch::channel(false);
    let mut streams = Vec::new();
    for _ in 0..clients {
        let url = format!("{api}/api/v1/events?token={viewer}");
        streams.push(tokio::spawn(follow(url, lags.clone(), clients_rx.clone())));
    }
    // Let every client take its snapshot; measure from a clean slate.
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Ok(mut l) = lags.lock() {
        l.clear();
    }
    eprintln!("{clients} event-stream clients connected; timing GET /api/v1/devices for {seconds} s");
    let http = crate::deploy::authorized(&viewer)?;
    let mut list = Vec::new();
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        let resp = http.get(format!("{api}/api/v1/devices")).send().await?;
        let body = resp.bytes().await?;
        list.push(t.elapsed().as_secs_f64() * 1000.0);
        if body.len() < n * 100 {
            bail!("the device list is too short ({} bytes)", body.len());
        }
    }
    let _ = stop_clients.send(true);
    let mut events = 0;
    for s in streams {
        events += s.await.context("client task")??;
    }
    let _ = stop_fleet.send(true);
    p.shutdown().await;
    list.sort_by(f64::total_cmp);
    let mut lag = lags.lock().map(|l| l.clone()).unwrap_or_default();
    lag.sort_by(f64::total_cmp);
    eprintln!("{} list requests; {events} device events received over {clients} clients", list.len());
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Ok(serde_json::json!({
        "devices": n,
        "heartbeat_ms": heartbeat_ms,
        "list_requests": list.len(),
        "list_devices_p50_ms": round(percentile(&list, 0.5)),
        "list_devices_p99_ms": round(percentile(&list, 0.99)),
        "event_fanout_clients": clients,
        "events_received": events,
        "event_lag_p50_ms": round(percentile(&lag, 0.5)),
        "event_lag_p99_ms": round(percentile(&lag, 0.99)),
    }))
}
