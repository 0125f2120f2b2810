//! The device Pod's entrypoint on the host: the real `wasmbed-device-pod`
//! binary runs our mps2-an385 firmware in QEMU and relays its link through
//! its loopback forwarder to a real gateway, which sees the device enroll
//! over mutual TLS. Only Kubernetes is missing: inside a Pod, 10.0.2.2 is
//! the Pod's loopback exactly as it is the host's here.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use wasmbed_model::{Device, DeviceSpec, Meta};
use wasmbed_platform::{Platform, PlatformConfig};

const BOARD: &str = "mps2-an385";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entrypoint_boots_the_firmware_and_relays_it_to_the_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PlatformConfig::new(&tmp.path().join("platform")).with_heartbeat_ms(1000).quick();
    let p = Platform::start(cfg).await.unwrap();
    // Recorded as the controller records what it issues into the Secret.
    let now = SystemTime::now();
    let identity = Some(p.pki.reissue_device("pod-1", now).unwrap().record(now).unwrap());
    let spec = DeviceSpec { board: BOARD.into(), identity, ..DeviceSpec::default() };
    p.store.create_device(Device { meta: Meta::named("pod-1"), spec, status: Default::default() }).await.unwrap();

    // The Pod's link port: free on this host's loopback.
    let link = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let bundle = p.pki.bundle("pod-1", BOARD, &[format!("10.0.2.2:{link}")], [9; 32], SystemTime::now()).unwrap();
    let identity = tmp.path().join("identity");
    std::fs::create_dir_all(&identity).unwrap();
    std::fs::write(identity.join("bundle.bin"), bundle.to_bytes()).unwrap();
    let firmware = tmp.path().join("firmware");
    std::fs::create_dir_all(&firmware).unwrap();
    let elf = wasmbed_qemu::firmware_from_source(BOARD).unwrap();
    std::fs::copy(&elf, firmware.join(format!("wasmbed-fw-{BOARD}"))).unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let stdout = tmp.path().join("stdout.log");

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasmbed-device-pod"));
    cmd.args(["--device", "pod-1", "--board", BOARD])
        .arg("--gateway")
        .arg(format!("127.0.0.1:{}", p.gateway_port()))
        .arg("--link-port")
        .arg(link.to_string())
        .arg("--bundle")
        .arg(identity.join("bundle.bin"))
        .arg("--firmware-dir")
        .arg(&firmware)
        .arg("--work-dir")
        .arg(&work)
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(Stdio::null());
    // Its own process group: QEMU goes with it when the test ends.
    let pod = wasmbed_qemu::ProcessGroup::spawn(&mut cmd).unwrap();

    let start = Instant::now();
    loop {
        let d = p.store.get_device("pod-1").await.unwrap().unwrap();
        if d.status.session.connected {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "the device never enrolled; status {:?}\nits container log:\n{}",
            d.status,
            std::fs::read_to_string(&stdout).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let seed = std::fs::read(work.join("seed.bin")).unwrap();
    assert_eq!(&seed[..4], b"WBSD", "a fresh boot seed was written");
    // The serial console reaches the container log (`kubectl logs`).
    let start = Instant::now();
    while std::fs::read_to_string(&stdout).unwrap_or_default().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5), "no console on stdout");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(pod);
    p.shutdown().await;
}
