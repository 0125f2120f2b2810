//! The board table: one place for every fact about a board.
//!
//! The firmware builds its image from it (addresses, clocks, the link, the
//! linker's memory map), the QEMU manager starts the board from it
//! (machine, flags, where the bundle and boot seed are loaded), xtask
//! builds for its Rust target, and the model lists it to users. Facts were
//! read off QEMU 10.0's own monitor (`info mtree -f`, `info qtree`); see
//! `shared/BOARDS.md`. What each board offers apps (LEDs, I2C, SPI, ADC,
//! serial ports) is its list of [`Peripheral`]s; whether it has what a
//! grant names is [`Board::has`], the one place that rule lives. What its
//! apps may hold is [`Board::module_budget`], sized from its heap (the
//! simulator's is [`SIM_BUDGET`]).
//!
//! A board runs one of two things ([`Role`]): the agent firmware, which
//! holds a TLS session and runs WebAssembly apps itself ([`Board::agent`]),
//! or, when it is too small for that, firmware that serves its peripherals
//! over a wire to its gateway, where its apps run ([`Board::attached`]).
//!
//! ```
//! let b = wasmbed_boards::board("mps2-an385").unwrap();
//! assert_eq!(b.target, "thumbv7m-none-eabi");
//! assert_eq!(b.qemu.machine, "mps2-an385");
//! assert!(b.agent().is_some());
//! let vl = wasmbed_boards::board("stm32vldiscovery").unwrap();
//! assert!(vl.agent().is_none() && vl.attached().is_some());
//! let budget = wasmbed_boards::MPS2_AN385.module_budget().unwrap();
//! assert!(budget.globals < 19_800);
//! ```
//!
//! Without the default `platform` feature the crate needs no allocator
//! (firmware of attached boards has none): the facts stay, the grant
//! checks and module budgets go.
#![no_std]

#[cfg(feature = "platform")]
extern crate alloc;

mod peripherals;
mod table;

pub use peripherals::{Peripheral, Provides};
#[cfg(feature = "platform")]
pub use peripherals::{SIM_PERIPHERALS, describe, peripherals_have};

pub use table::{BOARDS, MPS2_AN385, MPS2_AN386, MPS2_AN500, MPS2_AN505, OLIMEX_STM32_H405, STM32VLDISCOVERY};
#[cfg(feature = "platform")]
pub use wasmbed_protocol::ModuleBudget;

/// The heap a simulated device has.
#[cfg(feature = "platform")]
pub const SIM_HEAP_BYTES: usize = ModuleBudget::DEFAULT_HEAP;
/// What apps may hold on a simulated device.
#[cfg(feature = "platform")]
pub const SIM_BUDGET: ModuleBudget = ModuleBudget::for_heap(SIM_HEAP_BYTES);

/// Whether two board names are equal, in a constant: an image checks at
/// compile time that the board it was given is the one it links for.
pub const fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A board name as the bytes of a fixed-size static: what an image keeps
/// in its `.wasmbed.board` section for the host's image check.
pub const fn name_bytes<const N: usize>(name: &str) -> [u8; N] {
    let mut out = [0; N];
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < N && i < bytes.len() {
        out[i] = bytes[i];
        i += 1;
    }
    out
}

/// Everything the platform knows about one board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// Name as users and the platform say it (also QEMU's `-M` value).
    pub name: &'static str,
    /// The core.
    pub cpu: Cpu,
    /// The Rust target its images are built for.
    pub target: &'static str,
    /// How QEMU emulates it.
    pub qemu: Qemu,
    /// Core clock, for the SysTick reload.
    pub core_hz: u32,
    /// The memory an image is linked into.
    pub memory: MemoryMap,
    /// The console UART.
    pub console: Uart,
    /// Register bits to set before anything else (clock gates): `(address, mask)`.
    pub clock_enables: &'static [(u32, u32)],
    /// Peripherals apps can be granted (as QEMU emulates them; nothing
    /// QEMU lacks, and never the console or the link).
    pub peripherals: &'static [Peripheral],
    /// What the board runs.
    pub role: Role,
}

/// A Cortex-M core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpu {
    /// Armv7-M.
    CortexM3,
    /// Armv7E-M with a single-precision FPU.
    CortexM4F,
    /// Armv7E-M with an FPU.
    CortexM7F,
    /// Armv8-M Mainline (TrustZone; we stay Secure-only).
    CortexM33,
}

impl Cpu {
    /// The core's name, as data sheets write it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::CortexM3 => "Cortex-M3",
            Self::CortexM4F => "Cortex-M4F",
            Self::CortexM7F => "Cortex-M7F",
            Self::CortexM33 => "Cortex-M33",
        }
    }

    /// How `arm-none-eabi-gcc` targets this core for native app code: the
    /// float ABI the board's Rust target uses (the device calls the code
    /// and the code calls back), and the FPU the firmware switches on.
    pub const fn gcc_flags(self) -> &'static [&'static str] {
        match self {
            Self::CortexM3 => &["-mcpu=cortex-m3", "-mthumb", "-mfloat-abi=soft"],
            Self::CortexM4F => &["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"],
            Self::CortexM7F => &["-mcpu=cortex-m7", "-mthumb", "-mfpu=fpv5-sp-d16", "-mfloat-abi=hard"],
            Self::CortexM33 => &["-mcpu=cortex-m33+nofp", "-mthumb", "-mfloat-abi=soft"],
        }
    }

    /// The core's memory protection unit, which confines native app code's
    /// accesses to its linear memory in hardware.
    pub const fn mpu(self) -> Mpu {
        match self {
            Self::CortexM3 | Self::CortexM4F | Self::CortexM7F => Mpu::Pmsav7,
            Self::CortexM33 => Mpu::Pmsav8,
        }
    }
}

/// The architecture of a core's memory protection unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mpu {
    /// Armv7-M's PMSAv7: each region a power of two in size, aligned to
    /// it, in eight subregions that can each be left out.
    Pmsav7,
    /// Armv8-M's PMSAv8: each region a base and a limit, 32-byte aligned.
    Pmsav8,
}

/// QEMU's emulation of a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Qemu {
    /// The `-M` value.
    pub machine: &'static str,
    /// Flags this machine needs beyond the usual ones.
    pub args: &'static [&'static str],
}

/// An address range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub start: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Region {
    /// A region.
    pub const fn new(start: u32, len: u32) -> Self {
        Self { start, len }
    }

    /// One past the last byte (computed in 64 bits: a region may end at 4 GiB).
    pub const fn end(self) -> u64 {
        self.start as u64 + self.len as u64
    }

    /// Whether `other` lies wholly inside this region.
    pub const fn contains(self, other: Region) -> bool {
        other.start >= self.start && other.end() <= self.end()
    }

    /// Whether the two share a byte.
    pub const fn overlaps(self, other: Region) -> bool {
        (self.start as u64) < other.end() && (other.start as u64) < self.end()
    }
}

/// The memory an image is linked into (the linker's `MEMORY`): what the
/// host loads provisioning into is left out of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryMap {
    /// Code and read-only data (`FLASH`); where the vector table sits.
    pub flash: Region,
    /// `.data`, `.bss`, the heap and, without [`stack`](Self::stack), the stack.
    pub ram: Region,
    /// A separate stack region (STM32's core-coupled RAM), if used.
    pub stack: Option<Region>,
}

impl MemoryMap {
    /// The `memory.x` cortex-m-rt links with.
    pub fn write_memory_x(&self, board: &str, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(out, "/* {board}: generated from the board table (crates/wasmbed-boards). */")?;
        writeln!(out, "MEMORY\n{{")?;
        writeln!(out, "  FLASH : ORIGIN = {:#010x}, LENGTH = {:#x}", self.flash.start, self.flash.len)?;
        writeln!(out, "  RAM   : ORIGIN = {:#010x}, LENGTH = {:#x}", self.ram.start, self.ram.len)?;
        if let Some(s) = self.stack {
            writeln!(out, "  STACK : ORIGIN = {:#010x}, LENGTH = {:#x}", s.start, s.len)?;
        }
        writeln!(out, "}}")?;
        if self.stack.is_some() {
            writeln!(out, "_stack_start = ORIGIN(STACK) + LENGTH(STACK);")?;
            writeln!(out, "_stack_end = ORIGIN(STACK);")?;
        }
        Ok(())
    }
}

/// A serial port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uart {
    /// ARM CMSDK APB UART at this address (MPS2 boards).
    Cmsdk(u32),
    /// STM32 USART at this address, clocked at `pclk_hz`.
    Stm32 {
        /// Base address.
        base: u32,
        /// Its peripheral clock.
        pclk_hz: u32,
    },
}

/// How the firmware reaches the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// LAN9118 Ethernet on QEMU user networking: the device dials 10.0.2.2,
    /// the host's loopback as seen from inside.
    Lan9118 {
        /// Controller base address.
        base: u32,
    },
    /// A UART that QEMU connects to the gateway's TCP port on 127.0.0.1;
    /// TLS runs directly over the byte stream.
    Uart(Uart),
}

/// The two ways a device reaches its gateway, as the platform sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Ethernet on QEMU user networking.
    Ethernet,
    /// A UART carried to the gateway's TCP port.
    Uart,
}

impl Link {
    /// The transport this link is.
    pub const fn transport(self) -> Transport {
        match self {
            Self::Lan9118 { .. } => Transport::Ethernet,
            Self::Uart(_) => Transport::Uart,
        }
    }
}

/// The address the firmware takes on QEMU user networking.
pub const DEVICE_IP: [u8; 4] = [10, 0, 2, 15];
/// The host's loopback as QEMU user networking shows it: the only gateway
/// address an emulated device is ever given.
pub const HOST_FROM_GUEST: [u8; 4] = [10, 0, 2, 2];

/// What a board runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Our firmware with the device agent: it holds a TLS session and runs
    /// WebAssembly apps.
    Agent(AgentLayout),
    /// Too small for the agent: our firmware serves the board's
    /// peripherals over a serial link (`wasmbed-boardlink`) to its gateway,
    /// where its apps run as edge components.
    Attached(AttachedLayout),
    /// Not (yet) something a device can be created for; why, and the plan.
    Unsupported(&'static str),
}

/// What the firmware of an attached board serves, and where the host
/// provisions it.
///
/// The board's LEDs, SPI buses and app UARTs are its
/// [`peripherals`](Board::peripherals), as on agent boards; the console is
/// [`Board::console`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttachedLayout {
    /// The UART carrying the board link; QEMU carries it to the gateway as
    /// a TCP byte stream.
    pub link: Uart,
    /// QEMU's index of the link UART (its `-serial` N).
    pub link_port: u8,
    /// QEMU's index of the console UART ([`Board::console`]).
    pub console_port: u8,
    /// Where the host loads the board's provisioning (its id and link key,
    /// `wasmbed_boardlink::Provisioning`): outside the linked memory, as a
    /// factory would program it.
    pub provisioning: Region,
    /// Timers the firmware runs for the gateway (`TimerStart`), counted off
    /// its SysTick.
    pub timers: u8,
}

/// Where the agent firmware keeps what the host provisions, and its heap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentLayout {
    /// The way to the gateway.
    pub link: Link,
    /// Where the host loads the identity bundle, and its largest size.
    pub bundle: Region,
    /// Where the host loads the per-boot seed and time.
    pub boot_seed: u32,
    /// The allocator's arena: modules, their linear memory, buffers.
    pub heap_bytes: usize,
    /// The hardware watchdog the firmware arms, where QEMU emulates one.
    pub watchdog: Option<Watchdog>,
    /// The longest one call into an app may take (the agent's per-call
    /// deadline); below the watchdog's [`Watchdog::warning_ms`], so a call
    /// that returns late fails its app before the board would reset.
    pub call_deadline_ms: u32,
}

/// A hardware watchdog: unfed for [`warning_ms`](Self::warning_ms) it warns
/// (the firmware records why the board is about to reset), unfed as long
/// again it resets the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watchdog {
    /// ARM CMSDK APB watchdog at `base`, counting at `clock_hz`; its
    /// interrupt is the NMI.
    Cmsdk {
        /// Register block.
        base: u32,
        /// WDOGCLK.
        clock_hz: u32,
    },
}

impl Watchdog {
    /// Unfed this long, the watchdog warns; as long again, it resets. Long
    /// enough for the slowest step of the main loop (a TLS handshake's
    /// signature checks on a 25 MHz core).
    pub const fn warning_ms(&self) -> u32 {
        4_000
    }
}

/// Bytes reserved for the per-boot seed and time at
/// [`AgentLayout::boot_seed`]: the file is 44 bytes; the rest is room to grow.
pub const BOOT_SEED_SLOT: u32 = 256;

impl AgentLayout {
    /// The slot the host loads the per-boot seed and time into.
    pub const fn boot_seed_slot(&self) -> Region {
        Region::new(self.boot_seed, BOOT_SEED_SLOT)
    }
}

impl Board {
    /// The agent firmware's layout, when the board runs it.
    pub const fn agent(&self) -> Option<&AgentLayout> {
        match &self.role {
            Role::Agent(a) => Some(a),
            Role::Attached(_) | Role::Unsupported(_) => None,
        }
    }

    /// The attached firmware's layout, when the board runs it.
    pub const fn attached(&self) -> Option<&AttachedLayout> {
        match &self.role {
            Role::Attached(a) => Some(a),
            Role::Agent(_) | Role::Unsupported(_) => None,
        }
    }

    /// Whether Wasmbed has firmware for the board (agent or attached).
    pub const fn has_firmware(&self) -> bool {
        !matches!(self.role, Role::Unsupported(_))
    }

    /// What apps may hold on this board, sized from its agent's heap; `None`
    /// when it runs no agent.
    #[cfg(feature = "platform")]
    pub const fn module_budget(&self) -> Option<ModuleBudget> {
        match &self.role {
            Role::Agent(a) => Some(ModuleBudget::for_heap(a.heap_bytes)),
            Role::Attached(_) | Role::Unsupported(_) => None,
        }
    }

    /// Why devices of this board cannot be created, if they cannot. An
    /// attached board can: its gateway attaches it and runs its apps.
    pub const fn unsupported(&self) -> Option<&'static str> {
        match self.role {
            Role::Agent(_) | Role::Attached(_) => None,
            Role::Unsupported(why) => Some(why),
        }
    }

    /// How its devices reach the gateway, when they do (an attached board's
    /// link is a UART carried to the gateway's TCP port).
    pub const fn transport(&self) -> Option<Transport> {
        match &self.role {
            Role::Agent(a) => Some(a.link.transport()),
            Role::Attached(_) => Some(Transport::Uart),
            Role::Unsupported(_) => None,
        }
    }

    /// The FPGAIO LED register, if the board has one.
    pub fn leds(&self) -> Option<u32> {
        self.peripherals.iter().find_map(|p| match *p {
            Peripheral::FpgaioLeds { base, .. } => Some(base),
            _ => None,
        })
    }

    /// The serial ports apps may use (`uart:N`), by their number: QEMU's
    /// `-serial` index.
    pub fn app_uart_ports(&self) -> impl Iterator<Item = u8> + '_ {
        self.peripherals.iter().filter_map(|p| match *p {
            Peripheral::Uart { port, .. } => Some(port),
            _ => None,
        })
    }

    /// Whether the board has the hardware `r` names (see
    /// [`peripherals_have`], the rule the platform, the simulator and the
    /// firmware share).
    #[cfg(feature = "platform")]
    pub fn has(&self, r: &wasmbed_protocol::Resource) -> bool {
        peripherals_have(self.peripherals, r)
    }

    /// What the board offers apps, for error messages
    /// (`gpio:led0, gpio:led1, i2c:0, ...`; see [`describe`]).
    #[cfg(feature = "platform")]
    pub fn describe_peripherals(&self) -> alloc::string::String {
        describe(self.peripherals)
    }

    /// The name of a firmware image built for this board (the binary of
    /// its crate `wasmbed-fw-<board>`).
    pub fn image_name(&self) -> ImageName {
        ImageName(self.name)
    }
}

/// `wasmbed-fw-<board>`, the binary and crate name of a board's firmware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageName(&'static str);

impl core::fmt::Display for ImageName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "wasmbed-fw-{}", self.0)
    }
}

/// Looks a board up by name.
pub fn board(name: &str) -> Option<&'static Board> {
    BOARDS.iter().find(|b| b.name == name)
}

#[cfg(all(test, feature = "platform"))]
mod tests {
    #[test]
    fn board_names_compare_and_copy_in_constants() {
        // Evaluated at compile time, as images use them.
        const BYTES: [u8; 4] = super::name_bytes("mps2-an385");
        assert_eq!(&BYTES, b"mps2");
        for (a, b, same) in
            [("mps2-an385", "mps2-an385", true), ("mps2-an385", "mps2-an386", false), ("mps2", "mps2-an385", false)]
        {
            assert_eq!(super::same_name(a, b), same, "{a} {b}");
        }
        assert_eq!(super::name_bytes::<6>("sim"), *b"sim\0\0\0");
    }

    use super::*;

    extern crate std;
    use std::string::String;

    #[test]
    fn names_are_unique_and_qemu_machines_named_alike() {
        for (i, a) in BOARDS.iter().enumerate() {
            assert!(BOARDS[i + 1..].iter().all(|b| b.name != a.name), "{} twice", a.name);
            assert_eq!(a.qemu.machine, a.name, "the board is named as QEMU names its machine");
        }
    }

    #[test]
    fn provisioning_stays_out_of_the_linked_memory() {
        for b in BOARDS {
            let Some(a) = b.agent() else { continue };
            let m = b.memory;
            let seed = a.boot_seed_slot();
            for linked in [Some(m.flash), Some(m.ram), m.stack].into_iter().flatten() {
                assert!(!linked.overlaps(a.bundle), "{}: bundle inside the link", b.name);
                assert!(!linked.overlaps(seed), "{}: boot seed inside the link", b.name);
            }
            assert!(!a.bundle.overlaps(seed), "{}: bundle and seed overlap", b.name);
            assert!(a.heap_bytes < m.ram.len as usize, "{}: heap larger than RAM", b.name);
        }
    }

    #[test]
    fn an_attached_board_keeps_its_link_console_and_provisioning_apart() {
        let attached: std::vec::Vec<_> = BOARDS.iter().filter(|b| b.attached().is_some()).collect();
        assert_eq!(attached.iter().map(|b| b.name).collect::<std::vec::Vec<_>>(), ["stm32vldiscovery"]);
        for b in attached {
            let a = b.attached().unwrap();
            let m = b.memory;
            for linked in [Some(m.flash), Some(m.ram), m.stack].into_iter().flatten() {
                assert!(!linked.overlaps(a.provisioning), "{}: provisioning inside the link", b.name);
            }
            assert_eq!(a.provisioning.end(), m.flash.end() + u64::from(a.provisioning.len), "{}", b.name);
            assert_ne!(a.link, b.console, "{}", b.name);
            assert_ne!(a.link_port, a.console_port, "{}", b.name);
            for port in b.app_uart_ports() {
                assert!(![a.link_port, a.console_port].contains(&port), "{}: port {port}", b.name);
            }
            assert!(a.timers > 0 && b.agent().is_none() && b.module_budget().is_none(), "{}", b.name);
            assert!(b.has_firmware(), "{}", b.name);
        }
    }

    #[test]
    fn the_stm32vldiscovery_budget_is_linked_in() {
        // Issue 14: static RAM (data, bss and the stack) within 6 KB, flash
        // within 64 KB of the 128 KiB; the link enforces the RAM half.
        let m = STM32VLDISCOVERY.memory;
        let stack = m.stack.unwrap();
        assert!(m.ram.len + stack.len <= 6 * 1024);
        assert!(m.ram.end() <= u64::from(stack.start) && stack.end() <= 0x2000_2000);
        assert_eq!(m.flash.end(), 0x0801_FC00);
    }

    #[test]
    fn devices_of_an_attached_board_can_be_created() {
        assert_eq!(STM32VLDISCOVERY.unsupported(), None);
        assert_eq!(STM32VLDISCOVERY.transport(), Some(Transport::Uart));
    }

    #[test]
    fn a_late_call_fails_its_app_before_the_watchdog_resets_the_board() {
        for b in BOARDS {
            let Some(a) = b.agent() else { continue };
            assert!(a.call_deadline_ms > 0, "{}", b.name);
            if let Some(w) = a.watchdog {
                assert!(a.call_deadline_ms < w.warning_ms(), "{}", b.name);
            }
        }
        assert!(MPS2_AN385.agent().is_some_and(|a| a.watchdog.is_some()));
        assert!(OLIMEX_STM32_H405.agent().is_some_and(|a| a.watchdog.is_none()), "QEMU emulates no STM32 watchdog");
    }

    #[test]
    fn targets_match_the_cores() {
        for b in BOARDS {
            let want = match b.cpu {
                Cpu::CortexM3 => "thumbv7m-none-eabi",
                Cpu::CortexM4F | Cpu::CortexM7F => "thumbv7em-none-eabihf",
                Cpu::CortexM33 => "thumbv8m.main-none-eabi",
            };
            assert_eq!(b.target, want, "{}", b.name);
        }
    }

    #[test]
    fn memory_x_has_the_regions() {
        let mut s = String::new();
        OLIMEX_STM32_H405.memory.write_memory_x("olimex-stm32-h405", &mut s).unwrap();
        assert!(s.contains("FLASH : ORIGIN = 0x08000000, LENGTH = 0xfc000"), "{s}");
        assert!(s.contains("STACK : ORIGIN = 0x10000000, LENGTH = 0xff00"), "{s}");
        assert!(s.contains("_stack_start = ORIGIN(STACK) + LENGTH(STACK);"), "{s}");
        let mut s = String::new();
        MPS2_AN385.memory.write_memory_x("mps2-an385", &mut s).unwrap();
        assert!(s.contains("RAM   : ORIGIN = 0x20000000, LENGTH = 0x400000") && !s.contains("STACK"), "{s}");
    }

    #[test]
    fn every_agent_board_has_a_budget_within_its_heap() {
        for b in BOARDS {
            match (b.agent(), b.module_budget()) {
                (Some(a), Some(budget)) => assert!(budget.heap < a.heap_bytes && budget.heap > 0, "{}", b.name),
                (None, None) => {}
                _ => panic!("{}: a budget without an agent, or the reverse", b.name),
            }
        }
        assert_eq!(SIM_BUDGET, ModuleBudget::DEFAULT);
    }

    #[test]
    fn lookups() {
        assert_eq!(board("mps2-an505").map(|b| b.cpu), Some(Cpu::CortexM33));
        assert!(board("sim").is_none());
        assert_eq!(OLIMEX_STM32_H405.transport(), Some(Transport::Uart));
        assert_eq!(MPS2_AN500.leds(), Some(0x4002_8000));
        assert_eq!(std::format!("{}", MPS2_AN386.image_name()), "wasmbed-fw-mps2-an386");
    }
}
