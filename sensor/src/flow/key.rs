//! The flow key: a small `Copy` value naming a bidirectional conversation.
//!
//! A key is *canonical*: both directions of a conversation map to the same key. `FlowKey::from_packet`
//! returns the key and whether the packet travels from the key's `lo` endpoint to its `hi` endpoint;
//! the flow table remembers which endpoint sent the first packet (the initiator).
//!
//! ICMP flows are keyed by type, code and identifier: echo-style request and reply types are folded onto
//! the request type, so a ping and its answer share one flow. The "ports" of an ICMP key hold
//! `type << 8 | code` (for the initiator's request type) and the identifier.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::decode::{PacketMeta, Transport};

/// Address family marker stored in the key (IPv4 addresses are stored in the first four bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Family {
    V4 = 4,
    V6 = 6,
}

/// One endpoint of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    pub addr: [u8; 16],
    pub port: u16,
}

/// Canonical bidirectional flow key: `lo` ≤ `hi` in (address, port) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowKey {
    pub lo: Endpoint,
    pub hi: Endpoint,
    /// VLAN id(s), as in [`PacketMeta::vlan`].
    pub vlan: u32,
    pub proto: u8,
    pub family: Family,
}

/// Hashes every field, a machine word at a time (hashing is once per packet).
impl std::hash::Hash for FlowKey {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u128(u128::from_ne_bytes(self.lo.addr));
        state.write_u128(u128::from_ne_bytes(self.hi.addr));
        state.write_u64(u64::from(self.lo.port) | u64::from(self.hi.port) << 16 | u64::from(self.vlan) << 32);
        state.write_u16(u16::from(self.proto) | (self.family as u16) << 8);
    }
}

/// Which way a packet travels relative to the canonical key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySide {
    /// From `lo` to `hi`.
    LoToHi,
    /// From `hi` to `lo`.
    HiToLo,
}

/// Folds ICMP/ICMPv6 reply types onto their request type so both directions share a key.
fn icmp_request_type(icmp_type: u8, v6: bool) -> u8 {
    if v6 {
        match icmp_type {
            129 => 128,
            _ => icmp_type,
        }
    } else {
        match icmp_type {
            0 => 8,
            14 => 13,
            16 => 15,
            18 => 17,
            _ => icmp_type,
        }
    }
}

fn addr_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.octets());
            b
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

impl FlowKey {
    /// An all-zero placeholder, for unused lanes of a batch.
    pub const EMPTY: FlowKey = FlowKey {
        lo: Endpoint { addr: [0; 16], port: 0 },
        hi: Endpoint { addr: [0; 16], port: 0 },
        vlan: 0,
        proto: 0,
        family: Family::V4,
    };

    /// The canonical key of a decoded packet and the side it travels on.
    pub fn from_packet(meta: &PacketMeta<'_>) -> (FlowKey, KeySide) {
        let (src_port, dst_port, symmetric) = match meta.transport {
            Transport::Tcp { src_port, dst_port, .. } | Transport::Udp { src_port, dst_port } => {
                (src_port, dst_port, false)
            }
            Transport::Icmp { icmp_type, code, ident, v6 } => {
                let port = u16::from(icmp_request_type(icmp_type, v6)) << 8 | u16::from(code);
                (port, ident, true)
            }
            Transport::Other => (0, 0, false),
        };
        let family = if meta.src.is_ipv4() { Family::V4 } else { Family::V6 };
        let src = addr_bytes(meta.src);
        let dst = addr_bytes(meta.dst);
        // ICMP "ports" are not per endpoint: order by address alone, then store (type/code, ident).
        let (sp, dp) = if symmetric { (0, 0) } else { (src_port, dst_port) };
        let a = Endpoint { addr: src, port: sp };
        let b = Endpoint { addr: dst, port: dp };
        // (address, port) order; big-endian u128 order is the byte order of the address.
        let rank = |e: &Endpoint| (u128::from_be_bytes(e.addr), e.port);
        let (mut lo, mut hi, side) =
            if rank(&a) <= rank(&b) { (a, b, KeySide::LoToHi) } else { (b, a, KeySide::HiToLo) };
        if symmetric {
            lo.port = src_port;
            hi.port = dst_port;
        }
        (FlowKey { lo, hi, vlan: meta.vlan, proto: meta.proto, family }, side)
    }

    /// The IP address of an endpoint as a std type.
    pub fn ip(&self, ep: &Endpoint) -> IpAddr {
        match self.family {
            Family::V4 => IpAddr::V4(Ipv4Addr::new(ep.addr[0], ep.addr[1], ep.addr[2], ep.addr[3])),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(ep.addr)),
        }
    }

    /// True for ICMP and ICMPv6 flows, whose "ports" are (type << 8 | code, identifier).
    pub fn is_icmp(&self) -> bool {
        self.proto == 1 || self.proto == 58
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Delivery, Fragment, TcpInfo};

    fn meta(src: &str, sp: u16, dst: &str, dp: u16) -> PacketMeta<'static> {
        PacketMeta {
            ts_ns: 0,
            wire_len: 60,
            vlan: 0,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            proto: 6,
            ip_len: 40,
            header_len: 40,
            payload_len: 0,
            payload: &[],
            transport: Transport::Tcp {
                src_port: sp,
                dst_port: dp,
                tcp: TcpInfo { flags: 0x02, window: 0, seq: 0, ack: 0 },
            },
            fragment: Fragment::None,
            delivery: Delivery::Unicast,
        }
    }

    #[test]
    fn both_directions_share_one_key() {
        let (k1, s1) = FlowKey::from_packet(&meta("10.0.0.2", 40000, "10.0.0.1", 445));
        let (k2, s2) = FlowKey::from_packet(&meta("10.0.0.1", 445, "10.0.0.2", 40000));
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!(k1.lo.port, 445);
        assert_eq!(k1.ip(&k1.lo), "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn same_address_ordered_by_port() {
        let (k, s) = FlowKey::from_packet(&meta("127.0.0.1", 5000, "127.0.0.1", 80));
        assert_eq!((k.lo.port, k.hi.port, s), (80, 5000, KeySide::HiToLo));
    }

    #[test]
    fn icmp_echo_and_reply_share_one_key() {
        let mut req = meta("192.168.1.1", 0, "192.168.1.2", 0);
        req.proto = 1;
        req.transport = Transport::Icmp { icmp_type: 8, code: 0, ident: 77, v6: false };
        let mut rep = meta("192.168.1.2", 0, "192.168.1.1", 0);
        rep.proto = 1;
        rep.transport = Transport::Icmp { icmp_type: 0, code: 0, ident: 77, v6: false };
        let (k1, s1) = FlowKey::from_packet(&req);
        let (k2, s2) = FlowKey::from_packet(&rep);
        assert_eq!(k1, k2);
        assert_ne!(s1, s2);
        assert_eq!((k1.lo.port, k1.hi.port), (8 << 8, 77));
        let mut other_ident = req;
        other_ident.transport = Transport::Icmp { icmp_type: 8, code: 0, ident: 78, v6: false };
        assert_ne!(FlowKey::from_packet(&other_ident).0, k1);
    }

    #[test]
    fn vlans_separate_flows() {
        let a = meta("10.0.0.2", 1, "10.0.0.1", 2);
        let mut b = a;
        b.vlan = 100;
        assert_ne!(FlowKey::from_packet(&a).0, FlowKey::from_packet(&b).0);
    }
}
