//! Untrusted bytes as a gateway receives them from a device: through the
//! frame reader (split where the first input byte says), then
//! `decode_device_msg`; and the raw bytes straight into the decoder. Nothing may
//! panic, and whatever decodes must re-encode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmbed_protocol::decode_device_msg;

fuzz_target!(|data: &[u8]| wasmbed_fuzz::frames_then_decode(data, decode_device_msg));
