//! Firmware images as ELF files: what they occupy, and whether they agree
//! with the board table.
//!
//! [`Image::parse`] is the one place the platform reads an ELF file; every
//! byte goes through `object`'s checked ELF32 reader, so a bad or truncated
//! file is an [`ImageError`], never a panic. What it keeps is plain data,
//! and [`Image::mismatches`] compares that data with a [`Board`]: the board
//! name the image carries, its CPU architecture, the vector table at the
//! start of flash, every section inside the linked memory, and nothing in
//! the slots the host loads the bundle and boot seed into (an attached
//! board's: its provisioning page).
//!
//! ```no_run
//! let board = wasmbed_qemu::machine("mps2-an385").unwrap();
//! let image = wasmbed_qemu::image::Image::read("wasmbed-fw-mps2-an385".as_ref()).unwrap();
//! assert!(image.mismatches(board).is_empty());
//! println!("{} bytes of flash", image.sizes().flash);
//! ```

use std::path::Path;

use object::elf;
use object::read::elf::{ElfFile32, FileHeader, ProgramHeader, SectionHeader};
use object::{LittleEndian as LE, Object, ObjectSection, ObjectSymbol};
use wasmbed_model::board_table::{Board, Cpu, Region};

/// The link section `board_main!` puts the board's name in.
pub const BOARD_SECTION: &str = ".wasmbed.board";

/// Why a file is not a firmware image we can read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not a little-endian 32-bit ELF file, or a damaged one.
    #[error("not a readable little-endian ELF32 file: {0}")]
    Malformed(String),
    /// An ELF file for another machine than Arm.
    #[error("an ELF file for machine {0}, not Arm")]
    NotArm(u16),
}

fn malformed(e: object::Error) -> ImageError {
    ImageError::Malformed(e.to_string())
}

/// What an image's `.ARM.attributes` say about the core it was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuAttributes {
    /// `Tag_CPU_arch` (10: v7, 13: v7E-M, 17: v8-M Mainline).
    pub arch: Option<u64>,
    /// `Tag_CPU_arch_profile` (`b'M'` for microcontrollers).
    pub profile: Option<u64>,
    /// Whether `Tag_FP_arch` names a floating-point unit.
    pub fpu: bool,
}

impl CpuAttributes {
    /// What an image built for `board` must say: its core's architecture,
    /// the microcontroller profile, and an FPU exactly when its Rust
    /// target is a hard-float one.
    pub fn expected(board: &Board) -> Self {
        let arch = match board.cpu {
            Cpu::CortexM3 => 10,
            Cpu::CortexM4F | Cpu::CortexM7F => 13,
            Cpu::CortexM33 => 17,
        };
        Self { arch: Some(arch), profile: Some(u64::from(b'M')), fpu: board.target.ends_with("eabihf") }
    }
}

/// One section that occupies memory on the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Its name.
    pub name: String,
    /// Where it sits when the image runs.
    pub region: Region,
    /// True for bytes stored in the file (code, data), false for zeroed or
    /// uninitialised memory (`.bss`, `.uninit`).
    pub stored: bool,
    /// True for memory the image writes.
    pub writable: bool,
}

/// A firmware image: the facts [`mismatches`](Image::mismatches) and
/// [`sizes`](Image::sizes) read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Image {
    /// The entry point, with the Thumb bit.
    pub entry: u32,
    /// The name in [`BOARD_SECTION`], if the image has that section.
    pub board: Option<String>,
    /// What the image says about its core.
    pub cpu: CpuAttributes,
    /// Where `.vector_table` sits, with its first two words: the initial
    /// stack pointer and the reset vector.
    pub vector_table: Option<(u32, u32, u32)>,
    /// Sections that occupy device memory.
    pub sections: Vec<Section>,
    /// Where the loader stores bytes (physical addresses of loadable
    /// segments, file bytes only): `.data`'s initial values sit in flash.
    pub loads: Vec<Region>,
    /// The heap arena (`HEAP_MEM`), counted in `.bss` but not static data.
    pub heap_arena: u32,
}

/// Flash and static RAM of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSizes {
    /// Bytes stored in flash: code, read-only data, `.data`'s initial values.
    pub flash: u64,
    /// `.data`, `.bss` and `.uninit` without the heap arena.
    pub static_ram: u64,
}

/// One way an image disagrees with the board table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// The table gives the board no firmware.
    #[error("the table gives {0} no firmware")]
    NoFirmware(&'static str),
    /// No board name in the image.
    #[error("the image carries no board name (no {BOARD_SECTION} section)")]
    NoBoardName,
    /// The image names another board.
    #[error("the image is for board {image:?}, the table's entry is {table}")]
    BoardName {
        /// What the image says.
        image: String,
        /// The table's name.
        table: &'static str,
    },
    /// Built for another core.
    #[error("the image is built for {image:?}; the table's {cpu} with target {target} needs {want:?}")]
    Cpu {
        /// What the image says.
        image: CpuAttributes,
        /// What the table's core and target need.
        want: CpuAttributes,
        /// The table's core.
        cpu: &'static str,
        /// The table's Rust target.
        target: &'static str,
    },
    /// The vector table is not where the core looks for it.
    #[error("the vector table is at {at:#010x?}, not at the start of flash {flash:#010x}")]
    VectorTable {
        /// Where it is, if there is one.
        at: Option<u32>,
        /// The table's flash start.
        flash: u32,
    },
    /// The reset vector and the ELF entry point differ, or point outside flash.
    #[error("the reset vector {reset:#010x} and the entry point {entry:#010x} must be the same address in flash")]
    Entry {
        /// The vector table's reset vector.
        reset: u32,
        /// The ELF entry point.
        entry: u32,
    },
    /// The initial stack pointer is not the top of RAM or the stack region.
    #[error("the initial stack pointer {0:#010x} is outside the board's RAM and stack region")]
    StackPointer(u32),
    /// A section lies outside the board's linked memory.
    #[error("{name} at {:#010x}..{:#010x} lies outside the board's memory", region.start, region.end())]
    OutsideMemory {
        /// The section, or `load` for a segment's stored bytes.
        name: String,
        /// Where it is.
        region: Region,
    },
    /// A section covers a slot the host loads provisioning into.
    #[error("{name} at {:#010x}..{:#010x} covers the {slot} slot at {:#010x}", region.start, region.end(), at.start)]
    Provisioning {
        /// The section, or `load`.
        name: String,
        /// Where it is.
        region: Region,
        /// `bundle` or `boot seed` (agent boards), `provisioning` (attached).
        slot: &'static str,
        /// The slot.
        at: Region,
    },
}

impl Image {
    /// Reads and parses the image at `path`.
    pub fn read(path: &Path) -> Result<Self, ImageError> {
        let bytes = std::fs::read(path).map_err(|source| ImageError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&bytes)
    }

    /// Parses an ELF32 Arm image.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImageError> {
        let file = ElfFile32::<LE>::parse(bytes).map_err(malformed)?;
        let header = file.elf_header();
        let machine = header.e_machine(LE);
        if machine != elf::EM_ARM {
            return Err(ImageError::NotArm(machine));
        }
        let mut image = Image { entry: header.e_entry(LE), ..Image::default() };
        for s in file.sections() {
            let name = s.name().map_err(malformed)?;
            let sh = s.elf_section_header();
            let (flags, kind) = (sh.sh_flags(LE), sh.sh_type(LE));
            if kind == elf::SHT_ARM_ATTRIBUTES {
                image.cpu = cpu_attributes(sh.attributes(LE, bytes).map_err(malformed)?)?;
            }
            if name == BOARD_SECTION {
                let data = s.data().map_err(malformed)?;
                let text = data.split(|&b| b == 0).next().unwrap_or_default();
                image.board = Some(String::from_utf8_lossy(text).into_owned());
            }
            if name == ".vector_table" {
                let data = s.data().map_err(malformed)?;
                let word = |i: usize| data.get(i..i + 4).and_then(|w| w.try_into().ok()).map(u32::from_le_bytes);
                image.vector_table = word(0).zip(word(4)).map(|(sp, reset)| (sh.sh_addr(LE), sp, reset));
            }
            if flags & elf::SHF_ALLOC != 0 && sh.sh_size(LE) > 0 {
                image.sections.push(Section {
                    name: name.to_string(),
                    region: Region::new(sh.sh_addr(LE), sh.sh_size(LE)),
                    stored: kind != elf::SHT_NOBITS,
                    writable: flags & elf::SHF_WRITE != 0,
                });
            }
        }
        for ph in file.elf_program_headers() {
            if ph.p_type(LE) == elf::PT_LOAD && ph.p_filesz(LE) > 0 {
                image.loads.push(Region::new(ph.p_paddr(LE), ph.p_filesz(LE)));
            }
        }
        image.heap_arena = file
            .symbols()
            .filter(|s| s.name().is_ok_and(|n| n.contains("HEAP_MEM")))
            .map(|s| u32::try_from(s.size()).unwrap_or(u32::MAX))
            .max()
            .unwrap_or(0);
        Ok(image)
    }

    /// Flash and static RAM.
    pub fn sizes(&self) -> ImageSizes {
        let sum = |keep: fn(&Section) -> bool| {
            self.sections.iter().filter(|s| keep(s)).map(|s| u64::from(s.region.len)).sum()
        };
        let flash: u64 = sum(|s| s.stored);
        let ram: u64 = sum(|s| s.writable);
        ImageSizes { flash, static_ram: ram.saturating_sub(u64::from(self.heap_arena)) }
    }

    /// Every way the image disagrees with `board`'s table entry; empty when
    /// it agrees.
    pub fn mismatches(&self, board: &Board) -> Vec<Mismatch> {
        let mut found = Vec::new();
        let slots = match (board.agent(), board.attached()) {
            (Some(a), _) => vec![("bundle", a.bundle), ("boot seed", a.boot_seed_slot())],
            (None, Some(a)) => vec![("provisioning", a.provisioning)],
            (None, None) => return vec![Mismatch::NoFirmware(board.name)],
        };
        match &self.board {
            None => found.push(Mismatch::NoBoardName),
            Some(name) if name != board.name => {
                found.push(Mismatch::BoardName { image: name.clone(), table: board.name })
            }
            Some(_) => {}
        }
        let want = CpuAttributes::expected(board);
        if self.cpu != want {
            found.push(Mismatch::Cpu { image: self.cpu, want, cpu: board.cpu.name(), target: board.target });
        }
        let memory = board.memory;
        match self.vector_table {
            Some((at, sp, reset)) if at == memory.flash.start => {
                // Thumb code: both addresses carry bit 0.
                let code = Region::new(reset & !1, 2);
                if reset != self.entry || reset & 1 == 0 || !memory.flash.contains(code) {
                    found.push(Mismatch::Entry { reset, entry: self.entry });
                }
                // The stack grows down from just past its region's last byte.
                let mut stacks = [Some(memory.ram), memory.stack].into_iter().flatten();
                if !stacks.any(|r| sp > r.start && u64::from(sp) <= r.end()) {
                    found.push(Mismatch::StackPointer(sp));
                }
            }
            other => found.push(Mismatch::VectorTable { at: other.map(|(at, _, _)| at), flash: memory.flash.start }),
        }
        let linked: Vec<Region> = [Some(memory.flash), Some(memory.ram), memory.stack].into_iter().flatten().collect();
        let placed = self.sections.iter().map(|s| (s.name.as_str(), s.region, &linked[..]));
        // Stored bytes are programmed into flash.
        let stored = self.loads.iter().map(|r| ("load", *r, std::slice::from_ref(&memory.flash)));
        for (name, region, within) in placed.chain(stored) {
            if !within.iter().any(|m| m.contains(region)) {
                found.push(Mismatch::OutsideMemory { name: name.to_string(), region });
            }
            for &(slot, at) in &slots {
                if region.overlaps(at) {
                    found.push(Mismatch::Provisioning { name: name.to_string(), region, slot, at });
                }
            }
        }
        found
    }
}

/// Reads the attributes of the whole file from the "aeabi" subsection.
fn cpu_attributes(
    section: object::read::elf::AttributesSection<'_, elf::FileHeader32<LE>>,
) -> Result<CpuAttributes, ImageError> {
    const TAG_FILE: u8 = 1;
    const TAG_CPU_ARCH: u64 = 6;
    const TAG_CPU_ARCH_PROFILE: u64 = 7;
    const TAG_FP_ARCH: u64 = 10;
    let mut found = CpuAttributes::default();
    let mut subsections = section.subsections().map_err(malformed)?;
    while let Some(sub) = subsections.next().map_err(malformed)? {
        if sub.vendor() != b"aeabi" {
            continue;
        }
        let mut subsubsections = sub.subsubsections();
        while let Some(subsub) = subsubsections.next().map_err(malformed)? {
            if subsub.tag() != TAG_FILE {
                continue;
            }
            let mut r = subsub.attributes();
            while let Some(tag) = r.read_tag().map_err(malformed)? {
                // The Arm ABI's encoding: tags 4, 5 and odd tags above 32
                // are strings, 32 is a number and a string, the rest numbers.
                match tag {
                    4 | 5 => drop(r.read_string().map_err(malformed)?),
                    32 => {
                        r.read_integer().map_err(malformed)?;
                        r.read_string().map_err(malformed)?;
                    }
                    t if t > 32 && t % 2 == 1 => drop(r.read_string().map_err(malformed)?),
                    t => {
                        let value = r.read_integer().map_err(malformed)?;
                        match t {
                            TAG_CPU_ARCH => found.arch = Some(value),
                            TAG_CPU_ARCH_PROFILE => found.profile = Some(value),
                            TAG_FP_ARCH => found.fpu = value != 0,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmbed_model::board_table::{MPS2_AN385, MPS2_AN505, OLIMEX_STM32_H405};

    /// What a good mps2-an385 image looks like, as data.
    fn an385_image() -> Image {
        Image {
            entry: 0x401,
            board: Some("mps2-an385".into()),
            cpu: CpuAttributes { arch: Some(10), profile: Some(u64::from(b'M')), fpu: false },
            vector_table: Some((0, 0x2040_0000, 0x401)),
            sections: vec![
                Section { name: ".vector_table".into(), region: Region::new(0, 0x400), stored: true, writable: false },
                Section { name: ".text".into(), region: Region::new(0x400, 0x9_0000), stored: true, writable: false },
                Section { name: ".data".into(), region: Region::new(0x2000_0000, 0x10), stored: true, writable: true },
                Section {
                    name: ".bss".into(),
                    region: Region::new(0x2000_0010, 0x10_0040),
                    stored: false,
                    writable: true,
                },
            ],
            loads: vec![Region::new(0, 0x9_0400), Region::new(0x9_0400, 0x10)],
            heap_arena: 0x10_0000,
        }
    }

    #[test]
    fn a_good_image_agrees_and_its_sizes_leave_the_heap_out() {
        let image = an385_image();
        assert_eq!(image.mismatches(&MPS2_AN385), []);
        assert_eq!(image.sizes(), ImageSizes { flash: 0x9_0410, static_ram: 0x50 });
    }

    #[test]
    fn checked_against_another_board_every_difference_is_named() {
        let found = an385_image().mismatches(&MPS2_AN505);
        let has = |f: fn(&Mismatch) -> bool| found.iter().any(f);
        assert!(has(|m| matches!(m, Mismatch::BoardName { table: "mps2-an505", .. })), "{found:?}");
        assert!(has(|m| matches!(m, Mismatch::Cpu { cpu: "Cortex-M33", .. })), "{found:?}");
        assert!(has(|m| matches!(m, Mismatch::VectorTable { at: Some(0), flash: 0x1000_0000 })), "{found:?}");
        assert!(has(|m| matches!(m, Mismatch::OutsideMemory { name, .. } if name == ".text")), "{found:?}");
        let hf = an385_image().mismatches(&Board { cpu: Cpu::CortexM3, ..OLIMEX_STM32_H405 });
        assert!(hf.iter().any(|m| matches!(m, Mismatch::Cpu { target: "thumbv7em-none-eabihf", .. })), "{hf:?}");
        let text = found.iter().map(|m| m.to_string()).collect::<Vec<_>>().join("\n");
        assert!(text.contains("\"mps2-an385\"") && text.contains("0x10000000"), "{text}");
    }

    #[test]
    fn an_entry_in_the_table_that_moved_is_caught() {
        // A table that says the bundle sits where the image put .data, and
        // the boot seed inside .bss.
        let mut moved = MPS2_AN385;
        let wasmbed_model::board_table::Role::Agent(layout) = &mut moved.role else { unreachable!() };
        layout.bundle = Region::new(0x9_0000, 0x4000);
        layout.boot_seed = 0x2000_0100;
        moved.memory.ram = Region::new(0x2000_0000, 0x1000);
        let found = an385_image().mismatches(&moved);
        let slot =
            |s: &str| found.iter().filter(|m| matches!(m, Mismatch::Provisioning { slot, .. } if *slot == s)).count();
        assert!(slot("bundle") >= 2, "the .text section and its load: {found:?}");
        assert_eq!(slot("boot seed"), 1, "{found:?}");
        assert!(found.iter().any(|m| matches!(m, Mismatch::StackPointer(0x2040_0000))), "{found:?}");
        assert!(found.iter().any(|m| matches!(m, Mismatch::OutsideMemory { name, .. } if name == ".bss")), "{found:?}");
    }

    #[test]
    fn a_missing_name_a_bad_reset_vector_and_a_board_without_firmware_are_mismatches() {
        let mut image = an385_image();
        image.board = None;
        image.vector_table = Some((0, 0x2040_0000, 0x400));
        let found = image.mismatches(&MPS2_AN385);
        assert!(found.contains(&Mismatch::NoBoardName), "{found:?}");
        assert!(found.contains(&Mismatch::Entry { reset: 0x400, entry: 0x401 }), "not Thumb: {found:?}");
        let unsupported = Board { role: wasmbed_model::board_table::Role::Unsupported("no"), ..MPS2_AN385 };
        assert_eq!(an385_image().mismatches(&unsupported), [Mismatch::NoFirmware("mps2-an385")]);
    }

    /// What a good stm32vldiscovery image looks like: the stack in its own
    /// region, nothing in the provisioning page at the end of flash.
    fn vl_image() -> Image {
        let section = |name: &str, start, len, stored, writable| Section {
            name: name.into(),
            region: Region::new(start, len),
            stored,
            writable,
        };
        Image {
            entry: 0x0800_0401,
            board: Some("stm32vldiscovery".into()),
            cpu: CpuAttributes { arch: Some(10), profile: Some(u64::from(b'M')), fpu: false },
            vector_table: Some((0x0800_0000, 0x2000_1800, 0x0800_0401)),
            sections: vec![
                section(".vector_table", 0x0800_0000, 0x400, true, false),
                section(".text", 0x0800_0400, 0x7000, true, false),
                section(".data", 0x2000_0000, 0x100, true, true),
                section(".bss", 0x2000_0100, 0x300, false, true),
            ],
            loads: vec![Region::new(0x0800_0000, 0x7400), Region::new(0x0800_7400, 0x100)],
            heap_arena: 0,
        }
    }

    #[test]
    fn an_attached_image_keeps_out_of_its_provisioning_page() {
        let vl = wasmbed_model::board_table::STM32VLDISCOVERY;
        assert_eq!(vl_image().mismatches(&vl), []);
        assert_eq!(vl_image().sizes(), ImageSizes { flash: 0x7500, static_ram: 0x400 });
        let mut big = vl_image();
        big.sections[1].region.len = 0x1_FC00;
        big.loads[0].len = 0x2_0000;
        let found = big.mismatches(&vl);
        assert!(found.iter().any(|m| matches!(m, Mismatch::Provisioning { slot: "provisioning", .. })), "{found:?}");
    }

    #[test]
    fn bad_bytes_are_errors_not_panics() {
        assert!(matches!(Image::parse(b"not an elf"), Err(ImageError::Malformed(_))));
        let mut header = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
        assert!(Image::parse(&header).is_err(), "truncated");
        header.resize(52, 0);
        assert!(Image::parse(&header).is_err(), "no machine, no sections");
        // An ELF64 header is refused too.
        assert!(Image::parse(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]).is_err());
        // Noise after an ELF32 header, cut at every length: never a panic.
        let noise: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for end in 0..noise.len() {
            let mut bytes = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
            bytes.extend_from_slice(&noise[..end]);
            let _ = Image::parse(&bytes);
        }
        let missing = Image::read(Path::new("/nonexistent/firmware.elf"));
        assert!(matches!(missing, Err(ImageError::Io { .. })));
    }
}
