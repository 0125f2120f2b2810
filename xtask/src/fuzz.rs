//! The fuzz targets (`fuzz/`, its own workspace): every target cargo-fuzz
//! finds there. The decoders are seeded with the golden vectors of
//! `crates/wasmbed-protocol/tests/golden/`; [`MODULE_TARGET`] with the
//! example apps.
//!
//! `cargo xtask test` builds them all and runs each for [`TEST_RUNS`]
//! inputs ([`MODULE_TEST_RUNS`] for the module target, whose inputs each
//! run a device) from a fresh corpus and a fixed seed, so the step takes the
//! same time and finds the same things on every run; `cargo xtask fuzz
//! SECONDS` fuzzes for longer and keeps its corpus in `fuzz/corpus/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::{root, tools};

/// Inputs per target in `cargo xtask test`: 5 to 12 seconds each on two
/// cores (measured: 40,000 to 66,000 inputs a second), after a build of
/// about a minute and a half when the protocol changed.
pub const TEST_RUNS: u64 = 500_000;

/// The target that deploys each input to a device agent.
const MODULE_TARGET: &str = "module";

/// Inputs of [`MODULE_TARGET`] in `cargo xtask test`: each builds an
/// engine, installs and runs a module. Measured in a full CI run: 20,000
/// took 207 s (mutated modules grow costlier than the seeds), so CI runs a
/// quarter of that, after its own build (about 3.5 minutes cold, less when
/// only the agent changed); `cargo xtask fuzz SECONDS` goes further.
pub const MODULE_TEST_RUNS: u64 = 5_000;

/// Flags [`MODULE_TARGET`] is built and run with: release without debug
/// assertions, as devices run wasmi. wasmi's lazy translator asserts
/// (`debug_assert!`) on some invalid bodies before its validator reports
/// them, which no device build compiles in; the fuzzer found one within
/// 300 inputs.
const MODULE_FLAGS: &[&str] = &["-O"];

/// How long each target runs.
#[derive(Debug, Clone, Copy)]
pub enum Budget {
    /// Wall-clock seconds per target, growing the kept corpus.
    Seconds(u64),
    /// Inputs per target, from a fresh corpus and a fixed seed.
    Runs(u64),
}

/// Builds every fuzz target and runs each within `budget`.
pub fn run(budget: Budget) -> Result<()> {
    let tools = tools::ensure_fuzz_tools()?;
    let listed = tools.cargo_fuzz().arg("list").output().context("cannot run cargo fuzz list")?;
    if !listed.status.success() {
        bail!("cargo fuzz list failed: {}", String::from_utf8_lossy(&listed.stderr));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&listed.stdout).split_whitespace().map(String::from).collect();
    if targets.is_empty() {
        bail!("cargo fuzz list found no targets in fuzz/");
    }
    // cargo-fuzz has no --locked: check the committed lockfile first.
    crate::run(
        "fuzz/Cargo.lock is up to date",
        crate::cargo().current_dir(root().join("fuzz")).args(["fetch", "--locked", "--quiet"]),
    )?;
    crate::run("build the fuzz targets (nightly, sanitizers)", tools.cargo_fuzz().arg("build"))?;
    let golden = seeds()?;
    let apps = if targets.iter().any(|t| t == MODULE_TARGET) { Some(module_seeds()?) } else { None };
    for target in &targets {
        let seeds = match &apps {
            Some(apps) if target == MODULE_TARGET => apps,
            _ => &golden,
        };
        let (what, corpus, flags) = match budget {
            Budget::Seconds(s) => (
                format!("fuzz {target} for {s} s"),
                root().join("fuzz/corpus").join(target),
                vec![format!("-max_total_time={s}")],
            ),
            Budget::Runs(n) => {
                let n = if target == MODULE_TARGET { n.min(MODULE_TEST_RUNS) } else { n };
                let fresh = root().join("target/fuzz/runs").join(target);
                if fresh.exists() {
                    std::fs::remove_dir_all(&fresh).with_context(|| format!("cannot empty {}", fresh.display()))?;
                }
                (format!("fuzz {target} for {n} inputs"), fresh, vec![format!("-runs={n}"), "-seed=1".into()])
            }
        };
        std::fs::create_dir_all(&corpus).with_context(|| format!("cannot create {}", corpus.display()))?;
        // New inputs go to the first folder; the seeds stay as they are.
        // A hang is a bug too: no input may take ten seconds.
        let flags_of_target: &[&str] = if target == MODULE_TARGET { MODULE_FLAGS } else { &[] };
        crate::run(
            &what,
            tools
                .cargo_fuzz()
                .arg("run")
                .args(flags_of_target)
                .arg(target)
                .arg(&corpus)
                .arg(seeds)
                .args(["--", "-timeout=10", "-print_final_stats=1"])
                .args(flags),
        )?;
    }
    Ok(())
}

/// Writes every golden vector, as it is and behind a one-byte split (the
/// frame targets read their first byte as where to split the stream),
/// into `target/fuzz/seeds/`; returns that folder.
fn seeds() -> Result<PathBuf> {
    let golden = root().join("crates/wasmbed-protocol/tests/golden");
    let out = root().join("target/fuzz/seeds");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&golden)
        .with_context(|| format!("cannot read {}", golden.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "hex"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no golden vectors in {}", golden.display());
    }
    for file in files {
        let bytes = from_hex(&std::fs::read_to_string(&file)?).with_context(|| format!("{}", file.display()))?;
        let name = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        write(&out.join(&name), &bytes)?;
        let mut split = vec![0xff];
        split.extend_from_slice(&bytes);
        write(&out.join(format!("{name}.split")), &split)?;
    }
    Ok(out)
}

/// Copies the example apps (built for wasm32) into `target/fuzz/seeds-module/`;
/// returns that folder.
fn module_seeds() -> Result<PathBuf> {
    let built = crate::apps::build()?;
    let out = root().join("target/fuzz/seeds-module");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut n = 0;
    for entry in std::fs::read_dir(&built).with_context(|| format!("cannot read {}", built.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "wasm")
            && let Some(name) = path.file_name()
        {
            std::fs::copy(&path, out.join(name)).with_context(|| format!("cannot copy {}", path.display()))?;
            n += 1;
        }
    }
    if n == 0 {
        bail!("no example apps in {}", built.display());
    }
    Ok(out)
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Hex digits, whitespace ignored (the golden files' format).
fn from_hex(text: &str) -> Result<Vec<u8>> {
    let digits: Vec<u32> = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_digit(16).with_context(|| format!("{c:?} is not a hex digit")))
        .collect::<Result<_>>()?;
    if !digits.len().is_multiple_of(2) {
        bail!("an odd number of hex digits");
    }
    Ok(digits.chunks(2).map(|pair| (pair[0] * 16 + pair[1]) as u8).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_hex_reads_across_lines() {
        assert_eq!(from_hex("00ff\n10 0a\n").unwrap(), vec![0x00, 0xff, 0x10, 0x0a]);
        assert!(from_hex("0").is_err());
        assert!(from_hex("zz").is_err());
    }
}
