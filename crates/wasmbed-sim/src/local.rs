//! One app on the host build of the agent, with simulated peripherals and
//! a simulated clock: what `wasmbed run` runs to try an app before
//! deploying it.
//!
//! It is the device path, not a shortcut: the module is deployed to a real
//! [`Agent`] as a gateway would (a deploy with grants, hardware and
//! configuration, in chunks, hash checked), messages arrive as a gateway
//! sends them, and what the agent answers is decoded from its frames. So
//! an app behaves here as it will on a device of that board: the same
//! grant checks, fuel, memory ceiling, rate limits and delivery answers
//! (`no-handler` for an app without `on_message`). Only time is simulated:
//! each [`LocalRun::tick`] advances the clock one tick interval at once.
//!
//! ```
//! use wasmbed_protocol::{Capability, Delivery};
//! use wasmbed_sim::local::{Event, LocalRun, LocalSetup};
//! use wasmbed_sim::SimPeripherals;
//!
//! let wasm = wat::parse_str(r#"(module
//!     (import "wasmbed" "log" (func $log (param i32 i32)))
//!     (memory (export "memory") 1)
//!     (data (i32.const 0) "tick")
//!     (func (export "tick") (param i64) (call $log (i32.const 0) (i32.const 4))))"#).unwrap();
//! let setup = LocalSetup::new("sim", vec![Capability::Log]);
//! let hw = SimPeripherals::new(wasmbed_boards::SIM_PERIPHERALS);
//! let (mut run, _started) = LocalRun::start(&wasm, hw, &setup);
//! let events = run.tick();
//! assert!(events.iter().any(|e| e.event == Event::Log("tick".into())));
//! let answer = run.message(b"hi");
//! assert!(answer.iter().any(|e| e.event == Event::Delivery(Delivery::NoHandler)));
//! ```

use sha2::{Digest, Sha256};
use wasmbed_agent::{Agent, AgentConfig, IMPORT_MODULE};
use wasmbed_protocol::{
    AppCounters, AppLimits, AppMessage, AppState, Capability, ConfigEntry, Delivery, DeployBegin, DeployChunk,
    DeviceMsg, FailReason, FrameReader, GatewayMsg, MAX_FRAME_LEN, Resource, Welcome, decode_device_msg, encode_frame,
};

use crate::hw::{SimHandle, SimPeripherals};

/// The app's slot name on the local device.
pub const APP: &str = "app";
/// Bytes of module per deploy chunk (what a gateway sends).
const CHUNK: usize = 1024;

/// How the app is deployed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalSetup {
    /// The device's id, as `device.device-id` returns it.
    pub device_id: String,
    /// The board it pretends to be.
    pub board: String,
    /// Capability groups linked.
    pub groups: Vec<Capability>,
    /// Hardware granted (`gpio:led0`, `i2c:0:0x48`).
    pub resources: Vec<Resource>,
    /// The app's configuration.
    pub config: Vec<ConfigEntry>,
    /// Fuel, memory and tick interval.
    pub limits: AppLimits,
    /// The device's heap, bytes (what installs are checked against).
    pub heap_bytes: u32,
}

impl LocalSetup {
    /// `groups` linked on a device `local` of `board`, no hardware, no
    /// configuration, the platform's default limits and the simulator's heap.
    pub fn new(board: &str, groups: Vec<Capability>) -> Self {
        Self {
            device_id: "local".into(),
            board: board.into(),
            groups,
            resources: Vec::new(),
            config: Vec::new(),
            limits: AppLimits::default(),
            heap_bytes: crate::SIM_HEAP_BYTES,
        }
    }
}

/// Something the app or the device did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// The app is running (after `init`).
    Running,
    /// A line the app logged.
    Log(String),
    /// A telemetry sample.
    Sample {
        /// Metric name.
        metric: String,
        /// Value.
        value: f64,
    },
    /// Samples dropped over the rate limit since the last batch.
    Dropped(u32),
    /// An LED changed.
    Led {
        /// Which.
        index: u8,
        /// Its new level.
        on: bool,
    },
    /// Bytes the app wrote to a serial port.
    Uart {
        /// The port.
        port: u8,
        /// What was written.
        bytes: Vec<u8>,
    },
    /// What became of a message.
    Delivery(Delivery),
    /// The app failed (trap, fuel, memory): it no longer runs.
    Failed(FailReason),
    /// The device refused the deploy.
    Rejected(FailReason),
    /// The agent refused what it was sent (a bug here, not in the app).
    Session(String),
}

/// An [`Event`] at the device uptime it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    /// Device uptime, ms.
    pub uptime_ms: u64,
    /// What happened.
    pub event: Event,
}

/// One app running on a local agent.
#[derive(Debug)]
pub struct LocalRun {
    agent: Agent,
    hw: SimHandle,
    leds: Vec<bool>,
    uarts: Vec<u8>,
    now: u64,
    tick_ms: u64,
    heap_bytes: u32,
    next_message: u32,
    state: Option<AppState>,
    counters: Option<AppCounters>,
}

impl LocalRun {
    /// Deploys `module` with `setup` to a fresh agent with `hw`, which
    /// installs and starts it (running `init`). The events say whether it
    /// runs: [`Event::Running`], or [`Event::Rejected`] / [`Event::Failed`]
    /// with the device's reason.
    pub fn start(module: &[u8], hw: SimPeripherals, setup: &LocalSetup) -> (Self, Vec<Stamped>) {
        let handle = hw.handle();
        let uarts = uart_ports(&hw);
        let config = AgentConfig::new(&setup.device_id, &setup.board)
            .simulated()
            .with_heap_size(setup.heap_bytes)
            .with_budget(crate::module_budget(&setup.board));
        let mut run = Self {
            agent: Agent::new(config).with_peripherals(Box::new(hw)),
            leds: handle.leds(),
            hw: handle,
            uarts,
            now: 0,
            tick_ms: u64::from(setup.limits.tick_ms.max(1)),
            heap_bytes: setup.heap_bytes,
            next_message: 1,
            state: None,
            counters: None,
        };
        let mut out = Vec::new();
        run.agent.connected(0);
        run.poll(&mut out);
        // A heartbeat each tick keeps `counters` current.
        let heartbeat_ms = u32::try_from(run.tick_ms).unwrap_or(u32::MAX);
        let welcome = Welcome { heartbeat_ms, unix_time_s: 0, unix_time_ms: None };
        run.send(GatewayMsg::Welcome(welcome), &mut out);
        run.poll(&mut out);
        let begin = DeployBegin {
            app: APP.into(),
            version: "local".into(),
            size: u32::try_from(module.len()).unwrap_or(u32::MAX),
            sha256: <[u8; 32]>::from(Sha256::digest(module)).into(),
            limits: setup.limits,
            revision: None,
            start: Some(true),
            grants: Some(setup.groups.clone()),
            resources: Some(setup.resources.clone()),
            config: Some(setup.config.clone()),
            manifest: None,
            native: None,
        };
        run.send(GatewayMsg::DeployBegin(begin), &mut out);
        for (i, piece) in module.chunks(CHUNK).enumerate() {
            let chunk = DeployChunk { app: APP.into(), offset: (i * CHUNK) as u32, data: piece.to_vec().into() };
            run.send(GatewayMsg::DeployChunk(chunk), &mut out);
        }
        run.poll(&mut out);
        (run, out)
    }

    /// Advances the clock one tick interval and runs what is due (the
    /// app's `tick`).
    pub fn tick(&mut self) -> Vec<Stamped> {
        self.now = self.now.saturating_add(self.tick_ms);
        let mut out = Vec::new();
        self.poll(&mut out);
        out
    }

    /// Sends `payload` to the app, as `wasmbed app send` does; the events
    /// end with its [`Event::Delivery`].
    pub fn message(&mut self, payload: &[u8]) -> Vec<Stamped> {
        let id = self.next_message;
        self.next_message = self.next_message.wrapping_add(1);
        let mut out = Vec::new();
        self.send(
            GatewayMsg::AppMessage(AppMessage { id, app: APP.into(), payload: payload.to_vec().into() }),
            &mut out,
        );
        out
    }

    /// The app's state, as the device last reported it.
    pub fn state(&self) -> Option<AppState> {
        self.state
    }

    /// Calls that did not reach the world (denied, hardware errors,
    /// dropped samples), as the device last reported them (every tick).
    pub fn counters(&self) -> AppCounters {
        self.counters.unwrap_or_default()
    }

    /// Device uptime, ms.
    pub fn uptime_ms(&self) -> u64 {
        self.now
    }

    /// The device's peripherals, to change the world between ticks.
    pub fn hw(&self) -> &SimHandle {
        &self.hw
    }

    fn send(&mut self, msg: GatewayMsg, out: &mut Vec<Stamped>) {
        let mut wire = Vec::new();
        if let Err(e) = encode_frame(&msg, &mut wire) {
            return self.stamp(out, Event::Session(format!("cannot encode: {e}")));
        }
        let received = self.agent.receive(&wire, self.now);
        self.take(out);
        if let Err(e) = received {
            self.stamp(out, Event::Session(e.to_string()));
        }
    }

    fn poll(&mut self, out: &mut Vec<Stamped>) {
        let free = self.heap_bytes.saturating_sub(u32::try_from(self.agent.app_memory_bytes()).unwrap_or(u32::MAX));
        self.agent.poll(self.now, free);
        self.take(out);
    }

    fn stamp(&self, out: &mut Vec<Stamped>, event: Event) {
        out.push(Stamped { uptime_ms: self.now, event });
    }

    /// Decodes what the agent sent, and what changed on the hardware.
    fn take(&mut self, out: &mut Vec<Stamped>) {
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        let frames = reader.push(&self.agent.take_outgoing());
        if let Err(e) = frames {
            self.stamp(out, Event::Session(format!("undecodable frames: {e}")));
        }
        loop {
            let msg = match reader.next_frame() {
                Ok(Some(payload)) => decode_device_msg(&payload),
                Ok(None) => break,
                Err(e) => {
                    self.stamp(out, Event::Session(format!("undecodable frame: {e}")));
                    break;
                }
            };
            match msg {
                Ok(m) => self.note(m, out),
                Err(e) => self.stamp(out, Event::Session(format!("undecodable message: {e}"))),
            }
        }
        self.hardware_changes(out);
    }

    fn note(&mut self, msg: DeviceMsg, out: &mut Vec<Stamped>) {
        let event = match msg {
            DeviceMsg::AppLog(l) => Event::Log(l.line),
            DeviceMsg::Telemetry(batch) => {
                for s in batch.samples {
                    out.push(Stamped {
                        uptime_ms: s.uptime_ms,
                        event: Event::Sample { metric: s.metric, value: s.value },
                    });
                }
                if batch.dropped == 0 {
                    return;
                }
                Event::Dropped(batch.dropped)
            }
            DeviceMsg::AppStatus(s) => {
                self.state = Some(s.report.state);
                self.counters = s.report.counters.or(self.counters);
                match (s.report.state, s.reason) {
                    (AppState::Running, _) => Event::Running,
                    (_, Some(reason)) => Event::Failed(reason),
                    _ => return,
                }
            }
            DeviceMsg::Heartbeat(hb) => {
                if let Some(app) = hb.apps.into_iter().find(|a| a.app == APP) {
                    self.state = Some(app.state);
                    self.counters = app.counters.or(self.counters);
                }
                return;
            }
            DeviceMsg::DeployRejected(r) => {
                self.state = Some(AppState::Rejected);
                Event::Rejected(r.reason)
            }
            DeviceMsg::MessageResult(r) => Event::Delivery(r.delivery),
            DeviceMsg::Error(e) => Event::Session(format!("{}: {}", e.code.as_str(), e.detail)),
            _ => return,
        };
        self.stamp(out, event);
    }

    fn hardware_changes(&mut self, out: &mut Vec<Stamped>) {
        let leds = self.hw.leds();
        for (i, (&now, &was)) in leds.iter().zip(&self.leds).enumerate() {
            if now != was {
                self.stamp(out, Event::Led { index: i as u8, on: now });
            }
        }
        self.leds = leds;
        for port in self.uarts.clone() {
            match self.hw.take_uart_output(port) {
                Ok(bytes) if !bytes.is_empty() => self.stamp(out, Event::Uart { port, bytes }),
                _ => {}
            }
        }
    }
}

fn uart_ports(hw: &SimPeripherals) -> Vec<u8> {
    use wasmbed_agent::Peripherals;
    (0..=u8::MAX).filter(|&p| hw.has(&Resource::Uart(p))).collect()
}

/// The capability groups a module's imports need (from the `wasmbed`
/// module), in number order; an import no capability provides is an error
/// naming it, as is a module that is not valid WebAssembly.
pub fn imported_groups(module: &[u8]) -> Result<Vec<Capability>, String> {
    let imports = wasmbed_agent::validate_module(module, Capability::ALL)?;
    let mut groups: Vec<Capability> = Capability::ALL
        .iter()
        .copied()
        .filter(|c| {
            imports.iter().any(|i| {
                i.strip_prefix(IMPORT_MODULE)
                    .and_then(|rest| rest.strip_prefix('.'))
                    .is_some_and(|name| c.imports().contains(&name))
            })
        })
        .collect();
    groups.sort();
    Ok(groups)
}
