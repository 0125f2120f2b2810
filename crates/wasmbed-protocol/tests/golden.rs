//! Golden vectors: the exact bytes of one frame per message variant (and of
//! one identity bundle), checked in as hex under `tests/golden/`.
//!
//! Firmware built from an older commit must keep understanding a newer
//! gateway and the other way round, so any change to these bytes is a wire
//! change and must be deliberate. Regenerate after one with:
//!
//! ```text
//! UPDATE_GOLDEN=1 cargo test -p wasmbed-protocol --test golden
//! ```
//!
//! Without `UPDATE_GOLDEN`, a missing or different file fails the test.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use wasmbed_protocol::*;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("golden")
}

fn updating() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Lower-case hex, 32 bytes a line, so a diff points at the changed field.
fn to_hex_lines(bytes: &[u8]) -> String {
    let mut out = String::new();
    for line in bytes.chunks(32) {
        out.push_str(&hex::encode(line));
        out.push('\n');
    }
    out
}

fn from_hex_text(text: &str) -> Vec<u8> {
    let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(digits).expect("golden file is not valid hex")
}

/// Compares `wire` with `tests/golden/<name>.hex` (or rewrites it) and
/// returns the bytes from the file, for decoding back.
fn check_golden(name: &str, wire: &[u8]) -> Vec<u8> {
    let path = golden_dir().join(format!("{name}.hex"));
    if updating() {
        std::fs::create_dir_all(golden_dir()).expect("create tests/golden");
        std::fs::write(&path, to_hex_lines(wire)).expect("write golden file");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; generate it with `UPDATE_GOLDEN=1 cargo test -p wasmbed-protocol --test golden`",
            path.display()
        )
    });
    let expected = from_hex_text(&text);
    if expected != wire {
        let mut msg = String::new();
        let _ = writeln!(msg, "{name}: encoding differs from {}", path.display());
        let _ = writeln!(msg, "expected:\n{}", to_hex_lines(&expected));
        let _ = writeln!(msg, "actual:\n{}", to_hex_lines(wire));
        let _ = write!(msg, "if the wire change is intended, rerun with UPDATE_GOLDEN=1");
        panic!("{msg}");
    }
    expected
}

/// Runs a golden frame through the reader, as a peer would receive it.
fn single_payload(frame: &[u8]) -> Vec<u8> {
    let mut reader = FrameReader::new(MAX_FRAME_LEN);
    reader.push(frame).expect("golden frame header is valid");
    let payload = reader.next_frame().expect("golden frame is valid").expect("golden frame is complete");
    assert_eq!(reader.buffered(), 0, "golden file holds exactly one frame");
    payload
}

// An exhaustive match, so that a new variant fails to compile here until it
// has a name (and then a missing sample fails `every_variant_has_a_vector`).
fn device_name(msg: &DeviceMsg) -> &'static str {
    match msg {
        DeviceMsg::Enroll(_) => "device_enroll",
        DeviceMsg::Heartbeat(_) => "device_heartbeat",
        DeviceMsg::AppStatus(_) => "device_app_status",
        DeviceMsg::AppLog(_) => "device_app_log",
        DeviceMsg::DeployRejected(_) => "device_deploy_rejected",
        DeviceMsg::Error(_) => "device_error",
        DeviceMsg::CommandResult(_) => "device_command_result",
        DeviceMsg::Telemetry(_) => "device_telemetry",
        DeviceMsg::MessageResult(_) => "device_message_result",
    }
}

fn gateway_name(msg: &GatewayMsg) -> &'static str {
    match msg {
        GatewayMsg::Welcome(_) => "gateway_welcome",
        GatewayMsg::DeployBegin(_) => "gateway_deploy_begin",
        GatewayMsg::DeployChunk(_) => "gateway_deploy_chunk",
        GatewayMsg::Start(_) => "gateway_start",
        GatewayMsg::Stop(_) => "gateway_stop",
        GatewayMsg::Remove(_) => "gateway_remove",
        GatewayMsg::Error(_) => "gateway_error",
        GatewayMsg::Command(_) => "gateway_command",
        GatewayMsg::AppMessage(_) => "gateway_app_message",
        GatewayMsg::TrustKey(_) => "gateway_trust_key",
    }
}

const BUNDLE_NAME: &str = "identity_bundle";
const ALTERNATES_NAME: &str = "identity_bundle_alternates";
const DEVICE_VARIANTS: usize = 9;
const GATEWAY_VARIANTS: usize = 10;

fn sha(seed: u8) -> minicbor::bytes::ByteArray<32> {
    core::array::from_fn(|i| seed.wrapping_add(i as u8)).into()
}

fn report(app: &str, state: AppState) -> AppReport {
    AppReport { app: app.into(), version: "1.2.0".into(), sha256: sha(0x10), state, revision: None, counters: None }
}

fn device_samples() -> Vec<DeviceMsg> {
    vec![
        DeviceMsg::Enroll(Enroll {
            device_id: "dev-7".into(),
            board: "mps2-an385".into(),
            firmware_version: "0.1.0".into(),
            simulated: false,
            apps: vec![report("hello", AppState::Running)],
        }),
        DeviceMsg::Heartbeat(Heartbeat {
            uptime_ms: 86_400_123,
            free_memory: 40_960,
            apps: vec![report("hello", AppState::Running), report("ticker", AppState::Stopped)],
        }),
        DeviceMsg::AppStatus(AppStatus {
            report: report("ticker", AppState::Failed),
            reason: Some(FailReason { code: ErrorCode::OutOfFuel, detail: "fuel exhausted in tick".into() }),
        }),
        DeviceMsg::AppLog(AppLog { app: "hello".into(), uptime_ms: 1_500, line: "hello #3".into() }),
        DeviceMsg::DeployRejected(DeployRejected {
            app: "ticker".into(),
            version: "2.0.0".into(),
            reason: FailReason { code: ErrorCode::HashMismatch, detail: "sha256 differs".into() },
        }),
        DeviceMsg::Error(ErrorReport { code: ErrorCode::BadChunk, detail: "offset 4096, expected 0".into() }),
        DeviceMsg::CommandResult(CommandResult {
            id: 7,
            outcome: CommandOutcome::Refused,
            output: "unknown command \"rm\"".into(),
        }),
        DeviceMsg::Telemetry(TelemetryBatch {
            app: "thermostat".into(),
            revision: Some(3),
            uptime_ms: 12_000,
            unix_ms: Some(1_767_225_612_000),
            samples: vec![Sample { metric: "temp_c".into(), uptime_ms: 11_990, value: 21.5 }],
            dropped: 2,
        }),
        DeviceMsg::MessageResult(MessageResult { id: 9, delivery: Delivery::NoHandler }),
    ]
}

fn gateway_samples() -> Vec<GatewayMsg> {
    vec![
        GatewayMsg::Welcome(Welcome { heartbeat_ms: 5_000, unix_time_s: 1_767_225_600, unix_time_ms: None }),
        GatewayMsg::DeployBegin(DeployBegin {
            app: "ticker".into(),
            version: "2.0.0".into(),
            size: 1_234,
            sha256: sha(0xa0),
            limits: AppLimits { fuel_per_call: 500_000, max_memory_pages: 2, tick_ms: 250 },
            revision: None,
            start: None,
            grants: None,
            resources: None,
            config: None,
            manifest: None,
            native: None,
        }),
        GatewayMsg::DeployChunk(DeployChunk {
            app: "ticker".into(),
            offset: 0,
            data: b"\0asm\x01\0\0\0".to_vec().into(),
        }),
        GatewayMsg::Start(AppRef { app: "hello".into() }),
        GatewayMsg::Stop(AppRef { app: "hello".into() }),
        GatewayMsg::Remove(AppRef { app: "ticker".into() }),
        GatewayMsg::Error(ErrorReport { code: ErrorCode::IdentityMismatch, detail: "enrolled as dev-8".into() }),
        GatewayMsg::Command(Command { id: 7, name: "restart-app".into(), args: vec!["hello".into()] }),
        GatewayMsg::AppMessage(AppMessage { id: 9, app: "echo".into(), payload: b"ping".to_vec().into() }),
        GatewayMsg::TrustKey(signed_sample(KeyRotation { key: vec![0x02; 33].into(), generation: 1 }.to_body())),
    ]
}

fn bundle_sample() -> IdentityBundle {
    IdentityBundle {
        device_id: "dev-7".into(),
        gateway: "10.0.2.2:4443".into(),
        ca_der: vec![0x30, 0x82, 0x01, 0x0a].into(),
        cert_der: vec![0x30, 0x82, 0x01, 0x0b].into(),
        key_der: vec![0x30, 0x81, 0x87].into(),
        seed: sha(0x55),
        board: "mps2-an385".into(),
        alternates: None,
        app_key: None,
        app_key_generation: None,
    }
}

/// Messages with the fields added after the first vectors: named apart, so
/// the first vectors stay exactly as old firmware and gateways wrote them.
fn later_samples() -> Vec<(&'static str, GatewayMsg)> {
    vec![
        (
            "gateway_deploy_begin_revision",
            GatewayMsg::DeployBegin(DeployBegin {
                app: "ticker.r7".into(),
                version: "2.0.0".into(),
                size: 1_234,
                sha256: sha(0xa0),
                limits: AppLimits { fuel_per_call: 500_000, max_memory_pages: 2, tick_ms: 250 },
                revision: Some(7),
                start: Some(false),
                grants: Some(vec![Capability::Log, Capability::Device]),
                resources: None,
                config: None,
                manifest: None,
                native: None,
            }),
        ),
        (
            "gateway_deploy_begin_hardware",
            GatewayMsg::DeployBegin(DeployBegin {
                app: "thermostat".into(),
                version: "1.0.0".into(),
                size: 900,
                sha256: sha(0xb0),
                limits: AppLimits { fuel_per_call: 500_000, max_memory_pages: 1, tick_ms: 1_000 },
                revision: Some(2),
                start: None,
                grants: Some(vec![Capability::Gpio, Capability::I2c, Capability::Telemetry, Capability::Config]),
                resources: Some(vec![Resource::Gpio(Pin::Led(0)), Resource::I2c { bus: 0, addr: 0x48 }]),
                config: Some(vec![ConfigEntry { key: "threshold_c".into(), value: "30".into() }]),
                manifest: None,
                native: None,
            }),
        ),
        ("gateway_deploy_begin_signed", {
            let m = manifest_sample();
            GatewayMsg::DeployBegin(DeployBegin::for_manifest(
                "thermostat".into(),
                &m,
                true,
                Some(signed_sample(m.to_body())),
            ))
        }),
        (
            "gateway_welcome_ms",
            GatewayMsg::Welcome(Welcome {
                heartbeat_ms: 5_000,
                unix_time_s: 1_767_225_600,
                unix_time_ms: Some(1_767_225_600_123),
            }),
        ),
    ]
}

fn later_device_samples() -> Vec<(&'static str, DeviceMsg)> {
    vec![
        (
            "device_heartbeat_revision",
            DeviceMsg::Heartbeat(Heartbeat {
                uptime_ms: 1_000,
                free_memory: 4_096,
                apps: vec![AppReport { revision: Some(7), ..report("ticker.r7", AppState::Stopped) }],
            }),
        ),
        (
            "device_deploy_rejected_replayed",
            DeviceMsg::DeployRejected(DeployRejected {
                app: "thermostat".into(),
                version: "1.0.0".into(),
                reason: FailReason { code: ErrorCode::Replayed, detail: "manifest 3 is older than 4".into() },
            }),
        ),
        (
            "device_heartbeat_counters",
            DeviceMsg::Heartbeat(Heartbeat {
                uptime_ms: 2_000,
                free_memory: 4_096,
                apps: vec![AppReport {
                    counters: Some(AppCounters {
                        denied: 1,
                        hw_errors: 2,
                        dropped_samples: 3,
                        samples: 40,
                        messages: 5,
                    }),
                    ..report("thermostat", AppState::Running)
                }],
            }),
        ),
    ]
}

/// A manifest as the control plane signs one.
fn manifest_sample() -> Manifest {
    Manifest {
        application: "thermostat".into(),
        revision: 2,
        version: "1.0.0".into(),
        module_sha256: sha(0xb0),
        module_size: 900,
        grants: vec![Capability::Log, Capability::I2c],
        resources: vec![Resource::I2c { bus: 0, addr: 0x48 }],
        limits: AppLimits { fuel_per_call: 500_000, max_memory_pages: 1, tick_ms: 1_000 },
        config: vec![ConfigEntry { key: "threshold_c".into(), value: "30".into() }],
        sequence: 5,
        floor: 4,
        edge_grants: None,
        native: None,
    }
}

/// An envelope around `body` (the signature bytes are a fixed pattern:
/// the vector pins the encoding, not a key).
fn signed_sample(body: Vec<u8>) -> Signed {
    Signed { body: body.into(), key_id: [0x4b; 8].into(), signature: [0x5a; 64].into() }
}

fn bundle_with_alternates() -> IdentityBundle {
    IdentityBundle { alternates: Some(vec!["10.0.2.2:4444".into()]), ..bundle_sample() }
}

/// Encodes `msg` as one frame, compares it with its golden file, and
/// checks that the file's frame decodes back to `msg`.
fn check_golden_frame<M>(name: &str, msg: &M, decode: fn(&[u8]) -> Result<M, FrameError>)
where
    M: minicbor::Encode<()> + PartialEq + std::fmt::Debug,
{
    let mut wire = Vec::new();
    encode_frame(msg, &mut wire).expect("sample encodes");
    let file = check_golden(name, &wire);
    assert_eq!(decode(&single_payload(&file)).expect("golden frame decodes"), *msg, "{name}");
}

#[test]
fn device_messages_match_golden_frames() {
    for msg in device_samples() {
        check_golden_frame(device_name(&msg), &msg, decode_device_msg);
    }
}

#[test]
fn gateway_messages_match_golden_frames() {
    for msg in gateway_samples() {
        check_golden_frame(gateway_name(&msg), &msg, decode_gateway_msg);
    }
}

#[test]
fn identity_bundle_matches_golden_bytes() {
    let pinned = IdentityBundle {
        app_key: Some(vec![0x03; 33].into()),
        app_key_generation: Some(2),
        ..bundle_with_alternates()
    };
    for (name, bundle) in [
        (BUNDLE_NAME, bundle_sample()),
        (ALTERNATES_NAME, bundle_with_alternates()),
        ("identity_bundle_app_key", pinned),
    ] {
        let file = check_golden(name, &bundle.to_bytes());
        assert_eq!(IdentityBundle::from_bytes(&file).expect("golden bundle decodes"), bundle, "{name}");
    }
    let bundle = bundle_with_alternates();
    assert_eq!(bundle.gateways().collect::<Vec<_>>(), ["10.0.2.2:4443", "10.0.2.2:4444"]);
}

#[test]
fn later_fields_match_golden_frames() {
    for (name, msg) in later_samples() {
        check_golden_frame(name, &msg, decode_gateway_msg);
    }
    for (name, msg) in later_device_samples() {
        check_golden_frame(name, &msg, decode_device_msg);
    }
}

#[test]
fn every_variant_has_a_vector_and_no_vector_is_stale() {
    let mut expected: BTreeSet<String> = BTreeSet::new();
    expected.extend(device_samples().iter().map(|m| format!("{}.hex", device_name(m))));
    expected.extend(gateway_samples().iter().map(|m| format!("{}.hex", gateway_name(m))));
    expected.insert(format!("{BUNDLE_NAME}.hex"));
    assert_eq!(expected.len(), DEVICE_VARIANTS + GATEWAY_VARIANTS + 1, "one sample per variant");
    expected.insert(format!("{ALTERNATES_NAME}.hex"));
    expected.insert("identity_bundle_app_key.hex".into());
    expected.extend(later_samples().iter().map(|(n, _)| format!("{n}.hex")));
    expected.extend(later_device_samples().iter().map(|(n, _)| format!("{n}.hex")));

    if updating() {
        return; // the other tests may still be writing files
    }
    let on_disk: BTreeSet<String> = std::fs::read_dir(golden_dir())
        .expect("tests/golden exists")
        .map(|e| e.expect("readable dir entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".hex"))
        .collect();
    assert_eq!(on_disk, expected, "tests/golden holds exactly one file per sample");
}
