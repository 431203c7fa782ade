//! Shannon entropy of a symbol histogram, shared by the DNS and ICMP families.
//!
//! `H = log2(n) − (1/n)·Σ c·log2(c)` over the symbol counts `c` of `n` symbols. The `c·log2(c)` terms
//! come from a table (counts up to [`MAX_SYMBOLS`]), so a payload costs one lookup per distinct
//! symbol instead of one logarithm.

use std::sync::LazyLock;

/// Largest symbol count the table covers (the ICMP entropy window).
pub const MAX_SYMBOLS: usize = 512;

static C_LOG2_C: LazyLock<[f64; MAX_SYMBOLS + 1]> = LazyLock::new(|| {
    let mut t = [0.0; MAX_SYMBOLS + 1];
    for (c, v) in t.iter_mut().enumerate().skip(1) {
        *v = c as f64 * (c as f64).log2();
    }
    t
});

/// Entropy in bits per symbol of a histogram whose counts sum to `n`; 0 for an empty one.
pub fn entropy_bits<C: Copy + Into<usize>>(counts: &[C], n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let table = &*C_LOG2_C;
    let term = |c: usize| table.get(c).copied().unwrap_or_else(|| c as f64 * (c as f64).log2());
    let sum: f64 = counts.iter().map(|&c| c.into()).filter(|&c| c > 0).map(term).sum();
    ((n as f64).log2() - sum / n as f64).max(0.0)
}

/// Entropy in bits per byte of `bytes` (at most [`MAX_SYMBOLS`] of them are expected; more still work).
pub fn byte_entropy_bits(bytes: &[u8]) -> f64 {
    let mut counts = [0u16; 256];
    for &b in bytes {
        let count = &mut counts[usize::from(b)];
        *count = count.saturating_add(1);
    }
    entropy_bits(&counts, bytes.len().min(usize::from(u16::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_hand() {
        assert_eq!(byte_entropy_bits(&[]), 0.0);
        assert_eq!(byte_entropy_bits(&[7; 64]), 0.0);
        assert_eq!(byte_entropy_bits(b"abcd"), 2.0);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(byte_entropy_bits(&all), 8.0);
        // 3:1 → −(0.75·log2 0.75 + 0.25·log2 0.25) = 0.8112781244591328
        assert!((byte_entropy_bits(b"aaab") - 0.811_278_124_459_132_8).abs() < 1e-12);
    }

    #[test]
    fn agrees_with_the_direct_formula_beyond_the_table() {
        let bytes: Vec<u8> = (0..2000u32).map(|i| (i * i % 251) as u8).collect();
        let mut counts = [0u16; 256];
        bytes.iter().for_each(|&b| counts[usize::from(b)] += 1);
        let n = bytes.len() as f64;
        let direct: f64 =
            counts.iter().filter(|&&c| c > 0).map(|&c| f64::from(c) / n * (n / f64::from(c)).log2()).sum();
        assert!((entropy_bits(&counts, bytes.len()) - direct).abs() < 1e-9);
    }
}
