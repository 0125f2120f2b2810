//! The embedded store through the `Store` trait, plus the file it leaves.

// A failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition};
use tokio::sync::broadcast::error::TryRecvError;
use wasmbed_model::{
    Application, ApplicationStatus, DeviceStatus, DeviceStatusPatch, Event, EventKind, Gateway, GatewayHealth,
    GatewayStatusPatch, SessionStatus, Store, StoreError, WatchStream,
};
use wasmbed_store::RedbStore;
use wasmbed_testkit::{With, device};

/// The documented layout, written to directly to fake corruption.
const RAW_DEVICE_SPECS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("device_specs");
const RAW_DEVICE_STATUS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("device_status");
const RAW_META: TableDefinition<&[u8], &[u8]> = TableDefinition::new("meta");

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("wasmbed.redb")
}

fn fixed_clock(ms: u64) -> wasmbed_model::clock::Clock {
    Arc::new(move || ms)
}

fn app(name: &str, version: &str) -> Application {
    wasmbed_testkit::application(name, version, &"ab".repeat(32))
}

/// The session part a gateway writes for a heartbeat.
fn session(heartbeat: u64) -> SessionStatus {
    SessionStatus {
        connected: true,
        gateway: Some("gw-0".into()),
        last_heartbeat_ms: Some(heartbeat),
        ..SessionStatus::default()
    }
}

fn online(heartbeat: u64) -> DeviceStatusPatch {
    DeviceStatusPatch::Session(session(heartbeat))
}

/// A device status holding only `session(heartbeat)`.
fn status_with(heartbeat: u64) -> DeviceStatus {
    DeviceStatus { session: session(heartbeat), ..DeviceStatus::default() }
}

fn ev(kind: EventKind, name: &str, deleted: bool, status_only: bool) -> Event {
    Event { kind, name: name.into(), deleted, status_only }
}

fn next(watch: &mut WatchStream) -> Option<Event> {
    match watch.try_recv() {
        Ok(e) => Some(e),
        Err(TryRecvError::Empty) => None,
        Err(e) => panic!("watch: {e}"),
    }
}

fn backend_message(result: Result<Arc<RedbStore>, StoreError>) -> String {
    match result {
        Err(StoreError::Backend(msg)) => msg,
        other => panic!("expected a backend error, got {other:?}"),
    }
}

/// Writes one raw row, as a corrupting disk or a foreign tool would.
fn poke(path: &Path, table: TableDefinition<&[u8], &[u8]>, key: &[u8], value: &[u8]) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(table).unwrap().insert(key, value).unwrap();
    txn.commit().unwrap();
}

#[tokio::test]
async fn device_crud() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open_with_clock(&db_path(&dir), fixed_clock(1234)).unwrap();

    let mut d = device("dev-b");
    d.status = status_with(1); // ignored: statuses are written separately
    let created = store.create_device(d).await.unwrap();
    assert_eq!(created.meta.resource_version, 1);
    assert_eq!(created.meta.created_ms, 1234);
    assert_eq!(created.status, DeviceStatus::default());
    store.create_device(device("dev-a")).await.unwrap();

    let names: Vec<_> = store.list_devices().await.unwrap().into_iter().map(|d| d.meta.name).collect();
    assert_eq!(names, ["dev-a", "dev-b"]);
    assert_eq!(store.get_device("dev-b").await.unwrap(), Some(created.clone()));
    assert_eq!(store.get_device("nope").await.unwrap(), None);

    let mut changed = created.clone();
    changed.spec.labels.insert("app".into(), "demo".into());
    changed.meta.created_ms = 99; // ignored: the store keeps the creation time
    let updated = store.update_device_spec(&changed).await.unwrap();
    assert_eq!(updated.meta.resource_version, 2);
    assert_eq!(updated.meta.created_ms, 1234);
    assert_eq!(updated.spec.labels["app"], "demo");

    store.patch_device_status("dev-b", online(5)).await.unwrap();
    let read = store.get_device("dev-b").await.unwrap().unwrap();
    assert_eq!(read.status, status_with(5));
    assert_eq!(read.meta.resource_version, 2, "status writes leave the version alone");
    assert_eq!(read.spec, updated.spec);

    // A spec update keeps the status.
    let mut again = read.clone();
    again.spec.board = "stm32".into();
    assert_eq!(store.update_device_spec(&again).await.unwrap().status, status_with(5));

    store.delete_device("dev-b").await.unwrap();
    assert_eq!(store.get_device("dev-b").await.unwrap(), None);
    assert_eq!(store.list_devices().await.unwrap().len(), 1);
    // Recreated, it starts over: version 1 and no status left behind.
    let recreated = store.create_device(device("dev-b")).await.unwrap();
    assert_eq!(recreated.meta.resource_version, 1);
    assert_eq!(recreated.status, DeviceStatus::default());
}

#[tokio::test]
async fn application_crud() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open_with_clock(&db_path(&dir), fixed_clock(7)).unwrap();

    let created = store.put_application(&app("demo", "1")).await.unwrap();
    assert_eq!((created.meta.resource_version, created.meta.created_ms), (1, 7));
    store.put_application(&app("alpha", "1")).await.unwrap();
    let names: Vec<_> = store.list_applications().await.unwrap().into_iter().map(|a| a.meta.name).collect();
    assert_eq!(names, ["alpha", "demo"]);

    let status = ApplicationStatus { desired: 3, running: 2, failed: 0, pending_offline: 1, ..Default::default() };
    store.update_application_status("demo", &status).await.unwrap();

    let mut next_rev = store.get_application("demo").await.unwrap().unwrap();
    next_rev.spec.version = "2".into();
    next_rev.status = ApplicationStatus::default(); // ignored
    let replaced = store.put_application(&next_rev).await.unwrap();
    assert_eq!(replaced.meta.resource_version, 2);
    assert_eq!(replaced.spec.version, "2");
    assert_eq!(replaced.status, status, "a spec write keeps the status");
    assert_eq!(store.get_application("demo").await.unwrap(), Some(replaced));

    store.delete_application("demo").await.unwrap();
    assert_eq!(store.get_application("demo").await.unwrap(), None);
    let back = store.put_application(&app("demo", "3")).await.unwrap();
    assert_eq!(back.meta.resource_version, 1);
    assert_eq!(back.status, ApplicationStatus::default(), "the old status went with the delete");
}

#[tokio::test]
async fn modules_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    let digest = "AB".repeat(32);
    assert_eq!(store.get_module(&digest).await.unwrap(), None);
    store.put_module(&digest, b"\0asm\x01\0\0\0").await.unwrap();
    store.put_module(&digest, b"\0asm\x01\0\0\0").await.unwrap(); // idempotent
    assert_eq!(store.get_module(&digest.to_lowercase()).await.unwrap().as_deref(), Some(&b"\0asm\x01\0\0\0"[..]));
}

#[tokio::test]
async fn modules_are_listed_and_deleted_durably() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = ("aa".repeat(32), "bb".repeat(32));
    {
        let store = RedbStore::open(&db_path(&dir)).unwrap();
        assert!(store.list_modules().await.unwrap().is_empty());
        store.put_module(&b, b"b").await.unwrap();
        store.put_module(&a, b"a").await.unwrap();
        assert_eq!(store.list_modules().await.unwrap(), [a.clone(), b.clone()], "sorted");
        store.delete_module(&b.to_uppercase()).await.unwrap();
        store.delete_module(&b).await.unwrap(); // gone already: no error
    }
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    assert_eq!(store.list_modules().await.unwrap(), vec![a.clone()]);
    assert_eq!(store.get_module(&b).await.unwrap(), None);
    assert_eq!(store.get_module(&a).await.unwrap().as_deref(), Some(&b"a"[..]));
}

#[tokio::test]
async fn edge_state_is_replaced_whole_kept_per_gateway_and_deleted_durably() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = RedbStore::open(&db_path(&dir)).unwrap();
        assert_eq!(store.get_edge_state("gateway-0", "watch").await.unwrap(), None);
        store.put_edge_state("gateway-0", "watch", b"one").await.unwrap();
        store.put_edge_state("gateway-0", "watch", b"two").await.unwrap();
        store.put_edge_state("gateway-1", "watch", b"other").await.unwrap();
        store.put_edge_state("gateway-0", "blink@vld-0", b"board").await.unwrap();
        store.delete_edge_state("gateway-0", "blink@vld-0").await.unwrap();
        store.delete_edge_state("gateway-0", "blink@vld-0").await.unwrap(); // gone already: no error
    }
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    assert_eq!(store.get_edge_state("gateway-0", "watch").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert_eq!(store.get_edge_state("gateway-1", "watch").await.unwrap().as_deref(), Some(&b"other"[..]));
    assert_eq!(store.get_edge_state("gateway-0", "blink@vld-0").await.unwrap(), None);
}

#[tokio::test]
async fn everything_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let status = ApplicationStatus { desired: 1, running: 1, ..Default::default() };
    let module = vec![7u8; 100_000];
    let (devices, apps) = {
        let store = RedbStore::open(&path).unwrap();
        store.create_device(device("dev-1")).await.unwrap();
        let d = store.create_device(device("dev-2")).await.unwrap();
        let mut d = d.clone();
        d.spec.labels.insert("tier".into(), "edge".into());
        store.update_device_spec(&d).await.unwrap();
        // The last writes are status writes, committed without an fsync: the
        // close must flush them.
        store.put_module(&"cd".repeat(32), &module).await.unwrap();
        store.put_application(&app("demo", "1")).await.unwrap();
        store.update_application_status("demo", &status).await.unwrap();
        store.patch_device_status("dev-1", online(10)).await.unwrap();
        store.patch_device_status("dev-2", online(11)).await.unwrap();
        (store.list_devices().await.unwrap(), store.list_applications().await.unwrap())
    };

    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.list_devices().await.unwrap(), devices);
    assert_eq!(store.list_applications().await.unwrap(), apps);
    assert_eq!(store.get_device("dev-2").await.unwrap().unwrap().meta.resource_version, 2);
    assert_eq!(store.get_device("dev-1").await.unwrap().unwrap().status, status_with(10));
    assert_eq!(store.get_application("demo").await.unwrap().unwrap().status, status);
    assert_eq!(store.get_module(&"cd".repeat(32)).await.unwrap(), Some(module));
}

#[tokio::test]
async fn stale_versions_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();

    let v1 = store.create_device(device("dev-1")).await.unwrap();
    store.update_device_spec(&v1).await.unwrap();
    let err = store.update_device_spec(&v1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { kind: "device", ref name } if name == "dev-1"), "{err:?}");
    assert_eq!(store.get_device("dev-1").await.unwrap().unwrap().meta.resource_version, 2);

    let a1 = store.put_application(&app("demo", "1")).await.unwrap();
    store.put_application(&a1).await.unwrap();
    let err = store.put_application(&a1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { kind: "application", .. }), "{err:?}");
    let err = store.put_application(&app("demo", "1")).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "version 0 on an existing app: {err:?}");

    // A version read before a delete does not recreate the app.
    store.delete_application("demo").await.unwrap();
    let err = store.put_application(&a1).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.get_application("demo").await.unwrap(), None);
}

#[tokio::test]
async fn already_exists_and_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    store.create_device(device("dev-1")).await.unwrap();
    let err = store.create_device(device("dev-1")).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { kind: "device", .. }), "{err:?}");

    let is_not_found = |r: Result<(), StoreError>, want: &str| match r {
        Err(StoreError::NotFound { kind, name }) => {
            assert_eq!((kind, name.as_str()), (want, "ghost"))
        }
        other => panic!("expected NotFound, got {other:?}"),
    };
    is_not_found(store.update_device_spec(&device("ghost")).await.map(drop), "device");
    is_not_found(store.patch_device_status("ghost", online(1)).await, "device");
    is_not_found(store.delete_device("ghost").await, "device");
    is_not_found(store.update_application_status("ghost", &ApplicationStatus::default()).await, "application");
    is_not_found(store.delete_application("ghost").await, "application");
}

#[tokio::test]
async fn watch_sees_every_committed_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    let mut watch = store.watch();

    let d = store.create_device(device("dev-1")).await.unwrap();
    store.update_device_spec(&d).await.unwrap();
    store.patch_device_status("dev-1", online(1)).await.unwrap();
    store.patch_device_status("dev-1", online(1)).await.unwrap(); // unchanged: no event
    let _ = store.update_device_spec(&d).await.unwrap_err(); // conflict: no event
    store.delete_device("dev-1").await.unwrap();
    store.put_application(&app("demo", "1")).await.unwrap();
    store.update_application_status("demo", &ApplicationStatus { desired: 1, ..Default::default() }).await.unwrap();
    store.delete_application("demo").await.unwrap();
    store.put_module(&"ab".repeat(32), b"m").await.unwrap(); // modules have no events

    use EventKind::{Application as A, Device as D};
    let want = [
        ev(D, "dev-1", false, false),
        ev(D, "dev-1", false, false),
        ev(D, "dev-1", false, true),
        ev(D, "dev-1", true, false),
        ev(A, "demo", false, false),
        ev(A, "demo", false, true),
        ev(A, "demo", true, false),
    ];
    for w in want {
        assert_eq!(next(&mut watch), Some(w));
    }
    assert_eq!(next(&mut watch), None);
}

#[tokio::test]
async fn corrupt_records_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    {
        let store = RedbStore::open(&path).unwrap();
        store.create_device(device("dev-1")).await.unwrap();
        store.patch_device_status("dev-1", online(1)).await.unwrap();
    }

    poke(&path, RAW_DEVICE_STATUS, b"dev-1", b"\xff{not json");
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("device_status") && msg.contains("dev-1"), "{msg}");

    poke(&path, RAW_DEVICE_STATUS, b"dev-1", br#"{"phase":"Sideways"}"#); // valid JSON, not a phase
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("corrupt record \"dev-1\" in table device_status"), "{msg}");

    poke(&path, RAW_DEVICE_STATUS, b"dev-1", br#"{"phase":"Online"}"#);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.get_device("dev-1").await.unwrap().unwrap().status.phase, wasmbed_model::DevicePhase::Online);
    drop(store);

    poke(&path, RAW_DEVICE_SPECS, b"dev-2", b"garbage");
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("corrupt record \"dev-2\" in table device_specs"), "{msg}");

    let mut misnamed = serde_json::to_value(device("dev-3")).unwrap();
    misnamed["meta"]["name"] = "other".into();
    poke(&path, RAW_DEVICE_SPECS, b"dev-2", misnamed.to_string().as_bytes());
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("names itself \"other\""), "{msg}");

    poke(&path, RAW_DEVICE_SPECS, b"dev-2", device_json("dev-2").as_bytes());
    poke(&path, RAW_DEVICE_SPECS, b"\xff\xfe", device_json("dev-4").as_bytes());
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains(r#"corrupt key "\xff\xfe" in table device_specs: not UTF-8"#), "{msg}");
}

fn device_json(name: &str) -> String {
    serde_json::json!({ "meta": { "name": name, "resource_version": 1 }, "spec": { "board": "sim" } }).to_string()
}

#[tokio::test]
async fn not_a_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.redb");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("junk.redb"), "{msg}");
}

#[tokio::test]
async fn unknown_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(RedbStore::open(&path).unwrap());

    poke(&path, RAW_META, b"schema_version", b"3");
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("schema version 3 is newer"), "{msg}");

    poke(&path, RAW_META, b"schema_version", b"zero");
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("unknown schema version"), "{msg}");

    poke(&path, RAW_META, b"schema_version", b"1");
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("before rollouts") && msg.contains("new data directory"), "{msg}");

    poke(&path, RAW_META, b"schema_version", b"2");
    RedbStore::open(&path).unwrap();
}

fn gateway(name: &str, port: u16) -> Gateway {
    // As a gateway registers itself: spec only.
    wasmbed_testkit::gateway(name, port, 100).with(|g| g.status = Default::default())
}

#[tokio::test]
async fn gateway_crud_and_status_parts() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = RedbStore::open(&path).unwrap();
    let mut watch = store.watch();
    let created = store.put_gateway(&gateway("gw-0", 4443)).await.unwrap();
    assert_eq!((created.meta.resource_version, created.meta.generation), (1, 1));
    assert_eq!(next(&mut watch), Some(ev(EventKind::Gateway, "gw-0", false, false)));
    // A second create of the name is a conflict (it exists at version 1, not 0).
    assert!(matches!(store.put_gateway(&gateway("gw-0", 1)).await, Err(StoreError::Conflict { .. })));

    store
        .patch_gateway_status("gw-0", GatewayStatusPatch::Report { sessions: 3, at_ms: 100, report_ms: 1000 })
        .await
        .unwrap();
    store.patch_gateway_status("gw-0", GatewayStatusPatch::Health(GatewayHealth::Healthy)).await.unwrap();
    let st = store.get_gateway("gw-0").await.unwrap().unwrap().status;
    assert_eq!((st.sessions, st.last_seen_ms, st.health), (3, Some(100), GatewayHealth::Healthy), "parts merged");
    assert_eq!(next(&mut watch), Some(ev(EventKind::Gateway, "gw-0", false, true)));

    // Same spec again: a new resource version, the same generation.
    let same = store.put_gateway(&created).await.unwrap();
    assert_eq!((same.meta.resource_version, same.meta.generation), (2, 1));
    let mut moved = same.clone();
    moved.spec.capacity = 5;
    let moved = store.put_gateway(&moved).await.unwrap();
    assert_eq!((moved.meta.resource_version, moved.meta.generation), (3, 2));
    assert_eq!(moved.status.sessions, 3, "a spec write keeps the status");

    drop(store);
    let store = RedbStore::open(&path).unwrap();
    assert_eq!(store.get_gateway("gw-0").await.unwrap().unwrap().meta.generation, 2);
    assert_eq!(store.list_gateways().await.unwrap().len(), 1);
    store.delete_gateway("gw-0").await.unwrap();
    assert!(matches!(store.delete_gateway("gw-0").await, Err(StoreError::NotFound { kind: "gateway", .. })));
    assert!(matches!(
        store.patch_gateway_status("gw-0", GatewayStatusPatch::Health(GatewayHealth::Unhealthy)).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn device_status_parts_from_different_writers_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    store.create_device(device("dev-1")).await.unwrap();
    let phase = DeviceStatusPatch::Lifecycle { phase: wasmbed_model::DevicePhase::Online, conditions: vec![] };
    let (a, b) = tokio::join!(store.patch_device_status("dev-1", online(7)), store.patch_device_status("dev-1", phase));
    a.unwrap();
    b.unwrap();
    let st = store.get_device("dev-1").await.unwrap().unwrap().status;
    assert_eq!(st.session, session(7));
    assert_eq!(st.phase, wasmbed_model::DevicePhase::Online);
}

#[tokio::test]
async fn second_open_of_the_same_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let _store = RedbStore::open(&path).unwrap();
    let msg = backend_message(RedbStore::open(&path));
    assert!(msg.contains("wasmbed.redb"), "{msg}");
}

async fn write_statuses(store: Arc<RedbStore>, devices: usize, tasks: usize, per_device: u64) {
    for i in 0..devices {
        store.create_device(device(&format!("dev-{i}"))).await.unwrap();
    }
    let mut watch = store.watch();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            for round in 1..=per_device {
                for i in (t..devices).step_by(tasks) {
                    store.patch_device_status(&format!("dev-{i}"), online(round)).await.unwrap();
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    for d in store.list_devices().await.unwrap() {
        assert_eq!(d.status, status_with(per_device), "{}", d.meta.name);
    }
    let mut events = 0;
    while next(&mut watch).is_some() {
        events += 1;
    }
    assert_eq!(events, devices * usize::try_from(per_device).unwrap());
}

#[tokio::test]
async fn concurrent_status_writes_current_thread() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    tokio::time::timeout(Duration::from_secs(120), write_statuses(store, 100, 8, 10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_writes_multi_thread() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = RedbStore::open(&path).unwrap();
    tokio::time::timeout(Duration::from_secs(120), write_statuses(store, 100, 8, 10)).await.unwrap();
    let reopened = RedbStore::open(&path).unwrap();
    assert_eq!(reopened.get_device("dev-42").await.unwrap().unwrap().status, status_with(10));
}

/// Prints what writes cost; asserts nothing about time. Run with
/// `--nocapture` (and `--release` for numbers worth quoting).
#[tokio::test]
async fn measure_write_cost() {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&db_path(&dir)).unwrap();
    let mut d = store.create_device(device("dev-1")).await.unwrap();

    let n = 1000;
    let start = Instant::now();
    for i in 0..n {
        store.patch_device_status("dev-1", online(i)).await.unwrap();
    }
    let status = start.elapsed();

    let specs = 50;
    let start = Instant::now();
    for i in 0..specs {
        d.spec.labels.insert("n".into(), i.to_string());
        d = store.update_device_spec(&d).await.unwrap();
    }
    let spec = start.elapsed();
    println!(
        "{n} status writes: {status:?} ({:?} each, 1 durable per {}s); {specs} spec writes: {spec:?} ({:?} each)",
        status / u32::try_from(n).unwrap(),
        wasmbed_store::STATUS_FLUSH_INTERVAL_MS / 1000,
        spec / specs,
    );
}
