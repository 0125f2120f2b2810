//! `wasmbed audit verify`: checks the audit log's hash chain.
//!
//! Two ways, because each sees what the other cannot: `--file` reads a
//! log file here (a copy, a backup, a stopped platform's data directory)
//! and needs neither a running API nor a token; without it the API checks
//! its own file, which also catches lines cut from the end (the API
//! remembers the last entry it wrote) and works where the file is out of
//! reach (inside the controller's pod in Kubernetes).

use std::path::Path;

use anyhow::{Context, Result, bail};
use wasmbed_api::AuditCheck;
use wasmbed_api::audit::{Verified, chain};

use crate::api::Api;
use crate::output::print_json;

/// Checks the log file at `path`, offline.
pub fn verify_file(path: &Path, json: bool) -> Result<()> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open the audit log {}", path.display()))?;
    match chain::verify(std::io::BufReader::new(f)) {
        Ok(v) => report(&v, json),
        Err(e) => bail!("audit log {} is not intact: {e}", path.display()),
    }
}

/// Asks the API to check its log.
pub async fn verify_api(api: &Api, json: bool) -> Result<()> {
    let check: AuditCheck = api.get("audit/verify").await?;
    match (&check.verified, &check.problem) {
        (Some(v), _) if check.intact => report(v, json),
        (_, problem) => {
            bail!("the platform's audit log is not intact: {}", problem.as_deref().unwrap_or("(no reason given)"))
        }
    }
}

fn report(v: &Verified, json: bool) -> Result<()> {
    if json {
        return print_json(v);
    }
    println!("intact: {} lines, {} chained, head {}", v.lines, v.chained, v.head);
    if v.unchained > 0 {
        println!("{} entries from before the chain (only the last of them is covered)", v.unchained);
    }
    if !v.torn.is_empty() {
        let lines: Vec<String> = v.torn.iter().map(ToString::to_string).collect();
        println!("torn writes (a crash mid-append) on line(s) {}", lines.join(", "));
    }
    Ok(())
}
