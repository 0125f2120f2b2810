//! What the Kubernetes binaries share, kept here to be tested on the host:
//! the gateway identity's names and files, the device-Pod entrypoint's
//! launch (boot seed and QEMU command line, from `wasmbed-qemu`), the
//! platform CA as an identity issuer, and signal handling.
//!
//! ```
//! let sans = wasmbed_operator::gateway_sans("wasmbed", "fleet");
//! assert!(sans.contains(&"wasmbed-gateway.fleet.svc".to_string()));
//! ```

pub mod replica_control;
pub mod signing;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use wasmbed_k8s::devices::{IdentityIssuer, Issued};
use wasmbed_pki::Pki;
use wasmbed_qemu::{Launch, mac_for, machine, write_boot_seed};

/// Keys of the gateway identity Secret (DER, as rustls takes them).
pub const GATEWAY_CERT: &str = "cert.der";
/// The gateway's private key (PKCS#8 DER).
pub const GATEWAY_KEY: &str = "key.der";
/// The platform CA certificate (DER) the gateway checks devices against.
pub const GATEWAY_CA: &str = "ca.der";
/// Files of the platform CA kept in its Secret (as `wasmbed-pki` stores them).
pub const CA_FILES: [&str; 2] = ["ca.crt", "ca.key"];

/// Name of the platform CA Secret of a release.
pub fn ca_secret(release: &str) -> String {
    format!("{release}-ca")
}

/// Name of the app-signing key Secret of a release: read by the controller
/// only (it signs deploys); gateways and device Pods never mount it.
pub fn app_signing_secret(release: &str) -> String {
    format!("{release}-app-signing")
}

/// Name of the gateway identity Secret of a release (the chart mounts it).
pub fn gateway_tls_secret(release: &str) -> String {
    format!("{release}-gateway-tls")
}

/// Name of the Secret holding the control channel's token (the
/// controller makes it; gateway replicas mount it).
pub fn control_secret(release: &str) -> String {
    format!("{release}-gateway-control")
}

/// Key of the control token in its Secret.
pub const CONTROL_TOKEN: &str = "token";

/// The name the controller verifies a replica's certificate under on the
/// control port: the gateway Service's, which every replica's certificate
/// carries.
pub fn control_server_name(release: &str, namespace: &str) -> String {
    format!("{release}-gateway.{namespace}.svc")
}

/// Names the gateway certificate carries: its Service in every form a
/// client may use, and the loopback addresses devices dial from QEMU
/// (10.0.2.2 is the Pod's own loopback seen from inside QEMU).
pub fn gateway_sans(release: &str, namespace: &str) -> Vec<String> {
    let svc = format!("{release}-gateway");
    vec![
        svc.clone(),
        format!("{svc}.{namespace}"),
        format!("{svc}.{namespace}.svc"),
        format!("{svc}.{namespace}.svc.cluster.local"),
        "localhost".into(),
        "127.0.0.1".into(),
        wasmbed_model::host_from_guest(),
    ]
}

/// Issues device identity bundles from the platform CA: a new key for
/// every call (a re-created Device must not get its predecessor's key,
/// which the CA's folder would otherwise hand out again).
#[derive(Debug)]
pub struct PkiIssuer(pub Arc<Pki>);

impl IdentityIssuer for PkiIssuer {
    fn issue(&self, device: &str, board: &str, gateway: &str) -> Result<Issued, String> {
        let (seed, now): ([u8; 32], _) = (rand::random(), SystemTime::now());
        // Never stored here: the key goes into the device's Secret only.
        let fresh = self.0.new_device_identity(device, now).map_err(|e| e.to_string())?;
        let identity = fresh.record(now).map_err(|e| e.to_string())?;
        let bundle = self.0.bundle_with(fresh, device, board, &[gateway], seed).map_err(|e| e.to_string())?;
        Ok(Issued { bundle: bundle.to_bytes(), identity })
    }
}

/// Why a device Pod cannot start its QEMU.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevicePodError {
    /// The board has no QEMU machine data in this build.
    #[error("board {0:?} has no QEMU machine in this build")]
    UnknownBoard(String),
    /// The image lacks the board's firmware.
    #[error("no firmware image {0} in this device image")]
    NoFirmware(PathBuf),
    /// The identity Secret is not mounted.
    #[error("no identity bundle at {0} (is the device's Secret mounted?)")]
    NoBundle(PathBuf),
    /// The boot seed could not be written.
    #[error(transparent)]
    Seed(#[from] wasmbed_qemu::QemuError),
}

/// What the device Pod's entrypoint is told (by the controller, in the Pod's args).
#[derive(Debug, Clone)]
pub struct DevicePod {
    /// Device name (its MAC is derived from it).
    pub device: String,
    /// Board (QEMU machine).
    pub board: String,
    /// Port on the Pod's loopback that QEMU's link uses.
    pub link_port: u16,
    /// The identity bundle (mounted from the device's Secret).
    pub bundle: PathBuf,
    /// Folder of `wasmbed-fw-<board>` images.
    pub firmware_dir: PathBuf,
    /// Writable folder for the boot seed and the console log.
    pub work_dir: PathBuf,
}

impl DevicePod {
    /// The console log QEMU writes.
    pub fn console(&self) -> PathBuf {
        self.work_dir.join("console.log")
    }

    /// Writes a fresh boot seed (`seed`, the host's `now_ms`) and returns
    /// the QEMU launch: the same command line the QEMU manager uses.
    pub fn prepare(&self, seed: [u8; 32], now_ms: u64) -> Result<Launch, DevicePodError> {
        let m = machine(&self.board).ok_or_else(|| DevicePodError::UnknownBoard(self.board.clone()))?;
        let kernel = self.firmware_dir.join(format!("wasmbed-fw-{}", self.board));
        if !kernel.is_file() {
            return Err(DevicePodError::NoFirmware(kernel));
        }
        if !self.bundle.is_file() {
            return Err(DevicePodError::NoBundle(self.bundle.clone()));
        }
        let seed_path = self.work_dir.join("seed.bin");
        write_boot_seed(&seed_path, seed, now_ms)?;
        Ok(Launch {
            board: m,
            kernel,
            bundle: Some(self.bundle.clone()),
            seed: Some(seed_path),
            console: self.console(),
            mac: Some(mac_for(&self.device)),
            // UART boards: QEMU dials 127.0.0.1 at this port itself.
            gateway_ports: vec![self.link_port],
            peripherals: Vec::new(),
            qmp: None,
            paused: false,
            app_uarts: None,
        })
    }
}

/// Resolves on SIGTERM (what the kubelet sends) or Ctrl-C.
pub async fn terminated() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Reads a whole file, naming it on failure.
pub fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(dir: &Path, board: &str) -> DevicePod {
        DevicePod {
            device: "dev-1".into(),
            board: board.into(),
            link_port: 4443,
            bundle: dir.join("bundle.bin"),
            firmware_dir: dir.to_path_buf(),
            work_dir: dir.join("work"),
        }
    }

    #[test]
    fn a_launch_loads_bundle_and_a_fresh_seed_and_links_through_the_pod_loopback() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        for board in ["mps2-an385", "olimex-stm32-h405"] {
            std::fs::write(dir.path().join(format!("wasmbed-fw-{board}")), b"elf").unwrap();
        }
        let p = pod(dir.path(), "mps2-an385");
        assert!(matches!(p.prepare([7; 32], 1), Err(DevicePodError::NoBundle(_))));
        std::fs::write(dir.path().join("bundle.bin"), b"WBID").unwrap();
        let launch = p.prepare([7; 32], 1_700_000_000_000).unwrap();
        let args: Vec<String> = launch.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-M mps2-an385"), "{joined}");
        assert!(joined.contains(&format!("loader,file={},addr=0x21000000", dir.path().join("bundle.bin").display())));
        assert!(joined.contains("user,model=lan9118,mac=52:54:"), "{joined}");
        let seed = std::fs::read(dir.path().join("work/seed.bin")).unwrap();
        assert_eq!((&seed[..4], &seed[4..36], seed.len()), (&b"WBSD"[..], &[7u8; 32][..], 44));
        assert_eq!(seed[36..], 1_700_000_000_000u64.to_le_bytes());

        let uart = pod(dir.path(), "olimex-stm32-h405").prepare([1; 32], 1).unwrap();
        let joined = uart.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" ");
        assert!(joined.contains("socket,id=link,host=127.0.0.1,port=4443"), "{joined}");
    }

    #[test]
    fn what_cannot_run_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let e = pod(dir.path(), "stm32vldiscovery").prepare([0; 32], 1).unwrap_err();
        assert!(e.to_string().contains("no QEMU machine"), "{e}");
        let e = pod(dir.path(), "mps2-an386").prepare([0; 32], 1).unwrap_err();
        assert!(e.to_string().contains("wasmbed-fw-mps2-an386"), "{e}");
    }

    #[test]
    fn every_identity_issued_has_a_new_key_and_records_the_certificate_in_its_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let issuer = PkiIssuer(Arc::new(Pki::open_or_create(dir.path(), SystemTime::now()).unwrap()));
        // The same name twice, as a re-created Device asks for it.
        let first = issuer.issue("dev-1", "mps2-an385", "10.0.2.2:4443").unwrap();
        let again = issuer.issue("dev-1", "mps2-an385", "10.0.2.2:4443").unwrap();
        assert_ne!(first.identity.fingerprint, again.identity.fingerprint);
        let (a, b) = (bundle(&first.bundle), bundle(&again.bundle));
        assert_ne!(a.key_der, b.key_der, "a new key, not the stored one");
        assert_eq!(wasmbed_pki::Fingerprint::of(&b.cert_der).to_string(), again.identity.fingerprint);
        assert!(again.identity.validate().is_ok());
        // No key on the controller's disk: nothing was stored for the device.
        let stored: Vec<_> = walk(dir.path()).into_iter().filter(|p| p.to_string_lossy().contains("dev-1")).collect();
        assert!(stored.is_empty(), "{stored:?}");
        for bad in ["../ca", "", "Dev"] {
            assert!(issuer.issue(bad, "mps2-an385", "10.0.2.2:4443").is_err(), "{bad:?}");
        }
    }

    fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
        out
    }

    fn bundle(bytes: &[u8]) -> wasmbed_protocol::IdentityBundle {
        wasmbed_protocol::IdentityBundle::from_bytes(bytes).unwrap()
    }

    #[test]
    fn the_gateway_certificate_names_the_service_and_the_qemu_loopback() {
        let sans = gateway_sans("rel", "ns");
        for want in ["rel-gateway", "rel-gateway.ns.svc.cluster.local", "10.0.2.2"] {
            assert!(sans.iter().any(|s| s == want), "{want}");
        }
        assert_eq!(ca_secret("rel"), "rel-ca");
        assert_eq!(gateway_tls_secret("rel"), "rel-gateway-tls");
    }
}
