//! ABI v2 through the agent: what a granted app reaches, and everything an
//! app does outside its grant or the contract — refused with the code the
//! WIT documents, counted, and never reaching the hardware; the device and
//! its other apps keep running.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use wasmbed_agent::{Agent, AgentConfig, HwError, Peripherals};
use wasmbed_protocol::*;

/// What the fake board saw, shared with the test.
#[derive(Debug, Default)]
struct Bus {
    calls: Vec<String>,
    leds: u32,
    /// Addresses that answer on I2C bus 0.
    present: Vec<u8>,
}

/// A board with led0, led1 and I2C bus 0 where a device at 0x48 answers
/// with 0x15 0x80 (21.5 °C in TMP105 format).
#[derive(Clone)]
struct FakeBoard(Arc<Mutex<Bus>>);

impl Peripherals for FakeBoard {
    fn has(&self, r: &Resource) -> bool {
        matches!(r, Resource::Gpio(Pin::Led(0 | 1)) | Resource::I2c { bus: 0, .. })
    }
    fn gpio_read(&mut self, pin: Pin) -> Result<bool, HwError> {
        let Pin::Led(i) = pin else { return Err(HwError::Unsupported) };
        Ok(self.0.lock().unwrap().leds & (1 << i) != 0)
    }
    fn gpio_write(&mut self, pin: Pin, high: bool) -> Result<(), HwError> {
        let Pin::Led(i) = pin else { return Err(HwError::Unsupported) };
        let mut bus = self.0.lock().unwrap();
        bus.calls.push(format!("gpio {pin} {high}"));
        if high {
            bus.leds |= 1 << i
        } else {
            bus.leds &= !(1 << i)
        }
        Ok(())
    }
    fn i2c_write_read(&mut self, bus: u8, addr: u8, data: &[u8], buf: &mut [u8]) -> Result<(), HwError> {
        let mut b = self.0.lock().unwrap();
        b.calls.push(format!("i2c {bus} {addr:#x} {data:?}"));
        if !b.present.contains(&addr) {
            return Err(HwError::Nack);
        }
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = [0x15, 0x80].get(i).copied().unwrap_or(0);
        }
        Ok(())
    }
}

struct Device {
    agent: Agent,
    bus: Arc<Mutex<Bus>>,
    now: u64,
}

fn limits() -> AppLimits {
    AppLimits { fuel_per_call: 200_000, max_memory_pages: 1, tick_ms: 100 }
}

fn grants(list: &[&str]) -> (Vec<Capability>, Vec<Resource>) {
    let parsed: Vec<Grant> = list.iter().map(|g| Grant::parse(g).unwrap()).collect();
    split_grants(&parsed)
}

impl Device {
    fn online() -> Self {
        let bus = Arc::new(Mutex::new(Bus { present: vec![0x48], ..Bus::default() }));
        let agent = Agent::new(AgentConfig::new("dev-1", "sim")).with_peripherals(Box::new(FakeBoard(bus.clone())));
        let mut d = Self { agent, bus, now: 0 };
        d.agent.connected(0);
        let welcome = Welcome { heartbeat_ms: 1000, unix_time_s: 1_700_000_000, unix_time_ms: Some(1_700_000_000_000) };
        common::send(&mut d.agent, &GatewayMsg::Welcome(welcome), 0).unwrap();
        d.agent.poll(0, 100_000);
        common::drain(&mut d.agent);
        d
    }

    /// Deploys `wat` as `app` with `grant` and `config`; returns what the
    /// device said.
    fn deploy(&mut self, app: &str, wat: &str, grant: &[&str], config: &[(&str, &str)]) -> Vec<DeviceMsg> {
        let bytes = wat::parse_str(wat).unwrap();
        let (groups, resources) = grants(grant);
        let begin = DeployBegin {
            app: app.into(),
            version: "1".into(),
            size: bytes.len() as u32,
            sha256: <[u8; 32]>::from(Sha256::digest(&bytes)).into(),
            limits: limits(),
            revision: Some(1),
            start: None,
            grants: Some(groups),
            resources: Some(resources),
            config: Some(config.iter().map(|(k, v)| ConfigEntry { key: (*k).into(), value: (*v).into() }).collect()),
            manifest: None,
            native: None,
        };
        common::send(&mut self.agent, &GatewayMsg::DeployBegin(begin), self.now).unwrap();
        let chunk = DeployChunk { app: app.into(), offset: 0, data: bytes.into() };
        common::send(&mut self.agent, &GatewayMsg::DeployChunk(chunk), self.now).unwrap();
        common::drain(&mut self.agent)
    }

    fn tick(&mut self) -> Vec<DeviceMsg> {
        self.now += 100;
        self.agent.poll(self.now, 100_000);
        common::drain(&mut self.agent)
    }

    fn report(&mut self, app: &str) -> AppReport {
        self.now += 1000;
        self.agent.poll(self.now, 100_000);
        let msgs = common::drain(&mut self.agent);
        msgs.iter()
            .rev()
            .find_map(|m| match m {
                DeviceMsg::Heartbeat(h) => h.apps.iter().find(|a| a.app == app).cloned(),
                _ => None,
            })
            .expect("a heartbeat reporting the app")
    }

    fn message(&mut self, app: &str, payload: &[u8]) -> Delivery {
        let msg = GatewayMsg::AppMessage(AppMessage { id: 7, app: app.into(), payload: payload.to_vec().into() });
        common::send(&mut self.agent, &msg, self.now).unwrap();
        common::drain(&mut self.agent)
            .into_iter()
            .find_map(|m| match m {
                DeviceMsg::MessageResult(r) if r.id == 7 => Some(r.delivery),
                _ => None,
            })
            .expect("a message result")
    }
}

fn logs(msgs: &[DeviceMsg]) -> Vec<String> {
    msgs.iter()
        .filter_map(|m| match m {
            DeviceMsg::AppLog(l) => Some(l.line.clone()),
            _ => None,
        })
        .collect()
}

fn rejected(msgs: &[DeviceMsg]) -> Option<FailReason> {
    msgs.iter().find_map(|m| match m {
        DeviceMsg::DeployRejected(r) => Some(r.reason.clone()),
        _ => None,
    })
}

/// Each tick: writes `level` to led `pin` and stores the result at 0.
const GPIO: &str = r#"(module
  (import "wasmbed" "gpio_write" (func $w (param i32 i32) (result i32)))
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "ok")
  (data (i32.const 24) "no")
  (func (export "tick") (param i64)
    (if (i32.eqz (call $w (i32.const PIN) (i32.const 1)))
      (then (call $log (i32.const 16) (i32.const 2)))
      (else (call $log (i32.const 24) (i32.const 2))))))"#;

#[test]
fn a_granted_pin_is_driven_and_another_pin_is_denied_and_counted() {
    let mut d = Device::online();
    d.deploy("led0", &GPIO.replace("PIN", "0"), &["log", "gpio:led0"], &[]);
    assert_eq!(logs(&d.tick()), ["ok"]);
    assert_eq!(d.bus.lock().unwrap().leds, 1, "led0 is on");

    d.deploy("led1", &GPIO.replace("PIN", "1"), &["log", "gpio:led0"], &[]);
    assert_eq!(logs(&d.tick()), ["ok", "no"]);
    assert_eq!(d.bus.lock().unwrap().leds, 1, "led1 was never touched");
    assert_eq!(d.bus.lock().unwrap().calls.iter().filter(|c| c.contains("led1")).count(), 0);
    let counters = d.report("led1").counters.expect("counted");
    assert!(counters.denied >= 1, "{counters:?}");
    assert_eq!(d.report("led1").state, AppState::Running, "a denied call is an error code, not a failure");
}

/// Reads two bytes from register 0 of the device at ADDR and logs
/// "t=" plus the result code as a digit (0 ok, else 9).
const I2C: &str = r#"(module
  (import "wasmbed" "i2c_write_read" (func $wr (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (global $r (mut i32) (i32.const 0))
  (func (export "tick") (param i64)
    (global.set $r (call $wr (i32.const 0) (i32.const ADDR) (i32.const 0) (i32.const 1) (i32.const 32) (i32.const 2)))
    (i32.store8 (i32.const 40) (i32.add (i32.const 48) (i32.sub (i32.const 0) (global.get $r))))
    (call $log (i32.const 40) (i32.const 1))))"#;

#[test]
fn i2c_reaches_only_the_granted_address_and_a_nack_is_an_error_code() {
    let mut d = Device::online();
    // Granted and present: returns the 2 bytes read (logged as 48-2 = '.').
    d.deploy("ok", &I2C.replace("ADDR", "72"), &["log", "i2c:0:0x48"], &[]);
    let out = logs(&d.tick());
    assert_eq!(out, [((48 - 2) as u8 as char).to_string()], "2 bytes read");
    // Another address: denied (-1 → '1'), and the bus never saw it.
    d.bus.lock().unwrap().calls.clear();
    d.deploy("other", &I2C.replace("ADDR", "73"), &["log", "i2c:0:0x48"], &[]);
    assert!(logs(&d.tick()).contains(&"1".to_string()));
    assert!(d.bus.lock().unwrap().calls.iter().all(|c| !c.contains("0x49")), "{:?}", d.bus.lock().unwrap().calls);
    // Granted but nobody answers: NACK (-2 → '2'), counted as a hardware error.
    d.deploy("absent", &I2C.replace("ADDR", "80"), &["log", "i2c:0:0x50"], &[]);
    assert!(logs(&d.tick()).contains(&"2".to_string()));
    assert!(d.report("absent").counters.unwrap().hw_errors >= 1);
    assert_eq!(d.report("ok").state, AppState::Running);
}

#[test]
fn a_buffer_outside_memory_traps_that_app_only() {
    let mut d = Device::online();
    d.deploy("ok", &I2C.replace("ADDR", "72"), &["log", "i2c:0:0x48"], &[]);
    let bad = I2C.replace("ADDR", "72").replace("(i32.const 32) (i32.const 2)", "(i32.const 65535) (i32.const 2)");
    d.deploy("bad", &bad, &["log", "i2c:0:0x48"], &[]);
    let msgs = d.tick();
    let failed = msgs.iter().any(|m| matches!(m, DeviceMsg::AppStatus(s) if s.report.app == "bad" && s.report.state == AppState::Failed && s.reason.as_ref().is_some_and(|r| r.detail.contains("outside memory"))));
    assert!(failed, "{msgs:?}");
    assert_eq!(d.report("ok").state, AppState::Running);
}

#[test]
fn hardware_the_device_lacks_is_rejected_naming_it() {
    let mut d = Device::online();
    let msgs = d.deploy("x", &I2C.replace("ADDR", "72"), &["log", "i2c:1:0x48", "gpio:led7"], &[]);
    let why = rejected(&msgs).expect("rejected");
    assert_eq!(why.code, ErrorCode::MissingPeripheral);
    assert!(why.detail.contains("i2c:1:0x48") && why.detail.contains("gpio:led7"), "{}", why.detail);
    // A device with no peripherals at all rejects any hardware grant.
    let mut bare = Agent::new(AgentConfig::new("dev-2", "sim"));
    bare.connected(0);
    let welcome = Welcome { heartbeat_ms: 1000, unix_time_s: 0, unix_time_ms: None };
    common::send(&mut bare, &GatewayMsg::Welcome(welcome), 0).unwrap();
    common::drain(&mut bare);
    let (groups, resources) = grants(&["gpio:led0"]);
    let begin = DeployBegin {
        app: "y".into(),
        version: "1".into(),
        size: 8,
        sha256: [0; 32].into(),
        limits: limits(),
        revision: None,
        start: None,
        grants: Some(groups),
        resources: Some(resources),
        config: None,
        manifest: None,
        native: None,
    };
    common::send(&mut bare, &GatewayMsg::DeployBegin(begin), 0).unwrap();
    assert_eq!(rejected(&common::drain(&mut bare)).map(|r| r.code), Some(ErrorCode::MissingPeripheral));
}

/// Publishes N samples of `temp_c` per tick; logs the last result code.
const FLOOD: &str = r#"(module
  (import "wasmbed" "telemetry_publish" (func $p (param i32 i32 f64 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "temp_c")
  (data (i32.const 16) "Bad!")
  (global $last (export "last") (mut i32) (i32.const 0))
  (func (export "tick") (param i64)
    (local $i i32)
    (loop $more
      (global.set $last (call $p (i32.const 0) (i32.const 6) (f64.const 21.5) (i64.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $more (i32.lt_u (local.get $i) (i32.const N))))))"#;

fn batches(msgs: &[DeviceMsg]) -> Vec<TelemetryBatch> {
    msgs.iter()
        .filter_map(|m| match m {
            DeviceMsg::Telemetry(t) => Some(t.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn telemetry_is_batched_per_call_and_dated_by_the_gateways_clock() {
    let mut d = Device::online();
    d.deploy("t", &FLOOD.replace("N", "3"), &["telemetry"], &[]);
    let b = batches(&d.tick());
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].samples.len(), 3);
    assert_eq!(b[0].samples[0].metric, "temp_c");
    assert_eq!(b[0].samples[0].value, 21.5);
    assert_eq!(b[0].unix_ms, Some(1_700_000_000_000 + b[0].uptime_ms), "the Welcome's clock, in ms");
}

#[test]
fn a_telemetry_flood_is_dropped_and_counted_and_the_session_goes_on() {
    let mut d = Device::online();
    d.deploy("quiet", &FLOOD.replace("N", "1"), &["telemetry"], &[]);
    d.deploy("flood", &FLOOD.replace("N", "1000"), &["telemetry"], &[]);
    let mut kept = 0;
    let mut dropped = 0;
    let mut quiet = 0;
    let mut heartbeats = 0;
    for _ in 0..30 {
        for m in d.tick() {
            match m {
                DeviceMsg::Telemetry(t) if t.app == "flood" => {
                    kept += t.samples.len();
                    dropped += t.dropped as usize;
                }
                DeviceMsg::Telemetry(t) if t.app == "quiet" => quiet += t.samples.len(),
                DeviceMsg::Heartbeat(_) => heartbeats += 1,
                _ => {}
            }
        }
    }
    // 3 s of ticks: the burst plus the sustained rate, the rest dropped.
    let allowed = (TELEMETRY_BURST + 3 * TELEMETRY_RATE_PER_S) as usize;
    assert!(kept <= allowed, "{kept} kept, at most {allowed}");
    assert!(kept >= TELEMETRY_BURST as usize);
    assert_eq!(kept + dropped, 30 * 1000, "every sample is either sent or counted");
    assert_eq!(quiet, 30, "the other app's samples all go through");
    assert!(heartbeats >= 2, "the session keeps heartbeating");
    // The report comes after one more tick, which drops more.
    let report = d.report("flood");
    assert!(report.counters.unwrap().dropped_samples as usize > dropped);
    assert_eq!(report.state, AppState::Running);
}

#[test]
fn bad_metric_names_and_values_are_invalid() {
    let mut d = Device::online();
    let bad_name = FLOOD.replace("N", "1").replace("(i32.const 0) (i32.const 6)", "(i32.const 16) (i32.const 4)");
    d.deploy("badname", &bad_name, &["telemetry"], &[]);
    assert!(batches(&d.tick()).is_empty());
    let nan = FLOOD.replace("N", "1").replace("(f64.const 21.5)", "(f64.const nan)");
    d.deploy("nan", &nan, &["telemetry"], &[]);
    assert!(batches(&d.tick()).iter().all(|b| b.app != "nan"));
    assert_eq!(d.report("nan").state, AppState::Running);
}

/// `init` reads config key KEY into 64.. and logs it, or logs "missing".
const CONFIG: &str = r#"(module
  (import "wasmbed" "config_get" (func $get (param i32 i32 i32 i32) (result i32)))
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "KEY")
  (data (i32.const 32) "missing")
  (func (export "init") (local $n i32)
    (local.set $n (call $get (i32.const 0) (i32.const KLEN) (i32.const 64) (i32.const 16)))
    (if (i32.lt_s (local.get $n) (i32.const 0))
      (then (call $log (i32.const 32) (i32.const 7)))
      (else (call $log (i32.const 64) (local.get $n))))))"#;

#[test]
fn config_is_read_by_key_and_a_missing_key_is_not_found() {
    let mut d = Device::online();
    let wat = CONFIG.replace("KEY", "threshold_c").replace("KLEN", "11");
    let msgs = d.deploy("c", &wat, &["log", "config"], &[("threshold_c", "30.5")]);
    assert_eq!(logs(&msgs), ["30.5"]);
    let msgs = d.deploy("d", &wat, &["log", "config"], &[("other", "1")]);
    assert_eq!(logs(&msgs), ["missing"]);
}

/// Logs every message it gets.
const ECHO: &str = r#"(module
  (import "wasmbed" "messages_read" (func $read (param i32 i32) (result i32)))
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "on_message") (param $len i32)
    (call $log (i32.const 0) (call $read (i32.const 0) (i32.const 256)))))"#;

#[test]
fn messages_reach_the_handler_and_every_other_case_is_reported() {
    let mut d = Device::online();
    d.deploy("echo", ECHO, &["log", "messages"], &[]);
    assert_eq!(d.message("echo", b"ping"), Delivery::Delivered);
    assert_eq!(d.message("echo", &[b'x'; MAX_MESSAGE_LEN + 1]), Delivery::TooLarge);
    assert_eq!(d.message("nobody", b"ping"), Delivery::NotRunning);
    d.deploy("quiet", &FLOOD.replace("N", "1"), &["telemetry"], &[]);
    assert_eq!(d.message("quiet", b"ping"), Delivery::NoHandler);
    assert_eq!(d.report("echo").counters.unwrap().messages, 1);
}

#[test]
fn a_handler_that_runs_out_of_fuel_fails_its_app_only() {
    let mut d = Device::online();
    let spin = r#"(module (memory (export "memory") 1)
      (func (export "on_message") (param i32) (loop $l (br $l))))"#;
    d.deploy("spin", spin, &["messages"], &[]);
    d.deploy("echo", ECHO, &["log", "messages"], &[]);
    assert_eq!(d.message("spin", b"x"), Delivery::Failed);
    assert_eq!(d.report("spin").state, AppState::Failed);
    assert_eq!(d.message("echo", b"still here"), Delivery::Delivered);
}
