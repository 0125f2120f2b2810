//! Our drivers against the peripherals QEMU emulates, below the agent: a
//! test image per board (`firmware/checks/wasmbed-check-peripherals-*`)
//! drives the board's app peripherals through the firmware's own
//! `BoardPeripherals` — a TMP105 on I2C bus 0 (its address acknowledged,
//! an empty one not, a register written and read back), an SPI NOR flash
//! answering its ID on SPI bus 0, the LED register read behind the
//! driver's back, ADC conversions, the app UARTs, and `unsupported` for
//! what the board lacks — and exits QEMU through semihosting with the
//! verdict: 0 when every check passed.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmbed_qemu::{ProcessGroup, machine};

/// Runs the check image of `board` with `devices` attached; returns its console.
fn run_checks(board: &str, devices: &[&str]) -> String {
    let name = format!("wasmbed-check-peripherals-{board}");
    let b = machine(board).unwrap();
    let image = wasmbed_qemu::image_from_source(&format!("checks/{name}"), &name, b.target).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let console = dir.path().join("console.log");
    let mut cmd = Command::new("qemu-system-arm");
    cmd.args(["-M", b.qemu.machine, "-display", "none", "-monitor", "none", "-nodefaults", "-no-reboot"])
        .args(b.qemu.args)
        .args(["-semihosting-config", "enable=on,target=native"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()));
    for d in devices {
        cmd.args(["-device", d]);
    }
    cmd.arg("-kernel").arg(&image).stdout(Stdio::null()).stderr(Stdio::null());
    let mut qemu = ProcessGroup::spawn(&mut cmd).unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = qemu.child_mut().try_wait().unwrap() {
            break st;
        }
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        assert!(start.elapsed() < Duration::from_secs(120), "{name} did not finish:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&console).unwrap();
    assert!(status.success(), "{name}: {status}\n{text}");
    assert!(!text.contains("FAIL:") && text.contains("ok:"), "{name}:\n{text}");
    text
}

const MPS2_DEVICES: &[&str] = &["tmp105,bus=i2c,address=0x48", "n25q128,bus=ssi"];

#[test]
fn mps2_an385_drivers_reach_the_tmp105_the_flash_and_the_leds() {
    let text = run_checks("mps2-an385", MPS2_DEVICES);
    assert!(text.lines().filter(|l| l.starts_with("ok:")).count() >= 10, "{text}");
}

#[test]
fn mps2_an505_drivers_work_through_its_secure_aliases() {
    run_checks("mps2-an505", MPS2_DEVICES);
}

#[test]
fn olimex_drivers_reach_the_adc_spi_and_usart3() {
    run_checks("olimex-stm32-h405", &[]);
}
