//! Early-packet family: size, direction and inter-arrival time of the first [`EARLY_PACKETS`] packets
//! (the "SPLT" sequence), so a model can judge a connection from its opening exchange.
//!
//! Sizes are IP lengths (saturated at 65535), directions are +1 (forward) / −1 (backward), gaps are µs
//! since the previous packet of the flow, saturated at 2^31 − 1 µs (about 36 minutes). Slots beyond
//! the flow's length are missing (NaN). The first packet is forward by definition; the directions of
//! the others are kept in the top bit of their gap word.

use crate::flow::Direction;

pub const EARLY_PACKETS: usize = 8;

const BACKWARD_BIT: u32 = 1 << 31;

#[derive(Debug, Clone, Copy, Default)]
pub struct Early {
    size: [u16; EARLY_PACKETS],
    /// Packet i + 1: gap in µs (low 31 bits) and direction (top bit set: backward).
    gap_dir: [u32; EARLY_PACKETS - 1],
}

/// The feature names, in order: all sizes, all directions, then the gaps of packets 2..=N.
pub fn names() -> Vec<String> {
    let mut names = Vec::new();
    names.extend((1..=EARLY_PACKETS).map(|i| format!("early_{i}_size_bytes")));
    names.extend((1..=EARLY_PACKETS).map(|i| format!("early_{i}_direction")));
    names.extend((2..=EARLY_PACKETS).map(|i| format!("early_{i}_iat_us")));
    names
}

impl Early {
    /// Packet number `n_before` (0-based) of the flow.
    #[inline]
    pub fn update(&mut self, n_before: u64, dir: Direction, ip_len: u32, flow_gap_us: Option<u32>) {
        let Ok(i) = usize::try_from(n_before) else { return };
        if i >= EARLY_PACKETS {
            return;
        }
        self.size[i] = u16::try_from(ip_len).unwrap_or(u16::MAX);
        if i > 0 {
            let gap = flow_gap_us.unwrap_or(0).min(BACKWARD_BIT - 1);
            let dir_bit = if dir == Direction::Backward { BACKWARD_BIT } else { 0 };
            self.gap_dir[i - 1] = gap | dir_bit;
        }
    }

    /// `packets` is the flow's packet count.
    pub fn write(&self, packets: u64, out: &mut Vec<f64>) {
        let seen = |i: usize| (i as u64) < packets;
        out.extend((0..EARLY_PACKETS).map(|i| if seen(i) { f64::from(self.size[i]) } else { f64::NAN }));
        out.extend((0..EARLY_PACKETS).map(|i| match (seen(i), i > 0 && self.gap_dir[i - 1] & BACKWARD_BIT != 0) {
            (false, _) => f64::NAN,
            (true, false) => 1.0,
            (true, true) => -1.0,
        }));
        out.extend(
            (1..EARLY_PACKETS).map(|i| if seen(i) { f64::from(self.gap_dir[i - 1] & !BACKWARD_BIT) } else { f64::NAN }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_packet_handshake() {
        let mut e = Early::default();
        e.update(0, Direction::Forward, 60, None);
        e.update(1, Direction::Backward, 60, Some(250));
        e.update(2, Direction::Forward, 52, Some(40));
        let mut out = Vec::new();
        e.write(3, &mut out);
        assert_eq!(out.len(), names().len());
        let n = EARLY_PACKETS;
        assert_eq!(&out[..3], &[60.0, 60.0, 52.0]);
        assert!(out[3].is_nan());
        assert_eq!(&out[n..n + 3], &[1.0, -1.0, 1.0]);
        assert!(out[n + 3].is_nan());
        assert_eq!(&out[2 * n..2 * n + 2], &[250.0, 40.0]);
        assert!(out[2 * n + 2].is_nan());
    }

    #[test]
    fn later_packets_are_ignored_and_long_gaps_saturate() {
        let mut e = Early::default();
        for i in 0..20 {
            e.update(i, Direction::Backward, 100 + i as u32, Some(u32::MAX));
        }
        let mut out = Vec::new();
        e.write(20, &mut out);
        assert_eq!(out[EARLY_PACKETS - 1], 107.0);
        assert_eq!(out[2 * EARLY_PACKETS], f64::from(BACKWARD_BIT - 1));
        assert_eq!(out[EARLY_PACKETS + 1], -1.0);
    }
}
