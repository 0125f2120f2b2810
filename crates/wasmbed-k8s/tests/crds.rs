//! The committed CRDs are what the types generate, are structural, and
//! their printer columns point at fields the model really writes.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::path::Path;

use serde_json::Value;
use wasmbed_k8s::crd::{crd_yaml, crds};

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[test]
fn committed_crds_match_the_types() {
    for dir in ["deploy/crds", "deploy/helm/wasmbed/crds"] {
        for (file, crd) in crds() {
            let want = crd_yaml(&crd).unwrap();
            let path = root().join(dir).join(file);
            let have = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                have == want,
                "{} is out of date with crates/wasmbed-k8s/src/crd.rs: run `cargo xtask crds` and commit the result",
                path.display()
            );
        }
    }
}

#[test]
fn every_schema_is_structural() {
    for (file, crd) in crds() {
        for v in &crd.spec.versions {
            let schema = serde_json::to_value(v.schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap()).unwrap();
            let bad = wasmbed_k8s::schema::violations(&schema);
            assert!(bad.is_empty(), "{file}: not structural: {bad:?}");
            assert!(v.subresources.as_ref().is_some_and(|s| s.status.is_some()), "{file}: status subresource");
        }
        assert_eq!(crd.spec.group, "wasmbed.io");
        assert_eq!(crd.spec.scope, "Namespaced");
        assert!(crd.spec.names.short_names.as_ref().is_some_and(|s| !s.is_empty()), "{file}: short name");
    }
}

/// Follows a printer column's JSONPath (`.a.b`, `.a[*].b`) through `v`.
fn resolve<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut at = vec![v];
    for part in path.trim_start_matches('.').split('.') {
        let (key, all) = match part.strip_suffix("[*]") {
            Some(k) => (k, true),
            None => (part, false),
        };
        at = at.into_iter().filter_map(|v| v.get(key)).collect();
        if all {
            at = at.into_iter().filter_map(Value::as_array).flatten().collect();
        }
    }
    at
}

#[test]
fn printer_columns_point_at_fields_the_model_writes() {
    use wasmbed_model::*;
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    let mut device = wasmbed_k8s::crd::DeviceResource::new(
        "d",
        wasmbed_k8s::crd::DeviceResourceSpec(DeviceSpec {
            board: "mps2-an385".into(),
            gateway: Some("gw-0".into()),
            ..DeviceSpec::default()
        }),
    );
    device.metadata.creation_timestamp = Some(now.clone());
    let mut status = DeviceStatus::default();
    status.session.gateway = Some("gw-0".into());
    status.session.apps.push(AppObservation {
        name: "hello".into(),
        version: "1".into(),
        digest: "ab".repeat(32),
        state: wasmbed_model::AppState::Running,
        revision: Some(1),
        reason: None,
        counters: Some(wasmbed_model::AppCounters { samples: 3, ..Default::default() }),
        metrics: [("temp_c".to_string(), wasmbed_model::Gauge(21.5))].into(),
    });
    device.status = Some(status);

    let spec = ApplicationSpec {
        version: "1".into(),
        digest: "ab".repeat(32),
        size: 1,
        runtime: wasmbed_model::Runtime::Device,
        execution: wasmbed_model::Execution::Auto,
        capabilities: default_capabilities(),
        limits: Limits::default(),
        config: [("threshold_c".to_string(), "30".to_string())].into(),
        selector: String::new(),
        strategy: Strategy::canary("1,100%").unwrap(),
        paused: false,
        abort_revision: None,
    };
    // A revision with one board's native build and one fallback.
    let mut revision = wasmbed_model::Revision::new(1, spec.template(), 0);
    revision.native = vec![
        wasmbed_model::NativeBuild::built(wasmbed_model::NativeArtifactRef {
            board: "mps2-an385".into(),
            digest: "cd".repeat(32),
            size: 8610,
            compiler: "wasm2c 1.0.32; arm-none-eabi-gcc 12.2.1".into(),
        }),
        wasmbed_model::NativeBuild::failed("sim", "the host simulator runs no native code: interpreted"),
    ];
    let mut app = wasmbed_k8s::crd::ApplicationResource::new("a", wasmbed_k8s::crd::ApplicationResourceSpec(spec));
    app.metadata.creation_timestamp = Some(now.clone());
    app.status = Some(ApplicationStatus {
        revision: Some(1),
        rollout: Some(RolloutStatus::start(1, None, 0)),
        history: vec![revision],
        ..ApplicationStatus::default()
    });

    let gw_spec = GatewaySpec { endpoint: "10.0.0.1:4443".into(), capacity: 10, ..Default::default() };
    let mut gw = wasmbed_k8s::crd::GatewayResource::new("g", wasmbed_k8s::crd::GatewayResourceSpec(gw_spec));
    gw.metadata.creation_timestamp = Some(now);
    gw.status = Some(GatewayStatus::default());

    let samples = [
        serde_json::to_value(&device).unwrap(),
        serde_json::to_value(&app).unwrap(),
        serde_json::to_value(&gw).unwrap(),
    ];
    let expected: [&[&str]; 3] = [
        &["Board", "Phase", "Gateway", "Apps", "Connected", "Age"],
        &["Version", "Revision", "Strategy", "Rollout", "Updated", "Running", "Failed", "Age"],
        &["Endpoint", "Capacity", "Sessions", "Health", "Age"],
    ];
    for (((file, crd), sample), names) in crds().into_iter().zip(&samples).zip(expected) {
        let columns = crd.spec.versions[0].additional_printer_columns.clone().unwrap_or_default();
        let have: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(have, names, "{file}");
        for c in &columns {
            assert!(
                !resolve(sample, &c.json_path).is_empty(),
                "{file}: column {} ({}) finds nothing",
                c.name,
                c.json_path
            );
        }
    }
}

#[test]
fn the_examples_read_as_the_models_resources_and_validate() {
    use wasmbed_k8s::crd::{ApplicationResource, DeviceResource, GatewayResource};
    let read = |f: &str| std::fs::read_to_string(root().join("deploy/examples").join(f)).unwrap();
    let d: DeviceResource = serde_saphyr::from_str(&read("device.yaml")).unwrap();
    d.spec.0.validate().unwrap();
    let a: ApplicationResource = serde_saphyr::from_str(&read("application.yaml")).unwrap();
    a.spec.0.validate().unwrap();
    assert_eq!(a.spec.0.strategy.name(), "canary");
    let g: GatewayResource = serde_saphyr::from_str(&read("gateway.yaml")).unwrap();
    g.spec.0.validate().unwrap();
}

/// The properties the CRD declares at `pointer` (a JSON pointer into the schema).
fn declared(crd: &str, pointer: &str) -> Vec<String> {
    let (_, crd) = crds().into_iter().find(|(f, _)| f.starts_with(crd)).unwrap();
    let schema =
        serde_json::to_value(crd.spec.versions[0].schema.as_ref().unwrap().open_api_v3_schema.as_ref().unwrap())
            .unwrap();
    let mut keys: Vec<String> = schema.pointer(pointer).and_then(Value::as_object).unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[test]
fn status_patches_write_declared_fields_and_whole_parts() {
    use wasmbed_model::*;
    // A field the schema does not declare would be pruned silently by the API server.
    let status_props = declared("devices", "/properties/status/properties");
    let parts = [
        DeviceStatusPatch::Session(SessionStatus::default()),
        DeviceStatusPatch::Process(Some(ProcessStatus {
            state: ProcessState::Running,
            restarts: 0,
            started_ms: None,
            message: None,
        })),
        DeviceStatusPatch::Lifecycle { phase: DevicePhase::Online, conditions: vec![] },
        DeviceStatusPatch::Refused(RefusedIdentity::next(None, 1, "f", "127.0.0.1:1", "gateway-0")),
    ];
    for p in &parts {
        let body = wasmbed_k8s::device_status_part(p).unwrap();
        for k in keys(&body) {
            assert!(status_props.contains(&k), "{k} not in the Device status schema");
        }
    }
    // Parts are sent whole (every field, null when absent), so a merge replaces them.
    let session = wasmbed_k8s::device_status_part(&parts[0]).unwrap();
    assert_eq!(keys(&session["session"]), declared("devices", "/properties/status/properties/session/properties"));
    let process = wasmbed_k8s::device_status_part(&parts[1]).unwrap();
    assert_eq!(keys(&process["process"]), declared("devices", "/properties/status/properties/process/properties"));
    let refused = wasmbed_k8s::device_status_part(&parts[3]).unwrap();
    assert_eq!(keys(&refused["refused"]), declared("devices", "/properties/status/properties/refused/properties"));
    let gw_props = declared("gateways", "/properties/status/properties");
    for p in [
        GatewayStatusPatch::Report { sessions: 1, at_ms: 2, report_ms: 3 },
        GatewayStatusPatch::Health(GatewayHealth::Healthy),
        GatewayStatusPatch::Edge { apps: vec![], journal: vec![] },
    ] {
        for k in keys(&wasmbed_k8s::gateway_status_part(&p).unwrap()) {
            assert!(gw_props.contains(&k), "{k} not in the Gateway status schema");
        }
    }
}
