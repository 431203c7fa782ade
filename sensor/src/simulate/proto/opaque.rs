//! Random-looking bytes (ciphertext, keys, nonces, signatures, compressed bodies) at the cost of a copy.
//!
//! Application data is generated per packet at millions of packets per second, so builders never
//! call the generator per byte: they copy from one fixed 64 KiB pseudo-random block, built once from a
//! fixed seed, starting at an offset drawn from the caller's [`Rng`] (one draw per 64 KiB copied). The
//! bytes have the byte entropy of real ciphertext; two messages share bytes only when their offsets
//! are close, which no size, timing or entropy feature can see.

use std::sync::LazyLock;

use crate::simulate::rng::Rng;

/// Length of the block, and so the longest slice [`slice`] returns.
pub const BLOCK_LEN: usize = 64 << 10;

const BLOCK_SEED: u64 = 0x6f70_6171_7565_b10c;

static BLOCK: LazyLock<Box<[u8]>> = LazyLock::new(|| {
    let mut block = vec![0u8; BLOCK_LEN].into_boxed_slice();
    Rng::new(BLOCK_SEED).fill(&mut block);
    block
});

/// `len` random-looking bytes (at most [`BLOCK_LEN`]), borrowed from the block.
pub fn slice(rng: &mut Rng, len: usize) -> &'static [u8] {
    assert!(len <= BLOCK_LEN, "opaque::slice of {len} bytes is longer than the {BLOCK_LEN}-byte block");
    let start = rng.range(0, (BLOCK_LEN - len + 1) as u64) as usize;
    &BLOCK[start..start + len]
}

/// Appends `len` random-looking bytes to `out`.
pub fn extend(out: &mut Vec<u8>, rng: &mut Rng, len: usize) {
    let mut left = len;
    while left > 0 {
        let n = left.min(BLOCK_LEN);
        out.extend_from_slice(slice(rng, n));
        left -= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_exact_lengths_deterministically_beyond_one_block() {
        let (mut a, mut b) = (Vec::new(), vec![7u8]);
        extend(&mut a, &mut Rng::new(3), BLOCK_LEN + 1000);
        extend(&mut b, &mut Rng::new(3), BLOCK_LEN + 1000);
        assert_eq!(a.len(), BLOCK_LEN + 1000);
        assert_eq!(b[0], 7);
        assert_eq!(&a[..], &b[1..]);
        let mut c = Vec::new();
        extend(&mut c, &mut Rng::new(4), BLOCK_LEN + 1000);
        assert_ne!(a, c);
    }

    #[test]
    fn bytes_look_random() {
        let mut counts = [0u32; 256];
        for &b in BLOCK.iter() {
            counts[b as usize] += 1;
        }
        // 65,536 bytes: 256 per value on average; a byte-oriented bias would show far outside this.
        assert!(counts.iter().all(|&c| (180..340).contains(&c)), "{counts:?}");
    }
}
