//! An attached board as the edge runtime sees it: [`BoardPort`] over the
//! board link. The runtime calls from its workers' threads, off the async
//! runtime, so each call blocks on the link's async call there.

use std::sync::Weak;

use tokio::runtime::Handle;
use wasmbed_attach::{BoardLink, LinkError, OwnedResponse, Request};
use wasmbed_boardlink::ErrorCode;
use wasmbed_edge::{BoardPort, EdgeError};

/// A board reached over its link.
#[derive(Debug, Clone)]
pub struct LinkedBoard {
    link: Link,
    runtime: Handle,
}

/// Which link a board's calls take.
#[derive(Debug, Clone)]
enum Link {
    /// This one.
    Fixed(BoardLink),
    /// Whichever the gateway holds for the device when the call is made: a
    /// board that restarts is attached on a new link, and its component
    /// goes on with it.
    Attached { gateway: Weak<crate::Gateway>, device: String },
}

impl LinkedBoard {
    /// The board behind `link`; calls run on `runtime` (which must not be
    /// the calling thread's: the edge runtime's workers have their own).
    pub fn new(link: BoardLink, runtime: Handle) -> Self {
        Self { link: Link::Fixed(link), runtime }
    }

    /// `device`'s board, on whichever link `gateway` holds for it.
    pub(crate) fn attached(gateway: Weak<crate::Gateway>, device: String, runtime: Handle) -> Self {
        Self { link: Link::Attached { gateway, device }, runtime }
    }

    fn call(&self, request: Request<'_>) -> Result<OwnedResponse, EdgeError> {
        let link = match &self.link {
            Link::Fixed(l) => l.clone(),
            Link::Attached { gateway, device } => gateway
                .upgrade()
                .and_then(|g| g.attached_board(device))
                .ok_or_else(|| EdgeError::Unavailable(format!("{device} is not attached to this gateway")))?,
        };
        self.runtime.block_on(link.call(request)).map_err(edge_error)
    }
}

/// What a component sees of a link failure.
fn edge_error(e: LinkError) -> EdgeError {
    let text = e.to_string();
    match e {
        LinkError::Disconnected | LinkError::Timeout(_) | LinkError::SessionLost => EdgeError::Unavailable(text),
        LinkError::Refused(ErrorCode::NoSuchPeripheral) => EdgeError::NotFound(text),
        LinkError::Refused(ErrorCode::BadArgument) | LinkError::Encode(_) => EdgeError::Invalid(text),
        _ => EdgeError::Failed(text),
    }
}

fn unexpected(r: OwnedResponse) -> EdgeError {
    EdgeError::Failed(format!("the board answered out of turn: {r:?}"))
}

impl BoardPort for LinkedBoard {
    fn uptime_ms(&self) -> Result<u32, EdgeError> {
        match self.call(Request::Uptime)? {
            // Wraps after 49 days, like any 32-bit millisecond counter.
            OwnedResponse::Uptime { ms } => Ok(ms as u32),
            r => Err(unexpected(r)),
        }
    }

    fn led_set(&self, led: u8, on: bool) -> Result<(), EdgeError> {
        match self.call(Request::LedSet { led, on })? {
            OwnedResponse::Done => Ok(()),
            r => Err(unexpected(r)),
        }
    }

    fn led_get(&self, led: u8) -> Result<bool, EdgeError> {
        match self.call(Request::LedGet { led })? {
            OwnedResponse::Led { on, .. } => Ok(on),
            r => Err(unexpected(r)),
        }
    }

    fn uart_write(&self, port: u8, data: &[u8]) -> Result<u32, EdgeError> {
        match self.call(Request::UartWrite { port, bytes: data })? {
            OwnedResponse::Written { count } => Ok(u32::from(count)),
            r => Err(unexpected(r)),
        }
    }

    fn uart_read(&self, port: u8, max: u32) -> Result<Vec<u8>, EdgeError> {
        let max = u8::try_from(max).unwrap_or(u8::MAX);
        match self.call(Request::UartRead { port, max })? {
            OwnedResponse::Data(d) => Ok(d),
            r => Err(unexpected(r)),
        }
    }

    fn spi_transfer(&self, bus: u8, data: &[u8]) -> Result<Vec<u8>, EdgeError> {
        match self.call(Request::SpiTransfer { bus, bytes: data })? {
            OwnedResponse::Data(d) => Ok(d),
            r => Err(unexpected(r)),
        }
    }
}
