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
    status.session.apps.push(AppObservation {
        name: "hello".into(),
        version: "1".into(),
        digest: "ab".repeat(32),
        state: "running".into(),
        revision: Some(1),
        reason: None,
    });
    device.status = Some(status);

    let spec = ApplicationSpec {
        version: "1".into(),
        digest: "ab".repeat(32),
        size: 1,
        capabilities: default_capabilities(),
        limits: Limits::default(),
        selector: String::new(),
        strategy: Strategy::canary("1,100%").unwrap(),
        paused: false,
        abort_revision: None,
    };
    let mut app = wasmbed_k8s::crd::ApplicationResource::new("a", wasmbed_k8s::crd::ApplicationResourceSpec(spec));
    app.metadata.creation_timestamp = Some(now.clone());
    app.status = Some(ApplicationStatus {
        revision: Some(1),
        rollout: Some(RolloutStatus::start(1, None, 0)),
        ..ApplicationStatus::default()
    });

    let gw_spec = GatewaySpec { endpoint: "10.0.0.1:4443".into(), device_endpoint: None, capacity: 10 };
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
