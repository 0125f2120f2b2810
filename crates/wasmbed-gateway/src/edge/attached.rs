//! Boards attached to this gateway over a serial link (the
//! stm32vldiscovery): the board-link listener, and each attached board's
//! liveness.
//!
//! QEMU connects a board's link UART to the listener as a TCP client, so
//! the gateway cannot tell which board dialled: it sends the challenge,
//! reads the id the board's proof claims, looks up the link key the
//! platform issued for the device of that name, and verifies the proof
//! against it (`wasmbed_attach::attach_claimed`). Then the device itself
//! must agree: it exists, is of an attached board, and the key's
//! fingerprint is the identity recorded on it (a key re-issued meanwhile is
//! refused). Every refusal is counted ([`GatewayStats::refused_boards`]) and,
//! for a device that exists, on its status as a refused enrollment is.
//!
//! An attached board is Online the way an agent device is: the gateway
//! writes its session status (connected, last heartbeat) and polls the
//! board's uptime every heartbeat interval, which is its heartbeat; a dead
//! link closes the session, and the device reconciler's rules make it
//! Unreachable. A newer link for the same board replaces the older one.
//! [`Gateway::attached_board`] hands out the link for edge components. The
//! device terminal's `status` and `uptime` for such a board are answered
//! here from its link (it runs no agent); anything else is refused, saying
//! why.
//!
//! Assumes: the listener is on the loopback, where only QEMU processes
//! connect (see `wasmbed-boardlink` on why the wire is not encrypted).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tracing::{debug, info, warn};
use wasmbed_attach::{AttachError, BoardLink, LinkConfig, LinkError, OwnedResponse, Request};
use wasmbed_boardlink::{BoardId, BoardKey};
use wasmbed_model::{DeviceStatusPatch, RefusedIdentity, SessionStatus};
use wasmbed_pki::Pki;

use crate::{CommandError, CommandLine, CommandOutcome, CommandReply, Gateway};

/// Links being authenticated at once; more connections wait in the
/// kernel's backlog (each board's QEMU redials anyway).
const MAX_PENDING: usize = 16;

/// How long a board has to answer the challenge: QEMU connects before the
/// firmware has booted, and a board under load takes a while.
const HELLO_DEADLINE: Duration = Duration::from_secs(10);

/// Written as the firmware version of an attached board's session.
const FIRMWARE: &str = "attached board (boardlink v1)";

/// The boards attached now, by device name.
#[derive(Debug, Default)]
pub(crate) struct Attached {
    boards: Mutex<HashMap<String, Entry>>,
    next: AtomicU64,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    link: BoardLink,
    /// Tells the board's liveness task that a newer link replaced it.
    replaced: watch::Sender<bool>,
}

impl Attached {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.boards.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `link` for `device`, replacing (and stopping) any older one.
    fn register(&self, device: &str, link: BoardLink) -> (u64, watch::Receiver<bool>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (replaced, rx) = watch::channel(false);
        if let Some(old) = self.lock().insert(device.to_owned(), Entry { id, link, replaced }) {
            info!(device, "a new board link replaces the previous one");
            let _ = old.replaced.send(true);
        }
        (id, rx)
    }

    /// Removes `device`'s link if it is still link `id`; true if it was.
    fn unregister(&self, device: &str, id: u64) -> bool {
        let mut boards = self.lock();
        if boards.get(device).is_some_and(|e| e.id == id) {
            boards.remove(device);
            true
        } else {
            false
        }
    }
}

/// Why a board was not attached, in the terms a refusal is recorded with.
fn refusal_reason(e: &AttachError) -> &'static str {
    match e {
        AttachError::BadProof => "the board does not hold the device's current link key",
        AttachError::UnknownBoard(_) => "no device of an attached board has this name",
        AttachError::WrongBoard => "the board answered as another board",
        _ => "the board did not complete the challenge",
    }
}

/// The link key issued for the device a board claims to be, if any (a name
/// that is no device id has none). Errors reading it are logged, never the key.
fn key_for(pki: &Pki, id: &BoardId) -> Option<BoardKey> {
    let name = std::str::from_utf8(id.as_bytes()).ok()?;
    match pki.link_key(name) {
        Ok(key) => key.map(|k| BoardKey::new(*k.bytes())),
        Err(wasmbed_pki::PkiError::InvalidDeviceId(_)) => None,
        Err(e) => {
            warn!(device = name, "cannot read the link key: {e}");
            None
        }
    }
}

impl Gateway {
    /// Accepts attached boards' links on `listener` until `shutdown` turns
    /// true (or the gateway is killed); their keys come from `pki`, where
    /// the platform issued them.
    pub async fn serve_boards(
        self: Arc<Self>,
        listener: TcpListener,
        pki: Arc<Pki>,
        mut shutdown: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        let addr = listener.local_addr()?;
        let pending = Arc::new(Semaphore::new(MAX_PENDING));
        let mut killed = self.kill_signal();
        info!(%addr, gateway = %self.cfg.name, "board-link listener up");
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(x) => x,
                        Err(e) => {
                            warn!("board link: accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let Ok(permit) = pending.clone().acquire_owned().await else { return Ok(()) };
                    let _ = tcp.set_nodelay(true);
                    let (gw, pki, stop) = (self.clone(), pki.clone(), shutdown.clone());
                    tokio::spawn(async move {
                        let attached = gw.attach_one(tcp, peer, &pki).await;
                        drop(permit);
                        if let Some((device, link)) = attached {
                            gw.keep_alive(device, link, stop).await;
                        }
                    });
                }
                // Each board's liveness task sees the same signals and
                // closes its session.
                _ = shutdown.changed() => return Ok(()),
                _ = killed.changed() => return Ok(()),
            }
        }
    }

    /// The link to the board of `device`, if it is attached to this gateway
    /// now (clones share it: calls are serialized on the link).
    pub fn attached_board(&self, device: &str) -> Option<BoardLink> {
        self.attached.lock().get(device).map(|e| e.link.clone()).filter(|l| !l.is_closed())
    }

    /// Names of the devices whose boards are attached to this gateway now.
    pub fn attached_boards(&self) -> Vec<String> {
        let mut names: Vec<String> = self.attached.lock().keys().cloned().collect();
        names.sort();
        names
    }

    /// Answers a terminal command for the board of `device` from its link,
    /// or `None` when no such board is attached to this gateway.
    pub(crate) async fn board_command(
        &self,
        device: &str,
        command: &CommandLine,
    ) -> Option<Result<CommandReply, CommandError>> {
        let link = self.attached_board(device)?;
        let started = std::time::Instant::now();
        let (outcome, output) = match (command.name(), command.args()) {
            (name @ ("status" | "uptime"), []) => match link.call(Request::Uptime).await {
                Ok(OwnedResponse::Uptime { ms }) if name == "uptime" => {
                    (CommandOutcome::Ok, format!("uptime_ms: {ms}"))
                }
                Ok(OwnedResponse::Uptime { ms }) => {
                    let s = link.stats();
                    let status = format!(
                        "attached board over its serial link to gateway {}
uptime_ms: {ms}
runtime: none                          (its apps run as edge components on its gateway)
link: {} bad frames, {} stale, {}                          timeouts",
                        self.cfg.name, s.bad_frames, s.stale, s.timeouts
                    );
                    (CommandOutcome::Ok, status)
                }
                Ok(other) => (CommandOutcome::Failed, format!("the board answered out of turn: {other:?}")),
                Err(e) => (CommandOutcome::Failed, e.to_string()),
            },
            (name, _) => (
                CommandOutcome::Refused,
                format!(
                    "{name:?}: an attached board answers `status` and `uptime`; it runs no WebAssembly runtime \
                     (its apps run as edge components on gateway {})",
                    self.cfg.name
                ),
            ),
        };
        Some(Ok(CommandReply { outcome, output, elapsed: started.elapsed() }))
    }

    /// Authenticates one link; the device and its link when it is a board
    /// the platform provisioned, with its current key.
    async fn attach_one(&self, tcp: TcpStream, peer: SocketAddr, pki: &Pki) -> Option<(String, BoardLink)> {
        let heartbeat = Duration::from_millis(u64::from(self.cfg.heartbeat_ms.max(1)));
        let config = LinkConfig::default().with_hello_deadline(HELLO_DEADLINE).with_call_deadline(heartbeat);
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let mut claimed: Option<BoardId> = None;
        let keys = |id: &BoardId| {
            claimed = Some(*id);
            key_for(pki, id)
        };
        let attached = wasmbed_attach::attach_claimed(tcp, keys, &mut rng, config).await;
        let name = claimed.and_then(|id| std::str::from_utf8(id.as_bytes()).ok().map(str::to_owned));
        let (link, _events) = match attached {
            Ok(x) => x,
            Err(e @ (AttachError::Timeout(_) | AttachError::Disconnected | AttachError::Io(_))) if name.is_none() => {
                // Nothing claimed: a board still booting, or QEMU gone.
                debug!(%peer, "board link closed before the board answered: {e}");
                return None;
            }
            Err(e) => {
                self.refuse_board(name.as_deref(), peer, refusal_reason(&e), &e.to_string()).await;
                return None;
            }
        };
        let name = name?;
        // The key verified is the one the PKI holds; the Device must record
        // it too (re-issued meanwhile, or a device of another board: no).
        let device = match self.store.get_device(&name).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                self.refuse_board(None, peer, "no such device", &format!("device {name:?} does not exist")).await;
                return None;
            }
            Err(e) => {
                warn!(device = %name, "board link: cannot read the device: {e}");
                return None;
            }
        };
        let attached_board = wasmbed_model::board(&device.spec.board).is_some_and(|b| b.attached().is_some());
        let current = pki.link_key(&name).ok().flatten().map(|k| k.fingerprint().to_string());
        let recorded = current.is_some_and(|f| device.spec.identity.as_ref().is_some_and(|r| r.accepts(&f)));
        if !attached_board || !recorded {
            let why = if attached_board {
                "the link key is not the one recorded on the device"
            } else {
                "the device is not of an attached board"
            };
            self.refuse_board(Some(&name), peer, why, why).await;
            return None;
        }
        Some((name, link))
    }

    /// Counts a refused board link, and records it on the device it claimed
    /// to be (if that exists), as a refused enrollment is.
    async fn refuse_board(&self, device: Option<&str>, peer: SocketAddr, why: &str, detail: &str) {
        self.stats.refused_boards.fetch_add(1, Ordering::Relaxed);
        let log = self.refusal_log.admit(std::time::Instant::now());
        if let Some(held_back) = log {
            let device = device.unwrap_or("-");
            warn!(device, %peer, held_back, "board link refused: {why} ({detail})");
        }
        let Some(name) = device else { return };
        let Ok(Some(d)) = self.store.get_device(name).await else { return };
        // No certificate: the refused attempt is named by what it lacked.
        let r = RefusedIdentity::next(
            d.status.refused.as_ref(),
            (self.clock)(),
            "board link key",
            &peer.to_string(),
            &self.cfg.name,
        );
        if let Err(e) = self.store.patch_device_status(name, DeviceStatusPatch::Refused(r)).await {
            debug!(device = name, "cannot record a refused board link: {e}");
        }
    }

    /// Holds `device`'s board attached: Online while its uptime answers
    /// every heartbeat interval; the session closes when the link dies, a
    /// newer link replaces it, or the gateway stops.
    async fn keep_alive(&self, device: String, link: BoardLink, mut stop: watch::Receiver<bool>) {
        let (id, mut replaced) = self.attached.register(&device, link.clone());
        let mut killed = self.kill_signal();
        info!(device, gateway = %self.cfg.name, "board attached");
        let every = Duration::from_millis(u64::from(self.cfg.heartbeat_ms.max(1)));
        let mut status = SessionStatus {
            connected: true,
            gateway: Some(self.cfg.name.clone()),
            heartbeat_ms: Some(self.cfg.heartbeat_ms),
            firmware_version: Some(FIRMWARE.into()),
            ..SessionStatus::default()
        };
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let why = loop {
            tokio::select! {
                _ = tick.tick() => {}
                // Unplugged (QEMU gone): closed at once, not at the next beat.
                () = link.closed() => break Some("the board link closed: the board was unplugged or stopped".to_string()),
                _ = replaced.changed() => break None,
                _ = stop.changed() => break Some("the gateway stopped".to_string()),
                _ = killed.changed() => return,
            }
            match link.call(Request::Uptime).await {
                Ok(OwnedResponse::Uptime { ms }) => {
                    self.stats.heartbeats.fetch_add(1, Ordering::Relaxed);
                    status.last_heartbeat_ms = Some((self.clock)());
                    status.uptime_ms = Some(ms);
                    status.connected = true;
                    self.write_session(&device, &status).await;
                }
                // A missed beat: the liveness window decides.
                Ok(_) | Err(LinkError::Timeout(_) | LinkError::Refused(_) | LinkError::Protocol(_)) => {}
                Err(e) => break Some(e.to_string()),
            }
        };
        // Replaced: the newer link owns the session status now.
        if self.attached.unregister(&device, id)
            && let Some(why) = why
        {
            info!(device, "board link closed: {why}");
            status.connected = false;
            status.last_error = Some(why);
            self.write_session(&device, &status).await;
        }
    }

    async fn write_session(&self, device: &str, status: &SessionStatus) {
        if let Err(e) = self.store.patch_device_status(device, DeviceStatusPatch::Session(status.clone())).await {
            debug!(device, "cannot write the board's session status: {e}");
        }
    }
}
