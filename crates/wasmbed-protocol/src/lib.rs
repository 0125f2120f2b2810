//! The wire contract between a Wasmbed device and its gateway.
//!
//! Everything a device and a gateway say to each other is one of two message
//! enums: [`DeviceMsg`] (device → gateway) and [`GatewayMsg`] (gateway →
//! device). Messages are CBOR maps with explicit, never-reused field numbers
//! (minicbor), carried in frames:
//!
//! ```text
//! +----------------+---------+----------------------+
//! | length: u32 BE | version | CBOR message         |
//! +----------------+---------+----------------------+
//!   counts version + message; at most MAX_FRAME_LEN
//! ```
//!
//! Untrusted bytes enter only through [`FrameReader`] (which rejects an
//! oversized length before buffering it and an unknown version before
//! decoding) and [`decode_device_msg`] / [`decode_gateway_msg`] (which never
//! panic: a fuzz target in `fuzz/` holds them to that).
//!
//! ```
//! use wasmbed_protocol::*;
//! let msg = DeviceMsg::Heartbeat(Heartbeat { uptime_ms: 5, free_memory: 1024, apps: vec![] });
//! let mut wire = Vec::new();
//! encode_frame(&msg, &mut wire).unwrap();
//! let mut reader = FrameReader::new(MAX_FRAME_LEN);
//! reader.push(&wire).unwrap();
//! let payload = reader.next_frame().unwrap().unwrap();
//! assert_eq!(decode_device_msg(&payload).unwrap(), msg);
//! ```
#![no_std]
#![deny(missing_docs)]

extern crate alloc;
// The schema derives (host builds only) expand to paths into std.
#[cfg(any(feature = "schema", feature = "openapi"))]
extern crate std;

mod app_io;
mod budget;
mod bundle;
mod frame;
mod manifest;
mod msg;
mod native;
mod terminal;

pub use app_io::*;
pub use budget::ModuleBudget;
pub use bundle::{BUNDLE_MAGIC, BUNDLE_VERSION, BundleError, IdentityBundle};
pub use frame::{
    FRAME_HEADER_LEN, FrameError, FrameReader, MAX_FRAME_LEN, PROTOCOL_VERSION, decode_device_msg, decode_gateway_msg,
    encode_frame,
};
pub use manifest::*;
pub use msg::*;
pub use native::{
    NATIVE_BOUNDS_MPU, NATIVE_EXPORTS_MEMORY, NATIVE_HEADER_LEN, NATIVE_IO_WORDS, NATIVE_MAGIC, NativeArtifact,
    NativeError,
};
/// Heartbeat interval a device keeps until its gateway's `Welcome` says
/// otherwise, and the interval the platform asks for by default.
pub const DEFAULT_HEARTBEAT_MS: u32 = 5_000;

/// Largest module a device accepts and the platform stores (bytes).
pub const MAX_MODULE_LEN: usize = 128 * 1024;

/// Apps one device reports at most. Agents hold far fewer (4 by default);
/// a gateway tracks no more slots than this for a device and drops the rest.
pub const MAX_DEVICE_APPS: usize = 64;

/// Longest version string an application may carry; a device reporting a
/// longer one reports something the platform never sent.
pub const MAX_VERSION_LEN: usize = 64;

pub use terminal::{
    Command, CommandBoundError, CommandOutcome, CommandResult, MAX_COMMAND_ARG_LEN, MAX_COMMAND_ARGS,
    MAX_COMMAND_NAME_LEN, MAX_COMMAND_OUTPUT, fit_output,
};
