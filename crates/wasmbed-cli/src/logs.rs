//! `wasmbed logs` (app log lines) and `wasmbed console` (a QEMU device's serial console).

use std::time::Duration;

use anyhow::Result;
use wasmbed_model::LogLine;

use crate::api::Api;

/// Prints a device's app log lines; with `follow`, keeps polling for more.
pub async fn logs(api: &Api, device: &str, tail: usize, follow: bool, json: bool) -> Result<()> {
    let mut seen: Option<(u64, u64)> = None;
    loop {
        let lines: Vec<LogLine> = api.get(&format!("devices/{device}/logs?tail={tail}")).await?;
        for l in lines.iter().filter(|l| seen.is_none_or(|s| (l.received_ms, l.uptime_ms) > s)) {
            if json {
                println!("{}", serde_json::to_string(l)?);
            } else {
                println!("[{}] {}: {}", l.uptime_ms, l.app, l.line);
            }
        }
        if let Some(l) = lines.last() {
            seen = Some((l.received_ms, l.uptime_ms));
        }
        if !follow {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Prints a QEMU device's console; with `follow`, keeps polling for more.
pub async fn console(api: &Api, device: &str, follow: bool) -> Result<()> {
    use std::io::Write as _;
    #[derive(serde::Deserialize)]
    struct Chunk {
        next: u64,
        text: String,
    }
    let mut offset = 0u64;
    loop {
        let chunk: Chunk = api.get(&format!("devices/{device}/console?offset={offset}")).await?;
        let mut out = std::io::stdout().lock();
        out.write_all(chunk.text.as_bytes())?;
        out.flush()?;
        let more = chunk.next > offset && !chunk.text.is_empty();
        offset = chunk.next;
        if !follow && !more {
            return Ok(());
        }
        if !more {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
}
