//! What the message targets share: untrusted bytes through the frame reader
//! and straight into one direction's decoder. Nothing may panic, and
//! whatever decodes must re-encode to the same message.

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
