//! Writes the CRD YAML files into each folder given (what `cargo xtask
//! crds` runs), or prints them when none is given.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let dirs: Vec<std::path::PathBuf> = std::env::args_os().skip(1).map(Into::into).collect();
    for (file, crd) in wasmbed_k8s::crd::crds() {
        let yaml = wasmbed_k8s::crd::crd_yaml(&crd).with_context(|| format!("rendering {file}"))?;
        if dirs.is_empty() {
            print!("---\n{yaml}");
        }
        for dir in &dirs {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            let path = dir.join(file);
            std::fs::write(&path, &yaml).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}
