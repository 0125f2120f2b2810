//! The SDK decodes exactly the codes the device returns: its `HostError`
//! is `wasmbed_protocol::HostError`, case for case (the SDK cannot depend
//! on the protocol crate, which needs an allocator apps do not have).

#![allow(clippy::unwrap_used)] // Test: a failed unwrap is a failed test.

use wasmbed_protocol::HostError as Device;
use wasmbed_sdk::HostError;

#[test]
fn every_device_code_decodes_to_the_error_of_the_same_name() {
    for e in Device::ALL {
        let ours = HostError::from_code(e.code());
        assert_eq!(ours.name(), e.name());
        assert_eq!(ours.code(), e.code());
    }
    // Nothing the SDK knows that the device does not.
    for code in -64..0 {
        let ours = HostError::from_code(code);
        assert_eq!(matches!(ours, HostError::Other(_)), Device::from_code(code).is_none(), "{code}");
    }
}

#[test]
fn limits_are_the_devices() {
    assert_eq!(wasmbed_sdk::MAX_TRANSFER_LEN, wasmbed_protocol::MAX_TRANSFER_LEN);
    assert_eq!(wasmbed_sdk::messages::MAX_MESSAGE_LEN, wasmbed_protocol::MAX_MESSAGE_LEN);
    assert_eq!(wasmbed_sdk::config::MAX_VALUE_LEN, wasmbed_protocol::MAX_CONFIG_VALUE_LEN);
}
