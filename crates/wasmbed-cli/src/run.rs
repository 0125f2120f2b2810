//! `wasmbed run`: try an app before deploying it. The module runs on the
//! host build of the device agent (`wasmbed_sim::local`: a real agent
//! with simulated peripherals shaped like the board, and a simulated
//! clock), and its log lines, telemetry, LED changes and serial output are
//! printed as it ticks. No platform is needed.
//!
//! Capabilities: the groups the module imports, plus what `--grant` names
//! (hardware, which only `--grant` can give: `gpio:led0`, `i2c:0:0x48`).
//! A grant the board cannot satisfy, or a malformed one, is refused before
//! anything runs.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;
use wasmbed_model::board_table::{describe, peripherals_have};
use wasmbed_protocol::{
    ConfigEntry, Grant, MAX_CONFIG_ENTRIES, MAX_CONFIG_VALUE_LEN, Resource, split_grants, valid_config_key,
};
use wasmbed_sim::SimPeripherals;
use wasmbed_sim::local::{Event, LocalRun, LocalSetup, Stamped, imported_groups};

/// Flags of `wasmbed run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The app: a WebAssembly module (`.wasm`).
    module: PathBuf,
    /// The board to simulate: `sim` or a board of the table (its
    /// peripherals, heap and name).
    #[arg(long)]
    board: String,
    /// A sensor's physical value, `NAME=VALUE`: `temp0=21.5` (°C, the
    /// TMP105 at i2c:0:0x48), `adc0=1.2` (volts). Repeatable.
    #[arg(long = "sensor", value_name = "NAME=VALUE")]
    sensors: Vec<String>,
    /// A configuration entry the app reads, `KEY=VALUE`. Repeatable.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    config: Vec<String>,
    /// A message sent to the app after `init`, before the first tick.
    /// Repeatable; sent in order.
    #[arg(long = "message", value_name = "TEXT")]
    messages: Vec<String>,
    /// Ticks to run.
    #[arg(long, default_value_t = 5)]
    ticks: u32,
    /// Tick interval, ms (simulated time: the run does not wait).
    #[arg(long, default_value_t = 1000)]
    tick_ms: u32,
    /// A capability beyond the groups the module imports: hardware
    /// (`gpio:led0`, `i2c:0:0x48`, `spi:0`, `adc:1`, `uart:1`) or a group.
    /// Repeatable.
    #[arg(long = "grant", value_name = "CAPABILITY")]
    grants: Vec<String>,
}

/// Runs the app, printing what it does (one JSON object a line with
/// `json`). Fails when the device refuses or fails the app.
pub fn run(args: RunArgs, json: bool) -> Result<()> {
    let board = wasmbed_model::board(&args.board).with_context(|| {
        let known: Vec<&str> = wasmbed_model::boards().map(|b| b.name).collect();
        format!("--board {:?}: unknown board; known: {}", args.board, known.join(", "))
    })?;
    if let Some(why) = board.unsupported {
        bail!("--board {}: apps do not run on it: {why}", board.name);
    }
    if board.attached().is_some() {
        bail!(
            "--board {}: it runs no WebAssembly runtime (an attached board: its apps run as edge components on its gateway)",
            board.name
        );
    }
    // What a simulated device of this board has: the board table's list,
    // or the simulator's own for `sim`.
    let peripherals = wasmbed_sim::board_peripherals(board.name);
    let offers = describe(peripherals);
    let mut grants = Vec::new();
    for g in &args.grants {
        let grant = Grant::parse(g).map_err(|e| anyhow::anyhow!("--grant {g:?}: {}", e.why))?;
        if let Grant::Hardware(r) = grant
            && !peripherals_have(peripherals, &r)
        {
            bail!("--grant {g:?}: board {} has no {r}; it offers {offers}", board.name);
        }
        grants.push(grant);
    }
    let config = parse_config(&args.config)?;
    let hw = SimPeripherals::new(peripherals);
    for s in &args.sensors {
        let (name, value) = s
            .split_once('=')
            .and_then(|(n, v)| Some((n.trim(), v.trim().parse::<f64>().ok()?)))
            .with_context(|| format!("--sensor {s:?}: expected NAME=VALUE, e.g. temp0=21.5"))?;
        hw.handle().set_sensor(name, value).with_context(|| format!("--sensor {s:?} on board {}", board.name))?;
    }

    let module = std::fs::read(&args.module).with_context(|| format!("cannot read {}", args.module.display()))?;
    let imported = imported_groups(&module).map_err(|e| anyhow::anyhow!("{}: {e}", args.module.display()))?;
    let (mut groups, resources) = split_grants(&grants);
    groups.extend(imported.iter().copied());
    groups.sort();
    groups.dedup();
    for cap in imported.iter().filter(|c| c.is_hardware()) {
        if !resources.iter().any(|r: &Resource| r.capability() == *cap) {
            eprintln!(
                "note: the app imports {0} functions but no {0} hardware is granted, so they return `denied`; \
                 grant some with --grant (board {1} offers {2})",
                cap.name(),
                board.name,
                offers
            );
        }
    }

    let mut setup = LocalSetup::new(board.name, groups);
    setup.resources = resources;
    setup.config = config;
    setup.limits.tick_ms = args.tick_ms.max(1);
    if let Some(agent) = board.hardware.and_then(|h| h.agent()) {
        setup.heap_bytes = u32::try_from(agent.heap_bytes).unwrap_or(u32::MAX);
    }
    if !json {
        let names: Vec<&str> = setup.groups.iter().map(|c| c.name()).collect();
        let hardware: Vec<String> = setup.resources.iter().map(|r| r.to_string()).collect();
        println!(
            "running {} on a local {} agent (simulated peripherals and clock): {}{}{}",
            args.module.display(),
            board.name,
            names.join(", "),
            if hardware.is_empty() { "" } else { "; " },
            hardware.join(", ")
        );
    }

    let (mut app, events) = LocalRun::start(&module, hw, &setup);
    let mut failure = show(&events, json);
    for m in &args.messages {
        if failure.is_some() {
            break;
        }
        failure = show(&app.message(m.as_bytes()), json);
    }
    let mut ticks = 0;
    while failure.is_none() && ticks < args.ticks {
        failure = show(&app.tick(), json);
        ticks += 1;
    }
    let c = app.counters();
    let state = app.state().map_or("unknown", |s| s.as_str());
    if json {
        let summary = json!({
            "event": "summary", "uptimeMs": app.uptime_ms(), "ticks": ticks, "state": state,
            "counters": {"denied": c.denied, "hwErrors": c.hw_errors, "droppedSamples": c.dropped_samples,
                         "samples": c.samples, "messages": c.messages},
        });
        println!("{summary}");
    } else {
        println!(
            "{ticks} ticks, {} ms: {state}; samples {}, dropped {}, denied {}, hardware errors {}, messages {}",
            app.uptime_ms(),
            c.samples,
            c.dropped_samples,
            c.denied,
            c.hw_errors,
            c.messages
        );
    }
    match failure {
        Some(why) => bail!("{why}"),
        None => Ok(()),
    }
}

/// `KEY=VALUE` entries, checked as the platform checks an application's.
fn parse_config(raw: &[String]) -> Result<Vec<ConfigEntry>> {
    if raw.len() > MAX_CONFIG_ENTRIES {
        bail!("--config: {} entries; at most {MAX_CONFIG_ENTRIES}", raw.len());
    }
    let mut out: Vec<ConfigEntry> = Vec::new();
    for kv in raw {
        let (key, value) = kv.split_once('=').with_context(|| format!("--config {kv:?}: expected KEY=VALUE"))?;
        if !valid_config_key(key) {
            bail!("--config {kv:?}: the key must be 1-32 characters of [a-z0-9_.-]");
        }
        if value.len() > MAX_CONFIG_VALUE_LEN {
            bail!("--config {kv:?}: the value is {} bytes; at most {MAX_CONFIG_VALUE_LEN}", value.len());
        }
        if out.iter().any(|e| e.key == key) {
            bail!("--config {kv:?}: {key} is given twice");
        }
        out.push(ConfigEntry { key: key.into(), value: value.into() });
    }
    Ok(out)
}

/// Prints `events`; returns why the app stopped, if it did.
fn show(events: &[Stamped], json: bool) -> Option<String> {
    let mut failure = None;
    for Stamped { uptime_ms: at, event } in events {
        let (kind, text, object) = match event {
            Event::Running => ("running", String::new(), json!({})),
            Event::Log(line) => ("log", line.clone(), json!({ "line": line })),
            Event::Sample { metric, value } => {
                ("telemetry", format!("{metric} = {value}"), json!({ "metric": metric, "value": value }))
            }
            Event::Dropped(n) => ("dropped", format!("{n} samples over the rate limit"), json!({ "samples": n })),
            Event::Led { index, on } => {
                ("led", format!("led{index} {}", if *on { "on" } else { "off" }), json!({ "led": index, "on": on }))
            }
            Event::Uart { port, bytes } => {
                let data = String::from_utf8_lossy(bytes);
                ("uart", format!("uart:{port} {data:?}"), json!({ "port": port, "data": data }))
            }
            Event::Delivery(d) => ("message", d.as_str().to_string(), json!({ "delivery": d.as_str() })),
            Event::Failed(r) | Event::Rejected(r) => {
                let kind = if matches!(event, Event::Failed(_)) { "failed" } else { "rejected" };
                failure = Some(format!("the device {} the app: {}: {}", kind, r.code.as_str(), r.detail));
                (
                    kind,
                    format!("{}: {}", r.code.as_str(), r.detail),
                    json!({ "code": r.code.as_str(), "detail": r.detail }),
                )
            }
            Event::Session(why) => {
                failure = Some(format!("the local agent: {why}"));
                ("error", why.clone(), json!({ "detail": why }))
            }
            _ => continue,
        };
        if json {
            let mut object = object;
            object["event"] = kind.into();
            object["uptimeMs"] = (*at).into();
            println!("{object}");
        } else {
            println!("{at:>8} ms  {kind:<9}  {text}");
        }
    }
    failure
}
