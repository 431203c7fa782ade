//! Authentication failures per source host: how many refused credentials (the per-flow
//! `auth_failures` of [`crate::features::auth`]) the flows a host initiated drew in the last five
//! minutes and the last hour, and at how many distinct destinations within the hour.
//!
//! One refused logon is a typo; a password spray is a refusal every few seconds at one domain
//! controller, or one per host on dozens of hosts. Per flow either is one failure; per source it
//! adds up.
//!
//! Counting: each record adds the failures its flow drew since the flow's previous record (the
//! context keeps the count already added with the open flow, as it does for bytes), so a checkpoint
//! never counts twice and the features of a record include its own flow's failures so far. A flow's
//! failures reach its source's window with its next record (early, checkpoint or final) and are dated
//! by that record's last packet.
//!
//! Windows are whole minutes of packet time: the five-minute count covers the current minute and the
//! five before it, the hour the current minute and the sixty before it, so each covers at least its
//! span and at most a minute more. Distinct destinations are exact up to `max_dsts` per source (the
//! context's `max_peers_per_source`); past that the stalest destination gives way and the count
//! saturates at the cap ("at least this many").
//!
//! Memory per source is fixed (61 minute buckets, at most `max_dsts` destinations) and does not grow
//! with the number of failures; only sources that drew a failure get an entry, and sources are bounded
//! by [`BoundedMap`] (the stalest are forgotten first). These are not novelty features: a source
//! without an entry has 0 failures.

use super::bounded::{BoundedMap, Recycle, Step};
use super::sources::{FIVE_MIN_S, HOUR_S};

pub const NAMES: &[&str] = &["ctx_src_auth_failures_5m", "ctx_src_auth_failures_1h", "ctx_src_auth_fail_dsts_1h"];

const FIVE_MIN: u32 = FIVE_MIN_S / 60;
const HOUR: u32 = HOUR_S / 60;
/// The current minute and the sixty before it.
const BUCKETS: usize = HOUR as usize + 1;

#[derive(Debug, Clone, Copy, Default)]
struct MinuteBucket {
    minute: u32,
    failures: u32,
}

/// A destination where the source failed, and when it last did (packet seconds).
#[derive(Debug, Clone, Copy)]
struct FailedAt {
    dst: u32,
    last_s: u32,
}

/// What one source's failures look like over the last hour.
#[derive(Debug, Clone)]
pub struct SourceFailures {
    buckets: Box<[MinuteBucket; BUCKETS]>,
    dsts: Vec<FailedAt>,
}

impl Default for SourceFailures {
    fn default() -> Self {
        SourceFailures { buckets: Box::new([MinuteBucket::default(); BUCKETS]), dsts: Vec::new() }
    }
}

impl Recycle for SourceFailures {
    fn recycle(&mut self) {
        self.buckets.fill(MinuteBucket::default());
        self.dsts.clear();
    }
}

impl SourceFailures {
    /// `failures` more at `dst` (a stable hash of its address) at `now_s`.
    fn add(&mut self, dst: u64, failures: u32, now_s: u32, max_dsts: usize) {
        let minute = now_s / 60;
        let b = &mut self.buckets[minute as usize % BUCKETS];
        if b.minute != minute {
            *b = MinuteBucket { minute, failures: 0 };
        }
        b.failures = b.failures.saturating_add(failures);

        let dst = dst as u32;
        if let Some(d) = self.dsts.iter_mut().find(|d| d.dst == dst) {
            d.last_s = d.last_s.max(now_s);
            return;
        }
        if self.dsts.len() >= max_dsts {
            let cutoff = now_s.saturating_sub(HOUR_S);
            self.dsts.retain(|d| d.last_s >= cutoff);
        }
        if self.dsts.len() >= max_dsts
            && let Some((stalest, _)) = self.dsts.iter().enumerate().min_by_key(|(_, d)| d.last_s)
        {
            self.dsts.swap_remove(stalest);
        }
        self.dsts.push(FailedAt { dst, last_s: now_s });
    }

    /// (failures in the five-minute window, failures in the hour window, destinations within the
    /// hour) at `now_s`.
    fn counts(&self, now_s: u32) -> (u32, u32, u32) {
        let now_min = now_s / 60;
        let (mut short, mut hour) = (0u32, 0u32);
        for b in self.buckets.iter().filter(|b| b.minute <= now_min && b.minute + HOUR >= now_min) {
            hour = hour.saturating_add(b.failures);
            if b.minute + FIVE_MIN >= now_min {
                short = short.saturating_add(b.failures);
            }
        }
        let cutoff = now_s.saturating_sub(HOUR_S);
        let dsts = self.dsts.iter().filter(|d| d.last_s >= cutoff && d.last_s <= now_s).count();
        (short, hour, u32::try_from(dsts).unwrap_or(u32::MAX))
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<[MinuteBucket; BUCKETS]>() + self.dsts.capacity() * std::mem::size_of::<FailedAt>()
    }
}

/// Every source's failures, bounded.
#[derive(Debug)]
pub struct AuthFailures {
    sources: BoundedMap<SourceFailures>,
    max_dsts: usize,
}

impl AuthFailures {
    pub fn new(max_sources: usize, max_dsts: usize) -> AuthFailures {
        AuthFailures { sources: BoundedMap::recycling(max_sources), max_dsts: max_dsts.max(1) }
    }

    /// `failures` more from flows `src` initiated to `dst` (stable hashes of the addresses).
    pub fn add(&mut self, src: u64, dst: u64, failures: u32, now_s: u32) {
        if failures > 0 {
            self.sources.entry_fresh(src, now_s).0.add(dst, failures, now_s, self.max_dsts);
        }
    }

    /// Starts loading the state of source `src` (see [`super::prefetch`]).
    pub fn prefetch(&self, src: u64, step: Step) {
        self.sources.prefetch(src, step);
    }

    /// Writes the features in [`NAMES`] order for source `src` at `now_s`.
    pub fn write(&self, src: u64, now_s: u32, out: &mut [f64]) {
        debug_assert_eq!(out.len(), NAMES.len());
        let (short, hour, dsts) = self.sources.get(src).map_or((0, 0, 0), |s| s.counts(now_s));
        for (slot, value) in out.iter_mut().zip([short, hour, dsts]) {
            *slot = f64::from(value);
        }
    }

    pub fn entries(&self) -> usize {
        self.sources.len()
    }

    pub fn evicted(&self) -> u64 {
        self.sources.evicted()
    }

    pub fn memory_bytes(&self) -> usize {
        self.sources.table_bytes() + self.sources.values().map(SourceFailures::heap_bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(a: &AuthFailures, src: u64, now_s: u32) -> [f64; 3] {
        let mut out = [f64::NAN; 3];
        a.write(src, now_s, &mut out);
        out
    }

    #[test]
    fn windows_slide_by_whole_minutes() {
        let mut a = AuthFailures::new(16, 256);
        let t = 60 * 1000;
        a.add(1, 7, 2, t);
        a.add(1, 7, 3, t + 100);
        assert_eq!(features(&a, 1, t + 100), [5.0, 5.0, 1.0]);
        // The first two failures are 6 minutes and 40 s old: outside five minutes (the window is
        // the current minute and the five before it), inside the hour.
        assert_eq!(features(&a, 1, t + 400), [3.0, 5.0, 1.0]);
        assert_eq!(features(&a, 1, t + 460), [0.0, 5.0, 1.0]);
        // The hour window ends with minute 1000 at t + 3660, with minute 1001 at t + 3720.
        assert_eq!(features(&a, 1, t + 3600), [0.0, 5.0, 1.0]);
        assert_eq!(features(&a, 1, t + 3660), [0.0, 3.0, 1.0]);
        assert_eq!(features(&a, 1, t + 3720), [0.0, 0.0, 0.0]);
        // Minute 1061 reuses minute 1000's bucket: its 2 failures are gone, minute 1001's 3 remain.
        a.add(1, 7, 1, t + 61 * 60);
        assert_eq!(features(&a, 1, t + 61 * 60), [1.0, 4.0, 1.0]);
    }

    #[test]
    fn sources_without_failures_read_zero_and_keep_nothing() {
        let mut a = AuthFailures::new(16, 256);
        a.add(1, 7, 0, 600);
        assert_eq!(features(&a, 1, 600), [0.0; 3]);
        assert_eq!(a.entries(), 0);
    }

    #[test]
    fn destinations_are_exact_up_to_the_cap_then_saturate() {
        let mut a = AuthFailures::new(16, 64);
        for d in 0..40u64 {
            a.add(1, d, 1, 6000 + d as u32);
        }
        assert_eq!(features(&a, 1, 6040), [40.0, 40.0, 40.0]);
        for d in 40..1000u64 {
            a.add(1, d, 1, 6040);
        }
        assert_eq!(features(&a, 1, 6040)[2], 64.0);
        let memory = a.memory_bytes();
        for _ in 0..10_000 {
            a.add(1, 5, 1, 6040);
        }
        assert_eq!(a.memory_bytes(), memory, "more failures take no more memory");
    }

    #[test]
    fn sources_are_bounded() {
        let mut a = AuthFailures::new(8, 4);
        for s in 0..100u64 {
            a.add(s, 1, 1, 600 + s as u32);
        }
        assert!(a.entries() <= 8);
        assert!(a.evicted() >= 92);
    }

    #[test]
    fn a_reused_source_reads_as_a_fresh_one() {
        let mut used = SourceFailures::default();
        for i in 0..40u32 {
            used.add(u64::from(i % 7), 3, 60 * 1000 + i * 20, 4);
        }
        used.recycle();
        let mut fresh = SourceFailures::default();
        // The same minutes again: a left-over bucket or destination would show.
        for s in [&mut used, &mut fresh] {
            s.add(9, 1, 60 * 1000 + 100, 4);
        }
        for now in [60 * 1000 + 100, 60 * 1003, 60 * 1050] {
            assert_eq!(used.counts(now), fresh.counts(now));
        }
        assert_eq!(used.counts(60 * 1000 + 100), (1, 1, 1));
    }
}
