//! Test image: native app artifacts run by the shared firmware's loader,
//! one after another, with the SysTick handler every image has (it stops
//! runaway code at the deadline). The host loads at [`ARTIFACTS`] a count
//! (u32 LE) and that many length-prefixed artifacts. For each, the image
//! instantiates it, calls `init` and `tick`, and prints one line:
//! `native check: <n> ok <logs>` or `native check: <n> failed <reason>`.
//! Then it runs the first again and prints the heap in use before and
//! after everything, so a test sees that nothing an artifact did (a trap,
//! a write past its memory, a loop without end) touched the firmware.
//!
//! Then, when the host loaded a session at [`SESSION`] (the app-signing
//! key's SEC1 bytes, then the gateway's frames, each length-prefixed), it
//! runs the real agent over it as devices do (key pinned, this board's
//! loader and peripherals): frames in, then a few seconds of polls, printing every message
//! the device sends as `native agent: <message>`.
//! Not a production image.
#![no_std]
#![no_main]

extern crate alloc;

use core::fmt::Write;

use cortex_m_rt::entry;
use wasmbed_agent::AppRuntime;
use wasmbed_fw_device::{HEAP, console, host_region};
use wasmbed_protocol::AppLimits;

/// Where the host loads the artifacts (PSRAM, outside the link).
const ARTIFACTS: usize = 0x2101_0000;
/// The most the host may load there.
const MAX_BYTES: usize = 512 * 1024;
/// Where the host loads a session for the agent (see the crate's docs).
const SESSION: usize = 0x2109_0000;
/// The per-call deadline runaway code is stopped at.
const DEADLINE_MS: u32 = 50;

fn artifacts() -> alloc::vec::Vec<&'static [u8]> {
    let word = |at: usize| u32::from_le_bytes(host_region(at, 4).try_into().unwrap_or([0; 4])) as usize;
    let mut out = alloc::vec::Vec::new();
    let mut at = ARTIFACTS + 4;
    for _ in 0..word(ARTIFACTS).min(64) {
        let len = word(at);
        if at + 4 + len > ARTIFACTS + MAX_BYTES {
            break;
        }
        out.push(host_region(at + 4, len));
        at += 4 + len;
    }
    out
}

fn run(n: usize, artifact: &[u8]) {
    let limits = AppLimits { fuel_per_call: u64::MAX / 2, max_memory_pages: 2, tick_ms: 1000 };
    let mut runtime = AppRuntime::default().with_call_deadline(DEADLINE_MS);
    let mut loader = wasmbed_fw_native::Loader::new(wasmbed_boards::MPS2_AN385.name);
    let result =
        runtime.instantiate_native(&mut loader, artifact, limits, wasmbed_agent::DEFAULT_GRANTS).and_then(|mut app| {
            app.init()?;
            app.tick(1)
        });
    let _ = match result {
        Ok(logs) => writeln!(console(), "native check: {n} ok {logs:?}"),
        Err(why) => writeln!(console(), "native check: {n} failed {why}"),
    };
}

/// The pieces of the session at [`SESSION`]: key, then frames.
fn session() -> Option<(&'static [u8], &'static [u8])> {
    let word = |at: usize| u32::from_le_bytes(host_region(at, 4).try_into().unwrap_or([0; 4])) as usize;
    let key_len = word(SESSION);
    if key_len == 0 || key_len > 128 {
        return None;
    }
    let frames_at = SESSION + 4 + key_len;
    let frames_len = word(frames_at);
    (frames_len <= MAX_BYTES).then(|| (host_region(SESSION + 4, key_len), host_region(frames_at + 4, frames_len)))
}

fn print_outgoing(agent: &mut wasmbed_agent::Agent) {
    let out = agent.take_outgoing();
    let mut reader = wasmbed_protocol::FrameReader::new(wasmbed_protocol::MAX_FRAME_LEN);
    if reader.push(&out).is_err() {
        let _ = writeln!(console(), "native agent: outgoing frames do not decode");
        return;
    }
    while let Ok(Some(frame)) = reader.next_frame() {
        match wasmbed_protocol::decode_device_msg(&frame) {
            Ok(msg) => {
                let _ = writeln!(console(), "native agent: {msg:?}");
            }
            Err(e) => {
                let _ = writeln!(console(), "native agent: undecodable message: {e:?}");
            }
        }
    }
}

/// The real agent over the host's frames, with this board's loader.
fn agent_session() {
    let Some((key, frames)) = session() else { return };
    let trust = match wasmbed_agent::TrustedKey::from_sec1(key) {
        Ok(k) => wasmbed_agent::DeployTrust::pinned(k),
        Err(e) => {
            let _ = writeln!(console(), "native agent: bad key: {e}");
            return;
        }
    };
    let board = &wasmbed_boards::MPS2_AN385;
    let mut config = wasmbed_agent::AgentConfig::new("native-check", board.name).with_heap_size(256 * 1024);
    if let Some(budget) = board.module_budget() {
        config = config.with_budget(budget);
    }
    // SAFETY: the only taker of the app peripherals in this image (the
    // artifact runs above reach none).
    let hw = unsafe { wasmbed_fw_device::peripherals::BoardPeripherals::take(board) };
    let mut agent = wasmbed_agent::Agent::new(config)
        .with_native_loader(alloc::boxed::Box::new(wasmbed_fw_native::Loader::new(board.name)))
        .with_peripherals(alloc::boxed::Box::new(hw))
        .with_trust(trust);
    agent.connected(0);
    let _ = agent.take_outgoing();
    if let Err(e) = agent.receive(frames, 1) {
        let _ = writeln!(console(), "native agent: frames refused: {e:?}");
    }
    print_outgoing(&mut agent);
    // Ticks, a second apart in the agent's time.
    for s in 1..=3u64 {
        agent.poll(s * 1000 + 1, u32::try_from(HEAP.inner().free()).unwrap_or(u32::MAX));
        print_outgoing(&mut agent);
    }
    let _ = writeln!(console(), "native agent: done");
}

#[entry]
fn main() -> ! {
    static mut HEAP_MEM: [core::mem::MaybeUninit<u8>; 256 * 1024] = [core::mem::MaybeUninit::uninit(); 256 * 1024];
    wasmbed_fw_device::init(&wasmbed_boards::MPS2_AN385, HEAP_MEM);
    let list = artifacts();
    let before = HEAP.used();
    for (n, a) in list.iter().enumerate() {
        run(n, a);
    }
    if let Some(first) = list.first() {
        run(0, first);
    }
    let after = HEAP.used();
    let _ = writeln!(console(), "native check: heap before {before} after {after}");
    let _ = writeln!(console(), "native check: done");
    agent_session();
    loop {
        cortex_m::asm::wfi();
    }
}

wasmbed_fw_device::exception_handlers!();
