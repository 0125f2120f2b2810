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
use crate::units::{parse_duration, utc};

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
