//! The Wasmbed controller for Kubernetes: keeps the platform CA in a
//! Secret, issues the gateway's identity, runs the control-plane
//! reconcilers over the cluster's resources, and runs one QEMU Pod per
//! emulated Device. (The HTTP API is not served here yet.)

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Parser;
use k8s_openapi::api::core::v1::{ResourceRequirements, Secret};
use kube::{Api, Client};
use tokio::sync::watch;
use wasmbed_k8s::KubeStore;
use wasmbed_k8s::devices::{self, DevicePodConfig};
use wasmbed_k8s::secrets;
use wasmbed_k8s_bin::{CA_FILES, GATEWAY_CA, GATEWAY_CERT, GATEWAY_KEY, PkiIssuer, unix_ms};
use wasmbed_model::Store;
use wasmbed_pki::Pki;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Namespace of the resources, Pods and Secrets.
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: String,
    /// Helm release name: prefixes the Secrets and the gateway Service.
    #[arg(long, default_value = "wasmbed")]
    release: String,
    /// `host:port` of the gateway Service device Pods forward to.
    #[arg(long)]
    gateway_service: String,
    /// Image of device Pods.
    #[arg(long)]
    device_image: String,
    /// Pull policy of device Pods.
    #[arg(long, default_value = "IfNotPresent")]
    device_image_pull_policy: String,
    /// Resources of each device Pod, as JSON (`{"requests": {...}, "limits": {...}}`).
    #[arg(long)]
    device_resources: Option<String>,
    /// Port on a device Pod's loopback that QEMU's link uses.
    #[arg(long, default_value_t = 4443)]
    link_port: u16,
    /// Memory-backed folder the CA is materialized in.
    #[arg(long, default_value = "/var/run/wasmbed/pki")]
    pki_dir: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    wasmbed_k8s_bin::init_logging();
    let args = Args::parse();
    let client = Client::try_default().await.context("cannot configure the Kubernetes client")?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &args.namespace);

    // The CA: made once, kept in a Secret, written back here on every start.
    let ca = wasmbed_k8s_bin::ca_secret(&args.release);
    let outcome = secrets::sync_dir(&secrets, &ca, &args.pki_dir, &CA_FILES, |dir| {
        Pki::open_or_create(dir, SystemTime::now()).map(drop).map_err(|e| e.to_string())
    })
    .await?;
    tracing::info!(secret = %ca, ?outcome, "platform CA");
    let pki = Arc::new(Pki::open_or_create(&args.pki_dir, SystemTime::now()).context("opening the platform CA")?);

    let tls = wasmbed_k8s_bin::gateway_tls_secret(&args.release);
    let sans = wasmbed_k8s_bin::gateway_sans(&args.release, &args.namespace);
    let issued = secrets::ensure(&secrets, &tls, || {
        let id = pki.gateway_identity(&sans, SystemTime::now()).map_err(|e| e.to_string())?;
        Ok(BTreeMap::from([
            (GATEWAY_CERT.to_owned(), id.cert_der),
            (GATEWAY_KEY.to_owned(), id.key_der),
            (GATEWAY_CA.to_owned(), pki.ca_cert_der().to_vec()),
        ]))
    })
    .await?;
    tracing::info!(secret = %tls, outcome = ?issued, "gateway identity");

    let mut pod_cfg = DevicePodConfig::new(&args.device_image, &args.gateway_service);
    pod_cfg.image_pull_policy = args.device_image_pull_policy.clone();
    pod_cfg.link_port = args.link_port;
    if let Some(json) = &args.device_resources {
        let r: ResourceRequirements = serde_json::from_str(json).context("--device-resources is not resources JSON")?;
        pod_cfg.resources = Some(r);
    }

    let (stop, stop_rx) = watch::channel(false);
    let store = Arc::new(KubeStore::new(client.clone(), &args.namespace));
    let watching = tokio::spawn({
        let (store, rx) = (store.clone(), stop_rx.clone());
        async move { store.watch_changes(rx).await }
    });
    // One Service in front of every gateway: devices are not assigned to one.
    let control_cfg = wasmbed_control::ControlConfig::default().without_gateway_assignment();
    let control = tokio::spawn(wasmbed_control::run(
        store.clone() as Arc<dyn Store>,
        Arc::new(unix_ms),
        control_cfg,
        stop_rx.clone(),
    ));
    let ctx = devices::Context::new(client, &args.namespace, pod_cfg, Arc::new(PkiIssuer(pki)));
    let pods = tokio::spawn(devices::run(ctx, stop_rx));
    tracing::info!(namespace = %args.namespace, "controller running");

    wasmbed_k8s_bin::terminated().await;
    tracing::info!("stopping");
    let _ = stop.send(true);
    for task in [watching, control, pods] {
        let _ = task.await;
    }
    Ok(())
}
