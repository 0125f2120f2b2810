//! deploy-sim: deploy request → Running on N simulated devices.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use tokio::sync::watch;
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_protocol::IdentityBundle;

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// An HTTP client sending `token` with every request.
pub fn authorized(token: &str) -> Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = format!("Bearer {token}").parse().context("token is not a header value")?;
    headers.insert(reqwest::header::AUTHORIZATION, value);
    Ok(reqwest::Client::builder().default_headers(headers).build()?)
}

/// A client with an operator token of `p`'s own (in memory only).
pub fn client_for(p: &Platform) -> Result<reqwest::Client> {
    authorized(&p.tokens.create_ephemeral("bench", wasmbed_api::Role::Operator, rand::random(), 0))
}

/// Uploads `module` and deploys it as `name` through the HTTP API, with
/// `caps` granted (none: the defaults).
#[allow(clippy::too_many_arguments)]
pub async fn deploy(
    http: &reqwest::Client,
    api: &str,
    name: &str,
    version: &str,
    module: &[u8],
    selector: &str,
    strategy: serde_json::Value,
    caps: &[&str],
) -> Result<String> {
    let mut spec = serde_json::json!({ "version": version, "selector": selector, "strategy": strategy });
    if !caps.is_empty() {
        spec["capabilities"] = serde_json::json!(caps);
    }
    deploy_spec(http, api, name, module, spec).await
}

/// Uploads `module` and deploys it as `name` with `spec` (an application
/// spec as the API takes it, without the digest); returns the digest.
pub async fn deploy_spec(
    http: &reqwest::Client,
    api: &str,
    name: &str,
    module: &[u8],
    mut spec: serde_json::Value,
) -> Result<String> {
    let digest = hex::encode(Sha256::digest(module));
    let resp = http.post(format!("{api}/api/v1/modules?digest={digest}")).body(module.to_vec()).send().await?;
    if !resp.status().is_success() {
        bail!("upload refused: {}", resp.text().await.unwrap_or_default());
    }
    spec["digest"] = serde_json::json!(digest);
    let resp = http.put(format!("{api}/api/v1/applications/{name}")).json(&spec).send().await?;
    if !resp.status().is_success() {
        bail!("deploy refused: {}", resp.text().await.unwrap_or_default());
    }
    Ok(digest)
}

/// Creates `n` simulated devices labelled `label` and returns their bundles.
pub async fn sim_devices(p: &Platform, prefix: &str, n: usize, label: (&str, &str)) -> Result<Vec<IdentityBundle>> {
    let labels = [(label.0.to_string(), label.1.to_string())].into();
    Ok(p.create_sim_devices(prefix, n, &labels).await?)
}

/// Waits until every gateway of `p` together holds `n` sessions.
pub async fn until_sessions(p: &Platform, n: usize, limit: Duration) -> Result<()> {
    let start = Instant::now();
    while p.sessions() < n {
        if start.elapsed() > limit {
            bail!("only {} of {n} devices enrolled", p.sessions());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

pub async fn run(n: usize, app: &Path) -> Result<serde_json::Value> {
    let module = std::fs::read(app).with_context(|| format!("cannot read {}", app.display()))?;
    let tmp = tempfile::tempdir()?;
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api()).await?;
    let api = p.api_url().context("api")?;
    eprintln!("creating {n} devices");
    let bundles = sim_devices(&p, "bench", n, ("bench", "deploy")).await?;
    eprintln!("connecting {n} simulated devices");
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(wasmbed_sim::run_fleet(bundles, Default::default(), stop.clone()));
    let start = Instant::now();
    until_sessions(&p, n, Duration::from_secs(300)).await?;
    eprintln!("{n} devices online after {:?}; deploying", start.elapsed());

    let mut events = p.store.watch();
    let mut running: std::collections::HashMap<String, f64> = Default::default();
    let t0 = Instant::now();
    let http = client_for(&p)?;
    let digest =
        deploy(&http, &api, "bench-app", "1", &module, "bench=deploy", serde_json::json!({"type": "all-at-once"}), &[])
            .await?;
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
        if let Some(d) = p.store.get_device(&ev.name).await?
            && d.status.session.runs(|a| a.digest == digest)
        {
            running.insert(ev.name, at);
        }
    }
    let total_ms = running.values().copied().fold(0.0, f64::max);
    let mut times: Vec<f64> = running.values().copied().collect();
    times.sort_by(f64::total_cmp);
    let _ = stop_tx.send(true);
    p.shutdown().await;
    Ok(serde_json::json!({
        "devices": n,
        "running": running.len(),
        "p50_ms": (percentile(&times, 0.5) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&times, 0.99) * 10.0).round() / 10.0,
        "total_ms": (total_ms * 10.0).round() / 10.0,
    }))
}
