//! A device's TLS connection, holding no buffer while the session is idle.
//!
//! rustls' buffered `ServerConnection` (what tokio-rustls wraps) keeps a
//! 4 KiB receive buffer for the life of every connection, even when no
//! byte is pending. Ten thousand idle sessions held 40 MB in those buffers
//! alone. [`DeviceTls`] drives rustls' unbuffered API instead: bytes from
//! the socket are read into a buffer on the stack and only what rustls has
//! not yet consumed (a partial record) is kept; decrypted bytes the session
//! has not read yet and encrypted bytes the socket has not taken yet are
//! kept in buffers freed as soon as they are empty. An idle session holds
//! rustls' keys and state and nothing else.
//!
//! Records are whatever the device sends (rustls bounds them: a record
//! longer than TLS allows is an error before it is buffered whole) and at
//! most the `ServerConfig`'s `max_fragment_size` towards it, as before.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Bytes read from the socket at a time, into a buffer on the stack.
const READ_CHUNK: usize = 4096;

/// Plaintext encrypted per write: what rustls splits into records.
const WRITE_CHUNK: usize = 16 * 1024;

/// A server-side TLS connection over `IO` (see the module documentation).
pub(crate) struct DeviceTls<IO> {
    io: IO,
    conn: UnbufferedServerConnection,
    /// TLS bytes received and not yet consumed by rustls (a partial record).
    incoming: Vec<u8>,
    /// TLS bytes to send, from `sent` on.
    outgoing: Vec<u8>,
    sent: usize,
    /// Decrypted bytes not yet read, from `read` on.
    plaintext: Vec<u8>,
    read: usize,
    /// The device closed its side (close_notify or end of stream).
    peer_closed: bool,
    /// Our close_notify is queued.
    close_queued: bool,
}

/// Where rustls stopped.
enum Step {
    /// It needs more bytes from the device to finish the handshake.
    NeedBytes,
    /// Handshake done and every complete record consumed.
    Ready,
    /// Both sides closed.
    Closed,
}

/// What to do once rustls is ready for application data.
#[derive(Clone, Copy)]
enum Want<'a> {
    Nothing,
    Encrypt(&'a [u8]),
    CloseNotify,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> DeviceTls<IO> {
    /// Runs the server side of the handshake on `io`. On a failed
    /// handshake the alert rustls prepared is sent before the error returns
    /// (callers bound the whole with a timeout).
    pub(crate) async fn accept(config: Arc<ServerConfig>, io: IO) -> io::Result<Self> {
        let conn = UnbufferedServerConnection::new(config).map_err(tls_error)?;
        let mut tls = Self {
            io,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            sent: 0,
            plaintext: Vec::new(),
            read: 0,
            peer_closed: false,
            close_queued: false,
        };
        loop {
            let step = match tls.drive(Want::Nothing) {
                Ok(step) => step,
                Err(e) => {
                    // rustls queues its alert on the next call, then fails again.
                    let _ = tls.drive(Want::Nothing);
                    let _ = poll_fn(|cx| tls.poll_send(cx)).await;
                    return Err(e);
                }
            };
            poll_fn(|cx| tls.poll_send(cx)).await?;
            match step {
                Step::Ready => return Ok(tls),
                Step::Closed => return Err(io::ErrorKind::UnexpectedEof.into()),
                Step::NeedBytes => {
                    if !poll_fn(|cx| tls.poll_receive(cx)).await? {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                }
            }
        }
    }

    /// The certificates the device presented, its own first.
    pub(crate) fn peer_certificates(&self) -> Option<&[CertificateDer<'static>]> {
        self.conn.peer_certificates()
    }

    pub(crate) fn get_mut(&mut self) -> &mut IO {
        &mut self.io
    }

    /// Runs rustls over what was received until it needs more bytes or is
    /// ready for application data, then does `want`.
    fn drive(&mut self, want: Want<'_>) -> io::Result<Step> {
        loop {
            let UnbufferedStatus { mut discard, state } = self.conn.process_tls_records(&mut self.incoming);
            let step = match state.map_err(tls_error)? {
                ConnectionState::ReadTraffic(mut traffic) => {
                    while let Some(record) = traffic.next_record() {
                        let record = record.map_err(tls_error)?;
                        discard += record.discard;
                        self.plaintext.extend_from_slice(record.payload);
                    }
                    None
                }
                ConnectionState::EncodeTlsData(mut data) => {
                    append(&mut self.outgoing, |out| match data.encode(out) {
                        Ok(n) => Ok(Ok(n)),
                        Err(EncodeError::InsufficientSize(e)) => Ok(Err(e.required_size)),
                        Err(e) => Err(io::Error::other(e.to_string())),
                    })?;
                    None
                }
                // Sent before the next read (`accept`) or with the next write.
                ConnectionState::TransmitTlsData(data) => {
                    data.done();
                    None
                }
                ConnectionState::PeerClosed => {
                    self.peer_closed = true;
                    None
                }
                ConnectionState::Closed => Some(Step::Closed),
                ConnectionState::BlockedHandshake => Some(Step::NeedBytes),
                ConnectionState::WriteTraffic(mut traffic) => {
                    match want {
                        Want::Nothing => {}
                        Want::Encrypt(plain) => append(&mut self.outgoing, |out| match traffic.encrypt(plain, out) {
                            Ok(n) => Ok(Ok(n)),
                            Err(EncryptError::InsufficientSize(e)) => Ok(Err(e.required_size)),
                            Err(e) => Err(io::Error::other(e.to_string())),
                        })?,
                        Want::CloseNotify => append(&mut self.outgoing, |out| match traffic.queue_close_notify(out) {
                            Ok(n) => Ok(Ok(n)),
                            Err(EncryptError::InsufficientSize(e)) => Ok(Err(e.required_size)),
                            Err(e) => Err(io::Error::other(e.to_string())),
                        })?,
                    }
                    Some(Step::Ready)
                }
                // Early data is off (the config accepts none).
                _ => return Err(io::Error::other("unexpected TLS state")),
            };
            self.incoming.drain(..discard.min(self.incoming.len()));
            if self.incoming.is_empty() {
                // The point of this type: no buffer while idle.
                self.incoming = Vec::new();
            }
            if let Some(step) = step {
                return Ok(step);
            }
        }
    }

    /// Writes what is queued for the device; frees the buffer once sent.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.outgoing.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.outgoing[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.outgoing = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }

    /// Reads what the socket has into `incoming`; false at its end.
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let mut chunk = [0u8; READ_CHUNK];
        let mut buf = ReadBuf::new(&mut chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        self.incoming.extend_from_slice(buf.filled());
        Poll::Ready(Ok(!buf.filled().is_empty()))
    }
}

/// Appends what `write` puts in a buffer to `out`, growing it to the size
/// `write` asks for (`Ok(Err(size))`).
fn append(out: &mut Vec<u8>, mut write: impl FnMut(&mut [u8]) -> io::Result<Result<usize, usize>>) -> io::Result<()> {
    let start = out.len();
    let mut room = 64;
    loop {
        out.resize(start + room, 0);
        match write(&mut out[start..]) {
            Ok(Ok(n)) => {
                out.truncate(start + n);
                return Ok(());
            }
            Ok(Err(size)) if size > room => room = size,
            Ok(Err(_)) => {
                out.truncate(start);
                return Err(io::Error::other("rustls asked for no more room than it had"));
            }
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        }
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for DeviceTls<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.read < this.plaintext.len() {
                let n = buf.remaining().min(this.plaintext.len() - this.read);
                buf.put_slice(&this.plaintext[this.read..this.read + n]);
                this.read += n;
                if this.read == this.plaintext.len() {
                    this.plaintext = Vec::new();
                    this.read = 0;
                }
                return Poll::Ready(Ok(()));
            }
            if this.peer_closed {
                return Poll::Ready(Ok(()));
            }
            // What rustls queued on its own (an alert, a key update) goes
            // out before we wait for the device; a slow socket does not
            // hold the read.
            if let Poll::Ready(Err(e)) = this.poll_send(cx) {
                return Poll::Ready(Err(e));
            }
            if !ready!(this.poll_receive(cx))? {
                // The end of the stream without close_notify.
                this.peer_closed = true;
                return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
            }
            if let Step::Closed = this.drive(Want::Nothing)? {
                this.peer_closed = true;
            }
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for DeviceTls<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        // What was encrypted before goes first: the socket's pace is the
        // writer's (the session's write timeout counts on it).
        ready!(this.poll_send(cx))?;
        let take = data.len().min(WRITE_CHUNK);
        match this.drive(Want::Encrypt(&data[..take]))? {
            Step::Ready => {}
            Step::NeedBytes | Step::Closed => return Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
        if let Poll::Ready(Err(e)) = this.poll_send(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(take))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.close_queued {
            this.close_queued = true;
            this.drive(Want::CloseNotify)?;
        }
        ready!(this.poll_send(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, duplex};
    use tokio_rustls::TlsConnector;
    use tokio_rustls::client::TlsStream;

    use super::*;

    /// A device (tokio-rustls) and the gateway's side over a pipe of `pipe` bytes.
    async fn pair(pipe: usize) -> (TlsStream<DuplexStream>, DeviceTls<DuplexStream>, tempfile::TempDir) {
        let tmp = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let pki = wasmbed_pki::Pki::open_or_create(tmp.path(), now).unwrap();
        let server = pki.gateway_identity(&["127.0.0.1".into()], now).unwrap();
        let device = pki.device_identity("dev-1", now).unwrap();
        let server = wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server).unwrap();
        let client = TlsConnector::from(wasmbed_pki::tls::client_config(pki.ca_cert_der(), &device).unwrap());
        let (near, far) = duplex(pipe);
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let (device, gateway) = tokio::join!(client.connect(name, near), DeviceTls::accept(server, far));
        (device.unwrap(), gateway.unwrap(), tmp)
    }

    fn idle(tls: &DeviceTls<DuplexStream>) -> bool {
        tls.incoming.capacity() == 0 && tls.outgoing.capacity() == 0 && tls.plaintext.capacity() == 0
    }

    #[tokio::test]
    async fn an_idle_connection_holds_no_buffer() {
        let (mut device, mut gateway, _tmp) = pair(64 * 1024).await;
        let id = gateway.peer_certificates().and_then(|c| c.first()).map(|c| wasmbed_pki::device_id_from_cert(c));
        assert_eq!(id.unwrap().unwrap(), "dev-1");
        device.write_all(b"heartbeat").await.unwrap();
        device.flush().await.unwrap();
        let mut buf = [0u8; 9];
        gateway.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"heartbeat");
        gateway.write_all(b"welcome").await.unwrap();
        gateway.flush().await.unwrap();
        let mut buf = [0u8; 7];
        device.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"welcome");
        assert!(idle(&gateway), "buffers held after the exchange");
    }

    #[tokio::test]
    async fn large_writes_through_a_narrow_pipe_arrive_whole_and_in_order() {
        let (mut device, mut gateway, _tmp) = pair(1024).await;
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let sent = data.clone();
        let writer = tokio::spawn(async move {
            gateway.write_all(&sent).await.unwrap();
            gateway.flush().await.unwrap();
            gateway
        });
        let mut got = vec![0u8; data.len()];
        device.read_exact(&mut got).await.unwrap();
        assert!(got == data);
        let mut gateway = writer.await.unwrap();
        // And the other way, more than a record at a time.
        let up = data[..20_000].to_vec();
        let reader = tokio::spawn(async move {
            let mut got = vec![0u8; up.len()];
            gateway.read_exact(&mut got).await.unwrap();
            assert!(got == up);
            gateway
        });
        device.write_all(&data[..20_000]).await.unwrap();
        device.flush().await.unwrap();
        let gateway = reader.await.unwrap();
        assert!(idle(&gateway));
    }

    #[tokio::test]
    async fn both_sides_see_a_clean_close() {
        let (mut device, mut gateway, _tmp) = pair(64 * 1024).await;
        gateway.shutdown().await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(device.read(&mut buf).await.unwrap(), 0, "close_notify, not a truncation");
        device.shutdown().await.unwrap();
        assert_eq!(gateway.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_client_without_a_certificate_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let pki = wasmbed_pki::Pki::open_or_create(tmp.path(), now).unwrap();
        let server = pki.gateway_identity(&["127.0.0.1".into()], now).unwrap();
        let server = wasmbed_pki::tls::server_config(pki.ca_cert_der(), &server).unwrap();
        let client =
            TlsConnector::from(Arc::new(wasmbed_pki::tls::verifying_client_config(pki.ca_cert_der()).unwrap()));
        let (near, far) = duplex(64 * 1024);
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let device = async {
            let mut s = client.connect(name, near).await?;
            // TLS 1.3: the refusal arrives after the client's Finished.
            let mut buf = [0u8; 1];
            s.read(&mut buf).await
        };
        let (device, gateway) = tokio::join!(device, DeviceTls::accept(server, far));
        assert!(gateway.is_err());
        let alert = device.unwrap_err().to_string();
        assert!(alert.contains("CertificateRequired") || alert.contains("certificate"), "{alert}");
    }
}
