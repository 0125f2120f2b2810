//! The boards, as data. A new board is one constant here, one line in
//! [`BOARDS`] and (when it runs our firmware) one folder in `firmware/boards/`.

use crate::{AgentLayout, AttachedLayout, Board, Cpu, Link, MemoryMap, Peripheral, Qemu, Region, Role, Uart, Watchdog};

const KIB: u32 = 1024;
const MIB: u32 = 1024 * KIB;

/// MPS2 boards: 4 MiB of RAM-backed code memory at 0 (`-kernel` loads it)
/// and 4 MiB of SRAM; the identity bundle and the boot seed go to PSRAM,
/// which the link leaves alone.
const MPS2_MEMORY: MemoryMap =
    MemoryMap { flash: Region::new(0, 4 * MIB), ram: Region::new(0x2000_0000, 4 * MIB), stack: None };
/// The MPS2 heap: room for several apps of a few pages each.
const MPS2_HEAP: usize = 1024 * 1024;
/// What apps get on the AN385, AN386 and AN500 (one memory map), measured
/// with QEMU 10.0's `info mtree -f` and `info qtree`:
/// - FPGAIO's two user LEDs (`num-leds=2`; no switches: `has-switches=false`);
/// - I2C bus 0: the SBCon at 0x4002_A000 (shield 1), the one QEMU attaches
///   `-device tmp105,bus=i2c` to (the bus created last). The other three
///   (touch 0x4002_2000, audio 0x4002_3000, shield 0 0x4002_9000) are left
///   out: nothing can be attached to them from QEMU's command line;
/// - SPI bus 0: the PL022 at 0x4002_7000, the one `-device <ssi device>,bus=ssi`
///   attaches to (likewise; four more PL022s are left out);
/// - serial ports 1-4 (UART0, port 0, is the console): QEMU's `-serial`
///   1-4.
const MPS2_PERIPHERALS: &[Peripheral] = &[
    Peripheral::FpgaioLeds { base: 0x4002_8000, count: 2 },
    Peripheral::SbconI2c { bus: 0, base: 0x4002_A000 },
    Peripheral::Pl022Spi { bus: 0, base: 0x4002_7000 },
    Peripheral::Uart { port: 1, uart: Uart::Cmsdk(0x4000_5000) },
    Peripheral::Uart { port: 2, uart: Uart::Cmsdk(0x4000_6000) },
    Peripheral::Uart { port: 3, uart: Uart::Cmsdk(0x4000_7000) },
    Peripheral::Uart { port: 4, uart: Uart::Cmsdk(0x4000_9000) },
];
/// Every emulated board's bundle slot.
const BUNDLE_LEN: u32 = 16 * KIB;
/// The agent's limit on one call into an app: a default fuel budget takes
/// well under a second on the slowest core (25 MHz), first-call validation
/// included.
const CALL_DEADLINE_MS: u32 = 3_000;
/// The CMSDK watchdog of AN385, AN386 and AN500 (`info qtree`: 0x4000_8000,
/// WDOGCLK 25 MHz; QEMU wires its interrupt to the NMI).
const MPS2_WATCHDOG: Watchdog = Watchdog::Cmsdk { base: 0x4000_8000, clock_hz: 25_000_000 };

/// An MPS2 board running the agent: LAN9118 at `lan9118`; the identity
/// bundle at the start of the PSRAM (or SSRAM) the link leaves alone, at
/// `provisioning`, and the boot seed right after it.
const fn mps2_agent(lan9118: u32, provisioning: u32, watchdog: Option<Watchdog>) -> Role {
    Role::Agent(AgentLayout {
        link: Link::Lan9118 { base: lan9118 },
        bundle: Region::new(provisioning, BUNDLE_LEN),
        boot_seed: provisioning + BUNDLE_LEN,
        heap_bytes: MPS2_HEAP,
        watchdog,
        call_deadline_ms: CALL_DEADLINE_MS,
    })
}

/// QEMU's machine of that name, with no extra flags.
const fn machine(name: &'static str) -> Qemu {
    Qemu { machine: name, args: &[] }
}

/// Arm MPS2 AN385: Cortex-M3 at 25 MHz, LAN9118 Ethernet.
pub const MPS2_AN385: Board = Board {
    name: "mps2-an385",
    cpu: Cpu::CortexM3,
    target: "thumbv7m-none-eabi",
    qemu: machine("mps2-an385"),
    core_hz: 25_000_000,
    memory: MPS2_MEMORY,
    console: Uart::Cmsdk(0x4000_4000),
    clock_enables: &[],
    peripherals: MPS2_PERIPHERALS,
    role: mps2_agent(0x4020_0000, 0x2100_0000, Some(MPS2_WATCHDOG)),
};

/// Arm MPS2 AN386: the AN385's memory map on a Cortex-M4F.
pub const MPS2_AN386: Board = Board {
    name: "mps2-an386",
    cpu: Cpu::CortexM4F,
    target: "thumbv7em-none-eabihf",
    qemu: machine("mps2-an386"),
    ..MPS2_AN385
};

/// Arm MPS2 AN500: Cortex-M7F; PSRAM and Ethernet sit elsewhere.
pub const MPS2_AN500: Board = Board {
    name: "mps2-an500",
    cpu: Cpu::CortexM7F,
    target: "thumbv7em-none-eabihf",
    qemu: machine("mps2-an500"),
    role: mps2_agent(0xA000_0000, 0x6000_0000, Some(MPS2_WATCHDOG)),
    ..MPS2_AN385
};

/// Arm MPS2 AN505: Cortex-M33 at 20 MHz, used Secure-only through the
/// Secure aliases of code (0x1xxx_xxxx), RAM (0x3xxx_xxxx) and peripherals
/// (0x5xxx_xxxx), so no SAU, MPC or PPC setup is needed. The top MiB of
/// SSRAM2/3 is left out of the link for provisioning.
pub const MPS2_AN505: Board = Board {
    name: "mps2-an505",
    cpu: Cpu::CortexM33,
    target: "thumbv8m.main-none-eabi",
    qemu: machine("mps2-an505"),
    core_hz: 20_000_000,
    memory: MemoryMap { flash: Region::new(0x1000_0000, 4 * MIB), ram: Region::new(0x3800_0000, 3 * MIB), stack: None },
    console: Uart::Cmsdk(0x5020_0000),
    clock_enables: &[],
    // Secure aliases of the APB expansion blocks (QEMU's tz-ppc ports, read
    // off `info mtree`): I2C bus 0 is the SBCon at 0x4020_D000 (shield 1)
    // and SPI bus 0 the PL022 at 0x4020_B000, the ones `bus=i2c` and
    // `bus=ssi` attach to, as on the other MPS2 boards; UART1-4 are
    // `-serial` 1-4.
    peripherals: &[
        Peripheral::FpgaioLeds { base: 0x5030_2000, count: 2 },
        Peripheral::SbconI2c { bus: 0, base: 0x5020_D000 },
        Peripheral::Pl022Spi { bus: 0, base: 0x5020_B000 },
        Peripheral::Uart { port: 1, uart: Uart::Cmsdk(0x5020_1000) },
        Peripheral::Uart { port: 2, uart: Uart::Cmsdk(0x5020_2000) },
        Peripheral::Uart { port: 3, uart: Uart::Cmsdk(0x5020_3000) },
        Peripheral::Uart { port: 4, uart: Uart::Cmsdk(0x5020_4000) },
    ],
    // The SSE's three CMSDK watchdogs (QEMU's armsse.c): 0x5002_E000 on the
    // 32 kHz clock, 0x4008_1000 Non-secure (an ordinary IRQ) and 0x5008_1000
    // Secure on MAINCLK (20 MHz), whose warning QEMU wires to the NMI as on
    // the other MPS2 boards and which sits behind no PPC: the one armed.
    role: mps2_agent(0x5200_0000, 0x3830_0000, Some(Watchdog::Cmsdk { base: 0x5008_1000, clock_hz: 20_000_000 })),
};

/// STM32F405 peripheral clock after reset (HSI); QEMU does not model the
/// prescalers.
const STM32F405_PCLK_HZ: u32 = 16_000_000;
/// STM32F405 RCC: APB1ENR (USART2EN bit 17, USART3EN bit 18), APB2ENR
/// (USART1EN bit 4, ADC1EN bit 8, SPI1EN bit 12).
const STM32F405_RCC_APB1ENR: u32 = 0x4002_3840;
const STM32F405_RCC_APB2ENR: u32 = 0x4002_3844;

/// Olimex STM32-H405 (STM32F405, Cortex-M4F). No Ethernet: USART2 is the
/// link, carried by QEMU to the gateway's TCP port. The bundle is
/// programmed into the last 16 KiB flash sector; the stack lives in CCM
/// with the boot seed in its top 256 bytes; the heap is in SRAM.
pub const OLIMEX_STM32_H405: Board = Board {
    name: "olimex-stm32-h405",
    cpu: Cpu::CortexM4F,
    target: "thumbv7em-none-eabihf",
    // QEMU's generic loader caps an image at the machine's RAM size, which
    // the STM32 machines leave at 0: without `-m` the bundle cannot be
    // programmed. (The memory map does not change.)
    qemu: Qemu { machine: "olimex-stm32-h405", args: &["-m", "1M"] },
    // QEMU clocks this machine's core at 168 MHz (its SYSCLK), as the real
    // board runs it once the PLL is set up.
    core_hz: 168_000_000,
    memory: MemoryMap {
        flash: Region::new(0x0800_0000, MIB - BUNDLE_LEN),
        ram: Region::new(0x2000_0000, 128 * KIB),
        stack: Some(Region::new(0x1000_0000, 64 * KIB - 256)),
    },
    console: Uart::Stm32 { base: 0x4001_1000, pclk_hz: STM32F405_PCLK_HZ },
    clock_enables: &[(STM32F405_RCC_APB1ENR, 1 << 17 | 1 << 18), (STM32F405_RCC_APB2ENR, 1 << 4 | 1 << 8 | 1 << 12)],
    // QEMU 10.0 models no GPIO and no I2C on this SoC. ADC1 (QEMU generates
    // its samples: each conversion reads 7 more than the last, whatever the
    // channel); SPI1, the first of the F405's three (QEMU's `bus=ssi`
    // attaches to SPI6, a block it maps though the F405 has none); USART3,
    // QEMU's `-serial` 2 (USART1 is the console, USART2 the link).
    peripherals: &[
        Peripheral::Stm32Adc { base: 0x4001_2000, channels: 16 },
        Peripheral::Stm32Spi { bus: 0, base: 0x4001_3000 },
        Peripheral::Uart { port: 2, uart: Uart::Stm32 { base: 0x4000_4800, pclk_hz: STM32F405_PCLK_HZ } },
    ],
    role: Role::Agent(AgentLayout {
        link: Link::Uart(Uart::Stm32 { base: 0x4000_4400, pclk_hz: STM32F405_PCLK_HZ }),
        bundle: Region::new(0x080F_C000, BUNDLE_LEN),
        boot_seed: 0x1000_FF00,
        // Apps need a 64 KiB page each; .data and .bss take the rest.
        heap_bytes: 112 * 1024,
        // QEMU 10.0 maps the F405's IWDG and WWDG as unimplemented devices.
        watchdog: None,
        call_deadline_ms: CALL_DEADLINE_MS,
    }),
};

/// STM32F100 peripheral clock after reset (the 8 MHz HSI; QEMU models no
/// RCC: it clocks the core at 24 MHz and ignores the baud rate).
const STM32F100_PCLK_HZ: u32 = 8_000_000;
/// STM32F100 RCC: APB2ENR (SPI1EN bit 12, USART1EN bit 14), APB1ENR
/// (SPI2EN bit 14, USART2EN bit 17, USART3EN bit 18). QEMU maps the RCC as
/// an unimplemented device; silicon needs the gates.
const STM32F100_RCC_APB2ENR: u32 = 0x4002_1018;
const STM32F100_RCC_APB1ENR: u32 = 0x4002_101C;

/// STM32VLDISCOVERY (STM32F100, Cortex-M3 at 24 MHz as QEMU clocks it):
/// 8 KiB of RAM, too little for any WebAssembly runtime, so it is an
/// attached board: its firmware serves its peripherals over USART1 to its
/// gateway, where its apps run.
///
/// QEMU 10.0 models three USARTs (QEMU's `-serial` 0-2: USART1 0x4001_3800,
/// USART2 0x4000_4400, USART3 0x4000_4800), two SPIs (SPI1 0x4001_3000,
/// SPI2 0x4000_3800) and SysTick; GPIO, timers, ADC, I2C and RCC are
/// unimplemented devices. So: USART1 is the link, USART3 the console,
/// USART2 the apps' serial port; the two user LEDs (PC8, PC9 on the real
/// board) exist only as the firmware's record of what was last written (a
/// shadow: nothing reads them back); timers are counted off SysTick.
///
/// Memory: the last 1 KiB flash page holds the provisioning, outside the
/// link; the link gives `.data` and `.bss` 3 KiB and the stack 3 KiB above
/// them (the firmware's peak is ~1.5 KiB, measured by painting), so an
/// image that outgrows the 6 KB budget fails to link; the top
/// 2 KiB are left spare.
pub const STM32VLDISCOVERY: Board = Board {
    name: "stm32vldiscovery",
    cpu: Cpu::CortexM3,
    target: "thumbv7m-none-eabi",
    // As for the olimex board: QEMU's loader programs the provisioning page
    // only when the machine has a RAM size.
    qemu: Qemu { machine: "stm32vldiscovery", args: &["-m", "1M"] },
    core_hz: 24_000_000,
    memory: MemoryMap {
        flash: Region::new(0x0800_0000, 128 * KIB - ATTACHED_PROVISIONING_LEN),
        ram: Region::new(0x2000_0000, 3 * KIB),
        stack: Some(Region::new(0x2000_0C00, 3 * KIB)),
    },
    console: Uart::Stm32 { base: 0x4000_4800, pclk_hz: STM32F100_PCLK_HZ },
    clock_enables: &[(STM32F100_RCC_APB2ENR, 1 << 12 | 1 << 14), (STM32F100_RCC_APB1ENR, 1 << 14 | 1 << 17 | 1 << 18)],
    peripherals: &[
        Peripheral::ShadowLeds { count: 2 },
        Peripheral::Stm32Spi { bus: 0, base: 0x4001_3000 },
        Peripheral::Stm32Spi { bus: 1, base: 0x4000_3800 },
        Peripheral::Uart { port: 1, uart: Uart::Stm32 { base: 0x4000_4400, pclk_hz: STM32F100_PCLK_HZ } },
    ],
    role: Role::Attached(AttachedLayout {
        link: Uart::Stm32 { base: 0x4001_3800, pclk_hz: STM32F100_PCLK_HZ },
        link_port: 0,
        console_port: 2,
        provisioning: Region::new(0x0800_0000 + 128 * KIB - ATTACHED_PROVISIONING_LEN, ATTACHED_PROVISIONING_LEN),
        timers: 4,
    }),
};

/// One STM32F100 flash page, where the host programs an attached board's
/// provisioning.
const ATTACHED_PROVISIONING_LEN: u32 = KIB;

/// Every board, in the order users see them.
pub const BOARDS: &[Board] = &[MPS2_AN385, MPS2_AN386, MPS2_AN500, MPS2_AN505, OLIMEX_STM32_H405, STM32VLDISCOVERY];
