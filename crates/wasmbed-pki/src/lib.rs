//! The Wasmbed platform PKI: one CA, kept in a directory, that issues the
//! gateway's server certificate and each device's client certificate, and
//! the rustls configurations with which they authenticate each other.
//!
//! All keys are P-256. Files are PEM with owner-only private keys (see
//! [`Pki`] for the layout). Callers pass the time in; key generation draws
//! from the operating system's random source.
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

mod error;
mod files;
mod identity;
mod pki;
pub mod tls;

pub use error::PkiError;
pub use identity::{Identity, MAX_DEVICE_ID_LEN, device_id_from_cert, validate_device_id};
pub use pki::{
    BACKDATE, CA_COMMON_NAME, CA_LIFETIME, DEVICE_DNS_SUFFIX, GATEWAY_COMMON_NAME, LEAF_LIFETIME, Pki, RENEW_BEFORE,
};
