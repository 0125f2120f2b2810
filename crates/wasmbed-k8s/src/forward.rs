//! The device Pod's link forwarder.
//!
//! Inside a Pod, QEMU's user networking maps 10.0.2.2 to the Pod's own
//! loopback, and a UART link is a socket QEMU dials on 127.0.0.1. So the
//! device's way to the gateway is a TCP listener on the Pod's loopback
//! that relays each connection to the gateway Service. TLS runs end to end
//! between firmware and gateway; the forwarder sees only ciphertext.
//!
//! Guarantees: one upstream connection per accepted connection, both closed
//! together; the upstream name is resolved again for every connection (a
//! Service behind DNS may move); an upstream that cannot be reached closes
//! the device's connection, and the firmware's reconnect backoff (or
//! QEMU's socket reconnect) retries; accept errors never end the loop; on
//! shutdown the listener closes and the loop returns.

use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long one dial of the upstream may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Relays every connection accepted on `listener` to `upstream`
/// (`host:port`) until `shutdown` turns true.
pub async fn forward(listener: TcpListener, upstream: String, shutdown: watch::Receiver<bool>) {
    let mut stop = std::pin::pin!(crate::stopped(shutdown));
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    let upstream = upstream.clone();
                    tokio::spawn(async move {
                        if let Err(e) = relay(client, &upstream).await {
                            tracing::warn!(%peer, %upstream, "link closed: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut stop => return,
        }
    }
}

async fn relay(mut client: TcpStream, upstream: &str) -> std::io::Result<()> {
    let mut server = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(s) => s?,
        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "gateway did not answer")),
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::io::copy_bidirectional(&mut client, &mut server).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn echo() -> (String, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = l.accept().await else { return };
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = s.read(&mut buf).await {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, task)
    }

    #[tokio::test]
    async fn bytes_go_both_ways_and_each_connection_gets_its_own_upstream() {
        let (upstream, _echo) = echo().await;
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = l.local_addr().unwrap();
        let (stop, stop_rx) = watch::channel(false);
        let fwd = tokio::spawn(forward(l, upstream, stop_rx));
        let mut a = TcpStream::connect(local).await.unwrap();
        let mut b = TcpStream::connect(local).await.unwrap();
        a.write_all(b"hello").await.unwrap();
        b.write_all(b"world!").await.unwrap();
        let mut got = [0u8; 6];
        b.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"world!");
        a.read_exact(&mut got[..5]).await.unwrap();
        assert_eq!(&got[..5], b"hello");
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), fwd).await.unwrap().unwrap();
        assert!(TcpStream::connect(local).await.is_err(), "listener closed on shutdown");
    }

    #[tokio::test]
    async fn an_unreachable_gateway_closes_the_device_connection() {
        // A port nothing listens on: bind, learn it, close it.
        let dead = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().to_string();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = l.local_addr().unwrap();
        let (_stop, stop_rx) = watch::channel(false);
        tokio::spawn(forward(l, dead, stop_rx));
        let mut c = TcpStream::connect(local).await.unwrap();
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf)).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "closed, not hung: {n:?}");
    }
}
