//! Running statistics for series of non-negative integer samples (sizes in bytes, times in µs).
//!
//! Counts are kept by the caller (they are features already: packets per direction, packets − 1 for
//! inter-arrival times), and so are sums where they follow from other state (the sum of a flow's
//! inter-arrival times is its duration): a [`Spread`] holds only min, max and the sum of squares
//! (16 bytes), a [`Series`] adds the exact sum (24 bytes). Per-flow state is kept for up to millions
//! of flows, so these bytes count.
//!
//! The sum of squares is an `f64`: for samples below 2^32 its rounding error stays many orders of
//! magnitude below the variance of real traffic (relative error ~1e-16 of the mean square).

/// Min, max and sum of squares of a series; count and sum are supplied at read time.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spread {
    min: u32,
    max: u32,
    sum_sq: f64,
}

impl Spread {
    /// Adds one sample. `n_before` is how many samples were added before this one.
    #[inline]
    pub fn push(&mut self, n_before: u64, x: u32) {
        if n_before == 0 {
            self.min = x;
            self.max = x;
        } else {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let xf = f64::from(x);
        self.sum_sq += xf * xf;
    }

    /// `[min, max, mean, std]` of `n` samples summing to `sum`; all NaN when `n == 0` (missing, not
    /// zero). The standard deviation is the sample one (n − 1), 0 for a single sample.
    pub fn summary(&self, n: u64, sum: u64) -> [f64; 4] {
        if n == 0 {
            return [f64::NAN; 4];
        }
        let nf = n as f64;
        let sum = sum as f64;
        let std = if n < 2 { 0.0 } else { ((self.sum_sq - sum * sum / nf) / (nf - 1.0)).max(0.0).sqrt() };
        [f64::from(self.min), f64::from(self.max), sum / nf, std]
    }

    /// Combines two spreads (for example both directions) into one.
    pub fn merge(&self, n_self: u64, other: &Spread, n_other: u64) -> Spread {
        match (n_self, n_other) {
            (_, 0) => *self,
            (0, _) => *other,
            _ => Spread {
                min: self.min.min(other.min),
                max: self.max.max(other.max),
                sum_sq: self.sum_sq + other.sum_sq,
            },
        }
    }
}

/// A [`Spread`] with its exact sum.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Series {
    spread: Spread,
    sum: u64,
}

impl Series {
    #[inline]
    pub fn push(&mut self, n_before: u64, x: u32) {
        self.spread.push(n_before, x);
        self.sum += u64::from(x);
    }

    pub fn sum(&self) -> u64 {
        self.sum
    }

    pub fn spread(&self) -> &Spread {
        &self.spread
    }

    pub fn summary(&self, n: u64) -> [f64; 4] {
        self.spread.summary(n, self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(xs: &[u32]) -> Series {
        let mut s = Series::default();
        for (i, &x) in xs.iter().enumerate() {
            s.push(i as u64, x);
        }
        s
    }

    #[test]
    fn summary_by_hand() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7.
        let s = series(&[2, 4, 4, 4, 5, 5, 7, 9]);
        let [min, max, mean, std] = s.summary(8);
        assert_eq!((min, max, mean), (2.0, 9.0, 5.0));
        assert!((std - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn empty_is_missing_and_single_has_zero_std() {
        assert!(Series::default().summary(0).iter().all(|v| v.is_nan()));
        assert_eq!(series(&[1500]).summary(1), [1500.0, 1500.0, 1500.0, 0.0]);
    }

    #[test]
    fn constant_large_series_has_zero_std() {
        let mut s = Series::default();
        for i in 0..1_000_000u64 {
            s.push(i, 1500);
        }
        assert!(s.summary(1_000_000)[3] < 1e-3);
    }

    #[test]
    fn merge_equals_concatenation() {
        let a = series(&[1, 2, 3]);
        let b = series(&[10, 20]);
        let merged = a.spread().merge(3, b.spread(), 2);
        assert_eq!(merged.summary(5, 36), series(&[1, 2, 3, 10, 20]).summary(5));
        assert_eq!(Spread::default().merge(0, b.spread(), 2).summary(2, 30), b.summary(2));
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<Spread>(), 16);
        assert_eq!(std::mem::size_of::<Series>(), 24);
    }
}
