//! Building Ethernet/IPv4 frames with correct lengths and checksums (for generated captures).

use std::net::Ipv4Addr;

/// Transport header of a frame to build.
#[derive(Debug, Clone, Copy)]
pub enum L4 {
    Tcp {
        src_port: u16,
        dst_port: u16,
        seq: u32,
        ack: u32,
        flags: u8,
        window: u16,
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

fn sum16(data: &[u8], mut acc: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

/// Appends an Ethernet II + IPv4 frame to `out` (cleared first). `ip_id` is the IPv4 identification.
pub fn ipv4_frame(out: &mut Vec<u8>, src: Ipv4Addr, dst: Ipv4Addr, ip_id: u16, l4: L4, payload: &[u8]) {
    out.clear();
    let src_mac = [0x02, 0, src.octets()[0], src.octets()[1], src.octets()[2], src.octets()[3]];
    let dst_mac = [0x02, 0, dst.octets()[0], dst.octets()[1], dst.octets()[2], dst.octets()[3]];
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&src_mac);
    out.extend_from_slice(&[0x08, 0x00]);
    let (proto, l4_len) = match l4 {
        L4::Tcp { .. } => (6u8, 20usize),
        L4::Udp { .. } => (17, 8),
        L4::IcmpEcho { .. } => (1, 8),
    };
    let total = 20 + l4_len + payload.len();
    let ip_start = out.len();
    out.extend_from_slice(&[0x45, 0]);
    out.extend_from_slice(&(total as u16).to_be_bytes());
    out.extend_from_slice(&ip_id.to_be_bytes());
    out.extend_from_slice(&[0x40, 0, 64, proto, 0, 0]);
    out.extend_from_slice(&src.octets());
    out.extend_from_slice(&dst.octets());
    let csum = fold(sum16(&out[ip_start..ip_start + 20], 0));
    out[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
    let l4_start = out.len();
    match l4 {
        L4::Tcp { src_port, dst_port, seq, ack, flags, window } => {
            out.extend_from_slice(&src_port.to_be_bytes());
            out.extend_from_slice(&dst_port.to_be_bytes());
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&ack.to_be_bytes());
            out.extend_from_slice(&[0x50, flags]);
            out.extend_from_slice(&window.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 0]);
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
            let mut acc = sum16(&src.octets(), 0);
            acc = sum16(&dst.octets(), acc);
            acc += u32::from(proto) + l4_bytes.len() as u32;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_verify() {
        let mut f = Vec::new();
        let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        ipv4_frame(&mut f, a, b, 7, L4::Udp { src_port: 5000, dst_port: 53 }, b"hello");
        assert_eq!(f.len(), 14 + 20 + 8 + 5);
        // A correct header sums to 0xffff (its complement 0).
        assert_eq!(fold(sum16(&f[14..34], 0)), 0);
        let mut acc = sum16(&a.octets(), 0);
        acc = sum16(&b.octets(), acc) + 17 + 13;
        assert_eq!(fold(sum16(&f[34..], acc)), 0);
    }
}
