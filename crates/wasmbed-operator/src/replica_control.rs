//! The control channel from the controller to the gateway replicas.
//!
//! In Kubernetes the controller serves the API but holds no device
//! session: those live in the gateway replicas. So each replica serves a
//! small HTTPS API on its control port, and the controller calls the
//! replica that holds a device's session for its terminal and for messages
//! to its apps, and follows every replica's app log lines and telemetry
//! samples into its own log and telemetry books (which feed the API's
//! logs and telemetry routes, `/metrics` and the event stream).
//!
//! - `POST /v1/terminal` `{"device","name","args"}`: the device's answer
//!   `{"outcome","output"}`; 409 when the device holds no session with
//!   this replica, 503 when it has too many commands in flight, 504 when
//!   it does not answer, 400 for a request that is not a command.
//! - `POST /v1/message` `{"device","app","payload":[bytes]}`: what became
//!   of it, `{"delivery"}` (`delivered`, `not-running`, `no-handler`,
//!   `failed`, `too-large`); 409, 503 and 504 as for the terminal.
//! - `GET /v1/logs`: app log lines as they arrive, one JSON object per
//!   line; an empty line every [`KEEPALIVE`] so a dead peer is noticed.
//! - `GET /v1/telemetry`: the samples the replica's devices publish, the
//!   same way (`{"device","app","revision","metric","tMs","value"}`).
//!
//! Trust: the replica presents the gateway certificate; the controller
//! verifies it against the platform CA under the gateway Service's name
//! while dialling the replica's own address (from its Gateway resource).
//! Callers authenticate with a bearer token both sides read from one
//! Secret; the replica compares SHA-256 digests, never the token itself.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, body::Body};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use wasmbed_api::{Delivery, TerminalAnswer, TerminalError};
use wasmbed_gateway::{CommandError, CommandLine, Gateway};
use wasmbed_model::{EventKind, LogBook, LogLine, Store, TelemetryBook, TelemetrySample};

/// The control port replicas listen on (the chart's default).
pub const CONTROL_PORT: u16 = 9443;
/// Largest request body a replica reads.
pub const MAX_REQUEST: usize = 4096;
/// How often an idle log stream sends an empty line.
pub const KEEPALIVE: Duration = Duration::from_secs(15);
/// A log stream silent for this long is taken as dead and dialled again.
const READ_TIMEOUT: Duration = Duration::from_secs(45);
/// Longest wait for a terminal answer (the gateway's own timeout is shorter).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest TLS handshake a replica waits for.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest line accepted from a replica's log stream.
const MAX_LOG_LINE: usize = 16 * 1024;

/// A terminal command for a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TerminalCall {
    /// The device.
    pub device: String,
    /// The command's name.
    pub name: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Vec<String>,
}

/// A message for an app on a device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageCall {
    /// The device.
    pub device: String,
    /// The app's slot.
    pub app: String,
    /// The message (at most `wasmbed_api::MAX_MESSAGE_LEN` bytes).
    pub payload: Vec<u8>,
}

/// A message for an edge application on the replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeMessageCall {
    /// The application's slot on the replica (`app`, or `app@device`).
    pub slot: String,
    /// The message (at most `wasmbed_api::MAX_MESSAGE_LEN` bytes).
    pub payload: Vec<u8>,
}

/// What became of a [`MessageCall`] or an [`EdgeMessageCall`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageAnswer {
    /// Delivered, or why the app did not take it.
    pub delivery: Delivery,
}

/// A replica's refusal or failure, with the reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ErrorReply {
    error: String,
}

fn error(status: StatusCode, why: impl Into<String>) -> Response {
    (status, Json(ErrorReply { error: why.into() })).into_response()
}

/// What a replica's control API needs.
#[derive(Clone)]
struct Replica {
    gateway: Arc<Gateway>,
    logs: Arc<LogBook>,
    telemetry: Arc<TelemetryBook>,
    token_sha256: [u8; 32],
    stop: watch::Receiver<bool>,
}

/// A replica's control API over its gateway, its log book and the
/// gateway's telemetry book; callers must present `token`. Streams end
/// when `stop` turns true.
pub fn router(gateway: Arc<Gateway>, logs: Arc<LogBook>, token: &str, stop: watch::Receiver<bool>) -> Router {
    let telemetry = gateway.telemetry().clone();
    let replica = Replica { gateway, logs, telemetry, token_sha256: Sha256::digest(token.as_bytes()).into(), stop };
    Router::new()
        .route("/v1/terminal", post(terminal))
        .route("/v1/message", post(message))
        .route("/v1/edge-message", post(edge_message))
        .route("/v1/logs", get(follow_logs))
        .route("/v1/telemetry", get(follow_telemetry))
        .layer(middleware::from_fn_with_state(replica.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_REQUEST))
        .with_state(replica)
}

async fn authorize(State(r): State<Replica>, req: Request, next: Next) -> Response {
    let presented = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    let ok = presented
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())) == r.token_sha256);
    if !ok {
        return error(StatusCode::UNAUTHORIZED, "a valid control token is required");
    }
    next.run(req).await
}

async fn terminal(State(r): State<Replica>, body: Result<Json<TerminalCall>, JsonRejection>) -> Response {
    let call = match body {
        Ok(Json(call)) => call,
        Err(e) => return error(e.status(), e.body_text()),
    };
    let line = match CommandLine::new(call.name, call.args) {
        Ok(line) => line,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match r.gateway.run_command(&call.device, line).await {
        Ok(reply) => {
            Json(TerminalAnswer { outcome: reply.outcome, output: reply.output, refused_by: None }).into_response()
        }
        Err(e @ CommandError::NotConnected(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ CommandError::Busy(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
    }
}

async fn message(State(r): State<Replica>, body: Result<Json<MessageCall>, JsonRejection>) -> Response {
    let call = match body {
        Ok(Json(call)) => call,
        Err(e) => return error(e.status(), e.body_text()),
    };
    match r.gateway.send_message(&call.device, &call.app, call.payload).await {
        Ok(reply) => Json(MessageAnswer { delivery: reply.delivery }).into_response(),
        Err(CommandError::MessageTooLarge(_)) => Json(MessageAnswer { delivery: Delivery::TooLarge }).into_response(),
        Err(e @ CommandError::NotConnected(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ CommandError::Busy(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
    }
}

async fn edge_message(State(r): State<Replica>, body: Result<Json<EdgeMessageCall>, JsonRejection>) -> Response {
    let call = match body {
        Ok(Json(call)) => call,
        Err(e) => return error(e.status(), e.body_text()),
    };
    match r.gateway.send_edge_message(&call.slot, call.payload).await {
        Ok(delivery) => Json(MessageAnswer { delivery }).into_response(),
        Err(CommandError::MessageTooLarge(_)) => Json(MessageAnswer { delivery: Delivery::TooLarge }).into_response(),
        Err(e @ CommandError::Busy(_)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        Err(e) => error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
    }
}

async fn follow_logs(State(r): State<Replica>) -> Response {
    ndjson(r.logs.follow(), r.stop)
}

async fn follow_telemetry(State(r): State<Replica>) -> Response {
    ndjson(r.telemetry.follow(), r.stop)
}

/// Each record `lines` receives as one JSON line, with a keepalive line
/// when idle, until `stop`.
fn ndjson<T: Serialize + Clone + Send + 'static>(
    lines: tokio::sync::broadcast::Receiver<T>,
    stop: watch::Receiver<bool>,
) -> Response {
    let state = (lines, stop);
    let stream = futures_util::stream::unfold(state, |(mut lines, mut stop)| async move {
        if *stop.borrow() {
            return None;
        }
        let chunk = tokio::select! {
            _ = stop.wait_for(|s| *s) => return None,
            next = tokio::time::timeout(KEEPALIVE, lines.recv()) => match next {
                Err(_) => "\n".to_owned(),
                Ok(Ok(line)) => serde_json::to_string(&line).map_or_else(|_| "\n".to_owned(), |j| j + "\n"),
                // Lines dropped for a slow reader: the stream goes on.
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => "\n".to_owned(),
                Ok(Err(tokio::sync::broadcast::error::RecvError::Closed)) => return None,
            },
        };
        Some((Ok::<_, std::convert::Infallible>(chunk), (lines, stop)))
    });
    ([(header::CONTENT_TYPE, "application/x-ndjson")], Body::from_stream(stream)).into_response()
}

/// Connections that finished their TLS handshake, for `axum::serve`.
struct TlsListener {
    ready: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The acceptor ended (listener failure): accept nothing more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// Serves `app` over TLS on `listener` until `stop` turns true. Each
/// handshake runs on its own task, so a slow client holds up no one.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let (tx, ready) = mpsc::channel(16);
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let accepting = tokio::spawn(async move {
        loop {
            let (tcp, peer) = tokio::select! {
                _ = tx.closed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::warn!("control port: accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send((tls, peer)).await;
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, "control port: TLS handshake refused: {e}"),
                    Err(_) => tracing::debug!(%peer, "control port: TLS handshake timed out"),
                }
            });
        }
    });
    let served = axum::serve(TlsListener { ready, local }, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    accepting.abort();
    served
}

/// Why the controller could not use a replica's control API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ControlError {
    /// The TLS configuration could not be made.
    #[error("control channel TLS: {0}")]
    Tls(String),
    /// The replica's address does not resolve.
    #[error("gateway address {0:?} does not resolve")]
    Address(String),
    /// The request failed on the way.
    #[error("control call to {addr}: {why}")]
    Transport {
        /// The replica.
        addr: SocketAddr,
        /// What failed.
        why: String,
    },
    /// The replica answered with an error.
    #[error("gateway {addr} answered {status}: {why}")]
    Refused {
        /// The replica.
        addr: SocketAddr,
        /// Its HTTP status.
        status: u16,
        /// Its reason.
        why: String,
    },
}

/// The controller's side of the control channel.
#[derive(Clone)]
pub struct ControlClient {
    tls: rustls::ClientConfig,
    server_name: String,
    port: u16,
    token: String,
}

impl std::fmt::Debug for ControlClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlClient").field("server_name", &self.server_name).field("port", &self.port).finish()
    }
}

impl ControlClient {
    /// Trusts replicas presenting a certificate for `server_name` signed by
    /// the CA in `ca_der`; calls them on `port` with `token`.
    pub fn new(ca_der: &[u8], server_name: &str, port: u16, token: &str) -> Result<Self, ControlError> {
        let tls = wasmbed_pki::tls::verifying_client_config(ca_der).map_err(|e| ControlError::Tls(e.to_string()))?;
        Ok(Self { tls, server_name: server_name.to_owned(), port, token: token.to_owned() })
    }

    /// The replica's control address: the host of its Gateway `endpoint`
    /// with the control port.
    async fn address(&self, endpoint: &str) -> Result<SocketAddr, ControlError> {
        let unresolved = || ControlError::Address(endpoint.to_owned());
        let mut addrs = tokio::net::lookup_host(endpoint).await.map_err(|_| unresolved())?;
        let mut addr = addrs.next().ok_or_else(unresolved)?;
        addr.set_port(self.port);
        Ok(addr)
    }

    fn http(&self, addr: SocketAddr, timeout: Option<Duration>) -> Result<reqwest::Client, ControlError> {
        let mut b = reqwest::Client::builder()
            .use_preconfigured_tls(self.tls.clone())
            .resolve(&self.server_name, addr)
            .connect_timeout(HANDSHAKE_TIMEOUT);
        b = match timeout {
            Some(t) => b.timeout(t),
            None => b.read_timeout(READ_TIMEOUT),
        };
        b.build().map_err(|e| ControlError::Tls(e.to_string()))
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}:{}{path}", self.server_name, self.port)
    }

    async fn refused(addr: SocketAddr, resp: reqwest::Response) -> ControlError {
        let status = resp.status().as_u16();
        let why = match resp.json::<ErrorReply>().await {
            Ok(e) => e.error,
            Err(_) => "no reason given".into(),
        };
        ControlError::Refused { addr, status, why }
    }

    /// Runs `call` on the replica at `endpoint`.
    pub async fn terminal(&self, endpoint: &str, call: &TerminalCall) -> Result<TerminalAnswer, ControlError> {
        self.call(endpoint, "/v1/terminal", call).await
    }

    /// Delivers `call` through the replica at `endpoint`.
    pub async fn message(&self, endpoint: &str, call: &MessageCall) -> Result<Delivery, ControlError> {
        self.call(endpoint, "/v1/message", call).await.map(|a: MessageAnswer| a.delivery)
    }

    /// Delivers `call` to an edge application on the replica at `endpoint`.
    pub async fn edge_message(&self, endpoint: &str, call: &EdgeMessageCall) -> Result<Delivery, ControlError> {
        self.call(endpoint, "/v1/edge-message", call).await.map(|a: MessageAnswer| a.delivery)
    }

    /// Posts `body` to `path` on the replica at `endpoint` and reads its answer.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ControlError> {
        let addr = self.address(endpoint).await?;
        let transport = |e: reqwest::Error| ControlError::Transport { addr, why: e.to_string() };
        let resp = self
            .http(addr, Some(CALL_TIMEOUT))?
            .post(self.url(path))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(Self::refused(addr, resp).await);
        }
        resp.json().await.map_err(transport)
    }

    /// Follows the replica's log lines into `logs` until its stream ends,
    /// fails or `stop` turns true. Lines that do not parse are skipped.
    pub async fn follow_logs(
        &self,
        endpoint: &str,
        logs: &LogBook,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ControlError> {
        self.follow(endpoint, "/v1/logs", |l: LogLine| logs.push(l), stop).await
    }

    /// Follows the replica's telemetry samples into `book`, as
    /// [`follow_logs`](Self::follow_logs) does log lines.
    pub async fn follow_telemetry(
        &self,
        endpoint: &str,
        book: &TelemetryBook,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ControlError> {
        self.follow(endpoint, "/v1/telemetry", |s: TelemetrySample| book.record([s]), stop).await
    }

    /// Hands each record of the replica's stream at `path` to `sink`.
    async fn follow<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        path: &str,
        mut sink: impl FnMut(T),
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), ControlError> {
        let addr = self.address(endpoint).await?;
        let transport = |e: reqwest::Error| ControlError::Transport { addr, why: e.to_string() };
        let mut resp =
            self.http(addr, None)?.get(self.url(path)).bearer_auth(&self.token).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(Self::refused(addr, resp).await);
        }
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let chunk = tokio::select! {
                _ = stop.wait_for(|s| *s) => return Ok(()),
                chunk = resp.chunk() => chunk.map_err(transport)?,
            };
            let Some(chunk) = chunk else { return Ok(()) };
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                match serde_json::from_slice::<T>(&line[..end]) {
                    Ok(record) => sink(record),
                    Err(_) if line.len() <= 1 => {} // keepalive
                    Err(e) => tracing::debug!(%addr, path, "skipping a line that does not parse: {e}"),
                }
            }
            if pending.len() > MAX_LOG_LINE {
                return Err(ControlError::Transport { addr, why: format!("a log line over {MAX_LOG_LINE} bytes") });
            }
        }
    }
}

/// Device terminals through the replica holding each device's session.
pub struct RemoteTerminal {
    store: Arc<dyn Store>,
    client: ControlClient,
}

impl std::fmt::Debug for RemoteTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTerminal").field("client", &self.client).finish_non_exhaustive()
    }
}

impl RemoteTerminal {
    /// Finds replicas through `store`'s Device and Gateway resources.
    pub fn new(store: Arc<dyn Store>, client: ControlClient) -> Self {
        Self { store, client }
    }

    /// The endpoint of the replica holding `device`'s session.
    async fn holder(&self, device: &str) -> Result<String, TerminalError> {
        let backend = |e: wasmbed_model::StoreError| TerminalError::NoAnswer(e.to_string());
        let d = self.store.get_device(device).await.map_err(backend)?.ok_or(TerminalError::NotConnected)?;
        let holder = d.status.session.gateway.filter(|_| d.status.session.connected);
        let Some(holder) = holder else { return Err(TerminalError::NotConnected) };
        let g = self.store.get_gateway(&holder).await.map_err(backend)?.ok_or(TerminalError::NotConnected)?;
        Ok(g.spec.endpoint)
    }
}

/// A replica's refusal as the terminal's error.
fn terminal_error(e: ControlError) -> TerminalError {
    match e {
        ControlError::Refused { status: 409, .. } => TerminalError::NotConnected,
        ControlError::Refused { status: 503, .. } => TerminalError::Busy,
        e => TerminalError::NoAnswer(e.to_string()),
    }
}

#[async_trait::async_trait]
impl wasmbed_api::Terminal for RemoteTerminal {
    async fn run(&self, device: &str, name: &str, args: &[String]) -> Result<TerminalAnswer, TerminalError> {
        let endpoint = self.holder(device).await?;
        let call = TerminalCall { device: device.to_owned(), name: name.to_owned(), args: args.to_vec() };
        self.client.terminal(&endpoint, &call).await.map_err(terminal_error)
    }

    async fn send_message(&self, device: &str, app: &str, payload: &[u8]) -> Result<Delivery, TerminalError> {
        let endpoint = self.holder(device).await?;
        let call = MessageCall { device: device.to_owned(), app: app.to_owned(), payload: payload.to_vec() };
        self.client.message(&endpoint, &call).await.map_err(terminal_error)
    }

    async fn send_edge_message(&self, gateway: &str, slot: &str, payload: &[u8]) -> Result<Delivery, TerminalError> {
        let backend = |e: wasmbed_model::StoreError| TerminalError::NoAnswer(e.to_string());
        let g = self.store.get_gateway(gateway).await.map_err(backend)?.ok_or(TerminalError::NotConnected)?;
        let call = EdgeMessageCall { slot: slot.to_owned(), payload: payload.to_vec() };
        self.client.edge_message(&g.spec.endpoint, &call).await.map_err(terminal_error)
    }
}

/// Where the controller keeps what the replicas' devices produce.
#[derive(Debug, Clone)]
pub struct Books {
    /// App log lines.
    pub logs: Arc<LogBook>,
    /// Telemetry samples.
    pub telemetry: Arc<TelemetryBook>,
}

/// Keeps one follower per Gateway resource and stream (log lines and
/// telemetry), feeding `books`; followers come and go with the resources
/// (event-driven, from the store's watch) and dial again with backoff when
/// their stream ends.
pub async fn collect_records(
    store: Arc<dyn Store>,
    client: ControlClient,
    books: Books,
    mut stop: watch::Receiver<bool>,
) {
    use std::collections::BTreeMap;
    let mut followers: BTreeMap<String, (String, tokio::task::JoinHandle<()>)> = BTreeMap::new();
    let mut events = store.watch();
    loop {
        match store.list_gateways().await {
            Ok(gateways) => {
                let wanted: BTreeMap<String, String> =
                    gateways.into_iter().map(|g| (g.meta.name, g.spec.endpoint)).collect();
                followers.retain(|name, (endpoint, task)| {
                    let keep = wanted.get(name) == Some(endpoint);
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                for (name, endpoint) in wanted {
                    if followers.contains_key(&name) {
                        continue;
                    }
                    let task = tokio::spawn(follow_one(
                        client.clone(),
                        name.clone(),
                        endpoint.clone(),
                        books.clone(),
                        stop.clone(),
                    ));
                    followers.insert(name, (endpoint, task));
                }
            }
            Err(e) => tracing::warn!("listing gateways for their logs: {e}"),
        }
        // Wait for a gateway's spec to change (or a re-list after lag).
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => {
                    for (_, (_, task)) in followers {
                        task.abort();
                    }
                    return;
                }
                event = events.recv() => match event {
                    Ok(e) if e.kind == EventKind::Gateway && !e.status_only => break,
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                },
            }
        }
    }
}

/// What a follower follows.
#[derive(Debug, Clone, Copy)]
enum Stream {
    Logs,
    Telemetry,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Self::Logs => "log",
            Self::Telemetry => "telemetry",
        }
    }
}

/// Both of one replica's streams, each dialled again when it ends.
async fn follow_one(client: ControlClient, name: String, endpoint: String, books: Books, stop: watch::Receiver<bool>) {
    let logs = follow_again(&client, &name, &endpoint, &books, Stream::Logs, stop.clone());
    let telemetry = follow_again(&client, &name, &endpoint, &books, Stream::Telemetry, stop);
    tokio::join!(logs, telemetry);
}

/// Follows one of the replica's streams, again with backoff each time it
/// ends, until `stop`.
async fn follow_again(
    client: &ControlClient,
    name: &str,
    endpoint: &str,
    books: &Books,
    stream: Stream,
    mut stop: watch::Receiver<bool>,
) {
    let what = stream.name();
    let mut delay = Duration::from_millis(500);
    loop {
        let started = tokio::time::Instant::now();
        let followed = match stream {
            Stream::Logs => client.follow_logs(endpoint, &books.logs, &mut stop).await,
            Stream::Telemetry => client.follow_telemetry(endpoint, &books.telemetry, &mut stop).await,
        };
        match followed {
            Ok(()) => tracing::debug!(gateway = %name, "{what} stream ended"),
            Err(e) => tracing::debug!(gateway = %name, "{what} stream: {e}"),
        }
        if *stop.borrow() {
            return;
        }
        // A stream that lasted is not a failure: start the backoff again.
        if started.elapsed() > Duration::from_secs(60) {
            delay = Duration::from_millis(500);
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(30));
    }
}
