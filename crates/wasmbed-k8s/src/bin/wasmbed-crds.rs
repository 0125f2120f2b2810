//! Writes the CRD YAML files into each folder given (what `cargo xtask
//! crds` runs), or prints them when none is given. With `--device-pod`,
//! prints instead the Pod the controller makes for a sample QEMU device,
//! for offline validation of that manifest.

use anyhow::Context;
use wasmbed_k8s::crd::{DeviceResource, DeviceResourceSpec};
use wasmbed_k8s::devices::{DevicePodConfig, device_pod};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--device-pod") {
        let spec = wasmbed_model::DeviceSpec { board: "mps2-an385".into(), ..Default::default() };
        let mut device = DeviceResource::new("sample-device", DeviceResourceSpec(spec));
        device.metadata.namespace = Some("wasmbed".into());
        device.metadata.uid = Some("00000000-0000-0000-0000-000000000000".into());
        let cfg = DevicePodConfig::new("wasmbed/device:0.1.0", "wasmbed-gateway.wasmbed.svc:4443");
        // A sample identity: the controller passes the one it issues for the Pod.
        let mut pod = device_pod(&device, &cfg, &"0".repeat(64))?;
        pod.metadata.namespace = Some("wasmbed".into());
        print!("{}", serde_saphyr::to_string(&pod).context("rendering the Pod")?);
        return Ok(());
    }
    for (file, crd) in wasmbed_k8s::crd::crds() {
        let yaml = wasmbed_k8s::crd::crd_yaml(&crd).with_context(|| format!("rendering {file}"))?;
        if args.is_empty() {
            print!("---\n{yaml}");
        }
        for dir in &args {
            let dir = std::path::Path::new(dir);
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(file);
            std::fs::write(&path, &yaml).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
