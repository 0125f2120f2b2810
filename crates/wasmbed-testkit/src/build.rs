//! Resource builders with the defaults most tests want.

use wasmbed_model::{
    AppObservation, AppState, Application, ApplicationSpec, Device, DeviceSpec, Gateway, GatewaySpec, GatewayStatus,
    Meta, SIM_BOARD,
};

/// Adjusts a value in one expression: `device("d").with(|d| d.spec.board = "mps2-an385".into())`.
pub trait With: Sized {
    /// `self`, changed by `f`.
    fn with(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

impl<T> With for T {}

/// A simulated device named `name`, no labels, no gateway, nothing observed.
pub fn device(name: &str) -> Device {
    Device {
        meta: Meta::named(name),
        spec: DeviceSpec { board: SIM_BOARD.into(), ..Default::default() },
        status: Default::default(),
    }
}

/// An app slot as a device reports it (version `1`, no digest, no reason).
pub fn observation(slot: &str, revision: Option<u64>, state: AppState) -> AppObservation {
    AppObservation {
        name: slot.into(),
        version: "1".into(),
        digest: String::new(),
        state,
        revision,
        reason: None,
        counters: None,
        metrics: Default::default(),
    }
}

/// A gateway on `127.0.0.1:port` (QEMU devices dial `10.0.2.2:port`) taking
/// `capacity` sessions, reporting every second, last seen at time 0.
pub fn gateway(name: &str, port: u16, capacity: u32) -> Gateway {
    Gateway {
        meta: Meta::named(name),
        spec: GatewaySpec {
            endpoint: format!("127.0.0.1:{port}"),
            device_endpoint: Some(wasmbed_model::guest_loopback(port)),
            board_link_endpoint: None,
            capacity,
        },
        status: GatewayStatus { last_seen_ms: Some(0), report_ms: Some(1000), ..Default::default() },
    }
}

/// Application `name`, version `version` of the module whose digest is
/// `digest` (hex), targeting `app=demo` with the default strategy.
pub fn application(name: &str, version: &str, digest: &str) -> Application {
    let mut spec = ApplicationSpec::new(version, digest, 100);
    spec.selector = "app=demo".into();
    Application { meta: Meta::named(name), spec, status: Default::default() }
}
