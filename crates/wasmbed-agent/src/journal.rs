//! Crash-loop protection and per-call deadlines.
//!
//! Before the agent installs a module, instantiates it, or calls into an
//! app (`init`, `tick`, `on_message`), it writes what it is about to run
//! (slot, version, revision, module digest, stage) to a [`Journal`] the
//! embedder keeps in memory that survives a reset, and clears it after. A
//! record still there when the agent starts means the previous boot died in
//! that stage: the app is reported Failed with `device-reset` and a reason
//! naming the stage and the reset, and the same slot, digest and revision
//! is refused if deployed again, until a different revision arrives. So a
//! module that resets the device (a panic, a fault, the watchdog) does it
//! once per device, and the rollout's gate sees a failure.
//!
//! Guarantees: the quarantine is bounded ([`MAX_QUARANTINED`], oldest
//! dropped); bytes read back from the journal are decoded with checks, and
//! anything that does not decode is treated as an empty journal (never a
//! panic). Assumes: the embedder's journal keeps the last bytes saved
//! across a reset, or returns none; it cannot tell why the board reset
//! unless the embedder says ([`ResetCause`]).
//!
//! The same guard times each call with the embedder's [`Clock`]: a call
//! that returns after its deadline fails its app with `deadline` (fuel
//! stops loops; this catches slow host calls and long translation). A call
//! that never returns is the watchdog's, which resets the board, and the
//! journal then names the app.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use wasmbed_protocol::{AppReport, AppState, ErrorCode, FailReason, MAX_APP_NAME_LEN};

use crate::transport::Clock;

/// The longest one call into an app may take, unless the embedder says
/// otherwise ([`crate::AgentConfig::call_deadline_ms`]): a default fuel
/// budget takes well under a second on a 25 MHz Cortex-M3.
pub const DEFAULT_DEADLINE_MS: u32 = 3_000;
/// Quarantined apps kept at most; the oldest goes first.
pub const MAX_QUARANTINED: usize = 4;
/// Longest version label kept in a record (cut at a character boundary).
pub const MAX_RECORDED_VERSION: usize = 32;
/// The most bytes the agent ever saves to a [`Journal`].
pub const JOURNAL_LEN: usize = HEADER_LEN + (1 + MAX_QUARANTINED) * MAX_ENTRY_LEN;

const FORMAT: u8 = 1;
const HEADER_LEN: usize = 3;
/// stage, cause, has-revision, revision, digest, name, version.
const MAX_ENTRY_LEN: usize = 3 + 8 + 32 + 1 + MAX_APP_NAME_LEN + 1 + MAX_RECORDED_VERSION;

/// Memory that survives a reset, kept by the embedder (the firmware's
/// `.uninit` RAM; the simulator's process).
pub trait Journal: Send {
    /// The bytes saved last, in this boot or before a reset; empty when
    /// there are none (a cold boot) or they did not survive intact.
    fn load(&self) -> Vec<u8>;
    /// Replaces the saved bytes (at most [`JOURNAL_LEN`]).
    fn save(&mut self, bytes: &[u8]);
}

/// Why the previous boot ended, as far as the embedder knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResetCause {
    /// Unknown (a reset the firmware did not see coming).
    Unknown,
    /// The hardware watchdog was not fed in time.
    Watchdog,
    /// The firmware panicked (e.g. an allocation failed).
    Panic,
    /// The core faulted.
    Fault,
}

impl ResetCause {
    fn code(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Watchdog => 1,
            Self::Panic => 2,
            Self::Fault => 3,
        }
    }

    fn from_code(b: u8) -> Self {
        match b {
            1 => Self::Watchdog,
            2 => Self::Panic,
            3 => Self::Fault,
            _ => Self::Unknown,
        }
    }

    fn says(self) -> &'static str {
        match self {
            Self::Unknown => "the device reset",
            Self::Watchdog => "the watchdog reset the device",
            Self::Panic => "the device panicked and reset",
            Self::Fault => "a fault reset the device",
        }
    }
}

/// What the agent was doing with an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Compiling the module (`Module::new`).
    Install,
    /// Instantiating it (its start function included).
    Instantiate,
    /// Calling `init`.
    Init,
    /// Calling `tick`.
    Tick,
    /// Calling `on_message`.
    Message,
}

impl Stage {
    const ALL: [Stage; 5] = [Self::Install, Self::Instantiate, Self::Init, Self::Tick, Self::Message];

    fn code(self) -> u8 {
        match self {
            Self::Install => 1,
            Self::Instantiate => 2,
            Self::Init => 3,
            Self::Tick => 4,
            Self::Message => 5,
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Self::Install => "installing",
            Self::Instantiate => "instantiating",
            Self::Init => "running init of",
            Self::Tick => "running tick of",
            Self::Message => "delivering a message to",
        }
    }

    fn call(self) -> &'static str {
        match self {
            Self::Install => "compiling the module",
            Self::Instantiate => "instantiating (the start function)",
            Self::Init => "init",
            Self::Tick => "tick",
            Self::Message => "on_message",
        }
    }
}

/// Which app a record is about.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AppId<'a> {
    pub(crate) app: &'a str,
    pub(crate) version: &'a str,
    pub(crate) revision: Option<u64>,
    pub(crate) digest: &'a [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Record {
    stage: Stage,
    cause: ResetCause,
    revision: Option<u64>,
    digest: [u8; 32],
    app: String,
    version: String,
}

impl Record {
    fn new(id: AppId<'_>, stage: Stage) -> Self {
        let mut cut = id.version.len().min(MAX_RECORDED_VERSION);
        while !id.version.is_char_boundary(cut) {
            cut -= 1;
        }
        Self {
            stage,
            cause: ResetCause::Unknown,
            revision: id.revision,
            digest: *id.digest,
            app: id.app.into(),
            version: id.version[..cut].into(),
        }
    }

    fn revision_text(&self) -> String {
        self.revision.map_or_else(|| "(no revision)".into(), |r| format!("revision {r}"))
    }

    fn reason(&self) -> FailReason {
        FailReason {
            code: ErrorCode::DeviceReset,
            detail: format!(
                "{} while {} {} {}; not run again until a new revision arrives",
                self.cause.says(),
                self.stage.doing(),
                self.app,
                self.revision_text()
            ),
        }
    }

    fn report(&self) -> AppReport {
        AppReport {
            app: self.app.clone(),
            version: self.version.clone(),
            sha256: self.digest.into(),
            state: AppState::Failed,
            revision: self.revision,
            counters: None,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[self.stage.code(), self.cause.code(), u8::from(self.revision.is_some())]);
        out.extend_from_slice(&self.revision.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&self.digest);
        // Both fit a byte: names are valid app names, versions were cut.
        out.push(self.app.len() as u8);
        out.extend_from_slice(self.app.as_bytes());
        out.push(self.version.len() as u8);
        out.extend_from_slice(self.version.as_bytes());
    }

    fn decode(r: &mut Reader<'_>) -> Option<Self> {
        let stage = r.byte().and_then(|c| Stage::ALL.into_iter().find(|s| s.code() == c))?;
        let cause = ResetCause::from_code(r.byte()?);
        let has_revision = r.byte()? == 1;
        let revision = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let digest: [u8; 32] = r.take(32)?.try_into().ok()?;
        let app = r.text(MAX_APP_NAME_LEN)?;
        let version = r.text(MAX_RECORDED_VERSION)?;
        wasmbed_protocol::valid_app_name(&app).then_some(())?;
        Some(Self { stage, cause, revision: has_revision.then_some(revision), digest, app, version })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take(1).and_then(|b| b.first().copied())
    }

    fn text(&mut self, max: usize) -> Option<String> {
        let len = usize::from(self.byte()?);
        if len > max {
            return None;
        }
        core::str::from_utf8(self.take(len)?).ok().map(String::from)
    }
}

/// What the journal holds: the call in progress, if any, and the apps that
/// reset the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct State {
    current: Option<Record>,
    quarantined: Vec<Record>,
}

impl State {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(JOURNAL_LEN);
        out.extend_from_slice(&[FORMAT, u8::from(self.current.is_some()), self.quarantined.len() as u8]);
        for r in self.current.iter().chain(&self.quarantined) {
            r.encode(&mut out);
        }
        out
    }

    /// `None` for anything but what [`encode`](Self::encode) writes.
    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader(bytes);
        if r.byte()? != FORMAT {
            return None;
        }
        let has_current = r.byte()? == 1;
        let n = usize::from(r.byte()?);
        if n > MAX_QUARANTINED {
            return None;
        }
        let current = if has_current { Some(Record::decode(&mut r)?) } else { None };
        let quarantined = (0..n).map(|_| Record::decode(&mut r)).collect::<Option<Vec<_>>>()?;
        Some(Self { current, quarantined })
    }
}

/// Wraps every stage the agent runs an app through: journals it, times it,
/// and keeps the quarantine. Without a journal or a clock it does nothing
/// of that part.
pub(crate) struct Guard {
    journal: Option<Box<dyn Journal>>,
    state: State,
    clock: Option<Box<dyn Clock + Send>>,
    deadline_ms: u32,
    /// The stage entered last, and when (if there is a clock).
    entered: Option<(Stage, Option<u64>)>,
}

impl core::fmt::Debug for Guard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Guard").field("state", &self.state).field("deadline_ms", &self.deadline_ms).finish()
    }
}

impl Guard {
    pub(crate) fn new(deadline_ms: u32) -> Self {
        Self { journal: None, state: State::default(), clock: None, deadline_ms, entered: None }
    }

    /// Reads what the last boot left: a call still recorded is quarantined
    /// with `cause`.
    pub(crate) fn attach(&mut self, journal: Box<dyn Journal>, cause: ResetCause) {
        let mut state = State::decode(&journal.load()).unwrap_or_default();
        if let Some(mut died) = state.current.take() {
            died.cause = cause;
            state.quarantined.retain(|q| q.app != died.app);
            if state.quarantined.len() >= MAX_QUARANTINED {
                state.quarantined.remove(0);
            }
            state.quarantined.push(died);
        }
        self.journal = Some(journal);
        self.state = state;
        self.save();
    }

    /// The per-call deadline, in milliseconds.
    pub(crate) fn deadline_ms(&self) -> u32 {
        self.deadline_ms
    }

    pub(crate) fn set_deadline(&mut self, ms: u32) {
        self.deadline_ms = ms;
    }

    pub(crate) fn set_clock(&mut self, clock: Box<dyn Clock + Send>) {
        self.clock = Some(clock);
    }

    /// Reports of quarantined apps (Failed), beside the installed ones.
    pub(crate) fn reports(&self) -> impl Iterator<Item = AppReport> + '_ {
        self.state.quarantined.iter().map(Record::report)
    }

    /// Quarantined apps with why, for a new session.
    pub(crate) fn reasons(&self) -> impl Iterator<Item = (AppReport, FailReason)> + '_ {
        self.state.quarantined.iter().map(|q| (q.report(), q.reason()))
    }

    /// Whether a deploy of `id` may go ahead: the revision that reset the
    /// device may not (its reason says why); another one for the same slot
    /// lifts the quarantine.
    pub(crate) fn admit(&mut self, id: AppId<'_>) -> Result<(), FailReason> {
        let Some(i) = self.state.quarantined.iter().position(|q| q.app == id.app) else { return Ok(()) };
        let q = &self.state.quarantined[i];
        if q.digest == *id.digest && q.revision == id.revision {
            return Err(q.reason());
        }
        self.state.quarantined.remove(i);
        self.save();
        Ok(())
    }

    /// The slot was removed: forget its quarantine. True if there was one.
    pub(crate) fn forget(&mut self, app: &str) -> bool {
        let before = self.state.quarantined.len();
        self.state.quarantined.retain(|q| q.app != app);
        let removed = before != self.state.quarantined.len();
        if removed {
            self.save();
        }
        removed
    }

    /// About to run `stage` of `id`.
    pub(crate) fn enter(&mut self, id: AppId<'_>, stage: Stage) {
        if self.journal.is_some() {
            self.state.current = Some(Record::new(id, stage));
            self.save();
        }
        self.entered = Some((stage, self.clock.as_ref().map(|c| c.now_ms())));
    }

    /// Done with the stage entered last. `Err` when it ran past the
    /// deadline (compiling a module is not held to one).
    pub(crate) fn leave(&mut self) -> Result<(), FailReason> {
        if self.state.current.take().is_some() {
            self.save();
        }
        let Some((stage, Some(started))) = self.entered.take() else { return Ok(()) };
        let took = self.clock.as_ref().map_or(0, |c| c.now_ms().saturating_sub(started));
        if took <= u64::from(self.deadline_ms) || stage == Stage::Install {
            return Ok(());
        }
        Err(FailReason {
            code: ErrorCode::Deadline,
            detail: format!(
                "{} took {took} ms, over this device's limit of {} ms per call",
                stage.call(),
                self.deadline_ms
            ),
        })
    }

    fn save(&mut self) {
        if let Some(j) = self.journal.as_mut() {
            j.save(&self.state.encode());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn id<'a>(app: &'a str, revision: u64, digest: &'a [u8; 32]) -> AppId<'a> {
        AppId { app, version: "1.0", revision: Some(revision), digest }
    }

    #[test]
    fn state_round_trips_and_never_exceeds_the_journal() {
        let long = "v".repeat(200);
        let name = "a".repeat(MAX_APP_NAME_LEN);
        let rec = Record::new(
            AppId { app: &name, version: &long, revision: Some(u64::MAX), digest: &[7; 32] },
            Stage::Message,
        );
        assert_eq!(rec.version.len(), MAX_RECORDED_VERSION);
        let state = State { current: Some(rec.clone()), quarantined: vec![rec; MAX_QUARANTINED] };
        let bytes = state.encode();
        assert_eq!(bytes.len(), JOURNAL_LEN);
        assert_eq!(State::decode(&bytes), Some(state));
    }

    #[test]
    fn a_version_is_cut_at_a_character_boundary() {
        let v = "é".repeat(40);
        let rec = Record::new(AppId { app: "a", version: &v, revision: None, digest: &[0; 32] }, Stage::Init);
        assert!(rec.version.len() <= MAX_RECORDED_VERSION && rec.version.chars().all(|c| c == 'é'));
    }

    #[test]
    fn garbage_decodes_to_nothing_and_never_panics() {
        let good = State { current: Some(Record::new(id("hello", 3, &[1; 32]), Stage::Tick)), quarantined: vec![] };
        let bytes = good.encode();
        for cut in 0..bytes.len() {
            assert_eq!(State::decode(&bytes[..cut]), None, "cut at {cut}");
        }
        let mut bad_name = bytes.clone();
        let name_at = HEADER_LEN + 3 + 8 + 32 + 1;
        bad_name[name_at] = b'H';
        assert_eq!(State::decode(&bad_name), None, "not an app name");
        let mut state = 0x1234_5678u32;
        for _ in 0..2000 {
            let len = (state % 300) as usize;
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 17;
                    state ^= state << 5;
                    state as u8
                })
                .collect();
            let _ = State::decode(&junk);
        }
    }
}
