//! What a session has to write to its device, in order, and how it is
//! written: a session's own small messages beside module chunks encoded
//! once and shared by every session deploying the same module (a fleet-wide
//! deploy holds one copy of the frames, not one per device), written with
//! a bound on how long the device may take no bytes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::time::timeout;
use wasmbed_protocol::{DEPLOY_CHUNK_LEN, DeployChunk, GatewayMsg, encode_frame};

/// Why a write ended the session.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    /// The device took no bytes for the whole write timeout.
    #[error("the device read nothing for {0:?}")]
    Stalled(Duration),
    /// The transport failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
}

enum Part {
    Own(Vec<u8>),
    Shared(Arc<[u8]>),
}

impl AsRef<[u8]> for Part {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Own(v) => v,
            Self::Shared(s) => s,
        }
    }
}

/// Frames waiting to be written.
#[derive(Default)]
pub(crate) struct Outbox {
    parts: Vec<Part>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("parts", &self.parts.len()).finish()
    }
}

impl Outbox {
    /// Queues `msg` (encoded into the session's own buffer).
    pub(crate) fn queue(&mut self, msg: &GatewayMsg) -> Result<(), wasmbed_protocol::FrameError> {
        if !matches!(self.parts.last(), Some(Part::Own(_))) {
            self.parts.push(Part::Own(Vec::new()));
        }
        match self.parts.last_mut() {
            Some(Part::Own(buf)) => encode_frame(msg, buf),
            _ => Ok(()),
        }
    }

    /// Queues frames shared with other sessions.
    pub(crate) fn share(&mut self, frames: Arc<[u8]>) {
        self.parts.push(Part::Shared(frames));
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.parts.iter().all(|p| p.as_ref().is_empty())
    }

    /// Writes everything queued to `w`, failing when `w` accepts no byte
    /// for `stall`. The queue is empty afterwards, written or not.
    pub(crate) async fn write_to<W: AsyncWrite + Unpin>(
        &mut self,
        w: &mut W,
        stall: Duration,
    ) -> Result<(), WriteError> {
        for part in std::mem::take(&mut self.parts) {
            let mut rest = part.as_ref();
            while !rest.is_empty() {
                // Each write returns once some bytes were taken: the bound
                // is on a device taking none, not on a slow link.
                let n = timeout(stall, w.write(rest)).await.map_err(|_| WriteError::Stalled(stall))??;
                if n == 0 {
                    return Err(std::io::Error::from(std::io::ErrorKind::WriteZero).into());
                }
                rest = &rest[n..];
            }
        }
        timeout(stall, w.flush()).await.map_err(|_| WriteError::Stalled(stall))??;
        Ok(())
    }
}

/// DeployChunk frames by (slot, digest), encoded by the first session that
/// needs them and shared by the others.
#[derive(Debug, Default)]
pub(crate) struct ChunkCache {
    frames: Mutex<HashMap<SlotModule, Arc<[u8]>>>,
}

/// A slot name and a module digest.
type SlotModule = (String, String);

impl ChunkCache {
    /// Entries kept before the cache starts over.
    const LEN: usize = 64;

    /// The frames of `module` (digest `digest`) for `slot`.
    pub(crate) fn get(
        &self,
        slot: &str,
        digest: &str,
        module: &[u8],
    ) -> Result<Arc<[u8]>, wasmbed_protocol::FrameError> {
        let key = (slot.to_string(), digest.to_string());
        if let Some(f) = self.frames.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(f);
        }
        let frames = chunk_frames(slot, module)?;
        if let Ok(mut cache) = self.frames.lock() {
            if cache.len() >= Self::LEN {
                cache.clear();
            }
            // Two sessions may have encoded at once: keep the first.
            return Ok(cache.entry(key).or_insert(frames).clone());
        }
        Ok(frames)
    }
}

/// The DeployChunk frames carrying `module` into `slot`, back to back.
fn chunk_frames(slot: &str, module: &[u8]) -> Result<Arc<[u8]>, wasmbed_protocol::FrameError> {
    let mut out = Vec::with_capacity(module.len() + module.len().div_ceil(DEPLOY_CHUNK_LEN) * (slot.len() + 32));
    for (i, chunk) in module.chunks(DEPLOY_CHUNK_LEN).enumerate() {
        let offset = (i * DEPLOY_CHUNK_LEN) as u32;
        let msg = DeployChunk { app: slot.into(), offset, data: chunk.to_vec().into() };
        encode_frame(&GatewayMsg::DeployChunk(msg), &mut out)?;
    }
    Ok(out.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_protocol::{AppRef, FrameReader, MAX_FRAME_LEN, decode_gateway_msg};

    fn decode_all(bytes: &[u8]) -> Vec<GatewayMsg> {
        let mut r = FrameReader::new(MAX_FRAME_LEN);
        let mut out = Vec::new();
        if r.push(bytes).is_err() {
            return out;
        }
        while let Ok(Some(frame)) = r.next_frame() {
            match decode_gateway_msg(&frame) {
                Ok(m) => out.push(m),
                Err(_) => break,
            }
        }
        out
    }

    #[tokio::test]
    async fn own_and_shared_frames_go_out_in_order_and_the_chunks_rebuild_the_module() {
        let module: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
        let frames = chunk_frames("app", &module).unwrap_or_else(|e| panic!("{e}"));
        let mut out = Outbox::default();
        let _ = out.queue(&GatewayMsg::Start(AppRef { app: "before".into() }));
        out.share(frames.clone());
        let _ = out.queue(&GatewayMsg::Start(AppRef { app: "after".into() }));
        let mut wire = Vec::new();
        out.write_to(&mut wire, Duration::from_secs(1)).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(out.is_empty());
        let msgs = decode_all(&wire);
        assert_eq!(msgs.len(), 5, "start, 3 chunks, start");
        assert!(matches!(&msgs[0], GatewayMsg::Start(a) if a.app == "before"));
        assert!(matches!(&msgs[4], GatewayMsg::Start(a) if a.app == "after"));
        let mut rebuilt = Vec::new();
        for m in &msgs[1..4] {
            let GatewayMsg::DeployChunk(c) = m else { panic!("expected a chunk, got {m:?}") };
            assert_eq!(c.offset as usize, rebuilt.len());
            rebuilt.extend_from_slice(&c.data);
        }
        assert_eq!(rebuilt, module);
        assert_eq!(Arc::strong_count(&frames), 1, "the session let go of the shared frames");
    }

    #[test]
    fn sessions_deploying_one_module_share_one_copy_of_its_chunks() {
        let cache = ChunkCache::default();
        let module = vec![1u8; 10_000];
        let a = cache.get("app", "d1", &module).unwrap_or_else(|e| panic!("{e}"));
        let b = cache.get("app", "d1", &module).unwrap_or_else(|e| panic!("{e}"));
        assert!(Arc::ptr_eq(&a, &b));
        let other = cache.get("app.r2", "d1", &module).unwrap_or_else(|e| panic!("{e}"));
        assert!(!Arc::ptr_eq(&a, &other), "another slot names itself in every chunk");
    }

    #[tokio::test]
    async fn a_reader_that_takes_nothing_stalls_the_write() {
        // A pipe whose far end is never read: its buffer fills, then writes wait.
        let (mut near, _far) = tokio::io::duplex(1024);
        let mut out = Outbox::default();
        out.share(vec![7u8; 64 * 1024].into());
        let r = out.write_to(&mut near, Duration::from_millis(100)).await;
        assert!(matches!(r, Err(WriteError::Stalled(_))), "{r:?}");
    }
}
