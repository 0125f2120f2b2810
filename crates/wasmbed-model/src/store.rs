//! The store trait every backend implements, with watches.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{Application, Device, DeviceStatus};

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A device's spec or status was written.
    Device,
    /// An application was written.
    Application,
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
        /// `device`, `application` or `module`.
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
/// based on; status writes are unconditional (one writer per device: the
/// gateway holding its session).
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
    /// Replaces a device's status.
    async fn update_device_status(&self, name: &str, status: &DeviceStatus) -> Result<(), StoreError>;
    /// Deletes a device.
    async fn delete_device(&self, name: &str) -> Result<(), StoreError>;

    /// Creates or replaces an application's spec (the version check applies
    /// when replacing: pass the version read).
    async fn put_application(&self, app: &Application) -> Result<Application, StoreError>;
    /// Reads an application.
    async fn get_application(&self, name: &str) -> Result<Option<Application>, StoreError>;
    /// Lists all applications, by name.
    async fn list_applications(&self) -> Result<Vec<Application>, StoreError>;
    /// Replaces an application's status.
    async fn update_application_status(&self, name: &str, status: &crate::ApplicationStatus) -> Result<(), StoreError>;
    /// Deletes an application.
    async fn delete_application(&self, name: &str) -> Result<(), StoreError>;

    /// Stores module bytes under their hex SHA-256 digest (idempotent).
    async fn put_module(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Reads module bytes.
    async fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Subscribes to changes made after this call.
    fn watch(&self) -> WatchStream;
}
