//! What the API test files share: an `ApiState` over a fresh store, PKI,
//! token file and audit log in a temporary folder, with an admin, an
//! operator and a viewer token. Each file changes what it tests.

// Test support: a broken fixture should panic loudly.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use wasmbed_api::{ApiState, AuditLog, EventHub, Role, Tokens};
use wasmbed_model::{LogBook, Store, TelemetryBook};

/// A running API's state and its tokens.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub store: Arc<dyn Store>,
    pub state: ApiState,
    pub admin: String,
    pub operator: String,
    pub viewer: String,
}

/// The state with nothing optional (no terminal, sensors, signing keys,
/// consoles or dashboard), `random` as its source of token secrets, then
/// `adjust`ed (given the temporary folder).
pub fn fixture(random: fn() -> [u8; 32], adjust: impl FnOnce(&mut ApiState, &Path)) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("s.redb")).unwrap();
    let pki = Arc::new(wasmbed_pki::Pki::open_or_create(&tmp.path().join("pki"), SystemTime::now()).unwrap());
    let tokens = Arc::new(Tokens::open(&tmp.path().join("tokens.json")).unwrap());
    let admin = tokens.ensure_admin([9; 32], 0).unwrap().unwrap();
    let operator = tokens.create("ops", Role::Operator, None, [8; 32], 0).unwrap().1;
    let viewer = tokens.create("watcher", Role::Viewer, None, [7; 32], 0).unwrap().1;
    let (logs, telemetry) = (Arc::new(LogBook::new(10)), Arc::new(TelemetryBook::default()));
    let mut state = ApiState {
        store: store.clone(),
        pki,
        logs: logs.clone(),
        telemetry: telemetry.clone(),
        tokens,
        audit: Arc::new(AuditLog::open(&tmp.path().join("audit.log")).unwrap()),
        events: EventHub::start(store.clone(), logs, telemetry, wasmbed_model::clock::system()),
        terminal: None,
        sensors: None,
        signing: None,
        gateway_port: 4443,
        gateway: Arc::new(Default::default),
        random: Arc::new(random),
        now: Arc::new(SystemTime::now),
        consoles: None,
        dashboard: None,
        counters: Arc::default(),
    };
    adjust(&mut state, tmp.path());
    Fixture { tmp, store, state, admin, operator, viewer }
}
