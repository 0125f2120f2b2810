//! The wire as the agent's tests drive it: frames in, frames out.

#![allow(dead_code)] // each test file uses its own part

use wasmbed_agent::{Agent, AgentConfig, AgentError};
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

/// A device that has connected and sent its enrollment (taken), and waits
/// for the gateway's welcome.
pub fn awaiting_welcome() -> Agent {
    let mut agent = Agent::new(AgentConfig::new("dev-1", "sim"));
    agent.connected(0);
    agent.take_outgoing();
    agent
}
