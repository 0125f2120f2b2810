//! The device terminal, gateway side: [`Gateway::run_command`] hands a
//! command to the device's current session and waits for its answer.
//!
//! Guarantees:
//! - Commands are relayed as data; the gateway keeps no allow-list (the
//!   device is the one that enforces its own, and says why it refuses).
//!   It only refuses what the wire cannot carry ([`CommandError::Empty`],
//!   [`CommandError::TooLarge`]), before anything is sent.
//! - Each answer is matched to its command by an id unique within the
//!   session; an answer for an id nobody waits for (late, after a timeout)
//!   is logged and ignored, never a protocol error.
//! - Every call ends: with the answer, or [`CommandError::Timeout`] after
//!   `GatewayConfig::command_timeout`, or [`CommandError::SessionEnded`] as
//!   soon as the session goes.
//! - Per session this costs one small [`Inbox`] (no allocation while idle)
//!   and at most [`MAX_COMMANDS_IN_FLIGHT`] waiting commands.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, oneshot};
use wasmbed_protocol::{
    AppMessage, Command, CommandBoundError, CommandResult, Delivery, GatewayMsg, MAX_MESSAGE_LEN, MessageResult,
};

pub use wasmbed_protocol::CommandOutcome;

use crate::Gateway;

/// Commands one device may have queued or waiting for an answer at once.
pub const MAX_COMMANDS_IN_FLIGHT: usize = 8;

/// A command as the device will receive it: a name and string arguments,
/// checked against the wire bounds (not against any allow-list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    name: String,
    args: Vec<String>,
}

impl CommandLine {
    /// A command from its parts (arguments may hold spaces).
    pub fn new(
        name: impl Into<String>,
        args: impl IntoIterator<Item = impl Into<String>>,
    ) -> Result<Self, CommandError> {
        let name = name.into();
        let args: Vec<String> = args.into_iter().map(Into::into).collect();
        if name.is_empty() {
            return Err(CommandError::Empty);
        }
        Command::check_bounds(&name, &args).map_err(CommandError::TooLarge)?;
        Ok(Self { name, args })
    }

    /// Splits a typed line at whitespace: the first word is the name, the
    /// rest are arguments (no quoting; use [`new`](Self::new) for that).
    pub fn parse(line: &str) -> Result<Self, CommandError> {
        let mut words = line.split_whitespace();
        let name = words.next().ok_or(CommandError::Empty)?;
        // Counted before collecting, so a line of a million words costs nothing.
        let args: Vec<&str> = words.by_ref().take(wasmbed_protocol::MAX_COMMAND_ARGS + 1).collect();
        if args.len() > wasmbed_protocol::MAX_COMMAND_ARGS {
            let count = args.len() + words.count();
            return Err(CommandError::TooLarge(CommandBoundError::TooManyArgs(count)));
        }
        Self::new(name, args)
    }

    /// The command name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments.
    pub fn args(&self) -> &[String] {
        &self.args
    }
}

impl std::str::FromStr for CommandLine {
    type Err = CommandError;

    fn from_str(line: &str) -> Result<Self, CommandError> {
        Self::parse(line)
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for a in &self.args {
            write!(f, " {a}")?;
        }
        Ok(())
    }
}

/// The device's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandReply {
    /// Done, refused by the device (nothing was done), or failed.
    pub outcome: CommandOutcome,
    /// The answer, or the device's reason for refusing or failing.
    pub output: String,
    /// From the call to the answer.
    pub elapsed: Duration,
}

/// Why a command got no answer from the device. A device's refusal is not
/// an error: it is a [`CommandReply`] with [`CommandOutcome::Refused`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Nothing to send: an empty line or name.
    #[error("empty command")]
    Empty,
    /// The command exceeds what the protocol carries.
    #[error("command too large: {0}")]
    TooLarge(CommandBoundError),
    /// The device holds no session with this gateway (unknown, offline, or
    /// connected to another gateway).
    #[error("device {0} is not connected to this gateway")]
    NotConnected(String),
    /// The device already has [`MAX_COMMANDS_IN_FLIGHT`] commands pending.
    #[error("device {0} already has {MAX_COMMANDS_IN_FLIGHT} commands in flight")]
    Busy(String),
    /// No answer within the timeout; the session goes on.
    #[error("device {device} did not answer within {after:?}")]
    Timeout {
        /// The device.
        device: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The session ended (device gone, replaced, reset, or gateway
    /// stopping) before the device answered.
    #[error("the session of device {0} ended before it answered")]
    SessionEnded(String),
    /// A message payload over the protocol's bound.
    #[error("a message of {0} bytes exceeds the limit of {MAX_MESSAGE_LEN}")]
    MessageTooLarge(usize),
}

/// What became of a message sent to an app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageReply {
    /// Delivered, or why not.
    pub delivery: Delivery,
    /// From the call to the answer.
    pub elapsed: Duration,
}

impl Gateway {
    /// Runs `command` on `device` through its current session and returns
    /// the device's answer (which may be a refusal: the device decides what
    /// it allows). Waits at most `GatewayConfig::command_timeout`.
    ///
    /// ```no_run
    /// # async fn demo(gw: &wasmbed_gateway::Gateway) -> Result<(), wasmbed_gateway::CommandError> {
    /// let reply = gw.run_command("dev-1", "status".parse()?).await?;
    /// println!("{}: {}", reply.outcome.as_str(), reply.output);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn run_command(&self, device: &str, command: CommandLine) -> Result<CommandReply, CommandError> {
        // An attached board has no agent to ask: the gateway answers.
        if let Some(reply) = self.board_command(device, &command).await {
            return reply;
        }
        let started = Instant::now();
        match self.ask(device, Request::Command(command)).await? {
            Answer::Command(r) => Ok(CommandReply { outcome: r.outcome, output: r.output, elapsed: started.elapsed() }),
            Answer::Message(_) => Err(CommandError::SessionEnded(device.into())),
        }
    }

    /// Delivers `payload` to the app `app` on `device` through its current
    /// session; the device answers whether the app's handler ran. Same
    /// errors and timeout as [`run_command`](Self::run_command).
    pub async fn send_message(&self, device: &str, app: &str, payload: Vec<u8>) -> Result<MessageReply, CommandError> {
        if payload.len() > MAX_MESSAGE_LEN {
            return Err(CommandError::MessageTooLarge(payload.len()));
        }
        let started = Instant::now();
        match self.ask(device, Request::Message { app: app.into(), payload }).await? {
            Answer::Message(r) => Ok(MessageReply { delivery: r.delivery, elapsed: started.elapsed() }),
            Answer::Command(_) => Err(CommandError::SessionEnded(device.into())),
        }
    }

    async fn ask(&self, device: &str, request: Request) -> Result<Answer, CommandError> {
        let inbox = self.sessions.lock().ok().and_then(|s| s.get(device).map(|e| e.commands.clone()));
        let Some(inbox) = inbox else { return Err(CommandError::NotConnected(device.into())) };
        let (reply, answer) = oneshot::channel();
        inbox.push(Job { request, reply }).map_err(|e| e.with_device(device))?;
        // Not kept while waiting: the session's end must drop the job.
        drop(inbox);
        let after = self.cfg.command_timeout;
        match tokio::time::timeout(after, answer).await {
            Ok(Ok(a)) => Ok(a),
            Ok(Err(_)) => Err(CommandError::SessionEnded(device.into())),
            Err(_) => Err(CommandError::Timeout { device: device.into(), after }),
        }
    }
}

/// What a caller asks a device: a terminal command or a message for an app.
#[derive(Debug)]
pub(crate) enum Request {
    Command(CommandLine),
    Message { app: String, payload: Vec<u8> },
}

/// The device's answer to a [`Request`].
#[derive(Debug)]
pub(crate) enum Answer {
    Command(CommandResult),
    Message(MessageResult),
}

impl Answer {
    fn id(&self) -> u32 {
        match self {
            Self::Command(r) => r.id,
            Self::Message(r) => r.id,
        }
    }
}

/// A request waiting to be sent, and whom to answer.
#[derive(Debug)]
pub(crate) struct Job {
    request: Request,
    reply: oneshot::Sender<Answer>,
}

/// Where [`Gateway::run_command`] leaves commands for one session, and the
/// commands of that session waiting for an answer.
#[derive(Debug, Default)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct InboxState {
    closed: bool,
    next_id: u32,
    queued: VecDeque<Job>,
    waiting: Vec<(u32, oneshot::Sender<Answer>)>,
}

impl InboxState {
    /// Forgets commands whose caller stopped waiting (timed out).
    fn prune(&mut self) {
        self.waiting.retain(|(_, tx)| !tx.is_closed());
        self.queued.retain(|j| !j.reply.is_closed());
    }
}

/// What a refused push lacks: the device name, added by the caller.
enum PushError {
    Busy,
    Ended,
}

impl PushError {
    fn with_device(self, device: &str) -> CommandError {
        match self {
            Self::Busy => CommandError::Busy(device.into()),
            Self::Ended => CommandError::SessionEnded(device.into()),
        }
    }
}

impl Inbox {
    fn push(&self, job: Job) -> Result<(), PushError> {
        let Ok(mut st) = self.state.lock() else { return Err(PushError::Ended) };
        if st.closed {
            return Err(PushError::Ended);
        }
        st.prune();
        if st.queued.len() + st.waiting.len() >= MAX_COMMANDS_IN_FLIGHT {
            return Err(PushError::Busy);
        }
        st.queued.push_back(job);
        drop(st);
        self.ready.notify_one();
        Ok(())
    }

    /// Resolves when commands may have been queued.
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// The queued requests as messages, each given its id; their callers
    /// now wait for [`finish`](Self::finish).
    pub(crate) fn take(&self) -> Vec<GatewayMsg> {
        let Ok(mut st) = self.state.lock() else { return Vec::new() };
        st.prune();
        let mut out = Vec::with_capacity(st.queued.len());
        while let Some(job) = st.queued.pop_front() {
            let id = st.next_id;
            st.next_id = st.next_id.wrapping_add(1);
            out.push(match job.request {
                Request::Command(CommandLine { name, args }) => GatewayMsg::Command(Command { id, name, args }),
                Request::Message { app, payload } => {
                    GatewayMsg::AppMessage(AppMessage { id, app, payload: payload.into() })
                }
            });
            st.waiting.push((id, job.reply));
        }
        out
    }

    /// Hands an answer to whoever waits for its id; false if nobody does.
    pub(crate) fn finish(&self, result: Answer) -> bool {
        let Ok(mut st) = self.state.lock() else { return false };
        let Some(at) = st.waiting.iter().position(|(id, _)| *id == result.id()) else { return false };
        let (_, tx) = st.waiting.swap_remove(at);
        tx.send(result).is_ok()
    }

    /// The session is over: every caller still waiting gets `SessionEnded`.
    pub(crate) fn close(&self) {
        if let Ok(mut st) = self.state.lock() {
            st.closed = true;
            st.queued.clear();
            st.waiting.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_protocol::{MAX_COMMAND_ARG_LEN, MAX_COMMAND_ARGS, MAX_COMMAND_NAME_LEN};

    fn job(line: &str) -> (Job, oneshot::Receiver<Answer>) {
        let (reply, rx) = oneshot::channel();
        (Job { request: Request::Command(CommandLine::parse(line).unwrap()), reply }, rx)
    }

    fn result(id: u32, output: &str) -> Answer {
        Answer::Command(CommandResult { id, outcome: CommandOutcome::Ok, output: output.into() })
    }

    fn output(a: Answer) -> String {
        match a {
            Answer::Command(r) => r.output,
            Answer::Message(m) => panic!("a message result: {m:?}"),
        }
    }

    #[test]
    fn messages_and_commands_share_ids_and_each_answer_finds_its_caller() {
        let inbox = Inbox::default();
        let (c, _rx_c) = job("status");
        let (reply, rx_m) = oneshot::channel();
        inbox.push(c).ok().unwrap();
        inbox
            .push(Job { request: Request::Message { app: "echo".into(), payload: b"hi".to_vec() }, reply })
            .ok()
            .unwrap();
        let sent = inbox.take();
        assert!(matches!(&sent[1], GatewayMsg::AppMessage(m) if m.id == 1 && m.app == "echo"));
        assert!(inbox.finish(Answer::Message(MessageResult { id: 1, delivery: Delivery::NoHandler })));
        assert!(matches!(rx_m.blocking_recv().unwrap(), Answer::Message(r) if r.delivery == Delivery::NoHandler));
    }

    #[test]
    fn lines_split_into_name_and_arguments_without_an_allow_list() {
        let c = CommandLine::parse("  rm -rf   / ").unwrap();
        assert_eq!((c.name(), c.args()), ("rm", &["-rf".to_string(), "/".to_string()][..]));
        assert_eq!(c.to_string(), "rm -rf /");
        let c: CommandLine = "status".parse().unwrap();
        assert!(c.args().is_empty());
        let spaced = CommandLine::new("restart-app", ["my app"]).unwrap();
        assert_eq!(spaced.args(), ["my app"]);
    }

    #[test]
    fn what_the_wire_cannot_carry_is_refused_before_sending() {
        assert_eq!(CommandLine::parse(""), Err(CommandError::Empty));
        assert_eq!(CommandLine::parse(" \t\n"), Err(CommandError::Empty));
        assert_eq!(CommandLine::new("", Vec::<String>::new()), Err(CommandError::Empty));
        let long = "n".repeat(MAX_COMMAND_NAME_LEN + 1);
        assert_eq!(
            CommandLine::parse(&long),
            Err(CommandError::TooLarge(CommandBoundError::NameTooLong(MAX_COMMAND_NAME_LEN + 1)))
        );
        let many = format!("x{}", " a".repeat(MAX_COMMAND_ARGS + 3));
        assert_eq!(
            CommandLine::parse(&many),
            Err(CommandError::TooLarge(CommandBoundError::TooManyArgs(MAX_COMMAND_ARGS + 3)))
        );
        let arg = format!("x ok {}", "a".repeat(MAX_COMMAND_ARG_LEN + 1));
        let err = CommandLine::parse(&arg).unwrap_err();
        assert_eq!(err, CommandError::TooLarge(CommandBoundError::ArgTooLong { index: 1, len: 65 }));
        assert_eq!(err.to_string(), "command too large: argument 2 of 65 bytes exceeds 64");
        assert!(CommandLine::parse(&format!("x{}", " a".repeat(MAX_COMMAND_ARGS))).is_ok());
    }

    #[test]
    fn results_reach_the_caller_with_the_same_id_only() {
        let inbox = Inbox::default();
        let (a, mut rx_a) = job("status");
        let (b, rx_b) = job("uptime");
        inbox.push(a).ok().unwrap();
        inbox.push(b).ok().unwrap();
        let sent: Vec<(u32, String)> = inbox
            .take()
            .into_iter()
            .map(|m| match m {
                GatewayMsg::Command(c) => (c.id, c.name),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(sent, [(0, "status".to_string()), (1, "uptime".to_string())]);
        assert!(inbox.take().is_empty(), "each command is sent once");
        assert!(!inbox.finish(result(9, "stray")), "an unknown id is nobody's");
        assert!(inbox.finish(result(1, "up")));
        assert_eq!(output(rx_b.blocking_recv().unwrap()), "up");
        assert!(rx_a.try_recv().is_err(), "still waiting");
        assert!(!inbox.finish(result(1, "again")), "answered once");
        inbox.close();
        assert!(rx_a.blocking_recv().is_err(), "closing ends the wait");
        let (c, _rx) = job("status");
        assert!(matches!(inbox.push(c), Err(PushError::Ended)));
    }

    #[test]
    fn an_idle_inbox_is_small_and_allocates_nothing() {
        // One per session, and the gateway holds 10,000 sessions.
        let size = std::mem::size_of::<Inbox>();
        assert!(size <= 160, "{size} bytes");
        let inbox = Inbox::default();
        let st = inbox.state.lock().unwrap();
        assert_eq!((st.queued.capacity(), st.waiting.capacity()), (0, 0));
    }

    #[test]
    fn in_flight_commands_are_capped_and_abandoned_ones_forgotten() {
        let inbox = Inbox::default();
        let mut receivers = Vec::new();
        for _ in 0..MAX_COMMANDS_IN_FLIGHT {
            let (j, rx) = job("status");
            inbox.push(j).ok().unwrap();
            receivers.push(rx);
        }
        let (j, _rx) = job("status");
        assert!(matches!(inbox.push(j), Err(PushError::Busy)));
        assert_eq!(inbox.take().len(), MAX_COMMANDS_IN_FLIGHT);
        // Callers that timed out leave room; their late answers find nobody.
        receivers.truncate(2);
        let (j, _rx) = job("status");
        inbox.push(j).ok().unwrap();
        assert!(!inbox.finish(result(5, "late")));
        assert!(inbox.finish(result(1, "in time")));
    }
}
