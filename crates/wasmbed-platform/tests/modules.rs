//! Module garbage collection on the running platform: a module no
//! application uses goes after its grace; a module a kept revision names
//! stays (a rollback may need it); deleting the application frees its
//! modules.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use common::*;
use sha2::{Digest, Sha256};
use wasmbed_model::{ConditionStatus, Strategy};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_testkit::application_where;

const GRACE_MS: u64 = 400;

async fn stored(p: &Platform) -> Vec<String> {
    p.store.list_modules().await.unwrap()
}

async fn wait_stored(p: &Platform, what: &str, check: impl Fn(&[String]) -> bool) {
    // Module writes are not watched: poll.
    wasmbed_testkit::poll(what, async || {
        let modules = stored(p).await;
        if check(&modules) { Ok(()) } else { Err(modules) }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_modules_go_after_their_grace_and_kept_revisions_keep_theirs() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = PlatformConfig::new(tmp.path()).quick();
    cfg.control = cfg.control.with_module_grace_ms(Some(GRACE_MS));
    let p = Platform::start(cfg).await.unwrap();
    let digest = |m: &[u8]| hex::encode(Sha256::digest(m));
    let (v1, v2, orphan) = (app("v1", 0), app("v2", 0), app("orphan", 0));

    deploy(&p.store, "gc", "1", &v1, "", Strategy::AllAtOnce, APP_CAPS).await;
    p.store.put_module(&digest(&orphan), &orphan).await.unwrap();
    wait_stored(&p, "the orphan deleted", |m| !m.contains(&digest(&orphan))).await;
    deploy(&p.store, "gc", "2", &v2, "", Strategy::AllAtOnce, APP_CAPS).await;
    application_where(&p.store, "gc", "on revision 2", |a| a.status.revision == Some(2)).await;

    // Several graces later both are still there: v2 is the spec, v1 a kept revision.
    tokio::time::sleep(Duration::from_millis(GRACE_MS * 3)).await;
    assert_eq!(stored(&p).await, {
        let mut v = vec![digest(&v1), digest(&v2)];
        v.sort();
        v
    });

    p.store.delete_application("gc").await.unwrap();
    wait_stored(&p, "the application's modules deleted", <[String]>::is_empty).await;
    p.shutdown().await;
}

/// Device firmware compiles signed modules without validating them, so
/// the control plane signs only modules that validate — even for an
/// application written straight into the store, around the API's checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_that_does_not_validate_is_never_signed() {
    use wasmbed_model::{Application, ApplicationSpec, Meta};
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).quick()).await.unwrap();
    // A module header, then a function body that pops from an empty stack.
    let mut bad = b"\0asm\x01\0\0\0".to_vec();
    // type () -> (); one function of it; export "init"; body: drop, end.
    bad.extend_from_slice(&[1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 7, 8, 1, 4, b'i', b'n', b'i', b't', 0, 0]);
    bad.extend_from_slice(&[10, 5, 1, 3, 0, 0x1a, 0x0b]);
    assert!(wasmbed_agent::validate_bytes(&bad).is_err(), "the agent's validator refuses it");
    for (name, module) in [("bad", bad), ("good", app("good", 0))] {
        let d = hex::encode(Sha256::digest(&module));
        p.store.put_module(&d, &module).await.unwrap();
        let spec = ApplicationSpec::new("1", &d, module.len() as u32);
        p.store
            .put_application(&Application { meta: Meta::named(name), spec, status: Default::default() })
            .await
            .unwrap();
    }
    let good = application_where(&p.store, "good", "signed", |a| {
        a.status.signing.as_ref().is_some_and(|s| !s.manifests.is_empty())
    })
    .await;
    let signed = signed_condition(&good).unwrap();
    assert_eq!((signed.status, signed.reason.as_str()), (ConditionStatus::True, "Signed"));
    // Its rollout goes on (matching no device) but nothing vouches for it,
    // and its status says why.
    let bad = application_where(&p.store, "bad", "refused", |a| {
        signed_condition(a).is_some_and(|c| c.status == ConditionStatus::False)
    })
    .await;
    let signed = signed_condition(&bad).unwrap();
    assert_eq!(signed.reason, "ModuleInvalid");
    assert!(signed.message.contains("does not validate"), "{}", signed.message);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let bad = p.store.get_application("bad").await.unwrap().unwrap_or(bad);
    assert!(bad.status.signing.as_ref().is_none_or(|s| s.manifests.is_empty()), "{:?}", bad.status.signing);
    p.shutdown().await;
}

fn signed_condition(a: &wasmbed_model::Application) -> Option<wasmbed_model::Condition> {
    a.status.conditions.iter().find(|c| c.kind == wasmbed_control::SIGNED_CONDITION).cloned()
}

/// An application applied before its module is uploaded (`kubectl apply`
/// first) says so, and is signed once the module arrives: a module the
/// check could not read is asked about again, not refused for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_application_whose_module_arrives_later_is_signed_then() {
    use wasmbed_model::{Application, ApplicationSpec, Meta};
    let tmp = tempfile::tempdir().unwrap();
    let p = Platform::start(PlatformConfig::new(tmp.path()).quick()).await.unwrap();
    let module = app("late", 0);
    let d = hex::encode(Sha256::digest(&module));
    let spec = ApplicationSpec::new("1", &d, module.len() as u32);
    p.store
        .put_application(&Application { meta: Meta::named("late"), spec, status: Default::default() })
        .await
        .unwrap();
    let waiting = application_where(&p.store, "late", "waiting for its module", |a| {
        signed_condition(a).is_some_and(|c| c.reason == "ModuleUnavailable")
    })
    .await;
    assert!(waiting.status.signing.as_ref().is_none_or(|s| s.manifests.is_empty()));
    assert!(signed_condition(&waiting).unwrap().message.contains("not in the store"));
    p.store.put_module(&d, &module).await.unwrap();
    let signed = application_where(&p.store, "late", "signed", |a| {
        a.status.signing.as_ref().is_some_and(|s| !s.manifests.is_empty())
    })
    .await;
    assert_eq!(signed_condition(&signed).unwrap().status, ConditionStatus::True);
    p.shutdown().await;
}
