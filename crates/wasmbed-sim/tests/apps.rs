//! The example apps on a local agent with simulated peripherals
//! (`wasmbed_sim::local`), as `wasmbed run` runs them: each does what its
//! doc says through the real host functions and grant checks.

#![allow(clippy::unwrap_used)] // Test: a failed unwrap is a failed test.

mod common;

use wasmbed_protocol::{AppState, Capability, ConfigEntry, Delivery, ErrorCode, Grant, split_grants};
use wasmbed_sim::SimPeripherals;
use wasmbed_sim::local::{Event, LocalRun, LocalSetup, Stamped, imported_groups};

fn setup(module: &[u8], grants: &[&str], config: &[(&str, &str)]) -> LocalSetup {
    let grants: Vec<Grant> = grants.iter().map(|g| Grant::parse(g).unwrap()).collect();
    let (mut groups, resources) = split_grants(&grants);
    groups.extend(imported_groups(module).unwrap());
    groups.sort();
    groups.dedup();
    let mut s = LocalSetup::new("sim", groups);
    s.resources = resources;
    s.config = config.iter().map(|(k, v)| ConfigEntry { key: (*k).into(), value: (*v).into() }).collect();
    s
}

fn start(name: &str, grants: &[&str], config: &[(&str, &str)]) -> (LocalRun, Vec<Stamped>) {
    let module = common::app(name);
    let s = setup(&module, grants, config);
    let (run, events) = LocalRun::start(&module, SimPeripherals::new(wasmbed_boards::SIM_PERIPHERALS), &s);
    assert!(events.iter().any(|e| e.event == Event::Running), "{name} does not run: {events:?}");
    (run, events)
}

fn logs(events: &[Stamped]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Log(l) => Some(l.clone()),
            _ => None,
        })
        .collect()
}

fn samples(events: &[Stamped], metric: &str) -> Vec<f64> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Event::Sample { metric: m, value } if m == metric => Some(*value),
            _ => None,
        })
        .collect()
}

const THERMOSTAT: &[&str] = &["i2c:0:0x48", "gpio:led0"];

#[test]
fn the_thermostat_keeps_the_led_off_at_21_5_and_turns_it_on_within_two_ticks_of_31_5() {
    let (mut run, started) = start("thermostat", THERMOSTAT, &[]);
    assert_eq!(logs(&started), ["thermostat: LED 0 on above 30.00 C"]);
    run.hw().set_sensor("temp0", 21.5).unwrap();
    let first = run.tick();
    assert_eq!(samples(&first, "temp_c"), [21.5]);
    assert_eq!(run.hw().led(0), Some(false));
    assert_eq!(logs(&first), ["temperature 21.50 C: LED 0 off"]);

    run.hw().set_sensor("temp0", 31.5).unwrap();
    let mut later = run.tick();
    later.extend(run.tick());
    assert_eq!(run.hw().led(0), Some(true), "{later:?}");
    assert!(later.iter().any(|e| e.event == Event::Led { index: 0, on: true }));
    assert_eq!(samples(&later, "temp_c"), [31.5, 31.5]);
    assert_eq!(logs(&later), ["temperature 31.50 C: LED 0 on"], "logged on change only");
    let c = run.counters();
    assert_eq!((c.denied, c.hw_errors, c.dropped_samples, c.samples), (0, 0, 0, 3));
}

#[test]
fn the_thermostat_reads_its_threshold_from_config_at_twelve_bit_resolution() {
    let (mut run, started) = start("thermostat", THERMOSTAT, &[("threshold_c", "25.25")]);
    assert_eq!(logs(&started), ["thermostat: LED 0 on above 25.25 C"]);
    run.hw().set_sensor("temp0", 25.3125).unwrap();
    let events = run.tick();
    assert_eq!(samples(&events, "temp_c"), [25.3125], "1/16 °C: the app set 12 bits");
    assert_eq!(run.hw().led(0), Some(true));
    run.hw().set_sensor("temp0", 25.1875).unwrap();
    run.tick();
    assert_eq!(run.hw().led(0), Some(false));
}

#[test]
fn a_thermostat_granted_another_address_is_denied_counted_and_keeps_running() {
    let (mut run, started) = start("thermostat", &["i2c:0:0x49", "gpio:led0"], &[]);
    assert!(logs(&started).contains(&"tmp105 setup: denied".to_string()), "{started:?}");
    let events = run.tick();
    assert!(samples(&events, "temp_c").is_empty());
    run.tick();
    assert_eq!(run.state(), Some(AppState::Running));
    assert!(run.counters().denied >= 2, "{:?}", run.counters());
    assert_eq!(run.hw().led(0), Some(false), "never reached the LED");
}

#[test]
fn a_grant_naming_hardware_the_board_lacks_is_rejected_by_the_device() {
    let module = common::app("blinky");
    let s = setup(&module, &["gpio:led7"], &[]);
    let (_, events) = LocalRun::start(&module, SimPeripherals::new(wasmbed_boards::SIM_PERIPHERALS), &s);
    let reason = events.iter().find_map(|e| match &e.event {
        Event::Rejected(r) => Some(r.clone()),
        _ => None,
    });
    let reason = reason.expect("rejected");
    assert_eq!(reason.code, ErrorCode::MissingPeripheral);
    assert!(reason.detail.contains("gpio:led7"), "{}", reason.detail);
}

#[test]
fn blinky_toggles_led0_every_tick() {
    let (mut run, _) = start("blinky", &["gpio:led0"], &[]);
    let mut seen = Vec::new();
    for _ in 0..4 {
        run.tick();
        seen.push(run.hw().led(0).unwrap());
    }
    assert_eq!(seen, [true, false, true, false]);
    assert_eq!(imported_groups(&common::app("blinky")).unwrap(), [Capability::Log, Capability::Gpio]);
}

#[test]
fn echo_logs_each_message_and_publishes_its_length() {
    let (mut run, _) = start("echo", &[], &[]);
    let events = run.message(b"hello device");
    assert_eq!(logs(&events), ["hello device"]);
    assert_eq!(samples(&events, "msg_len"), [12.0]);
    assert_eq!(events.last().map(|e| &e.event), Some(&Event::Delivery(Delivery::Delivered)));
    let too_big = run.message(&[b'x'; 257]);
    assert_eq!(too_big.last().map(|e| &e.event), Some(&Event::Delivery(Delivery::TooLarge)));
    assert_eq!(
        imported_groups(&common::app("echo")).unwrap(),
        [Capability::Log, Capability::Telemetry, Capability::Messages]
    );
}

#[test]
fn an_app_without_a_handler_makes_the_device_answer_no_handler() {
    let (mut run, _) = start("thermostat", THERMOSTAT, &[]);
    let events = run.message(b"hi");
    assert_eq!(events.last().map(|e| &e.event), Some(&Event::Delivery(Delivery::NoHandler)));
}
