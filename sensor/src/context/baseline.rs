//! The learned baseline: what this site's hosts normally do, kept across restarts (see
//! [`super::state_file`]).
//!
//! - **Pairs**: which source has talked to which destination, and on which port classes (novelty):
//!   one entry per pair with a bit per port class, so one lookup answers both questions.
//! - **Destination reach**: how many internal hosts talk to each external destination (rarity), and
//!   to each internal service (an internal destination on one port class: its role), counted exactly
//!   up to [`REACH_CAP`] hosts.
//! - **Host volume**: per internal host, the bytes it sends to external destinations, summarised over
//!   closed 10-minute bins (all hours) and closed hours (per local hour of day), as running mean and
//!   variance of `ln(1 + bytes)` (Welford). Bins without traffic count as zero.
//! - **Process novelty** (agent mode): which executable has used which port class and destination.
//! - **Coverage**: how much packet time the baseline has seen; until it reaches the learning period,
//!   novelty and rarity features are missing (NaN), not "new".
//!
//! Every map is a [`BoundedMap`] with a cap from the config.

use super::bounded::BoundedMap;
use super::time::UtcOffset;

/// Internal hosts counted per external destination or internal service; more reads as "at least this
/// many".
pub const REACH_CAP: usize = 32;
/// Samples needed before a volume z-score is given: six 10-minute bins (an hour), three days of an hour.
pub const MIN_BINS: u32 = 6;
pub const MIN_DAYS: u16 = 3;
/// Floor on the standard deviation of ln(1 + bytes), so a host that never sent anything does not
/// turn its first kilobyte into an infinite z-score.
const STD_FLOOR: f64 = 0.5;
const BIN_S: u32 = 600;
/// Gaps in coverage longer than this (capture boundaries, outages) are not counted as learned time.
const MAX_COVERAGE_STEP_NS: u64 = 3_600_000_000_000;

/// Running mean and variance (Welford) of ln(1 + bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Running {
    pub n: u32,
    pub mean: f64,
    pub m2: f64,
}

impl Running {
    pub fn push(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / f64::from(self.n);
        self.m2 += d * (x - self.mean);
    }

    /// Adds `k` samples of zero at once (Chan et al.'s merge of two groups).
    pub fn push_zeros(&mut self, k: u32) {
        if k == 0 {
            return;
        }
        let n = f64::from(self.n);
        let total = n + f64::from(k);
        let d = -self.mean;
        self.mean += d * f64::from(k) / total;
        self.m2 += d * d * n * f64::from(k) / total;
        self.n += k;
    }

    /// z-score of `x`, or NaN with fewer than `min` samples.
    pub fn z(&self, x: f64, min: u32) -> f64 {
        if self.n < min {
            return f64::NAN;
        }
        let var = if self.n > 1 { self.m2 / f64::from(self.n - 1) } else { 0.0 };
        (x - self.mean) / var.sqrt().max(STD_FLOOR)
    }
}

/// One internal host's outbound volume history.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostVolume {
    /// Current 10-minute bin (seconds / 600) and bytes sent in it so far.
    pub bin: u32,
    pub bin_bytes: u64,
    pub bins: Running,
    /// Current local hour (local seconds / 3600) and bytes sent in it so far.
    pub hour: u32,
    pub hour_bytes: u64,
    /// Per local hour of day, from the first closed hour on (none before: every hour without samples).
    /// Most hosts a sensor sees never keep talking for an hour; they do not carry the 576 bytes.
    by_hour: Option<Box<[Running; 24]>>,
}

impl HostVolume {
    pub fn add_sent(&mut self, bytes: u64, now_s: u32, offset: UtcOffset) {
        let bin = now_s / BIN_S;
        if self.bin == 0 {
            self.bin = bin;
        } else if bin > self.bin {
            self.bins.push((self.bin_bytes as f64).ln_1p());
            self.bins.push_zeros((bin - self.bin - 1).min(1_000_000));
            self.bin = bin;
            self.bin_bytes = 0;
        }
        if bin == self.bin {
            self.bin_bytes += bytes;
        }

        let hour = local_hour_index(now_s, offset);
        if self.hour == 0 {
            self.hour = hour;
        } else if hour > self.hour {
            let by_hour = self.by_hour.get_or_insert_with(|| Box::new([Running::default(); 24]));
            by_hour[self.hour as usize % 24].push((self.hour_bytes as f64).ln_1p());
            // Hours without traffic in between are zero samples of their hour of day (a week at most).
            for h in self.hour + 1..hour.min(self.hour + 24 * 7) {
                by_hour[h as usize % 24].push(0.0);
            }
            self.hour = hour;
            self.hour_bytes = 0;
        }
        if hour == self.hour {
            self.hour_bytes += bytes;
        }
    }

    /// (z of the current 10-minute bin against all closed bins, z of the current hour against the same
    /// hour on earlier days); NaN without enough history.
    pub fn z_scores(&self, now_s: u32, offset: UtcOffset) -> (f64, f64) {
        let bin_bytes = if now_s / BIN_S == self.bin { self.bin_bytes } else { 0 };
        let hour = local_hour_index(now_s, offset);
        let hour_bytes = if hour == self.hour { self.hour_bytes } else { 0 };
        let day_stats = self.by_hour(hour as usize % 24);
        let hour_z =
            if day_stats.n >= u32::from(MIN_DAYS) { day_stats.z((hour_bytes as f64).ln_1p(), 1) } else { f64::NAN };
        (self.bins.z((bin_bytes as f64).ln_1p(), MIN_BINS), hour_z)
    }
}

impl HostVolume {
    /// The statistics of local hour of day `h` (0–23).
    pub fn by_hour(&self, h: usize) -> Running {
        self.by_hour.as_ref().map_or_else(Running::default, |by_hour| by_hour[h % 24])
    }

    /// Sets the statistics of every hour of day (loading saved state); all empty is the same as none.
    pub fn set_by_hour(&mut self, hours: [Running; 24]) {
        self.by_hour = hours.iter().any(|r| *r != Running::default()).then(|| Box::new(hours));
    }

    /// Starts loading the statistics of the local hour of `now_s`, if the host has any.
    pub fn prefetch_hour(&self, now_s: u32, offset: UtcOffset) {
        if let Some(by_hour) = &self.by_hour {
            crate::flow::index::prefetch(&by_hour[local_hour_index(now_s, offset) as usize % 24]);
        }
    }

    /// Heap bytes held beyond the value itself.
    pub fn heap_bytes(&self) -> usize {
        self.by_hour.as_ref().map_or(0, |_| std::mem::size_of::<[Running; 24]>())
    }
}

/// Local hours since the epoch.
fn local_hour_index(now_s: u32, offset: UtcOffset) -> u32 {
    let local_s = offset.local_secs(u64::from(now_s) * 1_000_000_000);
    u32::try_from(local_s.max(0) / 3600).unwrap_or(u32::MAX)
}

/// Caps of the baseline's maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaselineLimits {
    pub max_pairs: usize,
    pub max_destinations: usize,
    pub max_hosts: usize,
}

/// The learned, persisted state.
#[derive(Debug)]
pub struct Baseline {
    /// Packet time the baseline has observed (gaps over an hour not counted).
    pub covered_ns: u64,
    last_ns: u64,
    /// Pair → bit mask of the port classes used ([`Baseline::class_bit`]).
    pub pairs: BoundedMap<u16>,
    /// External destination, or internal service (destination and port class, keyed apart by the
    /// class byte) → internal sources (hashes truncated to 32 bits), at most [`REACH_CAP`].
    pub reach: BoundedMap<Vec<u32>>,
    pub hosts: BoundedMap<HostVolume>,
    pub proc_ports: BoundedMap<()>,
    pub proc_dsts: BoundedMap<()>,
}

impl Baseline {
    pub fn new(l: BaselineLimits) -> Baseline {
        Baseline {
            covered_ns: 0,
            last_ns: 0,
            pairs: BoundedMap::new(l.max_pairs),
            reach: BoundedMap::recycling(l.max_destinations),
            hosts: BoundedMap::new(l.max_hosts),
            proc_ports: BoundedMap::new(l.max_pairs),
            proc_dsts: BoundedMap::new(l.max_pairs),
        }
    }

    /// Advances coverage to packet time `ts_ns`.
    pub fn observe_time(&mut self, ts_ns: u64) {
        if self.last_ns != 0 && ts_ns > self.last_ns && ts_ns - self.last_ns <= MAX_COVERAGE_STEP_NS {
            self.covered_ns += ts_ns - self.last_ns;
        }
        self.last_ns = self.last_ns.max(ts_ns);
    }

    /// The bit of a port class in a pair's mask (`None`: a protocol without ports).
    pub fn class_bit(class: Option<u8>) -> u16 {
        1 << class.map_or(15, |c| c.min(14))
    }

    /// Marks the pair `key` as seen using port class bit `bit`: (pair new, pair new on this class).
    pub fn pair_seen(&mut self, key: u64, bit: u16, now_s: u32) -> (bool, bool) {
        let (mask, created) = self.pairs.entry(key, now_s, || 0);
        let class_new = *mask & bit == 0;
        *mask |= bit;
        (created, class_new)
    }

    /// Marks `key` as seen in `set`; true when it was not there before.
    pub fn first_time(set: &mut BoundedMap<()>, key: u64, now_s: u32) -> bool {
        set.entry(key, now_s, || ()).1
    }

    /// Adds an internal source to an external destination's reach; returns the count after.
    pub fn reach(&mut self, dst: u64, src: u64, now_s: u32) -> usize {
        let (sources, _) = self.reach.entry_fresh(dst, now_s);
        let src = src as u32;
        if sources.len() < REACH_CAP && !sources.contains(&src) {
            sources.push(src);
        }
        sources.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.pairs.table_bytes()
            + self.reach.table_bytes()
            + self.reach.values().map(|v| v.capacity() * 4).sum::<usize>()
            + self.hosts.table_bytes()
            + self.hosts.values().map(HostVolume::heap_bytes).sum::<usize>()
            + self.proc_ports.table_bytes()
            + self.proc_dsts.table_bytes()
    }

    pub fn entries(&self) -> usize {
        self.pairs.len() + self.reach.len() + self.hosts.len() + self.proc_ports.len() + self.proc_dsts.len()
    }

    pub fn evicted(&self) -> u64 {
        self.pairs.evicted()
            + self.reach.evicted()
            + self.hosts.evicted()
            + self.proc_ports.evicted()
            + self.proc_dsts.evicted()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_match_direct_computation() {
        let xs = [0.0, 0.0, 3.0, 5.0, 0.0, 1.0];
        let mut r = Running::default();
        r.push(3.0);
        r.push(5.0);
        r.push_zeros(3);
        r.push(1.0);
        let mean = xs.iter().sum::<f64>() / 6.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 5.0;
        assert!((r.mean - mean).abs() < 1e-12);
        assert!((r.m2 / 5.0 - var).abs() < 1e-12);
        assert!(r.z(10.0, 7).is_nan());
        assert!((r.z(10.0, 6) - (10.0 - mean) / var.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn a_burst_stands_out_against_the_hosts_own_history() {
        let utc = UtcOffset(0);
        let mut h = HostVolume::default();
        let t0 = 1_709_542_800u32; // Monday 09:00 UTC
        // Three hours of ~10 kB per 10 minutes.
        for bin in 0..18 {
            h.add_sent(10_000, t0 + bin * 600, utc);
        }
        let now = t0 + 18 * 600;
        h.add_sent(50_000_000, now, utc);
        let (z, hour_z) = h.z_scores(now, utc);
        assert!(z > 10.0, "z = {z}");
        assert!(hour_z.is_nan(), "one day of history gives no hour-of-day z");
        // The same volume as usual scores near zero.
        let mut quiet = h.clone();
        quiet.bin_bytes = 10_000;
        assert!(quiet.z_scores(now, utc).0.abs() < 1.0);
    }

    #[test]
    fn hour_of_day_history_needs_three_days() {
        let utc = UtcOffset(0);
        let mut h = HostVolume::default();
        let t0 = 1_709_542_800u32;
        for day in 0..3 {
            for hour in 0..24 {
                h.add_sent(1_000, t0 + day * 86_400 + hour * 3600, utc);
            }
        }
        let now = t0 + 3 * 86_400;
        h.add_sent(1_000, now, utc);
        let (_, hour_z) = h.z_scores(now, utc);
        assert!(hour_z.abs() < 1e-9, "usual volume at the usual hour: {hour_z}");
    }

    #[test]
    fn coverage_ignores_long_gaps() {
        let mut b = Baseline::new(BaselineLimits { max_pairs: 8, max_destinations: 8, max_hosts: 8 });
        b.observe_time(1_000_000_000_000);
        b.observe_time(1_060_000_000_000);
        b.observe_time(9_000_000_000_000);
        b.observe_time(9_030_000_000_000);
        assert_eq!(b.covered_ns, 90_000_000_000);
    }
}
