//! Between the custom resources and the model's types.
//!
//! - `meta.name` ⇄ `metadata.name`.
//! - `meta.resourceVersion` ⇄ `metadata.resourceVersion`. Kubernetes calls
//!   it opaque; kube-apiserver over etcd writes the etcd revision, a decimal
//!   integer, which is what the model's `u64` holds. A value that does not
//!   parse is refused (never guessed), so a write based on it cannot succeed
//!   by accident. Kubernetes bumps it on status writes too, so a spec write
//!   can meet a conflict that the embedded store would not report; callers
//!   re-read and retry either way.
//! - `meta.generation` ⇄ `metadata.generation` (spec changes only, thanks
//!   to the status subresource).
//! - `meta.createdMs` ⇄ `metadata.creationTimestamp` (the API server keeps
//!   whole seconds).
//!
//! Server-owned fields (generation, creation time) are never sent.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::core::object::HasSpec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasmbed_model::{Application, Device, Gateway, Meta};

use crate::crd::{
    ApplicationResource, ApplicationResourceSpec, DeviceResource, DeviceResourceSpec, GatewayResource,
    GatewayResourceSpec,
};

/// A resource from the API server that the model cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} {name:?}: {why}")]
pub struct ConvertError {
    /// `device`, `application` or `gateway`.
    pub kind: &'static str,
    /// Its name.
    pub name: String,
    /// What does not fit.
    pub why: String,
}

/// The model's metadata of an object read from the API server.
pub fn meta_from(kind: &'static str, m: &ObjectMeta) -> Result<Meta, ConvertError> {
    let name = m.name.clone().unwrap_or_default();
    let bad = |why: String| ConvertError { kind, name: name.clone(), why };
    let resource_version = match m.resource_version.as_deref() {
        None | Some("") => 0,
        Some(rv) => rv.parse::<u64>().map_err(|_| bad(format!("resourceVersion {rv:?} is not a decimal integer")))?,
    };
    let generation = match m.generation {
        None => 0,
        Some(g) => u64::try_from(g).map_err(|_| bad(format!("negative generation {g}")))?,
    };
    let created_ms = match &m.creation_timestamp {
        None => 0,
        Some(t) => {
            u64::try_from(t.0.as_millisecond()).map_err(|_| bad(format!("creationTimestamp {} before 1970", t.0)))?
        }
    };
    if name.is_empty() {
        return Err(bad("no metadata.name".into()));
    }
    Ok(Meta { name, resource_version, generation, created_ms })
}

/// Metadata to send for a write based on `meta`: its name and, when it has
/// one, the resource version the write was based on.
pub fn object_meta(meta: &Meta) -> ObjectMeta {
    ObjectMeta {
        name: Some(meta.name.clone()),
        resource_version: (meta.resource_version != 0).then(|| meta.resource_version.to_string()),
        ..ObjectMeta::default()
    }
}

/// True while the API server is finalizing the object: to the platform it
/// is gone already.
pub fn terminating(m: &ObjectMeta) -> bool {
    m.deletion_timestamp.is_some()
}

/// A custom resource that carries one of the model's resources: the
/// mapping above, for each kind.
pub trait Mirror: Resource<DynamicType = ()> + HasSpec + Clone + DeserializeOwned + Serialize + Debug {
    /// The model's resource it carries.
    type Model;
    /// `device`, `application` or `gateway`.
    const KIND: &'static str;
    /// The resource as the model's.
    fn to_model(&self) -> Result<Self::Model, ConvertError>;
    /// The model's resource as this one (status left out: it is written
    /// through the status subresource).
    fn from_model(model: &Self::Model) -> Self;
}

// The three kinds map the same way: metadata as above, spec wrapped, status
// as it is.
macro_rules! mirror {
    ($resource:ident, $spec:ident, $model:ident, $kind:literal) => {
        impl Mirror for $resource {
            type Model = $model;
            const KIND: &'static str = $kind;

            fn to_model(&self) -> Result<$model, ConvertError> {
                Ok($model {
                    meta: meta_from($kind, &self.metadata)?,
                    spec: self.spec.0.clone(),
                    status: self.status.clone().unwrap_or_default(),
                })
            }

            fn from_model(model: &$model) -> Self {
                Self { metadata: object_meta(&model.meta), spec: $spec(model.spec.clone()), status: None }
            }
        }
    };
}

mirror!(DeviceResource, DeviceResourceSpec, Device, "device");
mirror!(ApplicationResource, ApplicationResourceSpec, Application, "application");
mirror!(GatewayResource, GatewayResourceSpec, Gateway, "gateway");

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use wasmbed_model::{DeviceSpec, DeviceStatus};

    fn resource(rv: Option<&str>) -> DeviceResource {
        DeviceResource {
            metadata: ObjectMeta {
                name: Some("dev-1".into()),
                resource_version: rv.map(Into::into),
                generation: Some(3),
                creation_timestamp: Some(Time(Timestamp::from_second(1_700_000_000).unwrap())),
                ..ObjectMeta::default()
            },
            spec: DeviceResourceSpec(DeviceSpec { board: "mps2-an385".into(), ..DeviceSpec::default() }),
            status: Some(DeviceStatus::default()),
        }
    }

    #[test]
    fn metadata_maps_both_ways() {
        let d = resource(Some("42")).to_model().unwrap();
        assert_eq!(
            d.meta,
            Meta { name: "dev-1".into(), resource_version: 42, generation: 3, created_ms: 1_700_000_000_000 }
        );
        assert_eq!(d.spec.board, "mps2-an385");
        let back = DeviceResource::from_model(&d);
        assert_eq!(back.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(back.metadata.generation, None, "server-owned");
        assert_eq!(back.metadata.creation_timestamp, None, "server-owned");
        assert!(back.status.is_none());
        let fresh = DeviceResource::from_model(&Device { meta: Meta::named("new"), ..d });
        assert_eq!(fresh.metadata.resource_version, None);
    }

    #[test]
    fn an_opaque_resource_version_is_refused_not_guessed() {
        let e = resource(Some("abc")).to_model().unwrap_err();
        assert!(e.to_string().contains("resourceVersion \"abc\""), "{e}");
        let mut nameless = resource(Some("1"));
        nameless.metadata.name = None;
        assert!(nameless.to_model().is_err());
    }

    #[test]
    fn the_wire_json_is_the_models() {
        let r = resource(Some("1"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["apiVersion"], "wasmbed.io/v1alpha1");
        assert_eq!(json["kind"], "Device");
        assert_eq!(json["spec"]["board"], "mps2-an385");
        assert_eq!(json["status"]["session"]["connected"], false);
        assert_eq!(serde_json::to_value(&r.spec.0).unwrap(), json["spec"]);
    }
}
