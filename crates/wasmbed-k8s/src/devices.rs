//! The device-Pod reconciler: in Kubernetes, what the QEMU manager is on
//! one machine. For each Device of an emulated board it keeps one Pod
//! running QEMU with that board's firmware and the device's identity.
//!
//! Guarantees:
//! - Every Device carries the finalizer [`FINALIZER`]; when a Device is
//!   deleted, its Pod is deleted first (its identity Secret goes with it,
//!   see below), then the finalizer is removed (kube's `finalizer` helper:
//!   Apply / Cleanup).
//! - A Device of an emulated, supported board whose name is a valid
//!   resource name has exactly one Pod, named [`pod_name`], owned by the
//!   Device. Devices of other boards have none; an emulated board that
//!   cannot run (or a Device named outside the model's rules, made around
//!   the API) gets a `Failed` process status saying why.
//! - A device Pod is a device provisioned: every Pod the reconciler makes
//!   gets a new identity (like flash programmed at the factory), issued
//!   into its own Secret [`secret_name`]`(device, fingerprint)`, named
//!   after the certificate it holds and mounted read-only, and recorded
//!   on the Device (`spec.identity`, the only certificate gateways accept).
//!   A Pod is kept while its template matches (image, gateway address) and
//!   the certificate it names ([`FINGERPRINT`]) is the recorded one;
//!   otherwise it is deleted and, once gone, made again with a new
//!   identity. (Before deleting one, the Device is read again from the API
//!   server: the controller's cache may not show yet the identity the
//!   round that made the Pod recorded.) So a template change re-issues the device's identity too,
//!   as does an identity re-issued through the API, a Device re-created
//!   under the same name, a device reconnected after an operator
//!   disconnected it, and a Pod deleted by hand: the old key is revoked as
//!   its Pod goes.
//! - Identity Secrets are write-only for the controller: it creates them
//!   and never reads or deletes one, so RBAC grants it no `get` or
//!   `delete` on Secrets it cannot name in advance. Each is owned by its
//!   Pod (an owner reference to the Pod's uid, without
//!   `blockOwnerDeletion`), so Kubernetes' garbage collector deletes it
//!   with the Pod. The order of the steps makes this self-healing without
//!   reading Secrets back: the Pod is made first (with the new
//!   fingerprint), then its Secret (owned by the Pod just made: the
//!   kubelet waits for it before starting the container), and only then
//!   is the identity recorded. A failure or a crash between two steps
//!   leaves a Pod whose fingerprint is not the recorded one, which the next
//!   round replaces, its Secret with it. (Identity Secrets of earlier
//!   versions, `wasmbed-device-<device>-identity`, are owned by their
//!   Device and go with it.)
//! - The device's `process` status follows its Pod (one writer's part).
//! - Reconciling is idempotent; errors are logged and retried with backoff.
//!
//! The Pod's container runs `wasmbed-device-pod` (see the device image),
//! which writes the per-boot seed, forwards QEMU's link to the gateway
//! Service and runs QEMU with the command line from `wasmbed-qemu`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, Pod, PodSecurityContext, PodSpec, ResourceRequirements,
    SeccompProfile, Secret, SecretVolumeSource, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Api, DeleteParams, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use tokio::sync::watch;
use wasmbed_model::{DeviceIdentity, DeviceStatusPatch, ProcessState, ProcessStatus, Store, record_identity};

use crate::KubeStore;
use crate::crd::{DeviceResource, FINALIZER};
use crate::store::{PART_OF, describe};

/// Label naming the device a Pod or Secret belongs to.
pub const DEVICE_LABEL: &str = "wasmbed.io/device";
/// Annotation holding a hash of the Pod template, to notice it changed.
pub const TEMPLATE_HASH: &str = "wasmbed.io/pod-template-hash";
/// Key of the identity bundle in the device's Secret.
pub const BUNDLE_KEY: &str = "bundle.bin";
/// Annotation on a device's Pod (and its identity Secret): the fingerprint
/// of the certificate it runs with.
pub const FINGERPRINT: &str = "wasmbed.io/identity-fingerprint";
/// Where the Secret is mounted in the device container.
pub const IDENTITY_DIR: &str = "/var/run/wasmbed/identity";
/// The device container's scratch folder (boot seed, console log).
pub const WORK_DIR: &str = "/var/lib/wasmbed";
/// Where the device image keeps the firmware images.
pub const FIRMWARE_DIR: &str = "/opt/wasmbed/firmware";

/// The Pod of a device.
pub fn pod_name(device: &str) -> String {
    format!("wasmbed-device-{device}")
}

/// How many leading hex digits of its certificate's fingerprint name a
/// device's identity Secret: 64 bits, enough that two identities of one
/// device never share a name.
pub const SECRET_FINGERPRINT_DIGITS: usize = 16;

/// The identity Secret of `device` holding the certificate whose SHA-256
/// is `fingerprint` (64 lower-case hex digits):
/// `wasmbed-device-<device>-<its first 16 digits>`. Device names are at
/// most 63 characters (checked before any Pod is made), so this is at most
/// 95, well within the 253 Kubernetes allows.
pub fn secret_name(device: &str, fingerprint: &str) -> String {
    let short: String = fingerprint.chars().take(SECRET_FINGERPRINT_DIGITS).collect();
    format!("wasmbed-device-{device}-{short}")
}

/// How device Pods are made.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DevicePodConfig {
    /// The device image (QEMU, the firmware images, `wasmbed-device-pod`).
    pub image: String,
    /// `Always`, `IfNotPresent` or `Never`.
    pub image_pull_policy: String,
    /// `host:port` of the gateway Service the device's link is forwarded to.
    pub gateway: String,
    /// Port on the Pod's loopback that QEMU's link uses (the device dials
    /// 10.0.2.2 at this port, which QEMU maps to the Pod's 127.0.0.1).
    pub link_port: u16,
    /// Container resources.
    pub resources: Option<ResourceRequirements>,
    /// Resync interval (Pod status is also followed through its watch).
    pub resync: Duration,
}

impl DevicePodConfig {
    /// Defaults for `image` and `gateway`: pull if not present, link port
    /// 4443, a quarter of a CPU and 64 MiB requested, resync every 5 minutes.
    pub fn new(image: &str, gateway: &str) -> Self {
        let q = |s: &str| Quantity(s.to_owned());
        Self {
            image: image.to_owned(),
            image_pull_policy: "IfNotPresent".to_owned(),
            gateway: gateway.to_owned(),
            link_port: 4443,
            resources: Some(ResourceRequirements {
                requests: Some(BTreeMap::from([("cpu".to_owned(), q("250m")), ("memory".to_owned(), q("64Mi"))])),
                limits: Some(BTreeMap::from([("memory".to_owned(), q("256Mi"))])),
                ..ResourceRequirements::default()
            }),
            resync: Duration::from_secs(300),
        }
    }

    /// The gateway address written into a device's identity bundle.
    pub fn bundle_gateway(&self) -> String {
        wasmbed_model::guest_loopback(self.link_port)
    }
}

/// A device identity just issued.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The encoded identity bundle.
    pub bundle: Vec<u8>,
    /// What the Device records of it.
    pub identity: DeviceIdentity,
}

/// Issues a device's identity bundle (in the controller: the platform CA).
pub trait IdentityIssuer: Send + Sync + 'static {
    /// A new identity (a new key every time) for `device`, of `board`,
    /// dialing `gateway`.
    fn issue(&self, device: &str, board: &str, gateway: &str) -> Result<Issued, String>;
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReconcileError {
    /// An API call failed.
    #[error("{doing}: {detail}")]
    Api {
        /// What was being done, e.g. `creating Pod wasmbed-device-d`.
        doing: String,
        /// What the server or the transport said.
        detail: String,
    },
    /// The identity bundle could not be issued.
    #[error("issuing the identity of device {device:?}: {why}")]
    Identity {
        /// The device.
        device: String,
        /// Why.
        why: String,
    },
    /// The finalizer could not be added or removed, or apply/cleanup failed.
    #[error("device {device:?}: {source}")]
    Finalizer {
        /// The device.
        device: String,
        /// What failed.
        #[source]
        source: Box<kube::runtime::finalizer::Error<ReconcileError>>,
    },
    /// The object has no name (never the case for objects from the API server).
    #[error("a Device without a name")]
    Unnamed,
}

fn api(doing: impl Into<String>) -> impl FnOnce(kube::Error) -> ReconcileError {
    let doing = doing.into();
    move |e| ReconcileError::Api { doing, detail: describe(&e) }
}

/// What the reconciler works with.
pub struct Context {
    client: Client,
    namespace: String,
    store: KubeStore,
    cfg: DevicePodConfig,
    issuer: Arc<dyn IdentityIssuer>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("namespace", &self.namespace).field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

impl Context {
    /// A context over `namespace`.
    pub fn new(client: Client, namespace: &str, cfg: DevicePodConfig, issuer: Arc<dyn IdentityIssuer>) -> Arc<Self> {
        let store = KubeStore::new(client.clone(), namespace);
        Arc::new(Self { client, namespace: namespace.to_owned(), store, cfg, issuer })
    }

    fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn devices(&self) -> Api<DeviceResource> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }
}

/// What becomes of a Device of `board` here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// It runs in a Pod.
    Pod,
    /// Not ours to run (the simulator, real hardware).
    None,
    /// Emulated, but it cannot run: why.
    Refused(String),
}

/// Decides from the model's board table.
pub fn placement(board: &str) -> Placement {
    match wasmbed_model::board(board) {
        Some(b) if !b.emulated => Placement::None,
        // Its gateway must hold the other end of its serial link, which
        // only a gateway beside its QEMU (`wasmbed up`) does.
        Some(b) if b.attached().is_some() => Placement::Refused(format!(
            "{} is an attached board: it runs beside its gateway under `wasmbed up`, not yet in Kubernetes",
            b.name
        )),
        Some(b) => match b.unsupported {
            Some(why) => Placement::Refused(why.to_owned()),
            None => Placement::Pod,
        },
        None => Placement::Refused(format!("unknown board {board:?}")),
    }
}

fn labels(device: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "wasmbed-device".to_owned()),
        (PART_OF.0.to_owned(), PART_OF.1.to_owned()),
        (DEVICE_LABEL.to_owned(), device.to_owned()),
    ])
}

/// FNV-1a over the template's JSON and the identity: stable across runs
/// and builds.
fn template_hash(spec: &PodSpec, fingerprint: &str) -> String {
    let json = serde_json::to_string(spec).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json.bytes().chain(fingerprint.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// The Pod of `device` (an emulated board), owned by it, running the
/// identity whose certificate has `fingerprint` (mounted from the Secret
/// [`secret_name`]`(device, fingerprint)`).
pub fn device_pod(device: &DeviceResource, cfg: &DevicePodConfig, fingerprint: &str) -> Result<Pod, ReconcileError> {
    let name = device.meta().name.clone().ok_or(ReconcileError::Unnamed)?;
    let board = &device.spec.0.board;
    let args = [
        "--device",
        name.as_str(),
        "--board",
        board.as_str(),
        "--gateway",
        cfg.gateway.as_str(),
        "--link-port",
        &cfg.link_port.to_string(),
        "--bundle",
        &format!("{IDENTITY_DIR}/{BUNDLE_KEY}"),
        "--firmware-dir",
        FIRMWARE_DIR,
        "--work-dir",
        WORK_DIR,
    ]
    .map(str::to_owned);
    let spec = PodSpec {
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        restart_policy: Some("Always".to_owned()),
        termination_grace_period_seconds: Some(5),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            fs_group: Some(65532),
            seccomp_profile: Some(SeccompProfile { type_: "RuntimeDefault".to_owned(), ..SeccompProfile::default() }),
            ..PodSecurityContext::default()
        }),
        containers: vec![Container {
            name: "device".to_owned(),
            image: Some(cfg.image.clone()),
            image_pull_policy: Some(cfg.image_pull_policy.clone()),
            args: Some(args.to_vec()),
            resources: cfg.resources.clone(),
            security_context: Some(SecurityContext {
                allow_privilege_escalation: Some(false),
                read_only_root_filesystem: Some(true),
                capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_owned()]), ..Capabilities::default() }),
                ..SecurityContext::default()
            }),
            volume_mounts: Some(vec![
                VolumeMount {
                    name: "identity".to_owned(),
                    mount_path: IDENTITY_DIR.to_owned(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                },
                VolumeMount { name: "work".to_owned(), mount_path: WORK_DIR.to_owned(), ..VolumeMount::default() },
            ]),
            ..Container::default()
        }],
        volumes: Some(vec![
            Volume {
                name: "identity".to_owned(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some(secret_name(&name, fingerprint)),
                    // Group-readable: the container runs as the fsGroup, not as root.
                    default_mode: Some(0o440),
                    ..SecretVolumeSource::default()
                }),
                ..Volume::default()
            },
            Volume {
                name: "work".to_owned(),
                // The boot seed is secret material: keep it off disk.
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: Some("Memory".to_owned()),
                    size_limit: Some(Quantity("16Mi".to_owned())),
                }),
                ..Volume::default()
            },
        ]),
        ..PodSpec::default()
    };
    // A new identity is a new template: the Pod is replaced to load it.
    let hash = template_hash(&spec, fingerprint);
    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(&name)),
            labels: Some(labels(&name)),
            annotations: Some(BTreeMap::from([
                (TEMPLATE_HASH.to_owned(), hash),
                (FINGERPRINT.to_owned(), fingerprint.to_owned()),
            ])),
            owner_references: device.controller_owner_ref(&()).map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        status: None,
    })
}

/// The device's process as its Pod shows it; `None` before the Pod has a status.
pub fn process_status(pod: &Pod) -> Option<ProcessStatus> {
    let status = pod.status.as_ref()?;
    let phase = status.phase.as_deref()?;
    let container = status.container_statuses.as_ref().and_then(|c| c.first());
    let restarts = container.map_or(0, |c| u32::try_from(c.restart_count).unwrap_or(0));
    let state = container.and_then(|c| c.state.as_ref());
    let running = state.and_then(|s| s.running.as_ref());
    let started_ms = running.and_then(|r| r.started_at.as_ref()).and_then(|t| u64::try_from(t.0.as_millisecond()).ok());
    let waiting = state.and_then(|s| s.waiting.as_ref()).map(|w| {
        let reason = w.reason.clone().unwrap_or_else(|| "Waiting".to_owned());
        match &w.message {
            Some(m) => format!("{reason}: {m}"),
            None => reason,
        }
    });
    let (state, message) = match phase {
        "Running" if running.is_some() => (ProcessState::Running, None),
        "Failed" => (ProcessState::Failed, status.message.clone().or(waiting)),
        "Succeeded" => (ProcessState::Stopped, None),
        _ => (ProcessState::Restarting, Some(waiting.unwrap_or_else(|| format!("Pod {phase}")))),
    };
    Some(ProcessStatus { state, restarts, started_ms, message })
}

async fn apply(device: Arc<DeviceResource>, ctx: &Context) -> Result<Action, ReconcileError> {
    let name = device.meta().name.clone().ok_or(ReconcileError::Unnamed)?;
    let resync = Action::requeue(ctx.cfg.resync);
    let placement = match placement(&device.spec.0.board) {
        // The API checks names; a Device made around it (kubectl) may have
        // one too long for the names made from it.
        Placement::Pod => match wasmbed_model::validate_name(&name) {
            Ok(()) => Placement::Pod,
            Err(e) => Placement::Refused(e.to_string()),
        },
        other => other,
    };
    match placement {
        Placement::None => {
            remove_pod(ctx, &name).await?;
            Ok(resync)
        }
        Placement::Refused(why) => {
            remove_pod(ctx, &name).await?;
            let failed =
                ProcessStatus { state: ProcessState::Failed, restarts: 0, started_ms: None, message: Some(why) };
            set_process(ctx, &device, Some(failed)).await?;
            Ok(resync)
        }
        // Disconnected by an operator: no Pod until it is connected again.
        Placement::Pod if device.spec.0.disconnected => {
            remove_pod(ctx, &name).await?;
            let stopped = ProcessStatus {
                state: ProcessState::Stopped,
                restarts: 0,
                started_ms: None,
                message: Some("disconnected by an operator".into()),
            };
            set_process(ctx, &device, Some(stopped)).await?;
            Ok(resync)
        }
        Placement::Pod => {
            let pods = ctx.pods();
            let pod = pod_name(&name);
            let Some(have) = pods.get_opt(&pod).await.map_err(api(format!("reading Pod {pod}")))? else {
                provision(ctx, &device, &name).await?;
                return Ok(resync);
            };
            // Made again on a later round, once this one is gone.
            let wait = Action::requeue(Duration::from_secs(2));
            if have.meta().deletion_timestamp.is_some() {
                return Ok(wait);
            }
            let device = if keeps(&have, &device, &ctx.cfg)? {
                device
            } else {
                // The Device in the controller's cache may be older than the
                // Pod just read (the round that made the Pod recorded its
                // identity a moment ago): ask the API server before
                // replacing anything.
                let devices = ctx.devices();
                let fresh = devices.get(&name).await.map_err(api(format!("reading Device {name}")))?;
                Arc::new(fresh)
            };
            if !keeps(&have, &device, &ctx.cfg)? {
                tracing::info!(device = %name, "device Pod not the recorded identity or template: replacing it");
                delete_if_present(&pods, &pod).await?;
                return Ok(wait);
            }
            if let Some(p) = process_status(&have) {
                set_process(ctx, &device, Some(p)).await?;
            }
            Ok(resync)
        }
    }
}

/// True when `pod` runs the identity recorded on `device` with the Pod
/// template the reconciler makes now.
fn keeps(pod: &Pod, device: &DeviceResource, cfg: &DevicePodConfig) -> Result<bool, ReconcileError> {
    let held = pod.annotations().get(FINGERPRINT);
    let Some(recorded) = device.spec.0.identity.as_ref().filter(|r| held.is_some_and(|f| r.accepts(f))) else {
        return Ok(false);
    };
    let want = device_pod(device, cfg, &recorded.fingerprint)?;
    Ok(pod.annotations().get(TEMPLATE_HASH).is_some_and(|h| want.annotations().get(TEMPLATE_HASH) == Some(h)))
}

async fn set_process(ctx: &Context, device: &DeviceResource, p: Option<ProcessStatus>) -> Result<(), ReconcileError> {
    let current = device.status.as_ref().and_then(|s| s.process.clone());
    if current == p {
        return Ok(());
    }
    let name = device.name_any();
    ctx.store.patch_device_status(&name, DeviceStatusPatch::Process(p)).await.map_err(|e| ReconcileError::Api {
        doing: format!("writing the process status of device {name}"),
        detail: e.to_string(),
    })
}

/// Provisions a device that has no Pod (see the module docs): a new
/// identity, the Pod running it, its Secret owned by that Pod, and then
/// the identity recorded on the Device. Each step's failure is an error,
/// and leaves nothing the next round keeps.
async fn provision(ctx: &Context, device: &DeviceResource, name: &str) -> Result<(), ReconcileError> {
    let issued = ctx
        .issuer
        .issue(name, &device.spec.0.board, &ctx.cfg.bundle_gateway())
        .map_err(|why| ReconcileError::Identity { device: name.to_owned(), why })?;
    // The fingerprint names the Secret: it must be one.
    issued.identity.validate().map_err(|e| ReconcileError::Identity { device: name.to_owned(), why: e.to_string() })?;
    let fingerprint = issued.identity.fingerprint.clone();
    let pod = pod_name(name);
    let want = device_pod(device, &ctx.cfg, &fingerprint)?;
    let created = ctx.pods().create(&PostParams::default(), &want).await.map_err(api(format!("creating Pod {pod}")))?;
    // The Pod owns the Secret, not controls it: nothing reconciles a Secret
    // from its Pod. No blockOwnerDeletion (it would need more permissions,
    // and nothing waits on it).
    let owner = created
        .owner_ref(&())
        .map(|o| OwnerReference { controller: Some(false), block_owner_deletion: None, ..o })
        .ok_or_else(|| ReconcileError::Api {
            doing: format!("creating Pod {pod}"),
            detail: "the API server answered with a Pod without a name or uid".to_owned(),
        })?;
    tracing::info!(device = %name, "device Pod created");
    let secret = secret_name(name, &fingerprint);
    let s = Secret {
        metadata: ObjectMeta {
            name: Some(secret.clone()),
            labels: Some(labels(name)),
            annotations: Some(BTreeMap::from([(FINGERPRINT.to_owned(), fingerprint.clone())])),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(BTreeMap::from([(BUNDLE_KEY.to_owned(), ByteString(issued.bundle))])),
        immutable: Some(true),
        ..Secret::default()
    };
    // A 409 (another replica racing, with a key of its own) is an error
    // like any other: the Pod's identity is not recorded, so the next round
    // replaces it.
    ctx.secrets().create(&PostParams::default(), &s).await.map_err(api(format!("creating Secret {secret}")))?;
    // Recorded once its Secret holds it: the previous identity is refused
    // from here on.
    record_identity(&ctx.store, name, issued.identity).await.map_err(|e| ReconcileError::Api {
        doing: format!("recording the identity of device {name}"),
        detail: e.to_string(),
    })?;
    tracing::info!(device = %name, %fingerprint, "device identity issued");
    Ok(())
}

async fn delete_if_present<K>(api_: &Api<K>, what: &str) -> Result<(), ReconcileError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api_.delete(what, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(st)) if st.code == 404 => Ok(()),
        Err(e) => Err(api(format!("deleting {what}"))(e)),
    }
}

async fn remove_pod(ctx: &Context, device: &str) -> Result<(), ReconcileError> {
    let pods = ctx.pods();
    let pod = pod_name(device);
    if pods.get_opt(&pod).await.map_err(api(format!("reading Pod {pod}")))?.is_some() {
        delete_if_present(&pods, &pod).await?;
    }
    Ok(())
}

async fn cleanup(device: Arc<DeviceResource>, ctx: &Context) -> Result<Action, ReconcileError> {
    let name = device.meta().name.clone().ok_or(ReconcileError::Unnamed)?;
    // Its identity Secret is owned by the Pod: the garbage collector
    // deletes it with the Pod.
    delete_if_present(&ctx.pods(), &pod_name(&name)).await?;
    tracing::info!(device = %name, "device deleted: its Pod is gone, and its identity with it");
    Ok(Action::await_change())
}

/// One reconcile of one Device (what the controller runs; public for tests).
pub async fn reconcile(device: Arc<DeviceResource>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let name = device.name_any();
    let devices: Api<DeviceResource> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    finalizer(&devices, FINALIZER, device, |event| async {
        match event {
            Finalizer::Apply(d) => apply(d, &ctx).await,
            Finalizer::Cleanup(d) => cleanup(d, &ctx).await,
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer { device: name, source: Box::new(e) })
}

fn error_policy(device: Arc<DeviceResource>, error: &ReconcileError, _ctx: Arc<Context>) -> Action {
    tracing::warn!(device = %device.name_any(), "device reconcile failed, retrying: {error}");
    Action::requeue(Duration::from_secs(10))
}

/// Runs the reconciler over the Devices of the namespace (and the Pods it
/// owns) until `shutdown` turns true.
pub async fn run(ctx: Arc<Context>, shutdown: watch::Receiver<bool>) {
    let devices: Api<DeviceResource> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let pods = ctx.pods();
    let owned = watcher::Config::default().labels("app.kubernetes.io/name=wasmbed-device");
    Controller::new(devices, watcher::Config::default())
        .owns(pods, owned)
        .graceful_shutdown_on(crate::stopped(shutdown))
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}
