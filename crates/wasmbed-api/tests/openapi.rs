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
    for path in
        ["/api/v1/devices/{name}/terminal", "/api/v1/applications/{name}/rollback", "/api/v1/events", "/metrics"]
    {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    assert!(doc["components"]["schemas"]["Strategy"].is_object(), "model types are in the document");
}
