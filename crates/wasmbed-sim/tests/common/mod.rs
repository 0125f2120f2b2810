//! The example apps, built for wasm32 (a no-op when they are fresh).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // each test file uses its own part

/// The bytes of example app `name`.
pub fn app(name: &str) -> Vec<u8> {
    wasmbed_testkit::example_app(name)
}
