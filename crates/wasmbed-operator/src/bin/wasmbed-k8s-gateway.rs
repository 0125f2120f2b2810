//! A gateway replica in Kubernetes: `wasmbed_gateway::Gateway` over the
//! cluster's resources, its TLS identity read from the mounted Secret. It
//! registers itself as a Gateway resource (named after its Pod) and
//! reports its sessions. Its control port lets the controller run terminal
//! commands on the devices it holds and follow their app log lines
//! (`wasmbed_operator::control`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Api, Client};
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmbed_gateway::{AppKeyPin, Gateway, GatewayConfig, TrustChain};
use wasmbed_k8s::KubeStore;
use wasmbed_model::{LogBook, Store};
use wasmbed_operator::signing::{follow_announcements, follow_public_key};
use wasmbed_operator::{GATEWAY_CA, GATEWAY_CERT, GATEWAY_KEY, read, replica_control as control};
use wasmbed_pki::Identity;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Namespace of the resources.
    #[arg(long, env = "POD_NAMESPACE")]
    namespace: String,
    /// Name of this gateway (its Pod's name).
    #[arg(long, env = "POD_NAME")]
    name: String,
    /// Address to accept devices on.
    #[arg(long, default_value = "0.0.0.0:4443")]
    listen: String,
    /// `host:port` registered for this gateway (its Pod IP and port).
    #[arg(long)]
    endpoint: String,
    /// Sessions this replica takes.
    #[arg(long, default_value_t = 5000)]
    capacity: usize,
    /// Uid of this gateway's Pod: the Pod becomes the owner of the Gateway
    /// resource, so that it is deleted with the Pod.
    #[arg(long, env = "POD_UID")]
    pod_uid: Option<String>,
    /// Folder of the mounted identity Secret.
    #[arg(long, default_value = "/var/run/wasmbed/tls")]
    tls_dir: PathBuf,
    /// Address of the control port (terminal and logs, for the controller).
    #[arg(long, default_value = "0.0.0.0:9443")]
    control_listen: String,
    /// File holding the control token (the mounted control Secret).
    #[arg(long, default_value = "/var/run/wasmbed/control/token")]
    control_token_file: PathBuf,
    /// Helm release name: prefixes the app-signing announcements this
    /// gateway relays to devices.
    #[arg(long, default_value = "wasmbed")]
    release: String,
}

#[tokio::main]
async fn main() -> Result<()> {
    wasmbed_operator::init_logging();
    let args = Args::parse();
    let id =
        Identity { cert_der: read(&args.tls_dir.join(GATEWAY_CERT))?, key_der: read(&args.tls_dir.join(GATEWAY_KEY))? };
    let ca = read(&args.tls_dir.join(GATEWAY_CA))?;
    let tls = wasmbed_pki::tls::server_config(&ca, &id).context("building the TLS configuration")?;
    let control_tls = wasmbed_pki::tls::token_server_config(&id).context("building the control port's TLS")?;
    let token = String::from_utf8(read(&args.control_token_file)?).context("the control token is not text")?;
    let client = Client::try_default().await.context("cannot configure the Kubernetes client")?;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &args.namespace);
    let store = Arc::new(KubeStore::new(client, &args.namespace));
    let owner = store.clone();
    let (stop, stop_rx) = watch::channel(false);
    let watching = tokio::spawn({
        let (store, rx) = (store.clone(), stop_rx.clone());
        async move { store.watch_changes(rx).await }
    });
    // Announcements of newer app-signing keys, relayed to every device.
    let chain = TrustChain::default();
    let following =
        tokio::spawn(follow_announcements(config_maps.clone(), args.release.clone(), chain.clone(), stop_rx.clone()));
    // The key edge components' manifests are checked against.
    let pin = AppKeyPin::default();
    tokio::spawn(follow_public_key(config_maps, args.release.clone(), chain.clone(), pin.clone(), stop_rx.clone()));
    let cfg = GatewayConfig::default()
        .with_name(&args.name)
        .with_max_sessions(args.capacity)
        .with_endpoints(&args.endpoint, None)
        .with_trust_chain(chain)
        .with_app_key_pin(pin);
    let logs = Arc::new(LogBook::new(1000));
    let gateway =
        Gateway::new(cfg, tls, store as Arc<dyn Store>, logs.clone(), Arc::default(), wasmbed_model::clock::system());
    let listener =
        TcpListener::bind(&args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let control_listener = TcpListener::bind(&args.control_listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.control_listen))?;
    let app = control::router(gateway.clone(), logs, token.trim(), stop_rx.clone());
    let controlling = tokio::spawn(control::serve(control_listener, control_tls, app, stop_rx.clone()));
    let serving = tokio::spawn(gateway.run(listener, stop_rx));
    if let Some(uid) = args.pod_uid.clone() {
        // The gateway registers itself once it runs; retry until it has.
        let name = args.name.clone();
        tokio::spawn(async move {
            for _ in 0..60 {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                match owner.own_gateway_by_pod(&name, &name, &uid).await {
                    Ok(()) => return,
                    Err(e) => tracing::debug!("gateway {name} not owned by its Pod yet: {e}"),
                }
            }
            tracing::warn!(
                "gateway {name}: could not make its Pod its owner; delete the resource by hand when it goes"
            );
        });
    }
    wasmbed_operator::terminated().await;
    let _ = stop.send(true);
    serving.await.context("gateway task")?.context("gateway")?;
    controlling.await.context("control port task")?.context("control port")?;
    let _ = watching.await;
    let _ = following.await;
    Ok(())
}
