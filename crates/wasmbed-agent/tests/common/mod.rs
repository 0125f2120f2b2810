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

/// A deploy of `bytes` as `app` under `limits`, started once installed,
/// with the default grants. Built from CBOR holding only these fields, so
/// it stays right whatever optional fields the message gains.
pub fn deploy_begin(app: &str, bytes: &[u8], limits: AppLimits) -> DeployBegin {
    use sha2::Digest;
    let sha: [u8; 32] = sha2::Sha256::digest(bytes).into();
    let mut cbor = minicbor::Encoder::new(Vec::new());
    cbor.map(5).unwrap();
    cbor.u8(0).unwrap().str(app).unwrap();
    cbor.u8(1).unwrap().str("1").unwrap();
    cbor.u8(2).unwrap().u32(bytes.len() as u32).unwrap();
    cbor.u8(3).unwrap().bytes(&sha).unwrap();
    cbor.u8(4).unwrap().encode(limits).unwrap();
    minicbor::decode(cbor.writer()).unwrap()
}

/// The frames a gateway sends to deploy `bytes` as `app`: the begin, then
/// chunks of the protocol's size.
pub fn deploy_frames(app: &str, bytes: &[u8], limits: AppLimits) -> Vec<u8> {
    let mut wire = Vec::new();
    encode_frame(&GatewayMsg::DeployBegin(deploy_begin(app, bytes, limits)), &mut wire).unwrap();
    for (i, piece) in bytes.chunks(DEPLOY_CHUNK_LEN).enumerate() {
        let chunk = DeployChunk { app: app.into(), offset: (i * DEPLOY_CHUNK_LEN) as u32, data: piece.to_vec().into() };
        encode_frame(&GatewayMsg::DeployChunk(chunk), &mut wire).unwrap();
    }
    wire
}

/// A device of `budget` that is online (welcomed, its enrollment taken).
pub fn online(budget: ModuleBudget) -> Agent {
    let mut agent = Agent::new(AgentConfig::new("dev-1", "sim").with_budget(budget));
    agent.connected(0);
    agent.take_outgoing();
    send(&mut agent, &GatewayMsg::Welcome(Welcome { heartbeat_ms: 60_000, unix_time_s: 0, unix_time_ms: None }), 0)
        .unwrap();
    agent.take_outgoing();
    agent
}
