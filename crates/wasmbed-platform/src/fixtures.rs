//! WebAssembly apps for tests and benchmarks of rollouts: real modules that
//! behave differently on different devices, deterministically.

/// FNV-1a, as [`app`] computes it over the device id.
pub fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(*b)).wrapping_mul(0x0100_0193))
}

/// Whether [`app`]`(_, fail_per_mille)` traps on `device`.
pub fn traps_on(device: &str, fail_per_mille: u32) -> bool {
    fnv1a(device.as_bytes()) % 1000 < fail_per_mille
}

/// Capabilities [`app`] needs.
pub const APP_CAPS: &[&str] = &["log", "device"];

/// An app that logs `text` at init, and traps at init on the devices whose
/// id hashes below `fail_per_mille` (of 1000): a version that crashes on
/// some hardware. `text` must not contain `"` or `\`.
pub fn app(text: &str, fail_per_mille: u32) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "wasmbed" "log" (func $log (param i32 i32)))
  (import "wasmbed" "device_id" (func $id (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "{text}")
  (func $hash (param $len i32) (result i32) (local $i i32) (local $h i32)
    (local.set $h (i32.const 0x811c9dc5))
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $h (i32.mul (i32.xor (local.get $h) (i32.load8_u (local.get $i))) (i32.const 0x01000193)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $h))
  (func (export "init") (local $n i32)
    (local.set $n (call $id (i32.const 0) (i32.const 64)))
    (if (i32.lt_u (i32.rem_u (call $hash (local.get $n)) (i32.const 1000)) (i32.const {fail_per_mille}))
      (then unreachable))
    (call $log (i32.const 1024) (i32.const {len})))
  (func (export "tick") (param i64)))"#,
        len = text.len()
    );
    wat::parse_str(wat).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_is_valid_and_its_failures_are_predictable() {
        let m = app("v1", 100);
        assert!(m.starts_with(b"\0asm"));
        let failing = (0..1000).filter(|i| traps_on(&format!("d-{i}"), 100)).count();
        assert!((60..140).contains(&failing), "{failing}");
        assert!(!traps_on("x", 0) && traps_on("x", 1000));
    }
}
