//! Wasmbed firmware for MPS2 AN385 (Cortex-M3, 25 MHz).
//!
//! Board facts are data below; everything else is the shared runtime, our
//! drivers and the device agent. This build boots, checks its provisioning
//! (identity bundle and per-boot entropy seed, failing closed), brings up
//! the LAN9118 and smoltcp, and opens a TCP connection to the gateway. The
//! TLS client that would carry the agent's session over it is not in this
//! build yet: it says so, closes the connection and stops.
#![no_std]
#![no_main]

extern crate alloc;

use core::fmt::Write;
use core::panic::PanicInfo;

use cortex_m_rt::{entry, exception};
use embedded_alloc::LlffHeap as Heap;
use wasmbed_drivers::{cmsdk_uart::CmsdkUart, systick};

/// Board data.
mod board {
    pub const NAME: &str = "mps2-an385";
    pub const CORE_HZ: u32 = 25_000_000;
    pub const UART0: usize = 0x4000_4000;
    pub const LAN9118: usize = 0x4020_0000;
    /// QEMU user networking: the guest's address and the host's alias.
    pub const IP: [u8; 4] = [10, 0, 2, 15];
    pub const ROUTER: [u8; 4] = [10, 0, 2, 2];
    /// Host-loaded identity bundle (`-device loader,file=bundle.bin,addr=...`).
    pub const BUNDLE_ADDR: usize = 0x2100_0000;
    pub const BUNDLE_LEN: usize = 16 * 1024;
    /// Host-loaded per-boot seed (`-device loader,file=seed.bin,addr=...`).
    pub const SEED_ADDR: usize = 0x2100_4000;
    pub const SEED_LEN: usize = 64;
    pub const HEAP_LEN: usize = 512 * 1024;
}

#[global_allocator]
static HEAP: Heap = Heap::empty();

fn console() -> CmsdkUart {
    // SAFETY: UART0 is the CMSDK UART of this board; the firmware is single
    // threaded and writes to it only through short-lived handles.
    unsafe { CmsdkUart::new(board::UART0) }
}

/// Reads a host-loaded region. PSRAM reads as zeros where nothing was loaded.
fn region(addr: usize, len: usize) -> &'static [u8] {
    // SAFETY: the region lies in PSRAM, outside the linked memory, and
    // nothing in the firmware writes to it.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

#[entry]
fn main() -> ! {
    {
        use core::mem::MaybeUninit;
        static mut HEAP_MEM: [MaybeUninit<u8>; board::HEAP_LEN] = [MaybeUninit::uninit(); board::HEAP_LEN];
        // SAFETY: called once, before any allocation; HEAP_MEM is used by nothing else.
        unsafe { HEAP.init(core::ptr::addr_of_mut!(HEAP_MEM) as usize, board::HEAP_LEN) }
    }
    let mut out = console();
    let _ = writeln!(out, "wasmbed firmware {} on {}", env!("CARGO_PKG_VERSION"), board::NAME);
    if let Some(p) = cortex_m::Peripherals::take() {
        systick::start(p.SYST, board::CORE_HZ);
    }
    let provisioned = wasmbed_runtime::provision::provision(
        region(board::BUNDLE_ADDR, board::BUNDLE_LEN),
        region(board::SEED_ADDR, board::SEED_LEN),
    );
    match provisioned {
        Err(e) => {
            let _ = writeln!(out, "refusing to connect: {e}");
        }
        Ok(p) => {
            let b = &p.bundle;
            let _ = writeln!(out, "identity: device {} (board {}), gateway {}", b.device_id, b.board, b.gateway);
            let _ = writeln!(out, "entropy: CSPRNG seeded from device seed and boot seed");
            let agent = wasmbed_agent::Agent::new(wasmbed_agent::AgentConfig::new(&b.device_id, board::NAME));
            let _ = writeln!(out, "agent ready ({} bytes of heap free)", HEAP.free());
            if let Err(e) = net::connect_once(&mut out, &b.gateway) {
                let _ = writeln!(out, "network: {e}");
            }
            drop(agent);
        }
    }
    loop {
        cortex_m::asm::wfi();
    }
}

/// Ethernet + TCP/IP bring-up.
mod net {
    use alloc::vec;
    use core::fmt::Write;
    use core::net::{Ipv4Addr, SocketAddrV4};

    use wasmbed_drivers::lan9118::{Lan9118, Mmio, phy::Eth};
    use wasmbed_drivers::smoltcp::iface::{Config, Interface, SocketSet, SocketStorage};
    use wasmbed_drivers::smoltcp::socket::tcp;
    use wasmbed_drivers::smoltcp::time::Instant;
    use wasmbed_drivers::smoltcp::wire::{EthernetAddress, HardwareAddress, IpCidr};
    use wasmbed_drivers::systick;

    use crate::board;

    /// Connects to the gateway over TCP, reports, and closes (no TLS yet).
    pub fn connect_once(out: &mut impl Write, gateway: &str) -> Result<(), &'static str> {
        let remote: SocketAddrV4 = gateway.parse().map_err(|_| "gateway address is not IPv4 host:port")?;
        // SAFETY: LAN9118 is this board's Ethernet controller; only this code drives it.
        let nic = Lan9118::new(unsafe { Mmio::new(board::LAN9118) }).map_err(|_| "no LAN9118 found")?;
        let mut eth = Eth::new(nic);
        let mac = eth.mac();
        let _ = writeln!(
            out,
            "network: LAN9118 MAC {:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}, IP {}",
            mac[0],
            mac[1],
            mac[2],
            mac[3],
            mac[4],
            mac[5],
            Ipv4Addr::from(board::IP)
        );
        let now = || Instant::from_millis(systick::now_ms() as i64);
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress(mac)));
        let mut iface = Interface::new(config, &mut eth, now());
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(Ipv4Addr::from(board::IP).into(), 24));
        });
        iface.routes_mut().add_default_ipv4_route(Ipv4Addr::from(board::ROUTER)).map_err(|_| "no route")?;
        let socket = tcp::Socket::new(tcp::SocketBuffer::new(vec![0; 2048]), tcp::SocketBuffer::new(vec![0; 2048]));
        let mut storage = [SocketStorage::EMPTY];
        let mut sockets = SocketSet::new(&mut storage[..]);
        let handle = sockets.add(socket);
        let local_port = 49152 + (systick::now_ms() % 16384) as u16;
        sockets
            .get_mut::<tcp::Socket>(handle)
            .connect(iface.context(), (*remote.ip(), remote.port()), local_port)
            .map_err(|_| "cannot start a TCP connection")?;
        let deadline = systick::now_ms() + 10_000;
        loop {
            iface.poll(now(), &mut eth, &mut sockets);
            let s = sockets.get_mut::<tcp::Socket>(handle);
            if s.state() == tcp::State::Established {
                let _ = writeln!(out, "tcp: connected to gateway {remote}");
                let _ = writeln!(out, "tls: the TLS client is not in this build yet; closing");
                s.close();
                break;
            }
            if !s.is_open() || systick::now_ms() > deadline {
                return Err("TCP connection to the gateway failed");
            }
        }
        // Let the FIN go out.
        let until = systick::now_ms() + 200;
        while systick::now_ms() < until {
            iface.poll(now(), &mut eth, &mut sockets);
        }
        Ok(())
    }
}

#[exception]
fn SysTick() {
    systick::on_tick();
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let _ = writeln!(console(), "panic: {info}; resetting");
    cortex_m::peripheral::SCB::sys_reset()
}
