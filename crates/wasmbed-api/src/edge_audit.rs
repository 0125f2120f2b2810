//! Edge applications' lifecycle steps into the hash-chained audit log.
//!
//! A gateway numbers every step of its edge applications (a version
//! started, failed to stage, failed, rolled back, stopped) and keeps the
//! latest in its status (`status.edgeJournal`); this follower appends each
//! step to the audit log once, by its number. Gateways run apart from the
//! API (in Kubernetes, in other Pods), so the store is where the two meet.
//! Where it left off is read back from the audit log itself, so a restart
//! of the API neither repeats steps nor skips them.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use wasmbed_model::{EdgeStep, EventKind, Store};

use crate::audit::{AuditEntry, AuditLog, AuditQuery, Outcome};

/// The audit entry of one step of `gateway`.
fn entry(gateway: &str, step: &EdgeStep) -> AuditEntry {
    let outcome = if step.kind.is_failure() { Outcome::Failed } else { Outcome::Ok };
    let mut e = AuditEntry::new(step.at_ms, gateway, step.kind.action(), &step.slot, outcome)
        .fact("seq", step.seq)
        .fact("gateway", gateway);
    if let Some(r) = step.revision {
        e = e.fact("revision", r);
    }
    if let Some(v) = &step.version {
        e = e.fact("version", v);
    }
    if let Some(o) = step.other {
        e = e.fact(if step.kind == wasmbed_model::EdgeStepKind::RolledBack { "from" } else { "replaced" }, o);
    }
    if let Some(why) = &step.reason {
        e = e.detail(why.clone());
    }
    e
}

/// The steps of `journal` not audited yet, given the last number audited
/// (`None`: nothing of this gateway's). A journal numbered below the mark
/// is a new series (the gateway's status was started afresh): all of it is new.
fn unaudited(journal: &[EdgeStep], last: Option<u64>) -> &[EdgeStep] {
    let newest = journal.iter().map(|s| s.seq).max();
    match (last, newest) {
        (Some(last), Some(newest)) if newest >= last => {
            let from = journal.iter().position(|s| s.seq > last).unwrap_or(journal.len());
            &journal[from..]
        }
        _ => journal,
    }
}

/// The last step of `gateway` the log holds.
fn last_audited(audit: &AuditLog, gateway: &str) -> Option<u64> {
    let q = AuditQuery {
        actor: Some(gateway.to_string()),
        action: Some("edge.".into()),
        limit: Some(1),
        ..Default::default()
    };
    audit.query(&q).first().and_then(|e| e.facts.get("seq")).and_then(|s| s.parse().ok())
}

/// Follows the store until `stop` turns true, auditing edge lifecycle steps.
pub async fn follow(store: Arc<dyn Store>, audit: Arc<AuditLog>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut changes = store.watch();
    let mut marks: HashMap<String, Option<u64>> = HashMap::new();
    let mut names: Vec<String> =
        store.list_gateways().await.map(|g| g.into_iter().map(|g| g.meta.name).collect()).unwrap_or_default();
    loop {
        for name in names.drain(..) {
            let Ok(Some(g)) = store.get_gateway(&name).await else { continue };
            let mark = marks.entry(name.clone()).or_insert_with(|| last_audited(&audit, &name));
            for step in unaudited(&g.status.edge_journal, *mark) {
                if let Err(e) = audit.append(entry(&name, step)) {
                    tracing::warn!(gateway = %name, "cannot audit an edge lifecycle step: {e}");
                    break;
                }
                *mark = Some(step.seq);
            }
        }
        let ev = tokio::select! {
            ev = changes.recv() => ev,
            _ = stop.changed() => return,
        };
        match ev {
            Ok(ev) if ev.kind == EventKind::Gateway && !ev.deleted => names.push(ev.name),
            Ok(_) => {}
            // Journals are levels: look at every gateway again.
            Err(RecvError::Lagged(_)) => {
                names = store
                    .list_gateways()
                    .await
                    .map(|g| g.into_iter().map(|g| g.meta.name).collect())
                    .unwrap_or_default()
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::EdgeStepKind;

    fn step(seq: u64, kind: EdgeStepKind) -> EdgeStep {
        EdgeStep {
            seq,
            at_ms: 1_000 + seq,
            slot: "watch".into(),
            kind,
            revision: Some(2),
            version: Some("1.1".into()),
            other: Some(1),
            reason: kind.is_failure().then(|| "init failed: boom".into()),
        }
    }

    #[test]
    fn each_step_is_new_once() {
        let j = [step(4, EdgeStepKind::Started), step(5, EdgeStepKind::Failed), step(6, EdgeStepKind::RolledBack)];
        assert_eq!(unaudited(&j, None).len(), 3, "nothing audited yet: all");
        assert_eq!(unaudited(&j, Some(4)).iter().map(|s| s.seq).collect::<Vec<_>>(), [5, 6]);
        assert!(unaudited(&j, Some(6)).is_empty());
        assert_eq!(unaudited(&j, Some(90)).len(), 3, "a journal started afresh is new");
        assert!(unaudited(&[], Some(3)).is_empty());
    }

    #[test]
    fn entries_say_what_happened() {
        let e = entry("gateway-1", &step(5, EdgeStepKind::Failed));
        assert_eq!((e.actor.as_str(), e.action.as_str(), e.target.as_str()), ("gateway-1", "edge.fail", "watch"));
        assert_eq!(e.outcome, Outcome::Failed);
        assert_eq!(e.detail.as_deref(), Some("init failed: boom"));
        assert_eq!(e.facts.get("seq").map(String::as_str), Some("5"));
        let e = entry("gateway-1", &step(6, EdgeStepKind::RolledBack));
        assert_eq!((e.action.as_str(), e.outcome), ("edge.rollback", Outcome::Ok));
        assert_eq!(e.facts.get("from").map(String::as_str), Some("1"));
    }

    #[test]
    fn where_it_left_off_is_read_back_from_the_log() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("audit.log");
        let log = AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(last_audited(&log, "gateway-1"), None);
        for s in [step(7, EdgeStepKind::Started), step(8, EdgeStepKind::Stopped)] {
            log.append(entry("gateway-1", &s)).unwrap_or_else(|e| panic!("{e}"));
        }
        log.append(entry("gateway-2", &step(2, EdgeStepKind::Started))).unwrap_or_else(|e| panic!("{e}"));
        drop(log);
        let log = AuditLog::open(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(last_audited(&log, "gateway-1"), Some(8));
        assert_eq!(last_audited(&log, "gateway-2"), Some(2));
    }
}
