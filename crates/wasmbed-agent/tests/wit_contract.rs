//! The app contract cannot drift: `wit/wasmbed-device.wit` is parsed and
//! every function of world `app` is lowered to its core-wasm form by the
//! rule in the file's header, then checked against what the agent really
//! links and calls.
//!
//! - Imports: the core name belongs to the capability named as its
//!   interface (`Capability::imports`), and a module importing it with the
//!   lowered type instantiates when that capability alone is granted (wasmi
//!   checks an import's type when linking, so a different signature fails).
//! - Reverse: every import of every capability is in the WIT, so the agent
//!   links nothing apps cannot read about. (An app can only import what
//!   `Capability::imports` lists; anything else fails to instantiate.)
//! - Exports: a module exporting `init`, `tick` and `on_message` with the
//!   lowered types has each of them called by an agent.
//! - The WIT's `host-error` cases are `HostError` in order, with codes
//!   -1, -2, ...

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Test: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use sha2::{Digest, Sha256};
use wasmbed_agent::{Agent, AgentConfig, AppRuntime, Capability, IMPORT_MODULE};
use wasmbed_protocol::*;
use wit_parser::{Function, Resolve, Type, TypeDefKind, WorldItem, WorldKey};

/// A core-wasm value type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Core {
    I32,
    I64,
    F64,
}

impl Core {
    fn wat(self) -> &'static str {
        match self {
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::F64 => "f64",
        }
    }
}

/// A function in core form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CoreFunc {
    name: String,
    params: Vec<Core>,
    results: Vec<Core>,
}

impl CoreFunc {
    fn wat_type(&self) -> String {
        format!("(func{})", self.wat_sig())
    }

    /// ` (param ..) (result ..)`.
    fn wat_sig(&self) -> String {
        let list = |kind: &str, ts: &[Core]| {
            if ts.is_empty() {
                String::new()
            } else {
                format!(" ({kind} {})", ts.iter().map(|t| t.wat()).collect::<Vec<_>>().join(" "))
            }
        };
        format!("{}{}", list("param", &self.params), list("result", &self.results))
    }
}

struct Wit {
    resolve: Resolve,
    world: wit_parser::WorldId,
}

fn wit() -> Wit {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../wit/wasmbed-device.wit");
    let mut resolve = Resolve::new();
    let package = resolve.push_file(&path).expect("the WIT parses");
    let world = resolve.select_world(&[package], Some("app")).expect("world `app`");
    Wit { resolve, world }
}

impl Wit {
    /// Follows `type x = y` aliases.
    fn resolved(&self, ty: Type) -> Type {
        match ty {
            Type::Id(id) => match &self.resolve.types[id].kind {
                TypeDefKind::Type(inner) => self.resolved(*inner),
                _ => ty,
            },
            other => other,
        }
    }

    /// `string` or `list<u8>`: a span of app memory.
    fn is_bytes(&self, ty: Type) -> bool {
        match self.resolved(ty) {
            Type::String => true,
            Type::Id(id) => matches!(self.resolve.types[id].kind, TypeDefKind::List(Type::U8)),
            _ => false,
        }
    }

    fn scalar(&self, ty: Type, what: &str) -> Core {
        match self.resolved(ty) {
            Type::Bool | Type::U8 | Type::U16 | Type::U32 | Type::S32 => Core::I32,
            Type::U64 | Type::S64 => Core::I64,
            Type::F64 => Core::F64,
            other => panic!("{what}: {other:?} is outside the lowering rule (scalars and (ptr, len) pairs)"),
        }
    }

    /// The header's lowering rule.
    fn lower(&self, core_name: String, f: &Function) -> CoreFunc {
        let mut params = Vec::new();
        for (name, ty) in &f.params {
            if self.is_bytes(*ty) {
                params.extend([Core::I32, Core::I32]);
            } else {
                params.push(self.scalar(*ty, &format!("{}({name})", f.name)));
            }
        }
        let results = match f.result {
            None => vec![],
            // A string result: the caller's (ptr, cap) buffer, and the full length.
            Some(ty) if self.is_bytes(ty) => {
                params.extend([Core::I32, Core::I32]);
                vec![Core::I32]
            }
            Some(ty) => vec![self.scalar(ty, &format!("{} result", f.name))],
        };
        CoreFunc { name: core_name, params, results }
    }

    /// `(interface, capability, function)` for every imported function.
    fn imports(&self) -> Vec<(String, CoreFunc)> {
        let mut out = Vec::new();
        for (key, item) in &self.resolve.worlds[self.world].imports {
            let WorldItem::Interface { id, .. } = item else {
                panic!("world app imports {key:?}, which is not an interface");
            };
            let iface = &self.resolve.interfaces[*id];
            let iname = iface.name.clone().expect("named interface");
            for (fname, f) in &iface.functions {
                out.push((iname.clone(), self.lower(core_import_name(&iname, fname), f)));
            }
        }
        out
    }

    fn exports(&self) -> Vec<CoreFunc> {
        self.resolve.worlds[self.world]
            .exports
            .iter()
            .map(|(key, item)| match (key, item) {
                (WorldKey::Name(name), WorldItem::Function(f)) => self.lower(name.replace('-', "_"), f),
                other => panic!("world app exports {other:?}, which is not a function"),
            })
            .collect()
    }
}

/// The header's naming rule.
fn core_import_name(interface: &str, function: &str) -> String {
    match (interface, function) {
        // v1: the function's own name.
        ("log" | "time" | "device", f) => f.replace('-', "_"),
        (i, f) => format!("{i}_{}", f.replace('-', "_")),
    }
}

fn importing(f: &CoreFunc) -> Vec<u8> {
    let wat = format!(
        r#"(module
             (import "{IMPORT_MODULE}" "{}" {})
             (memory (export "memory") 1)
             (func (export "init")))"#,
        f.name,
        f.wat_type()
    );
    wat::parse_str(wat).unwrap()
}

fn instantiates(f: &CoreFunc, granted: Capability) -> Result<(), String> {
    AppRuntime::default().instantiate_granted(&importing(f), AppLimits::default(), &[granted], &[], &[]).map(|_| ())
}

#[test]
fn every_wit_import_is_linked_by_its_capability_with_the_lowered_type() {
    let wit = wit();
    let imports = wit.imports();
    assert!(!imports.is_empty());
    for (interface, f) in &imports {
        let cap = Capability::from_name(interface)
            .unwrap_or_else(|| panic!("interface {interface} has functions but is no capability"));
        assert!(cap.imports().contains(&f.name.as_str()), "{interface}: {} is not in {cap:?}.imports()", f.name);
        if let Err(e) = instantiates(f, cap) {
            panic!("{interface}.{} as {}: the agent does not link it so: {e}", f.name, f.wat_type());
        }
    }
}

#[test]
fn the_protocols_import_types_are_the_wit_lowering() {
    // Native code is held to `import_type` when it is compiled (wasmbed-aot):
    // the table must say what the WIT and the linker say.
    let core = |t: &WasmType| match t {
        WasmType::I32 => Core::I32,
        WasmType::I64 => Core::I64,
        WasmType::F64 => Core::F64,
    };
    for (interface, f) in wit().imports() {
        let (params, result) = import_type(&f.name).unwrap_or_else(|| panic!("{interface}.{}: no import_type", f.name));
        assert_eq!(params.iter().map(core).collect::<Vec<_>>(), f.params, "{}", f.name);
        assert_eq!(result.iter().map(core).collect::<Vec<_>>(), f.results, "{}", f.name);
    }
}

#[test]
fn a_signature_other_than_the_wit_one_does_not_link() {
    // The check above is only as good as the linker's type check: prove it bites.
    let (interface, f) = wit().imports().into_iter().find(|(_, f)| f.name == "i2c_write_read").unwrap();
    let cap = Capability::from_name(&interface).unwrap();
    let mut wrong = f.clone();
    wrong.params.pop();
    assert!(instantiates(&wrong, cap).is_err(), "a missing parameter links");
    let mut wrong = f.clone();
    wrong.results = vec![Core::I64];
    assert!(instantiates(&wrong, cap).is_err(), "another result type links");
    // And the right one needs its capability.
    assert!(instantiates(&f, Capability::Log).is_err());
}

#[test]
fn the_agent_links_nothing_the_wit_lacks() {
    let in_wit: BTreeSet<(String, String)> = wit().imports().into_iter().map(|(i, f)| (i, f.name)).collect();
    let linked: BTreeSet<(String, String)> = Capability::ALL
        .iter()
        .flat_map(|c| c.imports().iter().map(|n| (c.name().to_string(), n.to_string())))
        .collect();
    let missing: Vec<_> = linked.difference(&in_wit).collect();
    assert!(missing.is_empty(), "linked by the agent, absent from the WIT: {missing:?}");
    assert_eq!(linked, in_wit);
}

#[test]
fn host_error_codes_are_the_wit_enum_in_order() {
    let wit = wit();
    let types = wit
        .resolve
        .interfaces
        .iter()
        .find(|(_, i)| i.name.as_deref() == Some("types"))
        .map(|(_, i)| i)
        .expect("interface types");
    let id = types.types["host-error"];
    let TypeDefKind::Enum(e) = &wit.resolve.types[id].kind else { panic!("host-error is an enum") };
    let names: Vec<&str> = e.cases.iter().map(|c| c.name.as_str()).collect();
    let ours: Vec<&str> = HostError::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(names, ours);
    for (i, err) in HostError::ALL.iter().enumerate() {
        assert_eq!(err.code(), -1 - i as i32, "{}", err.name());
    }
    assert!(matches!(wit.resolved(Type::Id(types.types["status"])), Type::S32));
}

#[test]
fn the_agent_calls_every_wit_export_with_the_lowered_type() {
    let exports = wit().exports();
    let names: Vec<&str> = exports.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, wasmbed_agent::ENTRY_POINTS);
    // Each export logs its own name: the agent found it with that type.
    let mut data = String::new();
    let mut funcs = String::new();
    for (i, f) in exports.iter().enumerate() {
        let at = i * 16;
        data.push_str(&format!("(data (i32.const {at}) \"{}\")\n", f.name));
        funcs.push_str(&format!(
            "(func (export \"{}\") {} (call $log (i32.const {at}) (i32.const {})))\n",
            f.name,
            f.wat_sig(),
            f.name.len()
        ));
    }
    let wat = format!(
        r#"(module
             (import "{IMPORT_MODULE}" "log" (func $log (param i32 i32)))
             (memory (export "memory") 1)
             {data}
             {funcs})"#
    );
    let bytes = wat::parse_str(&wat).unwrap();

    let mut agent = Agent::new(AgentConfig::new("dev-1", "sim").simulated());
    agent.connected(0);
    common::drain(&mut agent);
    let welcome = Welcome { heartbeat_ms: 60_000, unix_time_s: 1_700_000_000, unix_time_ms: None };
    common::send(&mut agent, &GatewayMsg::Welcome(welcome), 0).unwrap();
    let begin = DeployBegin {
        app: "contract".into(),
        version: "1".into(),
        size: bytes.len() as u32,
        sha256: <[u8; 32]>::from(Sha256::digest(&bytes)).into(),
        limits: AppLimits { fuel_per_call: 100_000, max_memory_pages: 1, tick_ms: 100 },
        revision: None,
        start: None,
        grants: Some(vec![Capability::Log]),
        resources: None,
        config: None,
        manifest: None,
        native: None,
    };
    common::send(&mut agent, &GatewayMsg::DeployBegin(begin), 0).unwrap();
    let chunk = DeployChunk { app: "contract".into(), offset: 0, data: bytes.clone().into() };
    common::send(&mut agent, &GatewayMsg::DeployChunk(chunk), 0).unwrap();
    agent.poll(150, 1 << 20);
    let message = AppMessage { id: 1, app: "contract".into(), payload: b"hi".to_vec().into() };
    common::send(&mut agent, &GatewayMsg::AppMessage(message), 160).unwrap();

    let msgs = common::drain(&mut agent);
    let logged: Vec<&str> = msgs
        .iter()
        .filter_map(|m| match m {
            DeviceMsg::AppLog(l) => Some(l.line.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(logged, ["init", "tick", "on_message"], "{msgs:?}");
    assert!(msgs.iter().any(|m| matches!(m, DeviceMsg::MessageResult(r) if r.delivery == Delivery::Delivered)));
}
