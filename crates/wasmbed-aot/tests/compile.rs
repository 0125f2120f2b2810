//! Compiles real app modules for every board that runs apps, with the
//! tools on PATH (Debian's wabt and gcc-arm-none-eabi).

use wasmbed_aot::{AotError, Toolchain, compile};
use wasmbed_protocol::NativeArtifact;

fn kernels() -> Vec<u8> {
    let dir = std::env::var("WASMBED_APPS_DIR").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../apps/target/wasm32-unknown-unknown/release").into()
    });
    std::fs::read(format!("{dir}/kernels.wasm")).expect("kernels.wasm (cargo xtask apps)")
}

#[test]
fn kernels_compile_for_every_agent_board_reproducibly() {
    let tools = Toolchain::from_path().expect("wasm2c and arm-none-eabi-gcc");
    let module = kernels();
    for board in wasmbed_boards::BOARDS.iter().filter(|b| b.agent().is_some()) {
        let a = compile(&module, board, &tools).unwrap_or_else(|e| panic!("{}: {e}", board.name));
        assert_eq!(a.board, board.name);
        assert_eq!(a.imports, ["log"]);
        assert!(a.compiler.contains("wasm2c 1.0.32"), "{}", a.compiler);
        let again = compile(&module, board, &tools).expect("second build");
        assert_eq!(a.encode(), again.encode(), "{}: the build is not reproducible", board.name);
        assert_eq!(NativeArtifact::decode(&a.encode()).as_ref(), Ok(&a));
        eprintln!("{}: {} bytes, {} RAM, {} relocations", board.name, a.image.len(), a.ram_size, a.relocations.len());
    }
}

#[test]
fn a_board_without_an_agent_and_a_bad_module_are_refused() {
    let tools = Toolchain::from_path().expect("tools");
    let vl = wasmbed_boards::board("stm32vldiscovery").expect("board");
    assert!(matches!(compile(&kernels(), vl, &tools), Err(AotError::NoAgent(_))));
    let an385 = wasmbed_boards::board("mps2-an385").expect("board");
    let err = compile(b"\0asm\x01\0\0\0\x01\x02", an385, &tools).expect_err("garbage");
    assert!(matches!(err, AotError::Module(_)), "{err}");
}

#[test]
fn the_cache_compiles_once_and_replaces_a_damaged_copy() {
    let tools = Toolchain::from_path().expect("tools");
    let board = wasmbed_boards::board("mps2-an385").expect("board");
    let dir = tempfile::tempdir().expect("dir");
    let cache = wasmbed_aot::Cache::new(dir.path().join("aot"));
    let module = kernels();
    let (a, origin) = cache.get_or_compile(&module, board, &tools).expect("first");
    assert_eq!(origin, wasmbed_aot::Origin::Compiled);
    let (b, origin) = cache.get_or_compile(&module, board, &tools).expect("second");
    assert_eq!((origin, &b), (wasmbed_aot::Origin::Cached, &a));
    // Another board is another entry.
    let an386 = wasmbed_boards::board("mps2-an386").expect("board");
    assert_eq!(cache.get_or_compile(&module, an386, &tools).expect("an386").1, wasmbed_aot::Origin::Compiled);
    // A damaged copy is compiled again, not trusted.
    for entry in std::fs::read_dir(dir.path().join("aot")).expect("ls") {
        let path = entry.expect("entry").path();
        std::fs::write(&path, b"damaged").expect("damage");
    }
    let (c, origin) = cache.get_or_compile(&module, board, &tools).expect("third");
    assert_eq!((origin, &c), (wasmbed_aot::Origin::Compiled, &a));
}

#[test]
fn a_module_importing_nothing_compiles() {
    // wasm2c gives such an instance no host pointer: the glue keeps its own.
    let tools = Toolchain::from_path().expect("tools");
    let board = wasmbed_boards::board("mps2-an385").expect("board");
    for wat in [
        r#"(module (memory (export "memory") 1) (func (export "init") (i32.store (i32.const 0) (i32.const 1))))"#,
        r#"(module (func (export "tick") (param i64)))"#,
    ] {
        let module = wat::parse_str(wat).expect("wat");
        let a = compile(&module, board, &tools).unwrap_or_else(|e| panic!("{wat}: {e}"));
        assert!(a.imports.is_empty(), "{wat}");
    }
}
