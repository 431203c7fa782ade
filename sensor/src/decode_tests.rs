//! Tests of `decode` over literal frames. Checksums in the frames are 0: the decoder does not verify them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

const TS: u64 = 1_700_000_000_123_456_789;

fn raw(link: LinkType, data: &[u8]) -> RawPacket<'_> {
    RawPacket { ts_ns: TS, orig_len: u32::try_from(data.len()).unwrap(), link, data }
}

/// The first `snap` bytes of `data`, as a capture with that snap length records them.
fn snapped(link: LinkType, data: &[u8], snap: usize) -> RawPacket<'_> {
    RawPacket { ts_ns: TS, orig_len: u32::try_from(data.len()).unwrap(), link, data: &data[..snap] }
}

fn decode(link: LinkType, data: &[u8]) -> Result<PacketMeta<'_>, DropReason> {
    Decoder::new(16).decode(&raw(link, data))
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn doc_v6(last: u16) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, last))
}

/// Ethernet + IPv4 + TCP SYN with 20 bytes of options, no payload: 74 bytes.
#[rustfmt::skip]
const ETH_IPV4_TCP_SYN: &[u8] = &[
    // Ethernet: dst 00:11:22:33:44:55, src 66:77:88:99:aa:bb, type IPv4
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: IHL 5, total length 60 (0x3c), id 0x1c46, DF, TTL 64, TCP, 192.168.1.2 → 192.168.1.1
    0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x02,
    0xc0, 0xa8, 0x01, 0x01,
    // TCP: 50000 (0xc350) → 80, seq 0x12345678, ack 0, data offset 10 (40 bytes), SYN, window 64240 (0xfaf0)
    0xc3, 0x50, 0x00, 0x50, 0x12, 0x34, 0x56, 0x78, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0,
    0x00, 0x00, 0x00, 0x00,
    // options: MSS 1460, SACK permitted, timestamps 1/0, NOP, window scale 7 (4 + 2 + 10 + 1 + 3 = 20)
    0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x03, 0x03, 0x07,
];

/// Ethernet + IPv4 + TCP PSH|ACK carrying "hello, world": 14 + 20 + 20 + 12 = 66 bytes.
#[rustfmt::skip]
const ETH_IPV4_TCP_DATA: &[u8] = &[
    // Ethernet: type IPv4
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 52 (0x34 = 20 + 20 + 12), id 0x1c47, DF, TTL 64, TCP, 192.168.1.2 → 192.168.1.1
    0x45, 0x00, 0x00, 0x34, 0x1c, 0x47, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00, 0xc0, 0xa8, 0x01, 0x02,
    0xc0, 0xa8, 0x01, 0x01,
    // TCP: 50000 → 80, seq 0x12345679, ack 0xabcd, data offset 5, PSH|ACK (0x18), window 502 (0x01f6)
    0xc3, 0x50, 0x00, 0x50, 0x12, 0x34, 0x56, 0x79, 0x00, 0x00, 0xab, 0xcd, 0x50, 0x18, 0x01, 0xf6,
    0x00, 0x00, 0x00, 0x00,
    // payload "hello, world"
    b'h', b'e', b'l', b'l', b'o', b',', b' ', b'w', b'o', b'r', b'l', b'd',
];

/// Ethernet + one 802.1Q tag + IPv4 + UDP "query": 14 + 4 + 20 + 8 + 5 = 51 bytes.
#[rustfmt::skip]
const ETH_VLAN_IPV4_UDP: &[u8] = &[
    // Ethernet: type 802.1Q
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x81, 0x00,
    // tag: TCI 0x6064 = PCP 3, VID 100; inner type IPv4
    0x60, 0x64, 0x08, 0x00,
    // IPv4: total length 33 (0x21 = 20 + 8 + 5), id 1, TTL 64, UDP, 10.0.0.1 → 10.0.0.2
    0x45, 0x00, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02,
    // UDP: 5353 (0x14e9) → 53, length 13
    0x14, 0xe9, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00,
    // payload "query"
    b'q', b'u', b'e', b'r', b'y',
];

/// Ethernet + 802.1ad S-tag (VID 10) + 802.1Q C-tag (VID 20) + the IPv4/UDP packet above: 55 bytes.
#[rustfmt::skip]
const ETH_QINQ_IPV4_UDP: &[u8] = &[
    // Ethernet: type 802.1ad
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x88, 0xa8,
    // S-tag: VID 10 (0x00a), inner type 802.1Q
    0x00, 0x0a, 0x81, 0x00,
    // C-tag: VID 20 (0x014), inner type IPv4
    0x00, 0x14, 0x08, 0x00,
    // IPv4 + UDP "query" as in ETH_VLAN_IPV4_UDP
    0x45, 0x00, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00, b'q', b'u', b'e', b'r',
    b'y',
];

/// Linux cooked v1 + the IPv4/UDP packet: 16 + 33 = 49 bytes.
#[rustfmt::skip]
const SLL_IPV4_UDP: &[u8] = &[
    // SLL: packet type 0 (to us), ARPHRD_ETHER 1, address length 6, address 66:77:88:99:aa:bb + 2 pad,
    // protocol IPv4
    0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x00, 0x00, 0x08, 0x00,
    // IPv4 + UDP "query" as in ETH_VLAN_IPV4_UDP
    0x45, 0x00, 0x00, 0x21, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02, 0x14, 0xe9, 0x00, 0x35, 0x00, 0x0d, 0x00, 0x00, b'q', b'u', b'e', b'r',
    b'y',
];

/// Linux cooked v2 + IPv6 + UDP with 4 payload bytes: 20 + 40 + 8 + 4 = 72 bytes.
#[rustfmt::skip]
const SLL2_IPV6_UDP: &[u8] = &[
    // SLL2: protocol IPv6, reserved, interface index 2, ARPHRD_ETHER 1, packet type 4 (outgoing),
    // address length 6, address 66:77:88:99:aa:bb + 2 pad
    0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x04, 0x06, 0x66, 0x77, 0x88, 0x99,
    0xaa, 0xbb, 0x00, 0x00,
    // IPv6: payload length 12 (8 + 4), next header UDP, hop limit 64
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x11, 0x40,
    // 2001:db8::1 → 2001:db8::2
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // UDP: 40000 (0x9c40) → 443 (0x01bb), length 12
    0x9c, 0x40, 0x01, 0xbb, 0x00, 0x0c, 0x00, 0x00,
    // payload
    0xde, 0xad, 0xbe, 0xef,
];

/// Raw IPv4 + ICMP echo request, identifier 1234, 4 data bytes: 20 + 8 + 4 = 32 bytes.
#[rustfmt::skip]
const RAW_IPV4_ICMP_ECHO: &[u8] = &[
    // IPv4: total length 32 (0x20), id 0x0102, TTL 64, ICMP, 10.1.1.1 → 10.2.2.2
    0x45, 0x00, 0x00, 0x20, 0x01, 0x02, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x0a, 0x01, 0x01, 0x01,
    0x0a, 0x02, 0x02, 0x02,
    // ICMP: type 8 (echo request), code 0, checksum, identifier 1234 (0x04d2), sequence 1
    0x08, 0x00, 0x00, 0x00, 0x04, 0xd2, 0x00, 0x01,
    // data "abcd"
    b'a', b'b', b'c', b'd',
];

/// Raw IPv6 + TCP FIN|ACK, no payload: 40 + 20 = 60 bytes.
#[rustfmt::skip]
const RAW_IPV6_TCP: &[u8] = &[
    // IPv6: payload length 20 (0x14), next header TCP, hop limit 64, 2001:db8::1 → 2001:db8::2
    0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // TCP: 443 → 40000, seq 1, ack 2, data offset 5, FIN|ACK (0x11), window 8192 (0x2000)
    0x01, 0xbb, 0x9c, 0x40, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x50, 0x11, 0x20, 0x00,
    0x00, 0x00, 0x00, 0x00,
];

/// Raw IPv6 + ICMPv6 echo request, identifier 0xabcd, data "ping": 40 + 8 + 4 = 52 bytes.
#[rustfmt::skip]
const RAW_IPV6_ICMPV6_ECHO: &[u8] = &[
    // IPv6: payload length 12, next header ICMPv6 (58 = 0x3a), hop limit 64, 2001:db8::1 → 2001:db8::2
    0x60, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x3a, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // ICMPv6: type 128 (echo request), code 0, checksum, identifier 0xabcd, sequence 7
    0x80, 0x00, 0x00, 0x00, 0xab, 0xcd, 0x00, 0x07,
    // data "ping"
    b'p', b'i', b'n', b'g',
];

/// Raw IPv4 with a Router Alert option (IHL 6) + UDP + 8 bytes: 24 + 8 + 8 = 40 bytes.
#[rustfmt::skip]
const RAW_IPV4_OPTIONS_UDP: &[u8] = &[
    // IPv4: IHL 6, total length 40 (0x28), id 7, TTL 1, UDP, 192.168.0.10 → 224.0.0.251
    0x46, 0x00, 0x00, 0x28, 0x00, 0x07, 0x00, 0x00, 0x01, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x0a,
    0xe0, 0x00, 0x00, 0xfb,
    // option: Router Alert (type 148 = 0x94, length 4, value 0)
    0x94, 0x04, 0x00, 0x00,
    // UDP: 5353 → 5353, length 16
    0x14, 0xe9, 0x14, 0xe9, 0x00, 0x10, 0x00, 0x00,
    // payload
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
];

/// Raw IPv6 + hop-by-hop + destination options + TCP + "ssh": 40 + 8 + 8 + 20 + 3 = 79 bytes.
#[rustfmt::skip]
const RAW_IPV6_EXT_TCP: &[u8] = &[
    // IPv6: payload length 39 (0x27 = 8 + 8 + 20 + 3), next header hop-by-hop (0), 2001:db8::1 → 2001:db8::2
    0x60, 0x00, 0x00, 0x00, 0x00, 0x27, 0x00, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // hop-by-hop: next header destination options (60 = 0x3c), length 0 (8 bytes), Router Alert (5, 2, 0),
    // PadN of 0 bytes
    0x3c, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00,
    // destination options: next header TCP, length 0 (8 bytes), PadN of 4 bytes
    0x06, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00,
    // TCP: 40000 → 22, seq 0x01020304, ack 0x05060708, data offset 5, PSH|ACK, window 256
    0x9c, 0x40, 0x00, 0x16, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x50, 0x18, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00,
    // payload "ssh"
    b's', b's', b'h',
];

/// Raw IPv4 first fragment of a 40-byte UDP datagram (8 header + 32 data): UDP header + data 0..16.
#[rustfmt::skip]
const RAW_IPV4_FRAG_FIRST: &[u8] = &[
    // IPv4: total length 44 (0x2c = 20 + 24), id 0xbeef, MF + offset 0 (0x2000), TTL 64, UDP,
    // 10.0.0.1 → 10.0.0.2
    0x45, 0x00, 0x00, 0x2c, 0xbe, 0xef, 0x20, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02,
    // UDP: 1000 (0x03e8) → 2000 (0x07d0), length 40 (the whole datagram)
    0x03, 0xe8, 0x07, 0xd0, 0x00, 0x28, 0x00, 0x00,
    // datagram bytes 8..24
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
];

/// Its middle fragment: datagram bytes 24..32, offset 3 (24 / 8), MF.
#[rustfmt::skip]
const RAW_IPV4_FRAG_MIDDLE: &[u8] = &[
    // IPv4: total length 28 (0x1c = 20 + 8), id 0xbeef, MF + offset 3 (0x2003), TTL 64, UDP
    0x45, 0x00, 0x00, 0x1c, 0xbe, 0xef, 0x20, 0x03, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02,
    // data
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
];

/// Its last fragment: datagram bytes 32..40, offset 4 (32 / 8), MF clear.
#[rustfmt::skip]
const RAW_IPV4_FRAG_LAST: &[u8] = &[
    // IPv4: total length 28, id 0xbeef, offset 4 (0x0004), TTL 64, UDP
    0x45, 0x00, 0x00, 0x1c, 0xbe, 0xef, 0x00, 0x04, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02,
    // data
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

/// Raw IPv6 first fragment of a 24-byte UDP datagram: fragment header + UDP header + data 0..8.
#[rustfmt::skip]
const RAW_IPV6_FRAG_FIRST: &[u8] = &[
    // IPv6: payload length 24 (0x18 = 8 + 8 + 8), next header fragment (44 = 0x2c), 2001:db8::1 → 2001:db8::2
    0x60, 0x00, 0x00, 0x00, 0x00, 0x18, 0x2c, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // fragment: next header UDP, offset 0 + M (0x0001), identification 0x00c0ffee
    0x11, 0x00, 0x00, 0x01, 0x00, 0xc0, 0xff, 0xee,
    // UDP: 5000 (0x1388) → 6000 (0x1770), length 24
    0x13, 0x88, 0x17, 0x70, 0x00, 0x18, 0x00, 0x00,
    // data
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
];

/// Its last fragment: datagram bytes 16..24, offset 2 (16 / 8 → field 0x0010), M clear.
#[rustfmt::skip]
const RAW_IPV6_FRAG_LAST: &[u8] = &[
    // IPv6: payload length 16 (8 + 8), next header fragment
    0x60, 0x00, 0x00, 0x00, 0x00, 0x10, 0x2c, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
    // fragment: next header UDP, offset 2, identification 0x00c0ffee
    0x11, 0x00, 0x00, 0x10, 0x00, 0xc0, 0xff, 0xee,
    // data
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
];

/// Ethernet + IPv4 + UDP without payload (42 bytes) padded with zeros to the 60-byte minimum.
#[rustfmt::skip]
const ETH_IPV4_UDP_PADDED: &[u8] = &[
    // Ethernet: type IPv4
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x00,
    // IPv4: total length 28 (0x1c = 20 + 8), id 2, TTL 64, UDP, 10.0.0.1 → 10.0.0.2
    0x45, 0x00, 0x00, 0x1c, 0x00, 0x02, 0x00, 0x00, 0x40, 0x11, 0x00, 0x00, 0x0a, 0x00, 0x00, 0x01,
    0x0a, 0x00, 0x00, 0x02,
    // UDP: 1234 (0x04d2) → 5678 (0x162e), length 8
    0x04, 0xd2, 0x16, 0x2e, 0x00, 0x08, 0x00, 0x00,
    // padding: 60 - 42 = 18 bytes
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00,
];

/// Ethernet + ARP request (who has 192.168.1.1, tell 192.168.1.2): 14 + 28 = 42 bytes.
#[rustfmt::skip]
const ETH_ARP: &[u8] = &[
    // Ethernet: dst broadcast, type ARP (0x0806)
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x08, 0x06,
    // ARP: Ethernet (1), IPv4, hlen 6, plen 4, request (1)
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,
    // sender 66:77:88:99:aa:bb 192.168.1.2, target 00:00:00:00:00:00 192.168.1.1
    0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xc0, 0xa8, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xc0, 0xa8, 0x01, 0x01,
];

/// `data` with the bytes at `at` replaced.
fn patched(data: &[u8], at: usize, bytes: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    out[at..at + bytes.len()].copy_from_slice(bytes);
    out
}

/// `prefix` followed by `data`.
fn prefixed(prefix: &[u8], data: &[u8]) -> Vec<u8> {
    [prefix, data].concat()
}

fn udp_ports(meta: &PacketMeta<'_>) -> (u16, u16) {
    match meta.transport {
        Transport::Udp { src_port, dst_port } => (src_port, dst_port),
        other => panic!("expected UDP, got {other:?}"),
    }
}

#[test]
fn ethernet_ipv4_tcp_syn_with_options() {
    let meta = decode(LinkType::Ethernet, ETH_IPV4_TCP_SYN).unwrap();
    let expected = PacketMeta {
        ts_ns: TS,
        wire_len: 74,
        vlan: 0,
        src: v4(192, 168, 1, 2),
        dst: v4(192, 168, 1, 1),
        proto: 6,
        ip_len: 60,
        header_len: 60, // 20 IPv4 + 40 TCP (data offset 10)
        payload_len: 0,
        payload: &[],
        transport: Transport::Tcp {
            src_port: 50000,
            dst_port: 80,
            tcp: TcpInfo { flags: 0x02, window: 64240, seq: 0x1234_5678, ack: 0 },
        },
        fragment: Fragment::None, // DF alone does not fragment
        delivery: Delivery::Unicast,
    };
    assert_eq!(meta, expected);
}

#[test]
fn ethernet_ipv4_tcp_with_payload() {
    let meta = decode(LinkType::Ethernet, ETH_IPV4_TCP_DATA).unwrap();
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (52, 40, 12));
    assert_eq!(meta.payload, b"hello, world");
    let Transport::Tcp { tcp, .. } = meta.transport else { panic!("{:?}", meta.transport) };
    assert_eq!(tcp, TcpInfo { flags: 0x18, window: 502, seq: 0x1234_5679, ack: 0xabcd });
}

#[test]
fn single_vlan_tag() {
    let meta = decode(LinkType::Ethernet, ETH_VLAN_IPV4_UDP).unwrap();
    assert_eq!(meta.vlan, 100); // PCP bits are not part of the id
    assert_eq!((meta.src, meta.dst, meta.proto), (v4(10, 0, 0, 1), v4(10, 0, 0, 2), 17));
    assert_eq!(udp_ports(&meta), (5353, 53));
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (33, 28, 5));
    assert_eq!(meta.payload, b"query");
}

#[test]
fn qinq_keeps_outer_and_inner_id() {
    let meta = decode(LinkType::Ethernet, ETH_QINQ_IPV4_UDP).unwrap();
    assert_eq!(meta.vlan, 10 << 12 | 20); // 40980
    assert_eq!(meta.vlan, 40980);
    assert_eq!(meta.payload, b"query");
    // The old 0x9100 outer tag type is QinQ too.
    let old = patched(ETH_QINQ_IPV4_UDP, 12, &[0x91, 0x00]);
    assert_eq!(decode(LinkType::Ethernet, &old).unwrap().vlan, 40980);
}

#[test]
fn vlan_stacks_beyond_two_keep_the_outer_two_and_are_bounded() {
    // Three tags (10, 20, 30): the two outer ids are kept.
    let three = [&ETH_QINQ_IPV4_UDP[..18], &[0x00, 0x14, 0x81, 0x00, 0x00, 0x1e, 0x08, 0x00], &ETH_QINQ_IPV4_UDP[22..]]
        .concat();
    assert_eq!(decode(LinkType::Ethernet, &three).unwrap().vlan, 10 << 12 | 20);
    // Five tags exceed MAX_VLAN_TAGS.
    let tag = [0x00, 0x01, 0x81, 0x00];
    let five = [&ETH_VLAN_IPV4_UDP[..14], &tag, &tag, &tag, &tag, &ETH_VLAN_IPV4_UDP[14..]].concat();
    assert_eq!(decode(LinkType::Ethernet, &five).unwrap_err(), DropReason::NonIp);
}

#[test]
fn linux_cooked_v1() {
    let meta = decode(LinkType::LinuxSll, SLL_IPV4_UDP).unwrap();
    assert_eq!((meta.vlan, meta.src, meta.proto), (0, v4(10, 0, 0, 1), 17));
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len, meta.wire_len), (33, 28, 5, 49));
    assert_eq!(meta.payload, b"query");
    // libpcap puts a VLAN tag back after the cooked header: protocol 0x8100, then the tag.
    let tagged = [&SLL_IPV4_UDP[..14], &[0x81, 0x00, 0x00, 0x07, 0x08, 0x00], &SLL_IPV4_UDP[16..]].concat();
    assert_eq!(decode(LinkType::LinuxSll, &tagged).unwrap().vlan, 7);
}

#[test]
fn linux_cooked_v2() {
    let meta = decode(LinkType::LinuxSll2, SLL2_IPV6_UDP).unwrap();
    assert_eq!((meta.src, meta.dst, meta.proto), (doc_v6(1), doc_v6(2), 17));
    assert_eq!(udp_ports(&meta), (40000, 443));
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (52, 48, 4));
    assert_eq!(meta.payload, &[0xde, 0xad, 0xbe, 0xef]);
}

#[test]
fn raw_ipv4_icmp_echo_request_and_reply() {
    let meta = decode(LinkType::RawIp, RAW_IPV4_ICMP_ECHO).unwrap();
    assert_eq!((meta.src, meta.dst, meta.proto, meta.vlan), (v4(10, 1, 1, 1), v4(10, 2, 2, 2), 1, 0));
    assert_eq!(meta.transport, Transport::Icmp { icmp_type: 8, code: 0, ident: 1234, v6: false });
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (32, 28, 4));
    assert_eq!(meta.payload, b"abcd");

    let reply = patched(RAW_IPV4_ICMP_ECHO, 20, &[0]);
    let meta = decode(LinkType::RawIp, &reply).unwrap();
    assert_eq!(meta.transport, Transport::Icmp { icmp_type: 0, code: 0, ident: 1234, v6: false });

    // Timestamp request (13) carries an identifier too; port unreachable (3/3) does not.
    let timestamp = patched(RAW_IPV4_ICMP_ECHO, 20, &[13]);
    assert_eq!(
        decode(LinkType::RawIp, &timestamp).unwrap().transport,
        Transport::Icmp { icmp_type: 13, code: 0, ident: 1234, v6: false }
    );
    let unreachable = patched(RAW_IPV4_ICMP_ECHO, 20, &[3, 3]);
    assert_eq!(
        decode(LinkType::RawIp, &unreachable).unwrap().transport,
        Transport::Icmp { icmp_type: 3, code: 3, ident: 0, v6: false }
    );
}

#[test]
fn raw_ipv6_tcp() {
    let meta = decode(LinkType::RawIp, RAW_IPV6_TCP).unwrap();
    assert_eq!((meta.src, meta.dst, meta.proto), (doc_v6(1), doc_v6(2), 6));
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (60, 60, 0));
    assert_eq!(
        meta.transport,
        Transport::Tcp { src_port: 443, dst_port: 40000, tcp: TcpInfo { flags: 0x11, window: 8192, seq: 1, ack: 2 } }
    );
}

#[test]
fn icmpv6_echo_request_and_reply() {
    let meta = decode(LinkType::RawIp, RAW_IPV6_ICMPV6_ECHO).unwrap();
    assert_eq!(meta.proto, 58);
    assert_eq!(meta.transport, Transport::Icmp { icmp_type: 128, code: 0, ident: 0xabcd, v6: true });
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (52, 48, 4));
    let reply = patched(RAW_IPV6_ICMPV6_ECHO, 40, &[129]);
    assert_eq!(
        decode(LinkType::RawIp, &reply).unwrap().transport,
        Transport::Icmp { icmp_type: 129, code: 0, ident: 0xabcd, v6: true }
    );
    // Neighbour solicitation (135): no identifier.
    let ns = patched(RAW_IPV6_ICMPV6_ECHO, 40, &[135]);
    assert_eq!(
        decode(LinkType::RawIp, &ns).unwrap().transport,
        Transport::Icmp { icmp_type: 135, code: 0, ident: 0, v6: true }
    );
}

#[test]
fn null_loopback_in_both_byte_orders() {
    // Little-endian AF_INET (a capture written on x86).
    let le = prefixed(&[0x02, 0x00, 0x00, 0x00], RAW_IPV4_ICMP_ECHO);
    let meta = decode(LinkType::Null, &le).unwrap();
    assert_eq!((meta.src, meta.ip_len, meta.header_len, meta.wire_len), (v4(10, 1, 1, 1), 32, 28, 36));
    // Big-endian AF_INET6 as macOS (30).
    let be = prefixed(&[0x00, 0x00, 0x00, 0x1e], RAW_IPV6_TCP);
    assert_eq!(decode(LinkType::Null, &be).unwrap().src, doc_v6(1));
    // AF_INET6 of FreeBSD (28) and NetBSD (24), little-endian.
    for family in [28u8, 24] {
        let frame = prefixed(&[family, 0, 0, 0], RAW_IPV6_TCP);
        assert_eq!(decode(LinkType::Null, &frame).unwrap().proto, 6);
    }
    // AF_UNSPEC-ish family 7: not IP.
    let other = prefixed(&[0x07, 0x00, 0x00, 0x00], RAW_IPV4_ICMP_ECHO);
    assert_eq!(decode(LinkType::Null, &other).unwrap_err(), DropReason::NonIp);
}

#[test]
fn ipv4_options_and_udp() {
    let meta = decode(LinkType::RawIp, RAW_IPV4_OPTIONS_UDP).unwrap();
    assert_eq!((meta.src, meta.dst), (v4(192, 168, 0, 10), v4(224, 0, 0, 251)));
    assert_eq!(udp_ports(&meta), (5353, 5353));
    // 24 bytes of IPv4 header (IHL 6) + 8 UDP.
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (40, 32, 8));
    assert_eq!(meta.payload, &[1, 2, 3, 4, 5, 6, 7, 8]);
}

#[test]
fn ipv6_hop_by_hop_and_destination_options_then_tcp() {
    let meta = decode(LinkType::RawIp, RAW_IPV6_EXT_TCP).unwrap();
    assert_eq!(meta.proto, 6); // the final next header, not hop-by-hop (0)
    // 40 IPv6 + 8 hop-by-hop + 8 destination options + 20 TCP.
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (79, 76, 3));
    assert_eq!(meta.payload, b"ssh");
    assert_eq!(
        meta.transport,
        Transport::Tcp {
            src_port: 40000,
            dst_port: 22,
            tcp: TcpInfo { flags: 0x18, window: 256, seq: 0x0102_0304, ack: 0x0506_0708 }
        }
    );
}

#[test]
fn ipv4_authentication_header_is_skipped() {
    // The UDP packet of RAW_IPV4_OPTIONS_UDP without options, behind a 12-byte AH (length field 1).
    let ah = [0x11, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05];
    let header = [
        0x45, 0x00, 0x00, 0x30, 0x00, 0x07, 0x00, 0x00, 0x01, 0x33, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x0a, 0xe0, 0x00,
        0x00, 0xfb,
    ]; // total length 48 = 20 + 12 + 8 + 8, protocol AH (51 = 0x33)
    let packet = [&header[..], &ah, &RAW_IPV4_OPTIONS_UDP[24..]].concat();
    let meta = decode(LinkType::RawIp, &packet).unwrap();
    assert_eq!((meta.proto, meta.ip_len, meta.header_len, meta.payload_len), (17, 48, 40, 8));
    assert_eq!(udp_ports(&meta), (5353, 5353));
}

#[test]
fn ipv4_fragments_first_later_last() {
    let mut decoder = Decoder::new(16);
    let first = decoder.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_FIRST)).unwrap();
    assert_eq!(first.fragment, Fragment::First);
    assert_eq!(udp_ports(&first), (1000, 2000));
    assert_eq!((first.ip_len, first.header_len, first.payload_len), (44, 28, 16));

    let middle = decoder.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_MIDDLE)).unwrap();
    assert_eq!(middle.fragment, Fragment::Later);
    assert_eq!((middle.proto, udp_ports(&middle)), (17, (1000, 2000)));
    // Only the IP header: all 8 bytes after it are fragment data.
    assert_eq!((middle.ip_len, middle.header_len, middle.payload_len), (28, 20, 8));
    assert_eq!(middle.payload, &RAW_IPV4_FRAG_MIDDLE[20..]);

    let last = decoder.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_LAST)).unwrap();
    assert_eq!((last.fragment, udp_ports(&last)), (Fragment::Later, (1000, 2000)));
    // The last fragment forgot the entry: a duplicate of it is now unknown.
    assert_eq!(
        decoder.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_LAST)).unwrap_err(),
        DropReason::FragmentWithoutFirst
    );
    assert_eq!(decoder.drops().get(DropReason::FragmentWithoutFirst), 1);
    assert_eq!(decoder.fragments.len(), 0);
}

#[test]
fn ipv4_later_fragment_without_first_is_dropped() {
    let mut decoder = Decoder::new(16);
    assert_eq!(
        decoder.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_MIDDLE)).unwrap_err(),
        DropReason::FragmentWithoutFirst
    );
    // A first fragment of another datagram (id 0xbeee) does not help.
    decoder.decode(&raw(LinkType::RawIp, &patched(RAW_IPV4_FRAG_FIRST, 4, &[0xbe, 0xee]))).unwrap();
    assert_eq!(
        decoder.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_MIDDLE)).unwrap_err(),
        DropReason::FragmentWithoutFirst
    );
    assert_eq!(decoder.drops().get(DropReason::FragmentWithoutFirst), 2);
    assert_eq!(decoder.drops().total(), 2);
}

#[test]
fn ipv6_fragments_first_and_last() {
    let mut decoder = Decoder::new(16);
    let first = decoder.decode(&raw(LinkType::RawIp, RAW_IPV6_FRAG_FIRST)).unwrap();
    assert_eq!((first.fragment, first.proto, udp_ports(&first)), (Fragment::First, 17, (5000, 6000)));
    // 40 IPv6 + 8 fragment header + 8 UDP.
    assert_eq!((first.ip_len, first.header_len, first.payload_len), (64, 56, 8));

    let last = decoder.decode(&raw(LinkType::RawIp, RAW_IPV6_FRAG_LAST)).unwrap();
    assert_eq!((last.fragment, last.proto, udp_ports(&last)), (Fragment::Later, 17, (5000, 6000)));
    assert_eq!((last.ip_len, last.header_len, last.payload_len), (56, 48, 8));
    assert_eq!(last.payload, &RAW_IPV6_FRAG_LAST[48..]);
    assert_eq!(
        decoder.decode(&raw(LinkType::RawIp, RAW_IPV6_FRAG_LAST)).unwrap_err(),
        DropReason::FragmentWithoutFirst
    );
}

#[test]
fn ipv6_atomic_fragment_is_a_whole_packet() {
    // RAW_IPV6_FRAG_FIRST with M cleared: offset 0, no more fragments.
    let atomic = patched(RAW_IPV6_FRAG_FIRST, 43, &[0x00]);
    let meta = decode(LinkType::RawIp, &atomic).unwrap();
    assert_eq!((meta.fragment, meta.header_len), (Fragment::None, 56));
}

#[test]
fn fragment_table_evicts_in_ring_order() {
    let mut decoder = Decoder::new(2);
    let first_with_id = |id: u8| patched(RAW_IPV4_FRAG_FIRST, 5, &[id]);
    let middle_with_id = |id: u8| patched(RAW_IPV4_FRAG_MIDDLE, 5, &[id]);
    for id in [1, 2, 3] {
        decoder.decode(&raw(LinkType::RawIp, &first_with_id(id))).unwrap();
    }
    // Id 1 took slot 0, id 2 slot 1, id 3 evicted id 1 from slot 0.
    assert_eq!(decoder.fragments.len(), 2);
    assert_eq!(
        decoder.decode(&raw(LinkType::RawIp, &middle_with_id(1))).unwrap_err(),
        DropReason::FragmentWithoutFirst
    );
    for id in [2, 3] {
        assert_eq!(decoder.decode(&raw(LinkType::RawIp, &middle_with_id(id))).unwrap().fragment, Fragment::Later);
    }
    // With no room at all, nothing is remembered.
    let mut none = Decoder::new(0);
    assert_eq!(none.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_FIRST)).unwrap().fragment, Fragment::First);
    assert_eq!(none.decode(&raw(LinkType::RawIp, RAW_IPV4_FRAG_MIDDLE)).unwrap_err(), DropReason::FragmentWithoutFirst);
}

#[test]
fn snap_length_inside_the_payload_still_decodes() {
    // 14 Ethernet + 20 IPv4 + 20 TCP + the first 4 payload bytes.
    let pkt = snapped(LinkType::Ethernet, ETH_IPV4_TCP_DATA, 58);
    let meta = Decoder::new(0).decode(&pkt).unwrap();
    assert_eq!(meta.wire_len, 66);
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (52, 40, 12)); // from the headers
    assert_eq!(meta.payload, b"hell");
}

#[test]
fn snap_length_inside_headers_is_dropped() {
    let mut decoder = Decoder::new(0);
    // Inside the TCP options of the SYN: data offset says 40 bytes, 30 were captured.
    let cut_options = snapped(LinkType::Ethernet, ETH_IPV4_TCP_SYN, 14 + 20 + 30);
    assert_eq!(decoder.decode(&cut_options).unwrap_err(), DropReason::TruncatedTransport);
    // Inside the fixed TCP header.
    let cut_tcp = snapped(LinkType::Ethernet, ETH_IPV4_TCP_DATA, 14 + 20 + 10);
    assert_eq!(decoder.decode(&cut_tcp).unwrap_err(), DropReason::TruncatedTransport);
    // Inside the IPv4 header.
    let cut_ip = snapped(LinkType::Ethernet, ETH_IPV4_TCP_DATA, 14 + 10);
    assert_eq!(decoder.decode(&cut_ip).unwrap_err(), DropReason::TruncatedIp);
    // Inside the IPv4 options.
    let cut_options = snapped(LinkType::RawIp, RAW_IPV4_OPTIONS_UDP, 22);
    assert_eq!(decoder.decode(&cut_options).unwrap_err(), DropReason::TruncatedIp);
    // Inside the IPv6 destination options header.
    let cut_ext = snapped(LinkType::RawIp, RAW_IPV6_EXT_TCP, 40 + 8 + 4);
    assert_eq!(decoder.decode(&cut_ext).unwrap_err(), DropReason::TruncatedIp);
    // Inside the Ethernet header.
    let cut_link = snapped(LinkType::Ethernet, ETH_IPV4_TCP_DATA, 10);
    assert_eq!(decoder.decode(&cut_link).unwrap_err(), DropReason::TruncatedLink);
    assert_eq!(decoder.drops().get(DropReason::TruncatedTransport), 2);
    assert_eq!(decoder.drops().get(DropReason::TruncatedIp), 3);
    assert_eq!(decoder.drops().total(), 6);
}

#[test]
fn ethernet_padding_is_ignored() {
    let meta = decode(LinkType::Ethernet, ETH_IPV4_UDP_PADDED).unwrap();
    assert_eq!(meta.wire_len, 60);
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (28, 28, 0));
    assert!(meta.payload.is_empty());
    assert_eq!(udp_ports(&meta), (1234, 5678));
}

#[test]
fn zero_ip_length_from_segmentation_offload_uses_the_wire_length() {
    // IPv4 total length 0: 66 on the wire - 14 Ethernet = 52.
    let tso = patched(ETH_IPV4_TCP_DATA, 16, &[0, 0]);
    let meta = decode(LinkType::Ethernet, &tso).unwrap();
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (52, 40, 12));
    // Also when the capture was cut: a 64000-byte segment of which 58 bytes were captured.
    let big = RawPacket { ts_ns: TS, orig_len: 64_014, link: LinkType::Ethernet, data: &tso[..58] };
    let meta = Decoder::new(0).decode(&big).unwrap();
    assert_eq!((meta.ip_len, meta.payload_len, meta.payload), (64_000, 63_960, &b"hell"[..]));
    // IPv6 payload length 0, raw IP: the whole 60 bytes.
    let jumbo = patched(RAW_IPV6_TCP, 4, &[0, 0]);
    let meta = decode(LinkType::RawIp, &jumbo).unwrap();
    assert_eq!((meta.ip_len, meta.header_len, meta.payload_len), (60, 60, 0));
}

#[test]
fn arp_is_not_ip() {
    assert_eq!(decode(LinkType::Ethernet, ETH_ARP).unwrap_err(), DropReason::NonIp);
    // LLDP (0x88cc) and an 802.3 length field (0x0026) neither.
    for ether_type in [[0x88, 0xcc], [0x00, 0x26]] {
        let frame = patched(ETH_ARP, 12, &ether_type);
        assert_eq!(decode(LinkType::Ethernet, &frame).unwrap_err(), DropReason::NonIp);
    }
}

#[test]
fn malformed_ip_headers() {
    let cases: [(&str, LinkType, Vec<u8>); 8] = [
        ("IHL 4", LinkType::RawIp, patched(RAW_IPV4_ICMP_ECHO, 0, &[0x44])),
        ("total length 16 < 20", LinkType::RawIp, patched(RAW_IPV4_ICMP_ECHO, 2, &[0x00, 0x10])),
        ("total length 20 < IHL 6 x 4", LinkType::RawIp, patched(RAW_IPV4_OPTIONS_UDP, 2, &[0x00, 0x14])),
        ("raw IP version 5", LinkType::RawIp, patched(RAW_IPV4_ICMP_ECHO, 0, &[0x55])),
        ("IPv6 behind ether type IPv4", LinkType::Ethernet, patched(ETH_IPV4_TCP_DATA, 14, &[0x60])),
        // Destination options length 4 (40 bytes): 8 + 40 runs past the 39-byte payload.
        ("extension past payload length", LinkType::RawIp, patched(RAW_IPV6_EXT_TCP, 49, &[0x04])),
        ("AH with length 0", LinkType::RawIp, {
            let mut p = patched(RAW_IPV6_EXT_TCP, 40, &[0x33]); // hop-by-hop → AH
            p[48..50].copy_from_slice(&[0x06, 0x00]); // AH: next TCP, length field 0
            p
        }),
        ("two fragment headers", LinkType::RawIp, {
            // fragment header → fragment header (next 0x2c) → UDP
            let mut p = patched(RAW_IPV6_FRAG_FIRST, 40, &[0x2c]);
            p.splice(48..48, [0x11, 0x00, 0x00, 0x01, 0x00, 0xc0, 0xff, 0xee]);
            p[5] += 8;
            p
        }),
    ];
    for (what, link, frame) in cases {
        assert_eq!(decode(link, &frame).unwrap_err(), DropReason::MalformedIp, "{what}");
    }
}

#[test]
fn too_many_ipv6_extension_headers() {
    // 16 empty destination options headers then TCP decode; 17 do not.
    let build = |n: usize| {
        let mut p = patched(RAW_IPV6_TCP, 6, &[IPPROTO_DSTOPTS]);
        let payload_len = 20 + 8 * n;
        p[4..6].copy_from_slice(&u16::try_from(payload_len).unwrap().to_be_bytes());
        let headers = (0..n).flat_map(|i| {
            let next = if i + 1 == n { IPPROTO_TCP } else { IPPROTO_DSTOPTS };
            [next, 0, 1, 4, 0, 0, 0, 0] // length 0 (8 bytes), PadN of 4
        });
        p.splice(40..40, headers);
        p
    };
    let most = build(MAX_IPV6_EXTENSIONS);
    let meta = decode(LinkType::RawIp, &most).unwrap();
    assert_eq!((meta.proto, meta.header_len), (6, 40 + 8 * 16 + 20));
    assert_eq!(decode(LinkType::RawIp, &build(MAX_IPV6_EXTENSIONS + 1)).unwrap_err(), DropReason::MalformedIp);
}

#[test]
fn malformed_transport_headers() {
    let cases: [(&str, Vec<u8>); 4] = [
        // Data offset 4 (0x40).
        ("TCP data offset 4", patched(ETH_IPV4_TCP_DATA, 14 + 20 + 12, &[0x40])),
        // UDP length 7.
        ("UDP length 7", patched(ETH_VLAN_IPV4_UDP, 18 + 20 + 4, &[0x00, 0x07])),
        // Data offset 15 (60 bytes) but only 32 bytes after the IPv4 header.
        ("TCP header past IP length", patched(ETH_IPV4_TCP_DATA, 14 + 20 + 12, &[0xf0])),
        // A first fragment whose total length (20 + 4) cuts the UDP header: tiny fragment.
        ("tiny first fragment", {
            let mut p = prefixed(&ETH_IPV4_TCP_DATA[..14], RAW_IPV4_FRAG_FIRST);
            p[14 + 3] = 24;
            p
        }),
    ];
    for (what, frame) in cases {
        assert_eq!(decode(LinkType::Ethernet, &frame).unwrap_err(), DropReason::MalformedTransport, "{what}");
    }
}

#[test]
fn other_ip_protocols_are_not_dropped() {
    // GRE (47) over IPv4: no transport header.
    let gre = patched(RAW_IPV4_ICMP_ECHO, 9, &[47]);
    let meta = decode(LinkType::RawIp, &gre).unwrap();
    assert_eq!((meta.proto, meta.transport), (47, Transport::Other));
    assert_eq!((meta.header_len, meta.payload_len, meta.payload.len()), (20, 12, 12));
    // ICMPv6's number inside IPv4 is not ICMP.
    let icmp6_in_v4 = patched(RAW_IPV4_ICMP_ECHO, 9, &[58]);
    assert_eq!(decode(LinkType::RawIp, &icmp6_in_v4).unwrap().transport, Transport::Other);
}

#[test]
fn every_drop_reason_is_reachable_and_counted() {
    let frames: [(DropReason, LinkType, Vec<u8>); 8] = [
        (DropReason::UnsupportedLinkType, LinkType::Other(147), ETH_IPV4_TCP_DATA.to_vec()),
        (DropReason::TruncatedLink, LinkType::LinuxSll2, SLL2_IPV6_UDP[..19].to_vec()),
        (DropReason::NonIp, LinkType::Ethernet, ETH_ARP.to_vec()),
        (DropReason::TruncatedIp, LinkType::LinuxSll, SLL_IPV4_UDP[..16 + 19].to_vec()),
        (DropReason::MalformedIp, LinkType::RawIp, patched(RAW_IPV4_ICMP_ECHO, 0, &[0x43])),
        (DropReason::TruncatedTransport, LinkType::RawIp, RAW_IPV6_ICMPV6_ECHO[..47].to_vec()),
        (DropReason::MalformedTransport, LinkType::RawIp, patched(RAW_IPV6_TCP, 52, &[0x30])),
        (DropReason::FragmentWithoutFirst, LinkType::RawIp, RAW_IPV6_FRAG_LAST.to_vec()),
    ];
    let mut decoder = Decoder::new(16);
    for (reason, link, frame) in &frames {
        assert_eq!(decoder.decode(&raw(*link, frame)).unwrap_err(), *reason, "{}", reason.name());
    }
    decoder.decode(&raw(LinkType::Ethernet, ETH_ARP)).unwrap_err();
    decoder.decode(&raw(LinkType::Ethernet, ETH_IPV4_TCP_SYN)).unwrap();
    let drops = decoder.drops();
    for (reason, count) in drops.iter() {
        let expected = if reason == DropReason::NonIp { 2 } else { 1 };
        assert_eq!(count, expected, "{}", reason.name());
    }
    assert_eq!(drops.total(), 9);
    assert_eq!(drops.iter().map(|(r, _)| r).collect::<Vec<_>>(), DropReason::ALL);

    let mut merged = drops.clone();
    merged.add(drops);
    assert_eq!((merged.get(DropReason::NonIp), merged.total()), (4, 18));
}

#[test]
fn drop_reason_discriminants_index_all() {
    for (i, reason) in DropReason::ALL.into_iter().enumerate() {
        assert_eq!(reason as usize, i);
    }
    let names: std::collections::HashSet<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
    assert_eq!(names.len(), DropReason::ALL.len());
}

#[test]
fn linux_cooked_v1_of_any_device_and_packet_type() {
    // `-i any` sees loopback (ARPHRD_LOOPBACK 772), tun (ARPHRD_NONE 0xfffe) and PPP (512) devices, and a
    // packet type may be one Linux adds later: only the protocol at offset 14 decides.
    let kinds: [([u8; 2], [u8; 2]); 4] =
        [([0, 0], [0x03, 0x04]), ([0, 4], [0xff, 0xfe]), ([0, 0], [0x02, 0x00]), ([0, 8], [0x00, 0x01])];
    for (packet_type, arphrd) in kinds {
        let frame = patched(&patched(SLL_IPV4_UDP, 0, &packet_type), 2, &arphrd);
        let meta = decode(LinkType::LinuxSll, &frame).unwrap();
        assert_eq!((meta.src, udp_ports(&meta), meta.payload), (v4(10, 0, 0, 1), (5353, 53), &b"query"[..]));
    }
}

#[test]
fn wrong_ip_version_or_ihl_is_malformed_before_the_header_is_captured() {
    let ipv4_behind_ipv6 = prefixed(&patched(&ETH_IPV4_TCP_DATA[..14], 12, &[0x86, 0xdd]), RAW_IPV4_ICMP_ECHO);
    let cases = [
        ("IPv6 behind ether type IPv4", patched(ETH_IPV4_TCP_DATA, 14, &[0x60])),
        ("IHL 4", patched(ETH_IPV4_TCP_DATA, 14, &[0x44])),
        ("IPv4 behind ether type IPv6", ipv4_behind_ipv6),
    ];
    for (what, frame) in cases {
        // Only the first 10 bytes of the IP header were captured.
        let pkt = snapped(LinkType::Ethernet, &frame, 14 + 10);
        assert_eq!(Decoder::new(0).decode(&pkt).unwrap_err(), DropReason::MalformedIp, "{what}");
    }
}

#[test]
fn cut_ipv4_options_are_checked_against_the_total_length_first() {
    // IHL 6 but total length 20, captured up to the middle of the option: the header cannot fit its packet.
    let short = patched(RAW_IPV4_OPTIONS_UDP, 2, &[0x00, 0x14]);
    assert_eq!(Decoder::new(0).decode(&snapped(LinkType::RawIp, &short, 22)).unwrap_err(), DropReason::MalformedIp);
    // Total length 0: the 40 bytes on the wire hold the header, so only the capture cut it...
    let tso = patched(RAW_IPV4_OPTIONS_UDP, 2, &[0x00, 0x00]);
    assert_eq!(Decoder::new(0).decode(&snapped(LinkType::RawIp, &tso, 22)).unwrap_err(), DropReason::TruncatedIp);
    // ...unless the wire length is shorter than the header too.
    let tiny = RawPacket { ts_ns: TS, orig_len: 22, link: LinkType::RawIp, data: &tso[..22] };
    assert_eq!(Decoder::new(0).decode(&tiny).unwrap_err(), DropReason::MalformedIp);
}

#[test]
fn cut_extension_headers_are_judged_by_their_length_field() {
    // Destination options claiming 40 bytes where the payload length leaves 31, cut after 4 of its bytes:
    // past the claimed length, so malformed although the capture also cut it.
    let long = patched(RAW_IPV6_EXT_TCP, 49, &[0x04]);
    assert_eq!(
        Decoder::new(0).decode(&snapped(LinkType::RawIp, &long, 40 + 8 + 4)).unwrap_err(),
        DropReason::MalformedIp
    );
    // An AH with length field 0, cut after 4 of its bytes: malformed, whatever follows.
    let mut ah0 = patched(RAW_IPV6_EXT_TCP, 40, &[0x33]);
    ah0[48..50].copy_from_slice(&[0x06, 0x00]);
    assert_eq!(Decoder::new(0).decode(&snapped(LinkType::RawIp, &ah0, 48 + 4)).unwrap_err(), DropReason::MalformedIp);
}

#[test]
fn all_eight_tcp_flag_bits_are_kept() {
    for flags in [0x01, 0x04, 0x20, 0x40, 0x80, 0xc2, 0xff] {
        let frame = patched(ETH_IPV4_TCP_DATA, 14 + 20 + 13, &[flags]);
        let Transport::Tcp { tcp, .. } = decode(LinkType::Ethernet, &frame).unwrap().transport else { panic!() };
        assert_eq!(tcp.flags, flags);
    }
    // The NS bit (RFC 3540, historic) shares the data offset byte: not a flag here, not a length either.
    let ns = patched(ETH_IPV4_TCP_DATA, 14 + 20 + 12, &[0x51]);
    let meta = decode(LinkType::Ethernet, &ns).unwrap();
    let Transport::Tcp { tcp, .. } = meta.transport else { panic!("{:?}", meta.transport) };
    assert_eq!((tcp.flags, meta.header_len), (0x18, 40));
}

#[test]
fn icmpv6_echo_identifier_does_not_depend_on_the_code() {
    let odd = patched(RAW_IPV6_ICMPV6_ECHO, 41, &[1]);
    assert_eq!(
        decode(LinkType::RawIp, &odd).unwrap().transport,
        Transport::Icmp { icmp_type: 128, code: 1, ident: 0xabcd, v6: true }
    );
}

#[path = "decode_proptests.rs"]
mod proptests;

#[test]
fn delivery_from_the_ip_destination_or_else_the_link() {
    let delivery = |link, frame: &[u8]| decode(link, frame).unwrap().delivery;
    // ETH_VLAN_IPV4_UDP's IPv4 destination is at 18 + 16 = 34, its Ethernet destination at 0.
    let to_ip = |ip: [u8; 4]| patched(ETH_VLAN_IPV4_UDP, 34, &ip);
    let to_mac = |mac: [u8; 6]| patched(ETH_VLAN_IPV4_UDP, 0, &mac);
    assert_eq!(delivery(LinkType::Ethernet, ETH_VLAN_IPV4_UDP), Delivery::Unicast);
    assert_eq!(delivery(LinkType::Ethernet, &to_ip([255, 255, 255, 255])), Delivery::Broadcast);
    assert_eq!(delivery(LinkType::Ethernet, &to_ip([224, 0, 0, 251])), Delivery::Multicast);
    assert_eq!(delivery(LinkType::Ethernet, &to_ip([239, 255, 255, 250])), Delivery::Multicast);
    // A directed broadcast (10.0.0.255) is known from the link only.
    let directed = patched(&to_ip([10, 0, 0, 255]), 0, &[0xff; 6]);
    assert_eq!(delivery(LinkType::Ethernet, &directed), Delivery::Broadcast);
    assert_eq!(delivery(LinkType::Ethernet, &to_mac([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb])), Delivery::Multicast);
    assert_eq!(delivery(LinkType::Ethernet, &to_mac([0x33, 0x33, 0x00, 0x00, 0x00, 0x01])), Delivery::Multicast);
    // The group bit is the low bit of the first octet, not any odd octet.
    assert_eq!(delivery(LinkType::Ethernet, &to_mac([0x02, 0x01, 0x01, 0x01, 0x01, 0x01])), Delivery::Unicast);
    // The raw IP packet inside the same frame: no link to say it was a directed broadcast.
    assert_eq!(delivery(LinkType::RawIp, &directed[18..]), Delivery::Unicast);
    assert_eq!(delivery(LinkType::RawIp, &to_ip([255, 255, 255, 255])[18..]), Delivery::Broadcast);

    // Linux cooked v1: the packet type at 0..2; v2: one byte at 10.
    assert_eq!(delivery(LinkType::LinuxSll, SLL_IPV4_UDP), Delivery::Unicast);
    assert_eq!(delivery(LinkType::LinuxSll, &patched(SLL_IPV4_UDP, 0, &[0, 1])), Delivery::Broadcast);
    assert_eq!(delivery(LinkType::LinuxSll, &patched(SLL_IPV4_UDP, 0, &[0, 2])), Delivery::Multicast);
    assert_eq!(delivery(LinkType::LinuxSll, &patched(SLL_IPV4_UDP, 0, &[0, 4])), Delivery::Unicast);
    assert_eq!(delivery(LinkType::LinuxSll2, SLL2_IPV6_UDP), Delivery::Unicast);
    assert_eq!(delivery(LinkType::LinuxSll2, &patched(SLL2_IPV6_UDP, 10, &[1])), Delivery::Broadcast);
    // IPv6 ff02::fb (mDNS) at 20 + 24.
    let mut ff02 = [0u8; 16];
    ff02[..2].copy_from_slice(&[0xff, 0x02]);
    ff02[15] = 0xfb;
    assert_eq!(delivery(LinkType::LinuxSll2, &patched(SLL2_IPV6_UDP, 44, &ff02)), Delivery::Multicast);
}
