//! `wasmbed token`, `wasmbed audit verify` and `wasmbed keys`: offline against a file, and
//! through a real `wasmbed up` (API and gateway on 127.0.0.1 port 0).

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use wasmbed_api::AuditLog;
use wasmbed_api::audit::{AuditEntry, Outcome};

const BIN: &str = env!("CARGO_BIN_EXE_wasmbed");

fn wasmbed(data: &Path, token: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(data).args(args).env_remove("WASMBED_TOKEN").env_remove("WASMBED_API");
    if let Some(t) = token {
        cmd.env("WASMBED_TOKEN", t);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A chained log of `n` entries at `path`.
fn write_log(path: &Path, n: u64) {
    let log = AuditLog::open(path).unwrap();
    for i in 0..n {
        log.append(AuditEntry::new(i, "admin", "app.deploy", &format!("app-{i}"), Outcome::Ok)).unwrap();
    }
}

#[test]
fn audit_verify_file_passes_an_intact_log_and_names_the_line_of_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let file = path.to_str().unwrap();
    write_log(&path, 4);
    let out = wasmbed(dir.path(), None, &["audit", "verify", "--file", file]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("intact: 4 lines, 4 chained"), "{}", text(&out));

    let good = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = good.lines().collect();
    let join = |ls: &[&str]| ls.iter().map(|l| format!("{l}\n")).collect::<String>();
    let changed = good.replacen("app-1", "app-9", 1);
    let deleted = join(&[lines[0], lines[2], lines[3]]);
    let moved = join(&[lines[0], lines[2], lines[1], lines[3]]);
    let inserted = join(&[lines[0], lines[1], r#"{"atMs":5,"actor":"mallory"}"#, lines[2], lines[3]]);
    for (what, tampered, want) in [
        ("changed", changed, "line 3 does not link to line 2: line 2 was changed"),
        ("deleted", deleted, "line 2 does not link to line 1"),
        ("moved", moved, "line 2 does not link to line 1"),
        ("inserted", inserted, "line 3: an entry without a chain link"),
    ] {
        std::fs::write(&path, tampered).unwrap();
        let out = wasmbed(dir.path(), None, &["audit", "verify", "--file", file]);
        assert!(!out.status.success(), "{what}: {}", text(&out));
        assert!(text(&out).contains(want), "{what}: {}", text(&out));
    }
    let missing = dir.path().join("nope.log");
    let out = wasmbed(dir.path(), None, &["audit", "verify", "--file", missing.to_str().unwrap()]);
    assert!(!out.status.success() && text(&out).contains("nope.log"), "{}", text(&out));
}

#[test]
fn bad_token_flags_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    for (args, want) in [
        (&["--expires-in", "0"][..], "366 days"),
        (&["--expires-in", "59s"], "366 days"),
        (&["--expires-in", "400d"], "366 days"),
        (&["--expires-in", "soon"], "expected a duration"),
        (&["--expires-in=-5"], "expected a duration"),
    ] {
        let mut all = vec!["token", "create", "ci", "--role", "viewer"];
        all.extend_from_slice(args);
        let out = wasmbed(dir.path(), None, &all);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains(want) && text(&out).contains("--expires-in"), "{args:?}: {}", text(&out));
    }
    let out = wasmbed(dir.path(), None, &["token", "create", "ci", "--role", "root"]);
    assert!(!out.status.success() && text(&out).contains("unknown role"), "{}", text(&out));
}

/// `wasmbed up` on `data`, killed when dropped; returns it and the admin token.
struct Up(std::process::Child);

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn up(data: &Path) -> (Up, String) {
    let mut child = Command::new(BIN)
        .args(["up", "--listen", "127.0.0.1:0", "--gateway", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let up = Up(child);
    let mut token = String::new();
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(t) = line.trim().strip_prefix("admin token:") {
            token = t.trim().to_string();
        }
        if line.starts_with("Stop with Ctrl-C") {
            break;
        }
    }
    assert!(token.starts_with("wbt_"), "up printed no admin token");
    std::thread::spawn(move || for _ in lines {});
    (up, token)
}

#[test]
fn tokens_expire_as_asked_and_the_platform_checks_its_audit_chain() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_up, admin) = up(data);
    let ok = |args: &[&str]| {
        let out = wasmbed(data, Some(&admin), args);
        assert!(out.status.success(), "wasmbed {args:?}: {}", text(&out));
        String::from_utf8(out.stdout).unwrap()
    };

    let created = ok(&["token", "create", "ci", "--role", "operator", "--expires-in", "1h", "-o", "json"]);
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (id, secret) = (created["id"].as_str().unwrap(), created["token"].as_str().unwrap());
    let expires = created["expiresMs"].as_u64().unwrap();
    assert_eq!(expires - created["createdMs"].as_u64().unwrap(), 3_600_000);
    let table = ok(&["token", "list"]);
    let row = table.lines().find(|l| l.starts_with(id)).unwrap();
    assert!(row.contains("operator") && !row.contains("never"), "{table}");
    assert!(table.lines().any(|l| l.contains("admin") && l.ends_with("never")), "the first admin token: {table}");
    let out = wasmbed(data, Some(secret), &["whoami"]);
    assert!(text(&out).contains("ci (operator)"), "{}", text(&out));
    ok(&["token", "revoke", id]);
    let out = wasmbed(data, Some(secret), &["whoami"]);
    assert!(!out.status.success() && text(&out).contains("unknown or revoked"), "{}", text(&out));

    // The creation and the revocation are chained in the log; the API agrees.
    let verified = ok(&["audit", "verify"]);
    assert!(verified.contains("intact: 2 lines, 2 chained"), "{verified}");
    let log = data.join("audit.log");
    let intact = std::fs::read_to_string(&log).unwrap();
    assert!(intact.lines().next().unwrap().contains(r#""role":"operator""#), "{intact}");
    std::fs::write(&log, intact.replacen(r#""role":"operator""#, r#""role":"viewer""#, 1)).unwrap();
    for args in [&["audit", "verify"][..], &["audit", "verify", "--file", log.to_str().unwrap()]] {
        let out = wasmbed(data, Some(&admin), args);
        assert!(!out.status.success(), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("line 1 was changed"), "{args:?}: {}", text(&out));
    }
}

#[test]
fn keys_show_rotate_and_retire_the_app_signing_key_through_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (_up, admin) = up(data);
    let json = |token: &str, args: &[&str]| {
        let out = wasmbed(data, Some(token), &[args, &["-o", "json"]].concat());
        assert!(out.status.success(), "wasmbed {args:?}: {}", text(&out));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let k0 = json(&admin, &["keys", "show"])["keyId"].as_str().unwrap().to_string();
    let table = String::from_utf8(wasmbed(data, Some(&admin), &["keys", "show"]).stdout).unwrap();
    assert!(table.starts_with("KEY ID") && table.contains(&format!("{k0}  0")), "{table}");

    // Only an admin rotates.
    let viewer =
        json(&admin, &["token", "create", "watcher", "--role", "viewer"])["token"].as_str().unwrap().to_string();
    let out = wasmbed(data, Some(&viewer), &["keys", "rotate"]);
    assert!(!out.status.success() && text(&out).contains("403"), "{}", text(&out));

    let rotated = json(&admin, &["keys", "rotate"]);
    assert_eq!((rotated["previousKeyId"].as_str(), rotated["current"]["generation"].as_u64()), (Some(&*k0), Some(1)));
    let k1 = rotated["current"]["keyId"].as_str().unwrap();
    assert_eq!(json(&viewer, &["keys", "show"])["keyId"], k1);
    let out = wasmbed(data, Some(&admin), &["keys", "retire"]);
    assert!(text(&out).contains(&format!("retired 1 older key(s); current: {k1} (generation 1)")), "{}", text(&out));
    assert!(!data.join("app-signing/key-0.pem").exists() && data.join("app-signing/key-1.pem").exists());
}
