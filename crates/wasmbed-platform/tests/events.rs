//! The live event stream over real HTTP: a snapshot on connect, changes
//! after it, and after a disconnect a reconnecting client gets the current
//! state again (nothing it missed is lost).

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::time::Duration;

use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::device;

/// An SSE client reading whole events off a response.
struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(url: &str) -> Self {
        let resp = reqwest::get(url).await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Self { resp, buf: String::new() }
    }

    /// The next event as (name, JSON data), skipping keep-alive comments.
    async fn next(&mut self) -> (String, serde_json::Value) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue;
                }
                return (event, serde_json::from_str(&data).unwrap());
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.resp.chunk()).await.unwrap().unwrap();
            self.buf.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// Skips events until one named `event` about `name` arrives.
    async fn until(&mut self, event: &str, name: &str) -> serde_json::Value {
        loop {
            let (e, data) = self.next().await;
            let about = data["meta"]["name"].as_str().or(data["name"].as_str()).unwrap_or("");
            if e == event && about == name {
                return data;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_sends_state_then_changes_and_a_reconnect_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api().quick()).await.unwrap();
    let viewer = p.tokens.create_ephemeral("ui", wasmbed_api::Role::Viewer, [3; 32], 0);
    let url = format!("{}/api/v1/events?token={viewer}", p.api_url().unwrap());
    assert_eq!(reqwest::get(format!("{}/api/v1/events", p.api_url().unwrap())).await.unwrap().status(), 401);

    let mut s = Stream::open(&url).await;
    let (event, snap) = s.next().await;
    assert_eq!(event, "snapshot");
    assert_eq!(snap["devices"].as_array().unwrap().len(), 0);
    assert!(!snap["gateways"].as_array().unwrap().is_empty(), "the gateway registered itself");
    p.store.create_device(device("a")).await.unwrap();
    let a = s.until("device", "a").await;
    assert_eq!(a["spec"]["board"], "sim");
    // The control plane's verdict on it arrives as another change.
    let a = loop {
        let a = s.until("device", "a").await;
        if a["status"]["conditions"].as_array().is_some_and(|c| !c.is_empty()) {
            break a;
        }
    };
    assert_eq!(a["status"]["phase"], "Provisioning");

    // Disconnected, the client misses changes ...
    drop(s);
    p.store.create_device(device("b")).await.unwrap();
    p.store.delete_device("a").await.unwrap();
    // ... and a reconnect's snapshot has them all.
    let mut s = Stream::open(&url).await;
    let (event, snap) = s.next().await;
    assert_eq!(event, "snapshot");
    let names: Vec<&str> =
        snap["devices"].as_array().unwrap().iter().map(|d| d["meta"]["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["b"]);
    p.store.delete_device("b").await.unwrap();
    let gone = s.until("deleted", "b").await;
    assert_eq!(gone["kind"], "device");
    p.shutdown().await;
}

/// The overview's chart starts with history: heartbeats and an app failure
/// counted by the platform reach a client that connects afterwards, in
/// its snapshot and at `GET /api/v1/activity`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_activity_is_served_to_clients_that_connect_later() {
    use wasmbed_model::{AppState, DeviceStatusPatch, SessionStatus};
    use wasmbed_testkit::observation;
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).with_api().quick()).await.unwrap();
    let viewer = p.tokens.create_ephemeral("ui", wasmbed_api::Role::Viewer, [3; 32], 0);
    let api = p.api_url().unwrap();
    // Seen by the platform's hub while no client is connected: two
    // heartbeats, the second reporting an app that failed.
    p.store.create_device(device("a")).await.unwrap();
    let beat = |ms, state| SessionStatus {
        connected: true,
        last_heartbeat_ms: Some(ms),
        apps: vec![observation("hello", Some(1), state)],
        ..Default::default()
    };
    let totals = |a: &serde_json::Value| {
        let b = a["buckets"].as_array().unwrap();
        let sum = |k: &str| b.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>();
        (sum("heartbeats"), sum("failures"))
    };
    let client = reqwest::Client::new();
    let counted = async |want: (u64, u64)| {
        wasmbed_testkit::poll(format_args!("{want:?} counted"), async || {
            let req = client.get(format!("{api}/api/v1/activity")).bearer_auth(&viewer);
            let a: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
            if totals(&a) == want { Ok(a) } else { Err(a) }
        })
        .await
    };
    // One heartbeat at a time: the store coalesces status writes made
    // within its flush interval, as the gateway never sends them.
    p.store.patch_device_status("a", DeviceStatusPatch::Session(beat(1, AppState::Running))).await.unwrap();
    counted((1, 0)).await;
    p.store.patch_device_status("a", DeviceStatusPatch::Session(beat(2, AppState::Failed))).await.unwrap();
    let activity = counted((2, 1)).await;
    assert_eq!(activity["bucketMs"], 10_000);
    let (event, snap) = Stream::open(&format!("{api}/api/v1/events?token={viewer}")).await.next().await;
    assert_eq!(event, "snapshot");
    assert_eq!(totals(&snap["activity"]), (2, 1), "{snap}");
    assert_eq!(client.get(format!("{api}/api/v1/activity")).send().await.unwrap().status(), 401);
    p.shutdown().await;
}
