//! The edge runtime with real components (`components/`, built by the
//! testkit): grants, failures that stay contained, hot swap under a stream
//! of events, rollback, and the examples.
#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wasmbed_edge::kv::Kv;
use wasmbed_edge::worker::WorkerError;
use wasmbed_edge::{
    BoardPort, Capability, Context, EdgeEngine, EdgeError, Event, Failure, Grants, ImportRefused, Level, Lifecycle,
    Limits, LoadError, Sample, Services, Slot, SlotState, Version, Worker, stage,
};
use wasmbed_testkit::{edge_component, example_app};

/// What components did to the world, as the gateway would see it.
#[derive(Default)]
struct Record {
    logs: Mutex<Vec<(String, Level, String)>>,
    published: Mutex<Vec<(String, String, f64)>>,
    sent: Mutex<Vec<(String, String, Vec<u8>)>>,
}

impl Services for Record {
    fn now_ms(&self) -> i64 {
        1_800_000_000_000
    }
    fn log(&self, app: &str, level: Level, line: &str) {
        self.logs.lock().unwrap().push((app.into(), level, line.into()));
    }
    fn publish(&self, app: &str, metric: &str, value: f64) -> Result<(), EdgeError> {
        self.published.lock().unwrap().push((app.into(), metric.into(), value));
        Ok(())
    }
    fn send(&self, device: &str, app: &str, payload: &[u8]) -> Result<(), EdgeError> {
        if device == "offline" {
            return Err(EdgeError::Unavailable("offline is not connected".into()));
        }
        self.sent.lock().unwrap().push((device.into(), app.into(), payload.to_vec()));
        Ok(())
    }
}

const PROBE: [Capability; 4] = [Capability::Log, Capability::Config, Capability::Kv, Capability::Telemetry];

fn engine() -> EdgeEngine {
    EdgeEngine::new(Limits { max_instances: 64, ..Limits::default() }).unwrap()
}

fn context(app: &str, record: &Arc<Record>, kv: &Arc<Mutex<Kv>>, config: &[(&str, &str)]) -> Context {
    Context {
        app: app.into(),
        config: Arc::new(config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()),
        kv: kv.clone(),
        services: record.clone(),
        board: None,
    }
}

fn version(revision: u64) -> Version {
    Version { revision, label: format!("v{revision}") }
}

fn sample(metric: &str, value: f64) -> Sample {
    Sample { device: "d1".into(), app: "thermostat".into(), metric: metric.into(), value, at_ms: 0 }
}

fn counter(kv: &Mutex<Kv>, key: &str) -> u64 {
    kv.lock().unwrap().get(key).map(|v| u64::from_le_bytes(v.try_into().unwrap())).unwrap_or(0)
}

#[test]
fn the_platform_grants_the_interfaces_the_runtime_links() {
    // The API validates edge grants with the model's list; the gateway
    // links with this crate's: one WIT, so the two must be the same.
    assert_eq!(Capability::ALL.map(|c| c.name()), wasmbed_model::EDGE_CAPABILITIES);
}

#[test]
fn grants_decide_what_links_and_bad_binaries_are_refused() {
    let engine = engine();
    let probe = engine.compile(&edge_component("probe")).unwrap();
    assert!(probe.imports().iter().any(|i| i == "wasmbed:edge/kv@0.1.0"), "{:?}", probe.imports());
    assert!(!probe.imports().iter().any(|i| i.contains("messages") || i.starts_with("wasi:")), "{:?}", probe.imports());
    engine.prepare(&probe, Grants::of(PROBE)).unwrap();

    // One grant short: refused before anything runs, naming the import.
    let err = engine.prepare(&probe, Grants::of([Capability::Log, Capability::Config, Capability::Kv])).unwrap_err();
    let LoadError::Refused(ImportRefused::NotGranted { capability: Capability::Telemetry, import }) = &err else {
        panic!("{err}")
    };
    assert_eq!(import, "wasmbed:edge/telemetry@0.1.0");
    assert!(err.to_string().contains("not granted `telemetry`"), "{err}");

    // What the platform checks at upload is what the gateway links.
    assert_eq!(wasmbed_edge::inspect(&edge_component("probe")).unwrap(), probe.imports());
    assert!(
        matches!(wasmbed_edge::inspect(&example_app("hello")), Err(LoadError::Invalid(w)) if w.contains("core module"))
    );
    assert!(matches!(wasmbed_edge::inspect(b"\0asm\x0d\0\x01\0junk"), Err(LoadError::Invalid(_))));

    // A device app is a core module, not a component.
    assert!(matches!(engine.compile(&example_app("hello")), Err(LoadError::Invalid(_))));
    assert!(matches!(engine.compile(b"\0asm garbage"), Err(LoadError::Invalid(_))));
    assert!(matches!(engine.compile(&[]), Err(LoadError::Invalid(_))));
    let mut truncated = edge_component("probe");
    truncated.truncate(truncated.len() / 2);
    assert!(matches!(engine.compile(&truncated), Err(LoadError::Invalid(_))));
    let small = EdgeEngine::new(Limits { max_component_bytes: 1000, max_instances: 4, ..Limits::default() }).unwrap();
    assert!(matches!(small.compile(&edge_component("probe")), Err(LoadError::TooLarge { limit: 1000, .. })));
}

#[test]
fn wasi_links_only_when_granted_and_reaches_no_file_network_or_environment() {
    let engine = engine();
    let wasi = engine.compile(&edge_component("wasi-probe")).unwrap();
    assert!(wasi.imports().iter().any(|i| i.starts_with("wasi:random/random@0.2.")), "{:?}", wasi.imports());
    // Not granted: refused naming the WASI import, as any other.
    let err = engine.prepare(&wasi, Grants::of([Capability::Log])).unwrap_err();
    assert!(
        matches!(&err, LoadError::Refused(ImportRefused::NotGranted { capability: Capability::Wasi, import }) if import.starts_with("wasi:")),
        "{err}"
    );
    // Granted: it runs, and finds nothing of the gateway's to reach.
    let prepared = engine.prepare(&wasi, Grants::of([Capability::Log, Capability::Wasi])).unwrap();
    let record = Arc::new(Record::default());
    let cx = context("wasi", &record, &Arc::default(), &[]);
    let mut slot = Slot::new("wasi");
    slot.commit(stage(&engine, &prepared, version(1), cx).unwrap());
    slot.deliver(&Event::Message(b"report".to_vec()));
    assert_eq!(slot.state(), &SlotState::Running(version(1)));
    let logs = record.logs.lock().unwrap().clone();
    assert_eq!(logs, [("wasi".to_string(), Level::Info, "env=0 args=0 preopens=0 random-differs=true".to_string())]);
}

#[test]
fn a_trap_a_runaway_loop_and_a_memory_hog_fail_their_version_and_nothing_else() {
    let engine = engine();
    let record = Arc::new(Record::default());
    let prepared = engine.prepare(&engine.compile(&edge_component("probe")).unwrap(), Grants::of(PROBE)).unwrap();
    let bystander_kv = Arc::new(Mutex::new(Kv::new()));
    let mut bystander = Slot::new("bystander");
    bystander.commit(stage(&engine, &prepared, version(1), context("bystander", &record, &bystander_kv, &[])).unwrap());

    for (payload, expect) in [("trap", "trapped"), ("loop", "deadline"), ("grow", "over its limit")] {
        let kv = Arc::new(Mutex::new(Kv::new()));
        let mut slot = Slot::new(payload);
        slot.commit(stage(&engine, &prepared, version(1), context(payload, &record, &kv, &[])).unwrap());
        let started = Instant::now();
        slot.deliver(&Event::Message(payload.as_bytes().to_vec()));
        // Generous: the deadline is 100 ms.
        assert!(started.elapsed() < Duration::from_secs(10), "{payload} took {:?}", started.elapsed());
        let SlotState::Failed { failure, .. } = slot.state() else { panic!("{payload}: {:?}", slot.state()) };
        assert!(failure.to_string().contains(expect), "{payload}: {failure}");
        match payload {
            "loop" => assert!(matches!(failure, Failure::Deadline { export: "on-message", .. })),
            "grow" => assert!(matches!(failure, Failure::Limit { export: "on-message", .. })),
            _ => assert!(matches!(failure, Failure::Trap { export: "on-message", .. })),
        }
        // Events for the failed version are dropped and counted.
        slot.deliver(&Event::Telemetry(sample("seq", 1.0)));
        assert_eq!(slot.counters().dropped, 2);
        assert!(matches!(slot.take_journal().last(), Some(Lifecycle::Failed { .. })));

        // The other component on the engine goes on.
        bystander.deliver(&Event::Telemetry(sample("seq", 1.0)));
        assert_eq!(bystander.state(), &SlotState::Running(version(1)));
    }
    assert_eq!(counter(&bystander_kv, "count"), 3);
}

#[test]
fn hot_swap_under_a_stream_of_events_loses_and_doubles_none_and_rollback_restores() {
    const EVENTS: u64 = 20_000;
    let engine = engine();
    let record = Arc::new(Record::default());
    let kv = Arc::new(Mutex::new(Kv::new()));
    let prepared = engine.prepare(&engine.compile(&edge_component("probe")).unwrap(), Grants::of(PROBE)).unwrap();
    let journal = Arc::new(Mutex::new(Vec::new()));
    let mut slot = Slot::new("probe");
    slot.commit(stage(&engine, &prepared, version(1), context("probe", &record, &kv, &[("label", "a")])).unwrap());
    let j = journal.clone();
    let worker = Arc::new(Worker::spawn(slot, move |_, step| j.lock().unwrap().push(step)).unwrap());

    let producer = {
        let worker = worker.clone();
        thread::spawn(move || {
            for seq in 1..=EVENTS {
                let mut event = Event::Telemetry(sample("seq", seq as f64));
                loop {
                    match worker.deliver(event) {
                        Ok(()) => break,
                        Err(WorkerError::Full) => {
                            thread::yield_now();
                            event = Event::Telemetry(sample("seq", seq as f64));
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        })
    };
    // Swap once the stream is flowing.
    while counter(&kv, "count") < EVENTS / 10 {
        thread::sleep(Duration::from_millis(1));
    }
    let v2 = stage(&engine, &prepared, version(2), context("probe", &record, &kv, &[("label", "b")])).unwrap();
    worker.commit(v2).unwrap();
    // A version whose init fails never replaces the running one.
    let v3 = stage(&engine, &prepared, version(3), context("probe", &record, &kv, &[("label", "c"), ("init", "fail")]));
    let Err(Failure::Init(why)) = v3 else { panic!("{v3:?}") };
    assert!(why.contains("init=fail"), "{why}");
    producer.join().unwrap();
    worker.settle().unwrap();

    let status = worker.status().unwrap();
    assert_eq!(status.state, SlotState::Running(version(2)));
    assert_eq!(status.previous, Some(version(1)));
    assert_eq!(counter(&kv, "count"), EVENTS, "every event handled once");
    assert_eq!(counter(&kv, "gaps"), 0, "none lost, doubled or reordered");
    let (a, b) = (counter(&kv, "handled.a"), counter(&kv, "handled.b"));
    assert!(a > 0 && b > 0 && a + b == EVENTS, "a {a} b {b}");

    // Rollback: the previous version handles the next event.
    assert_eq!(worker.rollback().unwrap(), Ok(version(1)));
    worker.deliver(Event::Telemetry(sample("seq", (EVENTS + 1) as f64))).unwrap();
    worker.settle().unwrap();
    let status = worker.status().unwrap();
    assert_eq!((status.state, status.previous), (SlotState::Running(version(1)), Some(version(2))));
    assert_eq!(counter(&kv, "handled.a"), a + 1);
    assert_eq!(counter(&kv, "gaps"), 0);

    drop(Arc::try_unwrap(worker).unwrap());
    let journal = journal.lock().unwrap();
    assert_eq!(
        *journal,
        [
            Lifecycle::Started { version: version(1), replaced: None },
            Lifecycle::Started { version: version(2), replaced: Some(version(1)) },
            Lifecycle::RolledBack { from: Some(version(2)), to: version(1) },
            Lifecycle::Stopped,
        ]
    );
}

#[test]
fn fleet_watch_messages_a_device_whose_temperature_runs_away() {
    let engine = engine();
    let record = Arc::new(Record::default());
    let kv = Arc::new(Mutex::new(Kv::new()));
    let compiled = engine.compile(&edge_component("fleet-watch")).unwrap();
    let grants = Grants::parse(["log", "clocks", "config", "kv", "telemetry", "messages"]).unwrap();
    let prepared = engine.prepare(&compiled, grants).unwrap();

    // A threshold that is not a number fails init, saying why.
    let bad = stage(&engine, &prepared, version(1), context("watch", &record, &kv, &[("threshold_c", "hot")]));
    assert!(matches!(&bad, Err(Failure::Init(w)) if w.contains("not a number")), "{bad:?}");

    let mut slot = Slot::new("watch");
    slot.commit(
        stage(&engine, &prepared, version(1), context("watch", &record, &kv, &[("threshold_c", "30")])).unwrap(),
    );
    slot.deliver(&Event::Telemetry(sample("temp_c", 25.0)));
    slot.deliver(&Event::Telemetry(sample("humidity", 90.0)));
    assert!(record.sent.lock().unwrap().is_empty());
    slot.deliver(&Event::Telemetry(sample("temp_c", 35.0)));
    slot.deliver(&Event::Telemetry(sample("temp_c", 36.0)));
    assert_eq!(*record.sent.lock().unwrap(), [("d1".to_string(), "thermostat".to_string(), b"cool".to_vec())]);
    // An offline device is an error the component logs, not a failure.
    let mut offline = sample("temp_c", 50.0);
    offline.device = "offline".into();
    slot.deliver(&Event::Telemetry(offline));
    assert_eq!(slot.state(), &SlotState::Running(version(1)));
    assert!(record.logs.lock().unwrap().iter().any(|(_, l, m)| *l == Level::Error && m.contains("offline")));

    slot.deliver(&Event::Tick(0));
    assert_eq!(*record.published.lock().unwrap(), [("watch".to_string(), "fleet_max_temp_c".to_string(), 50.0)]);
    assert_eq!(slot.counters().unsubscribed, 1);
}

/// A board port that answers from a script, or is unplugged.
#[derive(Default)]
struct ScriptedBoard {
    unplugged: Mutex<bool>,
    /// How long each answer takes (a board across a slow wire).
    delay: Mutex<Duration>,
    calls: Mutex<Vec<String>>,
}

impl ScriptedBoard {
    fn call<T>(&self, what: String, answer: T) -> Result<T, EdgeError> {
        thread::sleep(*self.delay.lock().unwrap());
        if *self.unplugged.lock().unwrap() {
            return Err(EdgeError::Unavailable("the board is not connected".into()));
        }
        self.calls.lock().unwrap().push(what);
        Ok(answer)
    }
}

impl BoardPort for ScriptedBoard {
    fn uptime_ms(&self) -> Result<u32, EdgeError> {
        self.call("uptime".into(), 5)
    }
    fn led_set(&self, led: u8, on: bool) -> Result<(), EdgeError> {
        self.call(format!("led {led} {on}"), ())
    }
    fn led_get(&self, led: u8) -> Result<bool, EdgeError> {
        self.call(format!("led? {led}"), false)
    }
    fn uart_write(&self, port: u8, data: &[u8]) -> Result<u32, EdgeError> {
        self.call(format!("uart {port} {}", String::from_utf8_lossy(data)), data.len() as u32)
    }
    fn uart_read(&self, port: u8, _max: u32) -> Result<Vec<u8>, EdgeError> {
        self.call(format!("uart? {port}"), b"ping".to_vec())
    }
    fn spi_transfer(&self, bus: u8, data: &[u8]) -> Result<Vec<u8>, EdgeError> {
        self.call(format!("spi {bus}"), data.to_vec())
    }
}

#[test]
fn an_unplugged_board_is_an_error_value_and_the_component_goes_on() {
    let engine = engine();
    let record = Arc::new(Record::default());
    let kv = Arc::new(Mutex::new(Kv::new()));
    let compiled = engine.compile(&edge_component("vld-blink")).unwrap();
    // Without `attached-board` the component does not link.
    assert!(matches!(
        engine.prepare(&compiled, Grants::of([Capability::Log])),
        Err(LoadError::Refused(ImportRefused::NotGranted { capability: Capability::AttachedBoard, .. }))
    ));
    let prepared = engine.prepare(&compiled, Grants::of([Capability::Log, Capability::AttachedBoard])).unwrap();
    let board = Arc::new(ScriptedBoard::default());
    let mut cx = context("blink", &record, &kv, &[]);
    cx.board = Some(board.clone());

    // Unplugged at init: the version fails to start, saying why.
    *board.unplugged.lock().unwrap() = true;
    let failed = stage(&engine, &prepared, version(1), cx.clone());
    assert!(matches!(&failed, Err(Failure::Init(w)) if w.contains("not connected")), "{failed:?}");

    *board.unplugged.lock().unwrap() = false;
    let mut slot = Slot::new("blink");
    slot.commit(stage(&engine, &prepared, version(1), cx).unwrap());
    slot.deliver(&Event::Tick(0));
    assert_eq!(
        *board.calls.lock().unwrap(),
        ["uart 1 hello from the edge\r\n", "led 0 true", "led 1 false", "uart? 1", "uart 1 ping"]
    );
    // A slow board: four answers of 60 ms each are more than the 100 ms
    // deadline, which counts the component's own time only.
    *board.delay.lock().unwrap() = Duration::from_millis(60);
    slot.deliver(&Event::Tick(0));
    assert_eq!(slot.state(), &SlotState::Running(version(1)));
    *board.delay.lock().unwrap() = Duration::ZERO;

    // Unplugged mid-run: an error value, logged and counted; no failure.
    *board.unplugged.lock().unwrap() = true;
    slot.deliver(&Event::Tick(0));
    assert_eq!(slot.state(), &SlotState::Running(version(1)));
    assert_eq!(slot.call_counters().map(|c| c.board_errors), Some(1));
    assert!(record.logs.lock().unwrap().iter().any(|(_, l, m)| *l == Level::Error && m.contains("not connected")));
}
