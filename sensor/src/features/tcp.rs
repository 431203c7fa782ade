//! TCP family: flag counts and initial windows.
//!
//! Each flag is counted once per packet that carries it (CICFlowMeter counts FIN twice; we do not).
//! The initial window of a direction is the window field of the *first* packet with a TCP header in
//! that direction (CICFlowMeter's backward value is the last one seen; we take the first). All
//! features are missing (NaN) for flows that are not TCP.

use crate::decode::TcpInfo;
use crate::flow::Direction;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const URG: u8 = 0x20;
const ECE: u8 = 0x40;
const CWR: u8 = 0x80;

/// Flags counted in total only (PSH and URG are counted per direction; their totals are sums).
const TOTAL_ONLY: [u8; 6] = [FIN, SYN, RST, ACK, CWR, ECE];

pub const NAMES: &[&str] = &[
    "fin_count",
    "syn_count",
    "rst_count",
    "ack_count",
    "cwr_count",
    "ece_count",
    "psh_count",
    "urg_count",
    "fwd_psh_count",
    "bwd_psh_count",
    "fwd_urg_count",
    "bwd_urg_count",
    "fwd_init_win_bytes",
    "bwd_init_win_bytes",
];

#[derive(Debug, Clone, Copy, Default)]
pub struct Tcp {
    flags: [u32; 6],
    psh: [u32; 2],
    urg: [u32; 2],
    init_win: [u16; 2],
    /// Bit 0: forward window seen, bit 1: backward window seen.
    win_seen: u8,
    /// Bits of every flag seen in each direction (used by the flow table's teardown logic).
    seen: [u8; 2],
}

impl Tcp {
    #[inline]
    pub fn update(&mut self, dir: Direction, tcp: &TcpInfo) {
        let d = dir as usize;
        let f = tcp.flags;
        for (count, bit) in self.flags.iter_mut().zip(TOTAL_ONLY) {
            *count += u32::from(f & bit != 0);
        }
        self.psh[d] += u32::from(f & PSH != 0);
        self.urg[d] += u32::from(f & URG != 0);
        if self.win_seen & (1 << d) == 0 {
            self.win_seen |= 1 << d;
            self.init_win[d] = tcp.window;
        }
        self.seen[d] |= f;
    }

    /// Flags seen so far in a direction.
    pub fn seen(&self, dir: Direction) -> u8 {
        self.seen[dir as usize]
    }

    pub fn write(&self, is_tcp: bool, out: &mut Vec<f64>) {
        if !is_tcp {
            out.extend(std::iter::repeat_n(f64::NAN, NAMES.len()));
            return;
        }
        out.extend(self.flags.iter().map(|&c| f64::from(c)));
        let [p, u] = [self.psh, self.urg].map(|c| f64::from(c[0]) + f64::from(c[1]));
        out.extend([p, u]);
        out.extend([self.psh[0], self.psh[1], self.urg[0], self.urg[1]].map(f64::from));
        for d in 0..2 {
            out.push(if self.win_seen & (1 << d) != 0 { f64::from(self.init_win[d]) } else { f64::NAN });
        }
    }
}

pub mod flag {
    //! TCP flag bits for callers outside this family.
    pub const FIN: u8 = super::FIN;
    pub const SYN: u8 = super::SYN;
    pub const RST: u8 = super::RST;
    pub const ACK: u8 = super::ACK;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(flags: u8, window: u16) -> TcpInfo {
        TcpInfo { flags, window, seq: 0, ack: 0 }
    }

    #[test]
    fn flags_counted_once_and_first_windows_kept() {
        let mut t = Tcp::default();
        t.update(Direction::Forward, &info(SYN, 64240));
        t.update(Direction::Backward, &info(SYN | ACK, 65535));
        t.update(Direction::Forward, &info(ACK | PSH, 502));
        t.update(Direction::Backward, &info(ACK | PSH, 1000));
        t.update(Direction::Forward, &info(FIN | ACK, 502));
        t.update(Direction::Backward, &info(FIN | ACK | URG, 1000));
        let mut out = Vec::new();
        t.write(true, &mut out);
        let v: Vec<(&str, f64)> = NAMES.iter().copied().zip(out).collect();
        let expect = [
            ("fin_count", 2.0),
            ("syn_count", 2.0),
            ("rst_count", 0.0),
            ("psh_count", 2.0),
            ("ack_count", 5.0),
            ("urg_count", 1.0),
            ("fwd_psh_count", 1.0),
            ("bwd_psh_count", 1.0),
            ("bwd_urg_count", 1.0),
            ("fwd_init_win_bytes", 64240.0),
            ("bwd_init_win_bytes", 65535.0),
        ];
        for (name, value) in expect {
            assert_eq!(v.iter().find(|(n, _)| *n == name).unwrap().1, value, "{name}");
        }
        assert_eq!(t.seen(Direction::Forward), SYN | ACK | PSH | FIN);
    }

    #[test]
    fn not_tcp_is_missing() {
        let mut out = Vec::new();
        Tcp::default().write(false, &mut out);
        assert_eq!(out.len(), NAMES.len());
        assert!(out.iter().all(|v| v.is_nan()));
    }
}
