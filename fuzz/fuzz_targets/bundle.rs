//! Untrusted bytes as firmware reads them from its identity region:
//! `IdentityBundle::from_bytes` must not panic, and a bundle it accepts must
//! survive `to_bytes` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wasmbed_protocol::IdentityBundle;

fuzz_target!(|data: &[u8]| {
    if let Ok(bundle) = IdentityBundle::from_bytes(data) {
        let _ = format!("{bundle:?}");
        assert_eq!(
            IdentityBundle::from_bytes(&bundle.to_bytes()).as_ref(),
            Ok(&bundle)
        );
    }
});
