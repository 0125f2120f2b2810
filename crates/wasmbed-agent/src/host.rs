//! Host functions offered to apps, grouped by capability.
//!
//! Every import lives in the `wasmbed` module. The table below is the only
//! place host functions are defined: an app's linker gets exactly the groups
//! it was granted, so an ungranted import fails to instantiate.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use wasmbed_protocol::{
    AppCounters, ConfigEntry, HostError, MAX_SAMPLES_PER_BATCH, MAX_TRANSFER_LEN, Pin, Resource, Sample,
    TELEMETRY_BURST, TELEMETRY_RATE_PER_S, valid_metric_name,
};
pub use wasmbed_protocol::{Capability, DEFAULT_GRANTS};
use wasmi::{Caller, Engine, Error, Extern, Linker, Memory, Module, StoreLimits};

use crate::peripherals::{HwError, Peripherals};

/// The four bytes every WebAssembly binary starts with.
const WASM_MAGIC: &[u8; 4] = b"\0asm";

/// Why `bytes` did not compile, in one line for people: random bytes are
/// "not a WebAssembly module" (wasmi's own message prints both magic
/// numbers as multi-line arrays), anything else is wasmi's reason with its
/// line breaks folded.
pub fn invalid_module(bytes: &[u8], error: &impl core::fmt::Display) -> String {
    if !bytes.starts_with(WASM_MAGIC) {
        return "not a WebAssembly module: it does not start with \\0asm".into();
    }
    let reason = alloc::format!("{error}");
    let words: Vec<&str> = reason.split_whitespace().collect();
    alloc::format!("invalid WebAssembly: {}", words.join(" "))
}

/// Longest log line kept, in bytes.
pub const MAX_LOG_LINE: usize = 256;

/// Import module name of the app contract.
pub const IMPORT_MODULE: &str = "wasmbed";

/// The exports the device calls; an app has at least one.
pub const ENTRY_POINTS: &[&str] = &["init", "tick", "on_message"];

/// Most log lines kept from one call; the rest are counted and reported.
pub const MAX_LOGS_PER_CALL: usize = 16;

/// What a running app's store carries.
pub struct HostCtx {
    /// Memory ceiling, enforced by wasmi.
    pub limits: StoreLimits,
    /// Monotonic time of the current call.
    pub now_ms: u64,
    /// Lines logged during the current call.
    pub logs: Vec<String>,
    /// Lines dropped during the current call (over [`MAX_LOGS_PER_CALL`]).
    pub dropped_logs: u32,
    /// The device's identity, for the `device` group.
    pub device_id: String,
    /// The hardware this app may reach (its grant).
    pub resources: Vec<Resource>,
    /// The app's configuration.
    pub config: Vec<ConfigEntry>,
    /// The board's peripherals, lent to the app for the length of one call.
    pub hw: Option<Box<dyn Peripherals>>,
    /// Samples published and not yet sent.
    pub samples: Vec<Sample>,
    /// Samples dropped since the last batch.
    pub dropped_samples: u32,
    /// The telemetry rate limit.
    pub bucket: TokenBucket,
    /// The message being delivered (during `on_message`).
    pub message: Option<Vec<u8>>,
    /// Calls that did not reach the world, since install.
    pub counters: AppCounters,
}

impl core::fmt::Debug for HostCtx {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HostCtx").field("resources", &self.resources).finish_non_exhaustive()
    }
}

/// A token bucket in thousandths of a sample: [`TELEMETRY_RATE_PER_S`]
/// sustained, [`TELEMETRY_BURST`] at once.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    milli: u64,
    at_ms: u64,
}

impl TokenBucket {
    const FULL: u64 = TELEMETRY_BURST as u64 * 1000;

    /// A full bucket at `now`.
    pub fn new(now: u64) -> Self {
        Self { milli: Self::FULL, at_ms: now }
    }

    /// Takes one sample's token at `now`, if there is one.
    pub fn take(&mut self, now: u64) -> bool {
        let refill = now.saturating_sub(self.at_ms).saturating_mul(u64::from(TELEMETRY_RATE_PER_S));
        self.milli = self.milli.saturating_add(refill).min(Self::FULL);
        self.at_ms = self.at_ms.max(now);
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }
}

/// Builds a linker holding only the granted groups. The capability table
/// (numbers, names, import names) is [`Capability`], shared with the
/// platform; the functions behind it are defined once, below, for both
/// runtimes: this linker for wasmi, and [`native_binding`] for native code.
pub fn linker(engine: &Engine, grants: &[Capability]) -> Result<Linker<HostCtx>, Error> {
    let mut l = Linker::new(engine);
    for cap in grants {
        match cap {
            Capability::Log => {
                l.func_wrap(IMPORT_MODULE, "log", |mut c: Caller<'_, HostCtx>, ptr: i32, len: i32| {
                    with_memory(&mut c, "log", |ctx, data| log(ctx, data, ptr, len))
                })?;
            }
            Capability::Time => {
                l.func_wrap(IMPORT_MODULE, "now_ms", |caller: Caller<'_, HostCtx>| -> i64 {
                    caller.data().now_ms as i64
                })?;
            }
            Capability::Device => {
                l.func_wrap(IMPORT_MODULE, "device_id", |mut c: Caller<'_, HostCtx>, ptr: i32, cap: i32| {
                    with_memory(&mut c, "device_id", |ctx, data| device_id(ctx, data, ptr, cap))
                })?;
            }
            Capability::Gpio => {
                l.func_wrap(IMPORT_MODULE, "gpio_read", |mut c: Caller<'_, HostCtx>, pin: i32| {
                    gpio_read(c.data_mut(), pin)
                })?;
                l.func_wrap(IMPORT_MODULE, "gpio_write", |mut c: Caller<'_, HostCtx>, pin: i32, level: i32| {
                    gpio_write(c.data_mut(), pin, level)
                })?;
                l.func_wrap(IMPORT_MODULE, "gpio_toggle", |mut c: Caller<'_, HostCtx>, pin: i32| {
                    gpio_toggle(c.data_mut(), pin)
                })?;
            }
            Capability::I2c => {
                l.func_wrap(
                    IMPORT_MODULE,
                    "i2c_write",
                    |mut c: Caller<'_, HostCtx>, bus: i32, addr: i32, ptr: i32, len: i32| {
                        with_memory(&mut c, "i2c_write", |ctx, data| i2c_write(ctx, data, bus, addr, ptr, len))
                    },
                )?;
                l.func_wrap(
                    IMPORT_MODULE,
                    "i2c_read",
                    |mut c: Caller<'_, HostCtx>, bus: i32, addr: i32, ptr: i32, len: i32| {
                        with_memory(&mut c, "i2c_read", |ctx, data| i2c_read(ctx, data, bus, addr, ptr, len))
                    },
                )?;
                l.func_wrap(
                    IMPORT_MODULE,
                    "i2c_write_read",
                    |mut c: Caller<'_, HostCtx>, bus: i32, addr: i32, wptr: i32, wlen: i32, rptr: i32, rlen: i32| {
                        with_memory(&mut c, "i2c_write_read", |ctx, data| {
                            i2c_write_read(ctx, data, [bus, addr, wptr, wlen, rptr, rlen])
                        })
                    },
                )?;
            }
            Capability::Spi => {
                l.func_wrap(
                    IMPORT_MODULE,
                    "spi_transfer",
                    |mut c: Caller<'_, HostCtx>, bus: i32, ptr: i32, len: i32| {
                        with_memory(&mut c, "spi_transfer", |ctx, data| spi_transfer(ctx, data, bus, ptr, len))
                    },
                )?;
            }
            Capability::Adc => {
                l.func_wrap(IMPORT_MODULE, "adc_read", |mut c: Caller<'_, HostCtx>, ch: i32| {
                    adc_read(c.data_mut(), ch)
                })?;
            }
            Capability::Uart => {
                l.func_wrap(
                    IMPORT_MODULE,
                    "uart_write",
                    |mut c: Caller<'_, HostCtx>, port: i32, ptr: i32, len: i32| {
                        with_memory(&mut c, "uart_write", |ctx, data| uart_write(ctx, data, port, ptr, len))
                    },
                )?;
                l.func_wrap(
                    IMPORT_MODULE,
                    "uart_read",
                    |mut c: Caller<'_, HostCtx>, port: i32, ptr: i32, cap: i32| {
                        with_memory(&mut c, "uart_read", |ctx, data| uart_read(ctx, data, port, ptr, cap))
                    },
                )?;
            }
            Capability::Telemetry => {
                l.func_wrap(
                    IMPORT_MODULE,
                    "telemetry_publish",
                    |mut c: Caller<'_, HostCtx>, ptr: i32, len: i32, value: f64, at: i64| {
                        with_memory(&mut c, "telemetry_publish", |ctx, data| {
                            telemetry_publish(ctx, data, ptr, len, value, at)
                        })
                    },
                )?;
            }
            Capability::Config => {
                l.func_wrap(
                    IMPORT_MODULE,
                    "config_get",
                    |mut c: Caller<'_, HostCtx>, kptr: i32, klen: i32, bptr: i32, cap: i32| {
                        with_memory(&mut c, "config_get", |ctx, data| config_get(ctx, data, kptr, klen, bptr, cap))
                    },
                )?;
            }
            Capability::Messages => {
                l.func_wrap(IMPORT_MODULE, "messages_read", |mut c: Caller<'_, HostCtx>, ptr: i32, cap: i32| {
                    with_memory(&mut c, "messages_read", |ctx, data| messages_read(ctx, data, ptr, cap))
                })?;
            }
            // A group this build does not implement is never linked, so an
            // app importing it fails to instantiate with the import named.
            _ => {}
        }
    }
    Ok(l)
}

/// Why a host call breaks the app contract (the call traps).
pub(crate) type Broken = String;

/// A host function as native code calls it: arguments in `io` (floats as
/// their bits), the result back in `io[0]`; the app's exported memory, if
/// it has one.
pub(crate) type NativeFn = fn(&mut HostCtx, Option<&mut [u8]>, &mut [u64]) -> Result<(), Broken>;

/// The host function native code calls as import `name`, if a granted
/// group provides it (the same rule as [`check_imports`]).
pub(crate) fn native_binding(name: &str, grants: &[Capability]) -> Result<NativeFn, String> {
    granted_import(IMPORT_MODULE, name, grants)?;
    fn mem<'a>(m: Option<&'a mut [u8]>, func: &str) -> Result<&'a mut [u8], Broken> {
        m.ok_or_else(|| alloc::format!("{func}: the app exports no memory"))
    }
    let f: NativeFn = match name {
        "log" => |c, m, io| log(c, mem(m, "log")?, io[0] as i32, io[1] as i32),
        "now_ms" => |c, _, io| {
            io[0] = c.now_ms;
            Ok(())
        },
        "device_id" => |c, m, io| ret(io, device_id(c, mem(m, "device_id")?, io[0] as i32, io[1] as i32)),
        "gpio_read" => |c, _, io| ret(io, Ok(gpio_read(c, io[0] as i32))),
        "gpio_write" => |c, _, io| ret(io, Ok(gpio_write(c, io[0] as i32, io[1] as i32))),
        "gpio_toggle" => |c, _, io| ret(io, Ok(gpio_toggle(c, io[0] as i32))),
        "i2c_write" => |c, m, io| {
            ret(io, i2c_write(c, mem(m, "i2c_write")?, io[0] as i32, io[1] as i32, io[2] as i32, io[3] as i32))
        },
        "i2c_read" => {
            |c, m, io| ret(io, i2c_read(c, mem(m, "i2c_read")?, io[0] as i32, io[1] as i32, io[2] as i32, io[3] as i32))
        }
        "i2c_write_read" => |c, m, io| {
            let args = [io[0], io[1], io[2], io[3], io[4], io[5]].map(|v| v as i32);
            ret(io, i2c_write_read(c, mem(m, "i2c_write_read")?, args))
        },
        "spi_transfer" => {
            |c, m, io| ret(io, spi_transfer(c, mem(m, "spi_transfer")?, io[0] as i32, io[1] as i32, io[2] as i32))
        }
        "adc_read" => |c, _, io| ret(io, Ok(adc_read(c, io[0] as i32))),
        "uart_write" => {
            |c, m, io| ret(io, uart_write(c, mem(m, "uart_write")?, io[0] as i32, io[1] as i32, io[2] as i32))
        }
        "uart_read" => |c, m, io| ret(io, uart_read(c, mem(m, "uart_read")?, io[0] as i32, io[1] as i32, io[2] as i32)),
        "telemetry_publish" => |c, m, io| {
            let data = mem(m, "telemetry_publish")?;
            ret(io, telemetry_publish(c, data, io[0] as i32, io[1] as i32, f64::from_bits(io[2]), io[3] as i64))
        },
        "config_get" => |c, m, io| {
            let data = mem(m, "config_get")?;
            ret(io, config_get(c, data, io[0] as i32, io[1] as i32, io[2] as i32, io[3] as i32))
        },
        "messages_read" => |c, m, io| ret(io, messages_read(c, mem(m, "messages_read")?, io[0] as i32, io[1] as i32)),
        other => return Err(alloc::format!("import {IMPORT_MODULE}.{other} has no host function in this build")),
    };
    Ok(f)
}

/// Puts an `i32` result where native code reads it.
fn ret(io: &mut [u64], r: Result<i32, Broken>) -> Result<(), Broken> {
    io[0] = u64::from(r? as u32);
    Ok(())
}

/// Runs `f` on the caller's context and its exported memory (wasmi).
fn with_memory<T>(
    c: &mut Caller<'_, HostCtx>,
    func: &str,
    f: impl FnOnce(&mut HostCtx, &mut [u8]) -> Result<T, Broken>,
) -> Result<T, Error> {
    let mem = memory(c, func)?;
    let (data, ctx) = mem.data_and_store_mut(c);
    f(ctx, data).map_err(Error::new)
}

fn gpio_read(ctx: &mut HostCtx, pin: i32) -> i32 {
    code(gpio(ctx, pin, |hw, p| hw.gpio_read(p)).map(i32::from))
}

fn gpio_write(ctx: &mut HostCtx, pin: i32, level: i32) -> i32 {
    code(gpio(ctx, pin, |hw, p| hw.gpio_write(p, level != 0)).map(|()| 0))
}

fn gpio_toggle(ctx: &mut HostCtx, pin: i32) -> i32 {
    code(
        gpio(ctx, pin, |hw, p| {
            let high = !hw.gpio_read(p)?;
            hw.gpio_write(p, high).map(|()| high)
        })
        .map(i32::from),
    )
}

fn adc_read(ctx: &mut HostCtx, ch: i32) -> i32 {
    let r = granted(ctx, u8::try_from(ch).ok().map(Resource::Adc))
        .and_then(|_| with_hw(ctx, |hw| hw.adc_read(ch as u8)).map(i32::from));
    code(r)
}

/// The value an app sees: the count or value, or the error's negative code.
fn code(r: Result<i32, HostError>) -> i32 {
    r.unwrap_or_else(HostError::code)
}

/// Counts the failure kinds apps are told about in their reports.
fn count(ctx: &mut HostCtx, e: HostError) -> HostError {
    let c = &mut ctx.counters;
    match e {
        HostError::Denied => c.denied = c.denied.saturating_add(1),
        HostError::Nack | HostError::Bus | HostError::Unsupported => c.hw_errors = c.hw_errors.saturating_add(1),
        HostError::Limited => c.dropped_samples = c.dropped_samples.saturating_add(1),
        HostError::Invalid | HostError::NotFound => {}
    }
    e
}

/// `Ok` when `resource` (None: an argument no resource has) is granted;
/// otherwise `Denied`, counted, and nothing reaches the hardware.
fn granted(ctx: &mut HostCtx, resource: Option<Resource>) -> Result<Resource, HostError> {
    match resource {
        Some(r) if ctx.resources.contains(&r) => Ok(r),
        _ => Err(count(ctx, HostError::Denied)),
    }
}

/// Runs `f` on the lent peripherals, counting hardware failures.
fn with_hw<T>(ctx: &mut HostCtx, f: impl FnOnce(&mut dyn Peripherals) -> Result<T, HwError>) -> Result<T, HostError> {
    let r = match ctx.hw.as_deref_mut() {
        Some(hw) => f(hw).map_err(HostError::from),
        None => Err(HostError::Unsupported),
    };
    r.map_err(|e| count(ctx, e))
}

fn gpio<T>(
    ctx: &mut HostCtx,
    pin: i32,
    f: impl FnOnce(&mut dyn Peripherals, Pin) -> Result<T, HwError>,
) -> Result<T, HostError> {
    let pin = Pin::from_number(pin as u32);
    granted(ctx, pin.map(Resource::Gpio))?;
    let Some(pin) = pin else { return Err(HostError::Invalid) };
    with_hw(ctx, |hw| f(hw, pin))
}

/// The app's linear memory; an app without one breaks the contract.
fn memory(caller: &Caller<'_, HostCtx>, func: &str) -> Result<Memory, Error> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(Error::new(alloc::format!("{func}: the app exports no memory"))),
    }
}

/// `ptr..ptr+len` as a range of memory of `size` bytes; outside it the
/// contract is broken and the call traps.
fn span(func: &str, ptr: i32, len: i32, size: usize) -> Result<core::ops::Range<usize>, Broken> {
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    match start.checked_add(len) {
        Some(end) if end <= size => Ok(start..end),
        _ => Err(alloc::format!("{func}: buffer outside memory")),
    }
}

/// A transfer length the bus calls accept.
fn transfer_len(len: i32) -> Result<usize, HostError> {
    let n = len as u32 as usize;
    if n <= MAX_TRANSFER_LEN { Ok(n) } else { Err(HostError::Invalid) }
}

fn i2c_target(bus: i32, addr: i32) -> Option<Resource> {
    Some(Resource::I2c { bus: u8::try_from(bus).ok()?, addr: u8::try_from(addr).ok()? })
}

/// `i2c_write(bus, addr, ptr, len) -> len | error`.
fn i2c_write(ctx: &mut HostCtx, data: &mut [u8], bus: i32, addr: i32, ptr: i32, len: i32) -> Result<i32, Broken> {
    let range = span("i2c_write", ptr, len, data.len())?;
    Ok(code((|| {
        let r = granted(ctx, i2c_target(bus, addr))?;
        let n = transfer_len(len)?;
        let Resource::I2c { bus, addr } = r else { return Err(HostError::Invalid) };
        with_hw(ctx, |hw| hw.i2c_write(bus, addr, &data[range]))?;
        Ok(n as i32)
    })()))
}

/// `i2c_read(bus, addr, ptr, len) -> len | error`.
fn i2c_read(ctx: &mut HostCtx, data: &mut [u8], bus: i32, addr: i32, ptr: i32, len: i32) -> Result<i32, Broken> {
    let range = span("i2c_read", ptr, len, data.len())?;
    Ok(code((|| {
        let r = granted(ctx, i2c_target(bus, addr))?;
        let n = transfer_len(len)?;
        let Resource::I2c { bus, addr } = r else { return Err(HostError::Invalid) };
        with_hw(ctx, |hw| hw.i2c_read(bus, addr, &mut data[range]))?;
        Ok(n as i32)
    })()))
}

/// `i2c_write_read(bus, addr, wptr, wlen, rptr, rlen) -> rlen | error`.
fn i2c_write_read(ctx: &mut HostCtx, data: &mut [u8], args: [i32; 6]) -> Result<i32, Broken> {
    let [bus, addr, wptr, wlen, rptr, rlen] = args;
    let w = span("i2c_write_read", wptr, wlen, data.len())?;
    let r = span("i2c_write_read", rptr, rlen, data.len())?;
    Ok(code((|| {
        let res = granted(ctx, i2c_target(bus, addr))?;
        transfer_len(wlen)?;
        let n = transfer_len(rlen)?;
        let Resource::I2c { bus, addr } = res else { return Err(HostError::Invalid) };
        // The write comes from a copy: the two buffers may overlap.
        let mut out = [0u8; MAX_TRANSFER_LEN];
        out[..w.len()].copy_from_slice(&data[w.clone()]);
        with_hw(ctx, |hw| hw.i2c_write_read(bus, addr, &out[..w.len()], &mut data[r]))?;
        Ok(n as i32)
    })()))
}

/// `spi_transfer(bus, ptr, len) -> len | error`, in place.
fn spi_transfer(ctx: &mut HostCtx, data: &mut [u8], bus: i32, ptr: i32, len: i32) -> Result<i32, Broken> {
    let range = span("spi_transfer", ptr, len, data.len())?;
    Ok(code((|| {
        granted(ctx, u8::try_from(bus).ok().map(Resource::Spi))?;
        let n = transfer_len(len)?;
        with_hw(ctx, |hw| hw.spi_transfer(bus as u8, &mut data[range]))?;
        Ok(n as i32)
    })()))
}

/// `uart_write(port, ptr, len) -> taken | error`.
fn uart_write(ctx: &mut HostCtx, data: &mut [u8], port: i32, ptr: i32, len: i32) -> Result<i32, Broken> {
    let range = span("uart_write", ptr, len, data.len())?;
    Ok(code((|| {
        granted(ctx, u8::try_from(port).ok().map(Resource::Uart))?;
        transfer_len(len)?;
        with_hw(ctx, |hw| hw.uart_write(port as u8, &data[range])).map(|n| n as i32)
    })()))
}

/// `uart_read(port, ptr, cap) -> count | error`: what has arrived, at most `cap`.
fn uart_read(ctx: &mut HostCtx, data: &mut [u8], port: i32, ptr: i32, cap: i32) -> Result<i32, Broken> {
    let range = span("uart_read", ptr, cap, data.len())?;
    Ok(code((|| {
        granted(ctx, u8::try_from(port).ok().map(Resource::Uart))?;
        let n = transfer_len(cap)?;
        let range = range.start..range.start + n;
        with_hw(ctx, |hw| hw.uart_read(port as u8, &mut data[range])).map(|n| n as i32)
    })()))
}

/// `telemetry_publish(name_ptr, name_len, value, uptime_ms) -> 0 | error`:
/// `uptime_ms` 0 means now. Over the rate limit the sample is dropped and
/// counted (`limited`); a bad name or a value that is not finite is `invalid`.
fn telemetry_publish(
    ctx: &mut HostCtx,
    data: &mut [u8],
    ptr: i32,
    len: i32,
    value: f64,
    at: i64,
) -> Result<i32, Broken> {
    let range = span("telemetry_publish", ptr, len, data.len())?;
    let Some(name) = core::str::from_utf8(&data[range]).ok().filter(|n| valid_metric_name(n)) else {
        return Ok(HostError::Invalid.code());
    };
    if !value.is_finite() {
        return Ok(HostError::Invalid.code());
    }
    if ctx.samples.len() >= MAX_SAMPLES_PER_BATCH || !ctx.bucket.take(ctx.now_ms) {
        ctx.dropped_samples = ctx.dropped_samples.saturating_add(1);
        return Ok(count(ctx, HostError::Limited).code());
    }
    let uptime_ms = if at > 0 { at as u64 } else { ctx.now_ms };
    ctx.samples.push(Sample { metric: name.into(), uptime_ms, value });
    ctx.counters.samples = ctx.counters.samples.saturating_add(1);
    Ok(0)
}

/// Copies `src` into the app's buffer (as much as fits) and returns the
/// full length, so an app can retry with a larger buffer.
fn copy_out(data: &mut [u8], range: core::ops::Range<usize>, src: &[u8]) -> i32 {
    let n = src.len().min(range.len());
    data[range.start..range.start + n].copy_from_slice(&src[..n]);
    src.len() as i32
}

/// `config_get(key_ptr, key_len, buf_ptr, cap) -> len | not-found`.
fn config_get(ctx: &mut HostCtx, data: &mut [u8], kptr: i32, klen: i32, bptr: i32, cap: i32) -> Result<i32, Broken> {
    let key = span("config_get", kptr, klen, data.len())?;
    let buf = span("config_get", bptr, cap, data.len())?;
    let Some(entry) = ctx.config.iter().find(|e| e.key.as_bytes() == &data[key.clone()]) else {
        return Ok(HostError::NotFound.code());
    };
    Ok(copy_out(data, buf, entry.value.as_bytes()))
}

/// `messages_read(ptr, cap) -> len | not-found`: the message being
/// delivered, during `on_message`.
fn messages_read(ctx: &mut HostCtx, data: &mut [u8], ptr: i32, cap: i32) -> Result<i32, Broken> {
    let buf = span("messages_read", ptr, cap, data.len())?;
    match &ctx.message {
        Some(m) => Ok(copy_out(data, buf, m)),
        None => Ok(HostError::NotFound.code()),
    }
}

/// `device_id(ptr, cap) -> len`: copies up to `cap` bytes of the device id
/// to `ptr` and returns the id's full length (an app can retry with a
/// larger buffer). A buffer outside memory breaks the contract and traps.
fn device_id(ctx: &mut HostCtx, data: &mut [u8], ptr: i32, cap: i32) -> Result<i32, Broken> {
    let buf = span("device_id", ptr, cap, data.len())?;
    Ok(copy_out(data, buf, ctx.device_id.as_bytes()))
}

/// `log(ptr, len)`: a guest pointer outside its memory breaks the contract
/// and traps; long lines are cut to [`MAX_LOG_LINE`] bytes.
fn log(ctx: &mut HostCtx, data: &mut [u8], ptr: i32, len: i32) -> Result<(), Broken> {
    let range = span("log", ptr, len, data.len())?;
    let bytes = &data[range];
    let kept = &bytes[..bytes.len().min(MAX_LOG_LINE)];
    let line = String::from_utf8_lossy(kept).into_owned();
    if ctx.logs.len() < MAX_LOGS_PER_CALL {
        ctx.logs.push(line);
    } else {
        ctx.dropped_logs = ctx.dropped_logs.saturating_add(1);
    }
    Ok(())
}

/// Every import of `module` must come from a granted group; the error
/// names the first that does not and the capability that would provide it.
pub(crate) fn check_imports(module: &Module, grants: &[Capability]) -> Result<(), String> {
    module.imports().try_for_each(|i| granted_import(i.module(), i.name(), grants))
}

/// The one rule for an import: a granted group provides `module.name`.
pub(crate) fn granted_import(m: &str, name: &str, grants: &[Capability]) -> Result<(), String> {
    if m == IMPORT_MODULE && grants.iter().any(|c| c.imports().contains(&name)) {
        return Ok(());
    }
    let provider = Capability::ALL.iter().find(|c| m == IMPORT_MODULE && c.imports().contains(&name));
    Err(match provider {
        Some(c) => alloc::format!("import {m}.{name} needs the capability {:?}, which was not granted", c.name()),
        None => alloc::format!("import {m}.{name} is not provided by any capability of the app contract"),
    })
}

#[cfg(feature = "validate")]
/// Whether `bytes` validate as a module under the agent's engine (what
/// the device would have checked itself); the validator's message if not.
pub fn validate_bytes(bytes: &[u8]) -> Result<(), String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    wasmi::Module::new(&Engine::new(&config), bytes).map(drop).map_err(|e| invalid_module(bytes, &e))
}

#[cfg(feature = "validate")]
/// Checks a module as a device would before it is ever sent: it must
/// validate under the agent's engine and import only functions the
/// `grants` provide. Returns its imports (`module.name`), or the
/// validator's message.
pub fn validate_module(bytes: &[u8], grants: &[Capability]) -> Result<Vec<String>, String> {
    let mut config = wasmi::Config::default();
    config.consume_fuel(true);
    let engine = Engine::new(&config);
    let module = wasmi::Module::new(&engine, bytes).map_err(|e| invalid_module(bytes, &e))?;
    check_imports(&module, grants)?;
    if !module.exports().any(|e| ENTRY_POINTS.contains(&e.name())) {
        return Err("the module exports none of `init`, `tick` and `on_message`".into());
    }
    Ok(module.imports().map(|i| alloc::format!("{}.{}", i.module(), i.name())).collect())
}
