//! Offline checks of what goes to a cluster: the CRDs, the Helm chart
//! rendered with default and overridden values, and the device Pod the
//! controller creates. No cluster is involved.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run, tools};

/// The Kubernetes version manifests are checked against (k8s-openapi's
/// `v1_33`; the chart's floor is 1.30).
const KUBERNETES_VERSION: &str = "1.33.0";

/// A well-formed image digest for the renders below (the SHA-256 of nothing:
/// a placeholder, no image has it); there is no registry here to ask.
const PLACEHOLDER_DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Renders the Helm chart (defaults and overridden values) and validates it,
/// the CRDs and the controller's device Pod with `kubernetes-validate
/// --strict`; checks that bad values are refused by the chart's schema.
pub fn manifests() -> Result<()> {
    manifests_with(None)
}

/// [`manifests`], with the `wasmbed-crds` binary at `crds_bin` when one is
/// built already (`cargo test --workspace` builds it with the test
/// feature set; `cargo run -p` would compile its dependencies again).
pub fn manifests_with(crds_bin: Option<&Path>) -> Result<()> {
    let helm = tools::ensure_helm()?;
    tools::ensure_kubernetes_validate()?;
    let chart = root().join("deploy/helm/wasmbed");
    let out = root().join("target/k8s");
    std::fs::create_dir_all(&out)?;
    run("helm lint --strict", Command::new(&helm).args(["lint", "--strict"]).arg(&chart))?;
    let digests = format!("images.gateway.digest={PLACEHOLDER_DIGEST},images.device.digest={PLACEHOLDER_DIGEST}");
    let renders: [(&str, &[&str]); 2] = [
        ("chart-defaults.yaml", &[]),
        (
            "chart-values.yaml",
            &[
                "--set",
                "gateway.replicas=3,namespace=fleet,images.device.tag=dev,gateway.port=5443",
                "--set",
                "api.persistence.enabled=false",
                "--set",
                &digests,
            ],
        ),
    ];
    let mut files = Vec::new();
    for (file, set) in renders {
        let mut c = Command::new(&helm);
        c.args([
            "template",
            "wasmbed",
            "--namespace",
            "wasmbed",
            "--include-crds",
            "--kube-version",
            KUBERNETES_VERSION,
        ])
        .arg(&chart)
        .args(set);
        let rendered = c.output().with_context(|| format!("cannot run {}", helm.display()))?;
        if !rendered.status.success() {
            bail!("helm template failed: {}", String::from_utf8_lossy(&rendered.stderr));
        }
        std::fs::write(out.join(file), &rendered.stdout)?;
        files.push(out.join(file));
    }
    // A digest, when given, names the image, and wins over a tag.
    let values = std::fs::read_to_string(out.join("chart-values.yaml"))?;
    for want in [
        format!("\"wasmbed/gateway@{PLACEHOLDER_DIGEST}\""),
        format!("--device-image=wasmbed/device@{PLACEHOLDER_DIGEST}"),
    ] {
        if !values.contains(&want) {
            bail!("the chart rendered with digests does not say {want}");
        }
    }
    if values.contains("wasmbed/device:dev") {
        bail!("the chart used the device image's tag although a digest was given");
    }
    secrets_by_name(&std::fs::read_to_string(out.join("chart-defaults.yaml"))?)?;
    // Bad values are refused by the chart's schema, naming the value.
    for (bad, field) in [
        ("api.persistence.size=lots", "api.persistence.size"),
        ("gateway.controlPort=0", "gateway.controlPort"),
        ("gateway.networkPolicy=maybe", "gateway.networkPolicy"),
        // The API is served in clear: never on a node port or a load balancer.
        ("api.serviceType=LoadBalancer", "api.serviceType"),
        ("api.serviceType=NodePort", "api.serviceType"),
        // Digests only in their one form: a tag or a short hash is not one.
        ("images.gateway.digest=latest", "images.gateway.digest"),
        ("images.device.digest=sha256:E3B0C442", "images.device.digest"),
    ] {
        let mut c = Command::new(&helm);
        c.args(["template", "wasmbed", "--kube-version", KUBERNETES_VERSION]).arg(&chart).args(["--set", bad]);
        let refused = c.output().with_context(|| format!("cannot run {}", helm.display()))?;
        let why = String::from_utf8_lossy(&refused.stderr);
        if refused.status.success() || !why.contains(field) {
            bail!("the chart accepted --set {bad} (or did not name {field}): {why}");
        }
    }
    let mut crds = match crds_bin {
        Some(bin) => Command::new(bin),
        None => {
            let mut c = cargo();
            c.args(["run", "--locked", "--quiet", "-p", "wasmbed-k8s", "--bin", "wasmbed-crds", "--"]);
            c
        }
    };
    let pod = crds.arg("--device-pod").output().context("cannot render the device Pod")?;
    if !pod.status.success() {
        bail!("rendering the device Pod failed: {}", String::from_utf8_lossy(&pod.stderr));
    }
    std::fs::write(out.join("device-pod.yaml"), &pod.stdout)?;
    files.push(out.join("device-pod.yaml"));
    for crd in std::fs::read_dir(root().join("deploy/crds"))? {
        files.push(crd?.path());
    }
    files.sort();
    run(
        "kubernetes-validate --strict (CRDs, rendered chart, device Pod)",
        Command::new("kubernetes-validate").args(["--strict", "--quiet", "-k", KUBERNETES_VERSION]).args(&files),
    )
}

/// Checks the controller's Role in a chart rendered for release `wasmbed`:
/// the release's Secrets are read by name, only the token file is patched,
/// and what is granted on Secrets without names is only what RBAC cannot
/// limit by name (`create`; device identities are never read nor deleted).
fn secrets_by_name(rendered: &str) -> Result<()> {
    let role = rendered
        .split("\n---")
        .find(|doc| doc.contains("\nkind: Role\n") && doc.contains("name: wasmbed-controller\n"))
        .context("no controller Role in the rendered chart")?;
    let mut named: Vec<(String, Vec<String>)> = Vec::new();
    for rule in role.split("\n  - apiGroups:").filter(|r| r.contains("resources: [\"secrets\"]")) {
        let verbs = rule.lines().find_map(|l| l.trim().strip_prefix("verbs: ")).context("a rule without verbs")?;
        let names: Vec<String> =
            rule.lines().filter_map(|l| l.trim().strip_prefix("- ")).map(|n| n.trim().to_owned()).collect();
        if names.is_empty() {
            let mut granted = verbs.trim_matches(|c| c == '[' || c == ']').split(',').map(str::trim);
            if let Some(v) = granted.find(|v| *v != "\"create\"") {
                bail!("the controller may {v} every Secret: name them (resourceNames)");
            }
        } else {
            named.push((verbs.to_owned(), names));
        }
    }
    let release = ["ca", "app-signing", "gateway-tls", "gateway-control", "api-tokens", "admin-token"];
    let gets = named.iter().find(|(v, _)| v.contains("\"get\"")).map(|(_, n)| n.clone()).unwrap_or_default();
    let patches = named.iter().find(|(v, _)| v.contains("\"patch\"")).map(|(_, n)| n.clone()).unwrap_or_default();
    if gets != release.map(|n| format!("wasmbed-{n}")) || patches != ["wasmbed-api-tokens", "wasmbed-app-signing"] {
        bail!(
            "the controller's Role should get the release's Secrets and patch its token file and app-signing keys \
             by name: {named:?}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::secrets_by_name;

    /// A controller Role as the chart renders it, with `unnamed` as the
    /// verbs of its Secrets rule without names.
    fn role(unnamed: &str) -> String {
        let gets = ["ca", "app-signing", "gateway-tls", "gateway-control", "api-tokens", "admin-token"]
            .map(|n| format!("      - wasmbed-{n}\n"))
            .concat();
        format!(
            "---\nkind: Role\nmetadata:\n  name: wasmbed-controller\nrules:\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    verbs: {unnamed}\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    resourceNames:\n{gets}    verbs: [\"get\"]\n  - apiGroups: [\"\"]\n    resources: [\"secrets\"]\n    resourceNames:\n      - wasmbed-api-tokens\n      - wasmbed-app-signing\n    verbs: [\"patch\"]\n"
        )
    }

    #[test]
    fn only_create_is_granted_on_secrets_without_names() {
        assert!(secrets_by_name(&role("[\"create\"]")).is_ok());
        for bad in ["[\"create\", \"get\"]", "[\"delete\"]", "[\"*\"]", "[\"list\", \"create\"]"] {
            assert!(secrets_by_name(&role(bad)).is_err(), "{bad}");
        }
    }
}
