//! rustls configurations for the gateway and for simulated devices.
//!
//! Guarantees: TLS 1.3 only, with the *ring* provider; each side trusts
//! exactly one CA, the platform CA it is given (no system roots); the gateway
//! requires a client certificate and verifies it, validity included, against
//! the current time on every connection (session resumption is off, so no
//! connection skips that check). Nothing here disables verification.
//!
//! Assumes: the caller maps an authenticated connection to a device with
//! [`device_id_from_cert`](crate::device_id_from_cert) and checks that the
//! device still exists, since certificates are not revoked.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{NoServerSessionStorage, WebPkiClientVerifier};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::CertificateDer;

use crate::{Identity, PkiError};

/// The gateway's configuration: presents `server` and requires a client
/// certificate signed by the CA in `ca_der`.
pub fn server_config(ca_der: &[u8], server: &Identity) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca_der)?), provider.clone()).build()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server.cert()], server.private_key())?;
    // A resumed session would skip the client certificate check (expiry included).
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A device's configuration (used by the host simulator): presents `client`
/// and accepts only a gateway certificate signed by the CA in `ca_der`.
pub fn client_config(ca_der: &[u8], client: &Identity) -> Result<Arc<ClientConfig>, PkiError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_der)?)
        .with_client_auth_cert(vec![client.cert()], client.private_key())?;
    Ok(Arc::new(config))
}

/// The platform's control channel, server side (a gateway replica's
/// control port): presents `server` and asks for no client certificate —
/// callers there authenticate with a bearer token instead.
pub fn token_server_config(server: &Identity) -> Result<Arc<ServerConfig>, PkiError> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(vec![server.cert()], server.private_key())?;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// The platform's control channel, client side (the controller): accepts
/// only a server certificate signed by the CA in `ca_der`, presents none.
pub fn verifying_client_config(ca_der: &[u8]) -> Result<ClientConfig, PkiError> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots(ca_der)?)
        .with_no_client_auth())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(ca_der: &[u8]) -> Result<RootCertStore, PkiError> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca_der.to_vec()))?;
    Ok(roots)
}
