//! `edge --components N`: the edge runtime with the probe component, in
//! this process.
//!
//! - `instantiate_p50_us`: one version staged — instantiated from its
//!   prepared form and its `init` run — median over N.
//! - `rss_per_instance_bytes`: this process's RSS growth over those N idle
//!   instances, per instance.
//! - `call_p50_ns`, `calls_per_s`: `on-tick` delivered through a slot on
//!   one thread (median of batches of 1,000 calls; all calls over their
//!   time).
//! - `hot_swap_p50_ms`: staging a new version and committing it to a
//!   worker while another thread streams telemetry events at it;
//!   `events_lost`: events sent minus those the component counted once,
//!   plus any it saw out of order (its kv store, which the host holds).
//! - `rollback_ms`: the slowest of the rollbacks, each measured from the
//!   request to the previous version handling events again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use serde_json::json;
use wasmbed_edge::kv::Kv;
use wasmbed_edge::worker::WorkerError;
use wasmbed_edge::{
    Capability, Context, EdgeEngine, EdgeError, Event, Grants, Level, Limits, Sample, Services, Slot, Version, Worker,
    stage,
};

const PROBE: [Capability; 4] = [Capability::Log, Capability::Config, Capability::Kv, Capability::Telemetry];
const CALLS: usize = 200_000;
const BATCH: usize = 1_000;
const SWAPS: u64 = 20;

/// Discards what components do: the benchmark measures the runtime.
struct Quiet;

impl Services for Quiet {
    fn now_ms(&self) -> i64 {
        0
    }
    fn log(&self, _: &str, _: Level, _: &str) {}
    fn publish(&self, _: &str, _: &str, _: f64) -> Result<(), EdgeError> {
        Ok(())
    }
    fn send(&self, _: &str, _: &str, _: &[u8]) -> Result<(), EdgeError> {
        Ok(())
    }
}

fn context(app: &str, kv: &Arc<Mutex<Kv>>, label: &str) -> Context {
    Context {
        app: app.into(),
        config: Arc::new(BTreeMap::from([("label".to_string(), label.to_string())])),
        kv: kv.clone(),
        services: Arc::new(Quiet),
        board: None,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn rss() -> Result<u64> {
    crate::scale::rss_bytes(std::process::id())
}

fn counter(kv: &Mutex<Kv>, key: &str) -> u64 {
    let kv = kv.lock().unwrap_or_else(|p| p.into_inner());
    kv.get(key).and_then(|v| v.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0)
}

pub(crate) fn run(components: usize, file: &Path) -> Result<serde_json::Value> {
    if components == 0 {
        bail!("--components must be at least 1");
    }
    let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let max_instances = u32::try_from(components + 8).context("--components is too large")?;
    let engine = EdgeEngine::new(Limits { max_instances, ..Limits::default() })?;
    let prepared = engine.prepare(&engine.compile(&bytes)?, Grants::of(PROBE))?;

    // Instantiate N, and what they hold while idle.
    let before = rss()?;
    let mut instantiate_us = Vec::with_capacity(components);
    let mut slots = Vec::with_capacity(components);
    for i in 0..components {
        let kv = Arc::new(Mutex::new(Kv::new()));
        let t = Instant::now();
        let staged =
            stage(&engine, &prepared, Version { revision: 1, label: "a".into() }, context(&i.to_string(), &kv, "a"))?;
        instantiate_us.push(t.elapsed().as_secs_f64() * 1e6);
        let mut slot = Slot::new(i.to_string());
        slot.commit(staged);
        slots.push(slot);
    }
    let rss_per_instance = rss()?.saturating_sub(before) / components as u64;
    eprintln!(
        "{components} instances: instantiate p50 {:.1} us, {rss_per_instance} B each",
        median(instantiate_us.clone())
    );

    // Calls on one thread.
    let slot = slots.first_mut().context("no slot")?;
    let tick = Event::Tick(0);
    let mut batch_ns = Vec::with_capacity(CALLS / BATCH);
    let all = Instant::now();
    for _ in 0..CALLS / BATCH {
        let t = Instant::now();
        for _ in 0..BATCH {
            slot.deliver(&tick);
        }
        batch_ns.push(t.elapsed().as_nanos() as f64 / BATCH as f64);
    }
    let calls_per_s = CALLS as f64 / all.elapsed().as_secs_f64();
    if slot.counters().handled != CALLS as u64 {
        bail!("{} of {CALLS} calls handled: {:?}", slot.counters().handled, slot.state());
    }
    eprintln!("calls: p50 {:.0} ns, {calls_per_s:.0}/s", median(batch_ns.clone()));
    drop(slots);

    // Hot swaps and rollbacks under a stream of events.
    let kv = Arc::new(Mutex::new(Kv::new()));
    let mut first = Slot::new("swap");
    first.commit(stage(&engine, &prepared, Version { revision: 1, label: "a".into() }, context("swap", &kv, "a"))?);
    let worker = Arc::new(Worker::spawn(first, |_, _| {})?);
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let producer = {
        let (worker, stop, sent) = (worker.clone(), stop.clone(), sent.clone());
        thread::spawn(move || -> Result<(), WorkerError> {
            let mut seq = 1u64;
            while !stop.load(Ordering::Relaxed) {
                let sample =
                    Sample { device: "d".into(), app: "a".into(), metric: "seq".into(), value: seq as f64, at_ms: 0 };
                match worker.deliver(Event::Telemetry(sample)) {
                    Ok(()) => {
                        sent.store(seq, Ordering::Relaxed);
                        seq += 1;
                    }
                    Err(WorkerError::Full) => thread::yield_now(),
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
    };
    let mut swap_ms = Vec::new();
    let mut rollback_ms: f64 = 0.0;
    for revision in 2..2 + SWAPS {
        thread::sleep(Duration::from_millis(20));
        let t = Instant::now();
        let label = format!("r{revision}");
        let staged =
            stage(&engine, &prepared, Version { revision, label: label.clone() }, context("swap", &kv, &label))?;
        worker.commit(staged)?;
        swap_ms.push(t.elapsed().as_secs_f64() * 1e3);
        thread::sleep(Duration::from_millis(20));
        let t = Instant::now();
        worker.rollback()??;
        // Done when the worker answers: the previous version handles the
        // next event.
        rollback_ms = rollback_ms.max(t.elapsed().as_secs_f64() * 1e3);
        thread::sleep(Duration::from_millis(20));
        // Forward again, so the next swap replaces a running version.
        worker.rollback()??;
    }
    stop.store(true, Ordering::Relaxed);
    producer.join().map_err(|_| anyhow::anyhow!("the producer panicked"))??;
    worker.settle()?;
    let status = worker.status()?;
    let sent = sent.load(Ordering::Relaxed);
    let (counted, gaps) = (counter(&kv, "count"), counter(&kv, "gaps"));
    eprintln!("{sent} events sent, {counted} counted, {gaps} out of order; {:?}", status.counters);
    let events_lost = sent.abs_diff(counted) + gaps;

    Ok(json!({
        "components": components,
        "instantiate_p50_us": (median(instantiate_us) * 10.0).round() / 10.0,
        "call_p50_ns": median(batch_ns).round(),
        "calls_per_s": calls_per_s.round(),
        "hot_swap_p50_ms": (median(swap_ms) * 1000.0).round() / 1000.0,
        "events_lost": events_lost,
        "rollback_ms": (rollback_ms * 1000.0).round() / 1000.0,
        "rss_per_instance_bytes": rss_per_instance,
    }))
}
