//! The raw `wasmbed` imports, and their stand-ins off wasm32.
//!
//! The only unsafe code in the SDK. It relies on the device's side of the
//! contract (`wit/wasmbed-device.wit`): a host function reads or writes
//! only the spans it is given (`ptr`, `len` or `cap` bytes) of this
//! module's memory, and keeps no reference to them after returning.
//!
//! Each wrapper returns what the import returns: >= 0 a count or value,
//! < 0 a host-error code (see [`crate::HostError`]). Off wasm32 there is no
//! device: the peripherals answer `unsupported`, telemetry and log lines
//! are accepted and dropped, and config and messages find nothing.
#![allow(unsafe_code)]

#[cfg(not(target_arch = "wasm32"))]
use crate::HostError;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "wasmbed")]
    unsafe extern "C" {
        /// `log(ptr, len)`: a UTF-8 line in this module's memory.
        pub fn log(ptr: *const u8, len: usize);
        /// `now_ms() -> i64`: reads a clock, touches no guest memory.
        pub safe fn now_ms() -> i64;
        /// `device_id(ptr, cap) -> len`: writes at most `cap` bytes at
        /// `ptr`, returns the id's full length.
        pub fn device_id(ptr: *mut u8, cap: usize) -> i32;
        /// `gpio_read(pin) -> level | error`.
        pub safe fn gpio_read(pin: u32) -> i32;
        /// `gpio_write(pin, level) -> 0 | error`.
        pub safe fn gpio_write(pin: u32, level: u32) -> i32;
        /// `gpio_toggle(pin) -> level | error`.
        pub safe fn gpio_toggle(pin: u32) -> i32;
        /// `i2c_write(bus, addr, ptr, len) -> len | error`: reads `len` bytes.
        pub fn i2c_write(bus: u32, addr: u32, ptr: *const u8, len: usize) -> i32;
        /// `i2c_read(bus, addr, ptr, len) -> len | error`: writes `len` bytes.
        pub fn i2c_read(bus: u32, addr: u32, ptr: *mut u8, len: usize) -> i32;
        /// `i2c_write_read(bus, addr, wptr, wlen, rptr, rlen) -> rlen | error`.
        pub fn i2c_write_read(bus: u32, addr: u32, wptr: *const u8, wlen: usize, rptr: *mut u8, rlen: usize) -> i32;
        /// `spi_transfer(bus, ptr, len) -> len | error`: in place.
        pub fn spi_transfer(bus: u32, ptr: *mut u8, len: usize) -> i32;
        /// `adc_read(channel) -> count | error`.
        pub safe fn adc_read(channel: u32) -> i32;
        /// `uart_write(port, ptr, len) -> taken | error`: reads `len` bytes.
        pub fn uart_write(port: u32, ptr: *const u8, len: usize) -> i32;
        /// `uart_read(port, ptr, cap) -> count | error`: writes at most `cap`.
        pub fn uart_read(port: u32, ptr: *mut u8, cap: usize) -> i32;
        /// `telemetry_publish(name_ptr, name_len, value, uptime_ms) -> 0 | error`.
        pub fn telemetry_publish(ptr: *const u8, len: usize, value: f64, uptime_ms: i64) -> i32;
        /// `config_get(key_ptr, key_len, buf_ptr, cap) -> len | error`.
        pub fn config_get(kptr: *const u8, klen: usize, bptr: *mut u8, cap: usize) -> i32;
        /// `messages_read(ptr, cap) -> len | error`.
        pub fn messages_read(ptr: *mut u8, cap: usize) -> i32;
    }
}

/// What the peripherals answer off wasm32.
#[cfg(not(target_arch = "wasm32"))]
const NO_DEVICE: i32 = HostError::Unsupported.code();
/// What config and messages answer off wasm32.
#[cfg(not(target_arch = "wasm32"))]
const NOT_FOUND: i32 = HostError::NotFound.code();

// Every `unsafe` block below: the spans passed are live slices of this
// module's memory for the whole call, writable where the host writes, and
// the host touches no more than their lengths.

pub(crate) fn log(bytes: &[u8]) {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above; the host only reads.
    unsafe {
        imports::log(bytes.as_ptr(), bytes.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    let _ = bytes;
}

pub(crate) fn now_ms() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        // The canonical ABI carries u64 as i64: reinterpret, don't convert.
        imports::now_ms() as u64
    }
    #[cfg(not(target_arch = "wasm32"))]
    0
}

pub(crate) fn device_id(buf: &mut [u8]) -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        // SAFETY: see above.
        let n = unsafe { imports::device_id(buf.as_mut_ptr(), buf.len()) };
        n.max(0) as usize
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = buf;
        0
    }
}

pub(crate) fn gpio_read(pin: u32) -> i32 {
    #[cfg(target_arch = "wasm32")]
    {
        imports::gpio_read(pin)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = pin;
        NO_DEVICE
    }
}

pub(crate) fn gpio_write(pin: u32, high: bool) -> i32 {
    #[cfg(target_arch = "wasm32")]
    {
        imports::gpio_write(pin, high.into())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (pin, high);
        NO_DEVICE
    }
}

pub(crate) fn gpio_toggle(pin: u32) -> i32 {
    #[cfg(target_arch = "wasm32")]
    {
        imports::gpio_toggle(pin)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = pin;
        NO_DEVICE
    }
}

pub(crate) fn i2c_write(bus: u8, addr: u8, data: &[u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above; the host only reads.
    unsafe {
        imports::i2c_write(bus.into(), addr.into(), data.as_ptr(), data.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (bus, addr, data);
        NO_DEVICE
    }
}

pub(crate) fn i2c_read(bus: u8, addr: u8, buf: &mut [u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above.
    unsafe {
        imports::i2c_read(bus.into(), addr.into(), buf.as_mut_ptr(), buf.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (bus, addr, buf);
        NO_DEVICE
    }
}

pub(crate) fn i2c_write_read(bus: u8, addr: u8, data: &[u8], buf: &mut [u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above; `data` and `buf` cannot overlap (a shared and a
    // unique borrow), and the host copies `data` before it writes anyway.
    unsafe {
        imports::i2c_write_read(bus.into(), addr.into(), data.as_ptr(), data.len(), buf.as_mut_ptr(), buf.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (bus, addr, data, buf);
        NO_DEVICE
    }
}

pub(crate) fn spi_transfer(bus: u8, buf: &mut [u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above.
    unsafe {
        imports::spi_transfer(bus.into(), buf.as_mut_ptr(), buf.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (bus, buf);
        NO_DEVICE
    }
}

pub(crate) fn adc_read(channel: u8) -> i32 {
    #[cfg(target_arch = "wasm32")]
    {
        imports::adc_read(channel.into())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = channel;
        NO_DEVICE
    }
}

pub(crate) fn uart_write(port: u8, data: &[u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above; the host only reads.
    unsafe {
        imports::uart_write(port.into(), data.as_ptr(), data.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (port, data);
        NO_DEVICE
    }
}

pub(crate) fn uart_read(port: u8, buf: &mut [u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above.
    unsafe {
        imports::uart_read(port.into(), buf.as_mut_ptr(), buf.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (port, buf);
        NO_DEVICE
    }
}

pub(crate) fn telemetry_publish(name: &str, value: f64, uptime_ms: u64) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above; the host only reads. u64 travels as i64.
    unsafe {
        imports::telemetry_publish(name.as_ptr(), name.len(), value, uptime_ms as i64)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, value, uptime_ms);
        0
    }
}

pub(crate) fn config_get(key: &str, buf: &mut [u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above.
    unsafe {
        imports::config_get(key.as_ptr(), key.len(), buf.as_mut_ptr(), buf.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (key, buf);
        NOT_FOUND
    }
}

pub(crate) fn messages_read(buf: &mut [u8]) -> i32 {
    #[cfg(target_arch = "wasm32")]
    // SAFETY: see above.
    unsafe {
        imports::messages_read(buf.as_mut_ptr(), buf.len())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = buf;
        NOT_FOUND
    }
}
