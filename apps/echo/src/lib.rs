//! Logs each message sent to it and publishes its length as `msg_len`.
//! Needs `log`, `messages` and `telemetry`.
#![no_std]

use wasmbed_sdk::{App, Line, OnMessage, log_bytes, telemetry};

struct Echo;

impl App for Echo {
    fn init() {}

    fn tick(_now_ms: u64) {}
}

impl OnMessage for Echo {
    fn on_message(msg: &[u8]) {
        log_bytes(msg);
        if let Err(e) = telemetry::publish("msg_len", msg.len() as f64) {
            Line::new().push_str("msg_len not published: ").push_str(e.name()).log();
        }
    }
}

wasmbed_sdk::export!(Echo, messages);
