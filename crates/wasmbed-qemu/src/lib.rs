//! QEMU devices: what it takes to start Wasmbed firmware in an emulated
//! Cortex-M board, as data and a command line.
//!
//! The identity bundle and a fresh per-boot seed are loaded into reserved
//! memory with `-device loader`, as a factory would program flash; the
//! serial console goes to a file the platform can stream. An attached
//! board (the stm32vldiscovery) gets its provisioning record the same way,
//! and its link UART is connected to its gateway's board-link listener.
//!
//! [`manager`] supervises one QEMU process per Device; [`image`] reads
//! firmware images and checks them against the board table.
//!
//! ```
//! let b = wasmbed_qemu::machine("mps2-an385").unwrap();
//! assert_eq!(b.qemu.machine, "mps2-an385");
//! assert!(wasmbed_qemu::machine("stm32vldiscovery").is_none(), "no agent firmware for it");
//! assert!(wasmbed_qemu::emulated("stm32vldiscovery").is_some(), "attached-board firmware");
//! ```

pub mod image;
pub mod manager;
pub mod qmp;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// First four bytes of a per-boot seed file (see the firmware runtime).
pub const BOOT_SEED_MAGIC: [u8; 4] = *b"WBSD";

pub use wasmbed_model::board_table::{Board, Transport};
use wasmbed_model::{AttachedPeripheral, SensorKind};
use wasmbed_protocol::Resource;

/// A board whose devices the platform runs in QEMU: one of the board
/// table's that runs the agent firmware.
pub fn machine(board: &str) -> Option<&'static Board> {
    wasmbed_model::board_table::board(board).filter(|b| b.agent().is_some())
}

/// A board whose devices the platform runs in QEMU with any of our
/// firmware: the agent boards ([`machine`]) and the attached boards.
pub fn emulated(board: &str) -> Option<&'static Board> {
    wasmbed_model::board_table::board(board).filter(|b| b.has_firmware())
}

/// Failures preparing a launch.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QemuError {
    /// A provisioning file could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A declared peripheral cannot be attached to this board in QEMU.
    #[error("peripheral {name} at {at}: {why}")]
    Unattachable {
        /// Its name.
        name: String,
        /// Where the spec puts it.
        at: String,
        /// Why not.
        why: String,
    },
    /// The QMP socket's path is longer than a Unix socket address holds.
    #[error("the QMP socket {} is {len} bytes long, more than a Unix socket path may be ({max}): use a shorter data directory", path.display())]
    SocketPathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// A QEMU device model for a sensor kind: what `-device` calls it, the
/// QOM property holding what it measures, and that property's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Model {
    device: &'static str,
    property: &'static str,
    /// Property units per unit of the kind (TMP105: milli-degrees C).
    scale: f64,
}

/// QEMU's model of each sensor kind (QEMU 10.0, `hw/sensor/`).
fn model(kind: SensorKind) -> Model {
    match kind {
        SensorKind::Tmp105 => Model { device: "tmp105", property: "temperature", scale: 1000.0 },
    }
}

/// A peripheral QEMU attaches to a board (`-device MODEL,bus=BUS,address=ADDR,id=NAME`),
/// checked against it: only made by [`QemuPeripheral::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct QemuPeripheral {
    name: String,
    model: Model,
    bus: &'static str,
    address: u8,
}

impl QemuPeripheral {
    /// `p` on `board`, if QEMU can attach it there: on an I2C bus QEMU's
    /// command line reaches. On the MPS2 boards that is bus 0, the SBCon
    /// QEMU names `i2c` (the bus created last; `i2c.0`-style names and QOM
    /// paths are refused), the only I2C bus the board table lists.
    pub fn new(board: &Board, p: &AttachedPeripheral) -> Result<Self, QemuError> {
        let refuse = |why: String| QemuError::Unattachable { name: p.name.clone(), at: p.at.clone(), why };
        let r = p.resource().map_err(refuse)?;
        let Resource::I2c { bus: 0, addr } = r else {
            return Err(refuse(format!("QEMU attaches a {} on I2C bus 0 only (i2c:0:ADDR)", p.kind)));
        };
        if !board.has(&r) {
            return Err(refuse(format!("board {} has no I2C bus 0", board.name)));
        }
        Ok(Self { name: p.name.clone(), model: model(p.kind), bus: "i2c", address: addr })
    }

    /// Its name (also its QEMU id).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where QMP finds it.
    pub fn qom_path(&self) -> String {
        format!("/machine/peripheral/{}", self.name)
    }

    /// The QOM property holding what it measures.
    pub fn property(&self) -> &'static str {
        self.model.property
    }

    /// A value in the kind's unit as QEMU's property takes it (TMP105:
    /// milli-degrees Celsius), rounded.
    pub fn to_qemu(&self, value: f64) -> i64 {
        // Values are checked against the kind's range first: far inside i64.
        (value * self.model.scale).round() as i64
    }

    /// The property's value in the kind's unit.
    pub fn from_qemu(&self, raw: i64) -> f64 {
        raw as f64 / self.model.scale
    }

    fn device_arg(&self) -> String {
        format!("{},bus={},address={:#04x},id={}", self.model.device, self.bus, self.address, self.name)
    }
}

/// Longest path a Unix socket address holds (`sun_path`, less its NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// `path` if it fits in a Unix socket address.
pub fn socket_path(path: &Path) -> Result<&Path, QemuError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(QemuError::SocketPathTooLong { path: path.to_path_buf(), len, max: MAX_SOCKET_PATH });
    }
    Ok(path)
}

/// A path as one value of a QEMU option list (commas doubled).
fn option_value(path: &Path) -> String {
    path.display().to_string().replace(',', ",,")
}

/// Writes a per-boot seed file, readable only by its owner: magic, 32 seed
/// bytes, and the host's Unix time in ms (little-endian u64) — the boards
/// have no clock of their own and must check certificate validity.
pub fn write_boot_seed(path: &Path, seed: [u8; 32], unix_ms: u64) -> Result<(), QemuError> {
    let mut bytes = Vec::with_capacity(44);
    bytes.extend_from_slice(&BOOT_SEED_MAGIC);
    bytes.extend_from_slice(&seed);
    bytes.extend_from_slice(&unix_ms.to_le_bytes());
    write_private(path, &bytes)
}

/// Writes a file only its owner may read (an identity bundle, a seed, a
/// token), replacing any previous one whole. A new file in the same folder
/// is renamed over `path`: opening an existing file with a mode keeps its
/// old mode, so a bundle written over a 0644 file would stay readable.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), QemuError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QemuError::Io { path, source }
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(&tmp)(e)),
        _ => {}
    }
    // `create_new`: never through a symlink or into a file someone else opened.
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp).map_err(io(&tmp))?;
    // The umask can only clear bits; set the exact mode before any byte.
    let written = f
        .set_permissions(std::fs::Permissions::from_mode(0o600))
        .and_then(|()| f.write_all(bytes))
        .and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(path)(e));
    }
    Ok(())
}

/// One QEMU run of a firmware image.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Board.
    pub board: &'static Board,
    /// Firmware ELF.
    pub kernel: PathBuf,
    /// Identity bundle file (an agent board) or provisioning record (an
    /// attached board), if provisioned.
    pub bundle: Option<PathBuf>,
    /// Per-boot seed file, if any.
    pub seed: Option<PathBuf>,
    /// File the serial console is written to.
    pub console: PathBuf,
    /// Ethernet MAC on QEMU user networking; `None` for no network.
    pub mac: Option<String>,
    /// The gateways' ports on the host's 127.0.0.1, all the device may
    /// reach. A UART board's QEMU dials the first; an Ethernet board
    /// reaches each as 10.0.2.2 at the same port, and nothing else. For an
    /// attached board: its gateway's board-link listener.
    pub gateway_ports: Vec<u16>,
    /// Peripherals attached to the board.
    pub peripherals: Vec<QemuPeripheral>,
    /// A QMP socket QEMU listens on (see [`qmp`]), for the platform to set
    /// sensors and read memory while the device runs.
    pub qmp: Option<PathBuf>,
    /// Start with the CPU stopped (`-S`), so a QMP client can set up the
    /// world before the firmware's first instruction and then `cont`.
    pub paused: bool,
    /// A folder where each serial port the board gives apps (`uart:N`)
    /// becomes a Unix socket QEMU listens on, `uart<N>.sock`: the far end
    /// of the port, for whatever the device is wired to (and for tests).
    /// `None`: those ports are connected to nothing.
    pub app_uarts: Option<PathBuf>,
}

/// The program QEMU runs for each connection a device opens to a gateway
/// (see [`user_network`]): it carries the connection's bytes to the
/// host's port and back, and ends when either side closes.
pub const RELAY: &str = "socat";

/// QEMU user networking for a device that may reach the gateways at
/// `ports` and nothing else. `restrict=on` drops every packet to the host
/// or beyond; each gateway is a `guestfwd` on 10.0.2.2 (moved off the
/// host address, which QEMU requires for a forward there) running one
/// [`RELAY`] per connection. (A `guestfwd` to a chardev instead would be
/// one host connection for QEMU's whole life: a device that reconnects
/// would reach nothing.)
pub fn user_network(mac: &str, ports: &[u16]) -> String {
    let mut nic = format!("user,model=lan9118,mac={mac},restrict=on,host=10.0.2.254");
    for port in ports {
        // No comma in the command: QEMU would take it for the next option.
        nic.push_str(&format!(",guestfwd=tcp:10.0.2.2:{port}-cmd:{RELAY} STDIO TCP:127.0.0.1:{port}"));
    }
    nic
}

/// The socket the far end of app serial port `port` is, in `dir` (see
/// [`Launch::app_uarts`]).
pub fn app_uart_socket(dir: &Path, port: u8) -> PathBuf {
    dir.join(format!("uart{port}.sock"))
}

/// A locally administered unicast MAC derived from a device id, so every
/// device on a host gets its own (QEMU's default is the same for all).
pub fn mac_for(device_id: &str) -> String {
    // FNV-1a: stable across runs and platforms.
    let mut h: u32 = 0x811c_9dc5;
    for b in device_id.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let [a, b, c, d] = h.to_be_bytes();
    format!("52:54:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

impl Launch {
    /// The `qemu-system-arm` command. Callers run it in its own process group
    /// and under a timeout: firmware never exits on its own.
    pub fn command(&self) -> Command {
        if let Some(layout) = self.board.attached() {
            return self.attached_command(layout);
        }
        let mut c = Command::new("qemu-system-arm");
        c.args(["-M", self.board.qemu.machine, "-display", "none", "-monitor", "none", "-nodefaults"]);
        c.args(self.board.qemu.args);
        let transport = self.board.transport();
        match (&self.mac, transport) {
            (Some(mac), Some(Transport::Ethernet)) => c.arg("-nic").arg(user_network(mac, &self.gateway_ports)),
            _ => c.args(["-nic", "none"]),
        };
        // Appended, so restarts keep the history. No `-no-reboot`: a
        // firmware reset (watchdog, panic, terminal `reboot`) resets the
        // board in place as hardware does, keeping the RAM the firmware's
        // crash journal lives in (a fresh QEMU would lose it); the firmware
        // mixes its reset count into the boot seed it reads again.
        c.arg("-chardev").arg(format!("file,id=console,path={},append=on", self.console.display()));
        c.args(["-serial", "chardev:console"]);
        if let (Some(port), Some(Transport::Uart)) = (self.gateway_ports.first(), transport) {
            // The second serial port is the link; QEMU redials if the
            // gateway drops the connection.
            c.arg("-chardev").arg(format!("socket,id=link,host=127.0.0.1,port={port},reconnect-ms=1000"));
            c.args(["-serial", "chardev:link"]);
        }
        if let Some(dir) = &self.app_uarts {
            // QEMU numbers serial ports by their order on the command line:
            // fill the ones before each app port with nothing.
            let mut next = if !self.gateway_ports.is_empty() && transport == Some(Transport::Uart) { 2 } else { 1 };
            let mut ports: Vec<u8> = self.board.app_uart_ports().collect();
            ports.sort_unstable();
            let first = next;
            for port in ports.into_iter().filter(|p| *p >= first) {
                for _ in next..port {
                    c.args(["-serial", "null"]);
                }
                let sock = option_value(&app_uart_socket(dir, port));
                c.arg("-chardev").arg(format!("socket,id=uart{port},path={sock},server=on,wait=off"));
                c.arg("-serial").arg(format!("chardev:uart{port}"));
                next = port + 1;
            }
        }
        c.arg("-kernel").arg(&self.kernel);
        let loader = |file: &Path, addr: u32| format!("loader,file={},addr={addr:#x},force-raw=on", file.display());
        if let Some(layout) = self.board.agent() {
            if let Some(b) = &self.bundle {
                c.arg("-device").arg(loader(b, layout.bundle.start));
            }
            if let Some(s) = &self.seed {
                c.arg("-device").arg(loader(s, layout.boot_seed));
            }
        }
        self.finish(&mut c);
        c
    }

    /// What every board's command ends with: peripherals, QMP, held CPU.
    fn finish(&self, c: &mut Command) {
        for p in &self.peripherals {
            c.arg("-device").arg(p.device_arg());
        }
        if let Some(q) = &self.qmp {
            c.arg("-qmp").arg(format!("unix:{},server=on,wait=off", option_value(q)));
        }
        if self.paused {
            c.arg("-S");
        }
    }

    /// An attached board: every serial port by its index in the table
    /// (the console to its file, the link to the gateway's board-link
    /// listener, app ports to sockets or nothing), no network, and the
    /// provisioning record loaded into its flash page.
    fn attached_command(&self, layout: &wasmbed_model::board_table::AttachedLayout) -> Command {
        let mut c = Command::new("qemu-system-arm");
        c.args(["-M", self.board.qemu.machine, "-display", "none", "-monitor", "none", "-nodefaults"]);
        c.args(self.board.qemu.args);
        c.args(["-nic", "none"]);
        let app_ports: Vec<u8> = self.board.app_uart_ports().collect();
        let last = app_ports.iter().chain([&layout.link_port, &layout.console_port]).copied().max().unwrap_or(0);
        let mut serial = vec![String::from("null"); usize::from(last) + 1];
        c.arg("-chardev").arg(format!("file,id=console,path={},append=on", self.console.display()));
        serial[usize::from(layout.console_port)] = "chardev:console".into();
        if let Some(port) = self.gateway_ports.first() {
            // QEMU redials when the gateway drops the link (a refused
            // board, a gateway restart).
            c.arg("-chardev").arg(format!("socket,id=link,host=127.0.0.1,port={port},reconnect-ms=1000"));
            serial[usize::from(layout.link_port)] = "chardev:link".into();
        }
        if let Some(dir) = &self.app_uarts {
            for port in app_ports {
                let sock = option_value(&app_uart_socket(dir, port));
                c.arg("-chardev").arg(format!("socket,id=uart{port},path={sock},server=on,wait=off"));
                serial[usize::from(port)] = format!("chardev:uart{port}");
            }
        }
        for s in &serial {
            c.arg("-serial").arg(s);
        }
        c.arg("-kernel").arg(&self.kernel);
        if let Some(record) = &self.bundle {
            let at = layout.provisioning.start;
            c.arg("-device").arg(format!("loader,file={},addr={at:#x},force-raw=on", record.display()));
        }
        self.finish(&mut c);
        c
    }
}

/// The firmware ELF for `board` from this source tree, built if needed
/// (`cargo build --release` in `firmware/boards/wasmbed-fw-<board>`). Tests
/// and benchmarks use it; `WASMBED_FIRMWARE_DIR` points at prebuilt images.
pub fn firmware_from_source(board: &str) -> Result<PathBuf, String> {
    let b = wasmbed_model::board_table::board(board)
        .filter(|b| b.has_firmware())
        .ok_or_else(|| format!("no firmware for board {board}"))?;
    let name = b.image_name().to_string();
    image_from_source(&format!("boards/{name}"), &name, b.target)
}

/// Any image of the firmware workspace (`firmware/<folder>`, binary `name`),
/// prebuilt in `WASMBED_FIRMWARE_DIR` or built here.
pub fn image_from_source(folder: &str, name: &str, triple: &str) -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("WASMBED_FIRMWARE_DIR") {
        let p = Path::new(&dir).join(name);
        return if p.is_file() { Ok(p) } else { Err(format!("{} is missing", p.display())) };
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--locked", "--quiet"])
        .current_dir(root.join("firmware").join(folder))
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building firmware/{folder} failed"));
    }
    Ok(root.join("firmware/target").join(triple).join("release").join(name))
}

/// A child leading its own process group, tied to this process: the whole
/// group is killed on drop, and also when this process dies without
/// dropping it (SIGKILL, SIGTERM, a panic that aborts). QEMU, `wasmbed up`
/// started by a test or a benchmark, and anything they start in their
/// group never outlive their owner.
///
/// The tie is a watchdog in the child's group: a `sh` that blocks reading
/// a pipe only this process can write to. When this process ends, for any
/// reason, the kernel closes the pipe, the read returns, and the watchdog
/// kills the group. (`prctl(PR_SET_PDEATHSIG)` would fire when the
/// spawning *thread* ends, and reaches the child only, not what it
/// started.) While the watchdog lives, the group's id cannot be reused.
#[derive(Debug)]
pub struct ProcessGroup {
    child: Child,
    watchdog: Child,
    /// Held, never written: its closing is the signal.
    _tie: std::process::ChildStdin,
    killed: bool,
}

/// Waits for end of input (this process gone), then kills the group `$1`.
const WATCHDOG: &str = "read -r _; kill -KILL -\"$1\"";

impl ProcessGroup {
    /// Spawns `cmd` as the leader of a new process group, tied to this
    /// process (see [`ProcessGroup`]).
    pub fn spawn(cmd: &mut Command) -> std::io::Result<Self> {
        let mut child = cmd.process_group(0).spawn()?;
        let pgid = child.id();
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "wasmbed-watchdog", &pgid.to_string()])
            .process_group(pgid as i32)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut watchdog = match watchdog {
            Ok(w) => w,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let Some(tie) = watchdog.stdin.take() else {
            Self::kill_group(pgid);
            let _ = child.wait();
            let _ = watchdog.wait();
            return Err(std::io::Error::other("the watchdog has no stdin"));
        };
        Ok(Self { child, watchdog, _tie: tie, killed: false })
    }

    /// The leader's pid (also the group id).
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The leader, e.g. to take its stdout.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// SIGKILLs the whole group and reaps the leader (idempotent).
    pub fn kill(&mut self) {
        if std::mem::replace(&mut self.killed, true) {
            return;
        }
        Self::kill_group(self.child.id());
        let _ = self.child.wait();
        let _ = self.watchdog.wait();
    }

    /// `kill` the command: sending to a group needs no unsafe code here.
    fn kill_group(pgid: u32) {
        let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{pgid}")]).stderr(Stdio::null()).status();
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_loads_bundle_and_seed_at_the_board_addresses() {
        let l = Launch {
            board: machine("mps2-an385").unwrap(),
            kernel: "fw.elf".into(),
            bundle: Some("b.bin".into()),
            seed: Some("s.bin".into()),
            console: "c.log".into(),
            mac: Some(mac_for("dev-1")),
            gateway_ports: Vec::new(),
            peripherals: Vec::new(),
            qmp: None,
            paused: false,
            app_uarts: None,
        };
        let args: Vec<String> = l.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(!joined.contains("-qmp") && !joined.contains("-S") && !joined.contains("tmp105"), "{joined}");
        assert!(joined.contains("loader,file=b.bin,addr=0x21000000,force-raw=on"), "{joined}");
        assert!(joined.contains("loader,file=s.bin,addr=0x21004000,force-raw=on"), "{joined}");
        assert!(joined.contains("file,id=console,path=c.log,append=on") && !joined.contains("-no-reboot"), "{joined}");
        // Without gateways, restricted and forwarding nothing: the device reaches nobody.
        assert!(joined.contains("-nic user,model=lan9118,mac=52:54:"), "{joined}");
        assert!(joined.contains(",restrict=on,") && !joined.contains("guestfwd"), "{joined}");
        assert!(machine("stm32vldiscovery").is_none());
        assert_ne!(mac_for("a"), mac_for("b"));
    }

    #[test]
    fn an_ethernet_device_reaches_its_gateways_and_nothing_else() {
        let nic = user_network("52:54:00:00:00:01", &[4443, 5000]);
        assert_eq!(
            nic,
            "user,model=lan9118,mac=52:54:00:00:00:01,restrict=on,host=10.0.2.254,\
             guestfwd=tcp:10.0.2.2:4443-cmd:socat STDIO TCP:127.0.0.1:4443,\
             guestfwd=tcp:10.0.2.2:5000-cmd:socat STDIO TCP:127.0.0.1:5000"
        );
    }

    fn tmp105(at: &str) -> AttachedPeripheral {
        AttachedPeripheral { name: "temp0".into(), kind: SensorKind::Tmp105, at: at.into(), initial: None }
    }

    #[test]
    fn sensors_and_a_qmp_socket_are_on_the_command_line() {
        let board = machine("mps2-an385").unwrap();
        let p = QemuPeripheral::new(board, &tmp105("i2c:0:72")).unwrap();
        assert_eq!(p.qom_path(), "/machine/peripheral/temp0");
        assert_eq!((p.to_qemu(31.5), p.from_qemu(31_500)), (31_500, 31.5));
        let l = Launch {
            board,
            kernel: "fw.elf".into(),
            bundle: None,
            seed: None,
            console: "c.log".into(),
            mac: None,
            gateway_ports: Vec::new(),
            peripherals: vec![p],
            qmp: Some("/run/a,b/qmp.sock".into()),
            paused: true,
            app_uarts: None,
        };
        let args: Vec<String> = l.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert!(joined.contains("-device tmp105,bus=i2c,address=0x48,id=temp0"), "{joined}");
        assert!(joined.contains("-qmp unix:/run/a,,b/qmp.sock,server=on,wait=off"), "{joined}");
        assert!(args.iter().any(|a| a == "-S"), "{joined}");
    }

    #[test]
    fn app_serial_ports_are_sockets_after_the_console_and_the_link() {
        let serials = |board: &str, gateway_ports: Vec<u16>| -> Vec<String> {
            let l = Launch {
                board: machine(board).unwrap(),
                kernel: "fw.elf".into(),
                bundle: None,
                seed: None,
                console: "c.log".into(),
                mac: None,
                gateway_ports,
                peripherals: Vec::new(),
                qmp: None,
                paused: false,
                app_uarts: Some("/d".into()),
            };
            let args: Vec<String> = l.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
            args.windows(2).filter(|w| w[0] == "-serial").map(|w| w[1].clone()).collect()
        };
        // MPS2: the link is Ethernet; UART1-4 are ports 1-4.
        assert_eq!(
            serials("mps2-an385", vec![]),
            ["chardev:console", "chardev:uart1", "chardev:uart2", "chardev:uart3", "chardev:uart4"]
        );
        // Olimex: USART1 is the console, USART2 the link, USART3 port 2.
        assert_eq!(serials("olimex-stm32-h405", vec![4443]), ["chardev:console", "chardev:link", "chardev:uart2"]);
        assert_eq!(app_uart_socket(Path::new("/d"), 2), Path::new("/d/uart2.sock"));
    }

    #[test]
    fn an_attached_board_is_cabled_to_its_gateway_and_provisioned_in_its_flash_page() {
        let board = emulated("stm32vldiscovery").unwrap();
        let layout = board.attached().unwrap();
        let l = Launch {
            board,
            kernel: "fw.elf".into(),
            bundle: Some("p.bin".into()),
            seed: None,
            console: "c.log".into(),
            mac: None,
            gateway_ports: vec![4999],
            peripherals: Vec::new(),
            qmp: None,
            paused: false,
            app_uarts: Some("/d".into()),
        };
        let args: Vec<String> = l.command().get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        let serials: Vec<&str> = args.windows(2).filter(|w| w[0] == "-serial").map(|w| w[1].as_str()).collect();
        let mut want = vec!["null"; 3];
        want[usize::from(layout.link_port)] = "chardev:link";
        want[usize::from(layout.console_port)] = "chardev:console";
        want[1] = "chardev:uart1";
        assert_eq!(serials, want, "{joined}");
        assert!(joined.contains("socket,id=link,host=127.0.0.1,port=4999,reconnect-ms=1000"), "{joined}");
        assert!(joined.contains("-nic none") && !joined.contains("lan9118"), "{joined}");
        let at = layout.provisioning.start;
        assert!(joined.contains(&format!("loader,file=p.bin,addr={at:#x},force-raw=on")), "{joined}");
        assert_eq!(joined.matches("loader").count(), 1, "no boot seed: {joined}");
        assert!(emulated("mps2-an385").is_some() && machine("stm32vldiscovery").is_none());
    }

    #[test]
    fn peripherals_qemu_cannot_attach_are_refused() {
        let olimex = machine("olimex-stm32-h405").unwrap();
        let e = QemuPeripheral::new(olimex, &tmp105("i2c:0:0x48")).unwrap_err();
        assert!(e.to_string().contains("no I2C bus 0"), "{e}");
        let an385 = machine("mps2-an385").unwrap();
        for at in ["i2c:1:0x48", "spi:0", "nonsense"] {
            let e = QemuPeripheral::new(an385, &tmp105(at)).unwrap_err();
            assert!(e.to_string().starts_with(&format!("peripheral temp0 at {at}: ")), "{e}");
        }
        assert!(socket_path(Path::new(&"d/".repeat(60))).is_err());
        assert!(socket_path(Path::new("/tmp/x/qmp.sock")).is_ok());
    }

    #[test]
    fn seed_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("seed.bin");
        write_boot_seed(&p, [3; 32], 1).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        assert_eq!(&bytes[..4], b"WBSD");
        assert_eq!(bytes.len(), 44);
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(write_boot_seed(&dir.path().join("missing/dir/seed.bin"), [0; 32], 1).is_err());
    }

    #[test]
    fn a_private_file_written_over_a_readable_one_ends_up_0600() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let (bundle, seed) = (dir.path().join("bundle.bin"), dir.path().join("seed.bin"));
        for p in [&bundle, &seed] {
            std::fs::write(p, b"an older, longer file left readable by all").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        // A temp file left by a crash, readable by all, is not reused.
        std::fs::write(dir.path().join("bundle.bin.tmp"), b"stale").unwrap();
        std::fs::set_permissions(dir.path().join("bundle.bin.tmp"), std::fs::Permissions::from_mode(0o666)).unwrap();
        write_private(&bundle, b"key").unwrap();
        write_boot_seed(&seed, [3; 32], 1).unwrap();
        assert_eq!((mode(&bundle), mode(&seed)), (0o600, 0o600));
        assert_eq!(std::fs::read(&bundle).unwrap(), b"key");
        assert_eq!(std::fs::read(&seed).unwrap().len(), 44);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "no temp file left: {left:?}");
    }

    #[test]
    fn a_process_group_dies_with_its_children() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let script = format!("sleep 300 & echo $! > {}; wait", pidfile.display());
        let group = ProcessGroup::spawn(Command::new("sh").args(["-c", &script])).unwrap();
        let mut waited = 0;
        while !pidfile.exists() && waited < 100 {
            std::thread::sleep(std::time::Duration::from_millis(20));
            waited += 1;
        }
        let grandchild = std::fs::read_to_string(&pidfile).unwrap().trim().to_string();
        drop(group);
        std::thread::sleep(std::time::Duration::from_millis(100));
        let alive = Path::new(&format!("/proc/{grandchild}")).exists()
            && !std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default().contains(") Z ");
        assert!(!alive, "the grandchild {grandchild} outlived its group");
    }
}
