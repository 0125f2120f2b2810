//! Native artifacts: an app module compiled ahead of time into Thumb-2
//! machine code for one board (by `wasmbed-aot`), as a device loads it.
//!
//! The image is linked at address 0. A device copies it into RAM at an
//! address of its choosing, zeroes the rest of [`NativeArtifact::ram_size`],
//! and adds that address to the word at each offset in
//! [`NativeArtifact::relocations`]; nothing else is rewritten. The image
//! starts with its header (see `wasmbed-aot`'s `rt/wasmbed-host.h`), whose
//! entry points are among those words. Imports are bound by position: the
//! code calls import `n` as [`NativeArtifact::imports`]`[n]`, and the device
//! binds each name to a granted host function or refuses the artifact.
//!
//! Everything here is covered by the artifact's SHA-256, which the signed
//! manifest names with the board and compiler: a device trusts no field of
//! an artifact the manifest does not cover.

use alloc::string::String;
use alloc::vec::Vec;
use minicbor::bytes::{ByteArray, ByteVec};
use minicbor::{Decode, Encode};

/// The header's first word: "WNA2", little-endian ("WNA1" images had
/// no out-of-bounds path and no bounds flag: devices refuse them).
pub const NATIVE_MAGIC: u32 = u32::from_le_bytes(*b"WNA2");

/// The header's size in bytes: magic, instance size, exports, four entry
/// points, the abort path, the app code's range and the out-of-bounds
/// path (see `rt/wasmbed-host.h`).
pub const NATIVE_HEADER_LEN: usize = 11 * 4;

/// The header's `exports` bit saying the app exports its memory.
pub const NATIVE_EXPORTS_MEMORY: u32 = 1 << 3;

/// The header's `exports` bit saying the code leaves linear memory's
/// bounds to the device's MPU: its accesses to that memory are
/// unprivileged, and a device runs it only with the MPU confining them.
pub const NATIVE_BOUNDS_MPU: u32 = 1 << 4;

/// Words in the argument block native code hands a host function: the
/// longest argument list of any (`i2c_write_read`), rounded up. The code
/// always passes this many, so the device reads a fixed window.
pub const NATIVE_IO_WORDS: usize = 8;

/// An app module compiled for one board.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
#[cbor(map)]
pub struct NativeArtifact {
    /// The board it was compiled for.
    #[n(0)]
    pub board: String,
    /// What compiled it, with versions and flags (see [`NativeArtifact::compiler`]).
    #[n(1)]
    pub compiler: String,
    /// SHA-256 of the WebAssembly module it was compiled from.
    #[n(2)]
    pub module_sha256: ByteArray<32>,
    /// The `wasmbed` imports it calls, by position.
    #[n(3)]
    pub imports: Vec<String>,
    /// The code and initialised data, linked at address 0.
    #[n(4)]
    pub image: ByteVec,
    /// Bytes to reserve: the image, then zeroed data.
    #[n(5)]
    pub ram_size: u32,
    /// Offsets of the 32-bit words to add the load address to.
    #[n(6)]
    pub relocations: Vec<u32>,
}

/// Why an artifact cannot be loaded as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NativeError {
    /// Not an artifact's CBOR.
    Undecodable,
    /// The image is shorter than its header or than what it claims.
    Truncated,
    /// The header does not start with [`NATIVE_MAGIC`].
    BadMagic,
    /// A relocation falls outside the image or is not word-aligned.
    BadRelocation(u32),
}

impl core::fmt::Display for NativeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Undecodable => f.write_str("not a native artifact"),
            Self::Truncated => f.write_str("native image shorter than its header or its size"),
            Self::BadMagic => f.write_str("native image without the WNA2 header"),
            Self::BadRelocation(at) => write!(f, "relocation at {at} outside the image"),
        }
    }
}

impl NativeArtifact {
    /// The artifact's bytes, as its SHA-256 is taken over them.
    pub fn encode(&self) -> Vec<u8> {
        // Encoding into a Vec cannot fail.
        minicbor::to_vec(self).unwrap_or_default()
    }

    /// Reads an artifact and checks its shape (not its trust: that is the
    /// manifest's): header, sizes and every relocation inside the image.
    pub fn decode(bytes: &[u8]) -> Result<Self, NativeError> {
        let a: Self = minicbor::decode(bytes).map_err(|_| NativeError::Undecodable)?;
        let len = a.image.len();
        if len < NATIVE_HEADER_LEN || (a.ram_size as usize) < len {
            return Err(NativeError::Truncated);
        }
        if u32::from_le_bytes([a.image[0], a.image[1], a.image[2], a.image[3]]) != NATIVE_MAGIC {
            return Err(NativeError::BadMagic);
        }
        if let Some(bad) = a.relocations.iter().find(|&&r| r % 4 != 0 || r as usize + 4 > len) {
            return Err(NativeError::BadRelocation(*bad));
        }
        Ok(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NativeArtifact {
        let mut image = alloc::vec![0u8; 64];
        image[..4].copy_from_slice(&NATIVE_MAGIC.to_le_bytes());
        NativeArtifact {
            board: "mps2-an385".into(),
            compiler: "test".into(),
            module_sha256: [7; 32].into(),
            imports: alloc::vec!["log".into()],
            image: image.into(),
            ram_size: 128,
            relocations: alloc::vec![12, 16],
        }
    }

    #[test]
    fn round_trips_and_refuses_bad_shapes() {
        let a = sample();
        assert_eq!(NativeArtifact::decode(&a.encode()), Ok(a.clone()));
        assert_eq!(NativeArtifact::decode(b"\x00garbage"), Err(NativeError::Undecodable));
        let mut bad = a.clone();
        bad.relocations.push(62);
        assert_eq!(NativeArtifact::decode(&bad.encode()), Err(NativeError::BadRelocation(62)));
        let mut bad = a.clone();
        bad.relocations.push(64);
        assert_eq!(NativeArtifact::decode(&bad.encode()), Err(NativeError::BadRelocation(64)));
        let mut bad = a.clone();
        bad.image[0] = b'X';
        assert_eq!(NativeArtifact::decode(&bad.encode()), Err(NativeError::BadMagic));
        let mut bad = a.clone();
        bad.ram_size = 10;
        assert_eq!(NativeArtifact::decode(&bad.encode()), Err(NativeError::Truncated));
        // Cut anywhere: refused, never a panic.
        let bytes = a.encode();
        for cut in 0..bytes.len() {
            assert!(NativeArtifact::decode(&bytes[..cut]).is_err());
        }
    }
}
