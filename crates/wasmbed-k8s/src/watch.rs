//! Feeds [`Store::watch`](wasmbed_model::Store::watch) from the API
//! server's watches of the three kinds.
//!
//! Guarantees (level-triggered, as the model asks): every change seen is
//! one [`Event`] naming the resource; `status_only` is set when the
//! object's `metadata.generation` did not move (the status subresource
//! keeps status writes out of it); a resource whose deletion was requested
//! is reported `deleted` once, when its deletion timestamp appears (a
//! finalizer may keep it a while longer); after a reconnect the watcher
//! re-lists, and resources that vanished meanwhile are reported deleted.
//! Watch errors are logged and retried with backoff; they never end the
//! stream.

use std::collections::{HashMap, HashSet};
use std::fmt::Debug;

use futures::StreamExt;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event as WatchEvent};
use serde::de::DeserializeOwned;
use tokio::sync::{broadcast, watch};
use wasmbed_model::{Event, EventKind};

use crate::KubeStore;
use crate::convert::terminating;

#[derive(Debug, Clone, Copy)]
struct Seen {
    generation: Option<i64>,
    terminating: bool,
}

/// Turns one kind's watcher events into store events.
#[derive(Debug)]
pub struct Tracker {
    kind: EventKind,
    seen: HashMap<String, Seen>,
    /// Names listed since the last `Init`, while a re-list is in progress.
    relisting: Option<HashSet<String>>,
}

impl Tracker {
    /// A tracker for `kind`, having seen nothing.
    pub fn new(kind: EventKind) -> Self {
        Self { kind, seen: HashMap::new(), relisting: None }
    }

    fn event(&self, name: &str, deleted: bool, status_only: bool) -> Event {
        Event { kind: self.kind, name: name.to_owned(), deleted, status_only }
    }

    fn applied<K: Resource>(&mut self, obj: &K) -> Option<Event> {
        let meta = obj.meta();
        let name = meta.name.clone().unwrap_or_default();
        let now = Seen { generation: meta.generation, terminating: terminating(meta) };
        let before = self.seen.insert(name.clone(), now);
        match (before, now.terminating) {
            (Some(b), true) if b.terminating => None,
            (_, true) => Some(self.event(&name, true, false)),
            (Some(b), false) => Some(self.event(&name, false, !b.terminating && b.generation == now.generation)),
            (None, false) => Some(self.event(&name, false, false)),
        }
    }

    /// The store events one watcher event stands for.
    pub fn apply<K: Resource>(&mut self, ev: WatchEvent<K>) -> Vec<Event> {
        match ev {
            WatchEvent::Init => {
                self.relisting = Some(HashSet::new());
                Vec::new()
            }
            WatchEvent::InitApply(obj) => {
                if let (Some(listed), Some(name)) = (self.relisting.as_mut(), obj.meta().name.clone()) {
                    listed.insert(name);
                }
                self.applied(&obj).into_iter().collect()
            }
            WatchEvent::InitDone => {
                let listed = self.relisting.take().unwrap_or_default();
                let gone: Vec<(String, Seen)> =
                    self.seen.iter().filter(|(n, _)| !listed.contains(*n)).map(|(n, s)| (n.clone(), *s)).collect();
                let mut out = Vec::new();
                for (name, seen) in gone {
                    self.seen.remove(&name);
                    if !seen.terminating {
                        out.push(self.event(&name, true, false));
                    }
                }
                out
            }
            WatchEvent::Apply(obj) => self.applied(&obj).into_iter().collect(),
            WatchEvent::Delete(obj) => {
                let name = obj.meta().name.clone().unwrap_or_default();
                match self.seen.remove(&name) {
                    Some(s) if s.terminating => Vec::new(),
                    _ => vec![self.event(&name, true, false)],
                }
            }
        }
    }
}

async fn follow<K>(api: Api<K>, kind: EventKind, tx: broadcast::Sender<Event>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let mut tracker = Tracker::new(kind);
    let mut stream = std::pin::pin!(watcher::watcher(api, watcher::Config::default()).default_backoff());
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(ev) => {
                for e in tracker.apply(ev) {
                    // No receivers is fine: nobody is watching.
                    let _ = tx.send(e);
                }
            }
            Err(e) => tracing::warn!(?kind, "watch failed, retrying: {e}"),
        }
    }
}

impl KubeStore {
    /// Watches Devices, Applications and Gateways and feeds
    /// [`Store::watch`](wasmbed_model::Store::watch) until `shutdown` turns
    /// true. Spawn it once per store.
    pub async fn watch_changes(&self, shutdown: watch::Receiver<bool>) {
        let devices = follow(self.devices.clone(), EventKind::Device, self.events.clone());
        let applications = follow(self.applications.clone(), EventKind::Application, self.events.clone());
        let gateways = follow(self.gateways.clone(), EventKind::Gateway, self.events.clone());
        tokio::select! {
            _ = devices => {}
            _ = applications => {}
            _ = gateways => {}
            _ = crate::stopped(shutdown) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::{DeviceResource, DeviceResourceSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn dev(name: &str, generation: i64, deleting: bool) -> DeviceResource {
        let mut d = DeviceResource::new(name, DeviceResourceSpec::default());
        d.metadata.generation = Some(generation);
        if deleting {
            d.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        }
        d
    }

    fn ev(name: &str, deleted: bool, status_only: bool) -> Event {
        Event { kind: EventKind::Device, name: name.into(), deleted, status_only }
    }

    #[test]
    fn spec_and_status_changes_are_told_apart() {
        let mut t = Tracker::new(EventKind::Device);
        assert_eq!(t.apply(WatchEvent::Apply(dev("a", 1, false))), [ev("a", false, false)]);
        assert_eq!(t.apply(WatchEvent::Apply(dev("a", 1, false))), [ev("a", false, true)]);
        assert_eq!(t.apply(WatchEvent::Apply(dev("a", 2, false))), [ev("a", false, false)]);
    }

    #[test]
    fn a_finalizing_resource_is_deleted_once() {
        let mut t = Tracker::new(EventKind::Device);
        t.apply(WatchEvent::Apply(dev("a", 1, false)));
        assert_eq!(t.apply(WatchEvent::Apply(dev("a", 2, true))), [ev("a", true, false)]);
        assert!(t.apply(WatchEvent::Apply(dev("a", 2, true))).is_empty(), "status writes while finalizing");
        assert!(t.apply(WatchEvent::Delete(dev("a", 2, true))).is_empty());
        assert_eq!(t.apply(WatchEvent::Delete(dev("b", 1, false))), [ev("b", true, false)]);
    }

    #[test]
    fn a_relist_reports_what_vanished_meanwhile() {
        let mut t = Tracker::new(EventKind::Device);
        t.apply(WatchEvent::Apply(dev("a", 1, false)));
        t.apply(WatchEvent::Apply(dev("b", 1, false)));
        assert!(t.apply(WatchEvent::<DeviceResource>::Init).is_empty());
        assert_eq!(t.apply(WatchEvent::InitApply(dev("a", 1, false))), [ev("a", false, true)]);
        assert_eq!(t.apply(WatchEvent::<DeviceResource>::InitDone), [ev("b", true, false)]);
        assert_eq!(t.apply(WatchEvent::Apply(dev("b", 1, false))), [ev("b", false, false)], "b is new again");
    }
}
