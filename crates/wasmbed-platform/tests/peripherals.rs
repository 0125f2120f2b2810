//! Apps that touch the world, on our firmware in QEMU: a TMP105 QEMU
//! emulates on the MPS2 I2C bus, the FPGAIO LEDs read from QEMU's own
//! monitor (where the firmware cannot lie), the STM32F405's ADC, and the
//! samples the apps publish arriving at the API.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use wasmbed_model::{
    AppState, Application, ApplicationSpec, AttachedPeripheral, Device, DeviceSpec, Gauge, Limits, Meta, SensorKind,
    Sensors,
};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_qemu::manager::QemuManager;
use wasmbed_testkit::{eventually, example_app, poll};

struct Env {
    tmp: tempfile::TempDir,
    p: Platform,
}

async fn platform_for(board: &str) -> Env {
    let tmp = tempfile::tempdir().unwrap();
    let firmware: BTreeMap<String, _> =
        [(board.to_string(), wasmbed_qemu::firmware_from_source(board).unwrap())].into_iter().collect();
    let cfg = PlatformConfig::new(tmp.path()).with_heartbeat_ms(1000).with_firmware(firmware).with_api().quick();
    let p = Platform::start(cfg).await.unwrap();
    Env { tmp, p }
}

impl Env {
    async fn add_device(&self, name: &str, board: &str, peripherals: Vec<AttachedPeripheral>) {
        let spec = DeviceSpec { board: board.into(), peripherals, ..Default::default() };
        self.p.store.create_device(Device { meta: Meta::named(name), spec, status: Default::default() }).await.unwrap();
    }

    async fn device(&self, name: &str) -> Device {
        self.p.store.get_device(name).await.unwrap().unwrap()
    }

    fn console(&self, name: &str) -> String {
        std::fs::read_to_string(self.tmp.path().join("devices").join(name).join("console.log")).unwrap_or_default()
    }

    async fn deploy(&self, name: &str, module: &[u8], capabilities: &[&str], config: &[(&str, &str)], tick_ms: u32) {
        let digest = hex::encode(Sha256::digest(module));
        self.p.store.put_module(&digest, module).await.unwrap();
        let spec = ApplicationSpec {
            capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
            config: config.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            limits: Limits { tick_ms, ..Limits::default() },
            ..ApplicationSpec::new("1", &digest, module.len() as u32)
        };
        spec.validate().unwrap();
        let app = Application { meta: Meta::named(name), spec, status: Default::default() };
        self.p.store.put_application(&app).await.unwrap();
    }

    async fn wait_running(&self, device: &str, app: &str) {
        eventually(&self.p.store, format_args!("{device}: {app} running"), async || {
            let d = self.device(device).await;
            match d.status.session.app(app).map(|a| a.state) {
                Some(AppState::Running) => Ok(()),
                other => Err(format!("{other:?}: {:?}\nconsole:\n{}", d.status.session, self.console(device))),
            }
        })
        .await;
    }

    fn manager(&self) -> &QemuManager {
        self.p.manager.as_ref().unwrap()
    }

    /// The samples of `metric` the API serves for `device`, oldest first.
    async fn api_points(&self, device: &str, metric: &str) -> Vec<f64> {
        let url = format!("{}/api/v1/devices/{device}/telemetry/{metric}", self.p.api_url().unwrap());
        let token = self.p.admin_token.clone().unwrap();
        let Ok(resp) = reqwest::Client::new().get(url).bearer_auth(token).send().await else { return Vec::new() };
        let Ok(json) = resp.json::<serde_json::Value>().await else { return Vec::new() };
        json["points"].as_array().map_or_else(Vec::new, |p| p.iter().filter_map(|p| p["value"].as_f64()).collect())
    }

    /// Waits until the API serves a sample of `metric` from `device` that
    /// `check` accepts; returns how many it served by then.
    async fn wait_sample(&self, device: &str, metric: &str, what: &str, check: impl Fn(f64) -> bool) -> usize {
        poll(format_args!("{device}: {metric} {what} at the API"), async || {
            let points = self.api_points(device, metric).await;
            if points.iter().any(|v| check(*v)) { Ok(points.len()) } else { Err(points) }
        })
        .await
    }

    /// The FPGAIO LED register, read through QEMU's monitor.
    async fn leds(&self, device: &str) -> u32 {
        let base = wasmbed_model::board_table::MPS2_AN385.leds().unwrap();
        self.manager().read_word(device, base).await.unwrap()
    }
}

fn tmp105(initial: f64) -> AttachedPeripheral {
    AttachedPeripheral {
        name: "temp0".into(),
        kind: SensorKind::Tmp105,
        at: "i2c:0:0x48".into(),
        initial: Some(Gauge(initial)),
    }
}

const THERMOSTAT: &[&str] = &["log", "time", "telemetry", "config", "gpio:led0", "i2c:0:0x48"];

#[tokio::test(flavor = "multi_thread")]
async fn the_thermostat_reads_the_tmp105_qemu_emulates_and_its_led_is_seen_from_the_monitor() {
    let env = platform_for("mps2-an385").await;
    env.add_device("thermo-0", "mps2-an385", vec![tmp105(21.5)]).await;
    env.deploy("thermostat", &example_app("thermostat"), THERMOSTAT, &[("threshold_c", "30")], 500).await;
    env.wait_running("thermo-0", "thermostat").await;

    // 21.5 °C: published, and the LED off, read where the firmware cannot lie.
    env.wait_sample("thermo-0", "temp_c", "= 21.5", |v| (v - 21.5).abs() < 0.07).await;
    assert_eq!(env.leds("thermo-0").await & 1, 0, "LED 0 is off below the threshold");

    // The platform sets the sensor's physical value; QEMU reports it back.
    let set = env.manager().set("thermo-0", "temp0", 31.5).await.unwrap();
    assert!((set - 31.5).abs() < 0.01, "QEMU holds {set}");
    let before = env.api_points("thermo-0", "temp_c").await.len();
    env.wait_sample("thermo-0", "temp_c", "= 31.5", |v| (v - 31.5).abs() < 0.07).await;
    // The app drives the LED in the tick that reads the value, before it
    // publishes it: by the time a 31.5 sample is at the API, and at most two
    // ticks after the change, the LED is on.
    let leds = env.leds("thermo-0").await;
    let hot =
        env.api_points("thermo-0", "temp_c").await.iter().skip(before).filter(|v| (**v - 31.5).abs() < 0.07).count();
    assert_eq!(leds & 1, 1, "LED 0 on after 31.5 °C\nconsole:\n{}", env.console("thermo-0"));
    assert!(hot <= 2, "the LED was seen on within two ticks ({hot} samples at 31.5 by then)");

    // A sensor the device does not have is a clear error.
    let e = env.manager().set("thermo-0", "humidity0", 50.0).await.unwrap_err().to_string();
    assert!(e.contains("humidity0") && e.contains("temp0"), "{e}");
    let d = env.device("thermo-0").await;
    let counters = d.status.session.app("thermostat").and_then(|a| a.counters).unwrap_or_default();
    assert_eq!((counters.denied, counters.hw_errors), (0, 0), "{counters:?}");
    env.p.shutdown().await;
}

/// Each tick: one ADC conversion of channel 0, published as `adc0`.
const ADC_APP: &str = r#"(module
  (import "wasmbed" "adc_read" (func $adc (param i32) (result i32)))
  (import "wasmbed" "telemetry_publish" (func $pub (param i32 i32 f64 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "adc0")
  (func (export "tick") (param i64)
    (drop (call $pub (i32.const 0) (i32.const 4) (f64.convert_i32_s (call $adc (i32.const 0))) (i64.const 0)))))"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_app_on_the_olimex_board_reads_the_adc_and_publishes_it() {
    let env = platform_for("olimex-stm32-h405").await;
    env.add_device("adc-0", "olimex-stm32-h405", vec![]).await;
    env.deploy("adc", &wat::parse_str(ADC_APP).unwrap(), &["telemetry", "adc:0"], &[], 500).await;
    env.wait_running("adc-0", "adc").await;
    env.wait_sample("adc-0", "adc0", "three conversions", |_| true).await;
    let values = poll("adc-0: three conversions at the API", async || {
        let v = env.api_points("adc-0", "adc0").await;
        if v.len() >= 3 { Ok(v) } else { Err(v) }
    })
    .await;
    // 12-bit conversions, never an error code; QEMU's STM32F2xx ADC model
    // steps its data register by 7 per conversion, which no firmware bug
    // could fake by accident.
    assert!(values.iter().all(|v| (0.0..4096.0).contains(v) && v.fract() == 0.0), "{values:?}");
    for pair in values.windows(2) {
        let step = (pair[1] - pair[0]).rem_euclid(4096.0) as u32;
        assert!(step > 0 && step.is_multiple_of(7), "QEMU's ADC steps by 7: {values:?}");
    }
    env.p.shutdown().await;
}

/// Each tick: logs what arrived on port 1 (if anything), then writes "tick\n" to it.
const UART_APP: &str = r#"(module
  (import "wasmbed" "uart_read" (func $read (param i32 i32 i32) (result i32)))
  (import "wasmbed" "uart_write" (func $write (param i32 i32 i32) (result i32)))
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "tick\n")
  (func (export "tick") (param i64) (local $n i32)
    (local.set $n (call $read (i32.const 1) (i32.const 64) (i32.const 64)))
    (if (i32.gt_s (local.get $n) (i32.const 0)) (then (call $log (i32.const 64) (local.get $n))))
    (drop (call $write (i32.const 1) (i32.const 0) (i32.const 5)))))"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_app_talks_over_a_serial_port_whose_far_end_the_test_holds() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let env = platform_for("mps2-an385").await;
    env.add_device("serial-0", "mps2-an385", vec![]).await;
    env.deploy("serial", &wat::parse_str(UART_APP).unwrap(), &["log", "uart:1"], &[], 300).await;
    env.wait_running("serial-0", "serial").await;
    // The far end of UART1: what the app writes arrives here, not through
    // the firmware's reports.
    let socket = env.manager().app_uart("serial-0", 1);
    let mut far = poll("serial-0: uart1 socket", async || {
        tokio::net::UnixStream::connect(&socket).await.map_err(|e| e.to_string())
    })
    .await;
    let mut got = Vec::new();
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while !String::from_utf8_lossy(&got).contains("tick\n") {
            let mut buf = [0u8; 64];
            let n = far.read(&mut buf).await.unwrap();
            assert!(n > 0, "the port closed");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no tick on uart1: {got:?}\nconsole:\n{}", env.console("serial-0")));
    // And what the far end sends reaches the app (QEMU's UART holds one
    // byte at a time: it may arrive over several ticks).
    far.write_all(b"ping").await.unwrap();
    poll("serial-0: the app logged ping", async || {
        let lines: String = env.p.logs.tail("serial-0", 50).iter().map(|l| l.line.clone()).collect();
        if lines.contains("ping") { Ok(()) } else { Err(lines) }
    })
    .await;
    let counters =
        env.device("serial-0").await.status.session.app("serial").and_then(|a| a.counters).unwrap_or_default();
    assert_eq!((counters.denied, counters.hw_errors), (0, 0), "{counters:?}");
    env.p.shutdown().await;
}
