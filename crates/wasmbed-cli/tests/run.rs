//! `wasmbed run`: one app on the local agent, no platform. Bad input is
//! refused naming the flag and the value; good input runs the example apps
//! with their simulated peripherals.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_wasmbed");

/// An example app's path (the apps built once, a no-op when fresh).
fn app(name: &str) -> String {
    wasmbed_testkit::example_apps().join(format!("{name}.wasm")).to_str().unwrap().to_string()
}

fn wasmbed(args: &[&str]) -> Output {
    // No platform anywhere: `run` must not look for one.
    let empty = tempfile::tempdir().unwrap();
    Command::new(BIN).args(args).env("WASMBED_DATA_DIR", empty.path()).env_remove("WASMBED_API").output().unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = wasmbed(args);
    assert!(out.status.success(), "wasmbed {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Fails, and says each of `words` on stderr.
fn refused(args: &[&str], words: &[&str]) {
    let out = wasmbed(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "wasmbed {args:?} succeeded");
    for w in words {
        assert!(err.contains(w), "wasmbed {args:?}: {w:?} not in {err}");
    }
}

#[test]
fn the_thermostat_runs_with_its_sensor_grants_and_config() {
    let thermostat = app("thermostat");
    let out = ok(&[
        "run",
        &thermostat,
        "--board",
        "mps2-an385",
        "--sensor",
        "temp0=31.5",
        "--config",
        "threshold_c=25",
        "--grant",
        "i2c:0:0x48",
        "--grant",
        "gpio:led0",
        "--ticks",
        "2",
    ]);
    for line in [
        "log        thermostat: LED 0 on above 25.00 C",
        "1000 ms  telemetry  temp_c = 31.5",
        "1000 ms  led        led0 on",
        "temperature 31.50 C: LED 0 on",
        "2 ticks, 2000 ms: running; samples 2",
    ] {
        assert!(out.contains(line), "{line:?} not in\n{out}");
    }
}

#[test]
fn messages_are_delivered_after_init_and_json_is_one_object_a_line() {
    let out = ok(&["run", &app("echo"), "--board", "sim", "--message", "ping", "--ticks", "1", "-o", "json"]);
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["running", "telemetry", "log", "message", "summary"]);
    assert_eq!(events[1]["metric"], "msg_len");
    assert_eq!(events[1]["value"], 4.0);
    assert_eq!(events[2]["line"], "ping");
    assert_eq!(events[3]["delivery"], "delivered");
    assert_eq!(events[4]["counters"]["messages"], 1);
}

#[test]
fn an_app_without_a_handler_is_answered_no_handler() {
    let out = ok(&["run", &app("blinky"), "--board", "sim", "--grant", "gpio:led0", "--message", "hi", "--ticks", "2"]);
    assert!(out.contains("message    no-handler"), "{out}");
    assert!(out.contains("1000 ms  led        led0 on") && out.contains("2000 ms  led        led0 off"), "{out}");
}

#[test]
fn a_missing_file_is_refused_naming_it() {
    refused(&["run", "/nonexistent/app.wasm", "--board", "sim"], &["cannot read /nonexistent/app.wasm"]);
}

#[test]
fn a_file_that_is_not_webassembly_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.wasm");
    std::fs::write(&path, b"hello, not wasm").unwrap();
    refused(&["run", path.to_str().unwrap(), "--board", "sim"], &["notes.wasm", "not a WebAssembly module"]);
}

#[test]
fn an_import_outside_the_contract_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odd.wasm");
    let wasm = wat::parse_str(r#"(module (import "wasmbed" "reboot" (func)) (func (export "init")))"#).unwrap();
    std::fs::write(&path, wasm).unwrap();
    refused(&["run", path.to_str().unwrap(), "--board", "sim"], &["wasmbed.reboot"]);
}

#[test]
fn an_unknown_board_is_refused_listing_the_known_ones() {
    refused(&["run", &app("blinky"), "--board", "pdp-11"], &["--board \"pdp-11\"", "unknown board", "mps2-an385"]);
}

#[test]
fn bad_sensor_values_are_refused_naming_the_flag() {
    let blinky = app("blinky");
    refused(&["run", &blinky, "--board", "sim", "--sensor", "temp0"], &["--sensor \"temp0\"", "NAME=VALUE"]);
    refused(&["run", &blinky, "--board", "sim", "--sensor", "temp0=warm"], &["--sensor \"temp0=warm\""]);
    refused(&["run", &blinky, "--board", "sim", "--sensor", "temp0=500"], &["--sensor \"temp0=500\"", "out of range"]);
    refused(
        &["run", &blinky, "--board", "olimex-stm32-h405", "--sensor", "temp0=20"],
        &["--sensor \"temp0=20\"", "no sensor \"temp0\"", "adc0"],
    );
}

#[test]
fn bad_grants_are_refused_naming_the_flag_and_the_value() {
    let blinky = app("blinky");
    refused(&["run", &blinky, "--board", "sim", "--grant", "gpio:pin3"], &["--grant \"gpio:pin3\"", "ledN"]);
    refused(&["run", &blinky, "--board", "sim", "--grant", "bluetooth"], &["--grant \"bluetooth\"", "unknown"]);
    refused(&["run", &blinky, "--board", "sim", "--grant", "i2c:0"], &["--grant \"i2c:0\""]);
    refused(
        &["run", &blinky, "--board", "mps2-an385", "--grant", "adc:0"],
        &["--grant \"adc:0\"", "mps2-an385 has no adc:0", "gpio:led0"],
    );
}

#[test]
fn bad_config_is_refused_naming_the_flag() {
    let blinky = app("blinky");
    refused(&["run", &blinky, "--board", "sim", "--config", "novalue"], &["--config \"novalue\"", "KEY=VALUE"]);
    refused(&["run", &blinky, "--board", "sim", "--config", "Bad Key=1"], &["--config \"Bad Key=1\""]);
    refused(&["run", &blinky, "--board", "sim", "--config", "a=1", "--config", "a=2"], &["given twice"]);
}
