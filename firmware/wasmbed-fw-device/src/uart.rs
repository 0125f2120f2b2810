//! A UART as the link to the gateway (boards without Ethernet). QEMU
//! connects the UART to the gateway's TCP port, so the TLS records travel
//! as raw bytes; the gateway sees an ordinary TCP client.
//!
//! A UART has no connection state: a session that ended on the gateway's
//! side shows here as silence or as records that fail to decrypt, and the
//! session loop reconnects. Before each handshake, bytes still in flight
//! from an earlier session are drained.

use core::net::SocketAddrV4;

use wasmbed_fw_drivers::stm32_usart::Usart;

use crate::net::{Link, NetError, idle};
use crate::now_ms;

/// Link speed; QEMU ignores it, real hardware would not.
const BAUD: u32 = 921_600;
const IO_TIMEOUT_MS: u64 = 30_000;
/// How long a read spins for its first byte before sleeping between polls.
const SPIN_MS: u64 = 5;
/// Quiet time that ends a drain.
const DRAIN_QUIET_MS: u64 = 50;

/// The link UART.
#[derive(Debug)]
pub struct UartLink {
    usart: Usart,
}

impl UartLink {
    /// # Safety
    /// `base` must be the board's link USART, driven by nothing else.
    pub unsafe fn new(base: usize, pclk_hz: u32) -> Self {
        // SAFETY: forwarded contract.
        Self { usart: unsafe { Usart::new(base, pclk_hz, BAUD) } }
    }
}

impl Link for UartLink {
    fn connect(&mut self, _remote: SocketAddrV4) -> Result<(), NetError> {
        let mut quiet_since = now_ms();
        while now_ms() < quiet_since + DRAIN_QUIET_MS {
            if self.usart.read_byte().is_some() {
                quiet_since = now_ms();
            }
        }
        Ok(())
    }

    fn readable(&mut self) -> bool {
        // Peek without losing the byte: the USART holds it until DR is read.
        self.usart.has_byte()
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<usize, NetError> {
        let Some(first) = buf.first_mut() else { return Ok(0) };
        let start = now_ms();
        *first = loop {
            if let Some(b) = self.usart.read_byte() {
                break b;
            }
            let waited = now_ms() - start;
            if waited > IO_TIMEOUT_MS {
                return Err(NetError::Timeout);
            }
            // The receive interrupt is not used, so WFI would only wake on
            // the next SysTick: spin while a record is likely mid-flight,
            // then sleep between polls.
            if waited > SPIN_MS {
                idle();
            }
        };
        // Take what follows without waiting for more than a few polls.
        let mut n = 1;
        let mut spins = 0;
        while n < buf.len() && spins < 64 {
            match self.usart.read_byte() {
                Some(b) => {
                    buf[n] = b;
                    n += 1;
                    spins = 0;
                }
                None => spins += 1,
            }
        }
        Ok(n)
    }

    fn write(&mut self, buf: &[u8]) -> Result<usize, NetError> {
        for &b in buf {
            self.usart.write_byte(b);
        }
        Ok(buf.len())
    }

    fn close(&mut self) {}
}
