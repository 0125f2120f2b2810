//! The native-code loader: the mechanism behind the agent's
//! [`NativeLoader`] (the agent binds imports and maps traps; see
//! `wasmbed_agent::NativeApp`).
//!
//! An artifact's image (`wasmbed-aot`) is linked at address 0. Loading
//! copies it into a heap block, zeroes the rest of its RAM, adds the block's
//! address to each relocated word and checks the header it then finds at
//! the start. Heap RAM is executable on these cores (the default map).
//! A call runs on the caller's stack with a limit [`NATIVE_STACK_BYTES`]
//! below where it starts: the code checks it at every function entry and
//! traps instead of running into the heap.
//!
//! Linear memory's bounds are the MPU's when the artifact says so
//! ([`NATIVE_BOUNDS_MPU`]): its code makes every access to that memory
//! unprivileged, the loader places the memory where MPU regions can cover
//! it exactly, and while a call runs those regions are the only ones
//! unprivileged accesses may reach ([`wasmbed_fw_drivers::mpu`]). An
//! access outside faults; if it faulted in the app's own code, the
//! memory-fault handler ([`on_memory_fault`]) sends that code to the
//! image's out-of-bounds path, which unwinds to the call as a trap, the
//! same way the deadline below stops it. Any other memory fault is the
//! firmware's own and resets as before.
//!
//! Runaway code is stopped at the call's deadline, at no cost per loop:
//! while a call runs, the SysTick handler counts its milliseconds down
//! ([`on_tick`]); past the deadline, if it interrupted the app's own code
//! (the image's `guest_start..guest_end`, never the runtime, the C
//! library or a host function, which may hold the heap), it rewrites the
//! stacked return address to the image's abort path, which unwinds to the
//! call like any trap. Otherwise it tries again at the next tick.
#![no_std]

extern crate alloc;

use alloc::alloc::{Layout, alloc_zeroed, dealloc};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use wasmbed_agent::{Entry, NativeHost, NativeInstance, NativeLoader, NativeTrap};
use wasmbed_fw_drivers::mmio::Mmio;
use wasmbed_fw_drivers::mpu::{self, Cover, MEMORY_REGIONS, MPU_BASE, Mpu, MpuRegs};
use wasmbed_protocol::{NATIVE_BOUNDS_MPU, NATIVE_EXPORTS_MEMORY, NATIVE_IO_WORDS, NATIVE_MAGIC, NativeArtifact};

/// Stack native code may use below the point it is called from, host
/// functions it calls included. The firmware's stack is far larger.
pub const NATIVE_STACK_BYTES: usize = 16 * 1024;

/// The artifact's header (`rt/wasmbed-host.h`), after relocation.
#[repr(C)]
struct Header {
    magic: u32,
    instance_size: u32,
    exports: u32,
    instantiate: unsafe extern "C" fn(*mut u8, *mut HostTable, usize) -> u32,
    call: unsafe extern "C" fn(*mut u8, u32, u64, usize) -> u32,
    memory: unsafe extern "C" fn(*mut u8) -> *mut RtMemory,
    release: unsafe extern "C" fn(*mut u8, *mut HostTable),
    abort: unsafe extern "C" fn(),
    guest_start: u32,
    guest_end: u32,
    out_of_bounds: unsafe extern "C" fn(),
}

/// The running call's watch (see the crate's docs): milliseconds left
/// plus one (0: no call is watched), and where its app code lies and its
/// abort path.
static TICKS_LEFT: AtomicU32 = AtomicU32::new(0);
static GUEST_START: AtomicU32 = AtomicU32::new(0);
static GUEST_END: AtomicU32 = AtomicU32::new(0);
static ABORT: AtomicU32 = AtomicU32::new(0);
/// While a call whose bounds are the MPU's runs: its out-of-bounds path
/// (0 otherwise).
static OUT_OF_BOUNDS: AtomicU32 = AtomicU32::new(0);

/// Configurable Fault Status Register; its low byte is MemManage's status
/// (write ones to clear).
const CFSR: usize = 0xE000_ED28;
const MMFSR_BITS: u32 = 0xFF;
/// System Handler Control and State Register: MemManage's enable bit.
const SHCSR: usize = 0xE000_ED24;
const MEMFAULTENA: u32 = 1 << 16;

/// xPSR's if-then and interrupted-multiple state: cleared when the
/// interrupted code is sent elsewhere (it belonged to where it was).
const XPSR_IT_ICI: u32 = 0x0600_FC00;

/// Call from the SysTick handler, every millisecond, with the stacked
/// exception frame (r0-r3, r12, lr, pc, xpsr) of what it interrupted.
///
/// # Safety
/// `frame` must point to the exception frame the handler will return to.
pub unsafe fn on_tick(frame: *mut u32) {
    let left = TICKS_LEFT.load(Relaxed);
    if left == 0 {
        return;
    }
    if left > 1 {
        TICKS_LEFT.store(left - 1, Relaxed);
        return;
    }
    // SAFETY: the caller's frame: word 6 is the return address, 7 xPSR.
    let pc = unsafe { frame.add(6).read_volatile() };
    if (GUEST_START.load(Relaxed)..GUEST_END.load(Relaxed)).contains(&pc) {
        // SAFETY: as above; the abort path is a Thumb function of the image.
        unsafe { send_to(frame, ABORT.load(Relaxed)) };
        TICKS_LEFT.store(0, Relaxed);
    }
}

/// Makes the exception return to `path`, a Thumb function of the image
/// entered with the interrupted stack, which it unwinds to the call.
///
/// # Safety
/// `frame` must point to the exception frame the handler will return to
/// (word 6 the return address, 7 xPSR), `path` to such a function.
unsafe fn send_to(frame: *mut u32, path: u32) {
    // SAFETY: as the caller promises.
    unsafe {
        frame.add(6).write_volatile(path & !1);
        let psr = frame.add(7).read_volatile();
        frame.add(7).write_volatile(psr & !XPSR_IT_ICI);
    }
}

/// Call from the MemManage handler with the stacked exception frame of
/// what faulted. True: it was the running native call's access outside its
/// linear memory, and the frame now returns to the image's out-of-bounds
/// path (a trap). False: the fault is not the app's; the caller handles it.
///
/// # Safety
/// `frame` must point to the exception frame the handler will return to.
pub unsafe fn on_memory_fault(frame: *mut u32) -> bool {
    let oob = OUT_OF_BOUNDS.load(Relaxed);
    if oob == 0 {
        return false;
    }
    // SAFETY: the caller's frame: word 6 is the return address, 7 xPSR.
    let pc = unsafe { frame.add(6).read_volatile() };
    if !(GUEST_START.load(Relaxed)..GUEST_END.load(Relaxed)).contains(&pc) {
        return false;
    }
    // SAFETY: as above; the out-of-bounds path is a Thumb function of the
    // image. CFSR is write-one-to-clear.
    unsafe {
        send_to(frame, oob);
        Mmio::new(CFSR).write(0, MMFSR_BITS);
    }
    true
}

/// The MPU of this core, to program.
fn mpu_regs(mpu: Mpu) -> MpuRegs<Mmio> {
    // SAFETY: the MPU's registers; only this crate programs them, and only
    // from thread code between calls or from a native call's host
    // callbacks (one thread: never at once).
    MpuRegs::new(unsafe { Mmio::new(MPU_BASE) }, mpu)
}

/// Turns on the MPU and its fault handler, once: from then on it confines
/// unprivileged accesses (there are none outside native calls).
fn enable_mpu(mpu: Mpu) -> Result<(), String> {
    static ENABLED: AtomicU32 = AtomicU32::new(0);
    if ENABLED.load(Relaxed) != 0 {
        return Ok(());
    }
    let mut regs = mpu_regs(mpu);
    let have = regs.regions();
    if (have as usize) < MEMORY_REGIONS {
        return Err(alloc::format!(
            "native code that leaves bounds to the MPU needs {MEMORY_REGIONS} MPU regions; this core has {have}"
        ));
    }
    regs.enable();
    // SAFETY: the System Control Block's SHCSR, read-modify-write of one
    // enable bit, from thread code.
    let shcsr = unsafe { Mmio::new(SHCSR) };
    shcsr.write(0, shcsr.read(0) | MEMFAULTENA);
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    ENABLED.store(1, Relaxed);
    Ok(())
}

/// wasm2c's memory as our runtime lays it out.
#[repr(C)]
struct RtMemory {
    data: *mut u8,
    pages: u32,
    max_pages: u32,
    size: u32,
}

/// What the code is handed (`struct Z_wasmbed_instance_t`), first in
/// [`Block`] so a pointer to one is a pointer to the other.
#[repr(C)]
struct HostTable {
    call: extern "C" fn(*mut HostTable, u32, *mut u64) -> u32,
    alloc: extern "C" fn(*mut HostTable, u32) -> *mut u8,
    grow: extern "C" fn(*mut HostTable, *mut u8, u32, u32) -> *mut u8,
    release: extern "C" fn(*mut HostTable, *mut u8, u32),
    memory: extern "C" fn(*mut HostTable, *mut u8, u32, u32) -> *mut u8,
    max_memory_pages: u32,
    max_table_elements: u32,
}

/// The app's linear memory block, and the MPU regions that cover it.
struct Linear {
    data: *mut u8,
    layout: Layout,
    cover: Option<Cover>,
}

#[repr(C)]
struct Block {
    table: HostTable,
    /// The agent's side, during a call only.
    host: Option<*mut (dyn NativeHost + 'static)>,
    instance: *mut u8,
    memory: unsafe extern "C" fn(*mut u8) -> *mut RtMemory,
    /// Heap the code holds (memory, tables).
    held: usize,
    /// The MPU that keeps linear memory's bounds (`None`: the code does).
    mpu: Option<Mpu>,
    linear: Option<Linear>,
}

impl Block {
    /// Sets the MPU to let the code's unprivileged accesses reach its
    /// linear memory (nothing, without one).
    fn map(&self) {
        if let Some(mpu) = self.mpu {
            let none = [None; MEMORY_REGIONS];
            let cover = self.linear.as_ref().and_then(|l| l.cover.as_ref()).unwrap_or(&none);
            mpu_regs(mpu).map(cover);
            cortex_m::asm::dsb();
            cortex_m::asm::isb();
        }
    }
}

fn layout(bytes: u32) -> Option<Layout> {
    Layout::from_size_align(bytes.max(1) as usize, 8).ok()
}

extern "C" fn host_alloc(t: *mut HostTable, bytes: u32) -> *mut u8 {
    // SAFETY: `t` is the table this crate handed the code, the first field
    // of a live Block (the code passes back what it was given).
    let block = unsafe { &mut *(t as *mut Block) };
    let Some(l) = layout(bytes) else { return core::ptr::null_mut() };
    // SAFETY: a non-zero size; null on failure is handled by the code.
    let p = unsafe { alloc_zeroed(l) };
    if !p.is_null() {
        block.held += l.size();
    }
    p
}

extern "C" fn host_release(t: *mut HostTable, p: *mut u8, bytes: u32) {
    // SAFETY: as in host_alloc.
    let block = unsafe { &mut *(t as *mut Block) };
    if p.is_null() {
        return;
    }
    let Some(l) = layout(bytes) else { return };
    block.held = block.held.saturating_sub(l.size());
    // SAFETY: `p` came from host_alloc/host_grow with this size (the
    // runtime passes back the size it asked for).
    unsafe { dealloc(p, l) }
}

extern "C" fn host_grow(t: *mut HostTable, old: *mut u8, old_bytes: u32, new_bytes: u32) -> *mut u8 {
    if new_bytes < old_bytes {
        return core::ptr::null_mut();
    }
    let p = host_alloc(t, new_bytes);
    if p.is_null() {
        return p;
    }
    if !old.is_null() {
        // SAFETY: `old` holds `old_bytes` (runtime bookkeeping), `p` at
        // least as many; distinct blocks.
        unsafe { core::ptr::copy_nonoverlapping(old, p, old_bytes as usize) };
        host_release(t, old, old_bytes);
    }
    p
}

/// A linear memory block of `bytes`, zeroed, placed so the MPU (if it
/// keeps the bounds) covers it: at the alignment one region needs, or
/// failing that (a small heap) at an eighth of it, in more regions.
fn new_linear(mpu: Option<Mpu>, bytes: u32) -> Option<Linear> {
    let Some(mpu) = mpu else {
        let layout = layout(bytes)?;
        // SAFETY: a non-zero size.
        let data = unsafe { alloc_zeroed(layout) };
        return (!data.is_null()).then_some(Linear { data, layout, cover: None });
    };
    let best = mpu::alignment(mpu, bytes);
    for align in [best, (best / 8).max(32)] {
        let Ok(layout) = Layout::from_size_align(bytes as usize, align) else { continue };
        // SAFETY: a non-zero size (a memory of 0 pages has no block).
        let data = unsafe { alloc_zeroed(layout) };
        if data.is_null() {
            continue;
        }
        match mpu::cover(mpu, data as u32, bytes) {
            Ok(cover) => return Some(Linear { data, layout, cover: Some(cover) }),
            // SAFETY: allocated just above with this layout.
            Err(_) => unsafe { dealloc(data, layout) },
        }
    }
    None
}

/// Resizes the linear memory (see `memory` in `rt/wasmbed-host.h`).
extern "C" fn host_memory(t: *mut HostTable, old: *mut u8, old_bytes: u32, new_bytes: u32) -> *mut u8 {
    // SAFETY: as in host_alloc.
    let block = unsafe { &mut *(t as *mut Block) };
    let (current, size) = block.linear.as_ref().map_or((core::ptr::null_mut(), 0), |l| (l.data, l.layout.size()));
    if old != current || old_bytes as usize > size || new_bytes != 0 && new_bytes < old_bytes {
        return core::ptr::null_mut();
    }
    let fresh = if new_bytes == 0 {
        None
    } else {
        let Some(fresh) = new_linear(block.mpu, new_bytes) else { return core::ptr::null_mut() };
        if let Some(l) = &block.linear {
            // SAFETY: the old block holds `old_bytes` (it is the current
            // linear memory, which the runtime sized), the new one more.
            unsafe { core::ptr::copy_nonoverlapping(l.data, fresh.data, old_bytes as usize) };
        }
        block.held += fresh.layout.size();
        Some(fresh)
    };
    let data = fresh.as_ref().map_or(core::ptr::null_mut(), |l| l.data);
    if let Some(l) = core::mem::replace(&mut block.linear, fresh) {
        block.held = block.held.saturating_sub(l.layout.size());
        // SAFETY: allocated by new_linear with this layout; the code moves
        // to the new block (or has freed its memory).
        unsafe { dealloc(l.data, l.layout) };
    }
    // A call is running (the code asked): its accesses go to the new block.
    block.map();
    data
}

extern "C" fn host_call(t: *mut HostTable, import: u32, io: *mut u64) -> u32 {
    // SAFETY: as in host_alloc.
    let block = unsafe { &mut *(t as *mut Block) };
    let Some(host) = block.host else { return 1 };
    // SAFETY: the glue passes its `uint64_t io[NATIVE_IO_WORDS]`, aligned
    // and live for the call.
    let io = unsafe { &mut *(io as *mut [u64; NATIVE_IO_WORDS]) };
    // SAFETY: `memory` is the artifact's own accessor for this instance;
    // the RtMemory it returns is the instance's, and its data holds `size`
    // bytes the code is not using while the host runs.
    let memory = unsafe {
        let m = (block.memory)(block.instance);
        match m.as_ref() {
            Some(m) if !m.data.is_null() => Some(core::slice::from_raw_parts_mut(m.data, m.size as usize)),
            Some(_) => Some(&mut [][..]),
            None => None,
        }
    };
    // SAFETY: set by `Loaded::run` from a live &mut for this call only.
    let host = unsafe { &mut *host };
    match host.call(import, memory, io) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

/// A loaded image and its instance.
struct Loaded {
    /// The image in RAM (8-byte aligned words).
    image: Vec<u64>,
    instance: Vec<u64>,
    block: Box<Block>,
    header: *const Header,
}

// SAFETY: a Loaded owns its image, instance and host table outright (the
// raw pointers point into its own blocks), and these cores run one thread:
// moving it to another owner moves all of it.
unsafe impl Send for Loaded {}

fn stack_pointer() -> usize {
    let sp: usize;
    // SAFETY: reads the stack pointer; no memory, no flags.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

impl Loaded {
    fn header(&self) -> &Header {
        // SAFETY: checked at load to lie within `image` with the magic.
        unsafe { &*self.header }
    }

    fn run(
        &mut self,
        host: &mut dyn NativeHost,
        deadline_ms: u32,
        f: impl FnOnce(&Header, *mut u8, *mut HostTable, usize) -> u32,
    ) -> Result<(), NativeTrap> {
        // SAFETY: the pointer is only used by host_call during `f`, while
        // the borrow it came from is live; the lifetime is erased to store it.
        let erased: *mut (dyn NativeHost + 'static) = unsafe { core::mem::transmute(host as *mut dyn NativeHost) };
        self.block.host = Some(erased);
        let limit = stack_pointer().saturating_sub(NATIVE_STACK_BYTES);
        let instance = self.instance.as_mut_ptr().cast::<u8>();
        let table = &mut self.block.table as *mut HostTable;
        let header = self.header;
        // SAFETY: as in `header`.
        let h = unsafe { &*header };
        GUEST_START.store(h.guest_start, Relaxed);
        GUEST_END.store(h.guest_end, Relaxed);
        ABORT.store(h.abort as usize as u32, Relaxed);
        if self.block.mpu.is_some() {
            self.block.map();
            OUT_OF_BOUNDS.store(h.out_of_bounds as usize as u32, Relaxed);
        }
        // The tick under way counts as one.
        TICKS_LEFT.store(deadline_ms.saturating_add(1).max(2), Relaxed);
        let code = f(h, instance, table, limit);
        TICKS_LEFT.store(0, Relaxed);
        if let Some(mpu) = self.block.mpu {
            OUT_OF_BOUNDS.store(0, Relaxed);
            mpu_regs(mpu).unmap();
        }
        self.block.host = None;
        if code == 0 { Ok(()) } else { Err(NativeTrap(code)) }
    }
}

impl NativeInstance for Loaded {
    fn exports(&self, entry: Entry) -> bool {
        self.header().exports & (1 << entry as u32) != 0
    }

    fn instantiate(&mut self, host: &mut dyn NativeHost, deadline_ms: u32) -> Result<(), NativeTrap> {
        // SAFETY: the header's entry points were checked to lie within the
        // relocated image; the instance block is zeroed and
        // `instance_size` long; the table outlives the call.
        self.run(host, deadline_ms, |h, inst, table, limit| unsafe { (h.instantiate)(inst, table, limit) })
    }

    fn call(&mut self, entry: Entry, arg: u64, host: &mut dyn NativeHost, deadline_ms: u32) -> Result<(), NativeTrap> {
        // SAFETY: as in instantiate, on an instantiated instance.
        self.run(host, deadline_ms, |h, inst, _, limit| unsafe { (h.call)(inst, entry as u32, arg, limit) })
    }

    fn memory_bytes(&self) -> usize {
        (self.image.len() + self.instance.len()) * 8 + self.block.held
    }
}

impl Drop for Loaded {
    fn drop(&mut self) {
        let instance = self.instance.as_mut_ptr().cast::<u8>();
        let table = &mut self.block.table as *mut HostTable;
        // SAFETY: frees what the instance allocated through the table
        // (nothing when it never instantiated: the block is zeroed).
        unsafe { (self.header().release)(instance, table) }
        // What an instance that never finished instantiating still holds.
        if let Some(l) = self.block.linear.take() {
            // SAFETY: allocated by new_linear with this layout; the code
            // is gone.
            unsafe { dealloc(l.data, l.layout) };
        }
    }
}

/// Loads artifacts built for `board`.
#[derive(Debug)]
pub struct Loader {
    board: &'static str,
    mpu: Option<Mpu>,
}

impl Loader {
    /// A loader for this board's code.
    pub fn new(board: &'static str) -> Self {
        let mpu = wasmbed_boards::board(board).map(|b| match b.cpu.mpu() {
            wasmbed_boards::Mpu::Pmsav7 => Mpu::Pmsav7,
            wasmbed_boards::Mpu::Pmsav8 => Mpu::Pmsav8,
        });
        Self { board, mpu }
    }
}

fn zeroed_words(bytes: usize) -> Result<Vec<u64>, String> {
    let words = bytes.div_ceil(8);
    let mut v = Vec::new();
    v.try_reserve_exact(words)
        .map_err(|_| alloc::format!("not enough free memory for {bytes} bytes of native code"))?;
    v.resize(words, 0);
    Ok(v)
}

impl NativeLoader for Loader {
    fn board(&self) -> &str {
        self.board
    }

    fn load(
        &mut self,
        a: &NativeArtifact,
        max_memory_pages: u32,
        max_table_elements: u32,
    ) -> Result<Box<dyn NativeInstance>, String> {
        // Shape (header length, relocations inside the image) was checked
        // by NativeArtifact::decode; checked again here, cheaply.
        let len = a.image.len();
        if (a.ram_size as usize) < len || len < core::mem::size_of::<Header>() {
            return Err("native image shorter than its header".into());
        }
        let mut image = zeroed_words(a.ram_size as usize)?;
        // SAFETY: `image` holds at least `ram_size >= len` bytes.
        let bytes = unsafe { core::slice::from_raw_parts_mut(image.as_mut_ptr().cast::<u8>(), image.len() * 8) };
        bytes[..len].copy_from_slice(&a.image);
        let base = bytes.as_ptr() as u32;
        for &r in &a.relocations {
            let r = r as usize;
            let Some(word) = bytes.get_mut(r..r + 4).filter(|_| r.is_multiple_of(4) && r + 4 <= len) else {
                return Err(alloc::format!("relocation at {r} outside the native image"));
            };
            let v = u32::from_le_bytes([word[0], word[1], word[2], word[3]]).wrapping_add(base);
            word.copy_from_slice(&v.to_le_bytes());
        }
        let header = bytes.as_ptr().cast::<Header>();
        // SAFETY: the image is 8-byte aligned and longer than a Header.
        let h = unsafe { &*header };
        let inside = |f: usize| (base as usize..base as usize + len).contains(&(f & !1));
        let entries = [
            h.instantiate as usize,
            h.call as usize,
            h.memory as usize,
            h.release as usize,
            h.abort as usize,
            h.out_of_bounds as usize,
        ];
        let guest = h.guest_start as usize..h.guest_end as usize;
        if h.magic != NATIVE_MAGIC
            || !entries.iter().all(|&f| inside(f) && f & 1 == 1)
            || guest.start > guest.end
            || !(inside(guest.start) && (guest.is_empty() || inside(guest.end - 1)))
        {
            return Err("native image without a valid WNA2 header".into());
        }
        if h.exports & !(0b111 | NATIVE_EXPORTS_MEMORY | NATIVE_BOUNDS_MPU) != 0 {
            return Err("native image header names unknown exports".into());
        }
        // Code that leaves bounds to the MPU runs only with the MPU on.
        let mpu = if h.exports & NATIVE_BOUNDS_MPU != 0 {
            let mpu = self.mpu.ok_or("native code leaves bounds to an MPU this board does not have")?;
            enable_mpu(mpu)?;
            Some(mpu)
        } else {
            None
        };
        let instance = zeroed_words(h.instance_size as usize)?;
        let memory = h.memory;
        // The code is now in RAM as data: make it visible to instruction
        // fetch (cores with caches; a no-op cost elsewhere).
        cortex_m::asm::dsb();
        cortex_m::asm::isb();
        let mut loaded = Loaded {
            image,
            instance,
            block: Box::new(Block {
                table: HostTable {
                    call: host_call,
                    alloc: host_alloc,
                    grow: host_grow,
                    release: host_release,
                    memory: host_memory,
                    max_memory_pages,
                    max_table_elements,
                },
                host: None,
                instance: core::ptr::null_mut(),
                memory,
                held: 0,
                mpu,
                linear: None,
            }),
            header,
        };
        loaded.block.instance = loaded.instance.as_mut_ptr().cast::<u8>();
        Ok(Box::new(loaded))
    }
}
