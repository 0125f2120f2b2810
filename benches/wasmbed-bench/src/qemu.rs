//! Benchmarks on real firmware in QEMU.
//!
//! - `device-boot --board B`: QEMU start → the gateway recording the
//!   enrollment (median of runs), the image's flash and static RAM from its
//!   ELF, and the heap peak the firmware's counting allocator printed. For
//!   an attached board (stm32vldiscovery): QEMU start → the board
//!   authenticated on its link (`wasmbed-attach`), static RAM counting its
//!   stack region, no heap.
//! - `deploy-qemu --devices N`: deploy request (HTTP PUT) → Running on N
//!   QEMU devices run by the QEMU manager, 10 KB app, several rounds.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use wasmbed_bench_cli::{InterpBounds, InterpMode};
use wasmbed_model::board_table::Board;
use wasmbed_model::clock::unix_ms;
use wasmbed_model::{Device, DevicePhase, DeviceSpec, Meta, Store};
use wasmbed_platform::{Platform, PlatformConfig};
use wasmbed_qemu::{Launch, ProcessGroup, machine, write_boot_seed};

use crate::deploy::{deploy_spec, percentile};

async fn platform(firmware: Option<BTreeMap<String, PathBuf>>, tmp: &Path) -> Result<Platform> {
    let mut cfg = PlatformConfig::new(tmp).with_api();
    cfg.firmware = firmware;
    Ok(Platform::start(cfg).await?)
}

fn rand_seed() -> [u8; 32] {
    rand::random()
}

async fn add_device(store: &Arc<dyn Store>, name: &str, board: &str, label: (&str, &str)) -> Result<()> {
    let spec = DeviceSpec {
        board: board.into(),
        labels: [(label.0.to_string(), label.1.to_string())].into(),
        ..Default::default()
    };
    store
        .create_device(Device {
            meta: Meta { name: name.into(), ..Default::default() },
            spec,
            status: Default::default(),
        })
        .await?;
    Ok(())
}

/// Waits on the store's watch until `name` is Online (no polling interval added).
async fn until_online(store: &Arc<dyn Store>, events: &mut wasmbed_model::WatchStream, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if store.get_device(name).await?.is_some_and(|d| d.status.phase == DevicePhase::Online) {
            return Ok(());
        }
        match tokio::time::timeout_at(deadline.into(), events.recv()).await {
            Ok(_) => {}
            Err(_) => bail!("{name} did not enroll within 60 s"),
        }
    }
}

pub async fn device_boot(board: &str, firmware: &Path, runs: usize) -> Result<serde_json::Value> {
    if let Some(b) = wasmbed_model::board_table::board(board).filter(|b| b.attached().is_some()) {
        return attached_boot(b, firmware, runs).await;
    }
    let m = machine(board).with_context(|| format!("{board} is not a QEMU board with firmware"))?;
    let image = wasmbed_qemu::image::Image::read(firmware)?.sizes();
    let tmp = tempfile::tempdir()?;
    let p = platform(None, tmp.path()).await?;
    let port = p.gateway_port();
    let mut times = Vec::new();
    let mut heap_peak = 0u64;
    for run in 0..runs {
        let name = format!("boot-{run}");
        add_device(&p.store, &name, board, ("bench", "boot")).await?;
        let dir = tmp.path().join(&name);
        std::fs::create_dir_all(&dir)?;
        // Issued and recorded as the platform's issuers do: the gateway
        // accepts only the recorded certificate.
        let now = SystemTime::now();
        let identity = p.pki.reissue_device(&name, now)?.record(now)?;
        wasmbed_model::record_identity(p.store.as_ref(), &name, identity).await?;
        let bundle = p.pki.bundle(&name, board, &[wasmbed_model::guest_loopback(port)], rand_seed(), now)?;
        std::fs::write(dir.join("bundle.bin"), bundle.to_bytes())?;
        write_boot_seed(&dir.join("seed.bin"), rand_seed(), unix_ms())?;
        let console = dir.join("console.log");
        let launch = Launch {
            board: m,
            kernel: firmware.to_path_buf(),
            bundle: Some(dir.join("bundle.bin")),
            seed: Some(dir.join("seed.bin")),
            console: console.clone(),
            mac: Some(wasmbed_qemu::mac_for(&name)),
            gateway_ports: vec![port],
            peripherals: Vec::new(),
            qmp: None,
            paused: false,
            app_uarts: None,
        };
        let mut events = p.store.watch();
        let t0 = Instant::now();
        let qemu = ProcessGroup::spawn(launch.command().stdout(Stdio::null()).stderr(Stdio::null()))
            .context("cannot start qemu-system-arm")?;
        until_online(&p.store, &mut events, &name).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        // The firmware prints its heap peak right after the Welcome.
        let start = Instant::now();
        let peak = loop {
            let text = std::fs::read_to_string(&console).unwrap_or_default();
            if let Some(v) = text.split("heap peak ").nth(1).and_then(|r| r.split(' ').next()?.parse::<u64>().ok()) {
                break v;
            }
            if start.elapsed() > Duration::from_secs(10) {
                bail!("no heap peak on the console:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        drop(qemu);
        eprintln!("run {run}: enrolled after {ms:.1} ms, heap peak {peak} bytes");
        times.push(ms);
        heap_peak = heap_peak.max(peak);
        p.store.delete_device(&name).await?;
    }
    times.sort_by(f64::total_cmp);
    p.shutdown().await;
    Ok(serde_json::json!({
        "board": board,
        "boot_to_enrolled_ms": (percentile(&times, 0.5) * 10.0).round() / 10.0,
        "flash_bytes": image.flash,
        "static_ram_bytes": image.static_ram,
        "heap_peak_bytes": heap_peak,
        "runs": runs,
    }))
}

/// `device-boot` of an attached board: each run programs a fresh
/// provisioning record, starts QEMU with USART1 carried to a listener here,
/// and times QEMU's start to the board's proof accepted.
async fn attached_boot(board: &'static Board, firmware: &Path, runs: usize) -> Result<serde_json::Value> {
    let layout = board.attached().context("not an attached board")?;
    let image = wasmbed_qemu::image::Image::read(firmware)?.sizes();
    let stack = board.memory.stack.map_or(0, |s| u64::from(s.len));
    let tmp = tempfile::tempdir()?;
    let mut times = Vec::new();
    for run in 0..runs {
        let id = wasmbed_boardlink::BoardId::new(format!("boot-{run}").as_bytes())?;
        let provisioning = wasmbed_boardlink::Provisioning::new(id, wasmbed_boardlink::BoardKey::new(rand_seed()));
        let record = tmp.path().join(format!("provisioning-{run}.bin"));
        std::fs::write(&record, provisioning.encode())?;
        let console = tmp.path().join(format!("console-{run}.log"));
        let link = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let ports = usize::from(layout.link_port.max(layout.console_port)) + 1;
        let mut serial = vec![String::from("null"); ports];
        serial[usize::from(layout.link_port)] = format!("tcp:{}", link.local_addr()?);
        serial[usize::from(layout.console_port)] = format!("file:{}", console.display());
        let mut cmd = std::process::Command::new("qemu-system-arm");
        cmd.args(["-M", board.qemu.machine]).args(board.qemu.args);
        cmd.args(["-display", "none", "-monitor", "none", "-no-reboot"]);
        for s in &serial {
            cmd.arg("-serial").arg(s);
        }
        cmd.arg("-kernel").arg(firmware);
        let at = layout.provisioning.start;
        cmd.arg("-device").arg(format!("loader,file={},addr={at:#x},force-raw=on", record.display()));
        let t0 = Instant::now();
        let qemu = ProcessGroup::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null()))
            .context("cannot start qemu-system-arm")?;
        let (stream, _) = tokio::time::timeout(Duration::from_secs(60), link.accept())
            .await
            .context("QEMU did not connect the board's link within 60 s")??;
        let config = wasmbed_attach::LinkConfig::default().with_hello_deadline(Duration::from_secs(60));
        let (_link, _events) = wasmbed_attach::attach(stream, &provisioning, &mut rand::rng(), config).await?;
        let ms = t0.elapsed().as_secs_f64() * 1000.0;
        // The console reports the session, with the stack's peak, right
        // after the proof went out.
        let peak = |text: &str| text.split("stack peak ").nth(1).and_then(|r| r.split(' ').next()).map(String::from);
        let waited = Instant::now();
        let stack_peak = loop {
            let text = std::fs::read_to_string(&console).unwrap_or_default();
            match peak(&text) {
                Some(v) => break v,
                None if waited.elapsed() > Duration::from_secs(10) => bail!("no session on the console:\n{text}"),
                None => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        };
        drop(qemu);
        eprintln!("run {run}: authenticated after {ms:.1} ms, stack peak {stack_peak} bytes");
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    Ok(serde_json::json!({
        "board": board.name,
        "boot_to_enrolled_ms": (percentile(&times, 0.5) * 10.0).round() / 10.0,
        "flash_bytes": image.flash,
        // .data and .bss, and the stack's linked region.
        "static_ram_bytes": image.static_ram + stack,
        "heap_peak_bytes": 0,
        "runs": runs,
    }))
}

/// A module of about 10 KB that every board can run: 10 KB of code (its
/// constants differ per round, so each round deploys a new module) and no
/// linear memory. olimex-stm32-h405's heap holds no 64 KiB page beside a
/// 10 KB module (it rejects that app as `instantiate-failed`), nor two
/// such modules and a page while it swaps one for the next.
fn ten_kb_app(round: usize) -> Vec<u8> {
    let mut wat = String::from("(module\n (func (export \"init\"))\n");
    let mut f = 0;
    loop {
        let body: String =
            (0..100).map(|k| format!("(drop (i32.const {}))", 1_000_000 * round + 1000 * f + k)).collect();
        wat.push_str(&format!(" (func {body})\n"));
        f += 1;
        let module = wat::parse_str(format!("{wat})")).expect("valid wat");
        if module.len() >= 10_000 {
            return module;
        }
    }
}

/// Runs `deploy-qemu`: `n` devices (default: one per board with an image)
/// spread round-robin over the boards in `firmware`, `rounds` deploys.
pub async fn deploy_qemu(
    n: Option<usize>,
    firmware: BTreeMap<String, PathBuf>,
    rounds: usize,
) -> Result<serde_json::Value> {
    if firmware.is_empty() {
        bail!("no firmware images");
    }
    let n = n.unwrap_or(firmware.len());
    let boards: Vec<String> = firmware.keys().cloned().collect();
    let ran: Vec<&str> = boards.iter().take(n).map(String::as_str).collect();
    let left_out: Vec<&str> = wasmbed_model::board_table::BOARDS
        .iter()
        .map(|b| b.name)
        .filter(|b| machine(b).is_some() && !ran.contains(b))
        .collect();
    if !left_out.is_empty() {
        eprintln!("boards not run: {} (no image, or fewer devices than boards)", left_out.join(", "));
    }
    let tmp = tempfile::tempdir()?;
    let p = platform(Some(firmware), tmp.path()).await?;
    let api = p.api_url().context("api")?;
    let mut events = p.store.watch();
    for i in 0..n {
        add_device(&p.store, &format!("dq-{i}"), &boards[i % boards.len()], ("bench", "deploy")).await?;
    }
    for i in 0..n {
        until_online(&p.store, &mut events, &format!("dq-{i}")).await?;
    }
    eprintln!("{n} QEMU devices online ({})", ran.join(", "));
    let http = crate::deploy::client_for(&p)?;
    let mut times = Vec::new();
    for round in 0..rounds {
        let module = ten_kb_app(round);
        let mut events = p.store.watch();
        let mut running: HashMap<String, f64> = HashMap::new();
        let t0 = Instant::now();
        // No linear memory asked for, so none is set aside on the device.
        let spec = serde_json::json!({
            "version": format!("r{round}"),
            "selector": "bench=deploy",
            "strategy": {"type": "all-at-once"},
            "limits": {"maxMemoryPages": 0},
        });
        let digest = deploy_spec(&http, &api, "bench", &module, spec).await?;
        let deadline = t0 + Duration::from_secs(60);
        while running.len() < n {
            let ev = match tokio::time::timeout_at(deadline.into(), events.recv()).await {
                Ok(Ok(ev)) => ev,
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                _ => {
                    let mut late = Vec::new();
                    for d in p.store.list_devices().await? {
                        if !running.contains_key(&d.meta.name) {
                            let apps: Vec<String> = d
                                .status
                                .session
                                .apps
                                .iter()
                                .map(|a| format!("{} {:?} {:?}", a.version, a.state, a.reason))
                                .collect();
                            late.push(format!(
                                "{} ({}: {:?}, apps {apps:?})",
                                d.meta.name, d.spec.board, d.status.phase
                            ));
                        }
                    }
                    bail!("round {round}: only {} of {n} devices running; not: {}", running.len(), late.join(", "))
                }
            };
            if running.contains_key(&ev.name) {
                continue;
            }
            let at = t0.elapsed().as_secs_f64() * 1000.0;
            if let Some(d) = p.store.get_device(&ev.name).await?
                && d.status.session.runs(|a| a.digest == digest)
            {
                running.insert(ev.name, at);
            }
        }
        let mut r: Vec<f64> = running.values().copied().collect();
        r.sort_by(f64::total_cmp);
        eprintln!("round {round}: {}-byte app running on {n} devices, {:.1}..{:.1} ms", module.len(), r[0], r[n - 1]);
        times.extend(r);
    }
    times.sort_by(f64::total_cmp);
    p.shutdown().await;
    Ok(serde_json::json!({
        "devices": n,
        "boards": ran,
        "rounds": rounds,
        "app_bytes": ten_kb_app(0).len(),
        "p50_ms": (percentile(&times, 0.5) * 10.0).round() / 10.0,
        "p99_ms": (percentile(&times, 0.99) * 10.0).round() / 10.0,
    }))
}

/// A module of about `target` bytes of real code (validation and
/// compilation cost scale with code, not with data): many small functions
/// of integer arithmetic and control flow, all reachable from `tick`.
pub fn sized_app(target: usize) -> Vec<u8> {
    let body = |n: usize| {
        let mut b = String::new();
        for k in 0..12 {
            b.push_str(&format!(
                "local.get 0 i32.const {a} i32.mul i32.const {c} i32.add local.tee 1 i32.const {s} i32.shr_u \
                 local.get 1 i32.xor local.set 0 (if (i32.gt_u (local.get 0) (i32.const {t})) \
                 (then (local.set 0 (i32.sub (local.get 0) (i32.const {t})))))\n",
                a = 1_103_515_245u32.wrapping_add((n * 31 + k) as u32) | 1,
                c = 12_345 + n + k,
                s = 1 + (n + k) % 15,
                t = 1_000_000 + n * 7 + k,
            ));
        }
        b
    };
    let mut funcs = 1usize;
    loop {
        let mut wat = String::from("(module\n (memory (export \"memory\") 1)\n (func (export \"init\"))\n");
        for n in 0..funcs {
            wat.push_str(&format!(" (func $f{n} (param i32) (result i32) (local i32)\n{} local.get 0)\n", body(n)));
        }
        wat.push_str(" (func (export \"tick\") (param i64) (local i32)\n");
        for n in 0..funcs {
            wat.push_str(&format!("  (local.set 1 (call $f{n} (local.get 1)))\n"));
        }
        wat.push_str(" ))\n");
        let bytes = wat::parse_str(&wat).expect("valid wat");
        if bytes.len() >= target {
            return bytes;
        }
        funcs += 1;
    }
}

fn length_prefixed(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut v = (bytes.len() as u32).to_le_bytes().to_vec();
    v.extend_from_slice(bytes);
    std::fs::write(path, v).with_context(|| format!("cannot write {}", path.display()))
}

/// Runs a benchmark image on mps2-an385 under `-icount shift=0` (one
/// guest instruction, one virtual ns) with `loads` (file, address) put in
/// memory and `devices` attached, until its console prints a line starting
/// with `prefix`; returns the line and its `key=number` fields.
async fn icount_image(
    image: &Path,
    loads: &[(PathBuf, u32)],
    devices: &[&str],
    prefix: &str,
) -> Result<(String, HashMap<String, u64>)> {
    let tmp = tempfile::tempdir()?;
    let console = tmp.path().join("console.log");
    let mut cmd = std::process::Command::new("qemu-system-arm");
    cmd.args(["-M", "mps2-an385", "-icount", "shift=0,sleep=off", "-display", "none", "-monitor", "none"])
        .args(["-nodefaults", "-nic", "none", "-serial"])
        .arg(format!("file:{}", console.display()))
        .arg("-kernel")
        .arg(image)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (file, addr) in loads {
        cmd.arg("-device").arg(format!("loader,file={},addr={addr:#x},force-raw=on", file.display()));
    }
    for d in devices {
        cmd.args(["-device", d]);
    }
    let qemu = ProcessGroup::spawn(&mut cmd).context("cannot start qemu-system-arm")?;
    let start = Instant::now();
    let line = loop {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if let Some(l) = text.lines().find(|l| l.starts_with(prefix)) {
            break l.to_string();
        }
        if start.elapsed() > Duration::from_secs(300) {
            bail!("the {prefix} image printed nothing in 300 s:\n{text}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    drop(qemu);
    eprintln!("{line}");
    let fields = line
        .split_once(": ")
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect();
    Ok((line, fields))
}

pub async fn interp(
    image: &Path,
    kernels_wasm: &Path,
    mode: InterpMode,
    bounds: InterpBounds,
) -> Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    let kernels = std::fs::read(kernels_wasm).with_context(|| format!("cannot read {}", kernels_wasm.display()))?;
    let sized = sized_app(16 * 1024);
    // Native: the kernels app compiled for the board, as the platform
    // compiles an app for its devices (or with the bounds in software).
    let bounds = match bounds {
        InterpBounds::Mpu => wasmbed_aot::Bounds::Mpu,
        InterpBounds::Software => wasmbed_aot::Bounds::Software,
    };
    let artifact = match mode {
        InterpMode::Interpreted => Vec::new(),
        InterpMode::Native => {
            let board = wasmbed_model::board_table::board("mps2-an385").context("board")?;
            let tools = wasmbed_aot::Toolchain::from_path()?;
            wasmbed_aot::compile_with(&kernels, board, &tools, bounds)?.encode()
        }
    };
    length_prefixed(&tmp.path().join("kernels.bin"), &kernels)?;
    length_prefixed(&tmp.path().join("sized.bin"), &sized)?;
    length_prefixed(&tmp.path().join("native.bin"), &artifact)?;
    let loads = [
        (tmp.path().join("kernels.bin"), 0x2101_0000),
        (tmp.path().join("sized.bin"), 0x2102_0000),
        (tmp.path().join("native.bin"), 0x2103_0000),
    ];
    let (line, fields) = icount_image(image, &loads, &[], "interp").await?;
    let get = |k: &str| fields.get(k).copied().with_context(|| format!("the image said: {line}"));
    // Under -icount every guest instruction is one virtual ns; the image's
    // timer counts core cycles. The calibration loop (a known instruction
    // count) gives instructions per cycle, measured rather than assumed.
    let per_cycle = get("calibration_insns")? as f64 / get("calibration_cycles")?.max(1) as f64;
    let insns = |k: &str| -> Result<u64> { Ok((get(k)? as f64 * per_cycle).round() as u64) };
    let ratio = |a: u64, b: u64| ((a as f64 / b.max(1) as f64) * 100.0).round() / 100.0;
    // The firmware's own build of the kernels (opt-level "z") and the one
    // built for speed (opt-level 3), which app code is held to.
    let native_z = insns("native_cycles")?;
    let native = insns("native_fast_cycles")?;
    if mode == InterpMode::Native {
        let code = insns("aot_cycles")?;
        let image_bytes =
            wasmbed_protocol::NativeArtifact::decode(&artifact).map_err(|e| anyhow::anyhow!("{e}"))?.image.len();
        return Ok(serde_json::json!({
            "mode": "native",
            "board": "mps2-an385",
            "ratio": ratio(code, native),
            "native_units": native,
            "wasm_units": code,
            "ratio_vs_firmware_profile": ratio(code, native_z),
            "native_firmware_profile_units": native_z,
            "wasm_first_call_units": insns("aot_first_cycles")?,
            "code_bytes": image_bytes,
            "artifact_bytes": get("aot_artifact_bytes")?,
            "install_insns": insns("aot_install_cycles")?,
            "bounds": bounds.name(),
            "interpreted_units": insns("wasm_cycles")?,
            "units": "guest instructions (-icount shift=0)",
        }));
    }
    let wasm = insns("wasm_cycles")?;
    Ok(serde_json::json!({
        "mode": "interpreted",
        "board": "mps2-an385",
        "native_units": native,
        "wasm_units": wasm,
        "ratio": ratio(wasm, native),
        "ratio_vs_firmware_profile": ratio(wasm, native_z),
        "native_firmware_profile_units": native_z,
        "wasm_first_call_units": insns("wasm_first_cycles")?,
        "units": "guest instructions (-icount shift=0)",
        "insns_per_timer_cycle": (per_cycle * 100.0).round() / 100.0,
        "instantiate_insns": insns("instantiate_cycles")?,
        "instantiate_validation": "module at install, each function body at its first call (wasmi Lazy)",
        "eager_validation_instantiate_insns": insns("eager_instantiate_cycles")?,
        "kernels_app_instantiate_insns": insns("kernels_instantiate_cycles")?,
        "kernels_app_bytes": get("kernels_app_bytes")?,
        "instantiated_app_bytes": get("sized_app_bytes")?,
        "app_heap_peak_bytes": get("app_heap_peak")?,
    }))
}

/// Guest instructions for the agent to check one signed deploy on
/// `board`, and the flash of its device firmware (`firmware`, an ELF).
pub async fn verify(board: &str, image: &Path, firmware: &Path) -> Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    let key = wasmbed_trust::SigningKey::generate(|b| rand::fill(b)).map_err(|e| anyhow::anyhow!("{e}"))?;
    // A deploy as the platform sends one: the thermostat example's grants
    // and a config entry, signed the way the control plane signs.
    let caps: Vec<String> = ["log", "time", "telemetry", "config", "messages", "gpio:led0", "i2c:0:0x48"]
        .iter()
        .map(|c| c.to_string())
        .collect();
    let config = std::collections::BTreeMap::from([("threshold_c".to_string(), "30".to_string())]);
    let mut manifest = wasmbed_model::deploy_manifest(
        "thermostat",
        3,
        "1.2.0",
        &"5a".repeat(32),
        12_345,
        &caps,
        wasmbed_model::Limits::default(),
        &config,
    )
    .context("manifest")?;
    (manifest.sequence, manifest.floor) = (7, 6);
    let signed = key.sign_manifest(&manifest);
    let begin = wasmbed_protocol::DeployBegin::for_manifest("thermostat".into(), &manifest, true, Some(signed));
    let msg = minicbor::to_vec(wasmbed_protocol::GatewayMsg::DeployBegin(begin))?;
    let mut input = Vec::new();
    for piece in [key.public_sec1(), &msg] {
        input.extend_from_slice(&(piece.len() as u32).to_le_bytes());
        input.extend_from_slice(piece);
    }
    std::fs::write(tmp.path().join("input.bin"), &input)?;
    let loads = [(tmp.path().join("input.bin"), 0x2101_0000)];
    let (line, fields) = icount_image(image, &loads, &[], "verify").await?;
    let get = |k: &str| fields.get(k).copied().with_context(|| format!("the image said: {line}"));
    let per_cycle = get("calibration_insns")? as f64 / get("calibration_cycles")?.max(1) as f64;
    let flash = wasmbed_qemu::image::Image::read(firmware)?.sizes().flash;
    Ok(serde_json::json!({
        "board": board,
        "verify_insns": (get("verify_cycles")? as f64 * per_cycle).round() as u64,
        "manifest_bytes": get("manifest_bytes")?,
        "flash_bytes": flash,
        "algorithm": "ECDSA P-256 / SHA-256",
        "units": "guest instructions (-icount shift=0)",
    }))
}

/// The `host-calls` app: `tick(now)` makes 16 calls of the host function
/// `now % 10` picks (0 none, 1 gpio_write, 2 i2c_read of 2 bytes, 3
/// telemetry_publish), through the same loop, so mode 0 is what the
/// others cost without their call.
const HOST_CALLS_APP: &str = r#"(module
  (import "wasmbed" "gpio_write" (func $gpio (param i32 i32) (result i32)))
  (import "wasmbed" "i2c_read" (func $i2c (param i32 i32 i32 i32) (result i32)))
  (import "wasmbed" "telemetry_publish" (func $pub (param i32 i32 f64 i64) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "temp_c")
  (func (export "tick") (param $now i64)
    (local $mode i32) (local $i i32)
    (local.set $mode (i32.wrap_i64 (i64.rem_u (local.get $now) (i64.const 10))))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (i32.const 16)))
        (if (i32.eq (local.get $mode) (i32.const 1))
          (then (drop (call $gpio (i32.const 0) (i32.and (local.get $i) (i32.const 1))))))
        (if (i32.eq (local.get $mode) (i32.const 2))
          (then (drop (call $i2c (i32.const 0) (i32.const 0x48) (i32.const 32) (i32.const 2)))))
        (if (i32.eq (local.get $mode) (i32.const 3))
          (then (drop (call $pub (i32.const 0) (i32.const 6) (f64.const 21.5) (i64.const 0)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))"#;

pub async fn host_calls(image: &Path) -> Result<serde_json::Value> {
    let tmp = tempfile::tempdir()?;
    length_prefixed(&tmp.path().join("app.bin"), &wat::parse_str(HOST_CALLS_APP)?)?;
    let loads = [(tmp.path().join("app.bin"), 0x2101_0000)];
    let (line, fields) = icount_image(image, &loads, &["tmp105,bus=i2c,address=0x48,id=temp0"], "host-calls").await?;
    let get = |k: &str| fields.get(k).copied().with_context(|| format!("the image said: {line}"));
    let per_cycle = get("calibration_insns")? as f64 / get("calibration_cycles")?.max(1) as f64;
    let calls = get("calls")?.max(1) as f64;
    // Instructions per call: the loop with the call, minus the loop alone.
    let per_call = |with: &str, without: &str| -> Result<u64> {
        let extra = get(with)?.saturating_sub(get(without)?) as f64;
        Ok((extra * per_cycle / calls).round() as u64)
    };
    let gpio = per_call("wasm_gpio_cycles", "wasm_loop_cycles")?;
    let i2c = per_call("wasm_i2c_cycles", "wasm_loop_cycles")?;
    let native_gpio = per_call("native_gpio_cycles", "native_loop_cycles")?;
    let native_i2c = per_call("native_i2c_cycles", "native_loop_cycles")?;
    Ok(serde_json::json!({
        "board": "mps2-an385",
        "gpio_write_insns": gpio,
        "i2c_read2_insns": i2c,
        "telemetry_insns": per_call("wasm_telemetry_cycles", "wasm_loop_cycles")?,
        "native_gpio_write_insns": native_gpio,
        "native_i2c_read2_insns": native_i2c,
        "gpio_overhead_insns": gpio.saturating_sub(native_gpio),
        "i2c_read2_overhead_insns": i2c.saturating_sub(native_i2c),
        "units": "guest instructions per call (-icount shift=0)",
        "temp_raw": get("temp_raw")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_calls_app_validates_with_its_grants() {
        let m = wat::parse_str(HOST_CALLS_APP).unwrap();
        let caps =
            [wasmbed_agent::Capability::Gpio, wasmbed_agent::Capability::I2c, wasmbed_agent::Capability::Telemetry];
        wasmbed_agent::validate_module(&m, &caps).unwrap();
    }

    #[test]
    fn sized_app_reaches_its_size_and_validates() {
        let m = sized_app(16 * 1024);
        assert!(m.len() >= 16 * 1024 && m.len() < 18 * 1024, "{}", m.len());
        wasmbed_agent::validate_module(&m, wasmbed_agent::DEFAULT_GRANTS).unwrap();
    }
}
