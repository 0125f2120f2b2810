//! The Wasmbed controller for Kubernetes: keeps the platform CA in a
//! Secret, issues the gateway's identity, runs the control-plane
//! reconcilers over the cluster's resources, runs one QEMU Pod per
//! emulated Device, compiles revisions asking for native code (its image
//! carries `wasm2c` and `arm-none-eabi-gcc`), and serves the HTTP API (and
//! the dashboard, when its files are in the image).
//!
//! The API holds no device sessions (they live in the gateway replicas):
//! terminal commands go to the replica holding the device's session, and
//! every replica's app log lines are followed into the API's log book,
//! over the replicas' control port (`wasmbed_operator::control`, with a
//! token kept in a Secret the replicas mount). The API's token file (hashes only) is kept in a Secret: the
//! first admin token is made once, and every token created or revoked
//! later is written back, so tokens outlive the controller. The first
//! admin token's secret is kept in the `<release>-admin-token` Secret and
//! never printed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Parser;
use k8s_openapi::api::core::v1::{ConfigMap, ResourceRequirements, Secret};
use kube::{Api, Client};
use tokio::sync::watch;
use wasmbed_builder::{AotBuilder, NativeTools};
use wasmbed_k8s::KubeStore;
use wasmbed_k8s::devices::{self, DevicePodConfig};
use wasmbed_k8s::secrets::{self, Mutability};
use wasmbed_model::Store;
use wasmbed_model::clock::{self, unix_ms};
use wasmbed_operator::replica_control::{self as control, ControlClient, RemoteTerminal};
use wasmbed_operator::signing::ClusterAppKeys;
use wasmbed_operator::{CA_FILES, CONTROL_TOKEN, GATEWAY_CA, GATEWAY_CERT, GATEWAY_KEY, PkiIssuer};
use wasmbed_pki::Pki;

/// The API's token file, as named in its folder and its Secret.
const TOKEN_FILE: &str = "tokens.json";

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
    /// Control port of the gateway replicas (terminal and logs).
    #[arg(long, default_value_t = control::CONTROL_PORT)]
    gateway_control_port: u16,
    /// Port on a device Pod's loopback that QEMU's link uses.
    #[arg(long, default_value_t = 4443)]
    link_port: u16,
    /// Memory-backed folder the CA is materialized in.
    #[arg(long, default_value = "/var/run/wasmbed/pki")]
    pki_dir: PathBuf,
    /// Memory-backed folder the app-signing key is materialized in.
    #[arg(long, default_value = "/var/run/wasmbed/app-signing")]
    signing_dir: PathBuf,
    /// Address the HTTP API listens on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: std::net::SocketAddr,
    /// Folder for the API's tokens and audit log.
    #[arg(long, default_value = "/var/lib/wasmbed")]
    api_dir: PathBuf,
    /// The built dashboard to serve at `/`.
    #[arg(long)]
    dashboard_dir: Option<PathBuf>,
    /// Folder native builds are cached in (`wasm2c` and
    /// `arm-none-eabi-gcc` on `PATH` compile revisions asking for native
    /// code; without them those revisions run interpreted, and say so).
    #[arg(long, default_value = "/var/cache/wasmbed/native")]
    native_cache_dir: PathBuf,
}

#[tokio::main]
async fn main() -> Result<()> {
    wasmbed_operator::init_logging();
    let args = Args::parse();
    let client = Client::try_default().await.context("cannot configure the Kubernetes client")?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &args.namespace);

    // The CA: made once, kept in a Secret, written back here on every start.
    let ca = wasmbed_operator::ca_secret(&args.release);
    let outcome = secrets::sync_dir(&secrets, &ca, &args.pki_dir, &CA_FILES, Mutability::Immutable, |dir| {
        Pki::open_or_create(dir, SystemTime::now()).map(drop).map_err(|e| e.to_string())
    })
    .await?;
    tracing::info!(secret = %ca, ?outcome, "platform CA");
    let pki = Arc::new(Pki::open_or_create(&args.pki_dir, SystemTime::now()).context("opening the platform CA")?);

    // The app-signing keys: their own Secret, apart from the CA, read by
    // this controller only (it signs deploys, and rotates the keys through
    // the API it serves). Every bundle pins the current key's public half.
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &args.namespace);
    let app_keys = Arc::new(
        ClusterAppKeys::open(secrets.clone(), config_maps, &args.release, &args.signing_dir, pki.clone(), |b| {
            rand::fill(b)
        })
        .await
        .context("opening the app-signing keys")?,
    );
    let signer = app_keys.signer();

    let tls = wasmbed_operator::gateway_tls_secret(&args.release);
    let sans = wasmbed_operator::gateway_sans(&args.release, &args.namespace);
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
    // Devices compile signed modules without validating them: nothing is
    // signed that does not validate, whoever wrote the Application.
    let check = Arc::new(wasmbed_api::StoredModuleCheck::new(store.clone() as Arc<dyn Store>));
    let control_cfg = wasmbed_control::ControlConfig::default()
        .without_gateway_assignment()
        .with_signer(signer)
        .with_module_check(check)
        .with_native_builder(Arc::new(AotBuilder::new(
            store.clone() as Arc<dyn Store>,
            args.native_cache_dir.clone(),
            &NativeTools::FromPath,
        )));
    let control = tokio::spawn(wasmbed_control::run(
        store.clone() as Arc<dyn Store>,
        clock::system(),
        control_cfg,
        stop_rx.clone(),
    ));
    let channel = control_client(&args, &secrets, &pki).await?;
    let api =
        serve_api(&args, &secrets, store.clone() as Arc<dyn Store>, pki.clone(), app_keys, channel, stop_rx.clone())
            .await?;
    let ctx = devices::Context::new(client, &args.namespace, pod_cfg, Arc::new(PkiIssuer(pki)));
    let pods = tokio::spawn(devices::run(ctx, stop_rx));
    tracing::info!(namespace = %args.namespace, "controller running");

    wasmbed_operator::terminated().await;
    tracing::info!("stopping");
    let _ = stop.send(true);
    for task in [watching, control, pods, api] {
        let _ = task.await;
    }
    Ok(())
}

/// The control channel to the gateway replicas; its token is made once
/// and kept in a Secret (materialized beside the CA, in memory).
async fn control_client(args: &Args, secrets: &Api<Secret>, pki: &Pki) -> Result<ControlClient> {
    let name = wasmbed_operator::control_secret(&args.release);
    let dir = args.pki_dir.join("control");
    secrets::sync_dir(secrets, &name, &dir, &[CONTROL_TOKEN], Mutability::Immutable, |dir| {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let token = hex_token(rand::random());
        std::fs::write(dir.join(CONTROL_TOKEN), token).map_err(|e| e.to_string())
    })
    .await?;
    let token = std::fs::read_to_string(dir.join(CONTROL_TOKEN)).context("reading the control token")?;
    let server_name = wasmbed_operator::control_server_name(&args.release, &args.namespace);
    Ok(ControlClient::new(pki.ca_cert_der(), &server_name, args.gateway_control_port, token.trim())?)
}

fn hex_token(bytes: [u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Secret holding the first admin token's secret (key [`ADMIN_TOKEN_KEY`]).
fn admin_token_secret(release: &str) -> String {
    format!("{release}-admin-token")
}

/// Key of the first admin token in its Secret.
const ADMIN_TOKEN_KEY: &str = "token";

/// The HTTP API over the cluster's resources. The token file (hashes) is
/// kept in a Secret, written back after every change; the first admin
/// token's secret goes into a Secret of its own and never to a log, where
/// anyone who can read Pod logs would find it.
async fn serve_api(
    args: &Args,
    secrets: &Api<Secret>,
    store: Arc<dyn Store>,
    pki: Arc<Pki>,
    signing: Arc<ClusterAppKeys>,
    control: ControlClient,
    stop: watch::Receiver<bool>,
) -> Result<tokio::task::JoinHandle<()>> {
    let auth_dir = args.api_dir.join("auth");
    let name = format!("{}-api-tokens", args.release);
    let mut first_admin = None;
    secrets::sync_dir(secrets, &name, &auth_dir, &[TOKEN_FILE], Mutability::Updatable, |dir| {
        let tokens = wasmbed_api::Tokens::open(&dir.join(TOKEN_FILE)).map_err(|e| e.to_string())?;
        first_admin = tokens.ensure_admin(rand::random(), unix_ms()).map_err(|e| e.to_string())?;
        Ok(())
    })
    .await?;
    if let Some(token) = first_admin {
        // Should the controller die before this, the token file holds a hash
        // nobody has the secret of: delete its Secret to start over.
        let admin = admin_token_secret(&args.release);
        secrets::ensure(secrets, &admin, || Ok(BTreeMap::from([(ADMIN_TOKEN_KEY.to_owned(), token.into_bytes())])))
            .await?;
        tracing::info!(secret = %admin, key = ADMIN_TOKEN_KEY, "first admin token stored (in the Secret only)");
    }
    let tokens = Arc::new(wasmbed_api::Tokens::open(&auth_dir.join(TOKEN_FILE))?);
    tokio::spawn(secrets::follow(
        secrets.clone(),
        name,
        auth_dir,
        vec![TOKEN_FILE.to_owned()],
        tokens.saves(),
        stop.clone(),
    ));
    // What the replicas' devices produce, followed into the controller's
    // own books (which the API serves).
    let logs = Arc::new(wasmbed_model::LogBook::new(100));
    let telemetry = Arc::new(wasmbed_model::TelemetryBook::default());
    let books = control::Books { logs: logs.clone(), telemetry: telemetry.clone() };
    tokio::spawn(control::collect_records(store.clone(), control.clone(), books, stop.clone()));
    let state = wasmbed_api::ApiState {
        store: store.clone(),
        pki,
        logs: logs.clone(),
        telemetry: telemetry.clone(),
        tokens,
        audit: Arc::new(wasmbed_api::AuditLog::open(&args.api_dir.join("audit.log"))?),
        events: wasmbed_api::EventHub::start(store.clone(), logs, telemetry, clock::system()),
        terminal: Some(Arc::new(RemoteTerminal::new(store, control))),
        sensors: None,
        signing: Some(signing),
        gateway_port: 0,
        gateway: Arc::new(wasmbed_api::GatewayCounters::default),
        random: Arc::new(rand::random),
        now: Arc::new(SystemTime::now),
        consoles: None,
        dashboard: args.dashboard_dir.clone(),
        counters: Arc::default(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(addr = %args.listen, "API listening");
    Ok(tokio::spawn(async move {
        if let Err(e) = wasmbed_api::serve(listener, state, stop).await {
            tracing::error!("API stopped: {e}");
        }
    }))
}
