//! Building Ethernet/IPv4 frames with correct lengths and checksums (for generated captures).
//!
//! The checksum sums 8 bytes at a time: generated captures carry gigabytes of payload, and a
//! byte-pair loop would cost more than everything else the simulator does per packet.

use std::net::Ipv4Addr;

/// Transport header of a frame to build.
#[derive(Debug, Clone, Copy)]
pub enum L4<'a> {
    /// TCP; `options` are appended after the 20-byte header (padded to 4 bytes with NOPs/EOL).
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
        options: &'a [u8],
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP echo request (type 8) or reply (type 0).
    IcmpEcho {
        icmp_type: u8,
        ident: u16,
        seq: u16,
    },
}

/// IP-level settings of a frame.
#[derive(Debug, Clone, Copy)]
pub struct Ip {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub id: u16,
    pub ttl: u8,
}

/// One's-complement sum of `data` as big-endian 16-bit words, added to `acc` (not folded).
fn sum16(data: &[u8], acc: u64) -> u64 {
    let mut acc = acc;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        // Add the four 16-bit words of `w` without losing carries: split into two halves.
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x00, o[0], o[1], o[2], o[3]]
}

/// Writes an Ethernet II + IPv4 frame into `out` (cleared first).
pub fn ipv4_frame_with(out: &mut Vec<u8>, ip: Ip, l4: L4<'_>, payload: &[u8]) {
    out.clear();
    out.extend_from_slice(&mac_of(ip.dst));
    out.extend_from_slice(&mac_of(ip.src));
    out.extend_from_slice(&[0x08, 0x00]);
    let (proto, l4_len) = match l4 {
        L4::Tcp { options, .. } => (6u8, 20 + options.len().div_ceil(4) * 4),
        L4::Udp { .. } => (17, 8),
        L4::IcmpEcho { .. } => (1, 8),
    };
    let total = 20 + l4_len + payload.len();
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&ip.id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, ip.ttl, proto, 0, 0]);
    out.extend_from_slice(&ip.src.octets());
    out.extend_from_slice(&ip.dst.octets());
    let csum = fold(sum16(&out[ip_start..ip_start + 20], 0));
    out[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
    let l4_start = out.len();
    match l4 {
        L4::Tcp { src_port, dst_port, seq, ack, flags, window, options } => {
            out.extend_from_slice(&src_port.to_be_bytes());
            out.extend_from_slice(&dst_port.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&ack.to_be_bytes());
            out.extend_from_slice(&[((l4_len / 4) as u8) << 4, flags]);
            out.extend_from_slice(&window.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(options);
            // Pad options with end-of-option-list bytes to a 4-byte boundary.
            out.resize(l4_start + l4_len, 0);
        }
        L4::Udp { src_port, dst_port } => {
            out.extend_from_slice(&src_port.to_be_bytes());
            out.extend_from_slice(&dst_port.to_be_bytes());
            out.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
        L4::IcmpEcho { icmp_type, ident, seq } => {
            out.extend_from_slice(&[icmp_type, 0, 0, 0]);
            out.extend_from_slice(&ident.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    let l4_bytes = &out[l4_start..];
    let csum = match l4 {
        L4::IcmpEcho { .. } => fold(sum16(l4_bytes, 0)),
        _ => {
            let mut acc = sum16(&ip.src.octets(), 0);
            acc = sum16(&ip.dst.octets(), acc);
            acc += u64::from(proto) + l4_bytes.len() as u64;
            let c = fold(sum16(l4_bytes, acc));
            if c == 0 && proto == 17 { 0xffff } else { c }
        }
    };
    let at = l4_start
        + match l4 {
            L4::Tcp { .. } => 16,
            L4::Udp { .. } => 6,
            L4::IcmpEcho { .. } => 2,
        };
    out[at..at + 2].copy_from_slice(&csum.to_be_bytes());
}

/// [`ipv4_frame_with`] with TTL 64.
pub fn ipv4_frame(out: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, ip_id: u16, l4: L4<'_>, payload: &[u8]) {
    ipv4_frame_with(out, Ip { src, dst, id: ip_id, ttl: 64 }, l4, payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward checksum, for comparison.
    fn naive(data: &[u8], mut acc: u64) -> u64 {
        for p in data.chunks(2) {
            acc += u64::from(u16::from_be_bytes([p[0], *p.get(1).unwrap_or(&0)]));
        }
        acc
    }

    #[test]
    fn fast_sum_equals_the_naive_one() {
        let data: Vec<u8> = (0..1501u32).map(|i| (i * 7919 % 256) as u8).collect();
        for len in [0, 1, 2, 7, 8, 9, 15, 16, 17, 1499, 1500, 1501] {
            assert_eq!(fold(sum16(&data[..len], 3)), fold(naive(&data[..len], 3)), "len {len}");
        }
    }

    #[test]
    fn checksums_verify_and_options_are_padded() {
        let mut f = Vec::new();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        ipv4_frame(&mut f, a, b, 7, L4::Udp { src_port: 5000, dst_port: 53 }, b"hello");
        assert_eq!(f.len(), 14 + 20 + 8 + 5);
        // A correct header sums to 0xffff (its complement 0).
        assert_eq!(fold(sum16(&f[14..34], 0)), 0);
        let acc = sum16(&b.octets(), sum16(&a.octets(), 0)) + 17 + 13;
        assert_eq!(fold(sum16(&f[34..], acc)), 0);

        // MSS (4) + NOP + window scale (3) = 8 bytes of options; 2 more bytes get padded to 12.
        let options = [2, 4, 0x05, 0xb4, 1, 3, 3, 8, 4, 2];
        let l4 = L4::Tcp { src_port: 1, dst_port: 2, seq: 3, ack: 0, flags: 0x02, window: 64240, options: &options };
        ipv4_frame_with(&mut f, Ip { src: a, dst: b, id: 1, ttl: 128 }, l4, &[]);
        assert_eq!(f.len(), 14 + 20 + 32);
        assert_eq!(f[14 + 20 + 12] >> 4, 8, "data offset 32 bytes");
        assert_eq!(f[14 + 8], 128, "ttl");
        let acc = sum16(&b.octets(), sum16(&a.octets(), 0)) + 6 + 32;
        assert_eq!(fold(sum16(&f[34..], acc)), 0);
    }
}
