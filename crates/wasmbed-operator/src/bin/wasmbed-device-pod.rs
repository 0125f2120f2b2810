//! The device Pod's entrypoint: writes a fresh boot seed, relays QEMU's
//! link from the Pod's loopback to the gateway Service, runs QEMU with the
//! board's firmware and the mounted identity, copies the serial console to
//! stdout (`kubectl logs`), and exits with QEMU: the kubelet restarts the
//! container, and the next boot gets a new seed.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmbed_operator::DevicePod;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[arg(long)]
    device: String,
    #[arg(long)]
    board: String,
    /// `host:port` of the gateway Service.
    #[arg(long)]
    gateway: String,
    /// Port on the Pod's loopback QEMU's link uses (the bundle's 10.0.2.2 port).
    #[arg(long, default_value_t = 4443)]
    link_port: u16,
    #[arg(long)]
    bundle: PathBuf,
    #[arg(long, default_value = "/opt/wasmbed/firmware")]
    firmware_dir: PathBuf,
    #[arg(long, default_value = "/var/lib/wasmbed")]
    work_dir: PathBuf,
}

/// Copies what QEMU appends to the console file to stdout.
fn follow(path: PathBuf, mut stop: watch::Receiver<bool>) {
    let mut pos = 0u64;
    let mut buf = vec![0u8; 8192];
    while !*stop.borrow_and_update() {
        if let Ok(mut f) = std::fs::File::open(&path)
            && f.seek(SeekFrom::Start(pos)).is_ok()
        {
            while let Ok(n @ 1..) = f.read(&mut buf) {
                pos += n as u64;
                let _ = std::io::stdout().write_all(&buf[..n]);
            }
            let _ = std::io::stdout().flush();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    wasmbed_operator::init_logging();
    let args = Args::parse();
    let pod = DevicePod {
        device: args.device,
        board: args.board,
        link_port: args.link_port,
        bundle: args.bundle,
        firmware_dir: args.firmware_dir,
        work_dir: args.work_dir,
    };
    let listener = TcpListener::bind(("127.0.0.1", pod.link_port))
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", pod.link_port))?;
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(wasmbed_k8s::forward::forward(listener, args.gateway.clone(), stop_rx.clone()));

    let launch = pod.prepare(rand::random(), wasmbed_model::clock::unix_ms())?;
    let console = pod.console();
    std::thread::spawn(move || follow(console, stop_rx));
    let mut qemu = tokio::process::Command::from(launch.command())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start qemu-system-arm")?;
    tracing::info!(device = %pod.device, board = %pod.board, gateway = %args.gateway, "QEMU device started");
    let status = tokio::select! {
        s = qemu.wait() => s.context("waiting for QEMU")?,
        _ = wasmbed_operator::terminated() => {
            let _ = qemu.kill().await;
            let _ = stop.send(true);
            return Ok(());
        }
    };
    let _ = stop.send(true);
    // Let the follower print the last console lines.
    tokio::time::sleep(Duration::from_millis(300)).await;
    if !status.success() {
        bail!("QEMU exited ({status})");
    }
    bail!("QEMU exited: the firmware reset or stopped; the container restarts with a new boot seed")
}
