//! Offline checks of what goes to a cluster: the CRDs, the Helm chart
//! rendered with default and overridden values, and the device Pod the
//! controller creates. No cluster is involved.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, root, run, tools};

/// The Kubernetes version manifests are checked against (k8s-openapi's
/// `v1_33`; the chart's floor is 1.30).
const KUBERNETES_VERSION: &str = "1.33.0";

/// Renders the Helm chart (defaults and overridden values) and validates it,
/// the CRDs and the controller's device Pod with `kubernetes-validate
/// --strict`; checks that bad values are refused by the chart's schema.
pub fn manifests() -> Result<()> {
    let helm = tools::ensure_helm()?;
    tools::ensure_kubernetes_validate()?;
    let chart = root().join("deploy/helm/wasmbed");
    let out = root().join("target/k8s");
    std::fs::create_dir_all(&out)?;
    run("helm lint --strict", Command::new(&helm).args(["lint", "--strict"]).arg(&chart))?;
    let renders: [(&str, &[&str]); 2] = [
        ("chart-defaults.yaml", &[]),
        (
            "chart-values.yaml",
            &[
                "--set",
                "gateway.replicas=3,namespace=fleet,images.device.tag=dev,gateway.port=5443",
                "--set",
                "api.persistence.enabled=false",
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
    // Bad values are refused by the chart's schema, naming the value.
    for (bad, field) in [
        ("api.persistence.size=lots", "api.persistence.size"),
        ("gateway.controlPort=0", "gateway.controlPort"),
        ("gateway.networkPolicy=maybe", "gateway.networkPolicy"),
        // The API is served in clear: never on a node port or a load balancer.
        ("api.serviceType=LoadBalancer", "api.serviceType"),
        ("api.serviceType=NodePort", "api.serviceType"),
    ] {
        let mut c = Command::new(&helm);
        c.args(["template", "wasmbed", "--kube-version", KUBERNETES_VERSION]).arg(&chart).args(["--set", bad]);
        let refused = c.output().with_context(|| format!("cannot run {}", helm.display()))?;
        let why = String::from_utf8_lossy(&refused.stderr);
        if refused.status.success() || !why.contains(field) {
            bail!("the chart accepted --set {bad} (or did not name {field}): {why}");
        }
    }
    let pod = cargo()
        .args(["run", "--locked", "--quiet", "-p", "wasmbed-k8s", "--bin", "wasmbed-crds", "--", "--device-pod"])
        .output()
        .context("cannot render the device Pod")?;
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
