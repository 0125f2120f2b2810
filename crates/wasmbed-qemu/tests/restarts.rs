//! A Device whose spec changes in quick succession (each change restarts
//! its QEMU) ends with exactly one QEMU running and reported Running: the
//! supervisor that replaces another waits for it, so two never write the
//! same bundle, seed or status at once. (Before, a replaced supervisor
//! still starting could make its successor fail to write the boot seed and
//! end silently, leaving a device nobody ran until its spec changed again.)

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use wasmbed_model::{
    AttachedPeripheral, Attempt, Device, DeviceSpec, Meta, ProcessState, SensorKind, Store, StoreError,
    retry_on_conflict,
};
use wasmbed_qemu::manager::{ManagerConfig, QemuManager};

mod common;

const BOARD: &str = "mps2-an385";

fn sensor(n: usize) -> AttachedPeripheral {
    AttachedPeripheral { name: format!("temp{n}"), kind: SensorKind::Tmp105, at: "i2c:0:0x48".into(), initial: None }
}

/// The qemu-system-arm processes whose command line names `dir`, with
/// whether that command line attaches sensor `last`.
fn qemus_in(dir: &std::path::Path, last: &str) -> Vec<(u32, bool)> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd);
            (cmd.starts_with("qemu-system-arm") && cmd.contains(&needle))
                .then(|| (pid, cmd.contains(&format!("id={last}\0"))))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_restarted_in_quick_succession_ends_with_one_running_qemu() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("s.redb")).unwrap();
    let pki = Arc::new(wasmbed_pki::Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).unwrap());
    let firmware = BTreeMap::from([(BOARD.to_string(), common::firmware())]);
    // No gateway listens: the firmware keeps dialling, which is all this needs.
    let m = QemuManager::new(ManagerConfig::new(tmp.path().join("devices"), firmware, 9), store.clone(), pki);
    let spec = DeviceSpec { board: BOARD.into(), ..Default::default() };
    store.create_device(Device { meta: Meta::named("q-churn"), spec, status: Default::default() }).await.unwrap();
    let (stop, stop_rx) = watch::channel(false);
    let run = tokio::spawn(m.clone().run(stop_rx));

    // Each new set of peripherals restarts the device; a few milliseconds
    // apart, so supervisors are replaced while they provision, write the
    // seed or start QEMU.
    for n in 0..24 {
        retry_on_conflict(|| {
            let store = store.clone();
            async move {
                let mut d = store.get_device("q-churn").await?.unwrap();
                d.spec.peripherals = vec![sensor(n)];
                Ok::<_, Attempt<StoreError>>(store.update_device_spec(&d).await?)
            }
        })
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis((n as u64 * 7) % 23)).await;
    }

    // Settled: one QEMU, started for the last spec, which the manager
    // supervises and the store reports Running.
    let dir = m.device_dir("q-churn");
    let settled = async || {
        let running = m.running().into_iter().find(|r| r.device == "q-churn");
        let status = store.get_device("q-churn").await.unwrap().unwrap().status.process;
        let qemus = qemus_in(&dir, "temp23");
        match running.as_ref().and_then(|r| r.pid) {
            Some(pid)
                if status.as_ref().is_some_and(|p| p.state == ProcessState::Running) && qemus == [(pid, true)] =>
            {
                Ok(pid)
            }
            _ => Err(format!("supervisor {running:?}, status {status:?}, processes (pid, last spec) {qemus:?}")),
        }
    };
    let t0 = Instant::now();
    let pid = loop {
        match settled().await {
            Ok(pid) => break pid,
            Err(e) => assert!(t0.elapsed() < Duration::from_secs(60), "never one running QEMU: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // And it stays so (no late "stopped" from a replaced supervisor).
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(settled().await, Ok(pid));
    let console = std::fs::read_to_string(dir.join("console.log")).unwrap_or_default();
    assert!(console.contains("wasmbed firmware"), "{console}");

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), run).await.unwrap().unwrap();
    assert!(qemus_in(&dir, "temp23").is_empty());
}
