//! What components reach through their imports. The runtime knows no
//! socket and no store: the gateway passes in a [`Services`] (logs,
//! telemetry out, messages to devices, time) and, for an application that
//! targets an attached board, a [`BoardPort`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::bindings::wasmbed::edge::{attached_board, clocks, config, kv, log, messages, telemetry, types};
use crate::kv::Kv;
use crate::limits::Limiter;

pub use crate::bindings::wasmbed::edge::log::Level;
pub use crate::bindings::wasmbed::edge::types::EdgeError;

/// Longest log line kept; the rest is cut.
pub const MAX_LOG_LINE: usize = 1024;
/// Longest message payload a component may send to a device app.
pub const MAX_MESSAGE: usize = 256;
/// Longest data a board call may carry (the board link's frame limit,
/// with room for the header).
pub const MAX_BOARD_DATA: usize = 200;
/// At most this many telemetry subscriptions per component.
pub const MAX_SUBSCRIPTIONS: usize = 32;

/// The gateway's side of the imports: every effect a component has on the
/// world goes through here.
pub trait Services: Send + Sync + 'static {
    /// Wall-clock time, Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// A line the component logged.
    fn log(&self, app: &str, level: Level, line: &str);
    /// A derived sample the component published (already validated).
    fn publish(&self, app: &str, metric: &str, value: f64) -> Result<(), EdgeError>;
    /// A message for `app_on_device` on `device`.
    fn send(&self, device: &str, app_on_device: &str, payload: &[u8]) -> Result<(), EdgeError>;
}

/// The board an application targets, reached over its link. Every call
/// waits for the board's answer, within the link's deadline.
pub trait BoardPort: Send + Sync + 'static {
    /// Milliseconds since the board started.
    fn uptime_ms(&self) -> Result<u32, EdgeError>;
    /// Switches an LED.
    fn led_set(&self, led: u8, on: bool) -> Result<(), EdgeError>;
    /// An LED's state (the board's record of it, where it has no readback).
    fn led_get(&self, led: u8) -> Result<bool, EdgeError>;
    /// Queues bytes on a USART; how many were taken.
    fn uart_write(&self, port: u8, data: &[u8]) -> Result<u32, EdgeError>;
    /// What has arrived on a USART, at most `max` bytes.
    fn uart_read(&self, port: u8, max: u32) -> Result<Vec<u8>, EdgeError>;
    /// A full-duplex SPI transfer.
    fn spi_transfer(&self, bus: u8, data: &[u8]) -> Result<Vec<u8>, EdgeError>;
}

/// What one version of an application is given.
#[derive(Clone)]
pub struct Context {
    /// The application's name.
    pub app: Arc<str>,
    /// Its config, as deployed with this version.
    pub config: Arc<BTreeMap<String, String>>,
    /// Its store, shared by all its versions.
    pub kv: Arc<Mutex<Kv>>,
    /// The gateway.
    pub services: Arc<dyn Services>,
    /// The board it targets, if any.
    pub board: Option<Arc<dyn BoardPort>>,
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("app", &self.app).field("board", &self.board.is_some()).finish()
    }
}

/// Counters of one instance, read by the runtime after each call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCounters {
    /// Host calls refused as invalid or over a limit.
    pub refused: u64,
    /// Board calls that failed or found the board unavailable.
    pub board_errors: u64,
}

/// A store's data: one instance's view of the world.
pub struct HostState {
    pub(crate) cx: Context,
    pub(crate) limiter: Limiter,
    pub(crate) subscriptions: Vec<String>,
    pub(crate) counters: CallCounters,
    /// Time the current call spent waiting in host functions (a board's
    /// answer): the call's deadline counts the component's own time only.
    pub(crate) host_time: std::time::Duration,
    /// When the current call began.
    pub(crate) call_started: std::time::Instant,
    /// WASI's context, made on first use (only components granted `wasi`
    /// reach it).
    wasi: Option<wasmtime_wasi::WasiCtx>,
    /// WASI's resources (streams, pollables, ...).
    table: wasmtime::component::ResourceTable,
}

impl fmt::Debug for HostState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostState").field("app", &self.cx.app).field("subscriptions", &self.subscriptions).finish()
    }
}

impl HostState {
    pub(crate) fn new(cx: Context, limiter: Limiter) -> Self {
        Self {
            cx,
            limiter,
            subscriptions: Vec::new(),
            counters: CallCounters::default(),
            host_time: std::time::Duration::ZERO,
            call_started: std::time::Instant::now(),
            wasi: None,
            table: wasmtime::component::ResourceTable::new(),
        }
    }

    /// Whether the instance asked for samples of `metric`.
    pub fn subscribed(&self, metric: &str) -> bool {
        self.subscriptions.iter().any(|s| s == "*" || s == metric)
    }

    fn refused(&mut self, e: EdgeError) -> EdgeError {
        self.counters.refused += 1;
        e
    }

    fn board(&mut self) -> Result<Arc<dyn BoardPort>, EdgeError> {
        // The import is linked only for applications that target a board,
        // so this is a gateway without the board's link at hand.
        self.cx.board.clone().ok_or_else(|| EdgeError::Unavailable("no board is attached for this application".into()))
    }

    /// Runs a board call, its wait kept out of the call's deadline.
    fn on_board<T>(&mut self, call: impl FnOnce(&dyn BoardPort) -> Result<T, EdgeError>) -> Result<T, EdgeError> {
        let board = self.board()?;
        let started = std::time::Instant::now();
        let r = call(board.as_ref());
        self.host_time += started.elapsed();
        if r.is_err() {
            self.counters.board_errors += 1;
        }
        r
    }

    fn board_data(&mut self, data: &[u8]) -> Result<(), EdgeError> {
        if data.len() > MAX_BOARD_DATA {
            return Err(self.refused(EdgeError::Invalid(format!(
                "{} bytes; a board call carries at most {MAX_BOARD_DATA}",
                data.len()
            ))));
        }
        Ok(())
    }
}

/// A metric name as devices use them: `[a-z][a-z0-9_.]{0,31}`.
pub fn valid_metric(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'.')
}

impl types::Host for HostState {}

impl log::Host for HostState {
    fn log(&mut self, level: Level, mut message: String) {
        if message.len() > MAX_LOG_LINE {
            let mut cut = MAX_LOG_LINE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        self.cx.services.log(&self.cx.app, level, &message);
    }
}

impl clocks::Host for HostState {
    fn now_ms(&mut self) -> i64 {
        self.cx.services.now_ms()
    }

    fn monotonic_ns(&mut self) -> u64 {
        u64::try_from(crate::limits::since_start().as_nanos()).unwrap_or(u64::MAX)
    }
}

impl config::Host for HostState {
    fn get(&mut self, key: String) -> Option<String> {
        self.cx.config.get(&key).cloned()
    }
}

impl kv::Host for HostState {
    fn get(&mut self, key: String) -> Option<Vec<u8>> {
        self.cx.kv.lock().ok()?.get(&key).map(<[u8]>::to_vec)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), EdgeError> {
        let r = match self.cx.kv.lock() {
            Ok(mut kv) => kv.set(&key, value),
            Err(_) => return Err(EdgeError::Failed("the store is unavailable".into())),
        };
        r.map_err(|e| {
            let e = match e {
                crate::kv::KvError::Full | crate::kv::KvError::ValueTooLong(_) => EdgeError::Limited(e.to_string()),
                crate::kv::KvError::BadKey(_) => EdgeError::Invalid(e.to_string()),
            };
            self.refused(e)
        })
    }

    fn delete(&mut self, key: String) -> bool {
        self.cx.kv.lock().map(|mut kv| kv.delete(&key)).unwrap_or(false)
    }
}

impl telemetry::Host for HostState {
    fn subscribe(&mut self, metric: String) -> Result<(), EdgeError> {
        if metric != "*" && !valid_metric(&metric) {
            return Err(self.refused(EdgeError::Invalid(format!("{metric:?} is no metric name (or `*`)"))));
        }
        if self.subscriptions.contains(&metric) {
            return Ok(());
        }
        if self.subscriptions.len() >= MAX_SUBSCRIPTIONS {
            return Err(self.refused(EdgeError::Limited(format!("at most {MAX_SUBSCRIPTIONS} subscriptions"))));
        }
        self.subscriptions.push(metric);
        Ok(())
    }

    fn publish(&mut self, metric: String, value: f64) -> Result<(), EdgeError> {
        if !valid_metric(&metric) {
            return Err(self.refused(EdgeError::Invalid(format!("{metric:?} is no metric name"))));
        }
        if !value.is_finite() {
            return Err(self.refused(EdgeError::Invalid(format!("{value} is not finite"))));
        }
        let r = self.cx.services.publish(&self.cx.app, &metric, value);
        r.map_err(|e| self.refused(e))
    }
}

impl messages::Host for HostState {
    fn send(&mut self, device: String, app: String, payload: Vec<u8>) -> Result<(), EdgeError> {
        if payload.len() > MAX_MESSAGE {
            return Err(self
                .refused(EdgeError::Invalid(format!("{} bytes; a message is at most {MAX_MESSAGE}", payload.len()))));
        }
        self.cx.services.send(&device, &app, &payload)
    }
}

impl attached_board::Host for HostState {
    fn uptime_ms(&mut self) -> Result<u32, EdgeError> {
        self.on_board(|b| b.uptime_ms())
    }

    fn led_set(&mut self, led: u8, on: bool) -> Result<(), EdgeError> {
        self.on_board(|b| b.led_set(led, on))
    }

    fn led_get(&mut self, led: u8) -> Result<bool, EdgeError> {
        self.on_board(|b| b.led_get(led))
    }

    fn uart_write(&mut self, port: u8, data: Vec<u8>) -> Result<u32, EdgeError> {
        self.board_data(&data)?;
        self.on_board(|b| b.uart_write(port, &data))
    }

    fn uart_read(&mut self, port: u8, max: u32) -> Result<Vec<u8>, EdgeError> {
        let max = max.min(MAX_BOARD_DATA as u32);
        self.on_board(|b| b.uart_read(port, max))
    }

    fn spi_transfer(&mut self, bus: u8, data: Vec<u8>) -> Result<Vec<u8>, EdgeError> {
        self.board_data(&data)?;
        self.on_board(|b| b.spi_transfer(bus, &data))
    }
}

/// WASI as `wasi` grants it: clocks and random are the host's; there are
/// no arguments, no environment, no preopened directories, stdin is
/// closed and stdout and stderr are discarded (the `log` interface is how a
/// component speaks), and every socket address and name lookup is refused.
fn sandboxed_wasi() -> wasmtime_wasi::WasiCtx {
    wasmtime_wasi::WasiCtx::builder().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).build()
}

impl wasmtime_wasi::WasiView for HostState {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        wasmtime_wasi::WasiCtxView { ctx: self.wasi.get_or_insert_with(sandboxed_wasi), table: &mut self.table }
    }
}
