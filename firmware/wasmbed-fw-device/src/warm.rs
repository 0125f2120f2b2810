//! What survives a warm reset, and the watchdog that makes one.
//!
//! The block ([`wasmbed_fw_runtime::persist::Block`]) and the cause word
//! live in `.uninit`: cortex-m-rt's startup zeroes `.bss` and copies
//! `.data`, never this, and QEMU's in-place reset reloads the image's
//! loadable bytes only (measured: see the QEMU test of a watchdog reset in
//! `crates/wasmbed-platform/tests/qemu_devices.rs`). The agent's crash
//! journal is kept in it ([`WarmJournal`]).
//!
//! The watchdog is armed once the device serves and fed from the main loop
//! (each turn of the session loop and every idle wait), never from inside
//! an app call: an app that keeps the loop from turning is reset, and its
//! journal record names it. Its first timeout raises the NMI, which
//! records [`Cause::Watchdog`]; the second resets the board.

use alloc::vec::Vec;
use core::fmt::Write;
use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use wasmbed_agent::{JOURNAL_LEN, Journal, ResetCause};
use wasmbed_boards::Watchdog;
use wasmbed_fw_drivers::cmsdk_watchdog::Watchdog as Cmsdk;
use wasmbed_fw_runtime::persist::{Block, Boot, Cause, JOURNAL_CAP};

use crate::{console, now_ms, to_usize};

const _: () = assert!(JOURNAL_LEN <= JOURNAL_CAP, "the agent's journal does not fit the block");

/// Feeding more often than this buys nothing and costs a checksum.
const FEED_EVERY_MS: u32 = 100;

#[unsafe(link_section = ".uninit.wasmbed.block")]
static mut BLOCK: MaybeUninit<Block> = MaybeUninit::uninit();
#[unsafe(link_section = ".uninit.wasmbed.cause")]
static mut CAUSE: MaybeUninit<u32> = MaybeUninit::uninit();

/// The armed watchdog's base address (0: none).
static WATCHDOG: AtomicU32 = AtomicU32::new(0);
static WARNING_MS: AtomicU32 = AtomicU32::new(0);
/// Uptime of the last feed, ms, wrapping (no 64-bit atomics on Armv7-M).
static LAST_FEED: AtomicU32 = AtomicU32::new(0);
/// Why the last boot ended, as [`boot`] found it.
static LAST_CAUSE: AtomicU32 = AtomicU32::new(0);

fn block() -> &'static mut Block {
    // SAFETY: every bit pattern is a valid Block (integers and bytes only);
    // its magic and checksum decide whether the contents mean anything.
    // Only the main code takes it (handlers touch the cause word alone), one
    // short call at a time, and no caller keeps the reference.
    unsafe { &mut *addr_of_mut!(BLOCK).cast::<Block>() }
}

/// Records why the board is about to reset (handlers call this).
pub fn set_cause(cause: Cause) {
    // SAFETY: one aligned word of our own; a single store, so a handler
    // interrupting another store leaves one of the two values.
    unsafe { write_volatile(addr_of_mut!(CAUSE).cast::<u32>(), cause.word()) }
}

/// Boots in a row that may panic or fault before serving; the next one
/// halts instead (see [`boot`]).
pub const EARLY_CRASH_LIMIT: u32 = 3;

/// Once per boot, first: what the last boot left (see [`Block::boot`]).
///
/// A firmware that panics or faults before it serves (nothing an app did:
/// the crash journal handles those) would reset in place for ever, as QEMU
/// and real boards do; after [`EARLY_CRASH_LIMIT`] such boots in a row it
/// halts here instead, saying why, until it is restarted (the platform
/// restarts a QEMU device whose process ends; a board, by its reset button
/// or power).
pub fn boot() -> Boot {
    // SAFETY: as in `set_cause`; any word is a valid u32.
    let cause = unsafe { read_volatile(addr_of_mut!(CAUSE).cast::<u32>()) };
    set_cause(Cause::Unknown);
    let found = block().boot(cause);
    LAST_CAUSE.store(found.cause.word(), Relaxed);
    if found.early_crashes >= EARLY_CRASH_LIMIT {
        let _ = writeln!(
            console(),
            "boot: the firmware crashed {} times in a row before serving (last: {:?}); halted instead of \
             resetting again",
            found.early_crashes,
            found.cause
        );
        loop {
            cortex_m::asm::wfi();
        }
    }
    found
}

/// Why the last boot ended, for the agent's journal.
pub fn last_cause() -> ResetCause {
    match Cause::from_word(LAST_CAUSE.load(Relaxed)) {
        Cause::Unknown => ResetCause::Unknown,
        Cause::Watchdog => ResetCause::Watchdog,
        Cause::Panic => ResetCause::Panic,
        Cause::Fault => ResetCause::Fault,
    }
}

/// The agent's crash journal, in the block.
#[derive(Debug)]
pub struct WarmJournal;

impl Journal for WarmJournal {
    fn load(&self) -> Vec<u8> {
        block().journal().to_vec()
    }

    fn save(&mut self, bytes: &[u8]) {
        // The agent never saves more than JOURNAL_LEN (checked above).
        let _ = block().set_journal(bytes);
    }
}

/// The device serves from now: arms the board's watchdog, if it has one.
pub fn arm(watchdog: Option<Watchdog>) {
    // Serving: a crash from here on is no early crash.
    block().mark_serving();
    let Some(w @ Watchdog::Cmsdk { base, clock_hz }) = watchdog else { return };
    // SAFETY: the board's watchdog, from the table; only this module drives it.
    let mut wd = unsafe { Cmsdk::new(to_usize(base)) };
    wd.start(Cmsdk::<wasmbed_fw_drivers::mmio::Mmio>::ticks(clock_hz, w.warning_ms()));
    WARNING_MS.store(w.warning_ms(), Relaxed);
    WATCHDOG.store(base, Relaxed);
    LAST_FEED.store(now_ms() as u32, Relaxed);
    let _ = writeln!(
        console(),
        "watchdog: armed at {base:#010x}; unfed for {} ms it warns, for twice that it resets",
        w.warning_ms()
    );
}

/// Feeds the watchdog and notes the uptime (at most every
/// [`FEED_EVERY_MS`]). Only from the main loop, never inside an app call.
pub fn feed() {
    let now = now_ms();
    if (now as u32).wrapping_sub(LAST_FEED.load(Relaxed)) < FEED_EVERY_MS {
        return;
    }
    LAST_FEED.store(now as u32, Relaxed);
    let base = WATCHDOG.load(Relaxed);
    if base != 0 {
        // SAFETY: the watchdog `arm` started; only this module drives it.
        unsafe { Cmsdk::new(to_usize(base)) }.feed();
        // A warning that a late call raised is void once the loop turns.
        set_cause(Cause::Unknown);
    }
    block().set_uptime(now);
}

/// The watchdog's first timeout (its interrupt is the NMI on MPS2): the
/// reset follows unless the main loop gets to feed it.
pub fn on_warning() {
    set_cause(Cause::Watchdog);
    let _ = writeln!(
        console(),
        "watchdog: not fed for {} ms (an app call does not return?); the board resets if it stays unfed",
        WARNING_MS.load(Relaxed)
    );
}
