//! Verbs that talk to a running `wasmbed up` over its API.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use tokio::sync::watch;
use wasmbed_model::{Device, Gateway, Labels, LogLine};
use wasmbed_protocol::IdentityBundle;

use crate::table;

/// A located API, and the token to call it with.
#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

/// Where `wasmbed login` keeps the token (owner-only).
pub fn credentials_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("credentials")
}

/// `--token`, else `WASMBED_TOKEN` (clap fills both), else what `wasmbed login` saved.
pub fn find_token(flag: Option<&str>, data_dir: &Path) -> Option<String> {
    flag.map(str::to_string).or_else(|| {
        std::fs::read_to_string(credentials_path(data_dir)).ok().map(|t| t.trim().to_string()).filter(|t| !t.is_empty())
    })
}

/// Saves a token for later commands (0600).
pub fn login(data_dir: &Path, token: &str) -> Result<()> {
    if !token.starts_with("wbt_") {
        bail!("that is not a Wasmbed token (they start with wbt_)");
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    write_private(&credentials_path(data_dir), token.as_bytes())
}

impl Api {
    /// With the token to send.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    fn authorized(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// `--api`, else `WASMBED_API` (clap fills both), else the data dir's endpoint.json.
    pub fn locate(flag: Option<&str>, data_dir: &Path) -> Result<Self> {
        let base = match flag {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let path = data_dir.join("endpoint.json");
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!(
                        "no running platform found ({} is missing): start one with `wasmbed up`, or pass --api",
                        path.display()
                    )
                })?;
                let v: serde_json::Value =
                    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))?;
                v["api"].as_str().with_context(|| format!("{} has no \"api\" field", path.display()))?.to_string()
            }
        };
        Ok(Self { base, http: reqwest::Client::new(), token: None })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.base)
    }

    async fn check(&self, resp: reqwest::Response) -> Result<reqwest::Response> {
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let msg = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from))
            .unwrap_or(body);
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!("{msg} (HTTP 401): pass --token or WASMBED_TOKEN, or run `wasmbed login TOKEN`");
        }
        bail!("{msg} (HTTP {})", status.as_u16())
    }

    pub(crate) async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send(self.http.get(self.url(path))).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T> {
        let resp = self.authorized(req).send().await.with_context(|| format!("cannot reach {}", self.base))?;
        Ok(self.check(resp).await?.json().await?)
    }

    pub(crate) async fn post_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        self.send(self.http.post(self.url(path)).json(body)).await
    }

    pub(crate) async fn put_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T> {
        self.send(self.http.put(self.url(path)).json(body)).await
    }

    pub(crate) async fn post_bytes<T: serde::de::DeserializeOwned>(&self, path: &str, body: Vec<u8>) -> Result<T> {
        self.send(self.http.post(self.url(path)).header("content-type", "application/wasm").body(body)).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Result<()> {
        let resp = self
            .authorized(self.http.delete(self.url(path)))
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        self.check(resp).await?;
        Ok(())
    }

    pub async fn create_device(&self, name: &str, board: &str, labels: &Labels) -> Result<Option<Device>> {
        let body = serde_json::json!({ "name": name, "board": board, "labels": labels });
        let resp = self
            .authorized(self.http.post(self.url("devices")))
            .json(&body)
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.base))?;
        if resp.status() == reqwest::StatusCode::CONFLICT {
            return Ok(None);
        }
        Ok(Some(self.check(resp).await?.json().await?))
    }

    async fn bundle(&self, name: &str) -> Result<Vec<u8>> {
        let resp = self.authorized(self.http.get(self.url(&format!("devices/{name}/bundle")))).send().await?;
        Ok(self.check(resp).await?.bytes().await?.to_vec())
    }
}

pub(crate) fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn status(api: &Api, json: bool) -> Result<()> {
    let v: serde_json::Value = api.get("status").await?;
    if json {
        return print_json(&v);
    }
    println!("gateway port  {}", v["gatewayPort"]);
    println!("gateways      {}", v["gateways"]);
    println!("sessions      {}", v["sessions"]);
    println!("devices       {}", v["devices"]);
    println!("  simulated   {}", v["simulatedDevices"]);
    println!("applications  {}", v["applications"]);
    Ok(())
}

pub async fn device_add(
    api: &Api,
    name: &str,
    board: &str,
    labels: Labels,
    bundle_out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let Some(device) = api.create_device(name, board, &labels).await? else {
        bail!("device {name:?} already exists");
    };
    if let Some(path) = bundle_out {
        let bytes = api.bundle(name).await?;
        write_private(path, &bytes)?;
    }
    if json {
        return print_json(&device);
    }
    println!("device {name} created (board {board})");
    if let Some(p) = bundle_out {
        println!("identity bundle written to {}", p.display());
    }
    Ok(())
}

/// Writes a file only its owner can read (it holds a private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(bytes)?;
    Ok(())
}

pub(crate) fn ago(ms: Option<u64>) -> String {
    match ms {
        None => "never".into(),
        Some(t) => format!("{}s ago", wasmbed_model::clock::unix_ms().saturating_sub(t) / 1000),
    }
}

pub async fn device_list(api: &Api, json: bool) -> Result<()> {
    let devices: Vec<Device> = api.get("devices").await?;
    if json {
        return print_json(&devices);
    }
    let rows: Vec<Vec<String>> = devices
        .iter()
        .map(|d| {
            let board =
                if d.spec.board == wasmbed_model::SIM_BOARD { "sim (simulator)".into() } else { d.spec.board.clone() };
            let labels: Vec<String> = d.spec.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let apps: Vec<String> = d
                .status
                .session
                .apps
                .iter()
                .map(|a| format!("{}@{}:{}", a.name, a.version, a.state.as_str()))
                .collect();
            vec![
                d.meta.name.clone(),
                board,
                d.status.phase.as_str().into(),
                d.status.session.gateway.clone().unwrap_or_else(|| "-".into()),
                ago(d.status.session.last_heartbeat_ms),
                labels.join(","),
                apps.join(" "),
            ]
        })
        .collect();
    table::print(&["NAME", "BOARD", "PHASE", "GATEWAY", "HEARTBEAT", "LABELS", "APPS"], &rows);
    Ok(())
}

pub async fn device_rm(api: &Api, name: &str) -> Result<()> {
    api.delete(&format!("devices/{name}")).await?;
    println!("device {name} deleted");
    Ok(())
}

pub async fn gateway_list(api: &Api, json: bool) -> Result<()> {
    let gateways: Vec<Gateway> = api.get("gateways").await?;
    if json {
        return print_json(&gateways);
    }
    let rows: Vec<Vec<String>> = gateways
        .iter()
        .map(|g| {
            vec![
                g.meta.name.clone(),
                g.spec.endpoint.clone(),
                g.spec.device_endpoint.clone().unwrap_or_default(),
                g.spec.capacity.to_string(),
                g.status.sessions.to_string(),
                format!("{:?}", g.status.health),
                ago(g.status.last_seen_ms),
            ]
        })
        .collect();
    table::print(&["NAME", "ENDPOINT", "DEVICE ENDPOINT", "CAPACITY", "SESSIONS", "HEALTH", "SEEN"], &rows);
    Ok(())
}

pub async fn logs(api: &Api, device: &str, tail: usize, follow: bool, json: bool) -> Result<()> {
    let mut seen: Option<(u64, u64)> = None;
    loop {
        let lines: Vec<LogLine> = api.get(&format!("devices/{device}/logs?tail={tail}")).await?;
        for l in lines.iter().filter(|l| seen.is_none_or(|s| (l.received_ms, l.uptime_ms) > s)) {
            if json {
                println!("{}", serde_json::to_string(l)?);
            } else {
                println!("[{}] {}: {}", l.uptime_ms, l.app, l.line);
            }
        }
        if let Some(l) = lines.last() {
            seen = Some((l.received_ms, l.uptime_ms));
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints a QEMU device's console; with `follow`, keeps polling for more.
pub async fn console(api: &Api, device: &str, follow: bool) -> Result<()> {
    use std::io::Write as _;
    #[derive(serde::Deserialize)]
    struct Chunk {
        next: u64,
        text: String,
    }
    let mut offset = 0u64;
    loop {
        let chunk: Chunk = api.get(&format!("devices/{device}/console?offset={offset}")).await?;
        let mut out = std::io::stdout().lock();
        out.write_all(chunk.text.as_bytes())?;
        out.flush()?;
        let more = chunk.next > offset && !chunk.text.is_empty();
        offset = chunk.next;
        if !follow && !more {
            return Ok(());
        }
        if !more {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Simulated devices to run (created if missing, named PREFIX-0..N-1).
    #[arg(long, default_value_t = 1)]
    devices: usize,
    /// Name prefix.
    #[arg(long, default_value = "sim")]
    prefix: String,
    /// Labels for devices this command creates, `key=value`.
    #[arg(long = "label", short = 'l')]
    labels: Vec<String>,
    /// Run devices from these identity bundles instead.
    #[arg(long = "bundle")]
    bundles: Vec<std::path::PathBuf>,
    /// Only create the devices (and issue identities), then exit.
    #[arg(long, conflicts_with = "bundles")]
    create_only: bool,
}

/// Creates simulated devices `PREFIX-0..N-1` where missing and returns their
/// bundles (32 requests in flight at a time).
pub async fn ensure_sim_devices(
    api: &Api,
    prefix: &str,
    n: usize,
    labels: &[(&str, &str)],
) -> Result<Vec<IdentityBundle>> {
    let labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut bundles = Vec::with_capacity(n);
    let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i}")).collect();
    for chunk in names.chunks(32) {
        let mut set = tokio::task::JoinSet::new();
        for name in chunk {
            let (api, labels, name) = (api.clone(), labels.clone(), name.clone());
            set.spawn(async move {
                api.create_device(&name, wasmbed_model::SIM_BOARD, &labels).await?;
                let bytes = api.bundle(&name).await?;
                Ok::<_, anyhow::Error>(IdentityBundle::from_bytes(&bytes)?)
            });
        }
        while let Some(b) = set.join_next().await {
            bundles.push(b??);
        }
    }
    Ok(bundles)
}

pub async fn sim(api: &Api, args: SimArgs) -> Result<()> {
    crate::up::raise_fd_limit();
    let labels = crate::parse_labels(&args.labels)?;
    let mut bundles = Vec::new();
    for path in &args.bundles {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        bundles.push(IdentityBundle::from_bytes(&bytes).with_context(|| format!("{}", path.display()))?);
    }
    if args.bundles.is_empty() {
        let pairs: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        bundles = ensure_sim_devices(api, &args.prefix, args.devices, &pairs).await?;
        if args.create_only {
            println!("created {} simulated devices", bundles.len());
            return Ok(());
        }
    }
    for b in &bundles {
        if b.board != wasmbed_model::SIM_BOARD {
            bail!("device {} is a {} device: the simulator only runs devices of board \"sim\"", b.device_id, b.board);
        }
    }
    println!(
        "SIMULATOR: running {} simulated devices (the device agent on this host, not firmware). Ctrl-C stops.",
        bundles.len()
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let fleet = tokio::spawn(wasmbed_sim::run_fleet(bundles, wasmbed_sim::SimOptions::default(), stop_rx));
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), fleet).await;
    Ok(())
}
