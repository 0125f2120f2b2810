//! The device terminal: commands from the gateway, checked against the
//! device's own allow-list and answered from what the agent knows.
//!
//! Guarantees: only the commands of [`TerminalCommand`] are carried out;
//! anything else (an unknown name, missing, extra or ill-typed arguments, an
//! app that is not installed) is answered [`CommandOutcome::Refused`] with
//! the reason, and nothing is done. The gateway relays commands without an
//! allow-list of its own, so this is where the line is held. Answers are
//! cut to [`wasmbed_protocol::MAX_COMMAND_OUTPUT`]; a command never ends
//! the session.
//!
//! `reboot` is not done here: the agent records the request
//! ([`crate::Agent::reboot_requested`]) and the platform resets once the
//! result has been sent.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

use wasmbed_protocol::{AppState, Command, CommandOutcome, CommandResult, fit_output, valid_app_name};

use crate::AgentConfig;
use crate::apps::{Apps, Note};

/// A command the device allows, with its arguments parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TerminalCommand {
    /// Identity, session, uptime, apps and free memory in one answer.
    Status,
    /// Installed apps: version, state, digest, memory.
    Apps,
    /// Free heap and what apps hold.
    Mem,
    /// Time since boot.
    Uptime,
    /// A fresh instance of an installed app (its `init` runs again).
    RestartApp(String),
    /// Reset the device once the answer is sent.
    Reboot,
}

/// Every allowed command with its usage, in the order refusals list them.
pub const ALLOWED_COMMANDS: &[&str] = &["status", "apps", "mem", "uptime", "restart-app NAME", "reboot"];

/// Why a command was refused. Its `Display` is what the gateway receives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Not on the allow-list.
    Unknown(String),
    /// A required argument is missing.
    MissingArgument {
        /// The command.
        command: &'static str,
        /// The argument it needs.
        argument: &'static str,
    },
    /// More arguments than the command takes.
    ExtraArguments {
        /// The command.
        command: &'static str,
        /// How many it takes.
        takes: usize,
        /// How many came.
        got: usize,
    },
    /// `restart-app` with something that cannot be an app name.
    InvalidAppName(String),
    /// `restart-app` of an app this device does not have.
    NoSuchApp(String),
    /// A reboot was asked for; the device takes no more commands.
    RebootPending,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Untrusted text is shown quoted and escaped (`{:?}`).
        match self {
            Self::Unknown(name) => {
                write!(f, "unknown command {name:?}; this device allows: {}", ALLOWED_COMMANDS.join(", "))
            }
            Self::MissingArgument { command, argument } => {
                write!(f, "{command} needs {argument} (usage: {})", usage(command))
            }
            Self::ExtraArguments { command, takes: 0, got } => {
                write!(f, "{command} takes no arguments, got {got} (usage: {})", usage(command))
            }
            Self::ExtraArguments { command, takes, got } => {
                write!(f, "{command} takes {takes} argument(s), got {got} (usage: {})", usage(command))
            }
            Self::InvalidAppName(name) => write!(
                f,
                "restart-app: {name:?} is not an app name (1 to 63 of a-z, 0-9 and '-', not starting with '-')"
            ),
            Self::NoSuchApp(name) => write!(f, "restart-app: no app named {name:?} is installed on this device"),
            Self::RebootPending => f.write_str("a reboot is pending; no more commands are taken"),
        }
    }
}

fn usage(command: &str) -> &'static str {
    ALLOWED_COMMANDS.iter().find(|u| u.split(' ').next() == Some(command)).copied().unwrap_or("")
}

impl TerminalCommand {
    /// Parses a command name and its arguments against the allow-list.
    /// Names match exactly (no case folding, no abbreviations).
    pub fn parse(name: &str, args: &[impl AsRef<str>]) -> Result<Self, Refusal> {
        let no_args = |command: &'static str, cmd: Self| match args.len() {
            0 => Ok(cmd),
            got => Err(Refusal::ExtraArguments { command, takes: 0, got }),
        };
        match name {
            "status" => no_args("status", Self::Status),
            "apps" => no_args("apps", Self::Apps),
            "mem" => no_args("mem", Self::Mem),
            "uptime" => no_args("uptime", Self::Uptime),
            "reboot" => no_args("reboot", Self::Reboot),
            "restart-app" => match args {
                [] => Err(Refusal::MissingArgument { command: "restart-app", argument: "NAME" }),
                [app] if valid_app_name(app.as_ref()) => Ok(Self::RestartApp(app.as_ref().to_string())),
                [app] => Err(Refusal::InvalidAppName(app.as_ref().to_string())),
                _ => Err(Refusal::ExtraArguments { command: "restart-app", takes: 1, got: args.len() }),
            },
            other => Err(Refusal::Unknown(other.to_string())),
        }
    }
}

/// What the agent knows that a command may report or change.
pub(crate) struct Context<'a> {
    pub cfg: &'a AgentConfig,
    pub apps: &'a mut Apps,
    /// Free heap as last passed to `poll`.
    pub free_memory: Option<usize>,
    pub heartbeat_ms: u64,
    pub reboot_pending: bool,
    pub now: u64,
}

/// Answers `cmd`. True in the second place when the device must reboot
/// after sending the result.
pub(crate) fn answer(cmd: Command, cx: Context<'_>, notes: &mut Vec<Note>) -> (CommandResult, bool) {
    let parsed =
        if cx.reboot_pending { Err(Refusal::RebootPending) } else { TerminalCommand::parse(&cmd.name, &cmd.args) };
    let (outcome, output, reboot) = match parsed {
        Err(why) => (CommandOutcome::Refused, why.to_string(), false),
        Ok(TerminalCommand::Status) => (CommandOutcome::Ok, status(&cx), false),
        Ok(TerminalCommand::Apps) => (CommandOutcome::Ok, apps(&cx), false),
        Ok(TerminalCommand::Mem) => (CommandOutcome::Ok, mem(&cx), false),
        Ok(TerminalCommand::Uptime) => (CommandOutcome::Ok, uptime(cx.now), false),
        Ok(TerminalCommand::RestartApp(app)) => {
            let (outcome, output) = restart(cx, &app, notes);
            (outcome, output, false)
        }
        Ok(TerminalCommand::Reboot) => {
            (CommandOutcome::Ok, "rebooting: the device resets once this answer is sent".into(), true)
        }
    };
    (CommandResult { id: cmd.id, outcome, output: fit_output(output) }, reboot)
}

fn bytes(n: Option<usize>) -> String {
    n.map_or_else(|| "unknown".into(), |n| format!("{n} bytes"))
}

fn status(cx: &Context<'_>) -> String {
    let apps = cx.apps.usage();
    let running = apps.iter().filter(|(r, _)| r.state == AppState::Running).count();
    let mut out = String::new();
    let _ = writeln!(out, "device: {}", cx.cfg.device_id);
    let _ = writeln!(out, "board: {}", cx.cfg.board);
    let _ = writeln!(out, "firmware: {}", cx.cfg.firmware_version);
    let _ = writeln!(out, "simulated: {}", if cx.cfg.simulated { "yes (host simulator)" } else { "no" });
    let _ = writeln!(out, "session: online, heartbeat every {} ms", cx.heartbeat_ms);
    let _ = writeln!(out, "uptime_ms: {}", cx.now);
    let _ = writeln!(out, "apps: {} installed, {running} running", apps.len());
    let _ = write!(out, "free_heap: {}", bytes(cx.free_memory));
    out
}

fn apps(cx: &Context<'_>) -> String {
    let apps = cx.apps.usage();
    if apps.is_empty() {
        return "no apps installed".into();
    }
    let mut out = String::from("name version state sha256 memory_bytes");
    for (r, mem) in apps {
        let sha: String = r.sha256.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let _ = write!(out, "\n{} {} {} {sha} {mem}", r.app, r.version, r.state.as_str());
    }
    out
}

fn mem(cx: &Context<'_>) -> String {
    let apps = cx.apps.usage();
    let mut out = String::new();
    let _ = writeln!(out, "free_heap: {}", bytes(cx.free_memory));
    if let Some(size) = cx.cfg.heap_size {
        let _ = writeln!(out, "heap_size: {size} bytes");
    }
    let _ = write!(out, "app_memory: {} bytes (modules and linear memories)", cx.apps.memory_bytes());
    for (r, mem) in apps {
        let _ = write!(out, "\n  {}: {mem} bytes", r.app);
    }
    out
}

fn uptime(now: u64) -> String {
    let (s, ms) = (now / 1000, now % 1000);
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    format!("uptime_ms: {now}\nuptime: {d}d {h:02}:{m:02}:{s:02}.{ms:03}")
}

fn restart(cx: Context<'_>, app: &str, notes: &mut Vec<Note>) -> (CommandOutcome, String) {
    let first_new = notes.len();
    let Some(report) = cx.apps.restart(app, cx.now, notes) else {
        return (CommandOutcome::Refused, Refusal::NoSuchApp(app.into()).to_string());
    };
    let what = format!("restarted {} (version {})", report.app, report.version);
    if report.state == AppState::Running {
        return (CommandOutcome::Ok, format!("{what}: running"));
    }
    let why = notes.get(first_new..).unwrap_or_default().iter().rev().find_map(|n| match n {
        Note::Status(s) if s.report.app == app => s.reason.as_ref(),
        _ => None,
    });
    let why = why.map_or_else(|| report.state.as_str().into(), |r| format!("{}: {}", r.code.as_str(), r.detail));
    (CommandOutcome::Failed, format!("{what}, but it failed: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn parse(line: &str) -> Result<TerminalCommand, Refusal> {
        let mut parts = line.split_whitespace();
        let name = parts.next().unwrap_or("");
        let args: Vec<&str> = parts.collect();
        TerminalCommand::parse(name, &args)
    }

    #[test]
    fn every_allowed_command_parses() {
        assert_eq!(parse("status"), Ok(TerminalCommand::Status));
        assert_eq!(parse("apps"), Ok(TerminalCommand::Apps));
        assert_eq!(parse("mem"), Ok(TerminalCommand::Mem));
        assert_eq!(parse("uptime"), Ok(TerminalCommand::Uptime));
        assert_eq!(parse("reboot"), Ok(TerminalCommand::Reboot));
        assert_eq!(parse("restart-app hello-2"), Ok(TerminalCommand::RestartApp("hello-2".into())));
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        let cases = [
            ("rm -rf /", Refusal::Unknown("rm".into())),
            ("", Refusal::Unknown("".into())),
            ("STATUS", Refusal::Unknown("STATUS".into())),
            ("stat", Refusal::Unknown("stat".into())),
            ("reboot now", Refusal::ExtraArguments { command: "reboot", takes: 0, got: 1 }),
            ("status -v", Refusal::ExtraArguments { command: "status", takes: 0, got: 1 }),
            ("mem a b", Refusal::ExtraArguments { command: "mem", takes: 0, got: 2 }),
            ("restart-app", Refusal::MissingArgument { command: "restart-app", argument: "NAME" }),
            ("restart-app a b", Refusal::ExtraArguments { command: "restart-app", takes: 1, got: 2 }),
            ("restart-app Bad_Name", Refusal::InvalidAppName("Bad_Name".into())),
            ("restart-app -x", Refusal::InvalidAppName("-x".into())),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), Err(want), "{line:?}");
        }
        let long = "a".repeat(64);
        assert_eq!(TerminalCommand::parse("restart-app", &[long.as_str()]), Err(Refusal::InvalidAppName(long)));
    }

    #[test]
    fn refusals_say_why_and_escape_what_they_quote() {
        let unknown = Refusal::Unknown("rm\n\u{1b}[2J".into()).to_string();
        assert_eq!(
            unknown,
            "unknown command \"rm\\n\\u{1b}[2J\"; this device allows: status, apps, mem, uptime, restart-app NAME, reboot"
        );
        let extra = Refusal::ExtraArguments { command: "reboot", takes: 0, got: 1 }.to_string();
        assert_eq!(extra, "reboot takes no arguments, got 1 (usage: reboot)");
        let missing = Refusal::MissingArgument { command: "restart-app", argument: "NAME" }.to_string();
        assert_eq!(missing, "restart-app needs NAME (usage: restart-app NAME)");
        let two = Refusal::ExtraArguments { command: "restart-app", takes: 1, got: 2 }.to_string();
        assert_eq!(two, "restart-app takes 1 argument(s), got 2 (usage: restart-app NAME)");
    }

    #[test]
    fn uptime_reads_as_days_and_clock_time() {
        assert_eq!(uptime(0), "uptime_ms: 0\nuptime: 0d 00:00:00.000");
        assert_eq!(uptime(90_061_005), "uptime_ms: 90061005\nuptime: 1d 01:01:01.005");
        assert!(uptime(u64::MAX).starts_with("uptime_ms: 18446744073709551615"));
    }

    #[test]
    fn a_pending_reboot_refuses_further_commands() {
        let cfg = AgentConfig::new("d", "sim");
        let mut apps = Apps::new(1, 1024, "d", cfg.budget);
        let cx =
            Context { cfg: &cfg, apps: &mut apps, free_memory: None, heartbeat_ms: 1000, reboot_pending: true, now: 5 };
        let cmd = Command { id: 3, name: "status".into(), args: vec![] };
        let (result, reboot) = answer(cmd, cx, &mut Vec::new());
        assert_eq!((result.id, result.outcome, reboot), (3, CommandOutcome::Refused, false));
        assert_eq!(result.output, Refusal::RebootPending.to_string());
    }
}
