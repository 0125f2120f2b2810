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

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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

/// A Device resource as the model's device.
pub fn device_from(r: &DeviceResource) -> Result<Device, ConvertError> {
    Ok(Device {
        meta: meta_from("device", &r.metadata)?,
        spec: r.spec.0.clone(),
        status: r.status.clone().unwrap_or_default(),
    })
}

/// The model's device as a Device resource (status left out: it is written
/// through the status subresource).
pub fn device_to(d: &Device) -> DeviceResource {
    DeviceResource { metadata: object_meta(&d.meta), spec: DeviceResourceSpec(d.spec.clone()), status: None }
}

/// An Application resource as the model's application.
pub fn application_from(r: &ApplicationResource) -> Result<Application, ConvertError> {
    Ok(Application {
        meta: meta_from("application", &r.metadata)?,
        spec: r.spec.0.clone(),
        status: r.status.clone().unwrap_or_default(),
    })
}

/// The model's application as an Application resource (without status).
pub fn application_to(a: &Application) -> ApplicationResource {
    ApplicationResource { metadata: object_meta(&a.meta), spec: ApplicationResourceSpec(a.spec.clone()), status: None }
}

/// A Gateway resource as the model's gateway.
pub fn gateway_from(r: &GatewayResource) -> Result<Gateway, ConvertError> {
    Ok(Gateway {
        meta: meta_from("gateway", &r.metadata)?,
        spec: r.spec.0.clone(),
        status: r.status.clone().unwrap_or_default(),
    })
}

/// The model's gateway as a Gateway resource (without status).
pub fn gateway_to(g: &Gateway) -> GatewayResource {
    GatewayResource { metadata: object_meta(&g.meta), spec: GatewayResourceSpec(g.spec.clone()), status: None }
}

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
        let d = device_from(&resource(Some("42"))).unwrap();
        assert_eq!(
            d.meta,
            Meta { name: "dev-1".into(), resource_version: 42, generation: 3, created_ms: 1_700_000_000_000 }
        );
        assert_eq!(d.spec.board, "mps2-an385");
        let back = device_to(&d);
        assert_eq!(back.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(back.metadata.generation, None, "server-owned");
        assert_eq!(back.metadata.creation_timestamp, None, "server-owned");
        assert!(back.status.is_none());
        let fresh = device_to(&Device { meta: Meta::named("new"), ..d });
        assert_eq!(fresh.metadata.resource_version, None);
    }

    #[test]
    fn an_opaque_resource_version_is_refused_not_guessed() {
        let e = device_from(&resource(Some("abc"))).unwrap_err();
        assert!(e.to_string().contains("resourceVersion \"abc\""), "{e}");
        let mut nameless = resource(Some("1"));
        nameless.metadata.name = None;
        assert!(device_from(&nameless).is_err());
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
