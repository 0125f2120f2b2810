//! The wire as the agent's tests drive it: frames in, frames out.

#![allow(dead_code)] // each test file uses its own part

use wasmbed_agent::{Agent, AgentError};
use wasmbed_protocol::*;

/// Encodes `msg` as one frame and hands it to the agent.
pub fn send(agent: &mut Agent, msg: &GatewayMsg, now_ms: u64) -> Result<(), AgentError> {
    let mut wire = Vec::new();
    encode_frame(msg, &mut wire).unwrap();
    agent.receive(&wire, now_ms)
}

/// Everything the agent has queued to send, decoded.
pub fn drain(agent: &mut Agent) -> Vec<DeviceMsg> {
    let out = agent.take_outgoing();
    let mut r = FrameReader::new(MAX_FRAME_LEN);
    r.push(&out).unwrap();
    let mut msgs = vec![];
    while let Some(p) = r.next_frame().unwrap() {
        msgs.push(decode_device_msg(&p).unwrap());
    }
    msgs
}
