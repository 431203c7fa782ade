//! ICMP / ICMPv6 payload features: sizes per direction and how random the payloads look.
//!
//! `update` takes one ICMP packet of the flow: the captured bytes after the 8-byte ICMP header and the
//! payload length derived from the IP header (so sizes are right even when the snap length cut the
//! packet). Entropy is computed per packet over at most the first [`ENTROPY_WINDOW_BYTES`] captured
//! bytes, with the byte histogram on the stack, and averaged over the packets whose captured payload is
//! not empty. A ping carries a fixed pattern (low entropy); tunnels and exfiltration carry
//! compressed or encrypted data (close to 8 bits per byte).
//!
//! The state is 24 bytes and allocation-free. Byte totals saturate at `u32::MAX` (4 GiB per
//! direction); the payload maximum saturates at `u16::MAX` (only an IPv6 jumbogram can exceed it).
//! Every feature is NaN when the flow carried no ICMP packet.

use super::entropy::byte_entropy_bits;
use crate::flow::Direction;

/// At most this many captured payload bytes of each packet go into its entropy.
pub const ENTROPY_WINDOW_BYTES: usize = 512;

/// Per-flow ICMP payload state.
#[derive(Debug, Clone, Copy, Default)]
pub struct IcmpFeatures {
    packets: u32,
    /// Packets whose captured payload was not empty (those that have an entropy).
    entropy_packets: u32,
    fwd_payload_bytes: u32,
    bwd_payload_bytes: u32,
    /// Running mean over `entropy_packets`, in bits per byte.
    entropy_mean_bits: f32,
    max_payload_bytes: u16,
}

impl IcmpFeatures {
    pub const NAMES: &'static [&'static str] = &[
        "icmp_payload_mean_bytes",
        "icmp_payload_max_bytes",
        "icmp_payload_entropy_mean_bits",
        "icmp_fwd_payload_bytes",
        "icmp_bwd_payload_bytes",
    ];

    /// Accounts one ICMP packet. `payload` is the captured part after the 8-byte ICMP header,
    /// `payload_len` the full payload length from the IP header.
    pub fn update(&mut self, dir: Direction, payload: &[u8], payload_len: u32) {
        self.packets = self.packets.saturating_add(1);
        let total = match dir {
            Direction::Forward => &mut self.fwd_payload_bytes,
            Direction::Backward => &mut self.bwd_payload_bytes,
        };
        *total = total.saturating_add(payload_len);
        let len16 = u16::try_from(payload_len).unwrap_or(u16::MAX);
        self.max_payload_bytes = self.max_payload_bytes.max(len16);

        let window = &payload[..payload.len().min(ENTROPY_WINDOW_BYTES)];
        if !window.is_empty() {
            self.entropy_packets = self.entropy_packets.saturating_add(1);
            let entropy = byte_entropy_bits(window);
            let mean = f64::from(self.entropy_mean_bits);
            // An incremental mean rather than a sum: an f32 sum of millions of packets would drop the
            // new terms once it is large.
            self.entropy_mean_bits = (mean + (entropy - mean) / f64::from(self.entropy_packets)) as f32;
        }
    }

    /// Writes the features in [`Self::NAMES`] order; `out.len()` must equal `NAMES.len()`.
    pub fn write(&self, out: &mut [f64]) {
        debug_assert_eq!(out.len(), Self::NAMES.len());
        let values = if self.packets == 0 {
            [f64::NAN; 5]
        } else {
            let total = u64::from(self.fwd_payload_bytes) + u64::from(self.bwd_payload_bytes);
            [
                total as f64 / f64::from(self.packets),
                f64::from(self.max_payload_bytes),
                if self.entropy_packets == 0 { f64::NAN } else { f64::from(self.entropy_mean_bits) },
                f64::from(self.fwd_payload_bytes),
                f64::from(self.bwd_payload_bytes),
            ]
        };
        for (slot, value) in out.iter_mut().zip(values) {
            *slot = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(f: &IcmpFeatures) -> [f64; 5] {
        let mut out = [0.0; 5];
        f.write(&mut out);
        out
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-5
    }

    /// iputils `ping` on x86-64: a 16-byte `struct timeval` (little-endian seconds, microseconds),
    /// then bytes 0x10..=0x37.
    fn linux_ping_payload() -> [u8; 56] {
        let mut p = [0u8; 56];
        p[..16].copy_from_slice(&[
            0xC3, 0xB2, 0xA1, 0x65, 0x00, 0x00, 0x00, 0x00, // tv_sec 0x65A1B2C3
            0x40, 0x0B, 0x0C, 0x00, 0x00, 0x00, 0x00, 0x00, // tv_usec 789312
        ]);
        for (i, b) in p.iter_mut().enumerate().skip(16) {
            *b = i as u8;
        }
        p
    }

    #[test]
    fn state_is_small() {
        assert!(std::mem::size_of::<IcmpFeatures>() <= 24);
    }

    #[test]
    fn names_match_written_values() {
        assert_eq!(IcmpFeatures::NAMES.len(), 5);
    }

    #[test]
    fn no_packet_gives_all_nan() {
        assert!(features(&IcmpFeatures::default()).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn entropy_of_hand_computed_patterns() {
        assert_eq!(byte_entropy_bits(&[0u8; 64]), 0.0);
        assert_eq!(byte_entropy_bits(b"abcd"), 2.0);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(byte_entropy_bits(&all), 8.0);
        // Two symbols, 3:1 → -(0.75·log2 0.75 + 0.25·log2 0.25) = 0.811278...
        assert!(close(byte_entropy_bits(b"aaab"), 0.811_278_124_459_132_8));
    }

    #[test]
    fn linux_ping_request_and_reply() {
        // 0x00 appears 9 times, the other 47 bytes once each:
        // H = log2(56) - 9·log2(9)/56 = 5.807354922 - 0.509452232 = 5.297902690
        let payload = linux_ping_payload();
        let mut f = IcmpFeatures::default();
        f.update(Direction::Forward, &payload, 56);
        f.update(Direction::Backward, &payload, 56);
        let out = features(&f);
        assert_eq!(out[0], 56.0);
        assert_eq!(out[1], 56.0);
        assert!(close(out[2], 5.297_902_69), "{}", out[2]);
        assert_eq!(out[3], 56.0);
        assert_eq!(out[4], 56.0);
    }

    #[test]
    fn sizes_use_ip_length_and_entropy_averages_non_empty_payloads() {
        let mut f = IcmpFeatures::default();
        let all: Vec<u8> = (0..=255).collect();
        // Snap length cut this one: 256 captured of 1000 bytes; entropy 8.
        f.update(Direction::Forward, &all, 1000);
        // All zero: entropy 0.
        f.update(Direction::Forward, &[0u8; 100], 100);
        // Empty payload: counts for sizes, not for entropy.
        f.update(Direction::Backward, &[], 0);
        let out = features(&f);
        assert!(close(out[0], 1100.0 / 3.0));
        assert_eq!(out[1], 1000.0);
        assert_eq!(out[2], 4.0);
        assert_eq!(out[3], 1100.0);
        assert_eq!(out[4], 0.0);
    }

    #[test]
    fn entropy_window_is_first_512_bytes() {
        let mut payload = vec![0u8; 512];
        payload.extend(0..=255u8);
        let mut f = IcmpFeatures::default();
        f.update(Direction::Forward, &payload, payload.len() as u32);
        assert_eq!(features(&f)[2], 0.0);
    }

    #[test]
    fn only_empty_payloads_give_nan_entropy() {
        let mut f = IcmpFeatures::default();
        f.update(Direction::Backward, &[], 0);
        let out = features(&f);
        assert_eq!(out[0], 0.0);
        assert!(out[2].is_nan());
        assert_eq!(out[3], 0.0);
    }

    #[test]
    fn totals_saturate_instead_of_wrapping() {
        let mut f = IcmpFeatures::default();
        f.update(Direction::Forward, &[1], u32::MAX);
        f.update(Direction::Forward, &[1], 70_000);
        let out = features(&f);
        assert_eq!(out[1], f64::from(u16::MAX));
        assert_eq!(out[3], f64::from(u32::MAX));
    }
}
