//! Sensors on real QEMU devices: the QEMU manager attaches the TMP105 a
//! Device declares to its mps2-an385, sets it before the firmware runs,
//! sets and reads it through QMP while it runs, keeps the value across a
//! restart, reads the FPGAIO LED register from outside the firmware, and
//! refuses what cannot be done with an error that says why.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use wasmbed_model::{AttachedPeripheral, Device, DeviceSpec, Gauge, Meta, SensorError, SensorKind, Sensors, Store};
use wasmbed_qemu::manager::{ManagerConfig, QemuManager};
use wasmbed_qemu::qmp::Qmp;

mod common;

const BOARD: &str = "mps2-an385";

fn temp0(initial: Option<f64>) -> AttachedPeripheral {
    AttachedPeripheral {
        name: "temp0".into(),
        kind: SensorKind::Tmp105,
        at: "i2c:0:0x48".into(),
        initial: initial.map(Gauge),
    }
}

fn device(name: &str, board: &str, peripherals: Vec<AttachedPeripheral>, disconnected: bool) -> Device {
    Device {
        meta: Meta::named(name),
        spec: DeviceSpec { board: board.into(), peripherals, disconnected, ..Default::default() },
        status: Default::default(),
    }
}

/// Waits until the manager has started `device`'s QEMU `starts` times and it is up.
async fn started(m: &QemuManager, device: &str, starts: u32) -> u32 {
    let t0 = Instant::now();
    loop {
        if let Some(r) = m.running().into_iter().find(|r| r.device == device)
            && r.starts >= starts
            && let Some(pid) = r.pid
        {
            return pid;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "{device} never started ({starts})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tmp105_on_a_qemu_device_is_set_read_kept_and_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("s.redb")).unwrap();
    let pki = Arc::new(wasmbed_pki::Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).unwrap());
    let firmware = BTreeMap::from([(BOARD.to_string(), common::firmware())]);
    // No gateway listens: the firmware keeps dialling, which is all this needs.
    let m = QemuManager::new(ManagerConfig::new(tmp.path().join("devices"), firmware, 9), store.clone(), pki);
    store.create_device(device("q-temp", BOARD, vec![temp0(Some(21.5))], false)).await.unwrap();
    store.create_device(device("q-bare", BOARD, vec![], true)).await.unwrap();
    store.create_device(device("q-off", BOARD, vec![temp0(None)], true)).await.unwrap();
    store.create_device(device("s-temp", "sim", vec![temp0(None)], false)).await.unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let run = tokio::spawn(m.clone().run(stop_rx));
    let pid = started(&m, "q-temp", 1).await;

    // The initial value was in place before the firmware's first instruction.
    assert_eq!(m.get("q-temp", "temp0").await, Ok(21.5));
    assert_eq!(m.set("q-temp", "temp0", 31.5).await, Ok(31.5));
    // QEMU itself says so (milli-degrees), to any QMP client.
    let mut q = Qmp::connect(&m.qmp_socket("q-temp"), Duration::from_secs(2)).await.unwrap();
    assert_eq!(q.qom_get("/machine/peripheral/temp0", "temperature").await.unwrap(), 31_500);
    drop(q);
    // QEMU keeps 1/256 °C: the value comes back as the emulator has it.
    assert_eq!(m.set("q-temp", "temp0", 20.938).await, Ok(20.937));
    assert_eq!(m.set("q-temp", "temp0", 31.5).await, Ok(31.5));

    // The LED register, read from outside the firmware: two LEDs, nothing else.
    let leds = m.read_word("q-temp", 0x4002_8000).await.unwrap();
    assert_eq!(leds & !0b11, 0, "{leds:#x}");

    // Bad input: each a clear error, and the sensor is untouched.
    let e = m.set("q-temp", "temp9", 30.0).await.unwrap_err();
    assert_eq!(
        e,
        SensorError::NoSuchSensor { device: "q-temp".into(), sensor: "temp9".into(), attached: vec!["temp0".into()] }
    );
    assert_eq!(e.to_string(), "device q-temp has no sensor \"temp9\"; attached: temp0");
    let e = m.set("q-bare", "temp0", 30.0).await.unwrap_err();
    assert_eq!(e.to_string(), "device q-bare has no sensor \"temp0\"; it has no sensors attached");
    let e = m.set("q-temp", "temp0", 150.0).await.unwrap_err();
    assert!(matches!(e, SensorError::OutOfRange { .. }) && e.to_string().contains("-55 to 125 °C"), "{e}");
    let e = m.set("q-temp", "temp0", f64::NAN).await.unwrap_err();
    assert!(matches!(e, SensorError::OutOfRange { .. }), "{e}");
    let e = m.set("q-off", "temp0", 30.0).await.unwrap_err();
    assert!(matches!(e, SensorError::NotRunning { .. }) && e.to_string().contains("disconnected"), "{e}");
    let e = m.set("s-temp", "temp0", 30.0).await.unwrap_err();
    assert!(matches!(e, SensorError::NoEmulator { .. }), "{e}");
    assert_eq!(m.get("nobody", "temp0").await, Err(SensorError::NoSuchDevice { device: "nobody".into() }));
    assert_eq!(m.get("q-temp", "temp0").await, Ok(31.5));

    // QEMU dies and is started again; the world outside the board does
    // not: the restarted device reads what was set, not the initial value.
    let killed = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    started(&m, "q-temp", 2).await;
    assert_eq!(m.get("q-temp", "temp0").await, Ok(31.5));

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), run).await.unwrap().unwrap();
}
