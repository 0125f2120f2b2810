//! A small client of QEMU's machine protocol (QMP) over a Unix socket:
//! what the platform needs to drive a running device's world — set and
//! read a QOM property (a sensor's value), run a monitor command (read a
//! word of guest memory), resume a CPU started with `-S`.
//!
//! QMP is JSON, one object per line: QEMU greets, the client sends
//! `qmp_capabilities`, then each command gets a `return` or an `error`;
//! asynchronous `event`s may come in between and are skipped. Every wait is
//! bounded ([`Qmp::connect`]'s timeout), every line is at most
//! [`MAX_LINE`] bytes, and every QMP error comes back as its text
//! ([`QmpError::Command`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), wasmbed_qemu::qmp::QmpError> {
//! use std::time::Duration;
//! let mut qmp = wasmbed_qemu::qmp::Qmp::connect("dev/qmp.sock".as_ref(), Duration::from_secs(2)).await?;
//! qmp.qom_set("/machine/peripheral/temp0", "temperature", 31_500.into()).await?;
//! assert_eq!(qmp.qom_get("/machine/peripheral/temp0", "temperature").await?, 31_500);
//! let leds = qmp.read_word(0x4002_8000).await?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// Longest line read from QEMU.
pub const MAX_LINE: u64 = 64 * 1024;

/// Why a QMP exchange failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QmpError {
    /// The socket could not be reached.
    #[error("cannot connect to QMP at {}: {source}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("QMP: {0}")]
    Io(#[from] std::io::Error),
    /// QEMU did not answer in time.
    #[error("QMP: no answer within {0:?}")]
    Timeout(Duration),
    /// QEMU closed the connection (it exited, or serves another client).
    #[error("QMP: QEMU closed the connection")]
    Closed,
    /// QEMU sent something this client does not understand.
    #[error("QMP: unexpected answer: {0}")]
    Unexpected(String),
    /// QEMU refused the command.
    #[error("{desc} ({class})")]
    Command {
        /// QMP's error class (`GenericError`, `DeviceNotFound`, ...).
        class: String,
        /// QEMU's words.
        desc: String,
    },
}

/// One QMP session, capabilities negotiated.
#[derive(Debug)]
pub struct Qmp {
    input: BufReader<OwnedReadHalf>,
    output: OwnedWriteHalf,
    timeout: Duration,
}

impl Qmp {
    /// Connects to the socket at `path`, reads QEMU's greeting and leaves
    /// negotiation mode. `timeout` bounds this and each later command.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Self, QmpError> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| QmpError::Timeout(timeout))?
            .map_err(|source| QmpError::Connect { path: path.to_path_buf(), source })?;
        let (input, output) = stream.into_split();
        let mut qmp = Self { input: BufReader::new(input), output, timeout };
        let greeting = tokio::time::timeout(timeout, qmp.line()).await.map_err(|_| QmpError::Timeout(timeout))??;
        if greeting.get("QMP").is_none() {
            return Err(QmpError::Unexpected(format!("not a QMP greeting: {greeting}")));
        }
        qmp.execute("qmp_capabilities", None).await?;
        Ok(qmp)
    }

    /// Runs `command` and returns what it returned.
    pub async fn execute(&mut self, command: &str, arguments: Option<Value>) -> Result<Value, QmpError> {
        let mut msg = json!({ "execute": command });
        if let Some(a) = arguments {
            msg["arguments"] = a;
        }
        let mut bytes = msg.to_string().into_bytes();
        bytes.push(b'\n');
        let timeout = self.timeout;
        let exchange = async {
            self.output.write_all(&bytes).await?;
            loop {
                let v = self.line().await?;
                if v.get("event").is_some() {
                    continue;
                }
                if let Some(r) = v.get("return") {
                    return Ok(r.clone());
                }
                if let Some(e) = v.get("error") {
                    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("?").to_string();
                    return Err(QmpError::Command { class: text("class"), desc: text("desc") });
                }
                return Err(QmpError::Unexpected(v.to_string()));
            }
        };
        tokio::time::timeout(timeout, exchange).await.map_err(|_| QmpError::Timeout(timeout))?
    }

    /// Sets property `property` of the QOM object at `path`.
    pub async fn qom_set(&mut self, path: &str, property: &str, value: Value) -> Result<(), QmpError> {
        self.execute("qom-set", Some(json!({ "path": path, "property": property, "value": value }))).await.map(drop)
    }

    /// An integer property of the QOM object at `path`.
    pub async fn qom_get(&mut self, path: &str, property: &str) -> Result<i64, QmpError> {
        let v = self.execute("qom-get", Some(json!({ "path": path, "property": property }))).await?;
        v.as_i64().ok_or_else(|| QmpError::Unexpected(format!("{path} {property} is {v}, not an integer")))
    }

    /// Runs a human monitor command and returns its output.
    pub async fn hmp(&mut self, command_line: &str) -> Result<String, QmpError> {
        let v = self.execute("human-monitor-command", Some(json!({ "command-line": command_line }))).await?;
        v.as_str().map(String::from).ok_or_else(|| QmpError::Unexpected(format!("monitor output {v}")))
    }

    /// The 32-bit word at physical address `addr` (`xp /1wx`), as the bus
    /// sees it: for a device register, what the device model answers.
    pub async fn read_word(&mut self, addr: u64) -> Result<u32, QmpError> {
        let out = self.hmp(&format!("xp /1wx {addr:#x}")).await?;
        parse_xp(&out).ok_or_else(|| QmpError::Command { class: "xp".into(), desc: out.trim().to_string() })
    }

    /// Resumes a CPU stopped by `-S` or `stop`.
    pub async fn cont(&mut self) -> Result<(), QmpError> {
        self.execute("cont", None).await.map(drop)
    }

    /// The next JSON line, at most [`MAX_LINE`] bytes.
    async fn line(&mut self) -> Result<Value, QmpError> {
        let mut buf = Vec::new();
        let n = (&mut self.input).take(MAX_LINE).read_until(b'\n', &mut buf).await?;
        if n == 0 {
            return Err(QmpError::Closed);
        }
        if buf.last() != Some(&b'\n') {
            return Err(QmpError::Unexpected(format!("a line longer than {MAX_LINE} bytes, or cut short")));
        }
        serde_json::from_slice(&buf).map_err(|e| QmpError::Unexpected(format!("not JSON ({e})")))
    }
}

/// The value in `xp /1wx` output (`0000000040028000: 0x00000001`).
fn parse_xp(out: &str) -> Option<u32> {
    let (_, value) = out.trim().split_once(": ")?;
    u32::from_str_radix(value.trim().strip_prefix("0x")?, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    #[test]
    fn xp_output_parses_and_errors_do_not() {
        assert_eq!(parse_xp("0000000040028000: 0x00000003\r\n"), Some(3));
        assert_eq!(parse_xp("0000000ffffffff0: Cannot access memory\r\n"), None);
        assert_eq!(parse_xp(""), None);
    }

    /// A fake QEMU: greets, then answers each line with the next reply
    /// (which may be several lines: events before the answer).
    async fn fake(replies: Vec<&'static str>) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let (r, mut w) = s.into_split();
            let mut lines = BufReader::new(r).lines();
            w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").await.unwrap();
            for reply in std::iter::once("{\"return\": {}}").chain(replies) {
                if lines.next_line().await.unwrap().is_none() {
                    return;
                }
                w.write_all(reply.as_bytes()).await.unwrap();
                w.write_all(b"\n").await.unwrap();
            }
            // Then say nothing, as a stuck QEMU would.
            std::future::pending::<()>().await;
        });
        (dir, path)
    }

    #[tokio::test]
    async fn events_are_skipped_and_errors_come_back_as_text() {
        let (_dir, path) = fake(vec![
            "{\"event\": \"RESUME\", \"timestamp\": {}}\n{\"return\": 31500}",
            r#"{"error": {"class": "GenericError", "desc": "value 200.000 C is out of range"}}"#,
            r#"{"return": "0000000040028000: 0x00000001\r\n"}"#,
        ])
        .await;
        let mut q = Qmp::connect(&path, Duration::from_secs(2)).await.unwrap();
        assert_eq!(q.qom_get("/machine/peripheral/temp0", "temperature").await.unwrap(), 31_500);
        let e = q.qom_set("/machine/peripheral/temp0", "temperature", 200_000.into()).await.unwrap_err();
        assert_eq!(e.to_string(), "value 200.000 C is out of range (GenericError)");
        assert_eq!(q.read_word(0x4002_8000).await.unwrap(), 1);
        let e = q.cont().await.unwrap_err();
        assert!(matches!(e, QmpError::Timeout(_)), "a silent QEMU is a bounded wait: {e}");
    }

    #[tokio::test]
    async fn no_socket_and_no_greeting_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = Qmp::connect(&dir.path().join("none.sock"), Duration::from_secs(1)).await.unwrap_err();
        assert!(e.to_string().contains("cannot connect to QMP"), "{e}");
        let path = dir.path().join("mute.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let e = Qmp::connect(&path, Duration::from_millis(200)).await.unwrap_err();
        assert!(matches!(e, QmpError::Timeout(_)), "{e}");
        drop(listener);
    }
}
