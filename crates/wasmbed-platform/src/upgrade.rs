//! Upgrade steps run once as the platform starts, before its gateways
//! accept connections.
//!
//! Why: the gateway accepts only the certificate recorded on a Device
//! (`spec.identity`), and refuses a device with none recorded. Devices
//! created by a version of the platform from before identities were
//! recorded have none, although the PKI in the same data folder still
//! holds the certificate their bundle carries. Recording that certificate
//! lets them back in without fetching their bundle again; a device whose
//! certificate is not stored was never issued a bundle here and is left
//! alone. A Device that has an identity recorded is never changed.
//!
//! Guarantees: nothing is issued nor written in the PKI; an error on one
//! device is logged and the others are still upgraded; the platform starts
//! whatever fails here.

use std::time::SystemTime;

use tracing::{info, warn};
use wasmbed_model::{Store, record_identity};
use wasmbed_pki::Pki;

/// What [`record_stored_identities`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Recorded {
    /// Devices that had no identity and now have their stored one.
    pub(crate) recorded: usize,
    /// Devices without identity whose certificate the PKI does not hold.
    pub(crate) not_stored: usize,
    /// Devices that could not be upgraded (logged).
    pub(crate) failed: usize,
}

/// Records, on every Device without a recorded identity, the certificate
/// the PKI stores for it.
pub(crate) async fn record_stored_identities(store: &dyn Store, pki: &Pki) -> Recorded {
    let mut done = Recorded::default();
    let devices = match store.list_devices().await {
        Ok(d) => d,
        Err(e) => {
            warn!("upgrade: cannot list devices to record their stored certificates: {e}");
            return done;
        }
    };
    for d in devices.iter().filter(|d| d.spec.identity.is_none()) {
        let name = d.meta.name.as_str();
        let stored = match pki.stored_device_identity(name) {
            Ok(Some(id)) => id,
            Ok(None) => {
                done.not_stored += 1;
                continue;
            }
            Err(e) => {
                warn!(device = %name, "upgrade: cannot read its stored certificate: {e}");
                done.failed += 1;
                continue;
            }
        };
        // When it was issued is not recorded anywhere; the certificate says.
        let record = stored.issued_at().unwrap_or_else(|_| SystemTime::now());
        let identity = match stored.record(record) {
            Ok(id) => id,
            Err(e) => {
                warn!(device = %name, "upgrade: cannot read its stored certificate: {e}");
                done.failed += 1;
                continue;
            }
        };
        let fingerprint = identity.fingerprint.clone();
        match record_identity(store, name, identity).await {
            Ok(_) => {
                info!(device = %name, %fingerprint, "upgrade: recorded the certificate its bundle holds");
                done.recorded += 1;
            }
            Err(e) => {
                warn!(device = %name, "upgrade: cannot record its stored certificate: {e}");
                done.failed += 1;
            }
        }
    }
    if done != Recorded::default() {
        info!(
            recorded = done.recorded,
            without_stored_certificate = done.not_stored,
            failed = done.failed,
            "upgrade: devices without a recorded certificate"
        );
    }
    done
}
