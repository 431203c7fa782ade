//! Bulk family: data packets, and runs of them in one direction.
//!
//! A *bulk* is a run of at least [`BULK_MIN_PACKETS`] consecutive payload-carrying packets in one
//! direction, each less than [`BULK_MAX_GAP_US`] after the previous packet in that direction, with no
//! payload-carrying packet in the other direction in between (pure ACKs do not break a run). This is the
//! CICFlowMeter idea with its bookkeeping done right: bulk duration is the sum of the gaps inside the
//! bulk, and a flow without bulks reports 0 bulks, 0 bytes and 0 packets per bulk and a missing rate.

use crate::flow::Direction;

pub const BULK_MIN_PACKETS: u8 = 4;
pub const BULK_MAX_GAP_US: u32 = 1_000_000;

pub const NAMES: &[&str] = &[
    "fwd_data_packets",
    "fwd_bulk_count",
    "fwd_bulk_bytes_mean",
    "fwd_bulk_packets_mean",
    "fwd_bulk_rate_bytes_per_s",
    "bwd_bulk_count",
    "bwd_bulk_bytes_mean",
    "bwd_bulk_packets_mean",
    "bwd_bulk_rate_bytes_per_s",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct Bulk {
    /// Current run per direction: packets (capped at BULK_MIN_PACKETS), payload bytes and duration
    /// while the run is still shorter than a bulk.
    run_packets: [u8; 2],
    run_bytes: [u32; 2],
    run_us: [u32; 2],
    count: [u32; 2],
    packets: [u32; 2],
    bytes: [u64; 2],
    duration_us: [u64; 2],
    /// Forward packets with payload (CICFlowMeter's `act_data_pkt_fwd`).
    fwd_data_packets: u32,
}

impl Bulk {
    /// One packet with `payload_len` payload bytes; `dir_gap_us` is the time since the previous
    /// packet in the same direction.
    #[inline]
    pub fn update(&mut self, dir: Direction, payload_len: u32, dir_gap_us: Option<u32>) {
        if payload_len == 0 {
            return;
        }
        let (d, o) = match dir {
            Direction::Forward => {
                self.fwd_data_packets = self.fwd_data_packets.saturating_add(1);
                (0, 1)
            }
            Direction::Backward => (1, 0),
        };
        self.run_packets[o] = 0;
        let gap = match dir_gap_us {
            Some(g) if g < BULK_MAX_GAP_US && self.run_packets[d] > 0 => g,
            _ => {
                self.run_packets[d] = 1;
                self.run_bytes[d] = payload_len;
                self.run_us[d] = 0;
                return;
            }
        };
        if self.run_packets[d] >= BULK_MIN_PACKETS {
            // Inside a bulk already: extend it.
            self.packets[d] = self.packets[d].saturating_add(1);
            self.bytes[d] += u64::from(payload_len);
            self.duration_us[d] += u64::from(gap);
            return;
        }
        self.run_packets[d] += 1;
        self.run_bytes[d] = self.run_bytes[d].saturating_add(payload_len);
        self.run_us[d] = self.run_us[d].saturating_add(gap);
        if self.run_packets[d] == BULK_MIN_PACKETS {
            self.count[d] += 1;
            self.packets[d] = self.packets[d].saturating_add(u32::from(BULK_MIN_PACKETS));
            self.bytes[d] += u64::from(self.run_bytes[d]);
            self.duration_us[d] += u64::from(self.run_us[d]);
        }
    }

    pub fn write(&self, out: &mut Vec<f64>) {
        out.push(f64::from(self.fwd_data_packets));
        for d in 0..2 {
            let n = f64::from(self.count[d]);
            let per_bulk = |x: f64| if self.count[d] == 0 { 0.0 } else { x / n };
            out.push(n);
            out.push(per_bulk(self.bytes[d] as f64));
            out.push(per_bulk(f64::from(self.packets[d])));
            out.push(if self.duration_us[d] == 0 {
                f64::NAN
            } else {
                self.bytes[d] as f64 * 1e6 / self.duration_us[d] as f64
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Direction::{Backward as B, Forward as F};

    fn run(pkts: &[(Direction, u32, Option<u32>)]) -> Vec<f64> {
        let mut b = Bulk::default();
        for &(dir, len, gap) in pkts {
            b.update(dir, len, gap);
        }
        let mut out = Vec::new();
        b.write(&mut out);
        out
    }

    #[test]
    fn five_data_packets_make_one_bulk() {
        // 5 × 1000 bytes forward, 10 ms apart: one bulk of 5 packets, 5000 bytes over 40 ms.
        let mut p = vec![(F, 1000, None)];
        p.extend(std::iter::repeat_n((F, 1000, Some(10_000)), 4));
        let v = run(&p);
        assert_eq!(&v[..5], &[5.0, 1.0, 5000.0, 5.0, 125_000.0]);
        assert_eq!(&v[5..8], &[0.0, 0.0, 0.0]);
        assert!(v[8].is_nan());
    }

    #[test]
    fn pure_acks_do_not_break_but_data_the_other_way_does() {
        // F F, B ack (no payload), F F → one bulk of 4. Then F F F, B data, F → no second bulk.
        let v = run(&[
            (F, 100, None),
            (F, 100, Some(1)),
            (B, 0, None),
            (F, 100, Some(1)),
            (F, 100, Some(1)),
            (B, 50, Some(1)),
            (F, 100, Some(1)),
            (F, 100, Some(1)),
            (F, 100, Some(1)),
            (B, 50, Some(1)),
            (F, 100, Some(1)),
        ]);
        assert_eq!(&v[..4], &[8.0, 1.0, 400.0, 4.0]);
    }

    #[test]
    fn a_long_gap_restarts_the_run() {
        let v = run(&[(F, 10, None), (F, 10, Some(1)), (F, 10, Some(2_000_000)), (F, 10, Some(1)), (F, 10, Some(1))]);
        assert_eq!(v[1], 0.0);
    }
}
