//! Untrusted bytes as a gateway receives them from a device: through the
//! frame reader (split where the first input byte says), then
//! `decode_device_msg`; and the raw bytes straight into the decoder. Nothing may
//! panic, and whatever decodes must re-encode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmbed_protocol::{FrameReader, MAX_FRAME_LEN, decode_device_msg};

fuzz_target!(|data: &[u8]| {
    check(data);
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
            check(&payload);
        }
    }
});

fn check(payload: &[u8]) {
    if let Ok(msg) = decode_device_msg(payload) {
        let again = minicbor::to_vec(&msg).expect("encoding into a Vec cannot fail");
        assert_eq!(decode_device_msg(&again).as_ref(), Ok(&msg));
    }
}
