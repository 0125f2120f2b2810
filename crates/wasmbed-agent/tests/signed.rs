//! Signed deploys as a device sees them: only what the pinned app-signing
//! key vouches for is installed, exactly as vouched, never older than what
//! it already accepted; what a gateway changes is refused saying why, and
//! what runs keeps running.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

mod common;

use common::{drain, send};
use sha2::{Digest, Sha256};
use wasmbed_agent::{Agent, AgentConfig, DeployTrust};
use wasmbed_protocol::*;
use wasmbed_trust::SigningKey;

const APP: &str = r#"(module
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "hi")
  (func (export "init") (call $log (i32.const 0) (i32.const 2))))"#;

fn key(seed: u8) -> SigningKey {
    let mut n = seed;
    SigningKey::generate(|b| {
        for x in b.iter_mut() {
            n = n.wrapping_mul(31).wrapping_add(17);
            *x = n;
        }
    })
    .unwrap()
}

fn module(tag: &str) -> Vec<u8> {
    wat::parse_str(APP.replace("\"hi\"", &format!("\"{tag}\""))).unwrap()
}

fn manifest(app: &str, revision: u64, bytes: &[u8], sequence: u64, floor: u64) -> Manifest {
    Manifest {
        application: app.into(),
        revision,
        version: format!("v{revision}"),
        module_sha256: <[u8; 32]>::from(Sha256::digest(bytes)).into(),
        module_size: bytes.len() as u32,
        grants: vec![Capability::Log],
        resources: vec![],
        limits: AppLimits::default(),
        config: vec![ConfigEntry { key: "k".into(), value: "v".into() }],
        sequence,
        floor,
        edge_grants: None,
        native: None,
    }
}

/// An online device pinning `k`.
fn device(k: &SigningKey) -> Agent {
    let trust = DeployTrust::pinned(wasmbed_agent::TrustedKey::from_sec1(k.public_sec1()).unwrap());
    let mut agent = Agent::new(AgentConfig::new("dev-1", "sim")).with_trust(trust);
    agent.connected(0);
    agent.take_outgoing();
    let welcome = Welcome { heartbeat_ms: 60_000, unix_time_s: 0, unix_time_ms: None };
    send(&mut agent, &GatewayMsg::Welcome(welcome), 0).unwrap();
    agent.take_outgoing();
    agent
}

/// Sends `begin` and `bytes` in chunks; returns what the device said.
fn deploy(agent: &mut Agent, begin: DeployBegin, bytes: &[u8]) -> Vec<DeviceMsg> {
    let slot = begin.app.clone();
    send(agent, &GatewayMsg::DeployBegin(begin), 1).unwrap();
    for (i, piece) in bytes.chunks(DEPLOY_CHUNK_LEN).enumerate() {
        let chunk =
            DeployChunk { app: slot.clone(), offset: (i * DEPLOY_CHUNK_LEN) as u32, data: piece.to_vec().into() };
        send(agent, &GatewayMsg::DeployChunk(chunk), 1).unwrap();
    }
    drain(agent)
}

fn signed_deploy(k: &SigningKey, slot: &str, m: &Manifest) -> DeployBegin {
    DeployBegin::for_manifest(slot.into(), m, true, Some(k.sign_manifest(m)))
}

/// The device's verdict: running, or refused with which code and why.
fn verdict(msgs: &[DeviceMsg]) -> Result<(), (ErrorCode, String)> {
    for m in msgs {
        match m {
            DeviceMsg::DeployRejected(r) => return Err((r.reason.code, r.reason.detail.clone())),
            DeviceMsg::AppStatus(s) if s.report.state == AppState::Running => return Ok(()),
            _ => {}
        }
    }
    panic!("no verdict in {msgs:?}")
}

fn running(agent: &mut Agent, slot: &str) -> bool {
    agent.poll(10_000_000, 100_000);
    drain(agent).iter().any(|m| match m {
        DeviceMsg::Heartbeat(h) => h.apps.iter().any(|a| a.app == slot && a.state == AppState::Running),
        _ => false,
    })
}

#[test]
fn a_deploy_signed_by_the_pinned_key_runs() {
    let k = key(1);
    let mut d = device(&k);
    let bytes = module("v1");
    assert_eq!(
        verdict(&deploy(&mut d, signed_deploy(&k, "hello", &manifest("hello", 1, &bytes, 1, 1)), &bytes)),
        Ok(())
    );
    // A blue-green slot of the same application is covered too.
    let m = manifest("hello", 2, &bytes, 2, 1);
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello.r2", &m), &bytes)), Ok(()));
}

#[test]
fn unsigned_tampered_foreign_and_mismatched_deploys_are_refused_and_the_running_app_stays() {
    let k = key(2);
    let mut d = device(&k);
    let good = module("good");
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello", &manifest("hello", 1, &good, 1, 1)), &good)), Ok(()));
    let evil = module("evil");
    let m = manifest("hello", 2, &evil, 2, 1);

    // Unsigned.
    let unsigned = DeployBegin { manifest: None, ..signed_deploy(&k, "hello", &m) };
    let (code, why) = verdict(&deploy(&mut d, unsigned, &evil)).unwrap_err();
    assert_eq!(code, ErrorCode::Unsigned, "{why}");
    assert!(why.contains("no signed manifest"), "{why}");

    // Tampered: a byte of the signed body changed.
    let mut tampered = signed_deploy(&k, "hello", &m);
    if let Some(s) = tampered.manifest.as_mut() {
        let last = s.body.len() - 1;
        s.body[last] ^= 1;
    }
    let (code, why) = verdict(&deploy(&mut d, tampered, &evil)).unwrap_err();
    assert_eq!(code, ErrorCode::BadSignature, "{why}");

    // Signed by another key (a gateway's own, say).
    let (code, why) = verdict(&deploy(&mut d, signed_deploy(&key(3), "hello", &m), &evil)).unwrap_err();
    assert_eq!(code, ErrorCode::BadSignature, "{why}");
    assert!(why.contains("trusts key"), "{why}");

    // Another key's signature under the pinned key's id.
    let mut forged = signed_deploy(&key(3), "hello", &m);
    if let Some(s) = forged.manifest.as_mut() {
        s.key_id = k.id().into();
    }
    assert_eq!(verdict(&deploy(&mut d, forged, &evil)).unwrap_err().0, ErrorCode::BadSignature);

    // A properly signed manifest, but the deploy says something else.
    let signed = signed_deploy(&k, "hello", &m);
    let cases: Vec<(&str, DeployBegin)> = vec![
        ("capabilities", DeployBegin { grants: Some(vec![Capability::Log, Capability::Gpio]), ..signed.clone() }),
        ("version", DeployBegin { version: "v9".into(), ..signed.clone() }),
        ("limits", DeployBegin { limits: AppLimits { fuel_per_call: u64::MAX, ..m.limits }, ..signed.clone() }),
        ("config", DeployBegin { config: None, ..signed.clone() }),
        ("revision", DeployBegin { revision: Some(7), ..signed.clone() }),
        ("is not a slot", DeployBegin { app: "other".into(), ..signed.clone() }),
        // A module a gateway swapped in, announced under its own digest.
        ("module digest", DeployBegin { sha256: <[u8; 32]>::from(Sha256::digest(&good)).into(), ..signed.clone() }),
    ];
    for (what, begin) in cases {
        let (code, why) = verdict(&deploy(&mut d, begin, &evil)).unwrap_err();
        assert_eq!(code, ErrorCode::ManifestMismatch, "{what}: {why}");
        assert!(why.contains(what), "{what}: {why}");
    }
    // Swapped bytes under the signed digest: the hash check refuses them.
    let (code, _) = verdict(&deploy(&mut d, signed.clone(), &good)).unwrap_err();
    assert_eq!(code, ErrorCode::HashMismatch);

    assert!(running(&mut d, "hello"), "the signed version kept running through it all");
}

#[test]
fn an_older_manifest_than_one_accepted_is_a_replay() {
    let k = key(4);
    let mut d = device(&k);
    let (v1, v2, v3) = (module("1"), module("2"), module("3"));
    let old = manifest("hello", 1, &v1, 1, 1);
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello", &old), &v1)), Ok(()));
    // Revision 2 vouches for 1 still (floor 1): a rollback to 1 is fine.
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello", &manifest("hello", 2, &v2, 2, 1)), &v2)), Ok(()));
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello", &old), &v1)), Ok(()));
    // Revision 3 no longer does (floor 2): 1's manifest is now a replay.
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello", &manifest("hello", 3, &v3, 3, 2)), &v3)), Ok(()));
    let (code, why) = verdict(&deploy(&mut d, signed_deploy(&k, "hello", &old), &v1)).unwrap_err();
    assert_eq!(code, ErrorCode::Replayed, "{why}");
    // ...unless the platform signs it again, above the floor.
    let again = manifest("hello", 1, &v1, 4, 4);
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "hello", &again), &v1)), Ok(()));
    // Floors are per application.
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k, "other", &manifest("other", 1, &v1, 1, 1)), &v1)), Ok(()));
}

#[test]
fn a_rotation_signed_by_the_trusted_key_moves_the_device_and_nothing_else_does() {
    let (k0, k1, k2) = (key(5), key(6), key(7));
    let mut d = device(&k0);
    let bytes = module("r");
    // A rotation signed by a key the device does not trust changes nothing.
    send(&mut d, &GatewayMsg::TrustKey(k2.announce(&k1, 1)), 1).unwrap();
    assert_eq!(d.trust().key().map(|t| t.id()), Some(k0.id()));
    // The real one moves it: the old key is refused from then on.
    send(&mut d, &GatewayMsg::TrustKey(k0.announce(&k1, 1)), 1).unwrap();
    assert_eq!(d.trust().key().map(|t| (t.id(), t.generation())), Some((k1.id(), 1)));
    let (code, _) =
        verdict(&deploy(&mut d, signed_deploy(&k0, "a", &manifest("a", 1, &bytes, 1, 1)), &bytes)).unwrap_err();
    assert_eq!(code, ErrorCode::BadSignature);
    assert_eq!(verdict(&deploy(&mut d, signed_deploy(&k1, "a", &manifest("a", 1, &bytes, 1, 1)), &bytes)), Ok(()));
    // The chain sent again next session: stale, ignored.
    send(&mut d, &GatewayMsg::TrustKey(k0.announce(&k1, 1)), 1).unwrap();
    assert_eq!(d.trust().key().map(|t| t.id()), Some(k1.id()));
    // A forged announcement under the trusted key's id ends the session.
    let mut forged = k2.announce(&k2, 2);
    forged.key_id = k1.id().into();
    let err = send(&mut d, &GatewayMsg::TrustKey(forged), 1).unwrap_err();
    assert_eq!(err.code, ErrorCode::BadSignature);
    assert_eq!(d.trust().key().map(|t| t.id()), Some(k1.id()));
}

#[test]
fn a_bundle_decides_what_is_trusted() {
    let k = key(8);
    let mut bundle = IdentityBundle {
        device_id: "d".into(),
        gateway: "g:1".into(),
        ca_der: vec![].into(),
        cert_der: vec![].into(),
        key_der: vec![].into(),
        seed: [0; 32].into(),
        board: "sim".into(),
        alternates: None,
        app_key: None,
        app_key_generation: None,
    };
    assert!(DeployTrust::from_bundle(&bundle).unwrap().key().is_none(), "an old bundle pins nothing");
    bundle.app_key = Some(k.public_sec1().to_vec().into());
    bundle.app_key_generation = Some(3);
    let t = DeployTrust::from_bundle(&bundle).unwrap();
    assert_eq!(t.key().map(|t| (t.id(), t.generation())), Some((k.id(), 3)));
    bundle.app_key = Some(vec![4; 33].into());
    assert!(DeployTrust::from_bundle(&bundle).is_err(), "a broken key is an error, not trust in everything");
}

/// Native code is run only as a signed manifest names it: never on a
/// device that pins no key, never an artifact the manifest does not list
/// exactly (board, digest, size, compiler), never with other bytes.
#[test]
fn native_code_only_as_its_signed_manifest_names_it() {
    let k = key(1);
    let bytes = module("n");
    let code = NativeCode {
        board: "mps2-an385".into(),
        sha256: [9; 32].into(),
        size: 9_000,
        compiler: "wasm2c 1.0.32; arm-none-eabi-gcc 12.2.1".into(),
    };
    let native_begin = |m: &Manifest, code: &NativeCode| DeployBegin {
        size: code.size,
        sha256: code.sha256,
        native: Some(Box::new(code.clone())),
        ..signed_deploy(&k, "hello", m)
    };
    let mut m = manifest("hello", 1, &bytes, 1, 0);
    m.native = Some(vec![code.clone()]);
    // Named exactly: accepted.
    let mut trust = DeployTrust::pinned(wasmbed_agent::TrustedKey::from_sec1(k.public_sec1()).unwrap());
    assert_eq!(trust.check(&native_begin(&m, &code)), Ok(()));
    // A device that pins no key takes no machine code, signed or not.
    let err = DeployTrust::unpinned().check(&native_begin(&m, &code)).unwrap_err();
    assert_eq!(err.0, ErrorCode::Unsigned, "{}", err.1);
    // Not in the manifest: another compiler, another board, another digest.
    for other in [
        NativeCode { compiler: "gcc 13".into(), ..code.clone() },
        NativeCode { board: "mps2-an386".into(), ..code.clone() },
        NativeCode { sha256: [8; 32].into(), ..code.clone() },
    ] {
        let err = trust.check(&native_begin(&m, &other)).unwrap_err();
        assert_eq!(err.0, ErrorCode::ManifestMismatch, "{}", err.1);
        assert!(err.1.contains("native code"), "{}", err.1);
    }
    // The entry named, other bytes announced.
    let swapped = DeployBegin { size: 1, ..native_begin(&m, &code) };
    assert_eq!(trust.check(&swapped).unwrap_err().0, ErrorCode::ManifestMismatch);
    // A manifest that names no native code vouches for the module only.
    let plain = manifest("hello", 1, &bytes, 1, 0);
    assert_eq!(trust.check(&native_begin(&plain, &code)).unwrap_err().0, ErrorCode::ManifestMismatch);
    assert_eq!(trust.check(&signed_deploy(&k, "hello", &plain)), Ok(()));
}

/// A device that installs no native code refuses a signed native deploy
/// saying so, and the app it runs keeps running.
#[test]
fn a_native_deploy_to_a_device_without_a_loader_is_refused_and_nothing_is_lost() {
    let k = key(2);
    let mut agent = device(&k);
    let bytes = module("v1");
    let m1 = manifest("hello", 1, &bytes, 1, 0);
    assert_eq!(verdict(&deploy(&mut agent, signed_deploy(&k, "hello", &m1), &bytes)), Ok(()));
    let code = NativeCode { board: "sim".into(), sha256: [9; 32].into(), size: 64, compiler: "gcc".into() };
    let mut m2 = manifest("hello", 2, &module("v2"), 2, 1);
    m2.native = Some(vec![code.clone()]);
    let begin =
        DeployBegin { size: 64, sha256: code.sha256, native: Some(Box::new(code)), ..signed_deploy(&k, "hello", &m2) };
    let (code, why) = verdict(&deploy(&mut agent, begin, &[0u8; 64])).unwrap_err();
    assert_eq!(code, ErrorCode::InstantiateFailed, "{why}");
    assert!(why.contains("runs no native code"), "{why}");
    assert!(running(&mut agent, "hello"));
}
