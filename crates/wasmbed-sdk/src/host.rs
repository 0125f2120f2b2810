//! The raw `wasmbed` imports, and their no-op stand-ins off wasm32.
//!
//! The only unsafe code in the SDK. It relies on the device's side of the
//! contract: `log` reads exactly `len` bytes at `ptr` from this module's
//! memory and keeps no reference to them after returning.
#![allow(unsafe_code)]

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "wasmbed")]
    unsafe extern "C" {
        /// `log(ptr: i32, len: i32)`: a UTF-8 line in this module's memory.
        pub fn log(ptr: *const u8, len: usize);
        /// `now_ms() -> i64`: reads a clock, touches no guest memory.
        pub safe fn now_ms() -> i64;
        /// `device_id(ptr: i32, cap: i32) -> i32`: writes at most `cap`
        /// bytes at `ptr`, returns the id's full length.
        pub fn device_id(ptr: *mut u8, cap: usize) -> i32;
    }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn device_id(buf: &mut [u8]) -> usize {
    // SAFETY: `buf` is a live, writable slice of this module's memory for
    // the whole call, and the host writes at most `buf.len()` bytes to it.
    let n = unsafe { imports::device_id(buf.as_mut_ptr(), buf.len()) };
    n.max(0) as usize
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn device_id(_buf: &mut [u8]) -> usize {
    0
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn log(bytes: &[u8]) {
    // SAFETY: `bytes` is a live slice of this module's memory for the whole
    // call, and the host only reads `bytes.len()` bytes from its start.
    unsafe { imports::log(bytes.as_ptr(), bytes.len()) }
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn now_ms() -> u64 {
    // The canonical ABI carries u64 as i64: reinterpret, don't convert.
    imports::now_ms() as u64
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn log(_bytes: &[u8]) {}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn now_ms() -> u64 {
    0
}
