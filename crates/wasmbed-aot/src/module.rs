//! What compiling needs to know of a module: its imports with their
//! types, and which of the app contract's entry points it exports.

use wasmparser::types::EntityType;
use wasmparser::{ValType, Validator, WasmFeatures};

use crate::AotError;

/// The import module of the app contract.
const IMPORT_MODULE: &str = "wasmbed";

/// A value type as the glue's C sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CType {
    /// `u32` (i32).
    U32,
    /// `u64` (i64).
    U64,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl CType {
    fn of(t: ValType) -> Option<Self> {
        match t {
            ValType::I32 => Some(Self::U32),
            ValType::I64 => Some(Self::U64),
            ValType::F32 => Some(Self::F32),
            ValType::F64 => Some(Self::F64),
            _ => None,
        }
    }

    fn from_contract(t: wasmbed_protocol::WasmType) -> Self {
        match t {
            wasmbed_protocol::WasmType::I32 => Self::U32,
            wasmbed_protocol::WasmType::I64 => Self::U64,
            wasmbed_protocol::WasmType::F64 => Self::F64,
        }
    }

    /// The C type wasm2c declares.
    pub fn c(self) -> &'static str {
        match self {
            Self::U32 => "u32",
            Self::U64 => "u64",
            Self::F32 => "f32",
            Self::F64 => "f64",
        }
    }
}

/// One imported function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Its name in the `wasmbed` module.
    pub name: String,
    /// Parameters.
    pub params: Vec<CType>,
    /// Result, if any.
    pub result: Option<CType>,
}

/// Which entry points the module exports with the contract's signature.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EntryPoints {
    /// `init()`.
    pub init: bool,
    /// `tick(i64)`.
    pub tick: bool,
    /// `on_message(i32)`.
    pub on_message: bool,
    /// `memory`.
    pub memory: bool,
}

/// A validated module's imports and entry points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleShape {
    /// Imported functions, in the order the import section lists them.
    pub imports: Vec<Import>,
    /// What it exports of the contract.
    pub entry: EntryPoints,
}

impl ModuleShape {
    /// Validates `bytes` (WebAssembly 2.0 as wasmi runs it, no SIMD,
    /// threads or GC) and reads its shape.
    pub fn read(bytes: &[u8]) -> Result<Self, AotError> {
        let features = WasmFeatures::WASM2;
        let types =
            Validator::new_with_features(features).validate_all(bytes).map_err(|e| AotError::Module(e.to_string()))?;
        let types = types.as_ref();
        let mut imports = Vec::new();
        for (module, name, ty) in types.core_imports().into_iter().flatten() {
            let EntityType::Func(id) = ty else {
                return Err(AotError::Module(format!("import {module}.{name} is not a function")));
            };
            if module != IMPORT_MODULE {
                return Err(AotError::Module(format!("import {module}.{name} is not from the `wasmbed` module")));
            }
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(AotError::Module(format!("import name {name:?} is not an identifier")));
            }
            let f = types[id].unwrap_func();
            let params = f.params().iter().map(|&t| CType::of(t)).collect::<Option<Vec<_>>>();
            let result = match f.results() {
                [] => Some(None),
                [t] => CType::of(*t).map(Some),
                _ => None,
            };
            let (Some(params), Some(result)) = (params, result) else {
                return Err(AotError::Module(format!("import {module}.{name} has a type no host function has")));
            };
            // The interpreter's linker refuses an import of another type;
            // native code binds by name, so the type is checked here.
            let Some((want_params, want_result)) = wasmbed_protocol::import_type(name) else {
                return Err(AotError::Module(format!(
                    "import {module}.{name} is not provided by any capability of the app contract"
                )));
            };
            let want_params: Vec<CType> = want_params.iter().map(|&t| CType::from_contract(t)).collect();
            if params != want_params || result != want_result.map(CType::from_contract) {
                return Err(AotError::Module(format!(
                    "import {module}.{name} is declared with another type than the host function's"
                )));
            }
            imports.push(Import { name: name.into(), params, result });
        }
        let mut entry = EntryPoints::default();
        for (name, ty) in types.core_exports().into_iter().flatten() {
            let sig = |id: wasmparser::types::CoreTypeId| {
                let f = types[id].unwrap_func();
                (f.params().to_vec(), f.results().to_vec())
            };
            match (name, ty) {
                ("memory", EntityType::Memory(m)) => entry.memory = !m.memory64 && !m.shared,
                ("init", EntityType::Func(id)) => entry.init = sig(id) == (vec![], vec![]),
                ("tick", EntityType::Func(id)) => entry.tick = sig(id) == (vec![ValType::I64], vec![]),
                ("on_message", EntityType::Func(id)) => entry.on_message = sig(id) == (vec![ValType::I32], vec![]),
                _ => {}
            }
        }
        if !(entry.init || entry.tick || entry.on_message) {
            return Err(AotError::Module(
                "the module exports none of `init`, `tick(i64)` and `on_message(i32)`".into(),
            ));
        }
        Ok(Self { imports, entry })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(text: &str) -> Vec<u8> {
        wat::parse_str(text).unwrap_or_default()
    }

    #[test]
    fn imports_are_held_to_the_contracts_types() {
        let ok = wat(r#"(module (import "wasmbed" "log" (func (param i32 i32))) (func (export "init")))"#);
        assert_eq!(ModuleShape::read(&ok).map(|s| s.imports.len()).ok(), Some(1));
        for bad in [
            r#"(module (import "wasmbed" "log" (func (param i32) (result i32))) (func (export "init")))"#,
            r#"(module (import "wasmbed" "format_disk" (func)) (func (export "init")))"#,
            r#"(module (import "env" "log" (func (param i32 i32))) (func (export "init")))"#,
        ] {
            assert!(matches!(ModuleShape::read(&wat(bad)), Err(AotError::Module(_))), "{bad}");
        }
    }

    #[test]
    fn refuses_what_is_not_an_app() {
        assert!(matches!(ModuleShape::read(b"\0asm\x01\0\0\0garbage"), Err(AotError::Module(_))));
        assert!(matches!(ModuleShape::read(b"not wasm"), Err(AotError::Module(_))));
        // A module with nothing to call.
        assert!(matches!(ModuleShape::read(b"\0asm\x01\0\0\0"), Err(AotError::Module(_))));
    }
}
