//! The real mps2-an385 firmware in QEMU: it refuses to go on without an
//! identity bundle or a per-boot seed, and says why on its console.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use wasmbed_qemu::{Launch, ProcessGroup, machine, write_boot_seed};

mod common;
use common::firmware;
use wasmbed_model::clock::unix_ms;

/// Boots the firmware and returns its console once the line holding `until`
/// is complete (the UART writes byte by byte: a reason may still be on its way).
fn boot(dir: &Path, bundle: Option<PathBuf>, seed: Option<PathBuf>, until: &str) -> String {
    boot_net(dir, bundle, seed, None, &[], until)
}

/// `boot` with a network: `mac`, and the host ports the device may reach.
fn boot_net(
    dir: &Path,
    bundle: Option<PathBuf>,
    seed: Option<PathBuf>,
    mac: Option<String>,
    gateway_ports: &[u16],
    until: &str,
) -> String {
    let console = dir.join(format!("console-{}.log", until.len()));
    let launch = Launch {
        board: machine("mps2-an385").unwrap(),
        kernel: firmware(),
        bundle,
        seed,
        console: console.clone(),
        mac,
        gateway_ports: gateway_ports.to_vec(),
        peripherals: Vec::new(),
        qmp: None,
        paused: false,
        app_uarts: None,
    };
    let mut cmd = launch.command();
    let _q = ProcessGroup::spawn(cmd.stdout(Stdio::null()))
        .expect("qemu-system-arm must be installed: run `cargo xtask qemu`");
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.find(until).is_some_and(|at| text[at..].contains('\n')) {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "console never said {until:?}; it said:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn bundle_file(dir: &Path) -> PathBuf {
    bundle_for(dir, "10.0.2.2:4443")
}

fn bundle_for(dir: &Path, gateway: &str) -> PathBuf {
    let pki = wasmbed_pki::Pki::open_or_create(&dir.join("pki"), SystemTime::now()).unwrap();
    let b = pki.bundle("fw-1", "mps2-an385", &[gateway], [5; 32], SystemTime::now()).unwrap();
    let path = dir.join("bundle.bin");
    std::fs::write(&path, b.to_bytes()).unwrap();
    path
}

#[test]
fn without_a_bundle_the_firmware_refuses_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.bin");
    write_boot_seed(&seed, [1; 32], unix_ms()).unwrap();
    let text = boot(dir.path(), None, Some(seed), "refusing to connect");
    assert!(text.contains("wasmbed firmware") && text.contains("no identity bundle"), "{text}");
}

#[test]
fn without_a_host_time_the_firmware_refuses_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_file(dir.path());
    let seed = dir.path().join("seed.bin");
    write_boot_seed(&seed, [4; 32], 0).unwrap();
    let text = boot(dir.path(), Some(bundle), Some(seed), "refusing to connect");
    assert!(text.contains("no real time"), "{text}");
}

#[test]
fn without_a_boot_seed_the_firmware_refuses_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_file(dir.path());
    let text = boot(dir.path(), Some(bundle), None, "refusing to connect");
    assert!(text.contains("no per-boot entropy seed"), "{text}");
}

#[test]
fn with_bundle_and_seed_the_firmware_reads_its_identity() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle_file(dir.path());
    let seed = dir.path().join("seed.bin");
    write_boot_seed(&seed, [2; 32], unix_ms()).unwrap();
    let text = boot(dir.path(), Some(bundle), Some(seed), "network: LAN9118");
    assert!(text.contains("identity: device fw-1 (board mps2-an385), gateway 10.0.2.2:4443"), "{text}");
    assert!(text.contains("CSPRNG seeded"), "{text}");
    assert!(!text.contains("panic"), "{text}");
}

/// Our LAN9118 driver and smoltcp, through QEMU user networking, reach a
/// listener on the host's loopback as 10.0.2.2: a real TCP connection.
#[test]
fn the_firmware_reaches_the_gateway_over_ethernet() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let bundle = bundle_for(dir.path(), &format!("10.0.2.2:{port}"));
    let seed = dir.path().join("seed.bin");
    write_boot_seed(&seed, [3; 32], unix_ms()).unwrap();
    let accepted = std::thread::spawn(move || listener.accept().map(|(_, peer)| peer));
    let mac = wasmbed_qemu::mac_for("fw-1");
    let text = boot_net(dir.path(), Some(bundle), Some(seed), Some(mac.clone()), &[port], "tcp: connected");
    assert!(text.contains(&format!("LAN9118 MAC {mac}")), "the driver reads the MAC QEMU was given: {text}");
    let peer = accepted.join().unwrap().unwrap();
    assert!(peer.ip().is_loopback(), "{peer}");
}

/// QEMU running the fault-injection image with `mode` (`P` panic, `H` hard
/// fault) loaded where it reads it, its console to `console`.
fn fault_check(console: &Path, mode: u8) -> std::process::Command {
    let image = wasmbed_qemu::image_from_source(
        "checks/wasmbed-check-fault-mps2-an385",
        "wasmbed-check-fault-mps2-an385",
        "thumbv7m-none-eabi",
    )
    .unwrap();
    let launch = common::alone(image, console);
    let mut cmd = launch.command();
    cmd.arg("-device").arg(format!("loader,data={mode:#x},data-len=1,addr=0x21008000"));
    cmd
}

/// The shared firmware's fault handlers, triggered on purpose by a test
/// image: a panic and a hard fault each print their reason on the console
/// and reset the device (the manager lets QEMU reset in place; here
/// `-no-reboot` makes the reset an exit the test can wait for). The image defines no handler of its own: its
/// HardFault comes from `exception_handlers!`, the macro `board_main!`
/// expands in every board image, and the panic handler from the firmware
/// crate they all link.
#[test]
fn a_panic_or_a_hard_fault_prints_why_and_resets() {
    for (mode, want) in [(b'P', "panic: panicked at"), (b'H', "fault: hard fault at pc 0x")] {
        let dir = tempfile::tempdir().unwrap();
        let console = dir.path().join("console.log");
        let mut cmd = fault_check(&console, mode);
        cmd.arg("-no-reboot");
        let mut qemu = ProcessGroup::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(st) = qemu.child_mut().try_wait().unwrap() {
                break st;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "no reset after injecting {}", char::from(mode));
            std::thread::sleep(Duration::from_millis(50));
        };
        let text = std::fs::read_to_string(&console).unwrap();
        assert!(status.success(), "{status}: {text}");
        assert!(text.contains(want) && text.contains("; resetting"), "{text}");
    }
}

/// A firmware that crashes before it serves does not reset for ever: QEMU
/// resets it in place (as the manager runs devices, without `-no-reboot`),
/// the crash count survives in RAM, and the third crash in a row halts the
/// image with the reason on the console, while QEMU keeps running.
#[test]
fn crashing_before_serving_three_times_in_a_row_halts_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console.log");
    let mut cmd = fault_check(&console, b'P');
    let mut qemu = ProcessGroup::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
    let start = Instant::now();
    let text = loop {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.contains("halted instead of resetting again") && text.ends_with('\n') {
            break text;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never halted:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(text.matches("panic: panicked at").count(), 3, "{text}");
    assert!(text.contains("crashed 3 times in a row before serving (last: Panic)"), "{text}");
    // Halted, not reset: nothing more is printed, and QEMU is still there.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(std::fs::read_to_string(&console).unwrap(), text);
    assert!(qemu.child_mut().try_wait().unwrap().is_none(), "QEMU still runs the halted board");
}
