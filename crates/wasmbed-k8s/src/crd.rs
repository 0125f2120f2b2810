//! The three custom resources, group `wasmbed.io`, version `v1alpha1`.
//!
//! Each resource's spec and status **are** the model's types: the CRD
//! spec is a newtype over [`wasmbed_model::DeviceSpec`] (and so on), which
//! serde and schemars both treat as the inner type, so the JSON on the wire
//! and the schema in the CRD are exactly the model's, camelCase fields
//! included. One Rust type per resource serves both backends.
//!
//! Guarantees: every CRD is namespaced, has the status subresource (so spec
//! and status are written through different endpoints and
//! `metadata.generation` counts spec changes only), short names, the
//! category `wasmbed`, and printer columns; [`crds`] returns them in a fixed
//! order and [`crd_yaml`] renders them byte-for-byte reproducibly.

// Each `printcolumn(...)` repeats the same keys; clippy takes that for a
// duplicated attribute.
#![allow(clippy::duplicated_attributes)]

use std::borrow::Cow;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{CustomResourceDefinition, JSONSchemaProps};
use kube::CustomResource;
use kube::core::CustomResourceExt;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Serialize};

/// API group of every Wasmbed resource.
pub const GROUP: &str = "wasmbed.io";
/// API version of this schema.
pub const VERSION: &str = "v1alpha1";
/// Finalizer the controller puts on Devices so it can clean up what a
/// device owns (its Pod, its identity Secret) before the Device goes.
pub const FINALIZER: &str = "wasmbed.io/cleanup";

/// Spec of the `Device` custom resource: the model's device spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[kube(
    group = "wasmbed.io",
    version = "v1alpha1",
    kind = "Device",
    root = "DeviceResource",
    namespaced,
    status = "wasmbed_model::DeviceStatus",
    derive = "PartialEq",
    shortname = "wdev",
    category = "wasmbed",
    doc = "A microcontroller of the fleet (real, emulated in QEMU, or simulated).",
    printcolumn(
        name = "Board",
        type_ = "string",
        json_path = ".spec.board",
        description = "Board (QEMU machine) or sim"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(
        name = "Gateway",
        type_ = "string",
        json_path = ".status.session.gateway",
        description = "Gateway holding (or last holding) its session"
    ),
    printcolumn(
        name = "Apps",
        type_ = "string",
        json_path = ".status.session.apps[*].name",
        description = "App slots the device reports"
    ),
    printcolumn(
        name = "Connected",
        type_ = "boolean",
        json_path = ".status.session.connected",
        priority = "1",
        description = "A session is open"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct DeviceResourceSpec(pub wasmbed_model::DeviceSpec);

/// Spec of the `Application` custom resource: the model's application spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[kube(
    group = "wasmbed.io",
    version = "v1alpha1",
    kind = "Application",
    root = "ApplicationResource",
    namespaced,
    status = "wasmbed_model::ApplicationStatus",
    derive = "PartialEq",
    shortname = "wapp",
    category = "wasmbed",
    doc = "A WebAssembly app rolled out to the devices its selector matches.",
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(
        name = "Revision",
        type_ = "integer",
        json_path = ".status.revision",
        description = "Revision the spec asks for"
    ),
    printcolumn(name = "Strategy", type_ = "string", json_path = ".spec.strategy.type"),
    printcolumn(
        name = "Rollout",
        type_ = "string",
        json_path = ".status.rollout.phase",
        description = "Phase of the current rollout"
    ),
    printcolumn(name = "Updated", type_ = "integer", json_path = ".status.updated"),
    printcolumn(name = "Running", type_ = "integer", json_path = ".status.running"),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.failed"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct ApplicationResourceSpec(pub wasmbed_model::ApplicationSpec);

/// Spec of the `Gateway` custom resource: the model's gateway spec.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Default)]
#[kube(
    group = "wasmbed.io",
    version = "v1alpha1",
    kind = "Gateway",
    root = "GatewayResource",
    namespaced,
    status = "wasmbed_model::GatewayStatus",
    derive = "PartialEq",
    shortname = "wgw",
    category = "wasmbed",
    doc = "A gateway devices hold their mutual-TLS sessions with.",
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.endpoint"),
    printcolumn(name = "Capacity", type_ = "integer", json_path = ".spec.capacity"),
    printcolumn(name = "Sessions", type_ = "integer", json_path = ".status.sessions"),
    printcolumn(name = "Health", type_ = "string", json_path = ".status.health"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
pub struct GatewayResourceSpec(pub wasmbed_model::GatewaySpec);

/// The schema of a spec newtype: the model type's, made structural.
macro_rules! structural_schema {
    ($outer:ty, $inner:ty) => {
        impl JsonSchema for $outer {
            fn schema_name() -> Cow<'static, str> {
                stringify!($outer).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                let mut schema = <$inner>::json_schema(generator);
                if let Some(obj) = schema.as_object_mut() {
                    let mut value = serde_json::Value::Object(std::mem::take(obj));
                    crate::schema::make_structural(&mut value);
                    if let serde_json::Value::Object(rewritten) = value {
                        *obj = rewritten;
                    }
                }
                schema
            }
        }
    };
}

structural_schema!(DeviceResourceSpec, wasmbed_model::DeviceSpec);
structural_schema!(ApplicationResourceSpec, wasmbed_model::ApplicationSpec);
structural_schema!(GatewayResourceSpec, wasmbed_model::GatewaySpec);

/// The CRDs, in a fixed order (Device, Application, Gateway), with the file
/// name each is kept under in `deploy/crds/`.
///
/// Use these rather than `DeviceResource::crd()` and so on: the status
/// schemas are made structural here too (see [`crate::schema`]).
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    let mut crds = vec![
        ("devices.wasmbed.io.yaml", DeviceResource::crd()),
        ("applications.wasmbed.io.yaml", ApplicationResource::crd()),
        ("gateways.wasmbed.io.yaml", GatewayResource::crd()),
    ];
    for (_, crd) in &mut crds {
        for version in &mut crd.spec.versions {
            if let Some(props) = version.schema.as_mut().and_then(|s| s.open_api_v3_schema.as_mut()) {
                rewrite(props);
            }
        }
    }
    crds
}

fn rewrite(props: &mut JSONSchemaProps) {
    let Ok(mut value) = serde_json::to_value(&*props) else { return };
    crate::schema::make_structural(&mut value);
    if let Ok(rewritten) = serde_json::from_value(value) {
        *props = rewritten;
    }
}

/// A CRD as the YAML committed under `deploy/crds/`.
pub fn crd_yaml(crd: &CustomResourceDefinition) -> Result<String, serde_saphyr::SerializeError> {
    let body = serde_saphyr::to_string(crd)?;
    Ok(format!("# Generated by `cargo xtask crds` from crates/wasmbed-k8s/src/crd.rs: do not edit.\n{body}"))
}
