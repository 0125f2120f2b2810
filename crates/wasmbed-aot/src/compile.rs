//! Running the tools: wasm2c, the rewrite of its output, the glue, gcc,
//! and reading the linked image back.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use object::read::elf::ElfFile32;
use object::{Object, ObjectSection, ObjectSymbol, RelocationFlags, RelocationTarget, SectionIndex, elf};
use sha2::{Digest, Sha256};
use wasmbed_boards::Board;
use wasmbed_protocol::{NATIVE_BOUNDS_MPU, NATIVE_EXPORTS_MEMORY, NATIVE_IO_WORDS, NativeArtifact};

use crate::AotError;
use crate::module::{CType, ModuleShape};

/// The runtime every artifact links (see `rt/`).
const RT_FILES: [(&str, &str); 4] = [
    ("wasm-rt.h", include_str!("../rt/wasm-rt.h")),
    ("wasmbed-host.h", include_str!("../rt/wasmbed-host.h")),
    ("wasmbed-rt.c", include_str!("../rt/wasmbed-rt.c")),
    ("link.ld", include_str!("../rt/link.ld")),
];

/// Optimisation and code generation, beside the board's core flags.
const CFLAGS: &[&str] = &[
    "-O2",
    "-std=gnu11",
    "-ffreestanding",
    "-fno-common",
    "-ffunction-sections",
    "-fdata-sections",
    "-fno-stack-protector",
    "-fno-exceptions",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-fno-ident",
    "-g0",
    "-DNDEBUG",
    "-w",
];

/// Who keeps linear-memory accesses inside the memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// The code compares each address with the memory's size.
    Software,
    /// The code makes each access unprivileged (LDRT/STRT) and the
    /// device's MPU lets unprivileged accesses reach the memory and
    /// nothing else; only an address plus offset past 4 GiB is still
    /// checked in software. What every board gets: all their cores have
    /// an MPU ([`wasmbed_boards::Cpu::mpu`]) the firmware programs.
    Mpu,
}

impl Bounds {
    /// How artifacts for `board` are built.
    pub fn for_board(_board: &Board) -> Self {
        Self::Mpu
    }

    /// The name benchmarks and logs use.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Software => "software",
            Self::Mpu => "mpu",
        }
    }

    const fn cflags(self) -> &'static [&'static str] {
        match self {
            Self::Software => &[],
            Self::Mpu => &["-DWASMBED_BOUNDS_MPU"],
        }
    }
}

/// The tools, found on `PATH`, with their versions.
#[derive(Debug, Clone)]
pub struct Toolchain {
    wasm2c: PathBuf,
    gcc: PathBuf,
    versions: String,
}

fn version(tool: &'static str, path: &Path, arg: &str) -> Result<String, AotError> {
    let out = Command::new(path)
        .arg(arg)
        .output()
        .map_err(|e| AotError::Tool { tool, why: format!("{} ({e})", path.display()) })?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || text.is_empty() {
        return Err(AotError::Tool { tool, why: format!("`{} {arg}` said nothing", path.display()) });
    }
    Ok(text.lines().next().unwrap_or_default().to_string())
}

impl Toolchain {
    /// `wasm2c` and `arm-none-eabi-gcc` from `PATH` (Debian's `wabt` and
    /// `gcc-arm-none-eabi`).
    pub fn from_path() -> Result<Self, AotError> {
        Self::with("wasm2c".into(), "arm-none-eabi-gcc".into())
    }

    /// These tools.
    pub fn with(wasm2c: PathBuf, gcc: PathBuf) -> Result<Self, AotError> {
        let w = version("wasm2c", &wasm2c, "--version")?;
        let g = version("arm-none-eabi-gcc", &gcc, "-dumpversion")?;
        // Our part of the compiler: the runtime, and the rewrite and glue
        // (this file and the module reader), so a change to any of them
        // names another compiler and cached or stored code is built again.
        let ours =
            RT_FILES.iter().map(|(_, text)| *text).chain([include_str!("compile.rs"), include_str!("module.rs")]);
        let rt: String = ours
            .fold(Sha256::new(), |h, text| h.chain_update(text.as_bytes()))
            .finalize()
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self { wasm2c, gcc, versions: format!("wasm2c {w}; arm-none-eabi-gcc {g}; rt {rt}") })
    }

    /// What an artifact for `board` names as its compiler: tool versions,
    /// the runtime's digest and every flag, so equal strings mean equal
    /// builds.
    pub fn compiler(&self, board: &Board, bounds: Bounds) -> String {
        let flags = [board.cpu.gcc_flags(), CFLAGS, bounds.cflags()].concat();
        format!("{}; {}", self.versions, flags.join(" "))
    }

    /// What [`compile`] names as the compiler of `board`'s artifacts now:
    /// an artifact naming another was built by an older platform.
    pub fn compiler_for(&self, board: &Board) -> String {
        self.compiler(board, Bounds::for_board(board))
    }
}

/// How long one tool may run on one module. Modules are at most 128 KiB
/// and build in a second or two; a pathological one must not hold a
/// builder (and a control plane's build slot) for good.
pub const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

fn run(tool: &'static str, cmd: &mut Command) -> Result<(), AotError> {
    run_within(tool, cmd, TOOL_TIMEOUT)
}

/// Runs `cmd` (in its scratch folder) for at most `limit`, killing it
/// after. Its output goes to files there: pipes would need a reader each.
fn run_within(tool: &'static str, cmd: &mut Command, limit: Duration) -> Result<(), AotError> {
    let dir = cmd.get_current_dir().map(Path::to_path_buf).unwrap_or_default();
    let (out_path, err_path) = (dir.join(format!("{tool}.out")), dir.join(format!("{tool}.err")));
    cmd.stdout(std::fs::File::create(&out_path)?).stderr(std::fs::File::create(&err_path)?);
    let mut child = cmd.spawn().map_err(|e| AotError::Tool { tool, why: e.to_string() })?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            // Already exited or not: either way it is gone after wait.
            let _ = child.kill();
            let _ = child.wait();
            return Err(AotError::Failed { tool, output: format!("stopped after {} s", limit.as_secs()) });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&std::fs::read(&err_path)?).into_owned();
    text.push_str(&String::from_utf8_lossy(&std::fs::read(&out_path)?));
    // Enough to see the reason; a failing module can print megabytes.
    let text: String = text.lines().take(20).collect::<Vec<_>>().join("\n");
    Err(AotError::Failed { tool, output: text })
}

/// Compiles `module` for `board` with `tools` into an artifact: the same
/// input and tools give the same bytes. Bounds are kept as the board's
/// artifacts keep them ([`Bounds::for_board`]).
pub fn compile(module: &[u8], board: &Board, tools: &Toolchain) -> Result<NativeArtifact, AotError> {
    compile_with(module, board, tools, Bounds::for_board(board))
}

/// [`compile`] with bounds kept as `bounds` says (benchmarks compare them).
pub fn compile_with(
    module: &[u8],
    board: &Board,
    tools: &Toolchain,
    bounds: Bounds,
) -> Result<NativeArtifact, AotError> {
    if board.agent().is_none() {
        return Err(AotError::NoAgent(board.name.into()));
    }
    let shape = ModuleShape::read(module)?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    for (name, text) in RT_FILES {
        std::fs::write(d.join(name), text)?;
    }
    std::fs::write(d.join("app.wasm"), module)?;
    run("wasm2c", Command::new(&tools.wasm2c).current_dir(d).args(["-n", "app", "app.wasm", "-o", "app.c"]))?;
    let c = std::fs::read_to_string(d.join("app.c"))?;
    std::fs::write(d.join("app.c"), rewrite(&c, bounds)?)?;
    std::fs::write(d.join("glue.c"), glue(&shape, bounds))?;
    // One object per file: the linker script places app.o's code (the
    // app's own) apart from the runtime's.
    for file in ["app", "glue", "wasmbed-rt"] {
        let mut cc = Command::new(&tools.gcc);
        cc.current_dir(d).args(board.cpu.gcc_flags()).args(CFLAGS).args(bounds.cflags());
        cc.args(["-I.", "-c", &format!("{file}.c"), "-o", &format!("{file}.o")]);
        run("arm-none-eabi-gcc", &mut cc)?;
    }
    let mut ld = Command::new(&tools.gcc);
    ld.current_dir(d)
        .args(board.cpu.gcc_flags())
        .args(["-nostartfiles", "-nostdlib", "-static", "-Wl,-q", "-Wl,--gc-sections", "-Wl,-T,link.ld"])
        .args(["-Wl,--build-id=none", "-o", "app.elf", "app.o", "glue.o", "wasmbed-rt.o"])
        .args(["-Wl,--start-group", "-lm", "-lc", "-lgcc", "-Wl,--end-group"]);
    run("arm-none-eabi-gcc", &mut ld)?;
    let elf = std::fs::read(d.join("app.elf"))?;
    let (image, ram_size, relocations) = image(&elf)?;
    Ok(NativeArtifact {
        board: board.name.into(),
        compiler: tools.compiler(board, bounds),
        module_sha256: <[u8; 32]>::from(Sha256::digest(module)).into(),
        imports: shape.imports.iter().map(|i| i.name.clone()).collect(),
        image: image.into(),
        ram_size,
        relocations,
    })
}

/// Rewrites wasm2c's C: every function entry checks the stack (instead of
/// wasm2c's call-depth count), and loads and stores keep their bounds as
/// `bounds` says.
fn rewrite(c: &str, bounds: Bounds) -> Result<String, AotError> {
    const MEMCHECK: &str = "#define MEMCHECK(mem, a, t) RANGE_CHECK(mem, a, sizeof(t))";
    if c.matches(MEMCHECK).count() != 1 {
        return Err(AotError::Unexpected("no MEMCHECK definition".into()));
    }
    let c = c.replace("FUNC_PROLOGUE;", "WASMBED_PROLOGUE;");
    match bounds {
        Bounds::Software => {
            // The 32-bit check needs a memory of at least one page (its
            // size can then never be below an access's width); one that
            // may start empty keeps the 64-bit check.
            let check = if min_pages(&c)? > 0 { "WASMBED_RANGE_CHECK32" } else { "WASMBED_RANGE_CHECK" };
            Ok(c.replace(MEMCHECK, &format!("#define MEMCHECK(mem, a, t) {check}(mem, a, sizeof(t))")))
        }
        Bounds::Mpu => unprivileged_accesses(&c),
    }
}

/// Where wasm2c defines its loads and stores (the first of them).
const FIRST_ACCESS: &str = "DEFINE_LOAD(i32_load, u32, u32, u32)";

/// The MPU's bounds: the runtime's loads and stores replace wasm2c's
/// (unprivileged accesses, `rt/wasm-rt.h`), and each access passes its
/// static offset apart, `NAME_at(mem, address, offset)`, so the offset
/// goes into the instruction and its wrap check is one compare.
fn unprivileged_accesses(c: &str) -> Result<String, AotError> {
    if c.matches(FIRST_ACCESS).count() != 1 {
        return Err(AotError::Unexpected("no load definitions".into()));
    }
    let ours = "#undef DEFINE_LOAD\n#undef DEFINE_STORE\n#define DEFINE_LOAD WASMBED_DEFINE_LOAD\n\
                #define DEFINE_STORE WASMBED_DEFINE_STORE\n";
    let c = c.replacen(FIRST_ACCESS, &format!("{ours}{FIRST_ACCESS}"), 1);
    let mut out = String::with_capacity(c.len());
    let mut rest = c.as_str();
    while let Some((before, access, after)) = next_access(rest) {
        out.push_str(before);
        out.push_str(&access);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// The text before the next access `NAME(MEM, (u64)(VAR) [+ N[u]]`, that
/// access rewritten as `NAME_at(MEM, VAR, Nu`, and the text after it.
/// Anything else is left as wasm2c wrote it: the runtime also defines
/// `NAME(mem, u64 address)`, checked in full.
fn next_access(c: &str) -> Option<(&str, String, &str)> {
    const ADDR: &str = ", (u64)(";
    let mut from = 0;
    while let Some(found) = c[from..].find(ADDR) {
        let at = from + found;
        from = at + ADDR.len();
        // NAME( and MEM before the address.
        let Some(open) = c[..at].rfind('(') else { continue };
        let mem = &c[open + 1..at];
        let name_start = c[..open].rfind(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).map_or(0, |i| i + 1);
        let name = &c[name_start..open];
        let is_access = ["i32_", "i64_", "f32_", "f64_"].iter().any(|t| name.starts_with(t))
            && (name.contains("_load") || name.contains("_store"))
            && !mem.contains([',', '(', ')', ';']);
        if !is_access {
            continue;
        }
        // VAR) and an optional " + N" or " + Nu".
        let after_addr = &c[from..];
        let var_len = after_addr.find(')')?;
        let var = &after_addr[..var_len];
        if var.is_empty() || !var.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
            continue;
        }
        let mut tail = &after_addr[var_len + 1..];
        let mut offset = "0";
        if let Some(plus) = tail.strip_prefix(" + ") {
            let digits = plus.find(|ch: char| !ch.is_ascii_digit()).unwrap_or(plus.len());
            if digits == 0 || plus[..digits].parse::<u32>().is_err() {
                continue;
            }
            offset = &plus[..digits];
            tail = plus[digits..].strip_prefix('u').unwrap_or(&plus[digits..]);
        }
        if !tail.starts_with([')', ',']) {
            continue;
        }
        let rewritten = format!("{name}_at({mem}, {var}, {offset}u");
        return Some((&c[..name_start], rewritten, tail));
    }
    None
}

/// The smallest page count any memory starts with (`u32::MAX` without
/// a memory: nothing is checked then).
fn min_pages(c: &str) -> Result<u32, AotError> {
    const ALLOC: &str = "wasm_rt_allocate_memory(&instance->";
    let mut least = u32::MAX;
    for (at, _) in c.match_indices(ALLOC) {
        // `wasm_rt_allocate_memory(&instance->w2c_memory, 1, 65536);`
        let args = c[at + ALLOC.len()..].split(')').next().unwrap_or_default();
        let pages = args.split(',').nth(1).and_then(|p| p.trim().parse::<u32>().ok());
        least = least.min(pages.ok_or_else(|| AotError::Unexpected(format!("memory allocation {args:?}")))?);
    }
    Ok(least)
}

/// The C between the device and wasm2c's code: one function per import
/// (calling the host table by position), the entry points and the header.
fn glue(shape: &ModuleShape, bounds: Bounds) -> String {
    let mut g = String::from("#include <string.h>\n#include \"app.h\"\n#include \"wasmbed-host.h\"\n\n");
    for (idx, imp) in shape.imports.iter().enumerate() {
        let ret = imp.result.map_or("void", CType::c);
        let params: String = imp.params.iter().enumerate().map(|(i, t)| format!(", {} a{i}", t.c())).collect();
        let _ = writeln!(g, "{ret} Z_wasmbedZ_{}(struct Z_wasmbed_instance_t* h{params}) {{", imp.name);
        // Always the largest argument list a host function takes: the
        // device reads a fixed window whatever the module declared.
        let _ = writeln!(g, "  uint64_t io[{NATIVE_IO_WORDS}] = {{0}};");
        for (i, t) in imp.params.iter().enumerate() {
            let _ = match t {
                CType::U32 | CType::U64 => writeln!(g, "  io[{i}] = a{i};"),
                CType::F32 | CType::F64 => writeln!(g, "  memcpy(&io[{i}], &a{i}, sizeof a{i});"),
            };
        }
        let _ = writeln!(g, "  if (UNLIKELY(h->call(h, {idx}u, io))) wasm_rt_trap(WASMBED_TRAP_HOST);");
        let _ = match imp.result {
            None => writeln!(g, "}}\n"),
            Some(CType::U32) => writeln!(g, "  return (u32)io[0];\n}}\n"),
            Some(CType::U64) => writeln!(g, "  return io[0];\n}}\n"),
            Some(t) => writeln!(g, "  {} r;\n  memcpy(&r, &io[0], sizeof r);\n  return r;\n}}\n", t.c()),
        };
    }
    let e = shape.entry;
    let mut exports = 0u32;
    let mut cases = String::new();
    for (bit, on, call) in [
        (0, e.init, "Z_appZ_init(&w->app)"),
        (1, e.tick, "Z_appZ_tick(&w->app, arg)"),
        (2, e.on_message, "Z_appZ_on_message(&w->app, (u32)arg)"),
    ] {
        if on {
            exports |= 1 << bit;
            let _ = writeln!(cases, "    case {bit}: {call}; break;");
        }
    }
    if e.memory {
        exports |= NATIVE_EXPORTS_MEMORY;
    }
    if bounds == Bounds::Mpu {
        exports |= NATIVE_BOUNDS_MPU;
    }
    let memory = if e.memory { "return Z_appZ_memory(&w->app);" } else { "(void)w; return NULL;" };
    // wasm2c gives the instance a host pointer only when the module
    // imports something; the wrapper keeps one for every module (the
    // runtime's memory callback needs it).
    let host_arg = if shape.imports.is_empty() { "" } else { ", host" };
    let _ = write!(
        g,
        r#"struct wasmbed_instance {{
  Z_app_instance_t app;
  struct Z_wasmbed_instance_t* host;
}};

static void enter(struct Z_wasmbed_instance_t* host, uintptr_t limit) {{
  wasmbed_host = host;
  wasmbed_stack_limit = limit;
}}

__attribute__((noinline)) static uint32_t wasmbed_instantiate(void* inst, struct Z_wasmbed_instance_t* host,
                                                            uintptr_t limit) {{
  enter(host, limit);
  if (__builtin_setjmp(wasmbed_jmp)) return wasmbed_trapped();
  struct wasmbed_instance* w = inst;
  w->host = host;
  Z_app_init_module();
  Z_app_instantiate(&w->app{host_arg});
  return 0;
}}

__attribute__((noinline)) static uint32_t wasmbed_call(void* inst, uint32_t entry, uint64_t arg, uintptr_t limit) {{
  struct wasmbed_instance* w = inst;
  enter(w->host, limit);
  if (__builtin_setjmp(wasmbed_jmp)) return wasmbed_trapped();
  switch (entry) {{
{cases}    default: (void)arg; return WASM_RT_TRAP_UNREACHABLE;
  }}
  return 0;
}}

static void* wasmbed_memory(void* inst) {{
  struct wasmbed_instance* w = inst;
  {memory}
}}

static void wasmbed_release(void* inst, struct Z_wasmbed_instance_t* host) {{
  struct wasmbed_instance* w = inst;
  wasmbed_host = host;
  Z_app_free(&w->app);
}}

__attribute__((section(".wasmbed_header"), used)) const struct wasmbed_header wasmbed_header = {{
  0x32414E57u, sizeof(struct wasmbed_instance), {exports}u,
  wasmbed_instantiate, wasmbed_call, wasmbed_memory, wasmbed_release,
  wasmbed_abort, wasmbed_guest_start, wasmbed_guest_end, wasmbed_out_of_bounds,
}};
"#
    );
    g
}

/// Relocation types that are relative to the code (nothing to do when the
/// image moves as one block).
const RELATIVE: &[u32] = &[
    elf::R_ARM_NONE,
    elf::R_ARM_REL32,
    elf::R_ARM_THM_PC22,
    elf::R_ARM_THM_PC8,
    elf::R_ARM_THM_JUMP24,
    elf::R_ARM_V4BX,
    elf::R_ARM_PREL31,
    elf::R_ARM_THM_MOVW_PREL_NC,
    elf::R_ARM_THM_MOVT_PREL,
    elf::R_ARM_THM_JUMP19,
    elf::R_ARM_THM_JUMP6,
    elf::R_ARM_THM_ALU_PREL_11_0,
    elf::R_ARM_THM_PC12,
    elf::R_ARM_THM_PC11,
    elf::R_ARM_THM_PC9,
];

/// The `.image` bytes, the RAM it needs with its zeroed data, and the
/// offsets of the absolute words in it.
fn image(elf_bytes: &[u8]) -> Result<(Vec<u8>, u32, Vec<u32>), AotError> {
    let bad = |why: String| AotError::Unloadable(why);
    let file = ElfFile32::<object::Endianness>::parse(elf_bytes).map_err(|e| bad(e.to_string()))?;
    let section = file.section_by_name(".image").ok_or_else(|| bad("no .image section".into()))?;
    if section.address() != 0 {
        return Err(bad(format!(".image linked at {:#x}, not 0", section.address())));
    }
    let data = section.data().map_err(|e| bad(e.to_string()))?.to_vec();
    let mut end = data.len() as u64;
    for s in file.sections() {
        let name = s.name().unwrap_or_default();
        let allocated =
            matches!(s.kind(), object::SectionKind::UninitializedData | object::SectionKind::Data) || name == ".bss";
        if allocated && s.size() > 0 && s.index() != section.index() {
            if name != ".bss" {
                return Err(bad(format!("section {name} outside the image")));
            }
            end = end.max(s.address() + s.size());
        }
    }
    let mut relocations = Vec::new();
    for (offset, r) in section.relocations() {
        let RelocationFlags::Elf { r_type } = r.flags() else {
            return Err(bad("a relocation that is not ELF".into()));
        };
        if RELATIVE.contains(&r_type) {
            continue;
        }
        if r_type != elf::R_ARM_ABS32 && r_type != elf::R_ARM_TARGET1 {
            return Err(bad(format!("relocation type {r_type} at {offset:#x} (position-dependent code)")));
        }
        // A word naming an undefined weak or absolute symbol does not move.
        let moves = match r.target() {
            RelocationTarget::Section(_) => true,
            RelocationTarget::Symbol(i) => {
                let sym = file.symbol_by_index(i).map_err(|e| bad(e.to_string()))?;
                !sym.is_undefined() && sym.section_index().is_some_and(|s| s != SectionIndex(elf::SHN_ABS as usize))
            }
            _ => false,
        };
        if moves {
            let offset = u32::try_from(offset).map_err(|_| bad("relocation past 4 GiB".into()))?;
            if offset % 4 != 0 || offset as usize + 4 > data.len() {
                return Err(bad(format!("relocation at {offset:#x} outside the image")));
            }
            relocations.push(offset);
        }
    }
    relocations.sort_unstable();
    relocations.dedup();
    let ram = u32::try_from(end).map_err(|_| bad("image larger than 4 GiB".into()))?;
    Ok((data, ram, relocations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tool_running_too_long_is_stopped_and_a_failing_one_says_what_it_printed() {
        let dir = tempfile::tempdir().expect("dir");
        let mut slow = Command::new("sleep");
        slow.current_dir(dir.path()).arg("30");
        let started = Instant::now();
        let err = run_within("sleep", &mut slow, Duration::from_millis(200)).expect_err("stopped");
        assert!(err.to_string().contains("stopped after"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(20));
        let mut failing = Command::new("sh");
        failing.current_dir(dir.path()).args(["-c", "echo to-stdout; echo to-stderr >&2; exit 3"]);
        let err = run_within("sh", &mut failing, TOOL_TIMEOUT).expect_err("failed");
        assert!(err.to_string().contains("to-stderr") && err.to_string().contains("to-stdout"), "{err}");
    }

    #[test]
    fn accesses_pass_their_offset_apart_and_anything_else_is_left_alone() {
        let c = "DEFINE_LOAD(i32_load, u32, u32, u32)\n\
                 w2c_i1 = i32_load(&instance->w2c_memory, (u64)(w2c_i1) + 4u);\n\
                 w2c_i2 = i32_load8_u(&instance->w2c_memory, (u64)(w2c_i2));\n\
                 i64_store(&instance->w2c_memory, (u64)(w2c_i0) + 300, w2c_j1);\n\
                 i32_store(instance->w2c_env_memory, (u64)(var_l3), w2c_i1);\n\
                 f(&x, (u64)(w2c_i0) + 4u);\n\
                 i32_load(&instance->w2c_memory, (u64)(w2c_i1) + 4ull);\n\
                 i32_load(&instance->w2c_memory, (u64)(w2c_i1 + 1));\n";
        let out = unprivileged_accesses(c).unwrap();
        assert!(out.starts_with("#undef DEFINE_LOAD\n"), "{out}");
        for want in [
            "w2c_i1 = i32_load_at(&instance->w2c_memory, w2c_i1, 4u);",
            "w2c_i2 = i32_load8_u_at(&instance->w2c_memory, w2c_i2, 0u);",
            "i64_store_at(&instance->w2c_memory, w2c_i0, 300u, w2c_j1);",
            "i32_store_at(instance->w2c_env_memory, var_l3, 0u, w2c_i1);",
            // Not an access, an unknown suffix, an expression: unchanged
            // (the runtime's full check covers the last two).
            "f(&x, (u64)(w2c_i0) + 4u);",
            "i32_load(&instance->w2c_memory, (u64)(w2c_i1) + 4ull);",
            "i32_load(&instance->w2c_memory, (u64)(w2c_i1 + 1));",
        ] {
            assert!(out.contains(want), "{want} not in\n{out}");
        }
    }

    #[test]
    fn output_without_load_definitions_is_refused() {
        assert!(matches!(unprivileged_accesses("int x;"), Err(AotError::Unexpected(_))));
    }
}
