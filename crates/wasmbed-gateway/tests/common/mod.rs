//! Shared by the gateway's test files: a gateway over a fresh store and
//! PKI on a free loopback port, with the control plane beside it (device
//! phases and desired apps are the control plane's output).

#![allow(dead_code)] // each test file uses its own part

use std::sync::Arc;

use std::time::SystemTime;
use tokio::sync::watch;
use wasmbed_gateway::{Gateway, GatewayConfig};
use wasmbed_model::clock;
use wasmbed_model::{Device, LogBook, Store};
use wasmbed_pki::{Identity, Pki};

pub struct Env {
    pub tmp: tempfile::TempDir,
    pub pki: Pki,
    pub store: Arc<dyn Store>,
    pub gw: Arc<Gateway>,
    pub addr: std::net::SocketAddr,
    pub stop: watch::Sender<bool>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
    /// Stops the control plane.
    _control: watch::Sender<bool>,
}

impl Env {
    /// Creates `device` with the identity the PKI holds for it recorded on
    /// its spec, as the platform's issuers do, and returns that identity.
    pub async fn create_device(&self, mut device: Device) -> Identity {
        let now = SystemTime::now();
        let id = self.pki.device_identity(&device.meta.name, now).expect("identity");
        device.spec.identity = Some(id.record(now).expect("record"));
        self.store.create_device(device).await.expect("create device");
        id
    }
}

pub async fn env(cfg: GatewayConfig) -> Env {
    env_with_clock(cfg, clock::system()).await
}

/// As [`env`], the gateway reading `gateway_clock` (the control plane keeps
/// the system clock).
pub async fn env_with_clock(cfg: GatewayConfig, gateway_clock: clock::Clock) -> Env {
    let tmp = tempfile::tempdir().expect("temp dir");
    let pki = Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).expect("pki");
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("s.redb")).expect("store");
    let server = pki.gateway_identity(&["127.0.0.1".into()], SystemTime::now()).expect("gateway identity");
    let tls = wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server).expect("tls config");
    let gw = Gateway::new(cfg, tls, store.clone(), Arc::new(LogBook::new(100)), Arc::default(), gateway_clock);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(gw.clone().run(listener, rx));
    let (control, rx) = watch::channel(false);
    let cfg = wasmbed_control::ControlConfig::default().with_tick_ms(50);
    tokio::spawn(wasmbed_control::run(store.clone(), clock::system(), cfg, rx));
    Env { tmp, pki, store, gw, addr, stop, task, _control: control }
}
