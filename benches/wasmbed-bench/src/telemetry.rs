//! telemetry: samples from N simulated devices through the whole path.
//!
//! `wasmbed up` (the platform) and `wasmbed sim` (the fleet) run as
//! separate processes, so the platform's memory is its own. Every device
//! runs an app that publishes `temp_c` `rate` times a second; this process
//! follows the API's event stream and, for each `telemetry` event, takes
//! the lag from the sample's time (the app's publish, dated by the
//! device's clock, which came from the gateway's) to its arrival. Points
//! and drops are the platform's own counters (`/metrics`), read before and
//! after the window; store bytes per point are the telemetry book's bytes
//! over the points it holds.

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::api::follow_stamps;
use crate::deploy::{authorized, percentile};
use crate::scale::{Group, rss_bytes, sibling, wait_line, wait_lines};

/// Publishes `temp_c` once per tick (the value: the tick's time mod 1000).
const APP: &str = r#"(module
  (import "wasmbed" "telemetry_publish" (func $p (param i32 i32 f64 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "temp_c")
  (func (export "tick") (param $now i64)
    (drop (call $p (i32.const 0) (i32.const 6)
      (f64.convert_i64_u (i64.rem_u (local.get $now) (i64.const 1000))) (i64.const 0)))))"#;

/// One figure off `/metrics`: the sum over every series of `name`.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn metrics(http: &reqwest::Client, api: &str) -> Result<String> {
    Ok(http.get(format!("{api}/metrics")).send().await?.error_for_status()?.text().await?)
}

pub async fn run(n: usize, rate: u32, seconds: u64) -> Result<serde_json::Value> {
    if rate == 0 || rate > wasmbed_protocol::TELEMETRY_RATE_PER_S {
        bail!("--rate must be 1..={} (the per-app limit)", wasmbed_protocol::TELEMETRY_RATE_PER_S);
    }
    let seconds = seconds.max(30);
    let tmp = tempfile::tempdir()?;
    let bin = sibling("wasmbed")?;
    let mut up = Group::spawn(
        Command::new(&bin)
            .args(["up", "--gateway", "127.0.0.1:0", "--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(tmp.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped()),
    )?;
    let found = wait_lines(up.child(), &["api:", "admin token:"])?;
    let (api, token) = (found[0].clone(), found[1].clone());
    let http = authorized(&token)?;
    eprintln!("platform up at {api}; creating {n} simulated devices");
    let mut sim = Group::spawn(
        Command::new(&bin)
            .args(["sim", "--devices", &n.to_string(), "--prefix", "telemetry", "--api", &api])
            .env("RUST_LOG", "warn")
            .env("WASMBED_TOKEN", &token)
            .stdout(Stdio::piped()),
    )?;
    wait_line(sim.child(), "SIMULATOR:")?;

    let module = wat::parse_str(APP)?;
    let digest = hex::encode(Sha256::digest(&module));
    http.post(format!("{api}/api/v1/modules")).body(module).send().await?.error_for_status()?;
    let body = serde_json::json!({
        "version": "1",
        "digest": digest,
        "capabilities": ["telemetry"],
        "limits": {"tickMs": 1000 / rate},
    });
    http.put(format!("{api}/api/v1/applications/telemetry")).json(&body).send().await?.error_for_status()?;
    eprintln!("app deployed; waiting for {n} devices to run it");
    let t0 = Instant::now();
    loop {
        let app: serde_json::Value =
            http.get(format!("{api}/api/v1/applications/telemetry")).send().await?.json().await?;
        let running = app["status"]["running"].as_u64().unwrap_or(0) as usize;
        if running >= n {
            break;
        }
        if t0.elapsed() > Duration::from_secs(600) {
            bail!("only {running} of {n} devices run the app after 600 s");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    eprintln!("every device publishes; following the event stream for {seconds} s");
    let lags = Arc::new(Mutex::new(Vec::new()));
    let (stop, stop_rx) = watch::channel(false);
    let url = format!("{api}/api/v1/events?token={token}");
    let stream = tokio::spawn(follow_stamps(url, &["telemetry"], "tMs", lags.clone(), stop_rx));
    // A clean slate once the stream is connected (its snapshot sent).
    tokio::time::sleep(Duration::from_secs(2)).await;
    if let Ok(mut l) = lags.lock() {
        l.clear();
    }
    let before = metrics(&http, &api).await?;
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let after = metrics(&http, &api).await?;
    let _ = stop.send(true);
    let events = stream.await.context("stream task")??;
    let rss = rss_bytes(up.id())?;
    drop(sim);
    drop(up);

    let delta = |name: &str| (metric(&after, name) - metric(&before, name)).max(0.0) as u64;
    let points = delta("wasmbed_telemetry_samples_total");
    let dropped = delta("wasmbed_telemetry_dropped_total");
    let store_bytes = metric(&after, "wasmbed_telemetry_store_bytes");
    let held = metric(&after, "wasmbed_telemetry_points").max(1.0);
    let mut lag = lags.lock().map(|l| l.clone()).unwrap_or_default();
    lag.sort_by(f64::total_cmp);
    eprintln!("{points} points recorded, {events} telemetry events received, {dropped} dropped");
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Ok(serde_json::json!({
        "devices": n,
        "rate_per_s": rate,
        "seconds": seconds,
        "points": points,
        "events_received": events,
        "dropped": dropped,
        "lag_p50_ms": round(percentile(&lag, 0.5)),
        "lag_p99_ms": round(percentile(&lag, 0.99)),
        "store_bytes_per_point": round(store_bytes / held),
        "platform_rss_bytes": rss,
    }))
}
