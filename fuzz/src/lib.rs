//! What the targets share. The message targets: untrusted bytes through
//! the frame reader and straight into one direction's decoder; nothing may
//! panic, and whatever decodes must re-encode to the same message. The
//! module target: a device agent and the frames that deploy to it, and a
//! counting allocator ([`heap`]).

use std::fmt::Debug;

use wasmbed_protocol::{FrameError, FrameReader, MAX_FRAME_LEN};

/// One direction's decoder (`decode_device_msg` or `decode_gateway_msg`).
pub type Decode<M> = fn(&[u8]) -> Result<M, FrameError>;

/// Checks `data` raw, then as a stream cut into pieces of the size its
/// first byte says (its rest), each frame's payload as it completes.
pub fn frames_then_decode<M>(data: &[u8], decode: Decode<M>)
where
    M: minicbor::Encode<()> + PartialEq + Debug,
{
    check(data, decode);
    let Some((&split, stream)) = data.split_first() else {
        return;
    };
    let mut reader = FrameReader::new(MAX_FRAME_LEN);
    for piece in stream.chunks(usize::from(split).max(1)) {
        if reader.push(piece).is_err() {
            return;
        }
        while let Ok(Some(payload)) = reader.next_frame() {
            assert!(payload.len() < MAX_FRAME_LEN);
            check(&payload, decode);
        }
    }
}

fn check<M>(payload: &[u8], decode: Decode<M>)
where
    M: minicbor::Encode<()> + PartialEq + Debug,
{
    if let Ok(msg) = decode(payload) {
        let again = minicbor::to_vec(&msg).expect("encoding into a Vec cannot fail");
        let back = decode(&again).expect("what we encode decodes");
        // Compared as bytes, not with ==: a sample's value may be NaN,
        // which is not equal to itself but encodes to the same bytes.
        let twice = minicbor::to_vec(&back).expect("encoding into a Vec cannot fail");
        assert_eq!(twice, again, "{msg:?} does not survive a round trip");
    }
}

/// A deploy of `bytes` as `app` under `limits`: the begin, then chunks of
/// the protocol's size. The begin is built from CBOR holding only these
/// fields, so it stays right whatever optional fields the message gains.
pub fn deploy_frames(app: &str, bytes: &[u8], limits: wasmbed_protocol::AppLimits) -> Vec<u8> {
    use sha2::Digest;
    use wasmbed_protocol::{DEPLOY_CHUNK_LEN, DeployBegin, DeployChunk, GatewayMsg, encode_frame};
    let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
    let mut cbor = minicbor::Encoder::new(Vec::new());
    let fields = (|| {
        cbor.map(5)?.u8(0)?.str(app)?.u8(1)?.str("1")?.u8(2)?.u32(bytes.len() as u32)?;
        cbor.u8(3)?.bytes(&sha)?.u8(4)?.encode(limits)?;
        Ok::<(), minicbor::encode::Error<std::convert::Infallible>>(())
    })();
    fields.expect("encoding into a Vec cannot fail");
    let begin: DeployBegin = minicbor::decode(cbor.writer()).expect("the fields of a DeployBegin");
    let mut wire = Vec::new();
    encode_frame(&GatewayMsg::DeployBegin(begin), &mut wire).expect("a begin fits a frame");
    for (i, piece) in bytes.chunks(DEPLOY_CHUNK_LEN).enumerate() {
        let chunk = DeployChunk { app: app.into(), offset: (i * DEPLOY_CHUNK_LEN) as u32, data: piece.to_vec().into() };
        encode_frame(&GatewayMsg::DeployChunk(chunk), &mut wire).expect("a chunk fits a frame");
    }
    wire
}

/// An agent with `budget`, enrolled and welcomed by its gateway.
pub fn online_agent(budget: wasmbed_protocol::ModuleBudget) -> wasmbed_agent::Agent {
    use wasmbed_protocol::{GatewayMsg, Welcome, encode_frame};
    let config = wasmbed_agent::AgentConfig::new("fuzz", "mps2-an385").with_budget(budget);
    let mut agent = wasmbed_agent::Agent::new(config);
    agent.connected(0);
    let _ = agent.take_outgoing();
    let mut wire = Vec::new();
    let welcome = Welcome { heartbeat_ms: 60_000, unix_time_s: 0, unix_time_ms: None };
    encode_frame(&GatewayMsg::Welcome(welcome), &mut wire).expect("a welcome fits a frame");
    agent.receive(&wire, 0).expect("the agent takes its welcome");
    let _ = agent.take_outgoing();
    agent
}

/// A global allocator that counts the bytes in use and their peak.
pub mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    /// The system allocator, counted.
    #[derive(Debug)]
    pub struct Counting {
        used: AtomicUsize,
        peak: AtomicUsize,
    }

    /// A fresh counter, for `#[global_allocator]`.
    pub const HEAP_OF: Counting = Counting { used: AtomicUsize::new(0), peak: AtomicUsize::new(0) };

    impl Counting {
        /// Bytes in use.
        pub fn used(&self) -> usize {
            self.used.load(Relaxed)
        }

        /// Most bytes in use at once since the last [`reset_peak`](Self::reset_peak).
        pub fn peak(&self) -> usize {
            self.peak.load(Relaxed)
        }

        /// Starts a new high-water mark from what is in use now.
        pub fn reset_peak(&self) {
            self.peak.store(self.used(), Relaxed);
        }

        fn grew(&self, n: usize) {
            let now = self.used.fetch_add(n, Relaxed) + n;
            self.peak.fetch_max(now, Relaxed);
        }
    }

    // SAFETY: every call goes to the system allocator unchanged; the
    // wrapper only counts.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract is System's.
            let p = unsafe { System.alloc(layout) };
            if !p.is_null() {
                self.grew(layout.size());
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract is System's.
            unsafe { System.dealloc(ptr, layout) };
            self.used.fetch_sub(layout.size(), Relaxed);
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: the caller's contract is System's.
            let p = unsafe { System.realloc(ptr, layout, new_size) };
            if !p.is_null() {
                // The old block lives until the copy is made: count both.
                self.grew(new_size);
                self.used.fetch_sub(layout.size(), Relaxed);
            }
            p
        }
    }
}
