//! Recent app log lines per device, in memory, with a live feed.
//!
//! Bounded: each device keeps its last `per_device` lines. Lines are not
//! persisted; after a platform restart only new lines are shown.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// One line an app logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// Device that sent it.
    pub device: String,
    /// App that logged it.
    pub app: String,
    /// Device uptime when logged.
    pub uptime_ms: u64,
    /// Platform wall-clock time when received, Unix ms.
    pub received_ms: u64,
    /// The text.
    pub line: String,
}

/// Per-device ring buffers of log lines.
#[derive(Debug)]
pub struct LogBook {
    lines: Mutex<HashMap<String, VecDeque<LogLine>>>,
    per_device: usize,
    feed: broadcast::Sender<LogLine>,
}

impl LogBook {
    /// Keeps the last `per_device` lines of each device.
    pub fn new(per_device: usize) -> Self {
        Self { lines: Mutex::default(), per_device, feed: broadcast::channel(4096).0 }
    }

    /// Records a line and publishes it to followers.
    pub fn push(&self, line: LogLine) {
        if let Ok(mut map) = self.lines.lock() {
            let ring = map.entry(line.device.clone()).or_default();
            if ring.len() >= self.per_device {
                ring.pop_front();
            }
            ring.push_back(line.clone());
        }
        let _ = self.feed.send(line);
    }

    /// The last `n` lines of `device`, oldest first.
    pub fn tail(&self, device: &str, n: usize) -> Vec<LogLine> {
        let Ok(map) = self.lines.lock() else { return Vec::new() };
        map.get(device)
            .map(|ring| ring.iter().skip(ring.len().saturating_sub(n)).cloned().collect())
            .unwrap_or_default()
    }

    /// Forgets a device's lines (device deleted).
    pub fn forget(&self, device: &str) {
        if let Ok(mut map) = self.lines.lock() {
            map.remove(device);
        }
    }

    /// Lines pushed from now on.
    pub fn follow(&self) -> broadcast::Receiver<LogLine> {
        self.feed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_per_device() {
        let book = LogBook::new(2);
        for i in 0..3 {
            book.push(LogLine {
                device: "d".into(),
                app: "a".into(),
                uptime_ms: i,
                received_ms: 0,
                line: i.to_string(),
            });
        }
        let got: Vec<_> = book.tail("d", 10).into_iter().map(|l| l.line).collect();
        assert_eq!(got, ["1", "2"]);
        assert!(book.tail("other", 10).is_empty());
    }
}
