//! Sensors of simulated devices through the platform's API: a device run
//! in this process (registered in `Platform::simulated`) is set through its
//! simulated peripherals, including a sensor its spec declares beyond the
//! simulator's default; one run elsewhere is out of reach, and says so.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::watch;
use wasmbed_model::{AttachedPeripheral, Gauge, SensorKind};
use wasmbed_platform::{Platform, PlatformConfig};

fn tmp105(name: &str, at: &str, initial: Option<f64>) -> AttachedPeripheral {
    AttachedPeripheral { name: name.into(), kind: SensorKind::Tmp105, at: at.into(), initial: initial.map(Gauge) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_device_in_this_process_has_its_sensors_set_through_the_api() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api().quick()).await.unwrap();
    let token = p.admin_token.clone().unwrap();
    let bundles = p.create_sim_devices("s", 2, &Default::default()).await.unwrap();
    for name in ["s-0", "s-1"] {
        let mut d = p.store.get_device(name).await.unwrap().unwrap();
        d.spec.peripherals = vec![tmp105("temp0", "i2c:0:0x48", None), tmp105("temp1", "i2c:0:0x49", Some(5.0))];
        d.spec.validate().unwrap();
        p.store.update_device_spec(&d).await.unwrap();
    }
    // s-0 runs here; s-1 would run in another process.
    let (stop, rx) = watch::channel(false);
    let opts = wasmbed_sim::SimOptions::default().with_peripherals(p.simulated.clone());
    let sim = tokio::spawn(wasmbed_sim::run_device(bundles[0].clone(), opts, rx));
    let t0 = Instant::now();
    let handle = loop {
        if let Some(h) = p.simulated.get("s-0") {
            break h;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "s-0 never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let http = reqwest::Client::new();
    let api = p.api_url().unwrap();
    let call = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut req = http.request(method, format!("{api}/api/v1/devices/{path}")).bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let resp = req.send().await.unwrap();
            (resp.status().as_u16(), resp.json::<Value>().await.unwrap())
        }
    };
    let put = reqwest::Method::PUT;
    let (status, body) = call(put.clone(), "s-0/sensors/temp0", Some(json!({"value": 31.5}))).await;
    assert_eq!((status, body["value"].as_f64()), (200, Some(31.5)), "{body}");
    assert_eq!(handle.sensor("temp0"), Some(31.5), "the simulated TMP105 measures it");
    // temp1 is not the simulator's default: attached on first use, at its initial value.
    let (status, body) = call(reqwest::Method::GET, "s-0/sensors/temp1", None).await;
    assert_eq!((status, body["value"].as_f64()), (200, Some(5.0)), "{body}");
    assert!(handle.sensors().contains(&"temp1".to_string()));
    let (status, body) = call(put.clone(), "s-0/sensors/temp9", Some(json!({"value": 1}))).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("attached: temp0, temp1"), "{body}");
    let (status, _) = call(put.clone(), "s-0/sensors/temp0", Some(json!({"value": 126}))).await;
    assert_eq!(status, 400);
    let (status, body) = call(put, "s-1/sensors/temp0", Some(json!({"value": 20}))).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains("device s-1 (board sim) has no emulator"), "{body}");

    stop.send(true).unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), sim).await;
    p.shutdown().await;
}
