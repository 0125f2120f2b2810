//! Generated files, each written by one command from the code it
//! describes; a test in `cargo xtask test` fails when the committed copy
//! drifts.

use anyhow::Result;

use crate::{cargo, root, run};

/// Writes the CRDs generated from `crates/wasmbed-k8s` into `deploy/crds/`
/// and the Helm chart.
pub fn crds() -> Result<()> {
    run(
        "generate CRDs",
        cargo()
            .args(["run", "--locked", "--quiet", "-p", "wasmbed-k8s", "--bin", "wasmbed-crds", "--"])
            .args([root().join("deploy/crds"), root().join("deploy/helm/wasmbed/crds")]),
    )
}

/// Writes `docs/openapi.json` from the API's handlers and types.
pub fn openapi() -> Result<()> {
    run(
        "write docs/openapi.json from the API's code",
        cargo().args(["test", "--locked", "-p", "wasmbed-api", "--test", "openapi"]).env("UPDATE_OPENAPI", "1"),
    )
}
