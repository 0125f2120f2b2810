//! `wasmbed telemetry DEVICE [--metric M] [--since 10m] [--follow]`: what a
//! device's apps publish — its metrics, one metric's points, or samples as
//! they arrive (from the API's event stream).

use std::collections::HashMap;

use anyhow::{Context, Result, bail};
use clap::Args;
use wasmbed_model::TelemetrySample;
use wasmbed_model::clock::unix_ms;
use wasmbed_model::telemetry::{MetricSummary, SeriesRange};

use crate::api::Api;
use crate::events::EventStream;
use crate::output::{ago, print_json, table};

#[derive(Args, Debug)]
pub struct TelemetryArgs {
    /// Device name.
    pub device: String,
    /// One metric: its points (default: a table of every metric).
    #[arg(long, short)]
    pub metric: Option<String>,
    /// How far back, e.g. `30s`, `10m`, `2h`, `1d`.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    pub since: u64,
    /// Keep printing samples as they arrive, one line each, until Ctrl-C.
    #[arg(long, short)]
    pub follow: bool,
}

/// `500ms`, `30s`, `10m`, `2h`, `1d` (a bare number is seconds), in ms.
fn parse_duration(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: expected a duration like 30s, 10m, 2h or 1d"))?;
    let per = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("{s:?}: unknown unit {unit:?}; use ms, s, m, h or d")),
    };
    n.checked_mul(per).ok_or_else(|| format!("{s:?}: too long"))
}

/// `2024-05-01 12:34:56.789` (UTC) from Unix ms.
fn utc(ms: u64) -> String {
    let (secs, milli) = (ms / 1000, ms % 1000);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{milli:03}", rem / 3600, rem / 60 % 60, rem % 60)
}

pub async fn run(api: &Api, a: TelemetryArgs, json: bool) -> Result<()> {
    let device = &a.device;
    // Subscribed before the history is read, so nothing falls in between.
    let stream = if a.follow { Some(EventStream::open(api).await?) } else { None };
    let mut last: HashMap<String, u64> = HashMap::new();
    match &a.metric {
        None => {
            let metrics: Vec<MetricSummary> = api.get(&format!("devices/{device}/telemetry")).await?;
            for m in &metrics {
                last.insert(m.metric.clone(), m.last.t_ms);
            }
            if json && !a.follow {
                print_json(&metrics)?;
            } else if !json {
                let rows: Vec<Vec<String>> = metrics
                    .iter()
                    .map(|m| {
                        vec![
                            m.metric.clone(),
                            m.app.clone(),
                            m.last.value.to_string(),
                            ago(Some(m.last.t_ms)),
                            m.received.to_string(),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!("{device} has published no telemetry yet");
                } else {
                    table(&["METRIC", "APP", "LAST", "AT", "RECEIVED"], &rows);
                }
            }
        }
        Some(metric) => {
            let from = unix_ms().saturating_sub(a.since);
            let range: SeriesRange = api.get(&format!("devices/{device}/telemetry/{metric}?from={from}")).await?;
            if let Some(p) = range.points.last() {
                last.insert(metric.clone(), p.t_ms);
            }
            if json && !a.follow {
                print_json(&range)?;
            } else if json {
                for p in &range.points {
                    println!(
                        "{}",
                        serde_json::json!({ "device": device, "metric": metric, "tMs": p.t_ms, "value": p.value })
                    );
                }
            } else {
                if !range.buckets.is_empty() {
                    let rows: Vec<Vec<String>> = range
                        .buckets
                        .iter()
                        .map(|b| {
                            vec![
                                utc(b.t_ms),
                                b.min.to_string(),
                                b.mean.to_string(),
                                b.max.to_string(),
                                b.count.to_string(),
                            ]
                        })
                        .collect();
                    table(&["MINUTE (UTC)", "MIN", "MEAN", "MAX", "POINTS"], &rows);
                    println!();
                }
                let rows: Vec<Vec<String>> =
                    range.points.iter().map(|p| vec![utc(p.t_ms), p.value.to_string()]).collect();
                if rows.is_empty() && range.buckets.is_empty() {
                    println!("no {metric} points from {device} in the last {} s", a.since / 1000);
                } else {
                    table(&["TIME (UTC)", "VALUE"], &rows);
                }
            }
        }
    }
    let Some(mut stream) = stream else { return Ok(()) };
    follow(&mut stream, device, a.metric.as_deref(), &mut last, json).await
}

/// Prints each new sample of `device` (and `metric`) until the stream ends.
async fn follow(
    stream: &mut EventStream,
    device: &str,
    metric: Option<&str>,
    last: &mut HashMap<String, u64>,
    json: bool,
) -> Result<()> {
    use std::io::Write as _;
    while let Some(ev) = stream.next().await? {
        match ev.name.as_str() {
            "telemetry" => {}
            "lagged" => {
                eprintln!("warning: this client fell behind the event stream; some samples were not shown");
                continue;
            }
            _ => continue,
        }
        let s: TelemetrySample = serde_json::from_str(&ev.data).context("a telemetry event that does not parse")?;
        if s.device != device || metric.is_some_and(|m| m != s.metric) {
            continue;
        }
        // Already printed with the history.
        if last.get(&s.metric).is_some_and(|t| s.t_ms <= *t) {
            continue;
        }
        last.insert(s.metric.clone(), s.t_ms);
        let mut out = std::io::stdout().lock();
        if json {
            writeln!(out, "{}", ev.data)?;
        } else {
            writeln!(out, "{}  {}={}  ({})", utc(s.t_ms), s.metric, s.value, s.app)?;
        }
        out.flush()?;
    }
    bail!("the event stream ended (the platform stopped?)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_have_units_and_bad_ones_are_named() {
        assert_eq!(parse_duration("10m"), Ok(600_000));
        assert_eq!(parse_duration("30"), Ok(30_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("m").unwrap_err().contains("expected a duration"));
        assert!(parse_duration("99999999999999999999h").is_err());
    }

    #[test]
    fn times_print_as_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000");
    }
}
