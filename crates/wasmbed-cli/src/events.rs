//! Reading the API's live event stream (`GET /api/v1/events`, server-sent
//! events): the verbs that follow something (`telemetry --follow`) take
//! events from here, by name, with their JSON data.

use anyhow::{Result, bail};

use crate::api::Api;

/// Most bytes of one event held before it is complete (the first event,
/// the snapshot, holds the whole fleet).
const MAX_EVENT: usize = 64 << 20;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Its name (`snapshot`, `device`, `telemetry`, `lagged`, ...).
    pub name: String,
    /// Its data: JSON.
    pub data: String,
}

/// An open event stream.
pub struct EventStream {
    resp: reqwest::Response,
    pending: Vec<u8>,
}

impl EventStream {
    /// Connects; the first event is the `snapshot`.
    pub async fn open(api: &Api) -> Result<Self> {
        Ok(Self { resp: api.get_stream("events").await?, pending: Vec::new() })
    }

    /// The next event; `None` when the server ended the stream.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            while let Some(end) = find_blank_line(&self.pending) {
                let block: Vec<u8> = self.pending.drain(..end.1).collect();
                if let Some(ev) = parse(&String::from_utf8_lossy(&block[..end.0])) {
                    return Ok(Some(ev));
                }
            }
            if self.pending.len() > MAX_EVENT {
                bail!("an event over {MAX_EVENT} bytes on the event stream");
            }
            match self.resp.chunk().await? {
                Some(chunk) => self.pending.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// Where the first event ends: (end of its text, end of its blank line).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// One event's lines; `None` for a block without data (a keep-alive comment).
fn parse(block: &str) -> Option<Event> {
    let (mut name, mut data) = (None, Vec::new());
    for line in block.lines() {
        let line = line.trim_end_matches('\r');
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = Some(value.to_string()),
            "data" => data.push(value),
            _ => {} // comments (`:`), ids, retry hints
        }
    }
    if data.is_empty() {
        return None;
    }
    Some(Event { name: name.unwrap_or_else(|| "message".into()), data: data.join("\n") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_named_blocks_of_data_and_comments_are_skipped() {
        assert_eq!(
            parse("event: telemetry\ndata: {\"value\":1}"),
            Some(Event { name: "telemetry".into(), data: "{\"value\":1}".into() })
        );
        assert_eq!(parse("data: a\ndata: b").map(|e| (e.name, e.data)), Some(("message".into(), "a\nb".into())));
        assert_eq!(parse(":keep-alive"), None);
        assert_eq!(parse("event: x\r\ndata:y\r").map(|e| e.data), Some("y".into()));
        assert_eq!(find_blank_line(b"event: a\ndata: 1\n\nevent: b"), Some((16, 18)));
        assert_eq!(find_blank_line(b"data: 1\r\n\r\n"), Some((7, 11)));
        assert_eq!(find_blank_line(b"data: 1\n"), None);
    }
}
