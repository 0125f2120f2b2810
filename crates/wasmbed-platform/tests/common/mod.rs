//! Shared by the platform's test files: simulated fleets and test apps.

#![allow(dead_code)] // each test file uses its own part

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::watch;
use wasmbed_model::{Application, ApplicationSpec, Device, Labels, Meta, Store, Strategy};
use wasmbed_platform::Platform;
use wasmbed_protocol::IdentityBundle;

/// Simulated devices, each with its own off switch.
pub struct Fleet {
    pub bundles: BTreeMap<String, IdentityBundle>,
    running: BTreeMap<String, watch::Sender<bool>>,
}

impl Fleet {
    pub async fn start(p: &Platform, prefix: &str, n: usize, labels: &[(&str, &str)]) -> Self {
        let labels: Labels = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let bundles = p.create_sim_devices(prefix, n, &labels).await.unwrap();
        let mut fleet =
            Self { bundles: bundles.into_iter().map(|b| (b.device_id.clone(), b)).collect(), running: BTreeMap::new() };
        let names: Vec<String> = fleet.bundles.keys().cloned().collect();
        for name in names {
            fleet.power_on(&name);
        }
        fleet
    }

    /// Boots a device (cold: no apps), or does nothing if it runs.
    pub fn power_on(&mut self, name: &str) {
        if self.running.contains_key(name) {
            return;
        }
        let (tx, rx) = watch::channel(false);
        let opts =
            wasmbed_sim::SimOptions::default().with_backoff(Duration::from_millis(50), Duration::from_millis(500));
        tokio::spawn(wasmbed_sim::run_device(self.bundles[name].clone(), opts, rx));
        self.running.insert(name.to_string(), tx);
    }

    /// Takes a device off the network (its session closes).
    pub fn power_off(&mut self, name: &str) {
        if let Some(tx) = self.running.remove(name) {
            let _ = tx.send(true);
        }
    }

    /// Devices of `bundles`, all off (power them on by name).
    pub fn of(bundles: impl IntoIterator<Item = IdentityBundle>) -> Self {
        Self { bundles: bundles.into_iter().map(|b| (b.device_id.clone(), b)).collect(), running: BTreeMap::new() }
    }

    pub fn names(&self) -> Vec<String> {
        self.bundles.keys().cloned().collect()
    }
}

/// The revision `app` runs on `d`, if its slot is running.
pub fn running_revision(d: &Device, slot: &str) -> Option<u64> {
    d.status.session.app(slot).filter(|a| a.state == wasmbed_model::AppState::Running).and_then(|a| a.revision)
}

/// Stores `module` and writes application `name` (as the API would).
pub async fn deploy(
    store: &Arc<dyn Store>,
    name: &str,
    version: &str,
    module: &[u8],
    selector: &str,
    strategy: Strategy,
    caps: &[&str],
) {
    let digest = hex::encode(Sha256::digest(module));
    store.put_module(&digest, module).await.unwrap();
    let existing = store.get_application(name).await.unwrap();
    let meta = existing.as_ref().map_or_else(|| Meta::named(name), |a| a.meta.clone());
    let mut spec = ApplicationSpec {
        selector: selector.into(),
        strategy,
        ..ApplicationSpec::new(version, &digest, module.len() as u32)
    };
    if !caps.is_empty() {
        spec.capabilities = caps.iter().map(|c| c.to_string()).collect();
    }
    spec.validate().unwrap();
    store.put_application(&Application { meta, spec, status: Default::default() }).await.unwrap();
}

#[allow(unused_imports)] // each test file uses its own part
pub use wasmbed_platform::fixtures::{APP_CAPS, app, traps_on};
