//! The session state machine: connect → enroll → heartbeat loop → commands.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use alloc::boxed::Box;
use wasmbed_protocol::{
    AppStatus, DeviceMsg, Enroll, ErrorCode, ErrorReport, FrameError, FrameReader, GatewayMsg, Heartbeat,
    MAX_FRAME_LEN, MessageResult, ModuleBudget, decode_gateway_msg, encode_frame,
};

use crate::apps::{Apps, Note};
use crate::journal::{Journal, ResetCause};
use crate::peripherals::Peripherals;
use crate::transport::Clock;
use crate::trust::DeployTrust;

/// Receive buffer reserved per session: a deploy chunk frame plus one
/// [`RECEIVE_PIECE`] of the next, so it does not grow mid-session.
const READER_CAPACITY: usize = wasmbed_protocol::DEPLOY_CHUNK_LEN + 64 + RECEIVE_PIECE;

/// Largest slice a device should pass to [`Agent::receive`] at once.
pub const RECEIVE_PIECE: usize = 1024;

/// Static facts about the device the agent runs on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AgentConfig {
    /// Identity; must match the client certificate.
    pub device_id: String,
    /// Board name (`sim` for the host simulator).
    pub board: String,
    /// Firmware / agent build version.
    pub firmware_version: String,
    /// True only in the host simulator.
    pub simulated: bool,
    /// App slots.
    pub max_apps: usize,
    /// Largest module accepted, bytes.
    pub max_module_len: usize,
    /// Size of the device's heap, when the platform knows it (the terminal's
    /// `mem` reports it beside the free heap passed to `poll`).
    pub heap_size: Option<u32>,
    /// What apps may hold: the board's, from the board table (the agent
    /// knows no board).
    pub budget: ModuleBudget,
    /// The longest one call into an app may take (with a clock given by
    /// [`Agent::with_clock`]): the board's, from the board table.
    pub call_deadline_ms: u32,
}

impl AgentConfig {
    /// Defaults for a device: 4 app slots, 128 KiB modules, the budget of
    /// a [`ModuleBudget::DEFAULT_HEAP`] heap.
    pub fn new(device_id: &str, board: &str) -> Self {
        Self {
            device_id: device_id.into(),
            board: board.into(),
            firmware_version: env!("CARGO_PKG_VERSION").into(),
            simulated: false,
            max_apps: 4,
            max_module_len: wasmbed_protocol::MAX_MODULE_LEN,
            heap_size: None,
            budget: ModuleBudget::DEFAULT,
            call_deadline_ms: crate::journal::DEFAULT_DEADLINE_MS,
        }
    }

    /// With this limit on one call into an app.
    pub fn with_call_deadline_ms(mut self, ms: u32) -> Self {
        self.call_deadline_ms = ms;
        self
    }

    /// With the budget of the device's board.
    pub fn with_budget(mut self, budget: ModuleBudget) -> Self {
        self.budget = budget;
        self
    }

    /// With the size of the device's heap.
    pub fn with_heap_size(mut self, bytes: u32) -> Self {
        self.heap_size = Some(bytes);
        self
    }

    /// Marks the agent as the host simulator (reported at enrollment).
    pub fn simulated(mut self) -> Self {
        self.simulated = true;
        self
    }
}

/// Where the session is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionState {
    /// No transport.
    Disconnected,
    /// Enroll sent, waiting for Welcome.
    Enrolling,
    /// Heartbeating and taking commands.
    Online,
}

/// The gateway broke the protocol; the session must be closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentError {
    /// Class.
    pub code: ErrorCode,
    /// Detail.
    pub detail: String,
}

impl fmt::Display for AgentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl core::error::Error for AgentError {}

/// The device agent. See the crate docs for the calling pattern.
#[derive(Debug)]
pub struct Agent {
    cfg: AgentConfig,
    state: SessionState,
    reader: FrameReader,
    outgoing: Vec<u8>,
    apps: Apps,
    heartbeat_ms: u64,
    next_heartbeat: u64,
    gateway_unix_time: Option<(u64, u64)>,
    notes: Vec<Note>,
    /// Free heap as last told by `poll`: installs that cannot fit are refused.
    free_memory: Option<usize>,
    /// A terminal `reboot` was answered; the platform resets.
    reboot_requested: bool,
    /// Which deploys to believe.
    trust: DeployTrust,
}

impl Agent {
    /// A disconnected agent with no apps.
    pub fn new(cfg: AgentConfig) -> Self {
        let mut apps = Apps::new(cfg.max_apps, cfg.max_module_len, &cfg.device_id, cfg.budget);
        apps.guard.set_deadline(cfg.call_deadline_ms);
        Self {
            cfg,
            state: SessionState::Disconnected,
            reader: FrameReader::new(MAX_FRAME_LEN),
            outgoing: Vec::new(),
            apps,
            heartbeat_ms: u64::from(wasmbed_protocol::DEFAULT_HEARTBEAT_MS),
            next_heartbeat: 0,
            gateway_unix_time: None,
            notes: Vec::new(),
            free_memory: None,
            reboot_requested: false,
            trust: DeployTrust::unpinned(),
        }
    }

    /// Believes only deploys `trust` vouches for (the firmware and the
    /// simulator pin the key from the device's bundle).
    pub fn with_trust(mut self, trust: DeployTrust) -> Self {
        self.trust = trust;
        self
    }

    /// Keeps the crash journal in `journal`, memory that survives a reset
    /// (see the `journal` module): an app the last boot died running is
    /// Failed from now on, with `cause` in its reason, and not run again
    /// until a new revision of it arrives.
    pub fn with_journal(mut self, journal: Box<dyn Journal>, cause: ResetCause) -> Self {
        self.apps.guard.attach(journal, cause);
        self
    }

    /// Times each call into an app with `clock`: one that returns after
    /// [`AgentConfig::call_deadline_ms`] fails its app with `deadline`.
    pub fn with_clock(mut self, clock: Box<dyn Clock + Send>) -> Self {
        self.apps.guard.set_clock(clock);
        self
    }

    /// Apps quarantined because the device reset while running them, with
    /// why (each is reported Failed to every gateway session).
    pub fn quarantined(&self) -> Vec<AppStatus> {
        self.apps.guard.reasons().map(|(report, reason)| AppStatus { report, reason: Some(reason) }).collect()
    }

    /// The app-signing trust, as it stands after any rotations.
    pub fn trust(&self) -> &DeployTrust {
        &self.trust
    }

    /// Session state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// Configuration.
    pub fn config(&self) -> &AgentConfig {
        &self.cfg
    }

    /// Wall-clock seconds derived from the gateway's Welcome, if one came.
    pub fn unix_time_s(&self, now_ms: u64) -> Option<u64> {
        self.unix_time_ms(now_ms).map(|ms| ms / 1000)
    }

    /// Wall-clock milliseconds derived from the gateway's Welcome, if one came.
    pub fn unix_time_ms(&self, now_ms: u64) -> Option<u64> {
        self.gateway_unix_time.map(|(unix_ms, at)| unix_ms + now_ms.saturating_sub(at))
    }

    /// This board's native-code loader: the agent then installs native
    /// code its signed manifest names for this board (firmware only).
    pub fn with_native_loader(mut self, loader: Box<dyn crate::NativeLoader>) -> Self {
        self.apps.set_native_loader(loader);
        self
    }

    /// The firmware's compiler for modules a signed manifest vouches for:
    /// what an agent built without the validator compiles them with (see
    /// [`crate::TrustedCompiler`]); an agent with the validator ignores it.
    pub fn with_trusted_compiler(mut self, compiler: Box<dyn crate::TrustedCompiler>) -> Self {
        self.apps.set_trusted_compiler(compiler);
        self
    }

    /// Gives apps the board's peripherals (by default they have none, and
    /// a deploy granting hardware is rejected with `missing-peripheral`).
    pub fn with_peripherals(mut self, hw: Box<dyn Peripherals>) -> Self {
        self.apps.set_peripherals(hw);
        self
    }

    /// Bytes the agent holds for apps (modules and linear memories).
    pub fn app_memory_bytes(&self) -> usize {
        self.apps.memory_bytes()
    }

    /// True once a terminal `reboot` was answered. The platform checks it
    /// after sending what [`take_outgoing`](Self::take_outgoing) returned
    /// (the answer is among those bytes) and then resets the device its own
    /// way; the agent itself never resets anything.
    pub fn reboot_requested(&self) -> bool {
        self.reboot_requested
    }

    /// The transport is up (TLS established): queue the enrollment.
    pub fn connected(&mut self, _now: u64) {
        self.reader = FrameReader::with_capacity(MAX_FRAME_LEN, READER_CAPACITY);
        self.outgoing.clear();
        self.state = SessionState::Enrolling;
        let enroll = DeviceMsg::Enroll(Enroll {
            device_id: self.cfg.device_id.clone(),
            board: self.cfg.board.clone(),
            firmware_version: self.cfg.firmware_version.clone(),
            simulated: self.cfg.simulated,
            apps: self.apps.reports(),
        });
        self.send(&enroll);
    }

    /// The transport is gone. Apps keep running; a new session re-syncs them.
    pub fn disconnected(&mut self) {
        self.state = SessionState::Disconnected;
        self.outgoing.clear();
    }

    /// Feeds bytes from the gateway. On `Err` an error report was queued:
    /// send it, then close the transport.
    pub fn receive(&mut self, bytes: &[u8], now: u64) -> Result<(), AgentError> {
        if let Err(e) = self.reader.push(bytes) {
            return Err(self.protocol_error(e));
        }
        loop {
            let payload = match self.reader.next_frame() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(()),
                Err(e) => return Err(self.protocol_error(e)),
            };
            let msg = match decode_gateway_msg(&payload) {
                Ok(m) => m,
                Err(e) => return Err(self.protocol_error(e)),
            };
            self.handle(msg, now)?;
        }
    }

    fn protocol_error(&mut self, e: FrameError) -> AgentError {
        self.fatal(e.code(), e.to_string())
    }

    fn fatal(&mut self, code: ErrorCode, detail: String) -> AgentError {
        self.send(&DeviceMsg::Error(ErrorReport { code, detail: detail.clone() }));
        self.state = SessionState::Disconnected;
        AgentError { code, detail }
    }

    fn handle(&mut self, msg: GatewayMsg, now: u64) -> Result<(), AgentError> {
        match (self.state, msg) {
            (SessionState::Enrolling, GatewayMsg::Welcome(w)) => {
                self.heartbeat_ms = u64::from(w.heartbeat_ms.max(100));
                let unix_ms = w.unix_time_ms.unwrap_or(w.unix_time_s.saturating_mul(1000));
                self.gateway_unix_time = Some((unix_ms, now));
                self.state = SessionState::Online;
                self.next_heartbeat = now;
                // Enroll listed them Failed; say why to each new session.
                self.notes.extend(self.quarantined().into_iter().map(Note::Status));
            }
            (SessionState::Online, GatewayMsg::DeployBegin(m)) => match self.trust.check(&m) {
                // Checked against a signed manifest when a key is pinned.
                Ok(()) => self.apps.begin(m, self.trust.key().is_some(), self.free_memory, &mut self.notes),
                Err((code, detail)) => self.apps.refuse(&m, code, detail, &mut self.notes),
            },
            (SessionState::Online, GatewayMsg::TrustKey(k)) => {
                if let Err((code, detail)) = self.trust.rotate(&k) {
                    return Err(self.fatal(code, detail));
                }
            }
            (SessionState::Online, GatewayMsg::DeployChunk(m)) => self.apps.chunk(m, now, &mut self.notes),
            (SessionState::Online, GatewayMsg::Start(r)) => self.apps.start(&r.app, now, &mut self.notes),
            (SessionState::Online, GatewayMsg::Stop(r)) => self.apps.stop(&r.app, &mut self.notes),
            (SessionState::Online, GatewayMsg::Remove(r)) => {
                if self.apps.remove(&r.app) {
                    self.next_heartbeat = now;
                }
            }
            (SessionState::Online, GatewayMsg::AppMessage(m)) => {
                let delivery = self.apps.deliver(&m.app, m.payload.into(), now, &mut self.notes);
                // What the handler did first, then the answer.
                self.flush_notes(now);
                self.send(&DeviceMsg::MessageResult(MessageResult { id: m.id, delivery }));
            }
            (SessionState::Online, GatewayMsg::Command(c)) => {
                let cx = crate::terminal::Context {
                    cfg: &self.cfg,
                    apps: &mut self.apps,
                    free_memory: self.free_memory,
                    heartbeat_ms: self.heartbeat_ms,
                    reboot_pending: self.reboot_requested,
                    now,
                };
                let (result, reboot) = crate::terminal::answer(c, cx, &mut self.notes);
                self.reboot_requested |= reboot;
                // App status changes first, so the gateway has recorded them
                // by the time it hands the answer on.
                self.flush_notes(now);
                self.send(&DeviceMsg::CommandResult(result));
            }
            (_, GatewayMsg::Error(e)) => {
                self.state = SessionState::Disconnected;
                return Err(AgentError { code: e.code, detail: e.detail });
            }
            (state, other) => {
                let detail = alloc::format!("{} while {state:?}", message_name(&other));
                return Err(self.fatal(ErrorCode::UnexpectedMessage, detail));
            }
        }
        self.flush_notes(now);
        Ok(())
    }

    /// Does due work at `now`: app ticks and, when online, the heartbeat.
    /// `free_memory` is the device's free heap, reported in heartbeats.
    pub fn poll(&mut self, now: u64, free_memory: u32) {
        self.free_memory = Some(free_memory as usize);
        self.apps.run_due(now, &mut self.notes);
        self.flush_notes(now);
        if self.state == SessionState::Online && now >= self.next_heartbeat {
            self.next_heartbeat = now.saturating_add(self.heartbeat_ms);
            let hb = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: now, free_memory, apps: self.apps.reports() });
            self.send(&hb);
        }
    }

    /// When `poll` next has work (earliest app tick or heartbeat).
    pub fn next_deadline(&self) -> Option<u64> {
        let hb = (self.state == SessionState::Online).then_some(self.next_heartbeat);
        match (hb, self.apps.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Takes the bytes queued for the gateway.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        core::mem::take(&mut self.outgoing)
    }

    fn flush_notes(&mut self, now: u64) {
        if self.notes.is_empty() {
            return;
        }
        let mut changed = false;
        for note in core::mem::take(&mut self.notes) {
            let msg = match note {
                Note::Status(s) => {
                    changed = true;
                    DeviceMsg::AppStatus(s)
                }
                Note::Rejected(r) => DeviceMsg::DeployRejected(r),
                Note::Log(l) => DeviceMsg::AppLog(l),
                Note::Telemetry(mut t) => {
                    t.unix_ms = self.unix_time_ms(now);
                    DeviceMsg::Telemetry(t)
                }
            };
            self.send(&msg);
        }
        // Report state changes at once rather than at the next interval.
        if changed && self.state == SessionState::Online {
            self.next_heartbeat = self.next_heartbeat.min(now);
        }
    }

    fn send(&mut self, msg: &DeviceMsg) {
        if self.state == SessionState::Disconnected {
            return;
        }
        // Our own messages are bounded (log lines are cut), so this cannot fail.
        let _ = encode_frame(msg, &mut self.outgoing);
    }
}

fn message_name(msg: &GatewayMsg) -> &'static str {
    match msg {
        GatewayMsg::Welcome(_) => "Welcome",
        GatewayMsg::DeployBegin(_) => "DeployBegin",
        GatewayMsg::TrustKey(_) => "TrustKey",
        GatewayMsg::DeployChunk(_) => "DeployChunk",
        GatewayMsg::Start(_) => "Start",
        GatewayMsg::Stop(_) => "Stop",
        GatewayMsg::Remove(_) => "Remove",
        GatewayMsg::Error(_) => "Error",
        GatewayMsg::Command(_) => "Command",
        GatewayMsg::AppMessage(_) => "AppMessage",
    }
}
