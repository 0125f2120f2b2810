//! The link (USART1) and the apps' UART (USART2): each received byte
//! interrupts, and the handler moves what has arrived into the port's
//! ring. When a ring is full the handler stops the port's receive
//! interrupt and leaves the byte in DR; QEMU's USART then holds back the
//! rest (it offers the next byte only once DR is read), so nothing is
//! lost, and reading from the ring starts it again.
//!
//! Each port lives in a critical-section mutex: the handler and the main
//! loop (reading the ring, sending bytes) take turns, a byte at a time.

use core::cell::RefCell;

use cortex_m::interrupt::InterruptNumber;
use cortex_m::interrupt::{CriticalSection, Mutex};
use cortex_m::peripheral::NVIC;
use wasmbed_boards::{Peripheral, STM32VLDISCOVERY, Uart};
use wasmbed_fw_attached::{HwError, Link, Ring};
use wasmbed_fw_drivers::stm32_usart::Usart;

use crate::{BAUD, LAYOUT};

/// A whole frame fits, with room for the start of the next.
const LINK_RING: usize = 320;
/// What an app's `UartRead` finds waiting; QEMU holds back the rest.
const APP_RING: usize = 128;

/// The STM32F100's USART interrupts (QEMU's `stm32f100_soc.c`, and the
/// reference manual's vector table): USART1 37, USART2 38, USART3 39.
const fn usart_irq(base: u32) -> u16 {
    match base {
        0x4001_3800 => 37,
        0x4000_4400 => 38,
        0x4000_4800 => 39,
        _ => panic!("not a USART of the STM32F100"),
    }
}

/// The link UART's base and clock.
const LINK_UART: (u32, u32) = match LAYOUT.link {
    Uart::Stm32 { base, pclk_hz } => (base, pclk_hz),
    Uart::Cmsdk(_) => panic!("the link is an STM32 USART"),
};
const LINK_IRQ: u16 = usart_irq(LINK_UART.0);

/// The apps' UART in the table: its port number, base and clock. The
/// board has exactly one; a table with none or more does not build.
const APP_UART: (u8, u32, u32) = {
    let list = STM32VLDISCOVERY.peripherals;
    let mut found = None;
    let mut i = 0;
    while i < list.len() {
        if let Peripheral::Uart { port, uart: Uart::Stm32 { base, pclk_hz } } = list[i] {
            assert!(found.is_none(), "this firmware drives one app UART");
            found = Some((port, base, pclk_hz));
        }
        i += 1;
    }
    match found {
        Some(uart) => uart,
        None => panic!("the table gives the board no app UART"),
    }
};
const APP_IRQ: u16 = usart_irq(APP_UART.1);

/// A USART and the bytes it received.
struct Port<const N: usize> {
    usart: Usart,
    rx: Ring<N>,
    /// The receive interrupt is off because the ring was full.
    held: bool,
}

impl<const N: usize> Port<N> {
    fn new(mut usart: Usart) -> Self {
        usart.listen_rx(true);
        Self { usart, rx: Ring::new(), held: false }
    }

    /// Moves what has arrived into the ring; stops listening when it is full.
    fn drain(&mut self) {
        while self.usart.has_byte() {
            if self.rx.is_full() {
                self.usart.listen_rx(false);
                self.held = true;
                return;
            }
            if let Some(b) = self.usart.read_byte() {
                self.rx.push(b);
            }
        }
    }

    /// Moves the oldest bytes into `out`; listens again once there is room.
    fn take(&mut self, out: &mut [u8]) -> usize {
        let n = self.rx.take(out);
        if self.held && !self.rx.is_full() {
            self.held = false;
            self.usart.listen_rx(true);
        }
        n
    }
}

static LINK: Mutex<RefCell<Option<Port<LINK_RING>>>> = Mutex::new(RefCell::new(None));
static APP: Mutex<RefCell<Option<Port<APP_RING>>>> = Mutex::new(RefCell::new(None));

#[derive(Clone, Copy)]
struct Irq(u16);

// SAFETY: the numbers are the STM32F100's USART interrupts (`usart_irq`).
unsafe impl InterruptNumber for Irq {
    fn number(self) -> u16 {
        self.0
    }
}

/// Takes the link and app USARTs, and unmasks their interrupts.
///
/// # Safety
///
/// Call once; nothing else may drive those USARTs.
pub unsafe fn start() {
    // SAFETY: the table's link and app USARTs, clocked by `enable_clocks`,
    // driven only through this module (the caller's promise).
    let (link, app) = unsafe {
        (Usart::new(LINK_UART.0 as usize, LINK_UART.1, BAUD), Usart::new(APP_UART.1 as usize, APP_UART.2, BAUD))
    };
    cortex_m::interrupt::free(|cs| {
        LINK.borrow(cs).replace(Some(Port::new(link)));
        APP.borrow(cs).replace(Some(Port::new(app)));
    });
    // SAFETY: their handler (`on_interrupt`) only takes the ports' mutexes.
    unsafe {
        NVIC::unmask(Irq(LINK_IRQ));
        NVIC::unmask(Irq(APP_IRQ));
    }
}

/// The device interrupt handler's work.
pub fn on_interrupt(irqn: i16) {
    cortex_m::interrupt::free(|cs| match u16::try_from(irqn) {
        Ok(LINK_IRQ) => {
            if let Some(p) = LINK.borrow(cs).borrow_mut().as_mut() {
                p.drain();
            }
        }
        Ok(APP_IRQ) => {
            if let Some(p) = APP.borrow(cs).borrow_mut().as_mut() {
                p.drain();
            }
        }
        _ => {}
    });
}

/// The ports, as the main loop uses them.
pub struct Ports;

impl Ports {
    /// Whether link bytes wait to be served.
    pub fn link_has_bytes(cs: &CriticalSection) -> bool {
        LINK.borrow(cs).borrow().as_ref().is_some_and(|p| !p.rx.is_empty())
    }

    /// Sends `bytes` on the apps' UART `port`: how many went (fewer if it
    /// stalled), or why none did.
    pub fn app_write(port: u8, bytes: &[u8]) -> Result<usize, HwError> {
        if port != APP_UART.0 {
            return Err(HwError::NoSuchPeripheral);
        }
        for (n, &b) in bytes.iter().enumerate() {
            // A byte per critical section, so the link's interrupt waits
            // at most one byte time.
            let sent =
                cortex_m::interrupt::free(|cs| APP.borrow(cs).borrow_mut().as_mut().map(|p| p.usart.try_write_byte(b)));
            match sent {
                Some(Ok(())) => {}
                Some(Err(_)) if n > 0 => return Ok(n),
                Some(Err(_)) => return Err(HwError::Busy),
                None => return Err(HwError::NoSuchPeripheral),
            }
        }
        Ok(bytes.len())
    }

    /// Moves bytes received on the apps' UART `port` into `buf`.
    pub fn app_read(port: u8, buf: &mut [u8]) -> Result<usize, HwError> {
        if port != APP_UART.0 {
            return Err(HwError::NoSuchPeripheral);
        }
        cortex_m::interrupt::free(|cs| APP.borrow(cs).borrow_mut().as_mut().map(|p| p.take(buf)))
            .ok_or(HwError::NoSuchPeripheral)
    }
}

/// The link to the gateway, for the attached firmware.
pub struct LinkPort;

impl Link for LinkPort {
    fn read_byte(&mut self) -> Option<u8> {
        let mut b = [0];
        let n = cortex_m::interrupt::free(|cs| LINK.borrow(cs).borrow_mut().as_mut().map_or(0, |p| p.take(&mut b)));
        (n == 1).then_some(b[0])
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            cortex_m::interrupt::free(|cs| {
                if let Some(p) = LINK.borrow(cs).borrow_mut().as_mut() {
                    p.usart.write_byte(b);
                }
            });
        }
    }
}
