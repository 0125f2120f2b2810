//! Revoked identities knocking: a gateway that refuses a certificate which
//! is not the device's current one counts the attempt on the Device
//! (`status.refused`); this follower turns those counts into entries of the
//! hash-chained audit log. Gateways run apart from the API (in Kubernetes,
//! in other Pods), so the store is where the two meet.
//!
//! A flood must not flood the log: at most one entry per device per
//! [`AUDIT_EVERY_MS`], carrying how many attempts it sums up (attempts
//! within the window are summed into the entry of the next one after it;
//! the Device's own count is always complete).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use wasmbed_model::{EventKind, RefusedIdentity, Store};

use crate::audit::{AuditEntry, AuditLog, Outcome};

/// Shortest time between two entries about one device.
pub const AUDIT_EVERY_MS: u64 = 10_000;

/// What has been audited of one device: attempts counted then, and when.
#[derive(Debug, Clone, Copy)]
struct Seen {
    attempts: u64,
    at_ms: u64,
}

/// The entry for `name` whose refusals moved from `seen` to `now`, if one
/// is due (the first sighting only sets the mark: what happened before the
/// API ran is on the Device, not in this log).
fn due(name: &str, seen: Option<Seen>, now: &RefusedIdentity) -> (Option<AuditEntry>, Seen) {
    let Some(seen) = seen else {
        return (None, Seen { attempts: now.attempts, at_ms: 0 });
    };
    let new = now.attempts.saturating_sub(seen.attempts);
    if new == 0 || now.last_attempt_ms.saturating_sub(seen.at_ms) < AUDIT_EVERY_MS && seen.at_ms != 0 {
        return (None, seen);
    }
    let entry = AuditEntry::new(now.last_attempt_ms, &now.gateway, "device.enroll", name, Outcome::Refused)
        .fact("fingerprint", &now.fingerprint)
        .fact("source", &now.source)
        .fact("attempts", new)
        .detail("a certificate that is not the device's current one (revoked by a re-issue or re-creation)");
    (Some(entry), Seen { attempts: now.attempts, at_ms: now.last_attempt_ms })
}

/// Follows the store until `stop` turns true, auditing refused identities.
pub async fn follow(store: Arc<dyn Store>, audit: Arc<AuditLog>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut changes = store.watch();
    let mut seen: HashMap<String, Seen> = HashMap::new();
    loop {
        let ev = tokio::select! {
            ev = changes.recv() => ev,
            _ = stop.changed() => return,
        };
        let ev = match ev {
            Ok(ev) => ev,
            // Counts are levels: the next event of a device catches up.
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        };
        if ev.kind != EventKind::Device {
            continue;
        }
        if ev.deleted {
            seen.remove(&ev.name);
            continue;
        }
        let Ok(Some(d)) = store.get_device(&ev.name).await else { continue };
        let Some(refused) = &d.status.refused else { continue };
        let (entry, mark) = due(&ev.name, seen.get(&ev.name).copied(), refused);
        seen.insert(ev.name.clone(), mark);
        if let Some(entry) = entry
            && let Err(e) = audit.append(entry)
        {
            tracing::warn!(device = %ev.name, "cannot audit refused enrollments: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(attempts: u64, at: u64) -> RefusedIdentity {
        RefusedIdentity {
            attempts,
            last_attempt_ms: at,
            fingerprint: "ab".repeat(32),
            source: "127.0.0.1:5000".into(),
            gateway: "gateway-0".into(),
        }
    }

    #[test]
    fn the_first_sighting_marks_then_each_window_sums_up() {
        let (e, s) = due("d", None, &refused(3, 1_000));
        assert!(e.is_none(), "what came before is on the Device");
        let (e, s) = due("d", Some(s), &refused(4, 2_000));
        let e = e.unwrap_or_else(|| panic!("a new attempt is audited"));
        assert_eq!((e.action.as_str(), e.target.as_str(), e.outcome), ("device.enroll", "d", Outcome::Refused));
        assert_eq!(e.facts.get("attempts").map(String::as_str), Some("1"));
        assert_eq!(e.actor, "gateway-0");
        // A flood within the window: no entry, counted for the next one.
        let (e, s) = due("d", Some(s), &refused(50, 5_000));
        assert!(e.is_none());
        let (e, _) = due("d", Some(s), &refused(51, 12_500));
        assert_eq!(e.and_then(|e| e.facts.get("attempts").cloned()).as_deref(), Some("47"));
    }

    #[test]
    fn no_new_attempt_no_entry() {
        let (_, s) = due("d", None, &refused(3, 1_000));
        let (e, _) = due("d", Some(s), &refused(3, 99_000));
        assert!(e.is_none());
    }
}
