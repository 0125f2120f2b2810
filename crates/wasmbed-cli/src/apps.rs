//! `wasmbed app ...`: deploy with a rollout strategy, watch it, control it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};
use wasmbed_model::{
    Application, ApplicationSpec, Execution, Limits, MetricGate, RolloutPhase, Runtime, Step, Strategy,
    default_capabilities,
};

use wasmbed_api::{HistoryEntry, MessageResult};

use crate::api::Api;
use crate::output::{json_or_table, print_json, table};

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per run: boxing DeployArgs buys nothing
pub enum AppCmd {
    /// Deploy (or update) an application from a .wasm file.
    Deploy(DeployArgs),
    /// List applications with their rollout state.
    List,
    /// Show an application's rollout, following it live until it ends.
    Status {
        /// Application name.
        name: String,
        /// Print once and return, even while a rollout runs.
        #[arg(long)]
        no_wait: bool,
        /// Give up following after this many seconds (exit 1).
        #[arg(long, default_value_t = 600)]
        timeout: u64,
    },
    /// Show the kept revisions.
    History {
        /// Application name.
        name: String,
    },
    /// Go back to a kept revision (default: the last one that completed).
    Rollback {
        /// Application name.
        name: String,
        /// Revision number (see `app history`).
        #[arg(long = "to")]
        to: Option<u64>,
    },
    /// Hold the rollout where it is.
    Pause {
        /// Application name.
        name: String,
    },
    /// Continue a paused rollout.
    Resume {
        /// Application name.
        name: String,
    },
    /// Stop the rollout; every device it touched goes back to the previous revision.
    Abort {
        /// Application name.
        name: String,
    },
    /// Remove an application from every device.
    Rm {
        /// Application name.
        name: String,
    },
    /// Send a message to the application on one device or every device it
    /// targets (an edge application: on every gateway it runs on, or every
    /// board it drives).
    Send {
        /// Application name.
        name: String,
        /// Only this device (for an edge application: this gateway, or board).
        #[arg(long)]
        device: Option<String>,
        /// The message: UTF-8 text (at most 256 bytes), or base64 with --base64.
        payload: String,
        /// PAYLOAD is base64 (a binary message).
        #[arg(long)]
        base64: bool,
    },
}

#[derive(Args, Debug)]
pub struct DeployArgs {
    /// Application name.
    pub name: String,
    /// The module.
    pub file: PathBuf,
    /// Label selector choosing devices, e.g. `app=demo` (with `--runtime
    /// edge`, gateways: `gateway=gateway-0`; empty: all of them).
    #[arg(long = "to", default_value = "")]
    pub selector: String,
    /// Where it runs: `device` (a core module on devices) or `edge` (a
    /// WebAssembly component on gateways).
    #[arg(long, default_value = "device", value_parser = parse_runtime)]
    pub runtime: Runtime,
    /// How devices run it: `interpreted`, `native` (compiled per board
    /// ahead of time) or `auto` (native where a board has code, else
    /// interpreted). `app status` shows each board's build.
    #[arg(long, default_value = "interpreted", value_parser = parse_execution)]
    pub execution: Execution,
    /// Version label (default: first 12 hex digits of the digest).
    #[arg(long)]
    pub version: Option<String>,
    /// Rollout strategy: all-at-once, rolling, canary or blue-green.
    #[arg(long, default_value = "all-at-once")]
    pub strategy: String,
    /// Canary steps, cumulative: device counts or percentages ending at 100%.
    #[arg(long, default_value = "1,10%,50%,100%")]
    pub steps: String,
    /// Health gate soak time per step (canary, blue-green).
    #[arg(long, default_value_t = 0)]
    pub soak_ms: u64,
    /// Failed devices tolerated per step (canary).
    #[arg(long, default_value_t = 0)]
    pub max_failures: u32,
    /// Devices updating at once (rolling): a count or a percentage.
    #[arg(long, default_value = "25%")]
    pub max_unavailable: String,
    /// Metric gate (canary), repeatable: every updated device's latest
    /// value must keep it, e.g. `--gate 'temp_c < 80'`.
    #[arg(long = "gate", value_parser = parse_gate)]
    pub gates: Vec<MetricGate>,
    /// Configuration entry, repeatable: `--config threshold_c=30`.
    #[arg(long = "config", value_parser = parse_config)]
    pub config: Vec<(String, String)>,
    /// Capability granted, repeatable (default: log, time; edge: log).
    #[arg(long = "capability", short = 'c')]
    pub capabilities: Vec<String>,
    /// Fuel per init/tick call.
    #[arg(long)]
    pub fuel: Option<u64>,
    /// Memory ceiling in 64 KiB pages.
    #[arg(long)]
    pub memory_pages: Option<u32>,
    /// Tick interval in milliseconds.
    #[arg(long)]
    pub tick_ms: Option<u32>,
    /// Follow the rollout until it ends (as `app status`).
    #[arg(long)]
    pub wait: bool,
}

impl DeployArgs {
    /// The deploy's rollout strategy, checked as the API checks it.
    pub fn strategy(&self) -> Result<Strategy> {
        let s = match self.strategy.as_str() {
            "all-at-once" => Strategy::AllAtOnce,
            "canary" => {
                let Strategy::Canary { steps, .. } = Strategy::canary(&self.steps)? else {
                    unreachable!("canary() builds a canary")
                };
                Strategy::Canary {
                    steps,
                    soak_ms: self.soak_ms,
                    max_failures: self.max_failures,
                    gates: self.gates.clone(),
                }
            }
            "rolling" => {
                let max_unavailable: Step = self
                    .max_unavailable
                    .parse()
                    .map_err(|why| anyhow::anyhow!("spec.strategy.maxUnavailable (--max-unavailable): {why}"))?;
                Strategy::Rolling { max_unavailable }
            }
            "blue-green" => Strategy::BlueGreen { soak_ms: self.soak_ms },
            other => bail!(
                "spec.strategy (--strategy): unknown strategy {other:?}; known: all-at-once, rolling, canary, blue-green"
            ),
        };
        if !self.gates.is_empty() && !matches!(s, Strategy::Canary { .. }) {
            bail!("spec.strategy.gates (--gate): metric gates apply to the canary strategy, not {}", s.name());
        }
        s.validate()?;
        Ok(s)
    }
}

pub async fn run(api: &Api, cmd: AppCmd, json: bool) -> Result<()> {
    match cmd {
        AppCmd::Deploy(args) => deploy(api, args, json).await,
        AppCmd::List => list(api, json).await,
        AppCmd::Status { name, no_wait, timeout } => {
            status(api, &name, !no_wait, Duration::from_secs(timeout), json).await
        }
        AppCmd::History { name } => history(api, &name, json).await,
        AppCmd::Rollback { name, to } => {
            let body = serde_json::json!({ "revision": to });
            let app: Application =
                api.send_json(reqwest::Method::POST, &format!("applications/{name}/rollback"), &body).await?;
            if json {
                return print_json(&app);
            }
            let rev = to.map_or("the last completed revision".into(), |r| format!("revision {r}"));
            println!(
                "{name}: rolling back to {rev} (version {}); follow with `wasmbed app status {name}`",
                app.spec.version
            );
            Ok(())
        }
        AppCmd::Pause { name } => control(api, &name, "pause", "paused", json).await,
        AppCmd::Resume { name } => control(api, &name, "resume", "resumed", json).await,
        AppCmd::Abort { name } => control(api, &name, "abort", "aborting: touched devices go back", json).await,
        AppCmd::Rm { name } => {
            api.delete(&format!("applications/{name}")).await?;
            println!("application {name} removed");
            Ok(())
        }
        AppCmd::Send { name, device, payload, base64 } => send(api, &name, device, payload, base64, json).await,
    }
}

/// Prints what became of the message on each device; an error when it was
/// delivered nowhere.
async fn send(api: &Api, name: &str, device: Option<String>, payload: String, base64: bool, json: bool) -> Result<()> {
    let mut body = serde_json::json!({ "device": device });
    body[if base64 { "payloadBase64" } else { "payload" }] = payload.into();
    let results: Vec<MessageResult> =
        api.send_json(reqwest::Method::POST, &format!("applications/{name}/messages"), &body).await?;
    if json {
        print_json(&results)?;
    } else {
        let rows: Vec<Vec<String>> = results
            .iter()
            .map(|r| {
                let what = match (&r.delivery, &r.error) {
                    (Some(d), _) => d.as_str().to_string(),
                    (None, Some(e)) => format!("error: {e}"),
                    (None, None) => "?".into(),
                };
                vec![r.device.clone(), what]
            })
            .collect();
        table(&["TARGET", "RESULT"], &rows);
    }
    let delivered = results.iter().filter(|r| r.delivery == Some(wasmbed_api::Delivery::Delivered)).count();
    match (delivered, results.len()) {
        (_, 0) => bail!("{name} targets nothing"),
        (0, n) => bail!("the message was delivered on none of the {n} target(s)"),
        _ => Ok(()),
    }
}

async fn control(api: &Api, name: &str, verb: &str, done: &str, json: bool) -> Result<()> {
    let app: Application =
        api.send_json(reqwest::Method::POST, &format!("applications/{name}/{verb}"), &serde_json::json!({})).await?;
    if json {
        return print_json(&app);
    }
    println!("{name}: {done}");
    Ok(())
}

fn parse_gate(s: &str) -> std::result::Result<MetricGate, String> {
    s.parse()
}

fn parse_runtime(s: &str) -> std::result::Result<Runtime, String> {
    match s {
        "device" => Ok(Runtime::Device),
        "edge" => Ok(Runtime::Edge),
        _ => Err(format!("{s:?}: the runtime is device or edge")),
    }
}

fn parse_execution(s: &str) -> std::result::Result<Execution, String> {
    s.parse()
}

fn parse_config(s: &str) -> std::result::Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("{s:?}: write a config entry as KEY=VALUE"))?;
    Ok((k.to_string(), v.to_string()))
}

pub async fn deploy(api: &Api, a: DeployArgs, json: bool) -> Result<()> {
    let bytes = std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let digest = hex::encode(Sha256::digest(&bytes));
    let version = a.version.clone().unwrap_or_else(|| digest[..12].to_string());
    let d = Limits::default();
    let capabilities = match (a.capabilities.is_empty(), a.runtime) {
        (false, _) => a.capabilities.clone(),
        (true, Runtime::Device) => default_capabilities(),
        (true, Runtime::Edge) => vec!["log".to_string()],
    };
    let limits = Limits {
        fuel_per_call: a.fuel.unwrap_or(d.fuel_per_call),
        max_memory_pages: a.memory_pages.unwrap_or(d.max_memory_pages),
        tick_ms: a.tick_ms.unwrap_or(d.tick_ms),
    };
    // Checked here first, so a mistake is named before anything is uploaded.
    let spec = ApplicationSpec {
        selector: a.selector.clone(),
        runtime: a.runtime,
        execution: a.execution,
        strategy: a.strategy()?,
        capabilities,
        limits,
        config: a.config.iter().cloned().collect(),
        ..ApplicationSpec::new(&version, &digest, bytes.len() as u32)
    };
    spec.validate()?;
    upload(api, &bytes, &digest).await.with_context(|| format!("upload of {} refused", a.file.display()))?;
    let body = serde_json::json!({
        "version": spec.version,
        "digest": spec.digest,
        "capabilities": spec.capabilities,
        "limits": spec.limits,
        "config": spec.config,
        "selector": spec.selector,
        "strategy": spec.strategy,
        "runtime": spec.runtime,
        "execution": spec.execution,
    });
    let app: Application = api
        .send_json(reqwest::Method::PUT, &format!("applications/{}", a.name), &body)
        .await
        .with_context(|| format!("deploy of {} refused", a.name))?;
    if json && !a.wait {
        return print_json(&app);
    }
    if !json {
        println!(
            "application {} version {version} deployed to {} matching {:?} ({}, sha256 {digest})",
            a.name,
            if a.runtime == Runtime::Edge { "gateways" } else { "devices" },
            a.selector,
            spec.strategy.name()
        );
    }
    if a.wait {
        return status(api, &a.name, true, Duration::from_secs(600), json).await;
    }
    Ok(())
}

async fn upload(api: &Api, bytes: &[u8], digest: &str) -> Result<()> {
    api.post_bytes(&format!("modules?digest={digest}"), bytes.to_vec()).await.map(|_: serde_json::Value| ())
}

pub async fn list(api: &Api, json: bool) -> Result<()> {
    let apps: Vec<Application> = api.get("applications").await?;
    json_or_table(
        &apps,
        json,
        &["NAME", "RUNTIME", "VERSION", "REV", "STRATEGY", "ROLLOUT", "SELECTOR", "RUNNING", "FAILED", "OFFLINE"],
        |a| {
            let s = &a.status;
            let ro = s.rollout.as_ref();
            vec![
                a.meta.name.clone(),
                // Devices run core modules; gateways, edge components.
                if a.spec.runtime == Runtime::Edge { "edge".into() } else { "device".into() },
                a.spec.version.clone(),
                s.revision.map_or("-".into(), |r| r.to_string()),
                a.spec.strategy.name().into(),
                ro.map_or("Pending".into(), |r| r.phase.as_str().into()),
                a.spec.selector.clone(),
                format!("{}/{}", s.running, s.desired),
                s.failed.to_string(),
                s.pending_offline.to_string(),
            ]
        },
    )
}

/// One line about where a rollout is.
fn summary(a: &Application) -> String {
    let s = &a.status;
    let Some(ro) = &s.rollout else {
        return format!("{}: waiting for the control plane", a.meta.name);
    };
    let step =
        s.steps.get(ro.step as usize).map(|st| format!(", step {}/{} ({})", ro.step + 1, s.steps.len(), st.step));
    format!(
        "{} revision {} ({}){}: {} — {} updated, {} running, {} failed, {} offline of {}",
        a.meta.name,
        ro.revision,
        a.spec.version,
        if ro.phase.is_final() { String::new() } else { step.unwrap_or_default() },
        ro.phase.as_str(),
        s.updated,
        s.running,
        s.failed,
        s.pending_offline,
        s.desired
    )
}

pub async fn status(api: &Api, name: &str, follow: bool, timeout: Duration, json: bool) -> Result<()> {
    let start = Instant::now();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} running  {msg}")
            .map_err(|e| anyhow::anyhow!("progress bar template: {e}"))?
            .progress_chars("=> "),
    );
    loop {
        let app: Application = api.get(&format!("applications/{name}")).await?;
        let ro = app.status.rollout.as_ref();
        let current = ro.is_some() && app.status.observed_generation == app.meta.generation;
        let done = current && ro.is_some_and(|r| r.phase.is_final() || r.phase == RolloutPhase::Paused);
        if !follow || done {
            bar.finish_and_clear();
            if json {
                return print_json(&app);
            }
            println!("{}", summary(&app));
            print_steps(&app);
            print_native(&app);
            if let Some(m) = ro.and_then(|r| r.message.as_deref()) {
                println!("  {m}");
            }
            return match ro.map(|r| r.phase) {
                Some(RolloutPhase::RolledBack | RolloutPhase::Aborted) if follow => {
                    bail!("the rollout of {name} did not complete")
                }
                _ => Ok(()),
            };
        }
        bar.set_length(u64::from(app.status.desired));
        bar.set_position(u64::from(app.status.running));
        bar.set_message(summary(&app));
        bar.tick();
        if start.elapsed() > timeout {
            bar.finish_and_clear();
            bail!("{} (still in progress after {}s)", summary(&app), timeout.as_secs());
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn print_steps(a: &Application) {
    if a.status.steps.len() < 2 {
        return;
    }
    let rows: Vec<Vec<String>> = a
        .status
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                (i + 1).to_string(),
                s.step.clone(),
                s.target.to_string(),
                s.updated.to_string(),
                s.running.to_string(),
                s.failed.to_string(),
                s.pending_offline.to_string(),
                if s.completed_ms.is_some() {
                    "passed".into()
                } else if s.started_ms.is_some() {
                    "current".into()
                } else {
                    "".into()
                },
            ]
        })
        .collect();
    table(&["STEP", "SIZE", "TARGET", "UPDATED", "RUNNING", "FAILED", "OFFLINE", "GATE"], &rows);
}

/// Each board's native build of the rollout's revision: what its devices
/// run, and why a board falls back to the interpreter.
fn print_native(a: &Application) {
    let Some(rev) = a.status.rollout.as_ref().and_then(|ro| a.status.revision(ro.revision)) else { return };
    if rev.template.execution.is_interpreted() {
        return;
    }
    println!("  execution: {}", rev.template.execution.as_str());
    let rows: Vec<Vec<String>> = rev
        .native
        .iter()
        .map(|b| match b.artifact() {
            Some(n) => {
                let digest: String = n.digest.chars().take(12).collect();
                vec![b.board.clone(), "native".into(), format!("{} bytes, sha256 {digest}", n.size)]
            }
            None => vec![b.board.clone(), "interpreted".into(), b.reason.clone().unwrap_or_default()],
        })
        .collect();
    if !rows.is_empty() {
        table(&["BOARD", "RUNS", "CODE OR WHY"], &rows);
    }
}

pub async fn history(api: &Api, name: &str, json: bool) -> Result<()> {
    let entries: Vec<HistoryEntry> = api.get(&format!("applications/{name}/history")).await?;
    if json {
        return print_json(&entries);
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let mark = match (e.current, e.stable) {
                (true, true) => "current, stable",
                (true, false) => "current",
                (false, true) => "stable",
                (false, false) => "",
            };
            let r = &e.revision;
            let outcome = match (r.outcome, &r.outcome_message, e.phase) {
                (Some(o), Some(why), _) => format!("{}: {why}", o.as_str()),
                (Some(o), None, _) => o.as_str().to_string(),
                (None, _, Some(phase)) => phase.as_str().to_string(),
                (None, _, None) => String::new(),
            };
            vec![
                r.revision.to_string(),
                r.template.version.clone(),
                r.template.digest.chars().take(12).collect(),
                mark.into(),
                outcome,
            ]
        })
        .collect();
    table(&["REVISION", "VERSION", "DIGEST", "", "OUTCOME"], &rows);
    Ok(())
}

/// The demo deploy `wasmbed up` does: all at once, default limits.
/// What a demo deploy grants and configures beyond the defaults.
#[derive(Debug, Default)]
pub struct Grants<'a> {
    /// Capabilities (empty: the defaults).
    pub capabilities: &'a [&'a str],
    /// Configuration entries.
    pub config: &'a [(&'a str, &'a str)],
}

pub async fn deploy_file(
    api: &Api,
    name: &str,
    file: &Path,
    selector: &str,
    tick_ms: u32,
    grants: Grants<'_>,
) -> Result<()> {
    let args = DeployArgs {
        name: name.into(),
        file: file.into(),
        selector: selector.into(),
        runtime: Runtime::Device,
        execution: Execution::Interpreted,
        version: Some("1".into()),
        strategy: "all-at-once".into(),
        steps: "100%".into(),
        soak_ms: 0,
        max_failures: 0,
        max_unavailable: "25%".into(),
        gates: vec![],
        config: grants.config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        capabilities: grants.capabilities.iter().map(|c| c.to_string()).collect(),
        fuel: None,
        memory_pages: None,
        tick_ms: Some(tick_ms),
        wait: false,
    };
    deploy(api, args, false).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        d: DeployArgs,
    }

    fn args(extra: &[&str]) -> DeployArgs {
        let mut v = vec!["t", "hello", "hello.wasm"];
        v.extend_from_slice(extra);
        T::parse_from(v).d
    }

    #[test]
    fn strategies_from_flags_name_the_field_when_wrong() {
        assert_eq!(args(&[]).strategy().unwrap(), Strategy::AllAtOnce);
        let c = args(&["--strategy", "canary", "--steps", "1,10%,100%", "--soak-ms", "500"]).strategy().unwrap();
        assert!(matches!(c, Strategy::Canary { soak_ms: 500, ref steps, .. } if steps.len() == 3));
        for (flags, field) in [
            (&["--strategy", "big-bang"][..], "spec.strategy"),
            (&["--strategy", "canary", "--steps", "10%,5%,100%"][..], "spec.strategy.steps"),
            (&["--strategy", "canary", "--steps", "1,x"][..], "spec.strategy.steps"),
            (&["--strategy", "rolling", "--max-unavailable", "0"][..], "spec.strategy.maxUnavailable"),
        ] {
            let e = args(flags).strategy().unwrap_err().to_string();
            assert!(e.starts_with(field), "{flags:?}: {e}");
        }
    }

    #[test]
    fn execution_is_interpreted_unless_asked_and_a_wrong_one_is_named() {
        assert_eq!(args(&[]).execution, Execution::Interpreted);
        assert_eq!(args(&["--execution", "auto"]).execution, Execution::Auto);
        let e = T::try_parse_from(["t", "hello", "hello.wasm", "--execution", "fast"]).err().unwrap().to_string();
        assert!(e.contains("interpreted, native or auto"), "{e}");
    }
}
