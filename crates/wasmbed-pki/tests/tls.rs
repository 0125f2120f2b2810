//! Mutual TLS between a gateway config and device configs over real sockets
//! on 127.0.0.1: who is let in, who is refused, and that a refusal does not
//! stop the server from serving the next device.

// Helpers outside `#[test]` functions panic to fail the test, like the tests.
#![allow(clippy::unwrap_used)]

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rustls::{CertificateError, ClientConfig, RootCertStore};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use wasmbed_pki::{Pki, device_id_from_cert, tls};

const LIMIT: Duration = Duration::from_secs(10);

struct Gateway {
    _dir: tempfile::TempDir,
    pki: Pki,
    listener: TcpListener,
    acceptor: TlsAcceptor,
}

impl Gateway {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let pki = Pki::open_or_create(dir.path(), now).unwrap();
        let sans = ["localhost", "127.0.0.1", "10.0.2.2"].map(String::from);
        let identity = pki.gateway_identity(&sans, now).unwrap();
        let config = tls::server_config(pki.ca_cert_der(), &identity).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Gateway { _dir: dir, pki, listener, acceptor: TlsAcceptor::from(config) }
    }

    fn good_client(&self) -> Arc<ClientConfig> {
        let device = self.pki.device_identity("good-device", SystemTime::now()).unwrap();
        tls::client_config(self.pki.ca_cert_der(), &device).unwrap()
    }

    /// One connection: the server echoes one byte and reports the device id
    /// it authenticated; the client sends a byte and reads it back.
    async fn connect(&self, client: Arc<ClientConfig>) -> (io::Result<String>, io::Result<u8>) {
        let server = async {
            let (tcp, _) = self.listener.accept().await?;
            let mut tls = self.acceptor.accept(tcp).await?;
            let cert = tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .ok_or_else(|| io::Error::other("no peer certificate"))?;
            let device = device_id_from_cert(cert).map_err(io::Error::other)?;
            let byte = tls.read_u8().await?;
            tls.write_u8(byte).await?;
            tls.shutdown().await?;
            Ok(device)
        };
        let client = async {
            let addr = self.listener.local_addr()?;
            let tcp = TcpStream::connect(addr).await?;
            let name = ServerName::try_from("localhost").map_err(io::Error::other)?;
            let mut tls = TlsConnector::from(client).connect(name, tcp).await?;
            tls.write_u8(0x5a).await?;
            tls.flush().await?;
            tls.read_u8().await
        };
        let both = async { tokio::join!(server, client) };
        tokio::time::timeout(LIMIT, both).await.expect("handshake hung")
    }

    async fn assert_serves_good_client(&self) {
        let (server, client) = self.connect(self.good_client()).await;
        assert_eq!(server.unwrap(), "good-device");
        assert_eq!(client.unwrap(), 0x5a);
    }

    /// Connects with `client`: the side `refuser` fails with an error that
    /// `expected` accepts, the other side fails too, and the gateway still
    /// serves a good device afterwards.
    async fn assert_refused(
        &self,
        client: Arc<ClientConfig>,
        refuser: Side,
        expected: impl Fn(&rustls::Error) -> bool,
    ) {
        let (server, client) = self.connect(client).await;
        let (err, other_failed) = match refuser {
            Side::Server => (server.unwrap_err(), client.is_err()),
            Side::Client => (client.unwrap_err(), server.is_err()),
        };
        assert!(rustls_error(&err).is_some_and(expected), "{err:?}");
        assert!(other_failed);
        self.assert_serves_good_client().await;
    }

    /// A client config that trusts the gateway's CA, speaking only `version`.
    fn client_builder(
        &self,
        version: &'static rustls::SupportedProtocolVersion,
    ) -> rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert> {
        let mut roots = RootCertStore::empty();
        roots.add(self.pki.ca_cert_der().to_vec().into()).unwrap();
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots)
    }
}

/// The end of a connection that refuses the other.
enum Side {
    Server,
    Client,
}

/// The rustls error inside an I/O error from tokio-rustls.
fn rustls_error(err: &io::Error) -> Option<&rustls::Error> {
    err.get_ref()?.downcast_ref()
}

fn unknown_issuer(e: &rustls::Error) -> bool {
    matches!(e, rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer))
}

/// A second, unrelated CA (its directory lives as long as the first).
fn other_pki(now: SystemTime) -> (tempfile::TempDir, Pki) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::open_or_create(dir.path(), now).unwrap();
    (dir, pki)
}

#[tokio::test]
async fn good_client_round_trips_a_byte() {
    let gw = Gateway::start().await;
    gw.assert_serves_good_client().await;
    gw.assert_serves_good_client().await;
}

#[tokio::test]
async fn client_certificate_from_another_ca_is_refused() {
    let gw = Gateway::start().await;
    let now = SystemTime::now();
    let (_other_dir, other) = other_pki(now);
    let intruder = other.device_identity("good-device", now).unwrap();
    // The intruder trusts the real CA, so only its own certificate is wrong.
    let config = tls::client_config(gw.pki.ca_cert_der(), &intruder).unwrap();

    gw.assert_refused(config, Side::Server, unknown_issuer).await;
}

#[tokio::test]
async fn expired_client_certificate_is_refused() {
    let gw = Gateway::start().await;
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = gw.pki.issue_device_with_validity("old-device", now - 30 * day, now - day).unwrap();
    let config = tls::client_config(gw.pki.ca_cert_der(), &expired).unwrap();

    gw.assert_refused(config, Side::Server, |e| {
        matches!(
            e,
            rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. })
        )
    })
    .await;
}

#[tokio::test]
async fn client_without_certificate_is_refused() {
    let gw = Gateway::start().await;
    let config = gw.client_builder(&rustls::version::TLS13).with_no_client_auth();

    gw.assert_refused(Arc::new(config), Side::Server, |e| matches!(e, rustls::Error::NoCertificatesPresented)).await;
}

#[tokio::test]
async fn client_pinning_another_ca_refuses_the_gateway() {
    let gw = Gateway::start().await;
    let (_other_dir, other) = other_pki(SystemTime::now());
    // A genuine device identity, but the device pins a different CA.
    let device = gw.pki.device_identity("good-device", SystemTime::now()).unwrap();
    let config = tls::client_config(other.ca_cert_der(), &device).unwrap();

    gw.assert_refused(config, Side::Client, unknown_issuer).await;
}

#[tokio::test]
async fn tls12_client_is_refused() {
    let gw = Gateway::start().await;
    let device = gw.pki.device_identity("good-device", SystemTime::now()).unwrap();
    let config = gw
        .client_builder(&rustls::version::TLS12)
        .with_client_auth_cert(vec![device.cert()], device.private_key())
        .unwrap();

    gw.assert_refused(Arc::new(config), Side::Server, |e| matches!(e, rustls::Error::PeerIncompatible(_))).await;
}

/// A simulated device shows its certificate only to a gateway it
/// authenticated: TLS 1.3 sends it after the server's Certificate,
/// CertificateVerify and Finished, and rustls checks the first two before
/// the third. A server with another CA's certificate that asks for the
/// device's (and would accept it) gets none.
#[test]
fn a_refused_gateway_never_sees_the_device_certificate() {
    let now = SystemTime::now();
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::open_or_create(dir.path(), now).unwrap();
    let (_other_dir, other) = other_pki(now);
    let sans = ["localhost".to_string()];
    let device = tls::client_config(pki.ca_cert_der(), &pki.device_identity("good-device", now).unwrap()).unwrap();
    let shown = |gateway: &wasmbed_pki::Identity| {
        // It trusts this CA's devices: a certificate sent would be taken.
        let config = tls::server_config(pki.ca_cert_der(), gateway).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            sock.set_read_timeout(Some(LIMIT)).unwrap();
            let mut conn = rustls::ServerConnection::new(config).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut sock).is_err() {
                    break;
                }
            }
            conn.peer_certificates().map_or(0, <[_]>::len)
        });
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(LIMIT)).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = rustls::ClientConnection::new(device.clone(), name).unwrap();
        let mut client = Ok(());
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut sock) {
                client = Err(e);
                break;
            }
        }
        drop(sock);
        (client, server.join().unwrap())
    };
    let (client, certs) = shown(&pki.gateway_identity(&sans, now).unwrap());
    assert!(client.is_ok() && certs == 1, "the platform's own gateway gets it: {client:?} {certs}");
    let (client, certs) = shown(&other.gateway_identity(&sans, now).unwrap());
    let err = client.unwrap_err();
    assert!(rustls_error(&err).is_some_and(unknown_issuer), "{err:?}");
    assert_eq!(certs, 0, "the device showed its certificate to a gateway it refused");
}
