//! Native builds run in the background: while a compiler works on one
//! application, the reconcilers go on with every other one, and the
//! application waiting is reconciled when its build ends.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use tokio::sync::{Semaphore, watch};
use wasmbed_control::{ControlConfig, NativeBuilder};
use wasmbed_model::{
    Application, ApplicationSpec, Device, DeviceSpec, Execution, Meta, NativeArtifactRef, NativeBuildState, Store,
};
use wasmbed_testkit::application_where;

/// A builder whose builds wait until the test opens the gate, then fail.
struct Gate {
    open: Semaphore,
    calls: AtomicUsize,
}

#[async_trait]
impl NativeBuilder for Gate {
    fn compiler(&self, _board: &str) -> Option<String> {
        Some("gate 1".into())
    }

    async fn build(&self, _digest: &str, _board: &str) -> Result<NativeArtifactRef, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let _pass = self.open.acquire().await.map_err(|e| e.to_string())?;
        Err("the gate compiles nothing".into())
    }
}

fn app(name: &str, digest: &str, execution: Execution) -> Application {
    let spec = ApplicationSpec { execution, ..ApplicationSpec::new("1", digest, 10) };
    Application { meta: Meta::named(name), spec, status: Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_running_holds_only_its_own_application() {
    let tmp = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = wasmbed_store::RedbStore::open(&tmp.path().join("store.redb")).unwrap();
    let spec = DeviceSpec { board: "mps2-an385".into(), ..DeviceSpec::default() };
    store.create_device(Device { meta: Meta::named("d1"), spec, status: Default::default() }).await.unwrap();
    let gate = Arc::new(Gate { open: Semaphore::new(0), calls: AtomicUsize::new(0) });
    let cfg = ControlConfig::default().with_tick_ms(20).with_native_builder(gate.clone());
    let (stop, stopped) = watch::channel(false);
    let control = tokio::spawn(wasmbed_control::run(store.clone(), wasmbed_model::clock::system(), cfg, stopped));

    store.put_application(&app("native", &"ab".repeat(32), Execution::Native)).await.unwrap();
    wasmbed_testkit::poll("the build started", async || {
        if gate.calls.load(Ordering::SeqCst) == 1 { Ok(()) } else { Err("not yet") }
    })
    .await;
    // Another application goes on while the compiler works.
    store.put_application(&app("plain", &"cd".repeat(32), Execution::Interpreted)).await.unwrap();
    application_where(&store, "plain", "rolled out", |a| a.status.rollout.is_some()).await;
    let waiting = store.get_application("native").await.unwrap().unwrap();
    assert!(waiting.status.rollout.is_none(), "{:?}", waiting.status);

    gate.open.add_permits(1);
    let done = application_where(&store, "native", "built and rolled out", |a| {
        a.status.rollout.is_some() && a.status.revision(1).is_some_and(|r| !r.native.is_empty())
    })
    .await;
    let build = &done.status.revision(1).unwrap().native[0];
    assert_eq!((build.board.as_str(), build.state), ("mps2-an385", NativeBuildState::Failed));
    assert_eq!(build.reason.as_deref(), Some("the gate compiles nothing"));
    // One build, however often the application was reconciled meanwhile.
    assert_eq!(gate.calls.load(Ordering::SeqCst), 1);

    stop.send(true).unwrap();
    control.await.unwrap();
}
