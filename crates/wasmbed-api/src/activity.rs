//! Fleet activity over the last ten minutes, in 10 s buckets: heartbeats
//! received, apps that newly failed, and enrollments refused because the
//! certificate was not the device's current one (an old bundle). The event hub counts every device
//! change as it fans it out, so a client that opens the dashboard gets the
//! recent history in its snapshot (and `GET /api/v1/activity`) instead of
//! a chart that starts empty.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use wasmbed_model::Device;
use wasmbed_model::clock::to_unix_ms;

use crate::ApiState;
use crate::auth::Viewer;
use crate::openapi::AuthErrors;

/// Width of one bucket.
pub const BUCKET_MS: u64 = 10_000;
/// Buckets kept: ten minutes.
pub const BUCKETS: usize = 60;

/// Counts in one bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityBucket {
    /// Start of the bucket, Unix milliseconds (a multiple of `bucketMs`).
    pub start_ms: u64,
    /// Heartbeats received.
    pub heartbeats: u32,
    /// Apps that turned failed or rejected.
    pub failures: u32,
    /// Enrollments refused for a certificate that is not the device's
    /// current one (each device's `status.refused` says which and from where).
    #[serde(default)]
    pub refused: u32,
}

/// What one device change counts for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seen {
    /// Its heartbeat moved.
    pub heartbeats: u32,
    /// Apps that newly turned failed or rejected.
    pub failures: u32,
    /// Enrollments newly refused.
    pub refused: u32,
}

/// Recent activity, oldest bucket first; buckets with nothing are left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Activity {
    /// Width of a bucket.
    pub bucket_ms: u64,
    /// The buckets of the last ten minutes that saw something.
    pub buckets: Vec<ActivityBucket>,
}

/// The recorder the event hub feeds.
#[derive(Debug, Default)]
pub struct ActivityLog {
    buckets: Mutex<VecDeque<ActivityBucket>>,
}

impl ActivityLog {
    /// Counts what was `seen` at `at_ms`.
    pub fn record(&self, at_ms: u64, seen: Seen) {
        if seen == Seen::default() {
            return;
        }
        let start_ms = at_ms - at_ms % BUCKET_MS;
        let mut b = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match b.back_mut() {
            // A clock stepping back would reorder buckets: count into the newest.
            Some(last) if last.start_ms >= start_ms => {
                last.heartbeats = last.heartbeats.saturating_add(seen.heartbeats);
                last.failures = last.failures.saturating_add(seen.failures);
                last.refused = last.refused.saturating_add(seen.refused);
            }
            _ => b.push_back(ActivityBucket {
                start_ms,
                heartbeats: seen.heartbeats,
                failures: seen.failures,
                refused: seen.refused,
            }),
        }
        while b.len() > BUCKETS {
            b.pop_front();
        }
    }

    /// The buckets of the ten minutes before `now_ms`.
    pub fn recent(&self, now_ms: u64) -> Activity {
        let first = (now_ms - now_ms % BUCKET_MS).saturating_sub((BUCKETS as u64 - 1) * BUCKET_MS);
        let b = self.buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        Activity { bucket_ms: BUCKET_MS, buckets: b.iter().filter(|x| x.start_ms >= first).copied().collect() }
    }
}

/// What a device's change counts for: whether its heartbeat moved, how
/// many of its apps newly turned failed or rejected, and how many
/// enrollments were newly refused.
pub fn change(prev: Option<&Device>, next: &Device) -> Seen {
    let hb = next.status.session.last_heartbeat_ms;
    let heartbeat = hb.is_some() && hb != prev.and_then(|p| p.status.session.last_heartbeat_ms);
    let was_failed =
        |name: &str| prev.is_some_and(|p| p.status.session.apps.iter().any(|a| a.name == name && a.state.is_failure()));
    let failures = next.status.session.apps.iter().filter(|a| a.state.is_failure() && !was_failed(&a.name)).count();
    let attempts = |d: Option<&Device>| d.and_then(|d| d.status.refused.as_ref()).map_or(0, |r| r.attempts);
    // A count that went down was reset (a re-created device): all of it is new.
    let (before, after) = (attempts(prev), attempts(Some(next)));
    let refused = if after >= before { after - before } else { after };
    Seen {
        heartbeats: u32::from(heartbeat),
        failures: u32::try_from(failures).unwrap_or(u32::MAX),
        refused: u32::try_from(refused).unwrap_or(u32::MAX),
    }
}

#[utoipa::path(get, path = "/api/v1/activity", tag = "events",
    summary = "Heartbeats, app failures and refused enrollments of the last ten minutes, per 10 s",
    description = "Role: viewer.",
    responses((status = 200, description = "Recent activity", body = Activity), AuthErrors))]
/// `GET /api/v1/activity`.
pub async fn get_activity(_: Viewer, State(st): State<ApiState>) -> Json<Activity> {
    Json(st.events.activity(to_unix_ms((st.now)())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::AppState;
    use wasmbed_testkit::{With, device, observation};

    #[test]
    fn buckets_count_and_age_out() {
        let log = ActivityLog::default();
        let seen = |heartbeats, failures, refused| Seen { heartbeats, failures, refused };
        log.record(12_000, seen(1, 0, 0));
        log.record(19_999, seen(2, 1, 4));
        log.record(20_000, seen(0, 0, 0));
        log.record(25_000, seen(1, 0, 0));
        let now = log.recent(25_000);
        assert_eq!(now.bucket_ms, BUCKET_MS);
        assert_eq!(
            now.buckets,
            [
                ActivityBucket { start_ms: 10_000, heartbeats: 3, failures: 1, refused: 4 },
                ActivityBucket { start_ms: 20_000, heartbeats: 1, failures: 0, refused: 0 },
            ]
        );
        // Ten minutes later the first bucket has left the window.
        assert_eq!(log.recent(10_000 + BUCKETS as u64 * BUCKET_MS).buckets.len(), 1);
        for i in 0..200u64 {
            log.record(30_000 + i * BUCKET_MS, seen(1, 0, 0));
        }
        assert!(log.recent(u64::MAX / 2).buckets.is_empty());
        assert!(log.buckets.lock().unwrap().len() <= BUCKETS, "bounded");
    }

    #[test]
    fn a_change_counts_a_new_heartbeat_and_newly_failed_apps_once() {
        let beat = |ms, apps: Vec<_>| {
            device("d").with(|d| {
                d.status.session.last_heartbeat_ms = Some(ms);
                d.status.session.apps = apps;
            })
        };
        let ok = observation("a", Some(1), AppState::Running);
        let bad = observation("a", Some(1), AppState::Failed);
        let counts = |s: Seen| (s.heartbeats, s.failures);
        let first = beat(1, vec![ok.clone()]);
        assert_eq!(counts(change(None, &first)), (1, 0));
        assert_eq!(counts(change(Some(&first), &first)), (0, 0), "nothing moved");
        let failed = beat(2, vec![bad.clone()]);
        assert_eq!(counts(change(Some(&first), &failed)), (1, 1));
        assert_eq!(counts(change(Some(&failed), &beat(3, vec![bad]))), (1, 0), "still failed is not new");
        let rejected = beat(3, vec![observation("b", Some(2), AppState::Rejected), ok]);
        assert_eq!(counts(change(Some(&first), &rejected)), (1, 1));
        assert_eq!(change(None, &device("quiet")), Seen::default(), "no heartbeat yet");
    }

    #[test]
    fn refused_enrollments_count_what_is_new_on_the_device() {
        let refused = |attempts| {
            device("d").with(|d| {
                d.status.refused = Some(wasmbed_model::RefusedIdentity {
                    attempts,
                    last_attempt_ms: 1,
                    fingerprint: "f".into(),
                    source: "10.0.0.9:4000".into(),
                    gateway: "gateway-0".into(),
                });
            })
        };
        assert_eq!(change(None, &refused(3)).refused, 3, "a device first seen with refusals");
        assert_eq!(change(Some(&refused(3)), &refused(5)).refused, 2);
        assert_eq!(change(Some(&refused(5)), &refused(5)).refused, 0, "nothing new");
        assert_eq!(change(Some(&refused(5)), &refused(1)).refused, 1, "a new device of that name");
        assert_eq!(change(Some(&refused(u64::MAX)), &refused(1)).refused, 1);
        assert_eq!(change(None, &refused(u64::MAX)).refused, u32::MAX, "saturates");
    }
}
