//! Native app code (compiled by wasmbed-aot with Debian's wasm2c and
//! arm-none-eabi-gcc) on the real firmware loader in QEMU's mps2-an385:
//! a good app runs; code that reaches past its memory (caught by the MPU,
//! or by software checks in code built that way), recurses without end,
//! divides by zero, loops for ever or hands a host function a buffer
//! outside its memory is stopped with its reason; code for another board,
//! with an ungranted import, or with a tampered relocation is refused.
//! After all of them the first app runs again, the heap is back where it
//! was and the firmware never reset.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::process::Stdio;
use std::time::{Duration, Instant};

use wasmbed_aot::{Bounds, Toolchain, compile, compile_with};
use wasmbed_protocol::NativeArtifact;
use wasmbed_qemu::ProcessGroup;

mod common;

fn native(wat: &str, board: &str) -> Vec<u8> {
    native_with(wat, board, Bounds::Mpu)
}

fn native_with(wat: &str, board: &str, bounds: Bounds) -> Vec<u8> {
    let module = wat::parse_str(wat).unwrap();
    let board = wasmbed_boards::board(board).unwrap();
    let tools = Toolchain::from_path().expect("wasm2c and arm-none-eabi-gcc");
    compile_with(&module, board, &tools, bounds).unwrap().encode()
}

/// Boots the check image with `loads` (file, address) until its console
/// says `until` (a whole line); returns the console, and the words at
/// `peek` read through QEMU's monitor then (the firmware still running).
fn run_check_peek(
    dir: &std::path::Path,
    loads: &[(std::path::PathBuf, u32)],
    until: &str,
    peek: &[u32],
) -> (String, Vec<u32>) {
    let image = wasmbed_qemu::image_from_source(
        "checks/wasmbed-check-native-mps2-an385",
        "wasmbed-check-native-mps2-an385",
        "thumbv7m-none-eabi",
    )
    .unwrap();
    let console = dir.join("console.log");
    let mut launch = common::alone(image, &console);
    let qmp = dir.join("qmp.sock");
    launch.qmp = Some(qmp.clone());
    let mut cmd = launch.command();
    for (file, addr) in loads {
        cmd.arg("-device").arg(format!("loader,file={},addr={addr:#x},force-raw=on", file.display()));
    }
    cmd.arg("-no-reboot");
    let _q = ProcessGroup::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null())).unwrap();
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(&console).unwrap_or_default();
        if text.contains(until) && text.ends_with('\n') {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let words = rt.block_on(async {
                let mut q = wasmbed_qemu::qmp::Qmp::connect(&qmp, Duration::from_secs(10)).await.unwrap();
                let mut words = Vec::new();
                for &addr in peek {
                    words.push(q.read_word(u64::from(addr)).await.unwrap());
                }
                words
            });
            return (text, words);
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the check never said {until:?}:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const LOG: &str = r#"(import "wasmbed" "log" (func $log (param i32 i32)))"#;
const OOB: &str = "out of bounds memory access";

fn app(body: &str) -> String {
    format!(
        r#"(module {LOG}
          (memory (export "memory") 1)
          (data (i32.const 16) "hello native")
          (func $deep (param $at i32) (result i32)
            (i32.store (local.get $at) (local.get $at))
            (i32.add (call $deep (i32.add (local.get $at) (i32.const 4))) (i32.load (local.get $at))))
          (func $tail (param i32) (result i32) (i32.add (call $tail (local.get 0)) (i32.const 1)))
          (func (export "tick") (param $now i64) {body}))"#
    )
}

#[test]
fn native_code_is_stopped_or_refused_with_a_reason_and_the_device_goes_on() {
    let an385 = "mps2-an385";
    let good = native(&app("(call $log (i32.const 16) (i32.const 12))"), an385);
    let mut tampered = NativeArtifact::decode(&good).unwrap();
    tampered.relocations.push(tampered.image.len() as u32);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (good.clone(), r#"ok ["hello native"]"#),
        // Bounds kept by the MPU: a store, a load whose value is unused,
        // the byte below the memory, a word straddling its end, and an
        // offset that wraps past 4 GiB (the one check left in software).
        (native(&app("(i32.store (i32.const 65536) (i32.const 1))"), an385), OOB),
        (native(&app("(drop (i32.load (i32.const 65536)))"), an385), OOB),
        (native(&app("(drop (i32.load8_u (i32.const -1)))"), an385), OOB),
        (native(&app("(i64.store (i32.const 65532) (i64.const -1))"), an385), OOB),
        (native(&app("(i32.store offset=8 (i32.const -4) (i32.const 1))"), an385), OOB),
        // Bounds kept in software, as a board without an MPU would.
        (native_with(&app("(i32.store (i32.const 65536) (i32.const 1))"), an385, Bounds::Software), OOB),
        (native_with(&app("(i32.store offset=8 (i32.const -4) (i32.const 1))"), an385, Bounds::Software), OOB),
        (native_with(&app("(call $log (i32.const 16) (i32.const 12))"), an385, Bounds::Software), "hello native"),
        (native(&app("(drop (call $deep (i32.const 0)))"), an385), "call stack exhausted"),
        (native(&app("(drop (i32.div_u (i32.const 1) (i32.wrap_i64 (local.get $now))))"), an385), "ok []"),
        (native(&app("(drop (i32.div_u (i32.const 1) (i32.const 0)))"), an385), "integer divide by zero"),
        (native(&app("(loop $spin (br $spin))"), an385), "stopped at the call's deadline"),
        // Recursion gcc turns into a loop is a loop: stopped the same way.
        (native(&app("(drop (call $tail (i32.const 0)))"), an385), "stopped at the call's deadline"),
        (native(&app("(call $log (i32.const 70000) (i32.const 4))"), an385), "log: buffer outside memory"),
        (native(&app("(call $log (i32.const 16) (i32.const 12))"), "mps2-an386"), "native code for board mps2-an386"),
        (
            native(
                r#"(module (import "wasmbed" "gpio_write" (func $w (param i32 i32) (result i32)))
                   (func (export "tick") (param i64) (drop (call $w (i32.const 0) (i32.const 1)))))"#,
                an385,
            ),
            "needs the capability \"gpio\"",
        ),
        (tampered.encode(), "outside the image"),
        (b"not an artifact".to_vec(), "not a native artifact"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut blob = (cases.len() as u32).to_le_bytes().to_vec();
    for (bytes, _) in &cases {
        blob.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        blob.extend_from_slice(bytes);
    }
    let input = dir.path().join("artifacts.bin");
    std::fs::write(&input, &blob).unwrap();
    // MPU_CTRL, read through QEMU's monitor: the loader turned the MPU on
    // (ENABLE) with the default map for privileged code (PRIVDEFENA).
    let (text, mpu_ctrl) = run_check_peek(dir.path(), &[(input, 0x2101_0000)], "native check: done", &[0xE000_ED94]);
    assert!(!text.contains("resetting"), "{text}");
    assert_eq!(mpu_ctrl, [0b101], "MPU_CTRL");
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("native check: ")).collect();
    for (n, (_, want)) in cases.iter().enumerate() {
        let line = lines.get(n).unwrap_or_else(|| panic!("no line for case {n}:\n{text}"));
        assert!(
            line.starts_with(&format!("native check: {n} ")) && line.contains(want),
            "case {n}: want {want:?}, got {line}"
        );
    }
    // The first app again, after everything: it still runs.
    assert_eq!(lines[cases.len()], r#"native check: 0 ok ["hello native"]"#, "{text}");
    // Nothing an artifact did is still holding the heap.
    let heap = lines[cases.len() + 1];
    let words: Vec<&str> = heap.split_whitespace().collect();
    assert_eq!(words.get(4), words.get(6), "{heap}");
}

/// The real agent, with this board's loader, takes native code only as a
/// signed manifest names it: the artifact runs (its log lines reach the
/// gateway's end, and the LED it switches on through `gpio_write` is on in
/// the FPGAIO register, read through QEMU's monitor); tampered bytes and
/// another board's code are refused with their reasons.
#[test]
fn a_signed_native_deploy_runs_in_the_agent_and_tampered_or_foreign_code_is_refused() {
    use wasmbed_protocol::*;
    let key = wasmbed_trust::SigningKey::generate(|b| b.fill(7)).unwrap();
    let module = wat::parse_str(
        r#"(module (import "wasmbed" "log" (func $log (param i32 i32)))
             (import "wasmbed" "gpio_write" (func $led (param i32 i32) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 16) "hello native") (data (i32.const 32) "init native")
             (func (export "init")
               (drop (call $led (i32.const 0) (i32.const 1)))
               (call $log (i32.const 32) (i32.const 11)))
             (func (export "tick") (param i64) (call $log (i32.const 16) (i32.const 12))))"#,
    )
    .unwrap();
    let tools = Toolchain::from_path().unwrap();
    let artifact = |board: &str| compile(&module, wasmbed_boards::board(board).unwrap(), &tools).unwrap().encode();
    let code_of = |board: &str, bytes: &[u8]| NativeCode {
        board: board.into(),
        sha256: <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(bytes)).into(),
        size: bytes.len() as u32,
        compiler: NativeArtifact::decode(bytes).unwrap().compiler,
    };
    let (an385, an386) = (artifact("mps2-an385"), artifact("mps2-an386"));
    let codes = vec![code_of("mps2-an385", &an385), code_of("mps2-an386", &an386)];
    let mut wire = Vec::new();
    let welcome = Welcome { heartbeat_ms: 60_000, unix_time_s: 0, unix_time_ms: None };
    encode_frame(&GatewayMsg::Welcome(welcome), &mut wire).unwrap();
    // Each deploy: a slot, the code it announces, the bytes it sends.
    let mut tampered = an385.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x55;
    for (slot, code, bytes) in
        [("nat", &codes[0], &an385), ("tampered", &codes[0], &tampered), ("foreign", &codes[1], &an386)]
    {
        let m = Manifest {
            application: slot.into(),
            revision: 1,
            version: "1".into(),
            module_sha256: <[u8; 32]>::from(<sha2::Sha256 as sha2::Digest>::digest(&module)).into(),
            module_size: module.len() as u32,
            grants: vec![Capability::Log, Capability::Gpio],
            resources: vec![Resource::Gpio(Pin::Led(0))],
            limits: AppLimits::default(),
            config: vec![],
            sequence: 1,
            floor: 0,
            edge_grants: None,
            native: Some(codes.clone()),
        };
        let begin = DeployBegin {
            size: code.size,
            sha256: code.sha256,
            native: Some(Box::new(code.clone())),
            ..DeployBegin::for_manifest(slot.into(), &m, true, Some(key.sign_manifest(&m)))
        };
        encode_frame(&GatewayMsg::DeployBegin(begin), &mut wire).unwrap();
        for (i, piece) in bytes.chunks(DEPLOY_CHUNK_LEN).enumerate() {
            let chunk =
                DeployChunk { app: slot.into(), offset: (i * DEPLOY_CHUNK_LEN) as u32, data: piece.to_vec().into() };
            encode_frame(&GatewayMsg::DeployChunk(chunk), &mut wire).unwrap();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let mut blob = Vec::new();
    for piece in [key.public_sec1(), &wire[..]] {
        blob.extend_from_slice(&(piece.len() as u32).to_le_bytes());
        blob.extend_from_slice(piece);
    }
    let session = dir.path().join("session.bin");
    std::fs::write(&session, &blob).unwrap();
    let leds = wasmbed_boards::board("mps2-an385").unwrap().leds().unwrap();
    let (text, words) = run_check_peek(dir.path(), &[(session, 0x2109_0000)], "native agent: done", &[leds]);
    assert_eq!(words[0] & 1, 1, "LED 0 is off in the FPGAIO register ({:#x}):\n{text}", words[0]);
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("native agent: ")).collect();
    let said = |app: &str, what: &str| lines.iter().any(|l| l.contains(&format!("app: \"{app}\"")) && l.contains(what));
    assert!(said("nat", "Running"), "{text}");
    assert!(said("nat", "init native") && said("nat", "hello native"), "{text}");
    assert!(!said("nat", "Failed"), "{text}");
    assert!(said("tampered", "HashMismatch"), "{text}");
    assert!(said("foreign", "this device is mps2-an385"), "{text}");
    assert!(!text.contains("resetting"), "{text}");
}
