//! The Kubernetes backend of Wasmbed.
//!
//! - [`crd`]: Device, Application and Gateway as custom resources in group
//!   `wasmbed.io`, version `v1alpha1`, whose spec and status are the
//!   model's own types.
//! - [`KubeStore`]: the [`wasmbed_model::Store`] trait over the API server.
//! - [`convert`]: between the custom resources and the model.
//!
//! ```
//! use kube::CustomResourceExt;
//! let crd = wasmbed_k8s::crd::DeviceResource::crd();
//! assert_eq!(crd.metadata.name.as_deref(), Some("devices.wasmbed.io"));
//! ```

pub mod convert;
pub mod crd;
pub mod schema;
mod store;
pub mod watch;

pub use store::{
    KubeStore, MAX_MODULE_LEN, MODULE_KEY, MODULE_LABEL, PART_OF, device_status_part, gateway_status_part,
    module_config_map,
};
