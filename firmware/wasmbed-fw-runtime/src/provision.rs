//! Provisioning: the identity bundle a factory programmed and the per-boot
//! seed the host (QEMU manager) loads, mixed into a ChaCha20 CSPRNG.
//!
//! QEMU boards have no RNG hardware. The device seed in the bundle is secret
//! but constant; the boot seed is fresh but comes from outside. HKDF-SHA256
//! over both gives a key neither alone determines, and the firmware fails
//! closed when the boot seed is missing.
//!
//! The boot-seed region also carries the host's Unix time at launch: these
//! boards have no battery-backed clock, and the TLS client must check the
//! gateway certificate's validity against real time. No time, no connection.

use core::fmt;

use hkdf::Hkdf;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::Sha256;
use wasmbed_protocol::{BundleError, IdentityBundle};

/// First four bytes of a per-boot seed region.
pub const BOOT_SEED_MAGIC: [u8; 4] = *b"WBSD";
/// Bytes of a per-boot seed region: magic, 32 seed bytes, then the host's
/// Unix time in milliseconds (u64, little-endian).
pub const BOOT_SEED_LEN: usize = 44;
/// Earliest Unix time (ms) accepted from the host: 2024-01-01. Anything
/// before it is an unset or broken clock.
pub const MIN_UNIX_MS: u64 = 1_704_067_200_000;

/// Why the firmware refuses to connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProvisionError {
    /// No usable identity bundle in the reserved region.
    Bundle(BundleError),
    /// The host loaded no per-boot seed (or an all-zero one).
    NoBootSeed,
    /// The boot-seed region carries no plausible Unix time.
    NoTime,
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bundle(e) => write!(f, "{e}"),
            Self::NoBootSeed => f.write_str("no per-boot entropy seed was loaded; refusing to use TLS without entropy"),
            Self::NoTime => f.write_str(
                "the host gave no real time at boot; refusing to connect (certificate validity cannot be checked)",
            ),
        }
    }
}

/// A provisioned device: identity and a seeded CSPRNG.
#[derive(Debug)]
pub struct Provisioned {
    /// The identity bundle.
    pub bundle: IdentityBundle,
    /// Seeded from the device seed and the boot seed.
    pub rng: ChaCha20Rng,
    /// Host Unix time (ms) when the device was launched.
    pub boot_unix_ms: u64,
}

/// Reads the bundle region and the boot seed region. `warm` is what the
/// memory that survives a reset says ([`crate::persist::Boot`]): after an
/// in-place reset the host's boot seed and launch time are the ones it
/// wrote before, so the count of warm resets goes into the CSPRNG and the
/// uptime of the boots before into the time.
pub fn provision(
    bundle_region: &[u8],
    boot_seed_region: &[u8],
    warm: crate::persist::Boot,
) -> Result<Provisioned, ProvisionError> {
    let bundle = IdentityBundle::from_bytes(bundle_region).map_err(ProvisionError::Bundle)?;
    let boot = boot_seed(boot_seed_region).ok_or(ProvisionError::NoBootSeed)?;
    let launched_ms = boot_time(boot_seed_region).ok_or(ProvisionError::NoTime)?;
    let rng = mix(&bundle.seed, &boot, warm.resets);
    Ok(Provisioned { bundle, rng, boot_unix_ms: launched_ms.saturating_add(warm.carried_ms) })
}

fn boot_seed(region: &[u8]) -> Option<[u8; 32]> {
    let region = region.get(..36)?;
    if region[..4] != BOOT_SEED_MAGIC {
        return None;
    }
    let seed: [u8; 32] = region[4..].try_into().ok()?;
    (seed != [0; 32]).then_some(seed)
}

fn boot_time(region: &[u8]) -> Option<u64> {
    let ms = u64::from_le_bytes(region.get(36..BOOT_SEED_LEN)?.try_into().ok()?);
    (ms >= MIN_UNIX_MS).then_some(ms)
}

/// HKDF-SHA256: the boot seed salts the device seed; the count of warm
/// resets since the boot seed was written tells the boots it served apart.
pub fn mix(device_seed: &[u8; 32], boot_seed: &[u8; 32], resets: u32) -> ChaCha20Rng {
    let hk = Hkdf::<Sha256>::new(Some(boot_seed), device_seed);
    let mut key = [0u8; 32];
    let [a, b, c, d] = resets.to_le_bytes();
    let info = [b"wasmbed device csprng v1 reset ".as_slice(), &[a, b, c, d]];
    // 32 bytes is far below HKDF's 255 * 32 limit: expand cannot fail.
    let _ = hk.expand_multi_info(&info, &mut key);
    ChaCha20Rng::from_seed(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use rand_core::RngCore;

    use crate::persist::{Boot, Cause};

    const COLD: Boot = Boot { resets: 0, cause: Cause::Unknown, carried_ms: 0, early_crashes: 0 };

    fn provision(bundle: &[u8], seed: &[u8]) -> Result<Provisioned, ProvisionError> {
        super::provision(bundle, seed, COLD)
    }

    fn bundle() -> Vec<u8> {
        IdentityBundle {
            device_id: "d".into(),
            gateway: "10.0.2.2:4443".into(),
            ca_der: alloc::vec![1].into(),
            cert_der: alloc::vec![2].into(),
            key_der: alloc::vec![3].into(),
            seed: [9; 32].into(),
            board: "mps2-an385".into(),
            alternates: None,
            app_key: None,
            app_key_generation: None,
        }
        .to_bytes()
    }

    const T: u64 = 1_790_000_000_000;

    fn seed(b: u8) -> Vec<u8> {
        seed_at(b, T)
    }

    fn seed_at(b: u8, unix_ms: u64) -> Vec<u8> {
        let mut v = BOOT_SEED_MAGIC.to_vec();
        v.extend_from_slice(&[b; 32]);
        v.extend_from_slice(&unix_ms.to_le_bytes());
        v
    }

    #[test]
    fn refuses_without_bundle_or_seed() {
        assert_eq!(provision(&[0; 64], &seed(1)).unwrap_err(), ProvisionError::Bundle(BundleError::BadMagic));
        assert_eq!(provision(&bundle(), &[0; 64]).unwrap_err(), ProvisionError::NoBootSeed);
        let mut zero = seed(0);
        zero.truncate(BOOT_SEED_LEN);
        assert_eq!(provision(&bundle(), &zero).unwrap_err(), ProvisionError::NoBootSeed);
        assert_eq!(provision(&bundle(), &seed(1)[..10]).unwrap_err(), ProvisionError::NoBootSeed);
    }

    #[test]
    fn refuses_without_a_plausible_time() {
        assert_eq!(provision(&bundle(), &seed(1)[..36]).unwrap_err(), ProvisionError::NoTime);
        assert_eq!(provision(&bundle(), &seed_at(1, 0)).unwrap_err(), ProvisionError::NoTime);
        assert_eq!(provision(&bundle(), &seed_at(1, MIN_UNIX_MS - 1)).unwrap_err(), ProvisionError::NoTime);
        assert_eq!(provision(&bundle(), &seed_at(1, T)).unwrap().boot_unix_ms, T);
    }

    #[test]
    fn streams_differ_per_boot_and_repeat_for_equal_inputs() {
        let mut a = provision(&bundle(), &seed(1)).unwrap().rng;
        let mut b = provision(&bundle(), &seed(2)).unwrap().rng;
        let mut c = provision(&bundle(), &seed(1)).unwrap().rng;
        let (x, y, z) = (a.next_u64(), b.next_u64(), c.next_u64());
        assert_ne!(x, y);
        assert_eq!(x, z);
    }

    #[test]
    fn a_warm_reset_draws_a_new_stream_from_the_same_boot_seed_and_keeps_the_time() {
        let warm = Boot { resets: 1, cause: Cause::Watchdog, carried_ms: 5_000, early_crashes: 0 };
        let cold = provision(&bundle(), &seed(1)).unwrap();
        let after = super::provision(&bundle(), &seed(1), warm).unwrap();
        assert_ne!(cold.rng.clone().next_u64(), after.rng.clone().next_u64());
        assert_eq!(after.boot_unix_ms, T + 5_000);
        let again = super::provision(&bundle(), &seed(1), Boot { resets: 2, ..warm }).unwrap();
        assert_ne!(after.rng.clone().next_u64(), again.rng.clone().next_u64());
    }
}
