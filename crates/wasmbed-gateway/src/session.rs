//! One device's session: enrollment, heartbeats, app sync, logs.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until, timeout};

use crate::admission::Watched;
use tracing::{debug, info, warn};
use wasmbed_model::{
    AppObservation, DesiredApp, Device, DeviceStatusPatch, Gauge, LogLine, RefusedIdentity, SessionStatus,
    TelemetrySample,
};
use wasmbed_protocol::{
    AppRef, AppReport, AppState, DeployBegin, DeviceMsg, ErrorCode, ErrorReport, FrameReader, GatewayMsg,
    MAX_DEVICE_APPS, MAX_VERSION_LEN, TelemetryBatch, Welcome, decode_device_msg, valid_app_name, valid_metric_name,
};

use crate::Gateway;
use crate::admission::Ticket;
use crate::outbox::{Outbox, WriteError};
use crate::refusals::refusal;
use crate::sync::{Action, Pending, Room, deploy_key, digest_of, plan};
use crate::terminal::{Answer, Inbox};
use crate::tls::DeviceTls;

/// Metrics of one app kept in a device's status (the series themselves
/// are bounded by the telemetry book).
const MAX_METRICS_PER_APP: usize = 16;

/// Longest failure reason from a device kept in its status (bytes).
const MAX_REASON_LEN: usize = 256;

/// How a session ended.
#[derive(Debug)]
enum End {
    /// The device closed the connection or the transport failed.
    Closed(String),
    /// The device took no bytes of a write for the write timeout.
    Stalled,
    /// A newer session for the same device took over.
    Replaced,
    /// The device was deleted: its identity is no longer accepted.
    Deleted,
    /// The device's identity was re-issued: this certificate is no longer accepted.
    Reissued,
    /// The gateway is stopping.
    Shutdown,
    /// No heartbeat within the liveness window.
    Silent,
    /// The device broke the protocol (or reported an error).
    Protocol(ErrorCode, String),
    /// The gateway was killed: drop everything, say nothing.
    Killed,
}

/// Serves one connection: its TLS handshake under `ticket` (a handshake
/// slot), then, authenticated, its session under a session slot.
pub(crate) async fn serve(
    gw: Arc<Gateway>,
    tcp: TcpStream,
    peer: SocketAddr,
    ticket: Ticket,
    mut shutdown: watch::Receiver<bool>,
) {
    // Every idle session holds its task, whose future is as large as its
    // largest state: the handshake is boxed, so its state is freed once
    // done, and the session comes out of it whole, so that the future holds
    // one copy of the connection (a local moved into the session would
    // keep its room in the future until the end of its scope).
    let Some((mut s, permit)) = Box::pin(authenticate(gw, tcp, peer, ticket, &mut shutdown)).await else { return };
    s.run(shutdown).await;
    drop(permit);
}

/// The TLS handshake, the device's identity and a session slot.
async fn authenticate(
    gw: Arc<Gateway>,
    tcp: TcpStream,
    peer: SocketAddr,
    mut ticket: Ticket,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<(Session, tokio::sync::OwnedSemaphorePermit)> {
    // Failures are summed up in one line per interval (`turned`): an idle
    // flood must not flood the log too.
    let stream = tokio::select! {
        accepted = timeout(gw.cfg.handshake_timeout, DeviceTls::accept(gw.tls.clone(), ticket.watch(tcp))) => match accepted {
            Ok(Ok(mut s)) => {
                s.get_mut().unwatch();
                s
            }
            Ok(Err(e)) => {
                gw.stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                gw.turned.tls_failed(format!("{peer}: {e}"));
                debug!(%peer, "TLS handshake refused: {e}");
                return None;
            }
            Err(_) => {
                gw.stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                gw.stats.handshake_timeouts.fetch_add(1, Ordering::Relaxed);
                gw.turned.count(crate::turned::Why::TimedOut);
                debug!(%peer, "TLS handshake timed out");
                return None;
            }
        },
        // Counted by the accept loop, which evicted it.
        () = ticket.evicted() => {
            debug!(%peer, "stale handshake evicted for a newer connection");
            return None;
        }
        _ = shutdown.changed() => return None,
    };
    // rustls keeps the certificate; no copy of it lives with the session.
    let cert = stream.peer_certificates().and_then(|c| c.first());
    let fingerprint = wasmbed_pki::Fingerprint::of(cert.map_or(&[][..], |c| c.as_ref()));
    let device = match cert.map(|c| wasmbed_pki::device_id_from_cert(c)) {
        Some(Ok(id)) => id,
        Some(Err(e)) => {
            warn!(%peer, "client certificate carries no usable device id: {e}");
            return None;
        }
        None => {
            warn!(%peer, "no client certificate");
            return None;
        }
    };
    // Authenticated: from here on the connection holds a session slot.
    drop(ticket);
    let Ok(permit) = gw.permits.clone().try_acquire_owned() else {
        gw.stats.refused_over_cap.fetch_add(1, Ordering::Relaxed);
        gw.turned.count(crate::turned::Why::OverSessionCap);
        debug!(%peer, device, max = gw.cfg.max_sessions, "session cap reached; connection refused");
        let mut stream = stream;
        let _ = timeout(std::time::Duration::from_secs(1), stream.shutdown()).await;
        return None;
    };
    let s = Session {
        gw: gw.clone(),
        device,
        peer,
        stream,
        reader: FrameReader::new(gw.cfg.max_frame_len),
        out: Outbox::default(),
        reported: BTreeMap::new(),
        reasons: BTreeMap::new(),
        pending: Pending::new(gw.cfg.deploy_retry),
        desired: Vec::new(),
        status: SessionStatus::default(),
        last_heartbeat: Instant::now(),
        commands: Arc::default(),
        metrics: BTreeMap::new(),
        dropped: 0,
        fingerprint,
        announced: 0,
    };
    Some((s, permit))
}

struct Session {
    gw: Arc<Gateway>,
    device: String,
    peer: SocketAddr,
    stream: DeviceTls<Watched<TcpStream>>,
    reader: FrameReader,
    out: Outbox,
    reported: BTreeMap<String, AppReport>,
    /// Why an app last failed, from its AppStatus.
    reasons: BTreeMap<String, String>,
    pending: Pending,
    desired: Vec<DesiredApp>,
    status: SessionStatus,
    last_heartbeat: Instant,
    /// Terminal commands to send and answers awaited.
    commands: Arc<Inbox>,
    /// The latest value of each metric, per slot, with the revision that
    /// published them (written with the status).
    metrics: BTreeMap<String, (Option<u64>, BTreeMap<String, Gauge>)>,
    /// App entries from this device not kept (see [`Session::keep_apps`]).
    dropped: u64,
    /// The certificate this session authenticated with.
    fingerprint: wasmbed_pki::Fingerprint,
    /// App-signing key announcements sent so far (of the gateway's chain).
    announced: usize,
}

/// A session registered with the gateway (see [`Session::enroll`]).
struct Registered {
    id: u64,
    resync: Arc<tokio::sync::Notify>,
    replaced: watch::Receiver<bool>,
    /// The first writes (welcome, sync) reached the device.
    flushed: bool,
}

impl Session {
    async fn run(&mut self, mut shutdown: watch::Receiver<bool>) {
        // Enrolling and ending are boxed: what they hold (the device record,
        // the Enroll message, store calls) would otherwise size the future
        // of every idle session's task.
        let Some(mut reg) = Box::pin(self.enroll()).await else { return };
        let end = if reg.flushed {
            self.serve_loop(&reg.resync, &mut reg.replaced, &mut shutdown).await
        } else {
            End::Closed("write failed".into())
        };
        Box::pin(self.end(end, reg.id)).await;
    }

    /// Reads Enroll and checks it, registers the session and sends the
    /// first messages; `None` once the connection was refused or closed.
    async fn enroll(&mut self) -> Option<Registered> {
        let enroll = match timeout(self.gw.cfg.handshake_timeout, self.next_msgs()).await {
            Ok(Ok(mut msgs)) if !msgs.is_empty() => msgs.remove(0),
            Ok(Ok(_)) | Err(_) => {
                warn!(device = %self.device, peer = %self.peer, "no Enroll within the handshake timeout");
                self.close().await;
                return None;
            }
            Ok(Err(End::Protocol(code, detail))) => {
                self.refuse(code, detail).await;
                return None;
            }
            Ok(Err(e)) => {
                debug!(device = %self.device, "closed before enrolling: {e:?}");
                return None;
            }
        };
        let DeviceMsg::Enroll(enroll) = enroll else {
            self.refuse(ErrorCode::UnexpectedMessage, "the first message must be Enroll".into()).await;
            return None;
        };
        if enroll.device_id != self.device {
            let detail = format!("enrolled as {:?} with a certificate for {:?}", enroll.device_id, self.device);
            self.refuse(ErrorCode::IdentityMismatch, detail).await;
            return None;
        }
        let device = match self.gw.store.get_device(&self.device).await {
            Ok(Some(d)) => d,
            Ok(None) => {
                let detail = format!("no device named {:?} (deleted?)", self.device);
                self.refuse_identity(None, ErrorCode::IdentityMismatch, detail).await;
                return None;
            }
            Err(e) => {
                warn!(device = %self.device, "store unavailable: {e}");
                self.close().await;
                return None;
            }
        };
        // Before registering: an old certificate must not replace the live
        // session of the device that holds the current one.
        if let Some(why) = refusal(device.spec.identity.as_ref(), &self.fingerprint) {
            self.refuse_identity(Some(&device), ErrorCode::Revoked, why.into()).await;
            return None;
        }
        let (id, resync, replaced) = self.gw.register(&self.device, self.commands.clone());
        self.gw.stats.enrollments.fetch_add(1, Ordering::Relaxed);
        let kind = if enroll.simulated { "simulated device" } else { "device" };
        info!(device = %self.device, peer = %self.peer, board = %enroll.board, "{kind} enrolled");
        self.reported = self.keep_apps(enroll.apps);
        self.status = SessionStatus {
            connected: true,
            simulated: enroll.simulated,
            gateway: Some(self.gw.cfg.name.clone()),
            last_heartbeat_ms: Some((self.gw.clock)()),
            heartbeat_ms: Some(self.gw.cfg.heartbeat_ms),
            firmware_version: Some(enroll.firmware_version),
            ..device.status.session.clone()
        };
        self.desired = wasmbed_control::desired_apps(&device, &self.gw.applications());
        let now_ms = (self.gw.clock)();
        let welcome =
            Welcome { heartbeat_ms: self.gw.cfg.heartbeat_ms, unix_time_s: now_ms / 1000, unix_time_ms: Some(now_ms) };
        self.queue(&GatewayMsg::Welcome(welcome));
        self.sync().await;
        let flushed = self.flush().await.is_ok();
        if flushed {
            self.write_status().await;
        }
        Some(Registered { id, resync, replaced, flushed })
    }

    /// Unregisters the session, tells the device why it ended and records
    /// it on the device's status.
    async fn end(&mut self, end: End, session_id: u64) {
        if matches!(end, End::Killed) {
            self.gw.unregister(&self.device, session_id);
            self.commands.close();
            return;
        }
        let current = self.gw.unregister(&self.device, session_id);
        self.commands.close();
        match &end {
            End::Replaced => {
                self.queue(&GatewayMsg::Error(ErrorReport {
                    code: ErrorCode::Replaced,
                    detail: "a newer session for this device replaced this one".into(),
                }));
                let _ = self.flush().await;
            }
            End::Protocol(code, detail) => {
                self.gw.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
                warn!(device = %self.device, "protocol error, session ended: {}: {detail}", code.as_str());
                self.queue(&GatewayMsg::Error(ErrorReport { code: *code, detail: detail.clone() }));
                let _ = self.flush().await;
                self.status.last_error = Some(format!("protocol error: {}: {detail}", code.as_str()));
            }
            End::Deleted => {
                info!(device = %self.device, "device deleted; its session ends");
                self.queue(&GatewayMsg::Error(ErrorReport {
                    code: ErrorCode::Revoked,
                    detail: "this device was deleted; its identity is no longer accepted".into(),
                }));
                let _ = self.flush().await;
            }
            End::Reissued => {
                info!(device = %self.device, "device identity re-issued; the session of the previous one ends");
                self.queue(&GatewayMsg::Error(ErrorReport {
                    code: ErrorCode::Revoked,
                    detail: "this device's identity was re-issued; this certificate is no longer accepted".into(),
                }));
                let _ = self.flush().await;
            }
            End::Silent => info!(device = %self.device, "no heartbeat within the liveness window; session ended"),
            End::Stalled => warn!(
                device = %self.device,
                timeout = ?self.gw.cfg.write_timeout,
                "the device stopped reading; session ended"
            ),
            End::Closed(why) => info!(device = %self.device, "session closed: {why}"),
            End::Shutdown | End::Killed => {}
        }
        if current && !matches!(end, End::Deleted) {
            self.status.connected = false;
            // Another gateway may hold the device already (it failed over):
            // its session is not ours to close.
            let moved = match self.gw.store.get_device(&self.device).await {
                Ok(Some(d)) => d.status.session.gateway.as_deref() != Some(self.gw.cfg.name.as_str()),
                _ => false,
            };
            if !moved {
                self.write_status().await;
            }
        }
        self.close().await;
    }

    async fn serve_loop(
        &mut self,
        resync: &tokio::sync::Notify,
        replaced: &mut watch::Receiver<bool>,
        shutdown: &mut watch::Receiver<bool>,
    ) -> End {
        let window = self.gw.cfg.liveness_window();
        let commands = self.commands.clone();
        let mut killed = self.gw.kill_signal();
        loop {
            let deadline = self.last_heartbeat + window;
            tokio::select! {
                msgs = self.next_msgs() => {
                    let msgs = match msgs {
                        Ok(m) => m,
                        Err(end) => return end,
                    };
                    // Boxed (as below): what handling a message, a resync or a
                    // write holds lives only while it runs, not in the idle
                    // session's future.
                    for msg in msgs {
                        if let Err(end) = Box::pin(self.handle(msg)).await {
                            return end;
                        }
                    }
                }
                () = resync.notified() => {
                    if let Err(end) = Box::pin(self.resync()).await {
                        return end;
                    }
                }
                () = commands.ready() => {
                    for msg in self.commands.take() {
                        self.queue(&msg);
                    }
                }
                _ = replaced.changed() => return End::Replaced,
                _ = shutdown.changed() => return End::Shutdown,
                _ = killed.changed() => return End::Killed,
                () = sleep_until(deadline) => return End::Silent,
            }
            match Box::pin(self.flush()).await {
                Ok(()) => {}
                Err(WriteError::Stalled(_)) => return End::Stalled,
                Err(e) => return End::Closed(e.to_string()),
            }
        }
    }

    /// Reads the device record again (the device or the applications
    /// changed) and sends what its apps now lack.
    async fn resync(&mut self) -> Result<(), End> {
        match self.gw.store.get_device(&self.device).await {
            // Re-issued: the previous certificate's session ends now too.
            Ok(Some(d)) if refusal(d.spec.identity.as_ref(), &self.fingerprint).is_some() => {
                return Err(End::Reissued);
            }
            Ok(Some(d)) => self.desired = wasmbed_control::desired_apps(&d, &self.gw.applications()),
            // Deleted: its session ends now, not at its next reconnect.
            Ok(None) => return Err(End::Deleted),
            Err(e) => debug!(device = %self.device, "store unavailable on resync: {e}"),
        }
        self.sync().await;
        Ok(())
    }

    /// Reads until at least one whole message has arrived.
    async fn next_msgs(&mut self) -> Result<Vec<DeviceMsg>, End> {
        loop {
            let mut msgs = Vec::new();
            loop {
                match self.reader.next_frame() {
                    Ok(Some(p)) => match decode_device_msg(&p) {
                        Ok(m) => msgs.push(m),
                        Err(e) => return Err(End::Protocol(ErrorCode::Malformed, e.to_string())),
                    },
                    Ok(None) => break,
                    Err(e) => return Err(frame_end(e)),
                }
            }
            if !msgs.is_empty() {
                return Ok(msgs);
            }
            std::future::poll_fn(|cx| self.poll_receive(cx)).await?;
        }
    }

    /// Reads what the device sent into the frame reader. The bytes pass
    /// through a buffer on the stack of this poll: one in the future of
    /// `next_msgs` would be held by every idle session.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), End>> {
        let mut buf = [0u8; 1024];
        let mut filled = ReadBuf::new(&mut buf);
        match Pin::new(&mut self.stream).poll_read(cx, &mut filled) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Err(End::Closed(e.to_string()))),
            Poll::Ready(Ok(())) if filled.filled().is_empty() => {
                Poll::Ready(Err(End::Closed("connection closed by the device".into())))
            }
            Poll::Ready(Ok(())) => Poll::Ready(self.reader.push(filled.filled()).map_err(frame_end)),
        }
    }

    async fn handle(&mut self, msg: DeviceMsg) -> Result<(), End> {
        match msg {
            DeviceMsg::Enroll(_) => {
                return Err(End::Protocol(ErrorCode::UnexpectedMessage, "Enroll during a session".into()));
            }
            DeviceMsg::Heartbeat(hb) => {
                self.gw.stats.heartbeats.fetch_add(1, Ordering::Relaxed);
                self.last_heartbeat = Instant::now();
                self.reported = self.keep_apps(hb.apps);
                // What the device no longer reports is not kept either.
                self.reasons.retain(|app, _| self.reported.contains_key(app));
                self.metrics.retain(|app, _| self.reported.contains_key(app));
                self.settle_pending();
                self.status.last_heartbeat_ms = Some((self.gw.clock)());
                self.status.uptime_ms = Some(hb.uptime_ms);
                self.status.free_memory = Some(hb.free_memory);
                self.status.connected = true;
                self.write_status().await;
                self.sync().await;
            }
            DeviceMsg::AppStatus(st) => {
                let name = st.report.app.clone();
                let known = self.reported.contains_key(&name);
                if !acceptable(&st.report) || (!known && self.reported.len() >= MAX_DEVICE_APPS) {
                    self.drop_apps(1, "an app status");
                    return Ok(());
                }
                match st.reason {
                    Some(r) => {
                        let why = clip(format!("{}: {}", r.code.as_str(), r.detail));
                        info!(device = %self.device, app = %name, "app failed: {why}");
                        self.reasons.insert(name.clone(), why);
                    }
                    None => {
                        self.reasons.remove(&name);
                    }
                }
                self.reported.insert(name, st.report);
                self.settle_pending();
                self.write_status().await;
            }
            DeviceMsg::AppLog(l) => self.gw.logs.push(LogLine {
                device: self.device.clone(),
                app: l.app,
                uptime_ms: l.uptime_ms,
                received_ms: (self.gw.clock)(),
                line: l.line,
            }),
            DeviceMsg::DeployRejected(mut r) => {
                // Only a deploy this session sent can be refused.
                if !self.pending.deploying.contains_key(&r.app) {
                    self.drop_apps(1, "a refusal of a deploy not sent");
                    return Ok(());
                }
                r.reason.detail = clip(std::mem::take(&mut r.reason.detail));
                r.version = clip(std::mem::take(&mut r.version));
                let (room, now) = (self.room(), (self.gw.clock)());
                let refusal = self.pending.refused(&r.app, &r.reason, room, now, jitter());
                let why = refusal.reason();
                match refusal.retry {
                    Some(retry) => info!(
                        device = %self.device, app = %r.app, version = %r.version, refusals = retry.refusals,
                        "deploy refused for lack of room: {why}"
                    ),
                    None => warn!(device = %self.device, app = %r.app, version = %r.version, "deploy rejected: {why}"),
                }
                self.status.last_error = Some(format!("deploy of {} {} rejected: {why}", r.app, r.version));
                self.write_status().await;
            }
            DeviceMsg::Error(e) => return Err(End::Protocol(e.code, format!("device reported: {}", e.detail))),
            DeviceMsg::CommandResult(r) => {
                let id = r.id;
                if !self.commands.finish(Answer::Command(r)) {
                    info!(device = %self.device, id, "answer to a command nobody waits for (timed out?); ignored");
                }
            }
            DeviceMsg::MessageResult(r) => {
                let id = r.id;
                if !self.commands.finish(Answer::Message(r)) {
                    info!(device = %self.device, id, "answer to a message nobody waits for (timed out?); ignored");
                }
            }
            DeviceMsg::Telemetry(batch) => self.telemetry(batch),
        }
        Ok(())
    }

    /// Dates a batch's samples by the device's clock and records them.
    /// Samples with a name the platform does not accept are dropped (the
    /// agent checks names too; this is a device we do not trust).
    fn telemetry(&mut self, batch: TelemetryBatch) {
        let received = (self.gw.clock)();
        // The device's wall clock came from this gateway; without one, the
        // time of arrival. A batch dated in the future is dated now.
        let sent = batch.unix_ms.filter(|t| *t <= received.saturating_add(5_000)).unwrap_or(received);
        self.gw.telemetry.dropped_by_device(batch.dropped);
        if !valid_app_name(&batch.app) {
            return self.drop_apps(1, "telemetry");
        }
        if !self.metrics.contains_key(&batch.app) && self.metrics.len() >= MAX_DEVICE_APPS {
            return self.drop_apps(1, "telemetry");
        }
        let (revision, latest) = self.metrics.entry(batch.app.clone()).or_default();
        if *revision != batch.revision {
            // A new revision in the slot: its values start afresh.
            *revision = batch.revision;
            latest.clear();
        }
        let samples: Vec<TelemetrySample> = batch
            .samples
            .into_iter()
            .filter(|s| valid_metric_name(&s.metric) && s.value.is_finite())
            .map(|s| {
                latest.insert(s.metric.clone(), Gauge(s.value));
                TelemetrySample {
                    device: self.device.clone(),
                    app: batch.app.clone(),
                    revision: batch.revision,
                    t_ms: sent.saturating_sub(batch.uptime_ms.saturating_sub(s.uptime_ms)),
                    metric: s.metric,
                    value: s.value,
                }
            })
            .collect();
        if latest.len() > MAX_METRICS_PER_APP {
            // Keep the status small whatever an app names.
            let keep: Vec<String> = latest.keys().take(MAX_METRICS_PER_APP).cloned().collect();
            latest.retain(|k, _| keep.contains(k));
        }
        self.gw.telemetry.record(samples);
    }

    /// The app entries of a report worth keeping: valid names and versions,
    /// each once, at most [`MAX_DEVICE_APPS`] (the first ones). The rest is
    /// counted and dropped: the device is not trusted to bound itself.
    fn keep_apps(&mut self, apps: Vec<AppReport>) -> BTreeMap<String, AppReport> {
        let given = apps.len();
        let mut kept = BTreeMap::new();
        for a in apps.into_iter().filter(acceptable) {
            if kept.len() < MAX_DEVICE_APPS && !kept.contains_key(&a.app) {
                kept.insert(a.app.clone(), a);
            }
        }
        self.drop_apps((given - kept.len()) as u64, "a report");
        kept
    }

    /// Counts `n` app entries from the device not kept, warning once per session.
    fn drop_apps(&mut self, n: u64, what: &str) {
        if n == 0 {
            return;
        }
        self.gw.stats.app_entries_dropped.fetch_add(n, Ordering::Relaxed);
        if self.dropped == 0 {
            warn!(
                device = %self.device,
                "dropped {n} app entries from {what}: invalid, or past {MAX_DEVICE_APPS} apps (further drops are only counted)"
            );
        }
        self.dropped = self.dropped.saturating_add(n);
    }

    /// Forgets requests the device has visibly carried out.
    fn settle_pending(&mut self) {
        self.pending.settle(&self.reported);
    }

    /// Remembers an ask about `slot`, settled when its state changes.
    fn ask(&mut self, slot: String) {
        let was = self.reported.get(&slot).map_or(AppState::Installing, |r| r.state);
        self.pending.asked.insert(slot, was);
    }

    /// The room the device's last reports show.
    fn room(&self) -> Room {
        Room::of(&self.reported, self.status.free_memory)
    }

    async fn sync(&mut self) {
        // Before any deploy: a device pinning an older app-signing key
        // moves along the chain to the key deploys are signed with now.
        let fresh: Vec<_> = self
            .gw
            .cfg
            .trust_chain
            .read()
            .map(|c| c.iter().skip(self.announced).cloned().collect())
            .unwrap_or_default();
        for announcement in fresh {
            self.announced += 1;
            self.queue(&GatewayMsg::TrustKey(announcement));
        }
        let now = (self.gw.clock)();
        for action in plan(&self.desired, &self.reported, &self.pending, self.room(), now) {
            match action {
                Action::Deploy(d) => self.deploy(*d).await,
                Action::Start(app) => {
                    self.queue(&GatewayMsg::Start(AppRef { app: app.clone() }));
                    self.ask(app);
                }
                Action::Stop(app) => {
                    self.queue(&GatewayMsg::Stop(AppRef { app: app.clone() }));
                    self.ask(app);
                }
                Action::Remove(app) => {
                    debug!(device = %self.device, %app, "removing app");
                    self.queue(&GatewayMsg::Remove(AppRef { app: app.clone() }));
                    self.ask(app);
                }
            }
        }
        self.pending.forget_unwanted(&self.desired);
    }

    async fn deploy(&mut self, d: DesiredApp) {
        // The bytes sent: the module, or the native code for this
        // device's board that the signed manifest names.
        let shipped = d.shipped_digest();
        let Some(bytes) = self.gw.module(shipped).await else {
            let what = if d.native.is_some() { "native code" } else { "module" };
            warn!(device = %self.device, app = %d.slot, "{what} {shipped} is not in the store");
            self.status.last_error = Some(format!("{what} {shipped} for {} is missing from the store", d.slot));
            return;
        };
        let (app, caps) = (&d.app, &d.capabilities);
        let Some(manifest) =
            wasmbed_model::deploy_manifest(app, d.revision, &d.version, &d.digest, d.size, caps, d.limits, &d.config)
        else {
            return;
        };
        debug!(device = %self.device, slot = %d.slot, version = %d.version, bytes = bytes.len(), native = d.native.is_some(), "deploying");
        // The device holds the deploy to the signed manifest, which the
        // control plane made from the same facts by the same rule; a
        // revision not (yet) signed goes out unsigned and devices that pin
        // a key refuse it until it is.
        let signed = d.manifest.as_deref().and_then(wasmbed_model::envelope);
        let mut begin = DeployBegin::for_manifest(d.slot.clone(), &manifest, d.run, signed);
        match d.native.as_ref().map(|n| (n.code(), n)) {
            None => begin.size = bytes.len() as u32,
            Some((Some(code), _)) => {
                begin.sha256 = code.sha256;
                begin.size = bytes.len() as u32;
                begin.native = Some(Box::new(code));
            }
            Some((None, n)) => {
                warn!(device = %self.device, app = %d.slot, "native code record {} is corrupt", n.digest);
                return;
            }
        }
        // One copy of the chunks for every session deploying these bytes.
        let Some(chunks) = self.gw.chunk_frames(&d.slot, shipped, &bytes) else { return };
        self.queue(&GatewayMsg::DeployBegin(begin));
        self.out.share(chunks);
        self.pending.deploying.insert(d.slot.clone(), deploy_key(&d));
        self.gw.stats.deploys.fetch_add(1, Ordering::Relaxed);
    }

    fn observations(&self) -> Vec<AppObservation> {
        let mut obs: Vec<AppObservation> = self
            .reported
            .values()
            .map(|r| AppObservation {
                name: r.app.clone(),
                version: r.version.clone(),
                digest: digest_of(r),
                state: r.state,
                revision: r.revision,
                reason: if r.state == AppState::Failed { self.reasons.get(&r.app).cloned() } else { None },
                counters: r.counters,
                // Only what this revision published: a gate must not see
                // the previous revision's values.
                metrics: self
                    .metrics
                    .get(&r.app)
                    .filter(|(revision, _)| *revision == r.revision)
                    .map(|(_, m)| m.clone())
                    .unwrap_or_default(),
            })
            .collect();
        for (slot, refusal) in &self.pending.rejected {
            let why = refusal.reason();
            let Some(want) = self.desired.iter().find(|d| &d.slot == slot) else { continue };
            match obs.iter_mut().find(|o| &o.name == slot) {
                // The refused revision is what the rollout looks at: report
                // it as rejected, saying what still runs.
                Some(o) => {
                    o.reason = Some(format!("version {} rejected, still running {}: {why}", want.version, o.version));
                    o.state = AppState::Rejected;
                    o.revision = Some(want.revision);
                    o.digest = want.digest.clone();
                }
                None => obs.push(AppObservation {
                    name: slot.clone(),
                    version: want.version.clone(),
                    digest: want.digest.clone(),
                    state: AppState::Rejected,
                    revision: Some(want.revision),
                    reason: Some(why),
                    counters: None,
                    metrics: BTreeMap::new(),
                }),
            }
        }
        obs
    }

    async fn write_status(&mut self) {
        self.status.apps = self.observations();
        let patch = DeviceStatusPatch::Session(self.status.clone());
        if let Err(e) = self.gw.store.patch_device_status(&self.device, patch).await {
            warn!(device = %self.device, "cannot write status: {e}");
        }
    }

    /// Refuses a certificate that is not `device`'s current one (or that of
    /// a device that does not exist): counted on the device's status, logged
    /// within the gateway's cap, told to the device, and the session closed.
    async fn refuse_identity(&mut self, device: Option<&Device>, code: ErrorCode, detail: String) {
        self.gw.stats.refused_identities.fetch_add(1, Ordering::Relaxed);
        let presented = self.fingerprint.to_string();
        let refused = device.map(|d| {
            let (at, source) = ((self.gw.clock)(), self.peer.to_string());
            RefusedIdentity::next(d.status.refused.as_ref(), at, &presented, &source, &self.gw.cfg.name)
        });
        if let Some(held_back) = self.gw.refusal_log.admit(Instant::now().into_std()) {
            let attempts = refused.as_ref().map(|r| r.attempts);
            warn!(
                device = %self.device, peer = %self.peer, fingerprint = %presented, ?attempts, held_back,
                "enrollment refused: {}: {detail}", code.as_str()
            );
        }
        if let Some(r) = refused
            && let Err(e) = self.gw.store.patch_device_status(&self.device, DeviceStatusPatch::Refused(r)).await
        {
            debug!(device = %self.device, "cannot record a refused enrollment: {e}");
        }
        self.queue(&GatewayMsg::Error(ErrorReport { code, detail }));
        let _ = self.flush().await;
        self.close().await;
    }

    /// Ends the session with an error report to the device.
    async fn refuse(&mut self, code: ErrorCode, detail: String) {
        self.gw.stats.protocol_errors.fetch_add(1, Ordering::Relaxed);
        warn!(device = %self.device, peer = %self.peer, "session refused: {}: {detail}", code.as_str());
        self.queue(&GatewayMsg::Error(ErrorReport { code, detail }));
        let _ = self.flush().await;
        self.close().await;
    }

    fn queue(&mut self, msg: &GatewayMsg) {
        if let Err(e) = self.out.queue(msg) {
            warn!(device = %self.device, "cannot encode a message: {e}");
        }
    }

    /// Writes what is queued; a device that takes no bytes for the write
    /// timeout fails it (counted), so it cannot hold this task.
    async fn flush(&mut self) -> Result<(), WriteError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let written = self.out.write_to(&mut self.stream, self.gw.cfg.write_timeout).await;
        if let Err(WriteError::Stalled(_)) = written {
            self.gw.stats.write_timeouts.fetch_add(1, Ordering::Relaxed);
        }
        written
    }

    async fn close(&mut self) {
        let _ = timeout(std::time::Duration::from_secs(1), self.stream.shutdown()).await;
    }
}

/// Spreads the retries of many sessions apart (jitter, not secrecy).
fn jitter() -> u32 {
    use std::hash::BuildHasher;
    // Each RandomState's keys differ from the last one's, so each call
    // draws another value.
    std::hash::RandomState::new().hash_one(()) as u32
}

/// Whether an app entry from a device is one the platform could have made.
fn acceptable(r: &AppReport) -> bool {
    valid_app_name(&r.app) && r.version.len() <= MAX_VERSION_LEN
}

/// Cuts text from a device to [`MAX_REASON_LEN`] bytes on a character boundary.
fn clip(mut text: String) -> String {
    if text.len() > MAX_REASON_LEN {
        let mut end = MAX_REASON_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn frame_end(e: wasmbed_protocol::FrameError) -> End {
    End::Protocol(e.code(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns, without calling it.
    fn future_size<F: std::future::Future>(
        _: impl FnOnce(Arc<Gateway>, TcpStream, SocketAddr, Ticket, watch::Receiver<bool>) -> F,
    ) -> usize {
        std::mem::size_of::<F>()
    }

    /// Every idle session holds its task, whose future is as large as its
    /// largest state: what lasts only a step (the handshake, enrolling,
    /// handling a message, a write) is boxed, and buffers are on the stack
    /// of a poll, not in the future. With the handshake and the session in
    /// one scope and a read buffer in the future it took 4,720 bytes
    /// (debug build); 2,872 now, 1,232 of them the connection.
    #[test]
    fn an_idle_sessions_task_stays_small() {
        let size = future_size(serve);
        assert!(size <= 3 * 1024, "the session task's future takes {size} bytes");
    }
}
