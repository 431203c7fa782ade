//! Beaconing: how regular the connection starts from an internal host to one external destination
//! are. Implants call home on a timer; people and most software do not.
//!
//! Per (source, destination) pair the last [`KEEP`] start times are kept. Features: starts in the
//! last hour (saturates at [`KEEP`]), the median interval between kept starts, and its coefficient of
//! variation (standard deviation / mean; near 0 for a timer, around 1 for random arrivals). The
//! interval features need at least [`MIN_INTERVALS`] intervals, else they are missing (NaN).

use super::bounded::{BoundedMap, Step};

pub const NAMES: &[&str] = &["ctx_beacon_starts_1h", "ctx_beacon_interval_s", "ctx_beacon_interval_cv"];
pub const KEEP: usize = 32;
pub const MIN_INTERVALS: usize = 4;
const HOUR_NS: u64 = 3_600_000_000_000;

#[derive(Debug)]
pub struct Beacons {
    /// Pair → start times, ascending.
    starts: BoundedMap<Vec<u64>>,
}

impl Beacons {
    pub fn new(max_pairs: usize) -> Beacons {
        Beacons { starts: BoundedMap::recycling(max_pairs) }
    }

    pub fn start(&mut self, pair: u64, ts_ns: u64) {
        let (v, _) = self.starts.entry_fresh(pair, super::bounded::secs(ts_ns));
        let at = v.partition_point(|&t| t <= ts_ns);
        if v.len() == KEEP {
            if at == 0 {
                return;
            }
            v.remove(0);
            v.insert(at - 1, ts_ns);
        } else {
            v.insert(at, ts_ns);
        }
    }

    /// Starts loading the state of `pair` (see [`super::prefetch`]).
    pub fn prefetch(&self, pair: u64, step: Step) {
        match step {
            Step::Heap => {
                if let Some(starts) = self.starts.get(pair) {
                    crate::flow::index::prefetch(starts.as_ptr());
                }
            }
            Step::Index | Step::Entry => self.starts.prefetch(pair, step),
        }
    }

    pub fn write(&self, pair: u64, now_ns: u64, out: &mut [f64]) {
        let Some(v) = self.starts.get(pair) else {
            out.fill(f64::NAN);
            return;
        };
        out[0] = v.iter().filter(|&&t| t <= now_ns && now_ns - t <= HOUR_NS).count() as f64;
        let mut buf = [0.0f64; KEEP];
        let n = v.len().saturating_sub(1);
        for (g, w) in buf.iter_mut().zip(v.windows(2)) {
            *g = (w[1] - w[0]) as f64 / 1e9;
        }
        let gaps = &mut buf[..n];
        if gaps.len() < MIN_INTERVALS {
            out[1] = f64::NAN;
            out[2] = f64::NAN;
            return;
        }
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / (gaps.len() - 1) as f64;
        gaps.sort_by(f64::total_cmp);
        let mid = gaps.len() / 2;
        out[1] = if gaps.len() % 2 == 1 { gaps[mid] } else { (gaps[mid - 1] + gaps[mid]) / 2.0 };
        out[2] = if mean > 0.0 { var.sqrt() / mean } else { 0.0 };
    }

    pub fn memory_bytes(&self) -> usize {
        self.starts.table_bytes() + self.starts.values().map(|v| v.capacity() * 8).sum::<usize>()
    }

    /// Entries held.
    pub fn entries(&self) -> usize {
        self.starts.len()
    }

    pub fn evicted(&self) -> u64 {
        self.starts.evicted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn a_timer_is_regular_and_people_are_not() {
        let mut b = Beacons::new(16);
        for i in 0..20 {
            // Every 60 s with ±1 s jitter.
            b.start(1, 1000 * S + i * 60 * S + (i % 3) * S);
        }
        // Human-like: gaps of 5 s to 15 min.
        let gaps = [5, 900, 40, 300, 12, 600, 75, 30, 450, 8];
        let mut t = 1000 * S;
        for g in gaps {
            t += g * S;
            b.start(2, t);
        }
        let mut out = [0.0; 3];
        b.write(1, 1000 * S + 19 * 60 * S + S, &mut out);
        assert_eq!(out[0], 20.0);
        assert!((out[1] - 60.0).abs() <= 1.0, "median {}", out[1]);
        assert!(out[2] < 0.05, "timer cv {}", out[2]);
        b.write(2, t, &mut out);
        assert!(out[2] > 0.8, "human cv {}", out[2]);
    }

    #[test]
    fn too_few_starts_are_missing() {
        let mut b = Beacons::new(16);
        let mut out = [0.0; 3];
        b.write(9, 0, &mut out);
        assert!(out.iter().all(|v| v.is_nan()));
        for i in 0..4 {
            b.start(9, (100 + i * 60) * S);
        }
        b.write(9, 400 * S, &mut out);
        assert_eq!(out[0], 4.0);
        assert!(out[1].is_nan() && out[2].is_nan());
    }

    #[test]
    fn out_of_order_starts_are_sorted_and_capped() {
        let mut b = Beacons::new(16);
        for i in (0..100u64).rev() {
            b.start(3, i * 10 * S);
        }
        let v = b.starts.get(3).unwrap();
        assert_eq!(v.len(), KEEP);
        assert!(v.windows(2).all(|w| w[0] <= w[1]));
    }
}
