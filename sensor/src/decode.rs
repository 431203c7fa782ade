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
//! Every read goes through `split_first_chunk` / `first_chunk` / `get`, which turn a short slice into a
//! drop; fixed-size headers are then indexed with constants into arrays, which the compiler checks.
//! The layers are walked here rather than by etherparse's slicers because the contract above differs from
//! theirs where it matters: they stop before the transport header of a first fragment, accept an IPv4
//! total length shorter than the header, and read fragment data after an IPv6 non-first fragment header
//! as more extension headers. The tests use etherparse as the reference parser for well-formed packets.

use std::net::IpAddr;

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

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;

const AF_INET: u32 = 2;
/// AF_INET6 is 24 on NetBSD/OpenBSD, 28 on FreeBSD/DragonFly, 30 on macOS/iOS.
const AF_INET6: [u32; 3] = [24, 28, 30];

const IPPROTO_HOPOPTS: u8 = 0;
const IPPROTO_ICMP: u8 = 1;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const IPPROTO_ROUTING: u8 = 43;
const IPPROTO_FRAGMENT: u8 = 44;
const IPPROTO_AH: u8 = 51;
const IPPROTO_ICMPV6: u8 = 58;
const IPPROTO_DSTOPTS: u8 = 60;

const IPV4_MIN_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TCP_MIN_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
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
                let key = FragmentKey { src: ip.addrs.src(), dst: ip.addrs.dst(), id: frag.id, proto: frag.key_proto };
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
                            src: ip.addrs.src(),
                            dst: ip.addrs.dst(),
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
            src: ip.addrs.src(),
            dst: ip.addrs.dst(),
            proto,
            ip_len: len_u32(ip.ip_len),
            header_len: len_u32(header_len),
            payload_len: len_u32(ip.ip_len.saturating_sub(header_len)),
            payload: ip.bytes.get(header_len..).unwrap_or_default(),
            transport,
            fragment,
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
    /// Link header bytes, VLAN tags included.
    link_len: usize,
    version: IpVersion,
    /// Everything after the link header: the IP packet, maybe cut, maybe followed by padding.
    ip: &'a [u8],
}

fn link_frame(link: LinkType, data: &[u8]) -> Result<LinkFrame<'_>, DropReason> {
    match link {
        LinkType::Ethernet => {
            let (h, rest) = data.split_first_chunk::<14>().ok_or(DropReason::TruncatedLink)?;
            ether_frame(be16(h[12], h[13]), rest, 14)
        }
        LinkType::LinuxSll => {
            let (h, rest) = data.split_first_chunk::<16>().ok_or(DropReason::TruncatedLink)?;
            ether_frame(be16(h[14], h[15]), rest, 16)
        }
        LinkType::LinuxSll2 => {
            let (h, rest) = data.split_first_chunk::<20>().ok_or(DropReason::TruncatedLink)?;
            ether_frame(be16(h[0], h[1]), rest, 20)
        }
        LinkType::RawIp => {
            let version = match data.first().map(|b| b >> 4) {
                None => return Err(DropReason::TruncatedIp),
                Some(4) => IpVersion::V4,
                Some(6) => IpVersion::V6,
                Some(_) => return Err(DropReason::MalformedIp),
            };
            Ok(LinkFrame { vlan: 0, link_len: 0, version, ip: data })
        }
        LinkType::Null => {
            let (h, rest) = data.split_first_chunk::<4>().ok_or(DropReason::TruncatedLink)?;
            // The family is in the capturing host's byte order (LINKTYPE_LOOP: network order).
            let families = [u32::from_le_bytes(*h), u32::from_be_bytes(*h)];
            let version = if families.contains(&AF_INET) {
                IpVersion::V4
            } else if families.iter().any(|f| AF_INET6.contains(f)) {
                IpVersion::V6
            } else {
                return Err(DropReason::NonIp);
            };
            Ok(LinkFrame { vlan: 0, link_len: 4, version, ip: rest })
        }
        LinkType::Other(_) => Err(DropReason::UnsupportedLinkType),
    }
}

/// Walks VLAN tags from `ether_type` until an IP ether type.
fn ether_frame(mut ether_type: u16, mut rest: &[u8], mut link_len: usize) -> Result<LinkFrame<'_>, DropReason> {
    let mut vlan = 0u32;
    for tags in 0..=MAX_VLAN_TAGS {
        let version = match ether_type {
            ETHERTYPE_IPV4 => IpVersion::V4,
            ETHERTYPE_IPV6 => IpVersion::V6,
            ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD if tags < MAX_VLAN_TAGS => {
                let (tag, inner) = rest.split_first_chunk::<4>().ok_or(DropReason::TruncatedLink)?;
                if tags < 2 {
                    vlan = vlan << 12 | u32::from(be16(tag[0], tag[1]) & 0x0fff);
                }
                ether_type = be16(tag[2], tag[3]);
                rest = inner;
                link_len += 4;
                continue;
            }
            _ => return Err(DropReason::NonIp),
        };
        return Ok(LinkFrame { vlan, link_len, version, ip: rest });
    }
    Err(DropReason::NonIp)
}

/// An IPv4 or IPv6 packet whose header (with options / extension headers) was captured and is consistent
/// with its own length fields.
struct IpPacket<'a> {
    addrs: Addresses<'a>,
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

/// Source and destination, left in the frame until they are stored: building an `IpAddr` early and
/// moving it costs a store-forwarding stall per packet.
#[derive(Clone, Copy)]
enum Addresses<'a> {
    V4(&'a [u8; 4], &'a [u8; 4]),
    V6(&'a [u8; 16], &'a [u8; 16]),
}

impl Addresses<'_> {
    fn src(self) -> IpAddr {
        match self {
            Addresses::V4(src, _) => IpAddr::from(*src),
            Addresses::V6(src, _) => IpAddr::from(*src),
        }
    }

    fn dst(self) -> IpAddr {
        match self {
            Addresses::V4(_, dst) => IpAddr::from(*dst),
            Addresses::V6(_, dst) => IpAddr::from(*dst),
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
    /// Checks that bytes up to `end` are inside the packet and were captured.
    fn ensure(&self, end: usize, layer: Layer) -> Result<(), DropReason> {
        if end > self.ip_len {
            Err(layer.malformed)
        } else if end > self.bytes.len() {
            Err(layer.truncated)
        } else {
            Ok(())
        }
    }

    /// The `N` bytes at `at`, checked as by [`IpPacket::ensure`].
    fn field<const N: usize>(&self, at: usize, layer: Layer) -> Result<&'a [u8; N], DropReason> {
        self.ensure(at.saturating_add(N), layer)?;
        self.bytes.get(at..).and_then(<[u8]>::first_chunk).ok_or(layer.truncated)
    }

    /// Skips the hop-by-hop, routing, destination options or AH header at `header_len`.
    fn skip_extension(&mut self) -> Result<(), DropReason> {
        let e = self.field::<2>(self.header_len, IP_LAYER)?;
        let len = if self.proto == IPPROTO_AH {
            // RFC 4302 §2.2: length in 4-octet units minus 2; the fixed part alone is 12 octets.
            if e[1] == 0 {
                return Err(DropReason::MalformedIp);
            }
            (usize::from(e[1]) + 2) * 4
        } else {
            // RFC 8200 §4.3: length in 8-octet units, not counting the first 8.
            (usize::from(e[1]) + 1) * 8
        };
        let end = self.header_len.saturating_add(len);
        self.ensure(end, IP_LAYER)?;
        self.header_len = end;
        self.proto = e[0];
        Ok(())
    }
}

fn ipv4(bytes: &[u8], wire_ip_len: usize) -> Result<IpPacket<'_>, DropReason> {
    let first = *bytes.first().ok_or(DropReason::TruncatedIp)?;
    let ihl = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || ihl < IPV4_MIN_HEADER {
        return Err(DropReason::MalformedIp);
    }
    let (h, rest) = bytes.split_first_chunk::<12>().ok_or(DropReason::TruncatedIp)?;
    let (src, rest) = rest.split_first_chunk::<4>().ok_or(DropReason::TruncatedIp)?;
    let (dst, _) = rest.split_first_chunk::<4>().ok_or(DropReason::TruncatedIp)?;
    let ip_len = match usize::from(be16(h[2], h[3])) {
        0 => wire_ip_len, // segmentation offload: the NIC fills the length in
        total_len => total_len,
    };
    if ip_len < ihl {
        return Err(DropReason::MalformedIp);
    }
    if bytes.len() < ihl {
        return Err(DropReason::TruncatedIp);
    }
    let flags_offset = be16(h[6], h[7]);
    let offset = flags_offset & 0x1fff;
    let more = flags_offset & 0x2000 != 0;
    let fragment = (offset != 0 || more).then_some(FragmentHeader {
        key_proto: h[9],
        id: u32::from(be16(h[4], h[5])),
        later: offset != 0,
        more,
    });
    let mut ip = IpPacket {
        addrs: Addresses::V4(src, dst),
        ip_len,
        bytes: bytes.get(..ip_len).unwrap_or(bytes),
        header_len: ihl,
        proto: h[9],
        fragment,
    };
    // AH precedes the transport header; a later fragment only carries data.
    if ip.proto == IPPROTO_AH && offset == 0 {
        ip.skip_extension()?;
    }
    Ok(ip)
}

fn ipv6(bytes: &[u8], wire_ip_len: usize) -> Result<IpPacket<'_>, DropReason> {
    let first = *bytes.first().ok_or(DropReason::TruncatedIp)?;
    if first >> 4 != 6 {
        return Err(DropReason::MalformedIp);
    }
    let (h, rest) = bytes.split_first_chunk::<8>().ok_or(DropReason::TruncatedIp)?;
    let (src, rest) = rest.split_first_chunk::<16>().ok_or(DropReason::TruncatedIp)?;
    let (dst, _) = rest.split_first_chunk::<16>().ok_or(DropReason::TruncatedIp)?;
    let ip_len = match usize::from(be16(h[4], h[5])) {
        // Jumbogram or segmentation offload: the wire says how long it is.
        0 => wire_ip_len.max(IPV6_HEADER),
        payload_len => IPV6_HEADER + payload_len,
    };
    let mut ip = IpPacket {
        addrs: Addresses::V6(src, dst),
        ip_len,
        bytes: bytes.get(..ip_len).unwrap_or(bytes),
        header_len: IPV6_HEADER,
        proto: h[6],
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
                let f = ip.field::<8>(ip.header_len, IP_LAYER)?;
                ip.header_len += 8;
                ip.proto = f[0];
                let offset = be16(f[2], f[3]) >> 3;
                let more = f[3] & 0x01 != 0;
                // RFC 6946: offset 0 without more fragments is an atomic fragment, i.e. a whole packet.
                if offset != 0 || more {
                    ip.fragment = Some(FragmentHeader {
                        key_proto: f[0],
                        id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                        later: offset != 0,
                        more,
                    });
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
    match (ip.proto, ip.addrs) {
        (IPPROTO_TCP, _) => {
            let h = ip.field::<TCP_MIN_HEADER>(at, TRANSPORT_LAYER)?;
            let data_offset = usize::from(h[12] >> 4) * 4;
            if data_offset < TCP_MIN_HEADER {
                return Err(DropReason::MalformedTransport);
            }
            ip.ensure(at.saturating_add(data_offset), TRANSPORT_LAYER)?;
            let tcp = TcpInfo {
                flags: h[13],
                window: be16(h[14], h[15]),
                seq: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                ack: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
            };
            Ok((Transport::Tcp { src_port: be16(h[0], h[1]), dst_port: be16(h[2], h[3]), tcp }, data_offset))
        }
        (IPPROTO_UDP, _) => {
            let h = ip.field::<UDP_HEADER>(at, TRANSPORT_LAYER)?;
            if usize::from(be16(h[4], h[5])) < UDP_HEADER {
                return Err(DropReason::MalformedTransport);
            }
            Ok((Transport::Udp { src_port: be16(h[0], h[1]), dst_port: be16(h[2], h[3]) }, UDP_HEADER))
        }
        (IPPROTO_ICMP, Addresses::V4(..)) | (IPPROTO_ICMPV6, Addresses::V6(..)) => {
            let h = ip.field::<ICMP_HEADER>(at, TRANSPORT_LAYER)?;
            let v6 = matches!(ip.addrs, Addresses::V6(..));
            let has_ident = if v6 { matches!(h[0], 128 | 129) } else { matches!(h[0], 0 | 8 | 13..=18) };
            let ident = if has_ident { be16(h[4], h[5]) } else { 0 };
            Ok((Transport::Icmp { icmp_type: h[0], code: h[1], ident, v6 }, ICMP_HEADER))
        }
        _ => Ok((Transport::Other, 0)),
    }
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

fn be16(hi: u8, lo: u8) -> u16 {
    u16::from_be_bytes([hi, lo])
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "decode_tests.rs"]
mod tests;
