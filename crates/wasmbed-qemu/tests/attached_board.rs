//! The stm32vldiscovery's real firmware image in QEMU, driven from the
//! gateway's end of its board link (`wasmbed-attach`): QEMU carries USART1
//! (the link) and USART2 (the apps' UART) to sockets this test listens on
//! at 127.0.0.1:0, and the console to a file; the provisioning record is
//! programmed into the board's flash page with QEMU's loader, as the table
//! says.
//!
//! What is checked from outside the firmware: bytes written to USART2 are
//! read at QEMU's side of USART2, and bytes sent there come back through
//! `UartRead`; an SPI transfer reaches QEMU's n25q128 flash on SPI2. The
//! rest (LEDs, uptime, timers) is what the board answers: its LEDs are a
//! shadow, since QEMU models no GPIO on the STM32F100.
//!
//! The last test runs the `vld-blink` edge component on the gateway's edge
//! host against the board: its greeting and echo are read at QEMU's side
//! of USART2.
//!
//! Every QEMU runs in its own process group, killed when the test ends.

#![allow(clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wasmbed_attach::{AttachError, BoardLink, Event, Events, LinkConfig, LinkError, OwnedResponse, Readback, Request};
use wasmbed_boardlink::{BoardId, BoardKey, Provisioning};
use wasmbed_model::board_table::STM32VLDISCOVERY;
use wasmbed_qemu::ProcessGroup;

const KEY: [u8; 32] = [0x5c; 32];

/// Generous: QEMU boots the board in well under a second here.
const BOOT: Duration = Duration::from_secs(20);

fn provisioning(key: [u8; 32]) -> Provisioning {
    Provisioning::new(BoardId::new(b"vld-1").unwrap(), BoardKey::new(key))
}

fn config() -> LinkConfig {
    LinkConfig::default().with_hello_deadline(BOOT).with_call_deadline(Duration::from_secs(5))
}

/// The apps' UART in the table (USART2) and its QEMU serial index.
fn app_port() -> u8 {
    STM32VLDISCOVERY.app_uart_ports().next().unwrap()
}

/// A running board and QEMU's ends of its serial ports.
struct Board {
    qemu: ProcessGroup,
    /// USART1, as QEMU connected it.
    link: TcpStream,
    /// USART2, as QEMU connected it.
    uart: TcpStream,
    console: PathBuf,
    started: Instant,
}

impl Board {
    /// Boots the image with `provisioning` (or none) programmed, and QEMU's
    /// n25q128 flash on SPI2 (where `bus=ssi` goes).
    async fn boot(dir: &Path, provisioning: Option<&Provisioning>) -> Self {
        let board = &STM32VLDISCOVERY;
        let layout = board.attached().unwrap();
        let image = wasmbed_qemu::firmware_from_source(board.name).unwrap();
        let link = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let uart = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let console = dir.join(format!("console-{}.log", rand::random::<u32>()));
        let mut serial = vec![String::from("null"); 3];
        serial[usize::from(layout.link_port)] = format!("tcp:{}", link.local_addr().unwrap());
        serial[usize::from(app_port())] = format!("tcp:{}", uart.local_addr().unwrap());
        serial[usize::from(layout.console_port)] = format!("file:{}", console.display());
        let mut cmd = Command::new("qemu-system-arm");
        cmd.args(["-M", board.qemu.machine]).args(board.qemu.args);
        cmd.args(["-display", "none", "-monitor", "none", "-no-reboot"]);
        for s in &serial {
            cmd.arg("-serial").arg(s);
        }
        cmd.args(["-device", "n25q128,bus=ssi"]);
        cmd.arg("-kernel").arg(&image);
        if let Some(p) = provisioning {
            let file = dir.join(format!("provisioning-{}.bin", rand::random::<u32>()));
            std::fs::write(&file, p.encode()).unwrap();
            let at = layout.provisioning.start;
            cmd.arg("-device").arg(format!("loader,file={},addr={at:#x},force-raw=on", file.display()));
        }
        let started = Instant::now();
        let qemu = ProcessGroup::spawn(cmd.stdout(Stdio::null()).stderr(Stdio::null()))
            .expect("qemu-system-arm must be installed: run `cargo xtask qemu`");
        let accept = |l: TcpListener| async move { tokio::time::timeout(BOOT, l.accept()).await.unwrap().unwrap().0 };
        let (link, uart) = tokio::join!(accept(link), accept(uart));
        Self { qemu, link, uart, console, started }
    }

    fn console(&self) -> String {
        std::fs::read_to_string(&self.console).unwrap_or_default()
    }

    /// Waits until the console shows `text`.
    async fn console_shows(&self, text: &str) -> String {
        let until = Instant::now() + BOOT;
        loop {
            let now = self.console();
            if now.contains(text) {
                return now;
            }
            assert!(Instant::now() < until, "the console never showed {text:?}:\n{now}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Attaches the gateway's end, expecting `expected` as the board.
    async fn attach(self, expected: &Provisioning) -> Result<(BoardLink, Events, Rest), AttachError> {
        let Self { qemu, link, uart, console, started } = self;
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let (board, events) = wasmbed_attach::attach(link, expected, &mut rng, config()).await?;
        Ok((board, events, Rest { qemu, uart, console, attached_after: started.elapsed() }))
    }
}

/// What stays with the test once the link is the gateway's.
struct Rest {
    qemu: ProcessGroup,
    uart: TcpStream,
    console: PathBuf,
    attached_after: Duration,
}

/// Reads from `uart` until `want` bytes came.
async fn read_exactly(uart: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = vec![0; want];
    tokio::time::timeout(BOOT, uart.read_exact(&mut got)).await.unwrap().unwrap();
    got
}

fn data(r: Result<OwnedResponse, LinkError>) -> Vec<u8> {
    match r {
        Ok(OwnedResponse::Data(bytes)) => bytes,
        other => panic!("not data: {other:?}"),
    }
}

#[tokio::test]
async fn the_board_boots_attaches_and_serves_its_peripherals() {
    let dir = tempfile::tempdir().unwrap();
    let p = provisioning(KEY);
    let (link, mut events, mut rest) = Board::boot(dir.path(), Some(&p)).await.attach(&p).await.unwrap();
    assert!(rest.attached_after < BOOT, "{:?}", rest.attached_after);
    eprintln!("attached {:?} after QEMU started", rest.attached_after);

    // USART2: what the gateway writes arrives at QEMU's side of it...
    let line = b"hello from the gateway\r\n";
    assert_eq!(
        link.call(Request::UartWrite { port: app_port(), bytes: line }).await,
        Ok(OwnedResponse::Written { count: line.len() as u8 })
    );
    assert_eq!(read_exactly(&mut rest.uart, line.len()).await, line);
    // ... and what arrives there, the gateway reads.
    rest.uart.write_all(b"ping").await.unwrap();
    let mut got = Vec::new();
    let until = Instant::now() + BOOT;
    while got.len() < 4 && Instant::now() < until {
        got.extend(data(link.call(Request::UartRead { port: app_port(), max: 64 }).await));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(got, b"ping");
    let console = link.call(Request::UartWrite { port: 2, bytes: b"x" }).await;
    assert_eq!(console, Err(LinkError::Refused(wasmbed_boardlink::ErrorCode::NoSuchPeripheral)), "not the console");

    // LEDs: a shadow of what was written.
    assert_eq!(link.call(Request::LedSet { led: 1, on: true }).await, Ok(OwnedResponse::Done));
    for (led, on) in [(0, false), (1, true)] {
        assert_eq!(
            link.call(Request::LedGet { led }).await,
            Ok(OwnedResponse::Led { led, on, readback: Readback::Shadow })
        );
    }

    // Uptime advances with the board's SysTick.
    let uptime = |r| match r {
        Ok(OwnedResponse::Uptime { ms }) => ms,
        other => panic!("{other:?}"),
    };
    let first = uptime(link.call(Request::Uptime).await);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = uptime(link.call(Request::Uptime).await);
    assert!(second >= first + 100, "{first} then {second}");

    // A periodic timer reports events, counting.
    let start = Request::TimerStart { timer: 0, period_ms: 20, periodic: true };
    assert_eq!(link.call(start).await, Ok(OwnedResponse::Done));
    let mut counts = Vec::new();
    while counts.len() < 3 {
        match tokio::time::timeout(BOOT, events.recv()).await.unwrap() {
            Some(Event::TimerFired { timer: 0, count }) => counts.push(count),
            other => panic!("{other:?}"),
        }
    }
    assert!(counts.windows(2).all(|w| w[0] < w[1]) && counts[0] >= 1, "{counts:?}");
    assert_eq!(link.call(Request::TimerStop { timer: 0 }).await, Ok(OwnedResponse::Done));

    // SPI2 (spi:1) reaches QEMU's n25q128: READ ID. QEMU's STM32 SPI model
    // transfers again when DR is read (silicon does not), so each byte
    // clocked in is the answer to that extra transfer: the ID's first and
    // third bytes (20 BA 18), then what the flash sends after its ID.
    let id = data(link.call(Request::SpiTransfer { bus: 1, bytes: &[0x9F, 0, 0, 0] }).await);
    assert_eq!(id, [0x20, 0x18, 0, 0], "{id:02x?}");
    let none = data(link.call(Request::SpiTransfer { bus: 0, bytes: &[0x9F, 0] }).await);
    assert_eq!(none, [0, 0], "nothing on SPI1");

    assert_eq!(link.stats().bad_frames, 0, "{:?}", link.stats());
    let console = std::fs::read_to_string(&rest.console).unwrap();
    // A session the link opened again under load counts the same: the
    // board numbers each session it opens.
    let opened = console.lines().any(|l| l.starts_with("session ") && l.contains(" opened"));
    assert!(console.contains("serving BoardId(\"vld-1\") on USART1") && opened, "{console}");
    rest.qemu.kill();
}

#[tokio::test]
async fn a_board_provisioned_with_another_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let board = Board::boot(dir.path(), Some(&provisioning([1; 32]))).await;
    let e = board.attach(&provisioning(KEY)).await.err().unwrap();
    assert!(matches!(e, AttachError::BadProof), "{e:?}");
}

#[tokio::test]
async fn a_board_without_provisioning_says_why_and_serves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let board = Board::boot(dir.path(), None).await;
    let console = board.console_shows("not serving").await;
    assert!(console.contains("no provisioning: the page is blank"), "{console}");
    let Board { qemu: _qemu, link, .. } = board;
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let short = config().with_hello_deadline(Duration::from_millis(500));
    let e = wasmbed_attach::attach(link, &provisioning(KEY), &mut rng, short).await.err().unwrap();
    assert!(matches!(e, AttachError::Timeout(_)), "{e:?}");
}

#[tokio::test]
async fn a_board_killed_mid_call_fails_the_call_at_once_and_comes_back_when_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let p = provisioning(KEY);
    let (link, _events, mut rest) = Board::boot(dir.path(), Some(&p)).await.attach(&p).await.unwrap();
    assert!(matches!(link.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { .. })));

    // Freeze QEMU so the next call is in flight, then unplug the board.
    let pid = rest.qemu.id().to_string();
    assert!(Command::new("kill").args(["-s", "STOP", &pid]).status().unwrap().success());
    let call = {
        let link = link.clone();
        tokio::spawn(async move { link.call_within(Request::Uptime, Duration::from_secs(60)).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!call.is_finished(), "the frozen board cannot answer");
    let killed = Instant::now();
    rest.qemu.kill();
    let answer = tokio::time::timeout(Duration::from_secs(10), call).await.unwrap().unwrap();
    assert_eq!(answer, Err(LinkError::Disconnected));
    assert!(killed.elapsed() < Duration::from_secs(2), "promptly: {:?}", killed.elapsed());
    assert_eq!(link.call(Request::Uptime).await, Err(LinkError::Disconnected));

    // The board restarted: a new QEMU, a new stream, attached again.
    let (again, _events, rest) = Board::boot(dir.path(), Some(&p)).await.attach(&p).await.unwrap();
    assert!(matches!(again.call(Request::Uptime).await, Ok(OwnedResponse::Uptime { .. })));
    drop(rest);
}

/// What the gateway's services saw of a component: its log lines.
#[derive(Default)]
struct Logs(std::sync::Mutex<Vec<String>>);

impl wasmbed_edge::Services for Logs {
    fn now_ms(&self) -> i64 {
        0
    }
    fn log(&self, _app: &str, _level: wasmbed_edge::Level, line: &str) {
        self.0.lock().unwrap().push(line.to_string());
    }
    fn publish(&self, _: &str, _: &str, _: f64) -> Result<(), wasmbed_edge::EdgeError> {
        Ok(())
    }
    fn send(&self, _: &str, _: &str, _: &[u8]) -> Result<(), wasmbed_edge::EdgeError> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_on_the_gateway_drives_the_board_over_its_link() {
    use std::sync::Arc;
    use wasmbed_edge::{Capability, Grants, Limits, SlotState, Version};
    use wasmbed_gateway::edge::{EdgeDeploy, EdgeHost, LinkedBoard};

    let dir = tempfile::tempdir().unwrap();
    let p = provisioning(KEY);
    let (link, _events, mut rest) = Board::boot(dir.path(), Some(&p)).await.attach(&p).await.unwrap();
    let logs = Arc::new(Logs::default());
    let (host, _journal) = EdgeHost::new(Limits::default(), logs.clone()).unwrap();
    let deploy = |revision: u64| EdgeDeploy {
        app: "blink".into(),
        version: Version { revision, label: format!("v{revision}") },
        component: wasmbed_testkit::edge_component("vld-blink").into(),
        grants: Grants::of([Capability::Log, Capability::AttachedBoard]),
        config: Default::default(),
        board: Some(Arc::new(LinkedBoard::new(link.clone(), tokio::runtime::Handle::current()))),
        tick: Some(Duration::from_millis(50)),
        state: None,
        active: true,
    };
    host.deploy(deploy(1)).await.unwrap();

    // Its init greets on USART2: read at QEMU's side of USART2.
    let hello = b"hello from the edge\r\n";
    assert_eq!(read_exactly(&mut rest.uart, hello.len()).await, hello);
    // What arrives on USART2, its tick echoes back there.
    rest.uart.write_all(b"ping").await.unwrap();
    assert_eq!(read_exactly(&mut rest.uart, 4).await, b"ping");
    // Its LED pattern is walking: the board's shadow changes between ticks.
    let led0 = || async {
        match link.call(Request::LedGet { led: 0 }).await {
            Ok(OwnedResponse::Led { on, readback: Readback::Shadow, .. }) => on,
            other => panic!("{other:?}"),
        }
    };
    let first = led0().await;
    let until = Instant::now() + BOOT;
    while led0().await == first {
        assert!(Instant::now() < until, "LED 0 never changed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // Unplugged: the component sees error values and keeps running.
    rest.qemu.kill();
    let until = Instant::now() + BOOT;
    while !logs.0.lock().unwrap().iter().any(|l| l.contains("Unavailable")) {
        assert!(Instant::now() < until, "no error logged: {:?}", logs.0.lock().unwrap());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = host.status("blink").await.unwrap();
    assert_eq!(status.state, SlotState::Running(Version { revision: 1, label: "v1".into() }));
    // A new version cannot greet an unplugged board: its init fails and
    // the running version serves on.
    let e = host.deploy(deploy(2)).await.unwrap_err();
    assert!(e.to_string().contains("init failed"), "{e}");
    let status = host.status("blink").await.unwrap();
    assert_eq!(status.state, SlotState::Running(Version { revision: 1, label: "v1".into() }));
    host.remove("blink").await;
}
