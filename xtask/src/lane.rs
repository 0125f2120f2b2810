//! Steps run in a background thread beside the foreground's, so CI keeps
//! both cores busy: a firmware image spends long stretches in one-core
//! LTO, a fuzz target runs on one core, and the host workspace's own
//! target folder is locked by whichever cargo uses it. A lane's steps
//! still announce themselves; what their commands print goes to the
//! lane's log, whose end is printed if the lane fails.

use std::cell::RefCell;
use std::fs::File;
use std::path::PathBuf;
use std::process::Command;
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};

thread_local! {
    /// The log of the lane running on this thread, if any.
    static LOG: RefCell<Option<File>> = const { RefCell::new(None) };
}

/// Sends `cmd`'s output to this thread's lane log, when it has one.
pub fn redirect(cmd: &mut Command) -> Result<()> {
    LOG.with_borrow(|log| {
        if let Some(log) = log {
            cmd.stdout(log.try_clone()?).stderr(log.try_clone()?);
        }
        Ok(())
    })
}

/// A lane going on in the background.
#[derive(Debug)]
pub struct Lane<T> {
    name: &'static str,
    log: PathBuf,
    handle: JoinHandle<Result<T>>,
}

/// Starts `steps` as lane `name`, logging into `target/lanes/NAME.log`.
pub fn spawn<T: Send + 'static>(
    name: &'static str,
    steps: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<Lane<T>> {
    let log = crate::root().join("target/lanes").join(format!("{name}.log"));
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    eprintln!("==> lane {name} started (its output: {})", log.display());
    let handle = std::thread::spawn(move || {
        LOG.set(Some(file));
        steps()
    });
    Ok(Lane { name, log, handle })
}

impl<T> Lane<T> {
    /// Waits for the lane; on failure prints the end of its log.
    pub fn join(self) -> Result<T> {
        let result = self.handle.join().unwrap_or_else(|_| Err(anyhow!("lane {} panicked", self.name)));
        match &result {
            Ok(_) => eprintln!("<== lane {} done", self.name),
            Err(e) => {
                let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                eprintln!("--- lane {} failed ({e}); the end of {} ---", self.name, self.log.display());
                for line in &lines[lines.len().saturating_sub(100)..] {
                    eprintln!("{line}");
                }
            }
        }
        result.with_context(|| format!("lane {}", self.name))
    }
}
