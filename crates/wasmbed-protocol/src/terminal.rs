//! The device terminal's messages: a [`Command`] from the gateway and the
//! device's [`CommandResult`].
//!
//! A command travels as data (a name and string arguments), not as a typed
//! enum: a device parses it into its own allow-list and answers anything
//! else with a [`CommandOutcome::Refused`] result naming why, instead of
//! failing to decode an unknown variant (which would end the session).
//!
//! Guarantees: every text field is bounded ([`MAX_COMMAND_NAME_LEN`],
//! [`MAX_COMMAND_ARGS`], [`MAX_COMMAND_ARG_LEN`], [`MAX_COMMAND_OUTPUT`]).
//! Decoding refuses a message over a bound (the frame is then malformed),
//! checking each claimed length before copying anything; encoding refuses
//! one too, so a peer is never sent what it would refuse. Use
//! [`Command::check_bounds`] and [`fit_output`] before sending.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use minicbor::{Decode, Decoder, Encode, Encoder, decode, encode};

/// Longest command name, bytes.
pub const MAX_COMMAND_NAME_LEN: usize = 32;
/// Most arguments of one command.
pub const MAX_COMMAND_ARGS: usize = 8;
/// Longest single argument, bytes (an app name is at most 63).
pub const MAX_COMMAND_ARG_LEN: usize = 64;
/// Longest result text, bytes.
pub const MAX_COMMAND_OUTPUT: usize = 2048;

/// A terminal command for the device; answered by a [`CommandResult`] with
/// the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct Command {
    /// Chosen by the gateway, unique among its commands in flight on this
    /// session.
    #[n(0)]
    pub id: u32,
    /// Command name, e.g. `status` (at most [`MAX_COMMAND_NAME_LEN`] bytes).
    #[n(1)]
    #[cbor(encode_with = "encode_name", decode_with = "decode_name")]
    pub name: String,
    /// Arguments, uninterpreted on the wire (at most [`MAX_COMMAND_ARGS`],
    /// each at most [`MAX_COMMAND_ARG_LEN`] bytes).
    #[n(2)]
    #[cbor(encode_with = "encode_args", decode_with = "decode_args")]
    pub args: Vec<String>,
}

/// How the device dealt with a command (lower-case names in the API's
/// JSON, with the `serde` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Encode, Decode)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize), serde(rename_all = "lowercase"))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(rename_all = "lowercase"))]
#[cbor(index_only)]
pub enum CommandOutcome {
    /// Done; `output` is the answer.
    #[n(0)]
    Ok,
    /// Not on the device's allow-list, or ill-formed; `output` says why.
    /// Nothing was done.
    #[n(1)]
    Refused,
    /// Allowed, tried, and did not succeed; `output` says why.
    #[n(2)]
    Failed,
}

impl CommandOutcome {
    /// Lower-case name, as shown by CLI and API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }
}

/// The device's answer to the [`Command`] with the same `id`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct CommandResult {
    /// The command's id.
    #[n(0)]
    pub id: u32,
    /// What happened.
    #[n(1)]
    pub outcome: CommandOutcome,
    /// Human-readable answer or reason (at most [`MAX_COMMAND_OUTPUT`] bytes).
    #[n(2)]
    #[cbor(encode_with = "encode_output", decode_with = "decode_output")]
    pub output: String,
}

/// Which bound a command or result exceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandBoundError {
    /// The name is longer than [`MAX_COMMAND_NAME_LEN`].
    NameTooLong(usize),
    /// More than [`MAX_COMMAND_ARGS`] arguments.
    TooManyArgs(usize),
    /// Argument `index` is longer than [`MAX_COMMAND_ARG_LEN`].
    ArgTooLong {
        /// Position of the argument, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The output is longer than [`MAX_COMMAND_OUTPUT`].
    OutputTooLong(usize),
}

impl fmt::Display for CommandBoundError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NameTooLong(n) => write!(f, "command name of {n} bytes exceeds {MAX_COMMAND_NAME_LEN}"),
            Self::TooManyArgs(n) => write!(f, "{n} arguments exceed the limit of {MAX_COMMAND_ARGS}"),
            Self::ArgTooLong { index, len } => {
                write!(f, "argument {} of {len} bytes exceeds {MAX_COMMAND_ARG_LEN}", index + 1)
            }
            Self::OutputTooLong(n) => write!(f, "output of {n} bytes exceeds {MAX_COMMAND_OUTPUT}"),
        }
    }
}

impl core::error::Error for CommandBoundError {}

impl Command {
    /// Checks the name and arguments against the wire bounds.
    pub fn check_bounds(name: &str, args: &[impl AsRef<str>]) -> Result<(), CommandBoundError> {
        if name.len() > MAX_COMMAND_NAME_LEN {
            return Err(CommandBoundError::NameTooLong(name.len()));
        }
        if args.len() > MAX_COMMAND_ARGS {
            return Err(CommandBoundError::TooManyArgs(args.len()));
        }
        match args.iter().position(|a| a.as_ref().len() > MAX_COMMAND_ARG_LEN) {
            Some(index) => Err(CommandBoundError::ArgTooLong { index, len: args[index].as_ref().len() }),
            None => Ok(()),
        }
    }
}

/// Cuts `text` to at most [`MAX_COMMAND_OUTPUT`] bytes on a character
/// boundary, ending a cut text with a marker saying so.
pub fn fit_output(mut text: String) -> String {
    const MARK: &str = "\n[output truncated]";
    if text.len() <= MAX_COMMAND_OUTPUT {
        return text;
    }
    let mut end = MAX_COMMAND_OUTPUT - MARK.len();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push_str(MARK);
    text
}

fn bounded_str<'b>(d: &mut Decoder<'b>, max: usize, what: &'static str) -> Result<&'b str, decode::Error> {
    // Borrowed from the input: the length was checked against the bytes
    // present, and nothing is copied before this check.
    let s = d.str()?;
    if s.len() > max {
        return Err(decode::Error::message(what));
    }
    Ok(s)
}

// A bounded text field's `encode_with`/`decode_with` pair: the same bound
// and message both ways.
macro_rules! bounded_text {
    ($encode:ident, $decode:ident, $max:expr, $what:literal) => {
        fn $encode<Ctx, W: encode::Write>(
            v: &str,
            e: &mut Encoder<W>,
            _: &mut Ctx,
        ) -> Result<(), encode::Error<W::Error>> {
            if v.len() > $max {
                return Err(encode::Error::message($what));
            }
            e.str(v)?;
            Ok(())
        }

        fn $decode<'b, Ctx>(d: &mut Decoder<'b>, _: &mut Ctx) -> Result<String, decode::Error> {
            bounded_str(d, $max, $what).map(String::from)
        }
    };
}

bounded_text!(encode_name, decode_name, MAX_COMMAND_NAME_LEN, "command name too long");
bounded_text!(encode_output, decode_output, MAX_COMMAND_OUTPUT, "command output too long");

fn encode_args<Ctx, W: encode::Write>(
    v: &[String],
    e: &mut Encoder<W>,
    _: &mut Ctx,
) -> Result<(), encode::Error<W::Error>> {
    Command::check_bounds("", v).map_err(|_| encode::Error::message("command arguments over their bounds"))?;
    e.array(v.len() as u64)?;
    for a in v {
        e.str(a)?;
    }
    Ok(())
}

fn decode_args<'b, Ctx>(d: &mut Decoder<'b>, _: &mut Ctx) -> Result<Vec<String>, decode::Error> {
    // Definite length only (what `encode_args` writes), checked before any
    // allocation, so a huge claim costs nothing.
    let n = match d.array()? {
        Some(n) if n <= MAX_COMMAND_ARGS as u64 => n as usize,
        Some(_) => return Err(decode::Error::message("too many command arguments")),
        None => return Err(decode::Error::message("indefinite-length command arguments")),
    };
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        args.push(String::from(bounded_str(d, MAX_COMMAND_ARG_LEN, "command argument too long")?));
    }
    Ok(args)
}
