//! The live event stream (`GET /api/v1/events`, server-sent events).
//!
//! One hub task follows the store's watch and the app log feed, reads each
//! changed resource once, serializes it once, and broadcasts the text to
//! every connected client, so a hundred clients cost one read and one
//! serialization per change. A client gets a `snapshot` of everything
//! first (it subscribes before reading it, so no change falls in between),
//! then the changes; one that falls behind gets a `lagged` event and should
//! re-read, or reconnect for a new snapshot. A stream ends when the token
//! that opened it is revoked. A device change that only
//! moves its heartbeat figures goes out as a small `heartbeat` event
//! (`{name, lastHeartbeatMs, uptimeMs, freeMemory}`) instead of the whole
//! device: a fleet heartbeats all the time. The hub also counts heartbeats
//! and app failures into the [`ActivityLog`] the snapshot carries.
//!
//! The hub follows the telemetry book too: each sample goes out as one
//! `telemetry` event ([`TelemetrySample`](wasmbed_model::TelemetrySample):
//! `{device, app, revision, metric, tMs, value}`), serialized once for
//! every client, and not at all while no client is connected. Samples the
//! hub falls behind on are skipped (counted in the book's series, not
//! re-sent); telemetry has no `lagged` of its own.

use crate::openapi::AuthErrors;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::StreamExt as _;
use futures_util::stream;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use wasmbed_model::clock::Clock;
use wasmbed_model::{Device, EventKind, LogBook, Store, TelemetryBook};

use crate::ApiState;
use crate::activity::{Activity, ActivityLog};
use crate::auth::Viewer;
use crate::handlers::ApiResult;

/// Changes buffered per client before it lags.
const BUFFER: usize = 4096;

/// One serialized event.
#[derive(Debug)]
pub struct Item {
    /// SSE event name.
    pub event: &'static str,
    /// JSON.
    pub data: String,
}

/// The fan-out of changes to event-stream clients.
#[derive(Debug)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<Item>>,
    activity: Arc<ActivityLog>,
    /// Ends every stream (the server is stopping: open streams would hold
    /// its graceful shutdown forever).
    closed: tokio::sync::watch::Sender<bool>,
}

/// A `deleted` event: a resource is gone.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Deleted<'a> {
    /// `device`, `application` or `gateway`.
    pub kind: &'static str,
    /// Its name.
    pub name: &'a str,
}

/// A `lagged` event: the client missed changes and should re-read.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Lagged {
    /// Changes missed.
    pub missed: u64,
}

/// The `snapshot` event: everything, then changes follow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Snapshot {
    /// Every device.
    pub devices: Vec<wasmbed_model::Device>,
    /// Every application.
    pub applications: Vec<wasmbed_model::Application>,
    /// Every gateway.
    pub gateways: Vec<wasmbed_model::Gateway>,
    /// Heartbeats and app failures of the last ten minutes.
    pub activity: Activity,
}

impl EventHub {
    /// Starts the hub task (on the current tokio runtime), following the
    /// store, the app logs and the telemetry book; `clock` dates the
    /// activity it counts.
    pub fn start(store: Arc<dyn Store>, logs: Arc<LogBook>, telemetry: Arc<TelemetryBook>, clock: Clock) -> Arc<Self> {
        let (tx, _) = broadcast::channel(BUFFER);
        let activity = Arc::new(ActivityLog::default());
        let hub =
            Arc::new(Self { tx: tx.clone(), activity: activity.clone(), closed: tokio::sync::watch::channel(false).0 });
        let mut changes = store.watch();
        let mut lines = logs.follow();
        let mut samples = telemetry.follow();
        tokio::spawn(async move {
            // Held so that its feed stays open as long as the hub runs.
            let _book = telemetry;
            let mut last = std::collections::HashMap::new();
            let mut count = |prev: Option<&Device>, next: &Device| {
                activity.record(clock(), crate::activity::change(prev, next));
            };
            loop {
                let item = tokio::select! {
                    ev = changes.recv() => match ev {
                        Ok(ev) => item_for(store.as_ref(), &ev, &mut last, &mut count).await,
                        // The hub lagged behind the store: tell clients to re-read.
                        Err(RecvError::Lagged(n)) => Some(Item { event: "lagged", data: format!("{{\"missed\":{n}}}") }),
                        Err(RecvError::Closed) => return,
                    },
                    line = lines.recv() => match line {
                        Ok(l) => serde_json::to_string(&l).ok().map(|data| Item { event: "log", data }),
                        Err(RecvError::Lagged(_)) => None,
                        Err(RecvError::Closed) => return,
                    },
                    sample = samples.recv() => match sample {
                        // Nobody listening: not worth serializing.
                        Ok(_) if tx.receiver_count() == 0 => None,
                        Ok(s) => serde_json::to_string(&s).ok().map(|data| Item { event: "telemetry", data }),
                        Err(RecvError::Lagged(n)) => {
                            tracing::debug!(missed = n, "event hub fell behind the telemetry feed");
                            None
                        }
                        // Not while this task holds the book.
                        Err(RecvError::Closed) => return,
                    },
                };
                if let Some(item) = item {
                    // No subscriber is fine.
                    let _ = tx.send(Arc::new(item));
                }
            }
        });
        hub
    }

    /// Heartbeats and app failures of the ten minutes before `now_ms`.
    pub fn activity(&self, now_ms: u64) -> Activity {
        self.activity.recent(now_ms)
    }

    /// A new client's feed.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Item>> {
        self.tx.subscribe()
    }

    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.tx.receiver_count()
    }

    /// Ends every open stream, and every later one at once.
    pub fn close(&self) {
        let _ = self.closed.send(true);
    }
}

/// A `heartbeat` event: a device change that only moved its heartbeat figures.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat<'a> {
    /// The device.
    pub name: &'a str,
    /// Its last heartbeat, Unix milliseconds.
    pub last_heartbeat_ms: Option<u64>,
    /// Its uptime then.
    pub uptime_ms: Option<u64>,
    /// Its free heap then.
    pub free_memory: Option<u32>,
}

/// `a` and `b` differ at most in their heartbeat figures (compared field by
/// field, without copies: this runs for every heartbeat of the fleet; a new
/// session field fails to compile here until it is placed).
fn same_but_heartbeat(a: &Device, b: &Device) -> bool {
    let wasmbed_model::SessionStatus {
        connected,
        gateway,
        simulated,
        last_heartbeat_ms: _,
        heartbeat_ms,
        uptime_ms: _,
        free_memory: _,
        firmware_version,
        apps,
        last_error,
    } = &a.status.session;
    let s = &b.status.session;
    a.meta == b.meta
        && a.spec == b.spec
        && a.status.phase == b.status.phase
        && a.status.conditions == b.status.conditions
        && a.status.process == b.status.process
        && (connected, gateway, simulated, heartbeat_ms) == (&s.connected, &s.gateway, &s.simulated, &s.heartbeat_ms)
        && (firmware_version, apps, last_error) == (&s.firmware_version, &s.apps, &s.last_error)
}

async fn item_for(
    store: &dyn Store,
    ev: &wasmbed_model::Event,
    last: &mut std::collections::HashMap<String, Device>,
    count: &mut impl FnMut(Option<&Device>, &Device),
) -> Option<Item> {
    let kind = match ev.kind {
        EventKind::Device => "device",
        EventKind::Application => "application",
        EventKind::Gateway => "gateway",
    };
    if ev.kind == EventKind::Device && ev.deleted {
        last.remove(&ev.name);
    }
    let data = if ev.deleted {
        None
    } else {
        match ev.kind {
            EventKind::Device => {
                let d = store.get_device(&ev.name).await.ok().flatten();
                if let Some(d) = &d {
                    // Only the heartbeat figures moved: a small event (a
                    // fleet heartbeats all the time; clients keep the rest).
                    let prev = last.insert(ev.name.clone(), d.clone());
                    count(prev.as_ref(), d);
                    let same = prev.is_some_and(|p| same_but_heartbeat(&p, d));
                    if same {
                        let s = &d.status.session;
                        let hb = Heartbeat {
                            name: &ev.name,
                            last_heartbeat_ms: s.last_heartbeat_ms,
                            uptime_ms: s.uptime_ms,
                            free_memory: s.free_memory,
                        };
                        return serde_json::to_string(&hb).ok().map(|data| Item { event: "heartbeat", data });
                    }
                }
                d.and_then(|r| serde_json::to_string(&r).ok())
            }
            EventKind::Application => {
                store.get_application(&ev.name).await.ok().flatten().and_then(|r| serde_json::to_string(&r).ok())
            }
            EventKind::Gateway => {
                store.get_gateway(&ev.name).await.ok().flatten().and_then(|r| serde_json::to_string(&r).ok())
            }
        }
    };
    match data {
        Some(data) => Some(Item { event: kind, data }),
        // Deleted, or gone by the time it was read.
        None => {
            serde_json::to_string(&Deleted { kind, name: &ev.name }).ok().map(|data| Item { event: "deleted", data })
        }
    }
}

#[utoipa::path(get, path = "/api/v1/events", tag = "events",
    params(("token" = Option<String>, Query, description = "the token, for clients that cannot set headers \
        (this route only; every other refuses it)")),
    summary = "Live event stream (server-sent events): snapshot, then changes",
    description = "Role: viewer. Events (name: data): `snapshot`: Snapshot; `device`: Device; `application`: \
        Application; `gateway`: Gateway; `heartbeat`: Heartbeat; `deleted`: Deleted; `log`: LogLine; \
        `telemetry`: TelemetrySample; `lagged`: Lagged.",
    responses((status = 200, description = "text/event-stream"), AuthErrors))]
/// `GET /api/v1/events`: the snapshot, then every change until the client or the server goes.
pub async fn events(
    Viewer(caller): Viewer,
    State(st): State<ApiState>,
) -> ApiResult<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>> {
    // Subscribe first: a change made while the snapshot is read is then
    // sent after it (at worst twice), never lost.
    let rx = st.events.subscribe();
    let snapshot = Snapshot {
        devices: st.store.list_devices().await?,
        applications: st.store.list_applications().await?,
        gateways: st.store.list_gateways().await?,
        activity: st.events.activity(wasmbed_model::clock::to_unix_ms((st.now)())),
    };
    let first = serde_json::to_string(&snapshot).map_err(crate::ApiError::internal)?;
    let head = stream::once(async move { Ok(SseEvent::default().event("snapshot").data(first)) });
    let closed = st.events.closed.subscribe();
    // The stream lives as long as its token: a revocation (a write of the
    // token file) that removed it ends the stream.
    let token_changes = st.tokens.saves();
    let token = (st.tokens.clone(), caller.id);
    let tail =
        stream::unfold((rx, closed, token_changes, token), |(mut rx, mut closed, mut changes, token)| async move {
            if *closed.borrow() || !token.0.exists(&token.1) {
                return None;
            }
            let next = loop {
                tokio::select! {
                    next = rx.recv() => break next,
                    _ = closed.changed() => return None,
                    changed = changes.changed() => {
                        if changed.is_err() || !token.0.exists(&token.1) {
                            return None;
                        }
                    }
                }
            };
            let event = match next {
                Ok(item) => SseEvent::default().event(item.event).data(&item.data),
                Err(RecvError::Lagged(n)) => SseEvent::default().event("lagged").data(format!("{{\"missed\":{n}}}")),
                Err(RecvError::Closed) => return None,
            };
            Some((Ok(event), (rx, closed, changes, token)))
        });
    Ok(Sse::new(head.chain(tail)).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
