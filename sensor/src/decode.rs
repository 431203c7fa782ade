//! Untrusted frame bytes → checked packet metadata. The only place that parses frames.
//!
//! [`Decoder::decode`] turns one [`RawPacket`] into a [`PacketMeta`] or a [`DropReason`], and counts every
//! drop under exactly one reason in its [`DropCounts`]. No input makes it panic, and the per-packet path
//! does not allocate: it reads the frame in place and returns views into it. One decoder per capture
//! thread; merge their counters with [`DropCounts::add`].
//!
//! # What is decoded
//!
//! - **Link**: Ethernet II; Linux cooked capture v1 (16-byte header, protocol at offset 14) and v2 (20-byte
//!   header, protocol at offset 0); raw IP (the version nibble picks IPv4 or IPv6); BSD Null/Loop (a 4-byte
//!   address family in either byte order: 2 is IPv4, 24/28/30 are IPv6).
//! - **VLAN**: tags 0x8100, 0x88a8 and 0x9100, after Ethernet or a cooked header. `vlan` is 0 untagged, the
//!   12-bit id for one tag, `outer << 12 | inner` for two; up to [`MAX_VLAN_TAGS`] tags are walked, only the
//!   two outermost are kept.
//! - **IP**: IPv4 with options and with an AH header; IPv6 with hop-by-hop, routing, fragment, destination
//!   options and AH extension headers (at most [`MAX_IPV6_EXTENSIONS`]). `proto` is the protocol after them.
//! - **Transport**: TCP, UDP, ICMP (in IPv4) and ICMPv6 (in IPv6). Any other protocol is
//!   [`Transport::Other`] with no transport header, which is not a drop. ICMP `ident` is the identifier of
//!   echo (8/0), timestamp (13/14), information (15/16) and address mask (17/18) messages, and of ICMPv6
//!   echo (128/129); 0 for every other type.
//!
//! Checksums are not verified: a sensor reports what crossed the wire.
//!
//! # Delivery
//!
//! [`PacketMeta::delivery`] says whether the packet went to one host or to a group, so that later stages
//! can tell a datagram broadcast to a subnet (NetBIOS, DHCP, SSDP, mDNS) from a flow between two hosts.
//! An IP destination decides first: 255.255.255.255 is broadcast, 224.0.0.0/4 and ff00::/8 are
//! multicast. Otherwise the link does: an Ethernet destination of all ones is broadcast, one with the
//! group bit (the low bit of its first octet) multicast; a Linux cooked header's packet type 1 is
//! broadcast and 2 multicast. A subnet's directed broadcast (10.1.2.255 in a /24) is known only from the
//! link, so over raw IP, Null/Loop, or a cooked capture of the host's own outgoing packets it counts as
//! unicast.
//!
//! # Drop reasons
//!
//! - `UnsupportedLinkType`: [`LinkType::Other`].
//! - `TruncatedLink`: the frame ends inside its link header, a VLAN tag or the Null family.
//! - `NonIp`: the ether type, cooked protocol or address family is not IP (ARP, LLDP, 802.3 LLC, MPLS,
//!   PPPoE, ...), or the frame has more than [`MAX_VLAN_TAGS`] tags.
//! - `TruncatedIp`: the captured bytes end inside the IP header, its options or an extension header.
//! - `MalformedIp`: the IP version does not match the link; IHL < 5; total length < IHL × 4 (0 excepted,
//!   see Lengths); an extension or AH header runs past the IP length; an AH length field of 0; two IPv6
//!   fragment headers; more than [`MAX_IPV6_EXTENSIONS`] extension headers.
//! - `TruncatedTransport`: the captured bytes end inside the TCP header (options included), the UDP
//!   header or the first 8 bytes of ICMP.
//! - `MalformedTransport`: TCP data offset < 5; UDP length < 8; a transport header that runs past the IP
//!   length (e.g. a tiny first fragment).
//! - `FragmentWithoutFirst`: a later fragment whose first fragment is not remembered.
//!
//! A header that runs past the length the IP header claims is malformed even if the capture also cut it;
//! one that fits in the claimed length but not in the captured bytes is truncated.
//!
//! # Lengths
//!
//! Lengths come from the headers, never from the captured byte count, so they are right under any snap
//! length:
//! - `ip_len`: the IPv4 total length, or 40 + the IPv6 payload length. When that field is 0 (TCP
//!   segmentation offload seen on the sending host, BIG TCP, IPv6 jumbograms) it is the wire length minus
//!   the link header (tags included), at least the IP header.
//! - `header_len`: IP header with options / AH / extension headers, plus the transport header (TCP data
//!   offset × 4, UDP 8, ICMP 8, other 0). Always `<= ip_len`.
//! - `payload_len = ip_len - header_len`; `payload` is the captured part of it, so `payload.len() <=
//!   payload_len`. Bytes after `ip_len` (Ethernet padding to 60 bytes, an FCS) are ignored.
//! - `wire_len` is [`RawPacket::orig_len`].
//!
//! A cut payload is not an error: a frame decodes as long as its headers were captured.
//!
//! # Fragments
//!
//! A first fragment (offset 0, more-fragments set) is decoded like any packet, marked [`Fragment::First`],
//! and its protocol and [`Transport`] are remembered under (src, dst, protocol field, identification); the
//! protocol field is the IPv4 protocol or the IPv6 fragment header's next header. A later fragment (offset >
//! 0) has no transport header: it copies the remembered protocol and transport, is marked
//! [`Fragment::Later`], and its `header_len` is the IP header only (for IPv6 up to and including the fragment
//! header), so `payload_len` is all its fragment data. A later fragment with more-fragments clear (the last)
//! forgets the entry; one whose first fragment is not remembered is dropped as `FragmentWithoutFirst`, so
//! fragments that overtake their first one, or that follow the last one, are dropped. An IPv6 atomic
//! fragment (offset 0, more-fragments clear) is an unfragmented packet.
//!
//! The table holds at most `max_fragments` entries in a ring of slots: a new entry takes the next slot and
//! evicts whatever is still there, so an entry lives until its last fragment arrives or until
//! `max_fragments` newer first fragments have been remembered, whichever is first. A repeated first
//! fragment updates its entry in place. Eviction depends only on the order of packets, never on hashing, so
//! replays are deterministic. The table is touched only by fragments; it grows on demand up to
//! `max_fragments` and then reuses its memory. `max_fragments = 0` remembers nothing.
//!
//! # How bytes are read
//!
//! Headers are checked and read through etherparse's per-header slice types, whose constructors check the
//! length (and the header's own fields) before a field can be read: `Ethernet2HeaderSlice`,
//! `SingleVlanHeaderSlice`, `Ipv4HeaderSlice`, `Ipv6HeaderSlice`, `Ipv6RawExtHeaderSlice` (hop-by-hop,
//! routing, destination options), `IpAuthHeaderSlice`, `Ipv6FragmentHeaderSlice`, `TcpHeaderSlice`,
//! `UdpHeaderSlice` and `Icmpv6Slice`. A header after the IP header is parsed from the captured bytes cut at
//! the IP length, so an etherparse `LenError` means it does not fit in both: its `required_len` runs past the
//! IP length (malformed) or only past the capture (truncated). Content errors (version, IHL < 5, AH length 0,
//! TCP data offset < 5) are malformed. Every etherparse error variant is matched by name, so a new one fails
//! to compile instead of landing in the wrong counter.
//!
//! This module keeps the layer walk, the length policy and the fragment table, and reads by hand, through
//! `split_first_chunk` / `first_chunk` (a short slice is a drop), what etherparse has no fitting type for:
//! - Linux cooked v2 and the Null family have no etherparse type; raw IP is only a version nibble.
//! - Linux cooked v1: `LinuxSllHeaderSlice` rejects packet types above 7 and every ARPHRD type but Ethernet,
//!   netlink, IP-GRE, radiotap and FRAD, which would drop `-i any` traffic of loopback, tun and PPP devices.
//! - ICMP: `Icmpv4Slice` rejects a timestamp message (13/14, code 0) that is not exactly 20 bytes, where the
//!   contract reads the 8-byte header of any ICMP message.
//!
//! Where etherparse is looser or stricter than the contract, the check around it is ours:
//! - IPv4 / IPv6 version and IHL are judged on the first byte; etherparse checks them only after 20 / 40 bytes.
//! - IPv4 total length < IHL × 4 is checked here, also when the options are cut; etherparse ignores the field.
//! - A cut extension or AH header is judged by its own length field; etherparse asks only for its fixed part.
//! - UDP length < 8 is checked here; `UdpHeaderSlice` does not read the length field.
//! - ICMPv6 is parsed from its 8-byte header, ident by raw type; etherparse's typed echo requires code 0.
//!
//! The layers are walked here rather than by etherparse's whole-packet slicers because the contract above
//! differs from theirs where it matters: they stop before the transport header of a first fragment, accept an
//! IPv4 total length shorter than the header, and read fragment data after an IPv6 non-first fragment header
//! as more extension headers. The tests use etherparse as the reference parser for well-formed packets.

use std::net::IpAddr;

use etherparse::err::{LenError, ip_auth, ipv4, ipv6, tcp};
use etherparse::{
    EtherType, Ethernet2Header, Ethernet2HeaderSlice, Icmpv6Slice, IpAuthHeaderSlice, IpNumber, Ipv4Header,
    Ipv4HeaderSlice, Ipv6FragmentHeaderSlice, Ipv6Header, Ipv6HeaderSlice, Ipv6RawExtHeaderSlice, SingleVlanHeader,
    SingleVlanHeaderSlice, TcpHeaderSlice, UdpHeader, UdpHeaderSlice,
};
use hashbrown::HashMap;

use crate::capture::{LinkType, RawPacket};

/// Why a frame produced no packet metadata. Every dropped frame is counted under exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(usize)]
pub enum DropReason {
    /// The capture's link type is not one we decode.
    UnsupportedLinkType,
    /// The link-layer header (Ethernet, VLAN tags, cooked header, loopback family) is cut short.
    TruncatedLink,
    /// A well-formed frame that carries no IP (ARP, LLDP, STP, ...).
    NonIp,
    /// The IP header (or an IPv6 extension header) is cut short by the snap length.
    TruncatedIp,
    /// The IP header is invalid (version, header length, total length smaller than the header, an
    /// extension header longer than the packet, ...).
    MalformedIp,
    /// The TCP/UDP/ICMP header is cut short by the snap length.
    TruncatedTransport,
    /// The transport header is invalid (TCP data offset < 5, UDP length < 8, longer than the IP packet).
    MalformedTransport,
    /// A non-first IP fragment whose first fragment was never seen (ports unknown).
    FragmentWithoutFirst,
}

impl DropReason {
    pub const ALL: [DropReason; 8] = [
        DropReason::UnsupportedLinkType,
        DropReason::TruncatedLink,
        DropReason::NonIp,
        DropReason::TruncatedIp,
        DropReason::MalformedIp,
        DropReason::TruncatedTransport,
        DropReason::MalformedTransport,
        DropReason::FragmentWithoutFirst,
    ];

    /// Stable snake_case name used in summaries and metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::UnsupportedLinkType => "unsupported_link_type",
            DropReason::TruncatedLink => "truncated_link",
            DropReason::NonIp => "non_ip",
            DropReason::TruncatedIp => "truncated_ip",
            DropReason::MalformedIp => "malformed_ip",
            DropReason::TruncatedTransport => "truncated_transport",
            DropReason::MalformedTransport => "malformed_transport",
            DropReason::FragmentWithoutFirst => "fragment_without_first",
        }
    }
}

/// TCP header facts the flow features need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpInfo {
    /// The 8 flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    pub flags: u8,
    /// Raw window field (unscaled).
    pub window: u16,
    pub seq: u32,
    pub ack: u32,
}

/// Transport layer of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Tcp {
        src_port: u16,
        dst_port: u16,
        tcp: TcpInfo,
    },
    Udp {
        src_port: u16,
        dst_port: u16,
    },
    /// ICMP (v4) or ICMPv6. `ident` is the echo / timestamp / info identifier, 0 for other types.
    Icmp {
        icmp_type: u8,
        code: u8,
        ident: u16,
        v6: bool,
    },
    /// Any other IP protocol (GRE, ESP, SCTP, ...): no ports.
    Other,
}

/// Where a packet stands in IP fragmentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fragment {
    /// Not fragmented.
    None,
    /// First fragment (offset 0, more fragments): carries the transport header.
    First,
    /// A later fragment: no transport header; `transport` was copied from the first fragment, so its
    /// ports are right but its TCP flags/window/ICMP fields must not be counted again.
    Later,
}

/// How a packet was addressed (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delivery {
    /// To one host.
    #[default]
    Unicast,
    /// To every host of a link or subnet.
    Broadcast,
    /// To a multicast group.
    Multicast,
}

impl Delivery {
    pub fn name(self) -> &'static str {
        match self {
            Delivery::Unicast => "unicast",
            Delivery::Broadcast => "broadcast",
            Delivery::Multicast => "multicast",
        }
    }

    /// The delivery of a packet to `dst` that its link delivered as `link`: a group IP address decides,
    /// else the link's.
    pub fn of(dst: IpAddr, link: Delivery) -> Delivery {
        match dst {
            IpAddr::V4(a) if a.is_broadcast() => Delivery::Broadcast,
            IpAddr::V4(a) if a.is_multicast() => Delivery::Multicast,
            IpAddr::V6(a) if a.is_multicast() => Delivery::Multicast,
            _ => link,
        }
    }

    /// The delivery an Ethernet destination address names.
    fn of_mac(mac: [u8; 6]) -> Delivery {
        if mac == [0xff; 6] {
            Delivery::Broadcast
        } else if mac[0] & 1 == 1 {
            Delivery::Multicast
        } else {
            Delivery::Unicast
        }
    }

    /// The delivery a Linux cooked header's packet type names (`PACKET_BROADCAST` 1,
    /// `PACKET_MULTICAST` 2).
    fn of_sll_packet_type(packet_type: u16) -> Delivery {
        match packet_type {
            1 => Delivery::Broadcast,
            2 => Delivery::Multicast,
            _ => Delivery::Unicast,
        }
    }
}

/// Checked metadata of one IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketMeta<'a> {
    pub ts_ns: u64,
    /// Length of the frame on the wire (the capture's original length, not the snap length).
    pub wire_len: u32,
    /// VLAN: 0 when untagged; one tag → its 12-bit id; QinQ → `outer << 12 | inner`.
    pub vlan: u32,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IP protocol number (IPv6: the final next-header after extension headers).
    pub proto: u8,
    /// IP packet length from the IP header (IPv4 total length, IPv6 40 + payload length), so it is right
    /// even when the snap length cut the frame.
    pub ip_len: u32,
    /// Bytes of IP header (with options / extension headers) plus transport header.
    pub header_len: u32,
    /// Transport payload length derived from the IP header lengths (not from the captured bytes).
    pub payload_len: u32,
    /// The captured part of the transport payload (may be shorter than `payload_len`).
    pub payload: &'a [u8],
    pub transport: Transport,
    pub fragment: Fragment,
    /// To one host or to a group (see the module doc).
    pub delivery: Delivery,
}

/// Dropped frames, one counter per [`DropReason`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounts {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounts {
    /// Frames dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts.get(reason as usize).copied().unwrap_or(0)
    }

    /// Frames dropped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// Every reason with its count, in [`DropReason::ALL`] order (zeros included).
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.into_iter().map(|reason| (reason, self.get(reason)))
    }

    /// Adds another decoder's counts (e.g. from another capture thread).
    pub fn add(&mut self, other: &DropCounts) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine = mine.saturating_add(theirs);
        }
    }

    fn count(&mut self, reason: DropReason) {
        if let Some(n) = self.counts.get_mut(reason as usize) {
            *n = n.saturating_add(1);
        }
    }
}

/// VLAN tags walked after the link header; a deeper stack is counted as [`DropReason::NonIp`].
pub const MAX_VLAN_TAGS: usize = 4;

/// IPv6 extension headers walked before the transport; more is [`DropReason::MalformedIp`]. Each header
/// is at least 8 bytes, so without a bound one frame could cost thousands of iterations.
pub const MAX_IPV6_EXTENSIONS: usize = 16;

const AF_INET: u32 = 2;
/// AF_INET6 is 24 on NetBSD/OpenBSD, 28 on FreeBSD/DragonFly, 30 on macOS/iOS.
const AF_INET6: [u32; 3] = [24, 28, 30];

const IPPROTO_HOPOPTS: u8 = IpNumber::IPV6_HEADER_HOP_BY_HOP.0;
const IPPROTO_ICMP: u8 = IpNumber::ICMP.0;
const IPPROTO_TCP: u8 = IpNumber::TCP.0;
const IPPROTO_UDP: u8 = IpNumber::UDP.0;
const IPPROTO_ROUTING: u8 = IpNumber::IPV6_ROUTE_HEADER.0;
const IPPROTO_FRAGMENT: u8 = IpNumber::IPV6_FRAGMENTATION_HEADER.0;
const IPPROTO_AH: u8 = IpNumber::AUTHENTICATION_HEADER.0;
const IPPROTO_ICMPV6: u8 = IpNumber::IPV6_ICMP.0;
const IPPROTO_DSTOPTS: u8 = IpNumber::IPV6_DESTINATION_OPTIONS.0;

const ETHERNET_HEADER: usize = Ethernet2Header::LEN;
const VLAN_TAG: usize = SingleVlanHeader::LEN;
const SLL_HEADER: usize = 16;
const SLL2_HEADER: usize = 20;
const NULL_HEADER: usize = 4;
const IPV4_MIN_HEADER: usize = Ipv4Header::MIN_LEN;
const IPV6_HEADER: usize = Ipv6Header::LEN;
const UDP_HEADER: usize = UdpHeader::LEN;
const ICMP_HEADER: usize = 8;

/// Decodes frames into [`PacketMeta`]; owns the fragment table and the drop counters.
#[derive(Debug)]
pub struct Decoder {
    fragments: FragmentTable,
    drops: DropCounts,
}

impl Decoder {
    /// A decoder that remembers at most `max_fragments` first fragments (see the module doc).
    pub fn new(max_fragments: usize) -> Self {
        Decoder { fragments: FragmentTable::new(max_fragments), drops: DropCounts::default() }
    }

    /// Decodes one frame.
    ///
    /// # Errors
    ///
    /// The [`DropReason`] of a frame that yields no packet; it is counted in [`Decoder::drops`] first.
    pub fn decode<'a>(&mut self, pkt: &RawPacket<'a>) -> Result<PacketMeta<'a>, DropReason> {
        let result = self.decode_frame(pkt);
        if let Err(reason) = result {
            self.drops.count(reason);
        }
        result
    }

    /// Frames dropped so far, by reason.
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    fn decode_frame<'a>(&mut self, pkt: &RawPacket<'a>) -> Result<PacketMeta<'a>, DropReason> {
        let frame = link_frame(pkt.link, pkt.data)?;
        // A capture never holds more than the wire length; if a broken source says otherwise, trust the
        // bytes we hold.
        let wire_ip_len =
            usize::try_from(pkt.orig_len).unwrap_or(usize::MAX).max(pkt.data.len()).saturating_sub(frame.link_len);
        let ip = match frame.version {
            IpVersion::V4 => ipv4(frame.ip, wire_ip_len)?,
            IpVersion::V6 => ipv6(frame.ip, wire_ip_len)?,
        };

        let (proto, transport, header_len, fragment) = match ip.fragment {
            Some(frag) if frag.later => {
                let key =
                    FragmentKey { src: ip.header.src(), dst: ip.header.dst(), id: frag.id, proto: frag.key_proto };
                let first = self.fragments.recall(&key).ok_or(DropReason::FragmentWithoutFirst)?;
                if !frag.more {
                    self.fragments.forget(&key);
                }
                (first.proto, first.transport, ip.header_len, Fragment::Later)
            }
            frag => {
                let (transport, transport_len) = transport(&ip)?;
                let fragment = match frag {
                    Some(frag) => {
                        let key = FragmentKey {
                            src: ip.header.src(),
                            dst: ip.header.dst(),
                            id: frag.id,
                            proto: frag.key_proto,
                        };
                        self.fragments.remember(key, FirstFragment { proto: ip.proto, transport });
                        Fragment::First
                    }
                    None => Fragment::None,
                };
                (ip.proto, transport, ip.header_len.saturating_add(transport_len), fragment)
            }
        };

        Ok(PacketMeta {
            ts_ns: pkt.ts_ns,
            wire_len: pkt.orig_len,
            vlan: frame.vlan,
            src: ip.header.src(),
            dst: ip.header.dst(),
            proto,
            ip_len: len_u32(ip.ip_len),
            header_len: len_u32(header_len),
            payload_len: len_u32(ip.ip_len.saturating_sub(header_len)),
            payload: ip.bytes.get(header_len..).unwrap_or_default(),
            transport,
            fragment,
            delivery: Delivery::of(ip.header.dst(), frame.delivery),
        })
    }
}

#[derive(Clone, Copy)]
enum IpVersion {
    V4,
    V6,
}

/// A frame with its link layer peeled off.
struct LinkFrame<'a> {
    vlan: u32,
    /// The link's delivery: unicast when the link header does not say.
    delivery: Delivery,
    /// Link header bytes, VLAN tags included.
    link_len: usize,
    version: IpVersion,
    /// Everything after the link header: the IP packet, maybe cut, maybe followed by padding.
    ip: &'a [u8],
}

fn link_frame(link: LinkType, data: &[u8]) -> Result<LinkFrame<'_>, DropReason> {
    match link {
        LinkType::Ethernet => {
            let eth = Ethernet2HeaderSlice::from_slice(data).map_err(link_cut)?;
            ether_frame(eth.ether_type(), after(data, ETHERNET_HEADER), ETHERNET_HEADER)
                .map(|f| LinkFrame { delivery: Delivery::of_mac(eth.destination()), ..f })
        }
        LinkType::LinuxSll => {
            let (h, rest) = data.split_first_chunk::<SLL_HEADER>().ok_or(DropReason::TruncatedLink)?;
            ether_frame(EtherType(be16(h[14], h[15])), rest, SLL_HEADER)
                .map(|f| LinkFrame { delivery: Delivery::of_sll_packet_type(be16(h[0], h[1])), ..f })
        }
        LinkType::LinuxSll2 => {
            let (h, rest) = data.split_first_chunk::<SLL2_HEADER>().ok_or(DropReason::TruncatedLink)?;
            ether_frame(EtherType(be16(h[0], h[1])), rest, SLL2_HEADER)
                .map(|f| LinkFrame { delivery: Delivery::of_sll_packet_type(u16::from(h[10])), ..f })
        }
        LinkType::RawIp => {
            let version = match data.first().map(|b| b >> 4) {
                None => return Err(DropReason::TruncatedIp),
                Some(4) => IpVersion::V4,
                Some(6) => IpVersion::V6,
                Some(_) => return Err(DropReason::MalformedIp),
            };
            Ok(LinkFrame { vlan: 0, delivery: Delivery::Unicast, link_len: 0, version, ip: data })
        }
        LinkType::Null => {
            let (h, rest) = data.split_first_chunk::<NULL_HEADER>().ok_or(DropReason::TruncatedLink)?;
            // The family is in the capturing host's byte order (LINKTYPE_LOOP: network order).
            let families = [u32::from_le_bytes(*h), u32::from_be_bytes(*h)];
            let version = if families.contains(&AF_INET) {
                IpVersion::V4
            } else if families.iter().any(|f| AF_INET6.contains(f)) {
                IpVersion::V6
            } else {
                return Err(DropReason::NonIp);
            };
            Ok(LinkFrame { vlan: 0, delivery: Delivery::Unicast, link_len: NULL_HEADER, version, ip: rest })
        }
        LinkType::Other(_) => Err(DropReason::UnsupportedLinkType),
    }
}

/// Walks VLAN tags from `ether_type` until an IP ether type.
fn ether_frame(mut ether_type: EtherType, mut rest: &[u8], mut link_len: usize) -> Result<LinkFrame<'_>, DropReason> {
    let mut vlan = 0u32;
    for tags in 0..=MAX_VLAN_TAGS {
        let version = match ether_type {
            EtherType::IPV4 => IpVersion::V4,
            EtherType::IPV6 => IpVersion::V6,
            EtherType::VLAN_TAGGED_FRAME | EtherType::PROVIDER_BRIDGING | EtherType::VLAN_DOUBLE_TAGGED_FRAME
                if tags < MAX_VLAN_TAGS =>
            {
                let tag = SingleVlanHeaderSlice::from_slice(rest).map_err(link_cut)?;
                if tags < 2 {
                    vlan = vlan << 12 | u32::from(tag.vlan_identifier().value());
                }
                ether_type = tag.ether_type();
                rest = after(rest, VLAN_TAG);
                link_len += VLAN_TAG;
                continue;
            }
            _ => return Err(DropReason::NonIp),
        };
        return Ok(LinkFrame { vlan, delivery: Delivery::Unicast, link_len, version, ip: rest });
    }
    Err(DropReason::NonIp)
}

/// A link header or VLAN tag cut short: there is no IP length yet to be malformed against.
fn link_cut(_: LenError) -> DropReason {
    DropReason::TruncatedLink
}

/// An IPv4 or IPv6 packet whose header (with options / extension headers) was captured and is consistent
/// with its own length fields.
struct IpPacket<'a> {
    header: IpHeader<'a>,
    /// Packet length from the IP header (see the module doc).
    ip_len: usize,
    /// The captured bytes of the packet, ending at `ip_len` at the latest (padding removed).
    bytes: &'a [u8],
    /// IP header with options and extension headers; for a later fragment, up to the fragment header.
    header_len: usize,
    /// Protocol after the extension headers; for a later fragment, the one its header names.
    proto: u8,
    fragment: Option<FragmentHeader>,
}

/// The checked IP header, left in the frame until its addresses are stored: building an `IpAddr` early and
/// moving it costs a store-forwarding stall per packet.
#[derive(Clone, Copy)]
enum IpHeader<'a> {
    V4(Ipv4HeaderSlice<'a>),
    V6(Ipv6HeaderSlice<'a>),
}

impl IpHeader<'_> {
    fn src(self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::from(h.source()),
            IpHeader::V6(h) => IpAddr::from(h.source()),
        }
    }

    fn dst(self) -> IpAddr {
        match self {
            IpHeader::V4(h) => IpAddr::from(h.destination()),
            IpHeader::V6(h) => IpAddr::from(h.destination()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FragmentHeader {
    /// IPv4 protocol field / IPv6 fragment header's next header: the same in every fragment.
    key_proto: u8,
    id: u32,
    /// Offset > 0: no transport header in this fragment.
    later: bool,
    /// More-fragments flag.
    more: bool,
}

/// Which drop a short or overlong header is, per layer.
#[derive(Clone, Copy)]
struct Layer {
    /// The captured bytes end inside the header.
    truncated: DropReason,
    /// The header runs past the length the IP header claims.
    malformed: DropReason,
}

const IP_LAYER: Layer = Layer { truncated: DropReason::TruncatedIp, malformed: DropReason::MalformedIp };
const TRANSPORT_LAYER: Layer =
    Layer { truncated: DropReason::TruncatedTransport, malformed: DropReason::MalformedTransport };

impl<'a> IpPacket<'a> {
    /// What a header at `at` is parsed from: the captured bytes from `at` up to `ip_len`.
    fn bytes_from(&self, at: usize) -> &'a [u8] {
        after(self.bytes, at)
    }

    /// The drop for a header at `at` that needs `required` bytes and does not fit in [`IpPacket::bytes_from`]:
    /// malformed if it runs past `ip_len`, else truncated by the capture.
    fn cut(&self, at: usize, required: usize, layer: Layer) -> DropReason {
        if at.saturating_add(required) > self.ip_len { layer.malformed } else { layer.truncated }
    }

    /// Skips the hop-by-hop, routing, destination options or AH header at `header_len`.
    fn skip_extension(&mut self) -> Result<(), DropReason> {
        let at = self.header_len;
        let (next, len) = if self.proto == IPPROTO_AH {
            match IpAuthHeaderSlice::from_slice(self.bytes_from(at)) {
                Ok(ah) => (ah.next_header(), ah.slice().len()),
                Err(ip_auth::HeaderSliceError::Len(_)) => return Err(self.extension_cut(at)),
                Err(ip_auth::HeaderSliceError::Content(ip_auth::HeaderError::ZeroPayloadLen)) => {
                    return Err(DropReason::MalformedIp);
                }
            }
        } else {
            match Ipv6RawExtHeaderSlice::from_slice(self.bytes_from(at)) {
                Ok(ext) => (ext.next_header(), ext.slice().len()),
                Err(LenError { .. }) => return Err(self.extension_cut(at)),
            }
        };
        self.header_len = at + len;
        self.proto = next.0;
        Ok(())
    }

    /// The drop for an extension or AH header at `at` that etherparse found cut short. etherparse asks for
    /// the fixed part (8 bytes, AH 12) before it reads the length field, and rejects an AH length of 0 only
    /// after it; the contract judges the header by its length field as soon as that field is captured.
    fn extension_cut(&self, at: usize) -> DropReason {
        let ah = self.proto == IPPROTO_AH;
        let claimed = match self.bytes.get(at.saturating_add(1)) {
            None => 2, // the length field itself was not captured
            Some(0) if ah => return DropReason::MalformedIp,
            // RFC 4302 §2.2: length in 4-octet units minus 2.
            Some(&len) if ah => (usize::from(len) + 2) * 4,
            // RFC 8200 §4.3: length in 8-octet units, not counting the first 8.
            Some(&len) => (usize::from(len) + 1) * 8,
        };
        self.cut(at, claimed, IP_LAYER)
    }
}

/// The IPv4 packet length: the total length field, or the wire's when it is 0 (see the module doc).
fn ipv4_len(total_len: u16, wire_ip_len: usize) -> usize {
    match usize::from(total_len) {
        0 => wire_ip_len, // segmentation offload: the NIC fills the length in
        total_len => total_len,
    }
}

fn ipv4(bytes: &[u8], wire_ip_len: usize) -> Result<IpPacket<'_>, DropReason> {
    // etherparse checks version and IHL only once 20 bytes are captured; the contract, from the first byte.
    let first = *bytes.first().ok_or(DropReason::TruncatedIp)?;
    if first >> 4 != 4 || usize::from(first & 0x0f) * 4 < IPV4_MIN_HEADER {
        return Err(DropReason::MalformedIp);
    }
    let header = match Ipv4HeaderSlice::from_slice(bytes) {
        Ok(header) => header,
        Err(ipv4::HeaderSliceError::Len(cut)) => return Err(ipv4_cut(bytes, &cut, wire_ip_len)),
        Err(ipv4::HeaderSliceError::Content(
            ipv4::HeaderError::UnexpectedVersion { .. } | ipv4::HeaderError::HeaderLengthSmallerThanHeader { .. },
        )) => return Err(DropReason::MalformedIp),
    };
    let ihl = header.slice().len();
    let ip_len = ipv4_len(header.total_len(), wire_ip_len);
    if ip_len < ihl {
        return Err(DropReason::MalformedIp);
    }
    let proto = header.protocol().0;
    let offset = header.fragments_offset().value();
    let more = header.more_fragments();
    let fragment = (offset != 0 || more).then_some(FragmentHeader {
        key_proto: proto,
        id: u32::from(header.identification()),
        later: offset != 0,
        more,
    });
    let mut ip = IpPacket {
        header: IpHeader::V4(header),
        ip_len,
        bytes: bytes.get(..ip_len).unwrap_or(bytes),
        header_len: ihl,
        proto,
        fragment,
    };
    // AH precedes the transport header; a later fragment only carries data.
    if ip.proto == IPPROTO_AH && offset == 0 {
        ip.skip_extension()?;
    }
    Ok(ip)
}

/// The drop for an IPv4 header etherparse found cut short. Past the fixed 20 bytes it reports cut options
/// without looking at the total length; the contract calls the header malformed if that length cannot
/// hold it.
fn ipv4_cut(bytes: &[u8], cut: &LenError, wire_ip_len: usize) -> DropReason {
    match bytes.first_chunk::<4>() {
        Some(h) if cut.required_len > IPV4_MIN_HEADER && ipv4_len(be16(h[2], h[3]), wire_ip_len) < cut.required_len => {
            DropReason::MalformedIp
        }
        _ => DropReason::TruncatedIp,
    }
}

fn ipv6(bytes: &[u8], wire_ip_len: usize) -> Result<IpPacket<'_>, DropReason> {
    // etherparse checks the version only once 40 bytes are captured; the contract, from the first byte.
    let first = *bytes.first().ok_or(DropReason::TruncatedIp)?;
    if first >> 4 != 6 {
        return Err(DropReason::MalformedIp);
    }
    let header = match Ipv6HeaderSlice::from_slice(bytes) {
        Ok(header) => header,
        Err(ipv6::HeaderSliceError::Len(_)) => return Err(DropReason::TruncatedIp),
        Err(ipv6::HeaderSliceError::Content(ipv6::HeaderError::UnexpectedVersion { .. })) => {
            return Err(DropReason::MalformedIp);
        }
    };
    let ip_len = match usize::from(header.payload_length()) {
        // Jumbogram or segmentation offload: the wire says how long it is.
        0 => wire_ip_len.max(IPV6_HEADER),
        payload_len => IPV6_HEADER + payload_len,
    };
    let mut ip = IpPacket {
        header: IpHeader::V6(header),
        ip_len,
        bytes: bytes.get(..ip_len).unwrap_or(bytes),
        header_len: IPV6_HEADER,
        proto: header.next_header().0,
        fragment: None,
    };
    let mut seen_fragment_header = false;
    // One more round than headers allowed: the last may only find the transport.
    for _ in 0..=MAX_IPV6_EXTENSIONS {
        match ip.proto {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS | IPPROTO_AH => {
                ip.skip_extension()?;
            }
            IPPROTO_FRAGMENT => {
                if seen_fragment_header {
                    return Err(DropReason::MalformedIp);
                }
                seen_fragment_header = true;
                let at = ip.header_len;
                let f = Ipv6FragmentHeaderSlice::from_slice(ip.bytes_from(at))
                    .map_err(|cut| ip.cut(at, cut.required_len, IP_LAYER))?;
                ip.header_len = at + f.slice().len();
                ip.proto = f.next_header().0;
                let offset = f.fragment_offset().value();
                let more = f.more_fragments();
                // RFC 6946: offset 0 without more fragments is an atomic fragment, i.e. a whole packet.
                if offset != 0 || more {
                    ip.fragment =
                        Some(FragmentHeader { key_proto: ip.proto, id: f.identification(), later: offset != 0, more });
                }
                if offset != 0 {
                    // What follows is fragment data, not headers.
                    return Ok(ip);
                }
            }
            _ => return Ok(ip),
        }
    }
    Err(DropReason::MalformedIp)
}

/// The transport header at `ip.header_len`, and its length.
fn transport(ip: &IpPacket<'_>) -> Result<(Transport, usize), DropReason> {
    let at = ip.header_len;
    let rest = ip.bytes_from(at);
    let cut = |len: LenError| ip.cut(at, len.required_len, TRANSPORT_LAYER);
    match (ip.proto, ip.header) {
        (IPPROTO_TCP, _) => {
            let h = match TcpHeaderSlice::from_slice(rest) {
                Ok(h) => h,
                Err(tcp::HeaderSliceError::Len(len)) => return Err(cut(len)),
                Err(tcp::HeaderSliceError::Content(tcp::HeaderError::DataOffsetTooSmall { .. })) => {
                    return Err(DropReason::MalformedTransport);
                }
            };
            let tcp = TcpInfo {
                flags: tcp_flags(&h),
                window: h.window_size(),
                seq: h.sequence_number(),
                ack: h.acknowledgment_number(),
            };
            Ok((Transport::Tcp { src_port: h.source_port(), dst_port: h.destination_port(), tcp }, h.slice().len()))
        }
        (IPPROTO_UDP, _) => {
            let h = UdpHeaderSlice::from_slice(rest).map_err(cut)?;
            // etherparse's header slice does not read the length field.
            if usize::from(h.length()) < UDP_HEADER {
                return Err(DropReason::MalformedTransport);
            }
            Ok((Transport::Udp { src_port: h.source_port(), dst_port: h.destination_port() }, UDP_HEADER))
        }
        (IPPROTO_ICMP, IpHeader::V4(_)) => {
            let h = rest.first_chunk::<ICMP_HEADER>().ok_or_else(|| ip.cut(at, ICMP_HEADER, TRANSPORT_LAYER))?;
            let ident = if matches!(h[0], 0 | 8 | 13..=18) { be16(h[4], h[5]) } else { 0 };
            Ok((Transport::Icmp { icmp_type: h[0], code: h[1], ident, v6: false }, ICMP_HEADER))
        }
        (IPPROTO_ICMPV6, IpHeader::V6(_)) => {
            let h = Icmpv6Slice::from_slice(rest.get(..ICMP_HEADER).unwrap_or(rest)).map_err(cut)?;
            let [id_hi, id_lo, _, _] = h.bytes5to8();
            let ident = if matches!(h.type_u8(), 128 | 129) { be16(id_hi, id_lo) } else { 0 };
            Ok((Transport::Icmp { icmp_type: h.type_u8(), code: h.code_u8(), ident, v6: true }, ICMP_HEADER))
        }
        _ => Ok((Transport::Other, 0)),
    }
}

/// The flag bits of [`TcpInfo::flags`].
fn tcp_flags(h: &TcpHeaderSlice<'_>) -> u8 {
    [h.fin(), h.syn(), h.rst(), h.psh(), h.ack(), h.urg(), h.ece(), h.cwr()]
        .into_iter()
        .enumerate()
        .fold(0, |flags, (bit, set)| flags | u8::from(set) << bit)
}

/// Identifies the fragments of one IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FragmentKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
    /// IPv4 protocol / IPv6 fragment header next header.
    proto: u8,
}

/// What a later fragment inherits from its first fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FirstFragment {
    proto: u8,
    transport: Transport,
}

/// First fragments by key, bounded by a ring of slots (eviction policy in the module doc).
#[derive(Debug)]
struct FragmentTable {
    capacity: usize,
    /// Key → index into `slots`.
    index: HashMap<FragmentKey, usize, foldhash::fast::RandomState>,
    /// Grows to `capacity`, then is reused in ring order; `None` once its entry was forgotten.
    slots: Vec<Option<(FragmentKey, FirstFragment)>>,
    /// The slot the next new key takes.
    next: usize,
}

impl FragmentTable {
    fn new(capacity: usize) -> Self {
        FragmentTable {
            capacity,
            index: HashMap::with_hasher(foldhash::fast::RandomState::default()),
            slots: Vec::new(),
            next: 0,
        }
    }

    fn recall(&self, key: &FragmentKey) -> Option<FirstFragment> {
        let slot = *self.index.get(key)?;
        self.slots.get(slot)?.as_ref().map(|&(_, first)| first)
    }

    fn remember(&mut self, key: FragmentKey, first: FirstFragment) {
        if self.capacity == 0 {
            return;
        }
        if let Some(&slot) = self.index.get(&key) {
            if let Some(entry) = self.slots.get_mut(slot) {
                *entry = Some((key, first));
            }
            return;
        }
        let slot = self.next;
        match self.slots.get_mut(slot) {
            Some(entry) => {
                if let Some((evicted, _)) = entry.replace((key, first)) {
                    self.index.remove(&evicted);
                }
            }
            None => self.slots.push(Some((key, first))),
        }
        self.index.insert(key, slot);
        self.next = if slot + 1 >= self.capacity { 0 } else { slot + 1 };
    }

    fn forget(&mut self, key: &FragmentKey) {
        if let Some(slot) = self.index.remove(key)
            && let Some(entry) = self.slots.get_mut(slot)
        {
            *entry = None;
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.index.len()
    }
}

/// `bytes` from `at` on; empty past the end.
fn after(bytes: &[u8], at: usize) -> &[u8] {
    bytes.get(at..).unwrap_or_default()
}

fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
