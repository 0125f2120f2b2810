//! A blocking-style driver for boards whose network stack is polled.

use crate::Agent;

/// Monotonic milliseconds since boot (SysTick, a timer, or the host clock).
pub trait Clock {
    /// Now, in milliseconds; never goes backwards.
    fn now_ms(&self) -> u64;
}

/// A byte stream to the gateway (TLS over TCP, or TLS over a UART).
pub trait Transport {
    /// Transport failure.
    type Error;
    /// Sends all of `bytes`.
    fn send(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Reads what is available into `buf` without waiting long; `Ok(0)` means
    /// nothing arrived yet.
    fn recv(&mut self, buf: &mut [u8]) -> Result<usize, Self::Error>;
}

/// Why [`step`] stopped the session.
#[derive(Debug)]
pub enum StepError<E> {
    /// The transport failed; reconnect.
    Transport(E),
    /// The gateway broke the protocol; the agent queued an error report,
    /// which was sent. Reconnect.
    Protocol(crate::AgentError),
}

/// One turn of the session loop: read what arrived, do due work, send.
/// Afterwards, [`Agent::reboot_requested`] says whether to reset now.
pub fn step<T: Transport, C: Clock>(
    agent: &mut Agent,
    transport: &mut T,
    clock: &C,
    free_memory: u32,
    buf: &mut [u8],
) -> Result<(), StepError<T::Error>> {
    let n = transport.recv(buf).map_err(StepError::Transport)?;
    let received = match buf.get(..n) {
        Some(bytes) if n > 0 => agent.receive(bytes, clock.now_ms()),
        _ => Ok(()),
    };
    if received.is_ok() {
        agent.poll(clock.now_ms(), free_memory);
    }
    let out = agent.take_outgoing();
    if !out.is_empty() {
        transport.send(&out).map_err(StepError::Transport)?;
    }
    received.map_err(StepError::Protocol)
}
