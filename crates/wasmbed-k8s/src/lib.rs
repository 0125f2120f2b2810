//! The Kubernetes backend of Wasmbed.
//!
//! - [`crd`]: Device, Application and Gateway as custom resources in group
//!   `wasmbed.io`, version `v1alpha1`, whose spec and status are the
//!   model's own types.
//! - [`KubeStore`]: the [`wasmbed_model::Store`] trait over the API server.
//! - [`convert`]: between the custom resources and the model.
//! - [`devices`]: the device-Pod reconciler (finalizer, identity Secret,
//!   one QEMU Pod per emulated Device).
//! - [`forward`]: the device Pod's relay from QEMU's link to the gateway.
//! - [`schema`]: makes the model's JSON schemas structural.
//! - [`secrets`]: the platform CA and identities kept in Secrets.
//! - [`signing`]: the app-signing keys (a Secret) and their announcements
//!   (ConfigMaps the gateways read), so that keys can rotate.
//! - [`watch`]: the API server's watches as the store's events.
//!
//! No Kubernetes cluster runs in this repository's tests: the API server is
//! a scripted `tower_test` mock, and the manifests are validated offline.
//!
//! ```
//! use kube::CustomResourceExt;
//! let crd = wasmbed_k8s::crd::DeviceResource::crd();
//! assert_eq!(crd.metadata.name.as_deref(), Some("devices.wasmbed.io"));
//! ```

pub mod convert;
pub mod crd;
pub mod devices;
pub mod forward;
pub mod schema;
pub mod secrets;
pub mod signing;
mod store;
pub mod watch;

pub use store::{
    KubeStore, MODULE_KEY, MODULE_LABEL, PART_OF, device_status_part, edge_state_config_map, gateway_status_part,
    module_config_map,
};

/// Resolves once `shutdown` is true or its sender is gone.
pub(crate) async fn stopped(mut shutdown: tokio::sync::watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
