//! Waiting for what a test expects to happen.

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::RecvError;
use wasmbed_model::{Application, Device, Store};

/// How long a test waits for anything: generous, since a loaded 2-core
/// machine runs QEMU devices and whole platforms at once.
pub const WAIT: Duration = Duration::from_secs(90);

/// Re-checks at least this often, for what time alone changes (heartbeat
/// deadlines, soak times) and for writes a watch reports late.
const RECHECK: Duration = Duration::from_secs(1);

/// Waits until `check` returns `Some`, re-running it whenever the store
/// reports a change (and at least once a second); panics after [`WAIT`]
/// saying `what` was awaited and what `check` last saw (`seen`).
pub async fn eventually<T, S: Debug>(
    store: &Arc<dyn Store>,
    what: impl Display,
    mut check: impl AsyncFnMut() -> Result<T, S>,
) -> T {
    // Subscribe before the first check, so no change can slip in between.
    let mut changes = store.watch();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = match check().await {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        assert!(!left.is_zero(), "never {what} within {WAIT:?}; last seen: {seen:?}");
        let wait = tokio::time::timeout(left.min(RECHECK), changes.recv());
        if let Ok(Err(RecvError::Closed)) = wait.await {
            // The store went away: fall back to re-checking on the timer.
            tokio::time::sleep(left.min(RECHECK)).await;
        }
    }
}

/// Waits until device `name` exists and `check` holds for it.
pub async fn device_where(store: &Arc<dyn Store>, name: &str, what: &str, check: impl Fn(&Device) -> bool) -> Device {
    eventually(store, format_args!("{name}: {what}"), async || match store.get_device(name).await {
        Ok(Some(d)) if check(&d) => Ok(d),
        Ok(d) => Err(d.map(|d| d.status)),
        Err(e) => panic!("cannot read device {name}: {e}"),
    })
    .await
}

/// Waits until `check` holds for the whole device list.
pub async fn devices_where(store: &Arc<dyn Store>, what: &str, check: impl Fn(&[Device]) -> bool) -> Vec<Device> {
    eventually(store, what, async || {
        let devices = store.list_devices().await.unwrap_or_else(|e| panic!("cannot list devices: {e}"));
        if check(&devices) {
            Ok(devices)
        } else {
            Err(devices.into_iter().map(|d| (d.meta.name, d.status.phase, d.status.session.apps)).collect::<Vec<_>>())
        }
    })
    .await
}

/// Waits until application `name` exists and `check` holds for it.
pub async fn application_where(
    store: &Arc<dyn Store>,
    name: &str,
    what: &str,
    check: impl Fn(&Application) -> bool,
) -> Application {
    eventually(store, format_args!("{name}: {what}"), async || match store.get_application(name).await {
        Ok(Some(a)) if check(&a) => Ok(a),
        Ok(a) => Err(a.map(|a| a.status)),
        Err(e) => panic!("cannot read application {name}: {e}"),
    })
    .await
}

/// Waits until `check` returns `Some`, re-running it every 100 ms: for
/// what the store does not watch (log lines, files, processes). Panics
/// after [`WAIT`] with what `check` last saw.
pub async fn poll<T, S: Debug>(what: impl Display, mut check: impl AsyncFnMut() -> Result<T, S>) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let seen = match check().await {
            Ok(v) => return v,
            Err(seen) => seen,
        };
        assert!(tokio::time::Instant::now() < deadline, "never {what} within {WAIT:?}; last seen: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Blocks until `check` holds, polling every 100 ms: for what no store
/// watches (a file, another process's output). Panics after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn eventually_wakes_on_a_store_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&dir.path().join("s.redb")).expect("store");
        let writer = store.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            writer.create_device(crate::device("late")).await.expect("create");
        });
        let d = device_where(&store, "late", "exists", |_| true).await;
        assert_eq!(d.meta.name, "late");
    }

    #[tokio::test]
    #[should_panic(expected = "never ready within")]
    async fn poll_gives_up_saying_what_it_saw() {
        tokio::time::pause();
        poll("ready", async || Err::<(), _>("still starting")).await;
    }
}
