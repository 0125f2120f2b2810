//! Connect, authenticate, run the agent; on any failure, back off and do it
//! again. Apps keep running while the device is offline. A terminal
//! `reboot` resets the device once its answer has reached the gateway.

use alloc::string::String;
use alloc::vec;
use core::cell::RefCell;
use core::fmt::{self, Write};
use core::net::SocketAddrV4;

use embedded_tls::blocking::{Aes128GcmSha256, TlsConfig, TlsConnection, TlsContext, TlsError};
use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};
use wasmbed_agent::{Agent, AgentConfig, AgentError, Backoff, DeployTrust, Reconnect, SessionState};
use wasmbed_boards::{DEVICE_IP, HOST_FROM_GUEST};
use wasmbed_fw_drivers::lan9118::{Lan9118, Mmio, phy::Eth};
use wasmbed_fw_runtime::provision::Provisioned;
use wasmbed_fw_tls::{DeviceProvider, PinnedVerifier, Rng09, ServerName};
use wasmbed_protocol::IdentityBundle;

use crate::net::{Link as NetLink, Net, NetError, Stream, idle};
use crate::peripherals::BoardPeripherals;
use crate::uart::UartLink;
use crate::warm::{self, WarmJournal};
use crate::{AgentLayout, Board, HEAP, Link, Uart, console, now_ms, to_usize};

/// TLS record buffers. The gateway may send full 16 KiB records; what the
/// device sends is small, so its record buffer is too.
const TLS_RX: usize = 16_384 + 256;
const TLS_TX: usize = 4 * 1024;
/// Longest wait, before a terminal `reboot`, for the gateway to close.
const REBOOT_LINGER_MS: u64 = 1_000;

/// How a session ended without an error.
#[derive(Debug)]
enum Ended {
    /// The agent answered a terminal `reboot`; the answer is sent.
    Reboot,
}

/// Why a session ended.
#[derive(Debug)]
enum SessionError {
    Net(NetError),
    Tls(TlsError),
    Protocol(AgentError),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Net(e) => write!(f, "network: {e}"),
            Self::Tls(TlsError::InvalidCertificate) => f.write_str(
                "tls: the gateway's certificate did not verify against the pinned platform CA \
                 (issuer, signature, validity at the current time, address or purpose)",
            ),
            Self::Tls(TlsError::Io(kind)) => write!(f, "tls: connection failed ({kind:?})"),
            Self::Tls(e) => write!(f, "tls: {e:?}"),
            Self::Protocol(e) => write!(f, "protocol: {e}"),
        }
    }
}

impl From<TlsError> for SessionError {
    fn from(e: TlsError) -> Self {
        Self::Tls(e)
    }
}

/// Runs the device until a configuration problem stops it; returns why.
pub fn run(board: &'static Board, layout: &'static AgentLayout, p: Provisioned) -> String {
    let Provisioned { bundle, mut rng, boot_unix_ms } = p;
    let mut out = console();
    let _ = writeln!(
        out,
        "identity: device {} (board {}), gateway {}{}",
        bundle.device_id,
        bundle.board,
        bundle.gateway,
        match bundle.alternates.as_deref() {
            Some(alt) if !alt.is_empty() => alloc::format!(" (then {})", alt.join(", ")),
            _ => String::new(),
        }
    );
    if bundle.board != board.name {
        return alloc::format!(
            "the identity bundle is for board {}, this firmware is for {}",
            bundle.board,
            board.name
        );
    }
    let mut gateways = alloc::vec::Vec::new();
    for g in bundle.gateways() {
        match g.parse::<SocketAddrV4>() {
            Ok(a) => gateways.push(a),
            Err(_) => return alloc::format!("gateway address {g:?} is not IPv4 host:port"),
        }
    }
    if let Err(e) = PinnedVerifier::<Aes128GcmSha256, _>::new(&bundle.ca_der, ServerName::Ipv4([0; 4]), || None) {
        return alloc::format!("the bundle's platform CA certificate is unusable ({e:?})");
    }
    let _ = writeln!(out, "entropy: CSPRNG seeded from device seed and boot seed; host time {} s", boot_unix_ms / 1000);
    match layout.link {
        Link::Lan9118 { base } => {
            // On QEMU user networking the host is the router; any other
            // address would make QEMU open real outbound connections.
            if let Some(g) = gateways.iter().find(|g| g.ip().octets() != HOST_FROM_GUEST) {
                return alloc::format!("gateway {g} is not the host's address on this network ({HOST_FROM_GUEST:?})");
            }
            // SAFETY: the board's LAN9118; only this code drives it.
            let nic = match Lan9118::new(unsafe { Mmio::new(to_usize(base)) }) {
                Ok(nic) => nic,
                Err(_) => return String::from("no LAN9118 Ethernet controller found"),
            };
            let eth = Eth::new(nic);
            let mac = eth.mac();
            let _ = writeln!(
                out,
                "network: LAN9118 MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, IP {}",
                mac[0],
                mac[1],
                mac[2],
                mac[3],
                mac[4],
                mac[5],
                core::net::Ipv4Addr::from(DEVICE_IP)
            );
            match Net::new(eth, mac, DEVICE_IP, HOST_FROM_GUEST, rng.next_u32() as u16) {
                Ok(n) => serve(board, layout, RefCell::new(n), &gateways, &bundle, rng, boot_unix_ms),
                Err(e) => alloc::format!("network: {e}"),
            }
        }
        Link::Uart(Uart::Stm32 { base, pclk_hz }) => {
            let _ = writeln!(out, "link: USART at {base:#010x}, carried to the gateway by the host");
            // SAFETY: the board's link USART; only this code drives it.
            let link = unsafe { UartLink::new(to_usize(base), pclk_hz) };
            serve(board, layout, RefCell::new(link), &gateways, &bundle, rng, boot_unix_ms)
        }
        Link::Uart(Uart::Cmsdk(_)) => String::from("a CMSDK UART link is not supported"),
    }
}

/// Sessions over `link`, forever, redialling by the devices' policy
/// ([`Reconnect`]): the gateways in order (its own first), the next soon
/// after one fails, and after a full round an exponential backoff with
/// jitter.
fn serve<L: NetLink>(
    board: &'static Board,
    layout: &AgentLayout,
    link: RefCell<L>,
    gateways: &[SocketAddrV4],
    bundle: &IdentityBundle,
    mut rng: ChaCha20Rng,
    boot_unix_ms: u64,
) -> String {
    let mut out = console();
    let heap_size = u32::try_from(HEAP.inner().used() + HEAP.inner().free()).unwrap_or(u32::MAX);
    // SAFETY: the one place the app peripherals are taken; the console and
    // the link are not among them.
    let hw = unsafe { BoardPeripherals::take(board) };
    let _ = writeln!(out, "peripherals for apps: {}", board.describe_peripherals());
    if let Some(e) = hw.adc_failed() {
        let _ = writeln!(out, "adc: did not switch on ({e}); its calls will fail");
    }
    let mut config = AgentConfig::new(&bundle.device_id, board.name).with_heap_size(heap_size);
    if let Some(budget) = board.module_budget() {
        config = config.with_budget(budget);
    }
    // Deploys are believed only as the platform's app-signing key vouches.
    let trust = match DeployTrust::from_bundle(bundle) {
        Ok(t) => t,
        Err(e) => return alloc::format!("the identity bundle's app-signing key: {e}"),
    };
    match trust.key() {
        Some(k) => {
            let id: String = k.id().iter().map(|b| alloc::format!("{b:02x}")).collect();
            let _ = writeln!(out, "deploys must be signed by app key {id} (generation {})", k.generation());
        }
        None if wasmbed_agent::VALIDATES => {
            let _ = writeln!(out, "no app-signing key in the bundle: unsigned deploys are accepted");
        }
        None => {
            let _ = writeln!(
                out,
                "no app-signing key in the bundle: modules are refused (this firmware runs only signed ones)"
            );
        }
    }
    let mut agent = Agent::new(config.with_call_deadline_ms(layout.call_deadline_ms))
        .with_peripherals(alloc::boxed::Box::new(hw))
        .with_native_loader(alloc::boxed::Box::new(wasmbed_fw_native::Loader::new(board.name)))
        .with_trusted_compiler(alloc::boxed::Box::new(crate::trusted::Unvalidated))
        .with_trust(trust)
        .with_journal(alloc::boxed::Box::new(WarmJournal), warm::last_cause())
        .with_clock(alloc::boxed::Box::new(Uptime));
    for q in agent.quarantined() {
        let why = q.reason.map(|r| r.detail).unwrap_or_default();
        let _ = writeln!(out, "crash journal: {} is Failed: {why}", q.report.app);
    }
    warm::arm(layout.watchdog);
    let mut reconnect = Reconnect::new(gateways.len(), Backoff::DEVICE);
    loop {
        let mut online = false;
        let Some(gateway) = gateways.get(reconnect.gateway()).copied() else {
            return String::from("the identity bundle names no gateway");
        };
        let result = session(layout, &link, gateway, bundle, &mut rng, boot_unix_ms, &mut agent, &mut online);
        agent.disconnected();
        if let Ok(Ended::Reboot) = result {
            // Reset only once the gateway has read the answer (it closes
            // its side after our close_notify).
            link.borrow_mut().close_after_peer(REBOOT_LINGER_MS);
            reboot();
        }
        link.borrow_mut().close();
        let delay = reconnect.ended(online, rng.next_u32());
        if let Err(e) = result {
            let _ = writeln!(out, "session ended: {e}; reconnecting in {delay} ms");
        }
        // Apps keep their schedule while offline.
        let until = now_ms() + u64::from(delay);
        while now_ms() < until {
            agent.poll(now_ms(), free_heap());
            let _ = agent.take_outgoing();
            idle();
        }
    }
}

/// Resets the board. QEMU resets in place, as a board does: RAM outside
/// `.bss` and `.data` survives ([`warm`]), the host's boot seed is the one
/// loaded at launch, and the reset count keeps the CSPRNG from repeating.
fn reboot() -> ! {
    let _ = writeln!(console(), "reboot requested over the terminal: answer sent to the gateway; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}

/// The agent's clock for per-call deadlines.
struct Uptime;

impl wasmbed_agent::Clock for Uptime {
    fn now_ms(&self) -> u64 {
        now_ms()
    }
}

fn free_heap() -> u32 {
    u32::try_from(HEAP.inner().free()).unwrap_or(u32::MAX)
}

#[allow(clippy::too_many_arguments)]
fn session<L: NetLink>(
    layout: &AgentLayout,
    net: &RefCell<L>,
    gateway: SocketAddrV4,
    bundle: &IdentityBundle,
    rng: &mut ChaCha20Rng,
    boot_unix_ms: u64,
    agent: &mut Agent,
    online: &mut bool,
) -> Result<Ended, SessionError> {
    let mut out = console();
    net.borrow_mut().connect(gateway).map_err(SessionError::Net)?;
    if matches!(layout.link, Link::Lan9118 { .. }) {
        let _ = writeln!(out, "tcp: connected to gateway {gateway}");
    }

    // Certificate validity is checked against the host's time at boot plus
    // the time since.
    let clock = move || Some((boot_unix_ms + now_ms()) / 1000);
    let verifier = PinnedVerifier::new(&bundle.ca_der, ServerName::Ipv4(gateway.ip().octets()), clock)?;
    let mut seed = [0u8; 32];
    rng.fill_bytes(&mut seed);
    let mut provider =
        DeviceProvider::new(Rng09(ChaCha20Rng::from_seed(seed)), verifier, &bundle.cert_der, &bundle.key_der)?;
    let mut rx = vec![0u8; TLS_RX];
    let mut tx = vec![0u8; TLS_TX];
    let mut tls: TlsConnection<'_, Stream<'_, L>, Aes128GcmSha256> = TlsConnection::new(Stream(net), &mut rx, &mut tx);
    let config = TlsConfig::new();
    tls.open(TlsContext::new(&config, &mut provider))?;
    provider.ensure_server_authenticated()?;
    let _ = writeln!(out, "tls: TLS 1.3 established, gateway verified against the pinned platform CA; enrolling");

    agent.connected(now_ms());
    let mut leftover = false;
    loop {
        let outgoing = agent.take_outgoing();
        if !outgoing.is_empty() {
            write_all(&mut tls, &outgoing)?;
            tls.flush()?;
        }
        if agent.reboot_requested() {
            // The answer went out with `outgoing`; a close_notify lets the
            // gateway see a clean end rather than a reset connection.
            let _ = tls.close();
            return Ok(Ended::Reboot);
        }
        let readable = leftover || net.borrow_mut().readable();
        if readable {
            let mut buf = tls.read_buffered()?;
            // Small pieces keep the agent's frame buffer from growing.
            let data = buf.pop(wasmbed_agent::RECEIVE_PIECE);
            leftover = !buf.is_empty();
            let received = agent.receive(data, now_ms());
            drop(buf);
            if let Err(e) = received {
                // The agent queued an error report: send it, then close.
                let report = agent.take_outgoing();
                let _ = write_all(&mut tls, &report).and_then(|()| tls.flush());
                return Err(SessionError::Protocol(e));
            }
        }
        agent.poll(now_ms(), free_heap());
        // Between agent calls, even when there is no time to idle.
        warm::feed();
        if !*online && agent.state() == SessionState::Online {
            *online = true;
            let _ = writeln!(out, "online: enrolled as {} (heap peak {} bytes)", bundle.device_id, HEAP.peak());
        }
        if !readable && agent.next_deadline().is_none_or(|d| d > now_ms()) {
            idle();
        }
    }
}

fn write_all<L: NetLink>(
    tls: &mut TlsConnection<'_, Stream<'_, L>, Aes128GcmSha256>,
    mut bytes: &[u8],
) -> Result<(), TlsError> {
    while !bytes.is_empty() {
        let n = tls.write(bytes)?;
        bytes = &bytes[n..];
    }
    Ok(())
}
