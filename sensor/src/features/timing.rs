//! Timing family: duration, inter-arrival times (flow, forward, backward), active and idle periods,
//! subflows.
//!
//! Times are microseconds. A flow is *active* while its packets come less than
//! [`ACTIVITY_TIMEOUT_US`] apart; a longer gap closes an active period and is one *idle* period
//! (the CICFlowMeter definition, with its 5 s threshold). Every active period counts, including one
//! made of a single packet (0 µs). A *subflow* starts after a gap longer than [`SUBFLOW_GAP_US`];
//! per-subflow means are computed from the real subflow count (CICFlowMeter's arithmetic there is
//! broken and not reproduced).
//!
//! Packets whose timestamp is older than the flow's last packet (merged or reordered captures) are
//! taken as arriving at the last packet's time: gaps are never negative.

use super::stats::{Series, Spread};
use crate::flow::Direction;

pub const ACTIVITY_TIMEOUT_US: u32 = 5_000_000;
pub const SUBFLOW_GAP_US: u32 = 1_000_000;

/// Timing state. Times are whole microseconds, so sums follow from timestamps and are not stored:
/// the flow's gaps sum to its duration, the forward gaps to the last forward time minus the start
/// (the first packet is forward by definition), and idle periods to the duration minus the active
/// periods.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timing {
    /// First and last packet times in ns (the flow's start and end as reported); gaps use their
    /// whole microseconds.
    first_ns: u64,
    last_ns: u64,
    last_dir_us: [u64; 2],
    first_bwd_us: u64,
    active_start_us: u64,
    iat: Spread,
    fwd_iat: Spread,
    bwd_iat: Spread,
    /// Closed active periods.
    active: Series,
    idle: Spread,
    /// Closed active periods (= idle periods).
    idle_count: u32,
    subflows: u32,
}

pub const NAMES: &[&str] = &[
    "duration_us",
    "flow_iat_min_us",
    "flow_iat_max_us",
    "flow_iat_mean_us",
    "flow_iat_std_us",
    "fwd_iat_total_us",
    "fwd_iat_min_us",
    "fwd_iat_max_us",
    "fwd_iat_mean_us",
    "fwd_iat_std_us",
    "bwd_iat_total_us",
    "bwd_iat_min_us",
    "bwd_iat_max_us",
    "bwd_iat_mean_us",
    "bwd_iat_std_us",
    "active_min_us",
    "active_max_us",
    "active_mean_us",
    "active_std_us",
    "idle_min_us",
    "idle_max_us",
    "idle_mean_us",
    "idle_std_us",
    "subflow_count",
];

/// A gap in µs as a sample, saturating into `u32` (about 71 minutes; idle timeouts are capped well
/// below that, so real gaps are exact).
#[inline]
fn sample(gap_us: u64) -> u32 {
    u32::try_from(gap_us).unwrap_or(u32::MAX)
}

/// Gaps of one packet, computed once and shared by the families that need them.
#[derive(Debug, Clone, Copy)]
pub struct Gaps {
    /// Since the flow's previous packet (None for the first packet).
    pub flow_us: Option<u32>,
    /// Since the previous packet in the same direction.
    pub dir_us: Option<u32>,
}

impl Timing {
    pub fn start(ts_ns: u64) -> Timing {
        Timing { first_ns: ts_ns, last_ns: ts_ns, active_start_us: ts_ns / 1000, subflows: 1, ..Timing::default() }
    }

    #[inline]
    fn first_us(&self) -> u64 {
        self.first_ns / 1000
    }

    #[inline]
    fn last_us(&self) -> u64 {
        self.last_ns / 1000
    }

    /// Records one packet. `n_before` is the flow's packet count before it, `n_dir_before` the
    /// count in its direction. Returns the gaps (the packet's time is clamped to the flow's last).
    #[inline]
    pub fn update(&mut self, ts_ns: u64, dir: Direction, n_before: u64, n_dir_before: u64) -> Gaps {
        let ts_ns = ts_ns.max(self.last_ns);
        let ts = ts_ns / 1000;
        let last_us = self.last_us();
        let d = dir as usize;
        let flow_us = (n_before > 0).then(|| sample(ts - last_us));
        let dir_us = (n_dir_before > 0).then(|| sample(ts - self.last_dir_us[d]));
        if let Some(g) = flow_us {
            self.iat.push(n_before - 1, g);
            if g > ACTIVITY_TIMEOUT_US {
                self.active.push(u64::from(self.idle_count), sample(last_us - self.active_start_us));
                self.idle.push(u64::from(self.idle_count), g);
                self.idle_count += 1;
                self.active_start_us = ts;
            }
            if g > SUBFLOW_GAP_US {
                self.subflows += 1;
            }
        }
        match (dir, dir_us) {
            (Direction::Forward, Some(g)) => self.fwd_iat.push(n_dir_before - 1, g),
            (Direction::Backward, Some(g)) => self.bwd_iat.push(n_dir_before - 1, g),
            (Direction::Backward, None) => self.first_bwd_us = ts,
            (Direction::Forward, None) => {}
        }
        self.last_dir_us[d] = ts;
        self.last_ns = ts_ns;
        Gaps { flow_us, dir_us }
    }

    pub fn first_ns(&self) -> u64 {
        self.first_ns
    }

    pub fn last_ns(&self) -> u64 {
        self.last_ns
    }

    /// Whole microseconds between the first and last packets' whole microseconds (so that it equals
    /// the sum of the flow's gaps).
    pub fn duration_us(&self) -> u64 {
        self.last_us() - self.first_us()
    }

    pub fn subflows(&self) -> u32 {
        self.subflows
    }

    /// `fwd`/`bwd` are the packet counts per direction.
    pub fn write(&self, fwd: u64, bwd: u64, out: &mut Vec<f64>) {
        let n = fwd + bwd;
        let duration = self.duration_us();
        out.push(duration as f64);
        out.extend(self.iat.summary(n.saturating_sub(1), duration));
        let dir_sums = [self.last_dir_us[0] - self.first_us(), self.last_dir_us[1].saturating_sub(self.first_bwd_us)];
        for (spread, count, sum) in [(&self.fwd_iat, fwd, dir_sums[0]), (&self.bwd_iat, bwd, dir_sums[1])] {
            let k = count.saturating_sub(1);
            out.push(if k == 0 { f64::NAN } else { sum as f64 });
            out.extend(spread.summary(k, sum));
        }
        // The current active period is still open: close it on a copy.
        let mut active = self.active;
        active.push(u64::from(self.idle_count), sample(self.last_us() - self.active_start_us));
        out.extend(active.summary(u64::from(self.idle_count) + 1));
        // Saturated (> 71 min) active periods make this an upper bound, never an underflow.
        let idle_sum = duration.saturating_sub(self.active.sum() + (self.last_us() - self.active_start_us));
        out.extend(self.idle.summary(u64::from(self.idle_count), idle_sum));
        out.push(f64::from(self.subflows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Backward as B, Forward as F};

    /// Feeds (ms, dir) packets and returns the written features by name.
    fn run(pkts: &[(u64, Direction)]) -> Vec<(&'static str, f64)> {
        let mut t = Timing::start(pkts[0].0 * 1_000_000);
        let mut counts = [0u64; 2];
        for (i, &(ms, dir)) in pkts.iter().enumerate() {
            let d = dir as usize;
            t.update(ms * 1_000_000, dir, i as u64, counts[d]);
            counts[d] += 1;
        }
        let mut out = Vec::new();
        t.write(counts[0], counts[1], &mut out);
        NAMES.iter().copied().zip(out).collect()
    }

    fn get(v: &[(&str, f64)], name: &str) -> f64 {
        v.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn inter_arrival_times_by_hand() {
        // F@0, B@10, F@30, B@70 ms: flow gaps 10, 20, 40 ms; fwd gap 30; bwd gap 60.
        let v = run(&[(0, F), (10, B), (30, F), (70, B)]);
        assert_eq!(get(&v, "duration_us"), 70_000.0);
        assert_eq!(get(&v, "flow_iat_min_us"), 10_000.0);
        assert_eq!(get(&v, "flow_iat_max_us"), 40_000.0);
        assert!((get(&v, "flow_iat_mean_us") - 70_000.0 / 3.0).abs() < 1e-9);
        assert_eq!(get(&v, "fwd_iat_total_us"), 30_000.0);
        assert_eq!(get(&v, "bwd_iat_mean_us"), 60_000.0);
        assert_eq!(get(&v, "bwd_iat_std_us"), 0.0);
        assert_eq!(get(&v, "subflow_count"), 1.0);
        // One active period (no gap > 5 s) of 70 ms; no idle period.
        assert_eq!(get(&v, "active_mean_us"), 70_000.0);
        assert!(get(&v, "idle_mean_us").is_nan());
    }

    #[test]
    fn active_idle_and_subflows_by_hand() {
        // Bursts: [0, 100 ms], gap 6 s, [6.1 s, 6.3 s], gap 2 s (subflow, not idle), 8.3 s.
        // Active periods 100 ms and 2200 ms; one idle period of 6 s; gaps > 1 s: 6 s and 2 s.
        let v = run(&[(0, F), (100, B), (6100, F), (6300, B), (8300, F)]);
        assert_eq!(get(&v, "active_min_us"), 100_000.0);
        assert_eq!(get(&v, "active_max_us"), 2_200_000.0);
        assert_eq!(get(&v, "active_mean_us"), 1_150_000.0);
        assert!((get(&v, "active_std_us") - 1_050_000.0 * 2f64.sqrt()).abs() < 1e-6);
        assert_eq!(get(&v, "idle_min_us"), 6_000_000.0);
        assert_eq!(get(&v, "idle_std_us"), 0.0);
        assert_eq!(get(&v, "subflow_count"), 3.0);
    }

    #[test]
    fn single_packet_flow_has_missing_gaps() {
        let v = run(&[(5, F)]);
        assert_eq!(get(&v, "duration_us"), 0.0);
        assert!(get(&v, "flow_iat_mean_us").is_nan());
        assert!(get(&v, "fwd_iat_total_us").is_nan());
        assert_eq!(get(&v, "active_mean_us"), 0.0);
    }

    #[test]
    fn reordered_packets_never_give_negative_gaps() {
        let v = run(&[(100, F), (50, B), (120, F)]);
        assert_eq!(get(&v, "flow_iat_min_us"), 0.0);
        assert_eq!(get(&v, "duration_us"), 20_000.0);
    }
}
