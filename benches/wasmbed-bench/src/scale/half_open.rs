//! The second client of `gateway-scale --half-open N`: it holds N
//! connections to the gateway that never finish a TLS handshake, from
//! another loopback address (127.0.0.2) as a second host would. Half say
//! nothing at all; half send a real ClientHello and then nothing (the
//! gateway has answered and waits for a certificate). A connection the
//! gateway closes is opened again a second later, so N stay in play for
//! the whole run.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls;

/// Where the half-open connections come from.
pub(crate) const SOURCE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// How long a closed connection waits before it is opened again.
const REOPEN_AFTER: Duration = Duration::from_secs(1);

/// What the client saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Connections opened (first and again).
    pub opened: AtomicU64,
    /// Connections the gateway closed.
    pub closed: AtomicU64,
}

/// The running client; stops when dropped.
pub(crate) struct HalfOpen {
    pub seen: Arc<Seen>,
    _stop: watch::Sender<bool>,
}

/// Opens `n` half-open connections to `gateway` and keeps them open.
pub(crate) fn start(gateway: SocketAddr, n: usize) -> Result<HalfOpen> {
    let hello: Arc<[u8]> = client_hello()?.into();
    let seen = Arc::new(Seen::default());
    let (stop_tx, stop) = watch::channel(false);
    for i in 0..n {
        let (hello, seen, mut stop) = (hello.clone(), seen.clone(), stop.clone());
        tokio::spawn(async move {
            while !*stop.borrow() {
                if let Ok(mut tcp) = open(gateway).await {
                    seen.opened.fetch_add(1, Ordering::Relaxed);
                    let said = if i % 2 == 1 { tcp.write_all(&hello).await } else { Ok(()) };
                    let mut buf = [0u8; 4096];
                    // Read (and drop) what the gateway says until it closes.
                    while said.is_ok() {
                        tokio::select! {
                            n = tcp.read(&mut buf) => if !matches!(n, Ok(1..)) { break },
                            _ = stop.changed() => return,
                        }
                    }
                    seen.closed.fetch_add(1, Ordering::Relaxed);
                }
                tokio::select! {
                    () = tokio::time::sleep(REOPEN_AFTER) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }
    Ok(HalfOpen { seen, _stop: stop_tx })
}

async fn open(gateway: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(SOURCE, 0))?;
    sock.connect(gateway).await
}

/// A TLS 1.3 ClientHello as any client would send first.
fn client_hello() -> Result<Vec<u8>> {
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").context("server name")?;
    let mut tls = rustls::ClientConnection::new(Arc::new(cfg), name)?;
    let mut hello = Vec::new();
    tls.write_tls(&mut hello)?;
    Ok(hello)
}
