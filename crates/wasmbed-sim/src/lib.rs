//! The host simulator: Wasmbed's device agent built for Linux.
//!
//! A simulated device is the same [`wasmbed_agent::Agent`] the firmware
//! runs, over a rustls TLS 1.3 client (with its own certificate, pinning the
//! platform CA) on a tokio TCP socket, instead of embedded-tls over smoltcp.
//! It says so: it enrolls with `simulated: true`, and every log line of this
//! crate is labelled "simulated". Thousands run in one process, each a task.
//! A terminal `reboot` restarts the device as a cold boot: its apps are
//! gone, its uptime starts over, and it enrolls in a new session.
//!
//! Each simulated device has simulated peripherals ([`SimPeripherals`],
//! shaped by its board's peripheral list: the simulator's own board is
//! [`wasmbed_boards::SIM_PERIPHERALS`]), so apps that drive LEDs, read a
//! TMP105 over I2C or publish telemetry run here as on QEMU. While a device
//! runs, its [`SimHandle`] is in [`SimOptions::peripherals`] under its id:
//! the platform sets a sensor there (`temp0` to 31.5 °C) and reads an LED.
//! [`local`] runs one app on a local agent without a platform (`wasmbed
//! run`).
//!
//! ```no_run
//! # async fn demo(bundle: wasmbed_protocol::IdentityBundle) {
//! let (_stop, stop_rx) = tokio::sync::watch::channel(false);
//! wasmbed_sim::run_device(bundle, wasmbed_sim::SimOptions::default(), stop_rx).await;
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};
use wasmbed_agent::{Agent, AgentConfig, Backoff, DeployTrust, Reconnect, ResetCause};
use wasmbed_pki::Identity;
use wasmbed_protocol::IdentityBundle;

mod hw;
pub mod local;

pub use hw::{
    ADC_MAX, ADC_VREF, DEFAULT_TEMP_C, SensorError, SimHandle, SimPeripherals, SimRegistry, TMP105_AT, Tmp105,
    UART_CAPTURE,
};

/// Heap a simulated device pretends to have (the board table's);
/// heartbeats report this minus what the agent holds for apps.
pub const SIM_HEAP_BYTES: u32 = wasmbed_boards::SIM_HEAP_BYTES as u32;

/// What apps may hold on a simulated device of `board`: that board's
/// budget from the table, or the simulator's own.
pub fn module_budget(board: &str) -> wasmbed_boards::ModuleBudget {
    wasmbed_boards::board(board).and_then(|b| b.module_budget()).unwrap_or(wasmbed_boards::SIM_BUDGET)
}

/// Simulator settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SimOptions {
    /// Reconnect delays: the devices' own ([`Backoff::DEVICE`]) unless a
    /// test asks for shorter ones.
    pub backoff: Backoff,
    /// Connect + TLS handshake timeout.
    pub connect_timeout: Duration,
    /// Handshakes in flight at once across a fleet (a real fleet does not
    /// dial in one instant; without a cap the listen backlog overflows).
    pub connect_limit: Arc<tokio::sync::Semaphore>,
    /// Where each running device's peripherals are, by device id (shared
    /// by clones of these options, so a fleet's devices are all in it).
    pub peripherals: SimRegistry,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            backoff: Backoff::DEVICE,
            connect_timeout: Duration::from_secs(10),
            connect_limit: Arc::new(tokio::sync::Semaphore::new(256)),
            peripherals: SimRegistry::default(),
        }
    }
}

impl SimOptions {
    /// With other reconnect delays, through the devices' formula: the
    /// first window is `min`, the largest `max` (see [`Backoff`]).
    pub fn with_backoff(mut self, min: Duration, max: Duration) -> Self {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        self.backoff = Backoff::new(ms(min), ms(max));
        self
    }

    /// With the devices' peripherals registered in `registry` (keep a
    /// clone to reach them).
    pub fn with_peripherals(mut self, registry: SimRegistry) -> Self {
        self.peripherals = registry;
        self
    }
}

/// The peripherals a simulated device of `board` has: the board table's
/// list for a board in it, the simulator's own ([`SIM_PERIPHERALS`]) for
/// `sim` (or any other name).
///
/// [`SIM_PERIPHERALS`]: wasmbed_boards::SIM_PERIPHERALS
pub fn board_peripherals(board: &str) -> &'static [wasmbed_boards::Peripheral] {
    wasmbed_boards::board(board).map_or(wasmbed_boards::SIM_PERIPHERALS, |b| b.peripherals)
}

/// Fleet-wide counters.
#[derive(Debug, Default)]
pub struct SimStats {
    /// Sessions that completed the TLS handshake.
    pub connected: AtomicU64,
    /// Sessions that ended (any reason).
    pub disconnected: AtomicU64,
    /// Cold boots asked for by a terminal `reboot`.
    pub reboots: AtomicU64,
}

/// Runs one simulated device until `stop` turns true. It redials as the
/// firmware does ([`Reconnect`]): the gateways of its bundle in order (its
/// own first), the next soon after one fails, and after a full round an
/// exponential backoff with jitter. Its peripherals' handle is in
/// `opts.peripherals` under its id while it runs.
pub async fn run_device(bundle: IdentityBundle, opts: SimOptions, stop: watch::Receiver<bool>) {
    run_device_with_stats(bundle, opts, stop, Arc::default()).await
}

/// [`run_device`], counting into `stats`.
pub async fn run_device_with_stats(
    bundle: IdentityBundle,
    opts: SimOptions,
    stop: watch::Receiver<bool>,
    stats: Arc<SimStats>,
) {
    let id = bundle.device_id.clone();
    let hw = SimPeripherals::new(board_peripherals(&bundle.board));
    opts.peripherals.insert(&id, hw.handle());
    run_registered(bundle, &opts, stop, stats, hw).await;
    opts.peripherals.remove(&id);
}

async fn run_registered(
    bundle: IdentityBundle,
    opts: &SimOptions,
    mut stop: watch::Receiver<bool>,
    stats: Arc<SimStats>,
    hw: SimPeripherals,
) {
    let id = bundle.device_id.clone();
    let identity = Identity { cert_der: bundle.cert_der.to_vec(), key_der: bundle.key_der.to_vec() };
    let tls = match wasmbed_pki::tls::client_config(&bundle.ca_der, &identity) {
        Ok(c) => TlsConnector::from(c),
        Err(e) => {
            warn!(device = %id, "simulated device cannot start: bad identity bundle: {e}");
            return;
        }
    };
    let mut gateways: Vec<(String, ServerName<'static>)> = Vec::new();
    for addr in bundle.gateways() {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        match ServerName::try_from(host.to_string()) {
            Ok(n) => gateways.push((addr.to_string(), n)),
            Err(e) => warn!(device = %id, "simulated device skips bad gateway address {addr:?}: {e}"),
        }
    }
    if gateways.is_empty() {
        warn!(device = %id, "simulated device cannot start: no usable gateway address in its bundle");
        return;
    }
    let trust = match DeployTrust::from_bundle(&bundle) {
        Ok(t) => t,
        Err(e) => {
            warn!(device = %id, "simulated device cannot start: its bundle's app-signing key: {e}");
            return;
        }
    };
    let mut reconnect = Reconnect::new(gateways.len(), opts.backoff);
    // A cold boot resets the board (LEDs off, sensor registers at their
    // power-up values); the world around it (temperatures) stays, and so
    // does the crash journal, as a board's RAM does over a warm reset.
    let journal = ProcessJournal::default();
    let cold_boot = || {
        hw.handle().power_cycle();
        let config = AgentConfig::new(&id, &bundle.board).simulated().with_heap_size(SIM_HEAP_BYTES);
        Agent::new(config.with_budget(module_budget(&bundle.board)))
            .with_peripherals(Box::new(hw.clone()))
            .with_trust(trust.clone())
            .with_journal(Box::new(journal.clone()), ResetCause::Unknown)
            .with_clock(Box::new(Uptime(std::time::Instant::now())))
    };
    let mut boot = Instant::now();
    let mut agent = cold_boot();
    while !*stop.borrow() {
        let now = move || boot.elapsed().as_millis() as u64;
        let (addr, server_name) = &gateways[reconnect.gateway() % gateways.len()];
        let connect = async {
            let tcp = TcpStream::connect(addr).await?;
            tcp.set_nodelay(true)?;
            tls.connect(server_name.clone(), tcp).await
        };
        let permit = opts.connect_limit.acquire().await;
        let attempt = timeout(opts.connect_timeout, connect).await;
        drop(permit);
        let stream = match attempt {
            Ok(Ok(s)) => s,
            failed => {
                match failed {
                    Ok(Err(e)) => debug!(device = %id, gateway = %addr, "simulated device cannot connect: {e}"),
                    _ => debug!(device = %id, gateway = %addr, "simulated device connect timed out"),
                }
                if wait(reconnect.ended(false, rand::random()), &mut stop).await {
                    break;
                }
                continue;
            }
        };
        stats.connected.fetch_add(1, Ordering::Relaxed);
        debug!(device = %id, "simulated device connected");
        let (mut rd, mut wr) = tokio::io::split(stream);
        agent.connected(now());
        let mut buf = vec![0u8; 4096];
        let mut enrolled = false;
        let ended = loop {
            agent.poll(now(), SIM_HEAP_BYTES.saturating_sub(agent.app_memory_bytes() as u32));
            let out = agent.take_outgoing();
            if !out.is_empty()
                && let Err(e) = wr.write_all(&out).await
            {
                break format!("write failed: {e}");
            }
            // The answer to `reboot` was just written: reset as a board does.
            if agent.reboot_requested() {
                let _ = wr.shutdown().await;
                // As the firmware does: reset once the gateway has closed its
                // side. Dropping a socket with unread bytes sends a reset,
                // which can destroy the answer before the gateway reads it.
                let drain = async { while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {} };
                let _ = timeout(Duration::from_secs(1), drain).await;
                break "rebooting at the gateway's request".into();
            }
            if !enrolled && agent.state() == wasmbed_agent::SessionState::Online {
                enrolled = true;
            }
            if agent.state() == wasmbed_agent::SessionState::Disconnected {
                break "session ended by the agent".into();
            }
            let deadline =
                agent.next_deadline().map_or(boot + Duration::from_secs(3600), |t| boot + Duration::from_millis(t));
            tokio::select! {
                n = rd.read(&mut buf) => match n {
                    Ok(0) => break "gateway closed the connection".into(),
                    Ok(n) => {
                        if let Err(e) = agent.receive(&buf[..n], now()) {
                            let out = agent.take_outgoing();
                            let _ = wr.write_all(&out).await;
                            break format!("protocol error: {e}");
                        }
                    }
                    Err(e) => break format!("read failed: {e}"),
                },
                () = sleep_until(deadline) => {}
                _ = stop.changed() => {
                    let _ = wr.shutdown().await;
                    break "simulator stopping".into();
                }
            }
        };
        agent.disconnected();
        stats.disconnected.fetch_add(1, Ordering::Relaxed);
        info!(device = %id, "simulated device disconnected: {ended}");
        if agent.reboot_requested() {
            // A cold boot: apps, uptime and session start over; a booting
            // device dials at once rather than backing off.
            info!(device = %id, "simulated device reboots (cold boot: apps gone)");
            stats.reboots.fetch_add(1, Ordering::Relaxed);
            agent = cold_boot();
            boot = Instant::now();
            reconnect.restart();
            continue;
        }
        if *stop.borrow() || wait(reconnect.ended(enrolled, rand::random()), &mut stop).await {
            break;
        }
    }
}

/// A simulated device's crash journal: kept in the process across its
/// simulated cold boots.
#[derive(Debug, Clone, Default)]
struct ProcessJournal(Arc<std::sync::Mutex<Vec<u8>>>);

impl wasmbed_agent::Journal for ProcessJournal {
    fn load(&self) -> Vec<u8> {
        self.0.lock().map(|b| b.clone()).unwrap_or_default()
    }

    fn save(&mut self, bytes: &[u8]) {
        if let Ok(mut b) = self.0.lock() {
            b.clear();
            b.extend_from_slice(bytes);
        }
    }
}

/// The agent's clock for per-call deadlines: milliseconds since boot.
struct Uptime(std::time::Instant);

impl wasmbed_agent::Clock for Uptime {
    fn now_ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// Sleeps `ms` before the next dial; true if stopped meanwhile.
async fn wait(ms: u32, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        () = sleep(Duration::from_millis(ms.into())) => false,
        _ = stop.changed() => true,
    }
}

/// Runs many simulated devices in this process until `stop` turns true.
pub async fn run_fleet(bundles: Vec<IdentityBundle>, opts: SimOptions, stop: watch::Receiver<bool>) -> Arc<SimStats> {
    let stats = Arc::new(SimStats::default());
    let mut tasks = tokio::task::JoinSet::new();
    info!(devices = bundles.len(), "starting simulated devices (host simulator, not firmware)");
    for b in bundles {
        tasks.spawn(run_device_with_stats(b, opts.clone(), stop.clone(), stats.clone()));
    }
    while tasks.join_next().await.is_some() {}
    stats
}
