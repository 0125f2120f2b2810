//! gateway-scale: concurrent mTLS sessions on one gateway process, beside
//! Mosquitto (mutual TLS, `require_certificate true`) measured the same way;
//! with `--half-open N`, while a second client holds N connections that
//! never finish a handshake (`half_open`).

mod half_open;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsConnector;

/// Children die with their process group (see wasmbed-qemu).
pub(crate) struct Group(wasmbed_qemu::ProcessGroup);

impl Group {
    pub(crate) fn spawn(cmd: &mut Command) -> Result<Self> {
        Ok(Self(wasmbed_qemu::ProcessGroup::spawn(cmd).context("spawn")?))
    }

    pub(crate) fn id(&self) -> u32 {
        self.0.id()
    }

    pub(crate) fn child(&mut self) -> &mut Child {
        self.0.child_mut()
    }
}

pub(crate) fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS")?;
    Ok(kb * 1024)
}

pub(crate) fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    Ok(me.with_file_name(name))
}

/// Reads a child's stdout until a line starts with `prefix`; returns the rest.
pub(crate) fn wait_line(child: &mut Child, prefix: &str) -> Result<String> {
    Ok(wait_lines(child, &[prefix])?.remove(0))
}

/// Reads `child`'s stdout until a line starting with each prefix was seen,
/// in order; returns what follows each (the rest of stdout is drained).
pub(crate) fn wait_lines(child: &mut Child, prefixes: &[&str]) -> Result<Vec<String>> {
    let out = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(out).lines();
    let mut found = Vec::new();
    for line in lines.by_ref() {
        let line = line?;
        if let Some(rest) = prefixes.get(found.len()).and_then(|p| line.trim().strip_prefix(p)) {
            found.push(rest.trim().to_string());
            if found.len() == prefixes.len() {
                std::thread::spawn(move || for _ in lines {});
                return Ok(found);
            }
        }
    }
    bail!("the process ended before printing {:?}", prefixes.get(found.len()))
}

async fn status(http: &reqwest::Client, api: &str) -> Result<serde_json::Value> {
    Ok(http.get(format!("{api}/api/v1/status")).send().await?.json().await?)
}

pub async fn run(n: usize, half_open: usize) -> Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    let data = tmp.path().join("ours");
    let bin = sibling("wasmbed")?;
    let ours = measure_ours(&bin, &data, n, half_open).await?;
    eprintln!("ours: {ours}");
    let mosq = measure_mosquitto(&data.join("pki"), n).await?;
    eprintln!("mosquitto: {mosq}");
    Ok(serde_json::json!({
        "sessions": ours["sessions"],
        "gateway_rss_bytes": ours["rss"],
        "bytes_per_session": ours["bytes_per_session"],
        "handshakes_per_s": ours["handshakes_per_s"],
        "heartbeats_per_s": ours["heartbeats_per_s"],
        "half_open": half_open,
        "half_open_gateway_bytes": ours["half_open_bytes"],
        "half_open_closed_by_gateway": ours["half_open_closed"],
        "mosquitto_sessions": mosq["sessions"],
        "mosquitto_bytes_per_conn": mosq["bytes_per_conn"],
        "mosquitto_handshakes_per_s": mosq["handshakes_per_s"],
    }))
}

async fn measure_ours(bin: &Path, data: &Path, n: usize, half_open: usize) -> Result<serde_json::Value> {
    let mut up = Group::spawn(
        Command::new(bin)
            .args(["up", "--gateway", "127.0.0.1:0", "--listen", "127.0.0.1:0", "--heartbeat-ms", "5000"])
            .arg("--data-dir")
            .arg(data)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped()),
    )?;
    let found = wait_lines(up.child(), &["api:", "admin token:", "gateway:"])?;
    let (api, token) = (found[0].clone(), found[1].clone());
    // "gateway-0 on 127.0.0.1:PORT (mutual TLS 1.3)"
    let gateway: std::net::SocketAddr =
        found[2].split_whitespace().nth(2).context("no gateway address")?.parse().context("gateway address")?;
    let http = crate::deploy::authorized(&token)?;
    eprintln!("gateway up at {api}; creating {n} simulated devices");
    let created = Command::new(bin)
        .args(["sim", "--create-only", "--devices", &n.to_string(), "--prefix", "scale", "--api", &api])
        .env("RUST_LOG", "warn")
        .env("WASMBED_TOKEN", &token)
        .stdout(Stdio::null())
        .status()?;
    if !created.success() {
        bail!("creating devices failed");
    }
    // The baseline holds the device records (and the half-open load, at
    // its full size: stale handshakes already giving way): what is
    // measured is sessions.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let quiet = rss_bytes(up.id())?;
    let load = if half_open > 0 {
        let load = half_open::start(gateway, half_open)?;
        eprintln!("holding {half_open} half-open connections from {}", half_open::SOURCE);
        tokio::time::sleep(Duration::from_secs(5)).await;
        Some(load)
    } else {
        None
    };
    let rss0 = rss_bytes(up.id())?;
    eprintln!("gateway RSS before sessions: {rss0} B ({} B for the half-open load)", rss0.saturating_sub(quiet));
    let mut sim = Group::spawn(
        Command::new(bin)
            .args(["sim", "--devices", &n.to_string(), "--prefix", "scale", "--api", &api])
            .env("RUST_LOG", "warn")
            .env("WASMBED_TOKEN", &token)
            .stdout(Stdio::piped()),
    )?;
    wait_line(sim.child(), "SIMULATOR:")?;
    let t0 = Instant::now();
    eprintln!("devices created; connecting");
    let mut held = 0;
    while t0.elapsed() < Duration::from_secs(600) {
        held = status(&http, &api).await?["gateway"]["sessions"].as_u64().unwrap_or(0) as usize;
        if held >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let connect_s = t0.elapsed().as_secs_f64();
    eprintln!("{held} sessions after {connect_s:.1}s; measuring heartbeats for 10 s");
    let h0 = status(&http, &api).await?["gateway"]["heartbeats"].as_u64().unwrap_or(0);
    let th = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let h1 = status(&http, &api).await?["gateway"]["heartbeats"].as_u64().unwrap_or(0);
    let hb_rate = (h1 - h0) as f64 / th.elapsed().as_secs_f64();
    let rss1 = rss_bytes(up.id())?;
    let held_end = status(&http, &api).await?["gateway"]["sessions"].as_u64().unwrap_or(0);
    let half_open_closed = load.as_ref().map_or(0, |l| l.seen.closed.load(Ordering::Relaxed));
    if let Some(l) = &load {
        eprintln!(
            "half-open client: {} connections opened, {half_open_closed} closed by the gateway",
            l.seen.opened.load(Ordering::Relaxed)
        );
    }
    drop(load);
    drop(sim);
    drop(up);
    Ok(serde_json::json!({
        "half_open_bytes": rss0.saturating_sub(quiet),
        "half_open_closed": half_open_closed,
        "sessions": held_end,
        "rss": rss1,
        "bytes_per_session": (rss1.saturating_sub(rss0)) / (held.max(1) as u64),
        "handshakes_per_s": (held as f64 / connect_s).round(),
        "heartbeats_per_s": hb_rate.round(),
    }))
}

fn ensure_mosquitto() -> Result<()> {
    if Command::new("sh").args(["-c", "command -v mosquitto"]).output()?.status.success() {
        return Ok(());
    }
    eprintln!("installing mosquitto (Debian package)");
    let ok = Command::new("sh")
        .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mosquitto"])
        .status()?
        .success();
    if !ok {
        bail!("cannot install mosquitto");
    }
    // The package starts a system service on 1883; we run our own instance.
    let _ = Command::new("sh").args(["-c", "service mosquitto stop 2>/dev/null; pkill -x mosquitto"]).status();
    Ok(())
}

fn mqtt_connect(client_id: &str) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60];
    body.extend_from_slice(&(client_id.len() as u16).to_be_bytes());
    body.extend_from_slice(client_id.as_bytes());
    let mut pkt = vec![0x10];
    let mut len = body.len();
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        pkt.push(b);
        if len == 0 {
            break;
        }
    }
    pkt.extend_from_slice(&body);
    pkt
}

async fn measure_mosquitto(pki_dir: &Path, n: usize) -> Result<serde_json::Value> {
    ensure_mosquitto()?;
    let pki = wasmbed_pki::Pki::open_or_create(pki_dir, SystemTime::now())?;
    let client = pki.device_identity("mqtt-client", SystemTime::now())?;
    let tls = TlsConnector::from(wasmbed_pki::tls::client_config(pki.ca_cert_der(), &client)?);
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let conf = pki_dir.join("mosquitto.conf");
    let p = |f: &str| pki_dir.join(f).display().to_string();
    std::fs::write(
        &conf,
        format!(
            "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\npersistence false\nlog_dest stderr\nlog_type error\n\
             cafile {}\ncertfile {}\nkeyfile {}\nrequire_certificate true\ntls_version tlsv1.3\n",
            p("ca.crt"),
            p("gateway.crt"),
            p("gateway.key")
        ),
    )?;
    let mosq = Group::spawn(
        Command::new("bash")
            .args(["-c", &format!("ulimit -n 20000; exec mosquitto -c {}", conf.display())])
            .stdout(Stdio::null()),
    )?;
    let addr = format!("127.0.0.1:{port}");
    let start = Instant::now();
    while TcpStream::connect(&addr).await.is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            bail!("mosquitto did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss0 = rss_bytes(mosq.id())?;
    eprintln!("mosquitto on {addr}, RSS {rss0} B; connecting {n} mTLS MQTT clients");
    let connected = Arc::new(AtomicUsize::new(0));
    let limit = Arc::new(Semaphore::new(256));
    let (stop_tx, stop) = watch::channel(false);
    let t0 = Instant::now();
    for i in 0..n {
        let (tls, connected, limit, addr, mut stop) =
            (tls.clone(), connected.clone(), limit.clone(), addr.clone(), stop.clone());
        tokio::spawn(async move {
            let permit = limit.acquire_owned().await;
            let Ok(tcp) = TcpStream::connect(&addr).await else { return };
            let Ok(name) = ServerName::try_from("127.0.0.1") else { return };
            let Ok(mut s) = tls.connect(name, tcp).await else { return };
            if s.write_all(&mqtt_connect(&format!("c{i}"))).await.is_err() {
                return;
            }
            let mut ack = [0u8; 4];
            if s.read_exact(&mut ack).await.is_err() || ack != [0x20, 2, 0, 0] {
                return;
            }
            drop(permit);
            connected.fetch_add(1, Ordering::Relaxed);
            // Keep the connection alive at the same rate as our heartbeats.
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(5)) => {
                        if s.write_all(&[0xC0, 0]).await.is_err() { return; }
                        let mut resp = [0u8; 2];
                        if s.read_exact(&mut resp).await.is_err() { return; }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
    }
    while connected.load(Ordering::Relaxed) < n && t0.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let held = connected.load(Ordering::Relaxed);
    let connect_s = t0.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rss1 = rss_bytes(mosq.id())?;
    let _ = stop_tx.send(true);
    drop(mosq);
    Ok(serde_json::json!({
        "sessions": held,
        "bytes_per_conn": rss1.saturating_sub(rss0) / (held.max(1) as u64),
        "handshakes_per_s": (held as f64 / connect_s).round(),
    }))
}
