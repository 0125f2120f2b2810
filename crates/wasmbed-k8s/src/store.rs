//! [`KubeStore`]: the [`Store`] trait over the Kubernetes API, in one
//! namespace.
//!
//! Guarantees:
//! - Spec writes are optimistic: a write based on a stale resource version
//!   is a [`StoreError::Conflict`] (the API server's 409), never a silent
//!   overwrite. A replace reads the object first and keeps its metadata
//!   (finalizers, labels, annotations), changing only the spec.
//! - Status writes go to the status subresource. A device's or gateway's
//!   status patch is a JSON merge patch of exactly one writer's part, so the
//!   gateway, the device-Pod reconciler and the control plane never
//!   overwrite each other. An application's status is replaced whole
//!   (JSON patch `add /status`), with no version check: it has one writer.
//! - A resource being finalized (deletion requested, finalizer pending) is
//!   gone to the platform: reads and lists skip it, the watch reports it
//!   deleted.
//! - Modules live in immutable ConfigMaps named after their digest
//!   (`wasmbed-module-<sha256>`, key `module.wasm` in `binaryData`).
//! - Edge slots' persistent state lives in ConfigMaps named after a hash of
//!   `<gateway>/<slot>` (`wasmbed-edge-state-<16 hex>`, key `kv` in
//!   `binaryData`, the gateway and slot in annotations), written whole by
//!   server-side apply.
//! - Every failure is a [`StoreError`]; API-server errors, unreadable
//!   answers and transport failures become [`StoreError::Backend`] with a
//!   message that says what was being done and what the server said.
//!
//! Assumes: the CRDs of [`crate::crd`] are installed, and the service
//! account may do what the Helm chart's Role grants.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;
use tokio::sync::broadcast;
use wasmbed_model::{
    Application, ApplicationStatus, Device, DeviceStatusPatch, Event, Gateway, GatewayStatusPatch, Meta, Store,
    StoreError, WatchStream,
};

use crate::convert::{ConvertError, Mirror, terminating};
use crate::crd::{ApplicationResource, DeviceResource, GatewayResource};

/// Events buffered per watcher before it lags and must re-list.
const WATCH_CAPACITY: usize = 8192;
/// The key module bytes are stored under in a module ConfigMap.
pub const MODULE_KEY: &str = "module.wasm";
/// Label on every object the platform creates.
pub const PART_OF: (&str, &str) = ("app.kubernetes.io/part-of", "wasmbed");
/// Label marking a module ConfigMap.
pub const MODULE_LABEL: &str = "wasmbed.io/module";
use wasmbed_model::defaults::MAX_MODULE_LEN;
// A module is a ConfigMap's binaryData (base64 in the object): ConfigMaps
// hold at most 1 MiB, so the platform's module limit must fit one with room
// for the object around it.
const _: () = assert!(MAX_MODULE_LEN.div_ceil(3) * 4 <= 1024 * 1024 - 16 * 1024);

/// The [`Store`] over one namespace of a Kubernetes cluster.
#[derive(Clone)]
pub struct KubeStore {
    pub(crate) devices: Api<DeviceResource>,
    pub(crate) applications: Api<ApplicationResource>,
    pub(crate) gateways: Api<GatewayResource>,
    config_maps: Api<ConfigMap>,
    namespace: String,
    pub(crate) events: broadcast::Sender<Event>,
}

impl std::fmt::Debug for KubeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeStore").field("namespace", &self.namespace).finish_non_exhaustive()
    }
}

/// The key an edge slot's state is stored under in its ConfigMap.
pub const EDGE_STATE_KEY: &str = "kv";
/// Label marking an edge-state ConfigMap.
pub const EDGE_STATE_LABEL: &str = "wasmbed.io/edge-state";

/// The ConfigMap name of an edge slot's state: slots (`app@device`) are
/// not valid object names, so a hash of where it runs.
pub fn edge_state_config_map(gateway: &str, slot: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(format!("{gateway}/{slot}").as_bytes());
    format!("wasmbed-edge-state-{}", hex::encode(&hash[..8]))
}

/// The ConfigMap name of a module.
pub fn module_config_map(digest: &str) -> String {
    format!("wasmbed-module-{digest}")
}

fn valid_digest(digest: &str) -> Result<(), StoreError> {
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(())
    } else {
        Err(StoreError::Backend(format!("module digest {digest:?} is not 64 lowercase hex characters (SHA-256)")))
    }
}

/// What the API server or the transport said, for people.
pub(crate) fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let reason = if s.reason.is_empty() { "no reason given" } else { s.reason.as_str() };
            format!("the API server answered {} ({reason}): {}", s.code, s.message)
        }
        kube::Error::SerdeError(e) => format!("the API server's answer is not what was expected: {e}"),
        other => format!("cannot reach the API server: {other}"),
    }
}

/// Maps an API error for `kind`/`name`, `doing` what (for the message).
pub(crate) fn store_error(e: kube::Error, kind: &'static str, name: &str, doing: &str) -> StoreError {
    if let kube::Error::Api(s) = &e {
        match (s.code, s.reason.as_str()) {
            (404, _) => return StoreError::NotFound { kind, name: name.to_owned() },
            (409, "AlreadyExists") => return StoreError::AlreadyExists { kind, name: name.to_owned() },
            (409, _) => return StoreError::Conflict { kind, name: name.to_owned() },
            _ => {}
        }
    }
    StoreError::Backend(format!("{doing} {kind} {name:?}: {}", describe(&e)))
}

fn convert_error(e: ConvertError) -> StoreError {
    StoreError::Backend(format!("unusable object from the API server: {e}"))
}

fn conflict(kind: &'static str, name: &str) -> StoreError {
    StoreError::Conflict { kind, name: name.to_owned() }
}

/// The body of a status patch: `{"status": part}`.
fn status_patch(part: serde_json::Value) -> Patch<serde_json::Value> {
    Patch::Merge(json!({ "status": part }))
}

/// The part of a device status one writer owns, as a merge-patch body.
/// Each part is sent whole (every field, `null` for absent options), so the
/// merge replaces that part and touches nothing else.
pub fn device_status_part(patch: &DeviceStatusPatch) -> Result<serde_json::Value, serde_json::Error> {
    Ok(match patch {
        DeviceStatusPatch::Session(s) => json!({ "session": serde_json::to_value(s)? }),
        DeviceStatusPatch::Process(p) => json!({ "process": serde_json::to_value(p)? }),
        DeviceStatusPatch::Refused(r) => json!({ "refused": serde_json::to_value(r)? }),
        DeviceStatusPatch::Lifecycle { phase, conditions } => {
            json!({ "phase": serde_json::to_value(phase)?, "conditions": serde_json::to_value(conditions)? })
        }
    })
}

/// The part of a gateway status one writer owns, as a merge-patch body.
pub fn gateway_status_part(patch: &GatewayStatusPatch) -> Result<serde_json::Value, serde_json::Error> {
    Ok(match patch {
        GatewayStatusPatch::Report { sessions, at_ms, report_ms } => {
            json!({ "sessions": sessions, "lastSeenMs": at_ms, "reportMs": report_ms })
        }
        GatewayStatusPatch::Health(h) => json!({ "health": serde_json::to_value(h)? }),
        // A merge patch replaces an array whole: the list is the report.
        GatewayStatusPatch::Edge { apps, journal } => {
            json!({ "edge": serde_json::to_value(apps)?, "edgeJournal": serde_json::to_value(journal)? })
        }
    })
}

impl KubeStore {
    /// A store over `namespace`. Nothing is sent until it is used; call
    /// [`KubeStore::watch_changes`] to feed [`Store::watch`].
    pub fn new(client: Client, namespace: &str) -> Self {
        let (events, _) = broadcast::channel(WATCH_CAPACITY);
        Self {
            devices: Api::namespaced(client.clone(), namespace),
            applications: Api::namespaced(client.clone(), namespace),
            gateways: Api::namespaced(client.clone(), namespace),
            config_maps: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            events,
        }
    }

    /// The namespace it works in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Makes the Pod `pod` (uid `uid`) the owner of the Gateway `gateway`,
    /// so that Kubernetes deletes the resource when the replica's Pod goes
    /// (gateway replicas register under their Pod's name, which changes).
    pub async fn own_gateway_by_pod(&self, gateway: &str, pod: &str, uid: &str) -> Result<(), StoreError> {
        let patch = json!({ "metadata": { "ownerReferences": [
            { "apiVersion": "v1", "kind": "Pod", "name": pod, "uid": uid }
        ] } });
        self.gateways
            .patch(gateway, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .map_err(|e| store_error(e, "gateway", gateway, "setting the owner of"))?;
        Ok(())
    }

    async fn get_live<K: Mirror>(api: &Api<K>, name: &str) -> Result<Option<K>, StoreError> {
        match api.get_opt(name).await {
            Ok(Some(obj)) if terminating(obj.meta()) => Ok(None),
            Ok(found) => Ok(found),
            Err(e) => Err(store_error(e, K::KIND, name, "reading")),
        }
    }

    async fn list_live<K: Mirror>(api: &Api<K>) -> Result<Vec<K>, StoreError> {
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| StoreError::Backend(format!("listing {}s: {}", K::KIND, describe(&e))))?;
        let mut items: Vec<K> = list.items.into_iter().filter(|o| !terminating(o.meta())).collect();
        items.sort_by(|a, b| a.meta().name.cmp(&b.meta().name));
        Ok(items)
    }

    /// Replaces the spec of `name` with `fresh`'s, based on
    /// `resource_version`: reads the object (absent is `absent`), refuses a
    /// stale version, and writes back the object with the new spec and
    /// everything else as read.
    async fn replace_spec<K: Mirror>(
        api: &Api<K>,
        name: &str,
        resource_version: u64,
        absent: StoreError,
        mut fresh: K,
    ) -> Result<K, StoreError> {
        let Some(mut current) = Self::get_live(api, name).await? else { return Err(absent) };
        let current_version = current.meta().resource_version.as_deref().unwrap_or_default();
        if current_version != resource_version.to_string() {
            return Err(conflict(K::KIND, name));
        }
        std::mem::swap(current.spec_mut(), fresh.spec_mut());
        api.replace(name, &PostParams::default(), &current).await.map_err(|e| {
            match store_error(e, K::KIND, name, "replacing") {
                // Deleted between the read and the write.
                StoreError::NotFound { .. } => conflict(K::KIND, name),
                other => other,
            }
        })
    }

    /// `name` as the model's, unless absent or being finalized.
    async fn get_model<K: Mirror>(api: &Api<K>, name: &str) -> Result<Option<K::Model>, StoreError> {
        Self::get_live(api, name).await?.map(|r| r.to_model().map_err(convert_error)).transpose()
    }

    /// Every live object of a kind as the model's, by name.
    async fn list_models<K: Mirror>(api: &Api<K>) -> Result<Vec<K::Model>, StoreError> {
        Self::list_live(api).await?.iter().map(|r| r.to_model().map_err(convert_error)).collect()
    }

    /// Creates `model` when `meta` has no resource version, else replaces
    /// its spec based on that version. Either way a caller whose view is
    /// stale (one exists already, or it is gone) meets a conflict, as in the
    /// embedded store.
    async fn put_model<K: Mirror>(api: &Api<K>, meta: &Meta, model: &K::Model) -> Result<K::Model, StoreError> {
        let name = &meta.name;
        let obj = K::from_model(model);
        let written = if meta.resource_version == 0 {
            api.create(&PostParams::default(), &obj).await.map_err(|e| {
                match store_error(e, K::KIND, name, "creating") {
                    StoreError::AlreadyExists { kind, name } => StoreError::Conflict { kind, name },
                    other => other,
                }
            })?
        } else {
            Self::replace_spec(api, name, meta.resource_version, conflict(K::KIND, name), obj).await?
        };
        written.to_model().map_err(convert_error)
    }

    /// Merges one writer's `part` of the status of `name`.
    async fn patch_status_part<K: Mirror>(
        api: &Api<K>,
        name: &str,
        part: Result<serde_json::Value, serde_json::Error>,
    ) -> Result<(), StoreError> {
        let part = part.map_err(|e| StoreError::Backend(format!("encoding status of {} {name:?}: {e}", K::KIND)))?;
        api.patch_status(name, &PatchParams::default(), &status_patch(part))
            .await
            .map_err(|e| store_error(e, K::KIND, name, "patching the status of"))?;
        Ok(())
    }

    async fn delete_object<K: Mirror>(api: &Api<K>, name: &str) -> Result<(), StoreError> {
        api.delete(name, &DeleteParams::default()).await.map_err(|e| store_error(e, K::KIND, name, "deleting"))?;
        Ok(())
    }
}

#[async_trait]
impl Store for KubeStore {
    async fn create_device(&self, device: Device) -> Result<Device, StoreError> {
        let name = device.meta.name.clone();
        let mut obj = DeviceResource::from_model(&device);
        obj.metadata.resource_version = None;
        let created = self
            .devices
            .create(&PostParams::default(), &obj)
            .await
            .map_err(|e| store_error(e, "device", &name, "creating"))?;
        created.to_model().map_err(convert_error)
    }

    async fn get_device(&self, name: &str) -> Result<Option<Device>, StoreError> {
        Self::get_model(&self.devices, name).await
    }

    async fn list_devices(&self) -> Result<Vec<Device>, StoreError> {
        Self::list_models(&self.devices).await
    }

    async fn update_device_spec(&self, device: &Device) -> Result<Device, StoreError> {
        let name = &device.meta.name;
        let absent = StoreError::NotFound { kind: "device", name: name.clone() };
        let fresh = DeviceResource::from_model(device);
        let written = Self::replace_spec(&self.devices, name, device.meta.resource_version, absent, fresh).await?;
        written.to_model().map_err(convert_error)
    }

    async fn patch_device_status(&self, name: &str, patch: DeviceStatusPatch) -> Result<(), StoreError> {
        Self::patch_status_part(&self.devices, name, device_status_part(&patch)).await
    }

    async fn delete_device(&self, name: &str) -> Result<(), StoreError> {
        // A device already being finalized is gone to the platform.
        if Self::get_live(&self.devices, name).await?.is_none() {
            return Err(StoreError::NotFound { kind: "device", name: name.to_owned() });
        }
        Self::delete_object(&self.devices, name).await
    }

    async fn put_application(&self, app: &Application) -> Result<Application, StoreError> {
        Self::put_model(&self.applications, &app.meta, app).await
    }

    async fn get_application(&self, name: &str) -> Result<Option<Application>, StoreError> {
        Self::get_model(&self.applications, name).await
    }

    async fn list_applications(&self) -> Result<Vec<Application>, StoreError> {
        Self::list_models(&self.applications).await
    }

    async fn update_application_status(&self, name: &str, status: &ApplicationStatus) -> Result<(), StoreError> {
        let value = serde_json::to_value(status)
            .map_err(|e| StoreError::Backend(format!("encoding status of application {name:?}: {e}")))?;
        // `add` on an existing member replaces it: the whole status, exactly.
        let ops: json_patch::Patch =
            serde_json::from_value(json!([{ "op": "add", "path": "/status", "value": value }]))
                .map_err(|e| StoreError::Backend(format!("encoding status of application {name:?}: {e}")))?;
        self.applications
            .patch_status(name, &PatchParams::default(), &Patch::<()>::Json(ops))
            .await
            .map_err(|e| store_error(e, "application", name, "writing the status of"))?;
        Ok(())
    }

    async fn delete_application(&self, name: &str) -> Result<(), StoreError> {
        Self::delete_object(&self.applications, name).await
    }

    async fn put_gateway(&self, gateway: &Gateway) -> Result<Gateway, StoreError> {
        Self::put_model(&self.gateways, &gateway.meta, gateway).await
    }

    async fn get_gateway(&self, name: &str) -> Result<Option<Gateway>, StoreError> {
        Self::get_model(&self.gateways, name).await
    }

    async fn list_gateways(&self) -> Result<Vec<Gateway>, StoreError> {
        Self::list_models(&self.gateways).await
    }

    async fn patch_gateway_status(&self, name: &str, patch: GatewayStatusPatch) -> Result<(), StoreError> {
        Self::patch_status_part(&self.gateways, name, gateway_status_part(&patch)).await
    }

    async fn delete_gateway(&self, name: &str) -> Result<(), StoreError> {
        Self::delete_object(&self.gateways, name).await
    }

    async fn put_module(&self, digest: &str, bytes: &[u8]) -> Result<(), StoreError> {
        valid_digest(digest)?;
        if bytes.len() > MAX_MODULE_LEN {
            return Err(StoreError::Backend(format!(
                "module {digest} is {} bytes; the platform stores at most {MAX_MODULE_LEN}",
                bytes.len()
            )));
        }
        let name = module_config_map(digest);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (PART_OF.0.to_owned(), PART_OF.1.to_owned()),
                    (MODULE_LABEL.to_owned(), "true".to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(MODULE_KEY.to_owned(), ByteString(bytes.to_vec()))])),
            // Content-addressed: it never changes.
            immutable: Some(true),
            ..ConfigMap::default()
        };
        match self.config_maps.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(()),
            Err(e) => match store_error(e, "module", digest, "storing") {
                // Same digest, same bytes: already stored.
                StoreError::AlreadyExists { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn get_module(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        valid_digest(digest)?;
        let name = module_config_map(digest);
        let Some(cm) =
            self.config_maps.get_opt(&name).await.map_err(|e| store_error(e, "module", digest, "reading"))?
        else {
            return Ok(None);
        };
        match cm.binary_data.and_then(|mut d| d.remove(MODULE_KEY)) {
            Some(bytes) => Ok(Some(bytes.0)),
            None => Err(StoreError::Backend(format!("ConfigMap {name} has no binaryData key {MODULE_KEY}"))),
        }
    }

    /// Lists module ConfigMaps by their label, metadata only (not the bytes).
    async fn list_modules(&self) -> Result<Vec<String>, StoreError> {
        let lp = ListParams::default().labels(&format!("{MODULE_LABEL}=true"));
        let list = self.config_maps.list_metadata(&lp).await.map_err(|e| store_error(e, "module", "*", "listing"))?;
        let mut digests: Vec<String> = list
            .items
            .iter()
            .filter_map(|m| m.metadata.name.as_deref()?.strip_prefix("wasmbed-module-"))
            .filter(|d| valid_digest(d).is_ok())
            .map(str::to_owned)
            .collect();
        digests.sort();
        Ok(digests)
    }

    async fn delete_module(&self, digest: &str) -> Result<(), StoreError> {
        valid_digest(digest)?;
        match self.config_maps.delete(&module_config_map(digest), &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) => match store_error(e, "module", digest, "deleting") {
                StoreError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    async fn put_edge_state(&self, gateway: &str, slot: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let name = edge_state_config_map(gateway, slot);
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([
                    (PART_OF.0.to_owned(), PART_OF.1.to_owned()),
                    (EDGE_STATE_LABEL.to_owned(), "true".to_owned()),
                ])),
                annotations: Some(BTreeMap::from([
                    ("wasmbed.io/gateway".to_owned(), gateway.to_owned()),
                    ("wasmbed.io/slot".to_owned(), slot.to_owned()),
                ])),
                ..ObjectMeta::default()
            },
            binary_data: Some(BTreeMap::from([(EDGE_STATE_KEY.to_owned(), ByteString(bytes.to_vec()))])),
            ..ConfigMap::default()
        };
        // One writer (the gateway running the slot): apply replaces it whole.
        let pp = PatchParams::apply("wasmbed-gateway").force();
        self.config_maps
            .patch(&name, &pp, &Patch::Apply(&cm))
            .await
            .map(|_| ())
            .map_err(|e| store_error(e, "edge state", &name, "storing"))
    }

    async fn get_edge_state(&self, gateway: &str, slot: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let name = edge_state_config_map(gateway, slot);
        let Some(cm) =
            self.config_maps.get_opt(&name).await.map_err(|e| store_error(e, "edge state", &name, "reading"))?
        else {
            return Ok(None);
        };
        match cm.binary_data.and_then(|mut d| d.remove(EDGE_STATE_KEY)) {
            Some(bytes) => Ok(Some(bytes.0)),
            None => Err(StoreError::Backend(format!("ConfigMap {name} has no binaryData key {EDGE_STATE_KEY}"))),
        }
    }

    async fn delete_edge_state(&self, gateway: &str, slot: &str) -> Result<(), StoreError> {
        let name = edge_state_config_map(gateway, slot);
        match self.config_maps.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) => match store_error(e, "edge state", &name, "deleting") {
                StoreError::NotFound { .. } => Ok(()),
                other => Err(other),
            },
        }
    }

    fn watch(&self) -> WatchStream {
        self.events.subscribe()
    }
}
