//! Volume family: packets, bytes, packet sizes, header bytes per direction.
//!
//! Sizes are IP packet lengths taken from the IP header (so a short snap length does not shrink them);
//! payload bytes are IP length minus IP and transport headers. Wire bytes (whole frames, the capture's
//! original length) are kept for accounting (alerts, parity with other tools) but are not a model
//! feature: they depend on the link type of the capture.
//!
//! CICFlowMeter's `min_seg_size_forward` (smallest forward header) is left out: it is the same for
//! nearly every flow of an operating system and costs per-flow memory.

use super::stats::Series;
use crate::decode::PacketMeta;
use crate::flow::Direction;

#[derive(Debug, Clone, Copy, Default)]
pub struct Volume {
    packets: [u64; 2],
    len: [Series; 2],
    header_bytes: [u64; 2],
    wire_bytes: [u64; 2],
}

pub const NAMES: &[&str] = &[
    "fwd_packets",
    "bwd_packets",
    "fwd_bytes",
    "bwd_bytes",
    "fwd_payload_bytes",
    "bwd_payload_bytes",
    "fwd_header_bytes",
    "bwd_header_bytes",
    "fwd_pkt_len_min_bytes",
    "fwd_pkt_len_max_bytes",
    "fwd_pkt_len_mean_bytes",
    "fwd_pkt_len_std_bytes",
    "bwd_pkt_len_min_bytes",
    "bwd_pkt_len_max_bytes",
    "bwd_pkt_len_mean_bytes",
    "bwd_pkt_len_std_bytes",
    "pkt_len_min_bytes",
    "pkt_len_max_bytes",
    "pkt_len_mean_bytes",
    "pkt_len_std_bytes",
    "fwd_payload_mean_bytes",
    "bwd_payload_mean_bytes",
    "down_up_packet_ratio",
];

impl Volume {
    #[inline]
    pub fn update(&mut self, dir: Direction, meta: &PacketMeta<'_>) {
        let d = dir as usize;
        self.len[d].push(self.packets[d], meta.ip_len);
        self.packets[d] += 1;
        self.header_bytes[d] += u64::from(meta.header_len);
        self.wire_bytes[d] += u64::from(meta.wire_len);
    }

    pub fn packets(&self, dir: Direction) -> u64 {
        self.packets[dir as usize]
    }

    /// IP bytes in one direction.
    pub fn bytes(&self, dir: Direction) -> u64 {
        self.len[dir as usize].sum()
    }

    /// Frame bytes on the wire in one direction (original lengths).
    pub fn wire_bytes(&self, dir: Direction) -> u64 {
        self.wire_bytes[dir as usize]
    }

    fn payload_bytes(&self, d: usize) -> u64 {
        self.len[d].sum().saturating_sub(self.header_bytes[d])
    }

    pub fn write(&self, out: &mut Vec<f64>) {
        let [fp, bp] = self.packets;
        out.extend([fp as f64, bp as f64]);
        out.extend([self.len[0].sum() as f64, self.len[1].sum() as f64]);
        out.extend([self.payload_bytes(0) as f64, self.payload_bytes(1) as f64]);
        out.extend([self.header_bytes[0] as f64, self.header_bytes[1] as f64]);
        out.extend(self.len[0].summary(fp));
        out.extend(self.len[1].summary(bp));
        let all = self.len[0].spread().merge(fp, self.len[1].spread(), bp);
        out.extend(all.summary(fp + bp, self.len[0].sum() + self.len[1].sum()));
        let mean = |bytes: u64, n: u64| if n == 0 { f64::NAN } else { bytes as f64 / n as f64 };
        out.push(mean(self.payload_bytes(0), fp));
        out.push(mean(self.payload_bytes(1), bp));
        out.push(mean(bp, fp));
    }
}
