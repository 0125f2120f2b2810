//! The OpenAPI document is generated from the code; the committed copy
//! (`docs/openapi.json`) must match it. After an API change regenerate it:
//!
//! ```text
//! cargo xtask openapi      # UPDATE_OPENAPI=1 cargo test -p wasmbed-api --test openapi
//! ```

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test.

use std::path::Path;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = wasmbed_api::openapi::document();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v != "0") {
        std::fs::write(&path, format!("{generated}\n")).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed.trim_end() == generated.trim_end(),
        "docs/openapi.json differs from the code: run `cargo xtask openapi` and commit it"
    );
    let doc: serde_json::Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/api/v1/devices/{name}/terminal",
        "/api/v1/devices/{name}/telemetry/{metric}",
        "/api/v1/applications/{name}/rollback",
        "/api/v1/applications/{name}/messages",
        "/api/v1/applications/{name}/telemetry/{metric}",
        "/api/v1/events",
        "/api/v1/signing/rotate",
        "/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["Strategy"].is_object(), "model types are in the document");
    assert!(doc["components"]["schemas"]["TelemetrySample"].is_object(), "the telemetry event's data is named");
}

/// Every `$ref` names a schema the document defines (utoipa does not
/// collect types named only as path parameters: a dangling reference breaks
/// the dashboard's generated types).
#[test]
fn every_reference_resolves() {
    fn refs<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v.as_str()) {
                        ("$ref", Some(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc: serde_json::Value = serde_json::from_str(&wasmbed_api::openapi::document()).unwrap();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(doc["components"]["schemas"][name].is_object(), "{r} is not defined");
    }
}
