//! Community ID v1 flow hashing (<https://github.com/corelight/community-id-spec>), the flow identifier
//! Zeek, Suricata and Wireshark emit, so a flow record here joins directly to their logs.
//!
//! The hash input is `seed (2 bytes BE) . src addr . dst addr . proto . 0 . src port (BE) . dst port (BE)`,
//! with the endpoints ordered so that the smaller `(addr, port)` comes first; the output is `"1:"` followed
//! by the standard (padded) base64 of the SHA-1 digest. Ports are hashed only for TCP, UDP, SCTP, ICMP
//! and ICMPv6; any other protocol hashes addresses and protocol alone.
//!
//! ICMP and ICMPv6 carry `(type, code)` in the port slots, mapped as the spec (after Zeek) prescribes:
//! a request/reply type is paired with its counterpart type (echo request 8 → `(8, 0)`, echo reply 0 →
//! `(0, 8)`), so both halves of an exchange get the same ID; any other type is "one-way" and hashes
//! `(type, code)` in the packet's own direction, never reordered.

use std::cmp::Ordering;
use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest, Sha1};

const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;
const PROTO_SCTP: u8 = 132;

/// Community ID v1 of a flow tuple, e.g. `"1:LQU9qZlK+B5F3KDmev6m5PMibrg="`.
///
/// For ICMP (`proto` 1) and ICMPv6 (58) pass the ICMP type as `src_port` and the code as `dst_port`.
/// The result is the same for both directions of a flow (except one-way ICMP types, see the module doc).
/// A tuple mixing an IPv4 and an IPv6 address (which no real packet has) hashes the IPv4 address in its
/// IPv4-mapped IPv6 form.
pub fn community_id_v1(seed: u16, src: IpAddr, dst: IpAddr, proto: u8, src_port: u16, dst_port: u16) -> String {
    let (src, dst) = same_family(src, dst);
    let ports = PortPair::for_protocol(proto, src_port, dst_port);
    let keep_order = match ports {
        PortPair::OneWay(..) => true,
        PortPair::TwoWay(sport, dport) => match src.cmp(&dst) {
            Ordering::Less => true,
            Ordering::Equal => sport < dport,
            Ordering::Greater => false,
        },
        PortPair::Absent => src <= dst,
    };
    let (first, second, ports) = if keep_order { (src, dst, ports) } else { (dst, src, ports.swapped()) };

    let mut hasher = Sha1::new();
    hasher.update(seed.to_be_bytes());
    hasher.update(first.as_slice());
    hasher.update(second.as_slice());
    hasher.update([proto, 0]);
    if let PortPair::TwoWay(a, b) | PortPair::OneWay(a, b) = ports {
        hasher.update(a.to_be_bytes());
        hasher.update(b.to_be_bytes());
    }
    let mut id = String::with_capacity(30);
    id.push_str("1:");
    STANDARD.encode_string(hasher.finalize(), &mut id);
    id
}

/// The port-equivalent part of the hash input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortPair {
    /// Ordered together with the addresses (TCP, UDP, SCTP, ICMP request/reply types).
    TwoWay(u16, u16),
    /// ICMP types without a counterpart: hashed in the packet's direction.
    OneWay(u16, u16),
    /// Protocols without ports: only addresses and protocol are hashed.
    Absent,
}

impl PortPair {
    fn for_protocol(proto: u8, src_port: u16, dst_port: u16) -> PortPair {
        let counterpart = match proto {
            PROTO_TCP | PROTO_UDP | PROTO_SCTP => return PortPair::TwoWay(src_port, dst_port),
            PROTO_ICMP => icmp4_counterpart(src_port),
            PROTO_ICMPV6 => icmp6_counterpart(src_port),
            _ => return PortPair::Absent,
        };
        match counterpart {
            Some(counter_type) => PortPair::TwoWay(src_port, counter_type),
            None => PortPair::OneWay(src_port, dst_port),
        }
    }

    fn swapped(self) -> PortPair {
        match self {
            PortPair::TwoWay(a, b) => PortPair::TwoWay(b, a),
            other => other,
        }
    }
}

/// ICMPv4 request/reply pairs: echo, timestamp, information, router solicitation/advertisement, mask.
fn icmp4_counterpart(icmp_type: u16) -> Option<u16> {
    Some(match icmp_type {
        8 => 0,
        0 => 8,
        13 => 14,
        14 => 13,
        15 => 16,
        16 => 15,
        10 => 9,
        9 => 10,
        17 => 18,
        18 => 17,
        _ => return None,
    })
}

/// ICMPv6 request/reply pairs: echo, MLD query/report, router and neighbor discovery, who-are-you,
/// home agent address discovery.
fn icmp6_counterpart(icmp_type: u16) -> Option<u16> {
    Some(match icmp_type {
        128 => 129,
        129 => 128,
        130 => 131,
        131 => 130,
        133 => 134,
        134 => 133,
        135 => 136,
        136 => 135,
        139 => 140,
        140 => 139,
        144 => 145,
        145 => 144,
        _ => return None,
    })
}

/// An address in network byte order; compares like the spec's `memcmp` of equal-length addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum AddrBytes {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl AddrBytes {
    fn as_slice(&self) -> &[u8] {
        match self {
            AddrBytes::V4(bytes) => bytes,
            AddrBytes::V6(bytes) => bytes,
        }
    }
}

fn same_family(src: IpAddr, dst: IpAddr) -> (AddrBytes, AddrBytes) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (AddrBytes::V4(s.octets()), AddrBytes::V4(d.octets())),
        (s, d) => (AddrBytes::V6(as_v6(s)), AddrBytes::V6(as_v6(d))),
    }
}

fn as_v6(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Both directions of a two-way flow must produce `expected`.
    fn assert_both_ways(proto: u8, a: &str, a_port: u16, b: &str, b_port: u16, expected: &str) {
        assert_eq!(community_id_v1(0, ip(a), ip(b), proto, a_port, b_port), expected);
        assert_eq!(community_id_v1(0, ip(b), ip(a), proto, b_port, a_port), expected);
    }

    // Vectors from the spec repository's baseline/baseline_deflt.json (seed 0). Its ICMP rows list the
    // mapped port pair; the calls below pass (type, code) as a monitor sees them.
    #[test]
    fn spec_baseline_tcp_udp_sctp() {
        assert_both_ways(PROTO_TCP, "128.232.110.120", 34855, "66.35.250.204", 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg=");
        assert_both_ways(
            PROTO_TCP,
            "2001:470:e5bf:dead:4957:2174:e82c:4887",
            63943,
            "2607:f8b0:400c:c03::1a",
            25,
            "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        );
        assert_both_ways(PROTO_UDP, "192.168.1.52", 54585, "8.8.8.8", 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ=");
        assert_both_ways(PROTO_SCTP, "192.168.170.8", 7, "192.168.170.56", 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=");
    }

    #[test]
    fn spec_baseline_portless_protocol() {
        // RSVP (46): ports are not hashed, so whatever the caller passes must not matter.
        let expected = "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw=";
        assert_eq!(community_id_v1(0, ip("10.1.12.1"), ip("10.1.12.2"), 46, 0, 0), expected);
        assert_eq!(community_id_v1(0, ip("10.1.12.2"), ip("10.1.12.1"), 46, 9, 7), expected);
    }

    #[test]
    fn spec_baseline_icmp() {
        let echo = "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=";
        assert_eq!(community_id_v1(0, ip("192.168.0.89"), ip("192.168.0.1"), 1, 8, 0), echo);
        assert_eq!(community_id_v1(0, ip("192.168.0.1"), ip("192.168.0.89"), 1, 0, 0), echo);
        // Time exceeded: one-way.
        assert_eq!(community_id_v1(0, ip("10.0.0.1"), ip("10.0.0.2"), 1, 11, 0), "1:YHxtAirCG//0OzkcVAukqKQN9xM=");
    }

    #[test]
    fn spec_baseline_icmpv6() {
        let (a, b) = (ip("fe80::200:86ff:fe05:80da"), ip("fe80::260:97ff:fe07:69ea"));
        // Neighbor solicitation from a, advertisement from b: one flow.
        let ns_from_a = "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=";
        assert_eq!(community_id_v1(0, a, b, 58, 135, 0), ns_from_a);
        assert_eq!(community_id_v1(0, b, a, 58, 136, 0), ns_from_a);
        // Solicitation from b: a different flow.
        let ns_from_b = "1:zavyT/cezQr1fmImYCwYnMXbgck=";
        assert_eq!(community_id_v1(0, b, a, 58, 135, 0), ns_from_b);
        assert_eq!(community_id_v1(0, a, b, 58, 136, 0), ns_from_b);

        let (c, d) = (ip("3ffe:507:0:1:200:86ff:fe05:80da"), ip("3ffe:501:0:1001::2"));
        let echo = "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg=";
        assert_eq!(community_id_v1(0, c, d, 58, 128, 0), echo);
        assert_eq!(community_id_v1(0, d, c, 58, 129, 0), echo);

        assert_eq!(
            community_id_v1(0, ip("fe80::200:86ff:fe05:80da"), ip("ff02::2"), 58, 133, 0),
            "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="
        );
        assert_eq!(
            community_id_v1(0, ip("fe80::260:97ff:fe07:69ea"), ip("ff02::1"), 58, 134, 0),
            "1:pkvHqCL88/tg1k4cPigmZXUtL00="
        );
        // One-way types: time exceeded (3/0), destination unreachable (1/4).
        assert_eq!(
            community_id_v1(0, ip("3ffe:501:1800:2345::2"), ip("3ffe:507:0:1:200:86ff:fe05:80da"), 58, 3, 0),
            "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="
        );
        assert_eq!(
            community_id_v1(0, ip("3ffe:501:410:0:2c0:dfff:fe47:33e"), ip("3ffe:507:0:1:200:86ff:fe05:80da"), 58, 1, 4),
            "1:hLZd0XGWojozrvxqE0dWB1iM6R0="
        );
    }

    // Expected strings produced by TShark 4.0.17 (`--enable-protocol communityid`, field `communityid`)
    // from a hand-built pcap holding these exact packets.
    #[test]
    fn tshark_tcp_and_udp_v4() {
        assert_both_ways(PROTO_TCP, "192.168.1.10", 51234, "93.184.216.34", 443, "1:fbAPywuO+i+25+3AEzswut0zPvM=");
        assert_eq!(
            community_id_v1(0, ip("172.16.0.5"), ip("8.8.4.4"), PROTO_UDP, 40000, 53),
            "1:VmG/f5FTVp0zH5ijwhFz1p7R0Vg="
        );
    }

    #[test]
    fn tshark_seed_one() {
        // Same TCP flow as above with `-o communityid.seed:1`.
        let ip_a = ip("192.168.1.10");
        let ip_b = ip("93.184.216.34");
        let expected = "1:0B37sqo87a/TfPqa2TdlcyCPJ6A=";
        assert_eq!(community_id_v1(1, ip_a, ip_b, PROTO_TCP, 51234, 443), expected);
        assert_eq!(community_id_v1(1, ip_b, ip_a, PROTO_TCP, 443, 51234), expected);
    }

    #[test]
    fn tshark_icmp_echo_v4() {
        let expected = "1:E5tNYkCqpM09ZPfoLcq+JJj0QuQ=";
        assert_eq!(community_id_v1(0, ip("10.0.0.2"), ip("10.0.0.1"), 1, 8, 0), expected);
        assert_eq!(community_id_v1(0, ip("10.0.0.1"), ip("10.0.0.2"), 1, 0, 0), expected);
    }

    #[test]
    fn tshark_icmp_one_way_keeps_packet_direction() {
        // Port unreachable (3/3) sent each way: two different IDs, and the one from the larger address
        // is not flipped (flipping it would give the other packet's ID).
        let from_9 = community_id_v1(0, ip("10.0.0.9"), ip("10.0.0.2"), 1, 3, 3);
        let from_2 = community_id_v1(0, ip("10.0.0.2"), ip("10.0.0.9"), 1, 3, 3);
        assert_eq!(from_9, "1:u3da8r16MGxB5tkyB/2LMtbSnbQ=");
        assert_eq!(from_2, "1:bmVzffzP/j6w/XbNpGzrCQjNUQw=");
    }

    #[test]
    fn tshark_icmpv6_echo() {
        let expected = "1:u2vMS3HiWth2lIMKHB1fjELshpQ=";
        assert_eq!(community_id_v1(0, ip("2001:db8::1"), ip("2001:db8::2"), 58, 128, 0), expected);
        assert_eq!(community_id_v1(0, ip("2001:db8::2"), ip("2001:db8::1"), 58, 129, 0), expected);
    }

    #[test]
    fn tshark_tcp_v6() {
        assert_both_ways(PROTO_TCP, "2001:db8::20", 49152, "2001:db8::10", 22, "1:/88xoZkRRGCP5LaGCiL31g29iqg=");
    }

    #[test]
    fn tshark_equal_addresses_ordered_by_port() {
        assert_both_ways(PROTO_TCP, "127.0.0.1", 8080, "127.0.0.1", 1234, "1:kFwaaooIP1RJd+4sH0YCQiXBgKU=");
    }

    #[test]
    fn tshark_gre_has_no_ports() {
        let expected = "1:wbTgQaTQnm6fBgsbpR0X6cfRKfA=";
        assert_eq!(community_id_v1(0, ip("10.9.8.7"), ip("10.1.2.3"), 47, 0, 0), expected);
        assert_eq!(community_id_v1(0, ip("10.1.2.3"), ip("10.9.8.7"), 47, 1, 2), expected);
    }

    #[test]
    fn mixed_families_hash_as_mapped_v6() {
        let mapped = community_id_v1(0, ip("::ffff:10.0.0.1"), ip("2001:db8::1"), PROTO_TCP, 1, 2);
        assert_eq!(community_id_v1(0, ip("10.0.0.1"), ip("2001:db8::1"), PROTO_TCP, 1, 2), mapped);
    }
}
