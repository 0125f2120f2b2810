//! The `verify` benchmark image for mps2-an385 (run by `cargo xtask bench
//! verify` under `-icount shift=0`).
//!
//! The host loads, length-prefixed at 0x2101_0000, the app-signing public
//! key (SEC1) and then a `DeployBegin` frame body carrying a signed
//! manifest. The image checks that deploy the way the agent does on every
//! device (`DeployTrust::check`: the ECDSA P-256 signature over the
//! manifest, then every field against the deploy) and prints one
//! `verify:` line of cycles, with a calibration loop of known length.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;

use wasmbed_agent::{DeployTrust, TrustedKey};
use wasmbed_boards::MPS2_AN385;
use wasmbed_fw_device::host_region;
use wasmbed_fw_drivers::systick;
use wasmbed_protocol::{GatewayMsg, decode_gateway_msg};

/// Where the host loads its inputs.
const INPUT: usize = 0x2101_0000;
/// Iterations of the 2-instruction calibration loop.
const CALIBRATION_LOOPS: u32 = 1_000_000;

/// The length-prefixed piece at `at`, and where the next one starts.
fn piece(at: usize) -> Option<(&'static [u8], usize)> {
    let len = u32::from_le_bytes(host_region(at, 4).try_into().ok()?) as usize;
    (len <= 16 * 1024).then(|| (&host_region(at, len + 4)[4..], at + 4 + len))
}

wasmbed_fw_device::bench_main!(MPS2_AN385, "verify", bench);

fn bench() -> Result<String, String> {
    let (key, next) = piece(INPUT).ok_or("no key loaded")?;
    let (frame, _) = piece(next).ok_or("no deploy loaded")?;
    let GatewayMsg::DeployBegin(begin) = decode_gateway_msg(frame).map_err(|e| format!("{e}"))? else {
        return Err("the second piece is not a DeployBegin".into());
    };
    let key = TrustedKey::from_sec1(key).map_err(|e| format!("{e}"))?;
    let manifest_bytes = begin.manifest.as_ref().map_or(0, |m| m.body.len() + m.key_id.len() + m.signature.len());

    let t = systick::cycles();
    // SAFETY: a register-only countdown loop; touches no memory.
    unsafe {
        core::arch::asm!("2:", "subs {0}, {0}, #1", "bne 2b", inout(reg) CALIBRATION_LOOPS => _, options(nomem, nostack));
    }
    let calibration_cycles = systick::cycles() - t;

    // A fresh trust each time, as a device that has accepted nothing yet.
    let mut trust = DeployTrust::pinned(key.clone());
    let t = systick::cycles();
    let verdict = trust.check(&begin);
    let verify_cycles = systick::cycles() - t;
    verdict.map_err(|(code, why)| format!("{}: {why}", code.as_str()))?;

    // And a tampered copy must be refused (else the figure means nothing).
    let mut tampered = begin.clone();
    tampered.version.push('x');
    if DeployTrust::pinned(key).check(&tampered).is_ok() {
        return Err("a tampered deploy was accepted".into());
    }
    Ok(format!(
        "calibration_insns={} calibration_cycles={calibration_cycles} verify_cycles={verify_cycles} manifest_bytes={manifest_bytes} ok=1",
        2 * CALIBRATION_LOOPS
    ))
}

wasmbed_fw_device::exception_handlers!();
