//! The gateway's end of a board link: what drives an attached board (the
//! stm32vldiscovery) over the byte stream QEMU carries its USART1 on.
//!
//! Layers, from the wire up:
//! - `wasmbed-boardlink`: frames, messages, the sans-IO [`Client`];
//! - [`attach`]: authenticates the board on an accepted stream (a random
//!   challenge from the caller's RNG, resent until answered, since a board
//!   that is still booting drops what arrives before its USART is on);
//!   [`attach_claimed`] does the same for a board not known in advance,
//!   looking its key up by the id its proof claims;
//! - [`BoardLink`]: a cloneable handle; [`BoardLink::call`] sends one
//!   request and awaits its answer under a deadline. Calls are serialized
//!   (the board serves one at a time); one task owns the stream, so the
//!   board's events ([`Event::TimerFired`]) are read while nobody calls,
//!   and come out of the [`Events`] channel.
//!
//! What it guarantees:
//! - Noise, damaged, truncated, replayed and stale frames are skipped and
//!   counted ([`LinkStats`]); they never answer a call.
//! - A call ends by its deadline: with the answer, [`LinkError::Timeout`]
//!   (a late answer is then skipped as stale), or, when the stream ends
//!   under it, [`LinkError::Disconnected`] at once. After that every call
//!   fails with `Disconnected`; a board that comes back (QEMU restarted)
//!   is attached again on its new stream.
//! - A board that forgot the session (it restarted on the same stream)
//!   makes the call fail with [`LinkError::SessionLost`] and closes the
//!   link, so its owner attaches again.
//! - Bytes from outside never panic this crate.
//!
//! What it assumes: the stream reaches only the board (a QEMU serial port
//! on the gateway's loopback). The board proves its key; the wire is not
//! encrypted and the gateway is not authenticated (see `wasmbed-boardlink`).
//!
//! ```
//! use rand::SeedableRng;
//! use wasmbed_attach::*;
//! use wasmbed_boardlink::*;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let board = Provisioning::new(BoardId::new(b"vld-1").unwrap(), BoardKey::new([7; 32]));
//! let (gateway_end, board_end) = tokio::io::duplex(1024);
//! # tokio::spawn(async move {
//! #     use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! #     let (mut board_end, mut server) = (board_end, Server::new(BoardKey::new([7; 32]), BoardId::new(b"vld-1").unwrap()));
//! #     let (mut deframer, mut buf, mut out) = (Deframer::new(), [0u8; 512], [0u8; MAX_WIRE_LEN]);
//! #     loop {
//! #         let Ok(n) = board_end.read(&mut buf).await else { return };
//! #         if n == 0 { return; }
//! #         let mut input = &buf[..n];
//! #         while let Some(Ok(frame)) = deframer.feed(&mut input) {
//! #             let len = match server.receive(&frame, &mut out) {
//! #                 Step::Reply(m) => m,
//! #                 Step::Serve { seq, .. } => server.respond(seq, &Response::Uptime { ms: 42 }, &mut out).unwrap(),
//! #                 Step::Refused { reply, .. } => reply,
//! #             };
//! #             let _ = board_end.write_all(&out[..len]).await;
//! #         }
//! #     }
//! # });
//! let mut rng = rand::rngs::StdRng::seed_from_u64(1);
//! let (link, _events) = attach(gateway_end, &board, &mut rng, LinkConfig::default()).await.unwrap();
//! assert_eq!(link.call(Request::Uptime).await.unwrap(), OwnedResponse::Uptime { ms: 42 });
//! # }
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
pub use wasmbed_boardlink::{BoardId, Event, Provisioning, Readback, Request};
use wasmbed_boardlink::{
    BoardKey, CHALLENGE_LEN, Client, ClientError, ClientState, Deframer, EncodeError, ErrorCode, Incoming,
    MAX_WIRE_LEN, Response,
};

/// How long things may take on a board link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkConfig {
    /// How long [`attach`] waits for the board's proof, in all.
    pub hello_deadline: Duration,
    /// How long before a Hello is resent with a fresh challenge (a booting
    /// board drops what arrives before its USART is on).
    pub hello_retry: Duration,
    /// A call's deadline unless [`BoardLink::call_within`] says otherwise.
    pub call_deadline: Duration,
    /// Events held for the [`Events`] receiver; more are dropped and counted.
    pub events: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            hello_deadline: Duration::from_secs(5),
            hello_retry: Duration::from_millis(50),
            call_deadline: Duration::from_secs(1),
            events: 64,
        }
    }
}

impl LinkConfig {
    /// This configuration with calls bounded by `deadline`.
    pub fn with_call_deadline(mut self, deadline: Duration) -> Self {
        self.call_deadline = deadline;
        self
    }

    /// This configuration with the proof awaited at most `deadline`.
    pub fn with_hello_deadline(mut self, deadline: Duration) -> Self {
        self.hello_deadline = deadline;
        self
    }
}

/// Why a board was not attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The board answered the challenge wrongly: it does not hold the
    /// provisioned key.
    #[error("the board answered the challenge wrongly: it does not hold the provisioned key")]
    BadProof,
    /// The board proved a key, but under another board's id.
    #[error("the board answered the challenge as another board")]
    WrongBoard,
    /// The board claimed an id no key is provisioned for
    /// ([`attach_claimed`]).
    #[error("the board claims to be {0:?}, which no key is provisioned for")]
    UnknownBoard(BoardId),
    /// The board refused the challenge.
    #[error("the board refused the challenge: {0}")]
    Refused(ErrorCode),
    /// No proof came within the hello deadline.
    #[error("no answer to the challenge within {0:?}")]
    Timeout(Duration),
    /// The stream ended before the board answered.
    #[error("the board link closed before the board answered the challenge")]
    Disconnected,
    /// The stream failed.
    #[error("board link I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a call did not get its answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// The stream ended: the board was unplugged or its QEMU stopped.
    #[error("the board link is closed: the board was unplugged or stopped")]
    Disconnected,
    /// No answer within the call's deadline.
    #[error("the board did not answer within {0:?}")]
    Timeout(Duration),
    /// The board refused the request.
    #[error("the board refused the request: {0}")]
    Refused(ErrorCode),
    /// The board no longer knows the session (it restarted); the link is
    /// closed, attach again.
    #[error("the board lost the session (it restarted): attach it again")]
    SessionLost,
    /// A Hello is [`attach`]'s to send.
    #[error("a Hello opens a session: use attach")]
    Hello,
    /// The request cannot be sent (data over the frame's limit).
    #[error("request not sent: {0}")]
    Encode(EncodeError),
    /// The answer to the call was not a valid response.
    #[error("bad answer from the board: {0}")]
    Protocol(ClientError),
}

/// A board's answer, owning its data.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OwnedResponse {
    /// Milliseconds since the board started.
    Uptime {
        /// The milliseconds.
        ms: u64,
    },
    /// Done as asked.
    Done,
    /// An LED's state.
    Led {
        /// Its number.
        led: u8,
        /// Lit or not.
        on: bool,
        /// Read from the pin, or the firmware's record (QEMU models no
        /// GPIO on the STM32F100: a shadow).
        readback: Readback,
    },
    /// Bytes queued on a UART (maybe fewer than sent).
    Written {
        /// How many.
        count: u8,
    },
    /// Bytes read from a UART or clocked in on an SPI bus.
    Data(Vec<u8>),
}

/// Frames the link skipped, by why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct LinkStats {
    /// Noise and damaged or truncated frames (failed COBS, length or CRC).
    pub bad_frames: u64,
    /// Intact frames refused as replayed or stale (a number not awaited).
    pub stale: u64,
    /// Intact frames that made no sense (undecodable, wrong kind).
    pub rejected: u64,
    /// Calls that ran out of time.
    pub timeouts: u64,
    /// Events dropped because the [`Events`] receiver was full or gone.
    pub events_dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    bad_frames: AtomicU64,
    stale: AtomicU64,
    rejected: AtomicU64,
    timeouts: AtomicU64,
    events_dropped: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> LinkStats {
        LinkStats {
            bad_frames: self.bad_frames.load(Relaxed),
            stale: self.stale.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            events_dropped: self.events_dropped.load(Relaxed),
        }
    }

    /// Counts a frame the client refused.
    fn refused(&self, e: &ClientError) {
        match e {
            ClientError::Stale { .. } | ClientError::StaleEvent { .. } => Self::add(&self.stale),
            _ => Self::add(&self.rejected),
        }
    }
}

/// The board's events, in the order it sent them.
pub type Events = mpsc::Receiver<Event>;

/// The stream halves, for the task that owns them.
struct Wire<S> {
    rd: ReadHalf<S>,
    wr: WriteHalf<S>,
    deframer: Deframer,
    buf: Box<[u8; READ_CHUNK]>,
}

/// Bytes read from the stream at a time.
const READ_CHUNK: usize = 1024;

/// Authenticates the board provisioned as `board` on `stream`, then hands
/// the stream to a task: the returned [`BoardLink`] calls the board, the
/// [`Events`] receiver gets its events. Challenges come from `rng`.
///
/// Errors: [`AttachError::BadProof`] when the board does not hold the key,
/// [`AttachError::Timeout`] when it never answers.
pub async fn attach<S, R>(
    stream: S,
    board: &Provisioning,
    rng: &mut R,
    config: LinkConfig,
) -> Result<(BoardLink, Events), AttachError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    R: rand::CryptoRng + ?Sized,
{
    let client = Client::new(board.key.clone(), board.board);
    attach_client(stream, client, None::<fn(&BoardId) -> Option<BoardKey>>, rng, config).await
}

/// Like [`attach`], for a stream from a board not known in advance (every
/// board reaches one listener): the board's proof names its id, `keys`
/// gives the key provisioned for that id, and the proof is then checked
/// against it. `keys` is asked once per proof received.
///
/// Errors as [`attach`]'s, and [`AttachError::UnknownBoard`] when `keys`
/// knows no key for the id the board claims.
pub async fn attach_claimed<S, R, K>(
    stream: S,
    keys: K,
    rng: &mut R,
    config: LinkConfig,
) -> Result<(BoardLink, Events), AttachError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    R: rand::CryptoRng + ?Sized,
    K: FnMut(&BoardId) -> Option<BoardKey>,
{
    // Never proves anything: every proof is re-keyed by `keys` before it
    // is checked, and an id `keys` does not know is refused first.
    let unknown = BoardId::new(&[]).map_err(|_| AttachError::Disconnected)?;
    let client = Client::new(BoardKey::new([0; wasmbed_boardlink::KEY_LEN]), unknown);
    attach_client(stream, client, Some(keys), rng, config).await
}

async fn attach_client<S, R, K>(
    stream: S,
    mut client: Client,
    mut keys: Option<K>,
    rng: &mut R,
    config: LinkConfig,
) -> Result<(BoardLink, Events), AttachError>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    R: rand::CryptoRng + ?Sized,
    K: FnMut(&BoardId) -> Option<BoardKey>,
{
    let (rd, wr) = tokio::io::split(stream);
    let mut wire = Wire { rd, wr, deframer: Deframer::new(), buf: Box::new([0; READ_CHUNK]) };
    let counters = Arc::new(Counters::default());
    let give_up = Instant::now() + config.hello_deadline;
    let mut out = [0u8; MAX_WIRE_LEN];
    // Bytes read after the proof, for the task.
    let leftover = 'proved: loop {
        let mut challenge = [0u8; CHALLENGE_LEN];
        rng.fill_bytes(&mut challenge);
        let Ok(n) = client.hello(challenge, &mut out) else { unreachable!("a Hello always fits MAX_WIRE_LEN") };
        let resend = (Instant::now() + config.hello_retry).min(give_up);
        tokio::time::timeout_at(give_up, wire.wr.write_all(&out[..n]))
            .await
            .map_err(|_| AttachError::Timeout(config.hello_deadline))??;
        loop {
            let read = tokio::select! {
                read = wire.rd.read(&mut wire.buf[..]) => read?,
                () = tokio::time::sleep_until(resend) => {
                    if resend >= give_up {
                        return Err(AttachError::Timeout(config.hello_deadline));
                    }
                    continue 'proved;
                }
            };
            if read == 0 {
                return Err(AttachError::Disconnected);
            }
            let mut input = &wire.buf[..read];
            while let Some(frame) = wire.deframer.feed(&mut input) {
                let Ok(frame) = frame else {
                    Counters::add(&counters.bad_frames);
                    continue;
                };
                if let (Some(keys), Some(claimed)) = (keys.as_mut(), client.claimed_board(&frame)) {
                    let key = keys(&claimed).ok_or(AttachError::UnknownBoard(claimed))?;
                    client.expect(key, claimed);
                }
                match client.receive(&frame) {
                    Ok(Incoming::Opened) => break 'proved input.to_vec(),
                    Ok(_) => Counters::add(&counters.rejected),
                    Err(ClientError::BadProof) => return Err(AttachError::BadProof),
                    Err(ClientError::WrongBoard) => return Err(AttachError::WrongBoard),
                    Err(ClientError::HelloRefused(code)) => return Err(AttachError::Refused(code)),
                    // Answers to earlier Hellos, noise that decodes: skip.
                    Err(e) => counters.refused(&e),
                }
            }
        }
    };
    let board = client.board();
    tracing::debug!(?board, "board attached");
    let (calls, queue) = mpsc::channel(16);
    let (events_tx, events) = mpsc::channel(config.events.max(1));
    let task = Task { wire, client, counters: counters.clone(), events: events_tx, waiting: None };
    tokio::spawn(task.run(queue, leftover));
    Ok((BoardLink { calls, counters, board, config }, events))
}

/// The gateway's handle on an attached board; clones share the link.
#[derive(Debug, Clone)]
pub struct BoardLink {
    calls: mpsc::Sender<Call>,
    counters: Arc<Counters>,
    board: BoardId,
    config: LinkConfig,
}

impl BoardLink {
    /// The board at the other end.
    pub fn board(&self) -> BoardId {
        self.board
    }

    /// Frames skipped so far.
    pub fn stats(&self) -> LinkStats {
        self.counters.snapshot()
    }

    /// Whether the link has ended (calls fail with `Disconnected`).
    pub fn is_closed(&self) -> bool {
        self.calls.is_closed()
    }

    /// Resolves once the link has ended: the stream closed or failed, or
    /// the board lost the session.
    pub async fn closed(&self) {
        self.calls.closed().await;
    }

    /// Sends `request` and awaits its answer within the configured call
    /// deadline (waiting for earlier calls included).
    pub async fn call(&self, request: Request<'_>) -> Result<OwnedResponse, LinkError> {
        self.call_within(request, self.config.call_deadline).await
    }

    /// As [`call`](Self::call), within `deadline`.
    pub async fn call_within(&self, request: Request<'_>, deadline: Duration) -> Result<OwnedResponse, LinkError> {
        let request = OwnedRequest::from(request)?;
        let until = Instant::now() + deadline;
        let (reply, answer) = oneshot::channel();
        let call = Call { request, until, deadline, reply };
        tokio::time::timeout_at(until, self.calls.send(call))
            .await
            .map_err(|_| LinkError::Timeout(deadline))?
            .map_err(|_| LinkError::Disconnected)?;
        match tokio::time::timeout_at(until, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(LinkError::Disconnected),
            Err(_) => Err(LinkError::Timeout(deadline)),
        }
    }
}

/// A request waiting for the link's task.
#[derive(Debug)]
struct Call {
    request: OwnedRequest,
    until: Instant,
    deadline: Duration,
    reply: oneshot::Sender<Result<OwnedResponse, LinkError>>,
}

/// A request sent, awaiting its answer.
#[derive(Debug)]
struct Waiting {
    until: Instant,
    deadline: Duration,
    reply: oneshot::Sender<Result<OwnedResponse, LinkError>>,
}

/// The one task that owns the stream.
struct Task<S> {
    wire: Wire<S>,
    client: Client,
    counters: Arc<Counters>,
    events: mpsc::Sender<Event>,
    waiting: Option<Waiting>,
}

/// Why the task stops.
enum End {
    /// The stream ended or failed: calls get `Disconnected`.
    Disconnected,
    /// The board forgot the session.
    SessionLost,
}

impl<S: AsyncRead + AsyncWrite> Task<S> {
    async fn run(mut self, mut queue: mpsc::Receiver<Call>, leftover: Vec<u8>) {
        let end = match self.take(&leftover) {
            Err(end) => end,
            Ok(()) => self.serve(&mut queue).await,
        };
        let error = match end {
            End::Disconnected => LinkError::Disconnected,
            End::SessionLost => LinkError::SessionLost,
        };
        if let Some(w) = self.waiting.take() {
            let _ = w.reply.send(Err(error));
        }
        // Calls queued behind it learn the link is gone.
        queue.close();
        while let Ok(call) = queue.try_recv() {
            let _ = call.reply.send(Err(LinkError::Disconnected));
        }
        tracing::debug!("board link closed");
    }

    async fn serve(&mut self, queue: &mut mpsc::Receiver<Call>) -> End {
        loop {
            let until = self.waiting.as_ref().map(|w| w.until);
            tokio::select! {
                read = self.wire.rd.read(&mut self.wire.buf[..]) => {
                    let n = match read {
                        Ok(0) | Err(_) => return End::Disconnected,
                        Ok(n) => n,
                    };
                    let bytes = self.wire.buf[..n].to_vec();
                    if let Err(end) = self.take(&bytes) {
                        return end;
                    }
                }
                call = queue.recv(), if self.waiting.is_none() => {
                    let Some(call) = call else { return End::Disconnected };
                    if let Err(end) = self.send(call).await {
                        return end;
                    }
                }
                () = tokio::time::sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => {
                    self.client.abandon();
                    Counters::add(&self.counters.timeouts);
                    if let Some(w) = self.waiting.take() {
                        let _ = w.reply.send(Err(LinkError::Timeout(w.deadline)));
                    }
                }
            }
        }
    }

    /// Sends a call's request, unless its caller gave up already.
    async fn send(&mut self, call: Call) -> Result<(), End> {
        if call.reply.is_closed() || Instant::now() >= call.until {
            return Ok(());
        }
        let mut out = [0u8; MAX_WIRE_LEN];
        let n = match self.client.request(&call.request.borrow(), &mut out) {
            Ok(n) => n,
            Err(ClientError::Encode(e)) => {
                let _ = call.reply.send(Err(LinkError::Encode(e)));
                return Ok(());
            }
            Err(e) => {
                let _ = call.reply.send(Err(LinkError::Protocol(e)));
                return Ok(());
            }
        };
        match tokio::time::timeout_at(call.until, self.wire.wr.write_all(&out[..n])).await {
            Ok(Ok(())) => {
                self.waiting = Some(Waiting { until: call.until, deadline: call.deadline, reply: call.reply });
                Ok(())
            }
            Ok(Err(_)) => {
                let _ = call.reply.send(Err(LinkError::Disconnected));
                Err(End::Disconnected)
            }
            Err(_) => {
                // Part of a frame may be out; the next starts with its own
                // delimiter, so the board loses only this one.
                self.client.abandon();
                Counters::add(&self.counters.timeouts);
                let _ = call.reply.send(Err(LinkError::Timeout(call.deadline)));
                Ok(())
            }
        }
    }

    /// Takes bytes from the board: answers, events, and what is skipped.
    fn take(&mut self, bytes: &[u8]) -> Result<(), End> {
        let mut input = bytes;
        while let Some(frame) = self.wire.deframer.feed(&mut input) {
            let Ok(frame) = frame else {
                Counters::add(&self.counters.bad_frames);
                continue;
            };
            match self.client.receive(&frame) {
                Ok(Incoming::Response(response)) => {
                    let answer = owned(response);
                    let lost = answer == Err(LinkError::Refused(ErrorCode::NotAuthenticated));
                    let answer = if lost { Err(LinkError::SessionLost) } else { answer };
                    if let Some(w) = self.waiting.take() {
                        let _ = w.reply.send(answer);
                    }
                    if lost {
                        return Err(End::SessionLost);
                    }
                }
                Ok(Incoming::Event(event)) => {
                    if self.events.try_send(event).is_err() {
                        Counters::add(&self.counters.events_dropped);
                    }
                }
                Ok(Incoming::Opened) => Counters::add(&self.counters.rejected),
                Err(e) => {
                    self.counters.refused(&e);
                    // The awaited number came with a bad message: the wait
                    // is over, with that error.
                    if self.client.state() == (ClientState::Open { outstanding: None })
                        && let Some(w) = self.waiting.take()
                    {
                        let _ = w.reply.send(Err(LinkError::Protocol(e)));
                    }
                }
            }
        }
        Ok(())
    }
}

/// A response as the caller gets it: refusals are errors.
fn owned(response: Response<'_>) -> Result<OwnedResponse, LinkError> {
    Ok(match response {
        Response::Uptime { ms } => OwnedResponse::Uptime { ms },
        Response::Done => OwnedResponse::Done,
        Response::Led { led, on, readback } => OwnedResponse::Led { led, on, readback },
        Response::Written { count } => OwnedResponse::Written { count },
        Response::Data { bytes } => OwnedResponse::Data(bytes.to_vec()),
        Response::Error(code) => return Err(LinkError::Refused(code)),
        // The client refuses a proof outside a Hello before it gets here.
        Response::Proof { .. } => return Err(LinkError::Protocol(ClientError::UnexpectedResponse)),
    })
}

/// A request the link's task can hold.
#[derive(Debug, Clone)]
enum OwnedRequest {
    Uptime,
    LedSet { led: u8, on: bool },
    LedGet { led: u8 },
    UartWrite { port: u8, bytes: Vec<u8> },
    UartRead { port: u8, max: u8 },
    SpiTransfer { bus: u8, bytes: Vec<u8> },
    TimerStart { timer: u8, period_ms: u32, periodic: bool },
    TimerStop { timer: u8 },
}

impl OwnedRequest {
    fn from(r: Request<'_>) -> Result<Self, LinkError> {
        Ok(match r {
            Request::Hello { .. } => return Err(LinkError::Hello),
            Request::Uptime => Self::Uptime,
            Request::LedSet { led, on } => Self::LedSet { led, on },
            Request::LedGet { led } => Self::LedGet { led },
            Request::UartWrite { port, bytes } => Self::UartWrite { port, bytes: bytes.to_vec() },
            Request::UartRead { port, max } => Self::UartRead { port, max },
            Request::SpiTransfer { bus, bytes } => Self::SpiTransfer { bus, bytes: bytes.to_vec() },
            Request::TimerStart { timer, period_ms, periodic } => Self::TimerStart { timer, period_ms, periodic },
            Request::TimerStop { timer } => Self::TimerStop { timer },
        })
    }

    fn borrow(&self) -> Request<'_> {
        match self {
            Self::Uptime => Request::Uptime,
            &Self::LedSet { led, on } => Request::LedSet { led, on },
            &Self::LedGet { led } => Request::LedGet { led },
            Self::UartWrite { port, bytes } => Request::UartWrite { port: *port, bytes },
            &Self::UartRead { port, max } => Request::UartRead { port, max },
            Self::SpiTransfer { bus, bytes } => Request::SpiTransfer { bus: *bus, bytes },
            &Self::TimerStart { timer, period_ms, periodic } => Request::TimerStart { timer, period_ms, periodic },
            &Self::TimerStop { timer } => Request::TimerStop { timer },
        }
    }
}
