//! Host bindings generated from `wit/wasmbed-edge.wit` (the one contract;
//! components are built from the same file).
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit/wasmbed-edge.wit",
    world: "component",
    additional_derives: [PartialEq],
});
