//! A `ProcessGroup` dies with the process that spawned it, even when that
//! process never gets to drop it: killed with SIGKILL, or with SIGTERM
//! and no handler. What the child started goes too.
//!
//! The parent is this test binary run again (`TIED_PARENT_DIR` set): it
//! spawns a shell that starts a grandchild, writes both pids, and waits to
//! be killed.

#![allow(clippy::unwrap_used)] // Test helpers: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wasmbed_qemu::ProcessGroup;

const PARENT_DIR: &str = "TIED_PARENT_DIR";

/// Alive and not a zombie waiting for a reaper.
fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_none_or(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

fn read_pid(path: &Path, deadline: Instant) -> String {
    loop {
        if let Ok(pid) = std::fs::read_to_string(path)
            && pid.ends_with('\n')
        {
            return pid.trim().to_string();
        }
        assert!(Instant::now() < deadline, "{} was never written", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The parent's part: a tied child whose grandchild is an ordinary
/// background job, then nothing until the signal comes.
fn be_the_parent(dir: &Path) -> ! {
    let script = format!(
        "sleep 600 & echo $! > {dir}/grandchild.tmp && mv {dir}/grandchild.tmp {dir}/grandchild; \
         echo $$ > {dir}/child.tmp && mv {dir}/child.tmp {dir}/child; wait",
        dir = dir.display()
    );
    let _group = ProcessGroup::spawn(Command::new("sh").args(["-c", &script])).expect("spawn the tied child");
    loop {
        std::thread::sleep(Duration::from_secs(60));
    }
}

fn parent_killed_with(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let me = std::env::current_exe().unwrap();
    let mut parent = Command::new(me)
        .args(["--exact", "children_die_with_their_parent", "--nocapture", "--test-threads", "1"])
        .env(PARENT_DIR, dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let child = read_pid(&dir.path().join("child"), deadline);
    let grandchild = read_pid(&dir.path().join("grandchild"), deadline);
    assert!(alive(&child) && alive(&grandchild), "both run before the parent dies");

    let sent = Command::new("kill").args(["-s", signal, &parent.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let status = parent.wait().unwrap();
    assert!(!status.success(), "the parent was killed by SIG{signal}: {status}");

    let deadline = Instant::now() + Duration::from_secs(30);
    while alive(&child) || alive(&grandchild) {
        assert!(
            Instant::now() < deadline,
            "30 s after the parent died of SIG{signal}: child {child} alive {}, grandchild {grandchild} alive {}",
            alive(&child),
            alive(&grandchild)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn children_die_with_their_parent() {
    if let Some(dir) = std::env::var_os(PARENT_DIR) {
        be_the_parent(&PathBuf::from(dir));
    }
    parent_killed_with("KILL");
    parent_killed_with("TERM");
}

#[test]
fn dropping_the_group_kills_it_and_its_watchdog() {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("sleep 600 & echo $! > {0}/g.tmp && mv {0}/g.tmp {0}/g; wait", dir.path().display());
    let group = ProcessGroup::spawn(Command::new("sh").args(["-c", &script])).unwrap();
    let grandchild = read_pid(&dir.path().join("g"), Instant::now() + Duration::from_secs(60));
    let leader = group.id().to_string();
    drop(group);
    // Nothing of the group is left: no live process has its id as group id.
    let members = || -> Vec<String> {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()) && alive(pid))
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let pgid =
                    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(2).map(str::to_string));
                pgid.as_deref() == Some(leader.as_str())
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !members().is_empty() {
        assert!(Instant::now() < deadline, "left in group {leader}: {:?}", members());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(&grandchild));
}
