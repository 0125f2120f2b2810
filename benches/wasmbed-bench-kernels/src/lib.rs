//! The same compute kernels for native firmware and for a WASM app, so the
//! `interp` benchmark compares like with like. Plain `no_std` Rust, no
//! allocation: everything lives on the stack (the app has a 16 KiB stack).
#![no_std]

/// Bytes hashed and checksummed.
pub const DATA_LEN: usize = 4096;
/// Matrix side.
pub const N: usize = 16;
/// Elements sorted.
pub const LIST_LEN: usize = 1024;

/// Runs every kernel once over data derived from `seed`; returns a checksum
/// of all results (so nothing is optimised away and both builds can be
/// compared).
pub fn run_all(seed: u32) -> u32 {
    let mut rng = XorShift(seed | 1);
    let mut data = [0u8; DATA_LEN];
    for b in data.iter_mut() {
        *b = rng.next() as u8;
    }
    let digest = sha256(&data);
    let crc = crc32(&data);

    let mut a = [[0i32; N]; N];
    let mut b = [[0i32; N]; N];
    for i in 0..N {
        for j in 0..N {
            a[i][j] = (rng.next() % 100) as i32 - 50;
            b[i][j] = (rng.next() % 100) as i32 - 50;
        }
    }
    let c = matmul(&a, &b);

    let mut list = [0u32; LIST_LEN];
    for x in list.iter_mut() {
        *x = rng.next();
    }
    heapsort(&mut list);

    let mut sum = crc ^ u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    for row in &c {
        for &v in row {
            sum = sum.rotate_left(5) ^ v as u32;
        }
    }
    sum ^ list[0] ^ list[LIST_LEN / 2] ^ list[LIST_LEN - 1]
}

struct XorShift(u32);

impl XorShift {
    fn next(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// SHA-256 (FIPS 180-4).
pub fn sha256(msg: &[u8]) -> [u8; 32] {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut h: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let bit_len = (msg.len() as u64).wrapping_mul(8);
    // Whole blocks, then one or two padded tail blocks.
    let mut block = [0u8; 64];
    let full = msg.len() / 64;
    for i in 0..full {
        block.copy_from_slice(&msg[i * 64..i * 64 + 64]);
        compress(&mut h, &block, &K);
    }
    let rest = &msg[full * 64..];
    let mut tail = [0u8; 128];
    tail[..rest.len()].copy_from_slice(rest);
    tail[rest.len()] = 0x80;
    let tail_len = if rest.len() < 56 { 64 } else { 128 };
    tail[tail_len - 8..tail_len].copy_from_slice(&bit_len.to_be_bytes());
    for chunk in tail[..tail_len].chunks_exact(64) {
        block.copy_from_slice(chunk);
        compress(&mut h, &block, &K);
    }
    let mut out = [0u8; 32];
    for (o, v) in out.chunks_exact_mut(4).zip(h) {
        o.copy_from_slice(&v.to_be_bytes());
    }
    out
}

fn compress(h: &mut [u32; 8], block: &[u8; 64], k: &[u32; 64]) {
    let mut w = [0u32; 64];
    for (i, c) in block.chunks_exact(4).enumerate() {
        w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
    }
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
    }
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh.wrapping_add(s1).wrapping_add(ch).wrapping_add(k[i]).wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(v);
    }
}

/// CRC-32 (IEEE 802.3, reflected), table built per call.
pub fn crc32(data: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, t) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        *t = c;
    }
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Integer matrix product.
pub fn matmul(a: &[[i32; N]; N], b: &[[i32; N]; N]) -> [[i32; N]; N] {
    let mut c = [[0i32; N]; N];
    for i in 0..N {
        for j in 0..N {
            let mut s = 0i32;
            for (k, row) in b.iter().enumerate() {
                s = s.wrapping_add(a[i][k].wrapping_mul(row[j]));
            }
            c[i][j] = s;
        }
    }
    c
}

/// In-place heapsort (no allocation, same code in both builds).
pub fn heapsort(v: &mut [u32]) {
    fn sift(v: &mut [u32], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_fips_vectors() {
        let hex = |d: [u8; 32]| d.iter().map(|b| alloc_free_hex(*b)).collect::<Vec<_>>().concat();
        assert_eq!(hex(sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(hex(sha256(b"")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        let long = [b'a'; 1000];
        assert_eq!(hex(sha256(&long)), "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
    }

    extern crate std;
    use std::string::String;
    use std::vec::Vec;

    fn alloc_free_hex(b: u8) -> String {
        std::format!("{b:02x}")
    }

    #[test]
    fn crc32_matches_the_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn heapsort_sorts_and_matmul_multiplies() {
        let mut v = [5u32, 1, 4, 1, 5, 9, 2, 6];
        heapsort(&mut v);
        assert_eq!(v, [1, 1, 2, 4, 5, 5, 6, 9]);
        let mut id = [[0i32; N]; N];
        for (i, row) in id.iter_mut().enumerate() {
            row[i] = 1;
        }
        let mut m = [[0i32; N]; N];
        m[3][7] = 42;
        assert_eq!(matmul(&m, &id), m);
    }

    #[test]
    fn run_all_is_deterministic_and_seed_dependent() {
        assert_eq!(run_all(7), run_all(7));
        assert_ne!(run_all(7), run_all(8));
    }
}
