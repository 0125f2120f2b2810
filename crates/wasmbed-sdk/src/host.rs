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
    }
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
