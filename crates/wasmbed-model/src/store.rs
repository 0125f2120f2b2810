//! The store trait every backend implements, with watches, and
//! [`retry_on_conflict`] for read-change-write cycles.

use std::future::Future;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{Application, ApplicationStatus, Device, DeviceStatusPatch, Gateway, GatewayStatusPatch};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A device's spec or status was written.
    Device,
    /// An application's spec or status was written.
    Application,
    /// A gateway's spec or status was written.
    Gateway,
}

/// A change notification. Watchers re-read the store (level-triggered), so
/// an event only says where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Resource kind.
    pub kind: EventKind,
    /// Resource name.
    pub name: String,
    /// True when the resource was deleted.
    pub deleted: bool,
    /// True when only the status changed.
    pub status_only: bool,
}

/// A watch. On `RecvError::Lagged` a watcher must re-list: events were dropped.
pub type WatchStream = broadcast::Receiver<Event>;

/// Store failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No resource of that name.
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// `device`, `application`, `gateway` or `module`.
        kind: &'static str,
        /// The name asked for.
        name: String,
    },
    /// A resource of that name exists already.
    #[error("{kind} {name:?} already exists")]
    AlreadyExists {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
    },
    /// The write was based on a stale resource version.
    #[error("{kind} {name:?} was modified concurrently; re-read and retry")]
    Conflict {
        /// Kind.
        kind: &'static str,
        /// Name.
        name: String,
    },
    /// The backend failed (disk, database, API server).
    #[error("store backend: {0}")]
    Backend(String),
}

/// Where resources live. Spec writes carry the resource version they were
/// based on (a stale one is a [`StoreError::Conflict`]); status writes are
/// merges of one writer's part ([`DeviceStatusPatch`],
/// [`GatewayStatusPatch`]) or, for applications, whole (one writer: the
/// rollout reconciler). A status write that changes nothing emits no event.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Creates a device; fails if the name is taken.
    async fn create_device(&self, device: Device) -> Result<Device, StoreError>;
    /// Reads a device.
    async fn get_device(&self, name: &str) -> Result<Option<Device>, StoreError>;
    /// Lists all devices, by name.
    async fn list_devices(&self) -> Result<Vec<Device>, StoreError>;
    /// Replaces a device's spec; `device.meta.resource_version` must be current.
    async fn update_device_spec(&self, device: &Device) -> Result<Device, StoreError>;
    /// Merges one writer's part into a device's status.
    async fn patch_device_status(&self, name: &str, patch: DeviceStatusPatch) -> Result<(), StoreError>;
    /// Deletes a device.
    async fn delete_device(&self, name: &str) -> Result<(), StoreError>;

    /// Creates or replaces an application's spec (the version check applies
    /// when replacing: pass the version read).
    async fn put_application(&self, app: &Application) -> Result<Application, StoreError>;
    /// Reads an application.
    async fn get_application(&self, name: &str) -> Result<Option<Application>, StoreError>;
    /// Lists all applications, by name.
    async fn list_applications(&self) -> Result<Vec<Application>, StoreError>;
    /// Replaces an application's status (durably: it holds the rollout's progress).
    async fn update_application_status(&self, name: &str, status: &ApplicationStatus) -> Result<(), StoreError>;
    /// Deletes an application.
    async fn delete_application(&self, name: &str) -> Result<(), StoreError>;

    /// Creates or replaces a gateway's spec (version check as for applications).
    async fn put_gateway(&self, gateway: &Gateway) -> Result<Gateway, StoreError>;
    /// Reads a gateway.
    async fn get_gateway(&self, name: &str) -> Result<Option<Gateway>, StoreError>;
    /// Lists all gateways, by name.
    async fn list_gateways(&self) -> Result<Vec<Gateway>, StoreError>;
    /// Merges one writer's part into a gateway's status.
    async fn patch_gateway_status(&self, name: &str, patch: GatewayStatusPatch) -> Result<(), StoreError>;
    /// Deletes a gateway.
    async fn delete_gateway(&self, name: &str) -> Result<(), StoreError>;

    /// Stores module bytes under their hex SHA-256 digest (idempotent).
    async fn put_module(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Reads module bytes.
    async fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Digests of every stored module, sorted.
    async fn list_modules(&self) -> Result<Vec<String>, StoreError>;
    /// Deletes a module's bytes; deleting an absent one is no error.
    async fn delete_module(&self, digest: &str) -> Result<(), StoreError>;

    /// Stores the persistent state (its key-value store, encoded) of edge
    /// slot `slot` on gateway `gateway`, replacing what was there.
    async fn put_edge_state(&self, gateway: &str, slot: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Reads an edge slot's persistent state.
    async fn get_edge_state(&self, gateway: &str, slot: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes an edge slot's persistent state; deleting an absent one is no error.
    async fn delete_edge_state(&self, gateway: &str, slot: &str) -> Result<(), StoreError>;

    /// Subscribes to changes made after this call.
    fn watch(&self) -> WatchStream;
}

/// How often a read-change-write is tried before a conflict is given up.
pub const WRITE_ATTEMPTS: usize = 5;

/// How one read-change-write attempt failed.
#[derive(Debug)]
pub enum Attempt<E> {
    /// A concurrent write got there first: read again and retry.
    Conflict(StoreError),
    /// Anything else: give up with this error.
    Failed(E),
}

impl<E: From<StoreError>> From<StoreError> for Attempt<E> {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => Self::Conflict(e),
            e => Self::Failed(E::from(e)),
        }
    }
}

/// Runs `attempt` — one read, change and write of a spec — again while a
/// concurrent write makes it fail with a [`StoreError::Conflict`], at most
/// [`WRITE_ATTEMPTS`] times; then the last conflict is the error.
///
/// ```
/// # use wasmbed_model::{Attempt, StoreError, retry_on_conflict};
/// # block_on(async {
/// let mut tries = 0;
/// let out: Result<u32, StoreError> = retry_on_conflict(|| {
///     tries += 1;
///     let t = tries;
///     async move {
///         if t < 3 { Err(Attempt::Conflict(StoreError::Conflict { kind: "device", name: "d".into() })) } else { Ok(t) }
///     }
/// })
/// .await;
/// assert_eq!(out.unwrap(), 3);
/// # });
/// # fn block_on(f: impl std::future::Future<Output = ()>) {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
pub async fn retry_on_conflict<T, E, F, Fut>(mut attempt: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt<E>>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(Attempt::Failed(e)) => return Err(e),
            Err(Attempt::Conflict(e)) if tries >= WRITE_ATTEMPTS => return Err(E::from(e)),
            Err(Attempt::Conflict(_)) => tries += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conflict() -> StoreError {
        StoreError::Conflict { kind: "device", name: "d".into() }
    }

    fn block_on<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f)
    }

    #[test]
    fn conflicts_are_retried_a_bounded_number_of_times_then_reported() {
        let mut tries = 0;
        let out: Result<(), StoreError> = block_on(retry_on_conflict(|| {
            tries += 1;
            async { Err(Attempt::from(conflict())) }
        }));
        assert!(matches!(out, Err(StoreError::Conflict { .. })));
        assert_eq!(tries, WRITE_ATTEMPTS);
    }

    #[test]
    fn other_errors_end_at_once() {
        let mut tries = 0;
        let out: Result<(), StoreError> = block_on(retry_on_conflict(|| {
            tries += 1;
            async { Err(Attempt::from(StoreError::Backend("disk".into()))) }
        }));
        assert!(matches!(out, Err(StoreError::Backend(_))));
        assert_eq!(tries, 1);
    }
}
