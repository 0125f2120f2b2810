//! Guest bindings of `wasmbed:edge/component` (`wit/wasmbed-edge.wit`),
//! generated once here for every component: implement [`Guest`] and name
//! the type with [`export!`].
//!
//! ```ignore
//! use wasmbed_edge_guest::{Guest, Sample, export};
//! struct Mine;
//! impl Guest for Mine { /* init, on_telemetry, on_message, on_tick */ }
//! export!(Mine);
//! ```
// Generated code: its signatures follow the WIT.
#![allow(clippy::too_many_arguments, missing_docs)]

pub use bindings::*;

/// The generated bindings (in a module: the export macro is exported at
/// the crate root, where a second definition of its helper would clash).
mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/wasmbed-edge.wit",
        world: "component",
        pub_export_macro: true,
        default_bindings_module: "wasmbed_edge_guest",
    });
}
