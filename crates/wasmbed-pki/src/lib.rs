//! The Wasmbed platform PKI: one CA, kept in a directory, that issues the
//! gateway's server certificate and each device's client certificate, and
//! the rustls configurations with which they authenticate each other.
//!
//! All keys are P-256. Files are PEM with owner-only private keys (see
//! [`Pki`] for the layout). Callers pass the time in; key generation draws
//! from the operating system's random source.
//!
//! Where things live: `ca` opens or creates the CA ([`Pki`]); `gateway` and
//! `device` issue their identities (and `device` reads a stored one as it
//! is, and forgets them); `link` the link keys of attached boards; `leaf` is the one rule for issuing, storing and
//! reusing a leaf; `bundle` builds a device's
//! [`IdentityBundle`](wasmbed_protocol::IdentityBundle);
//! `validity` holds the lifetimes and the time conversions; `identity` the
//! [`Identity`] type and device ids; `fingerprint` how one certificate is
//! named ([`Fingerprint`]); `files` the owner-only file writes and the
//! directory lock; [`tls`] the rustls configurations.
//!
//! ```
//! use std::time::SystemTime;
//! use wasmbed_pki::{Pki, device_id_from_cert, tls};
//!
//! let dir = tempfile::tempdir()?;
//! let now = SystemTime::now();
//! let pki = Pki::open_or_create(&dir.path().join("pki"), now)?;
//!
//! let gateway = pki.gateway_identity(&["localhost".into(), "127.0.0.1".into()], now)?;
//! let device = pki.device_identity("sensor-1", now)?;
//! assert_eq!(device_id_from_cert(&device.cert_der)?, "sensor-1");
//!
//! let _server = tls::server_config(pki.ca_cert_der(), &gateway)?;
//! let _client = tls::client_config(pki.ca_cert_der(), &device)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod bundle;
mod ca;
mod device;
mod error;
mod files;
mod fingerprint;
mod gateway;
mod identity;
mod leaf;
mod link;
mod signing;
#[cfg(test)]
mod testing;
pub mod tls;
mod validity;

pub use ca::{CA_COMMON_NAME, Pki};
pub use device::DEVICE_DNS_SUFFIX;
pub use error::PkiError;
pub use fingerprint::Fingerprint;
pub use gateway::GATEWAY_COMMON_NAME;
pub use identity::{Identity, MAX_DEVICE_ID_LEN, device_id_from_cert, validate_device_id};
pub use link::{LINK_KEY_LEN, LinkKey};
pub use signing::AppSigning;
pub use validity::{BACKDATE, CA_LIFETIME, LEAF_LIFETIME, RENEW_BEFORE};
