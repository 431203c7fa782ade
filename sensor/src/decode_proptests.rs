//! Property tests of `decode`: arbitrary and damaged frames never panic, the length invariants hold,
//! every drop is counted, well-formed packets agree with etherparse's own parser, and the fragment
//! table behaves like a simple model. Uses the literal frames of the parent test module.

use proptest::prelude::*;

use super::*;

const LINKS: [LinkType; 6] = [
    LinkType::Ethernet,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::RawIp,
    LinkType::Null,
    LinkType::Other(147),
];

/// Frames of each link type whose headers are valid, to mutate.
fn templates() -> Vec<(LinkType, Vec<u8>)> {
    vec![
        (LinkType::Ethernet, ETH_IPV4_TCP_SYN.to_vec()),
        (LinkType::Ethernet, ETH_IPV4_TCP_DATA.to_vec()),
        (LinkType::Ethernet, ETH_VLAN_IPV4_UDP.to_vec()),
        (LinkType::Ethernet, ETH_QINQ_IPV4_UDP.to_vec()),
        (LinkType::Ethernet, ETH_IPV4_UDP_PADDED.to_vec()),
        (LinkType::LinuxSll, SLL_IPV4_UDP.to_vec()),
        (LinkType::LinuxSll2, SLL2_IPV6_UDP.to_vec()),
        (LinkType::RawIp, RAW_IPV4_ICMP_ECHO.to_vec()),
        (LinkType::RawIp, RAW_IPV6_TCP.to_vec()),
        (LinkType::RawIp, RAW_IPV6_ICMPV6_ECHO.to_vec()),
        (LinkType::RawIp, RAW_IPV4_OPTIONS_UDP.to_vec()),
        (LinkType::RawIp, RAW_IPV6_EXT_TCP.to_vec()),
        (LinkType::RawIp, RAW_IPV4_FRAG_FIRST.to_vec()),
        (LinkType::RawIp, RAW_IPV4_FRAG_MIDDLE.to_vec()),
        (LinkType::RawIp, RAW_IPV6_FRAG_FIRST.to_vec()),
        (LinkType::RawIp, RAW_IPV6_FRAG_LAST.to_vec()),
        (LinkType::Null, prefixed(&[0, 0, 0, 30], RAW_IPV6_EXT_TCP)),
    ]
}

/// What every decoded packet satisfies, whatever the input.
fn assert_invariants(pkt: &RawPacket<'_>, meta: &PacketMeta<'_>) {
    assert_eq!((meta.ts_ns, meta.wire_len), (pkt.ts_ns, pkt.orig_len));
    assert!(meta.header_len <= meta.ip_len, "{meta:?}");
    assert_eq!(meta.payload_len, meta.ip_len - meta.header_len);
    assert!(meta.payload.len() <= meta.payload_len as usize);
    if !meta.payload.is_empty() {
        let data = pkt.data.as_ptr_range();
        let payload = meta.payload.as_ptr_range();
        assert!(data.start <= payload.start && payload.end <= data.end);
    }
    let (min_ip, v6) = match meta.src {
        IpAddr::V4(_) => (20, false),
        IpAddr::V6(_) => (40, true),
    };
    assert_eq!(matches!(meta.dst, IpAddr::V6(_)), v6);
    assert!(meta.header_len >= min_ip);
    if meta.fragment != Fragment::Later {
        let transport_min = match meta.transport {
            Transport::Tcp { .. } => 20,
            Transport::Udp { .. } | Transport::Icmp { .. } => 8,
            Transport::Other => 0,
        };
        assert!(meta.header_len >= min_ip + transport_min);
        if let Transport::Icmp { v6: icmp_v6, .. } = meta.transport {
            assert_eq!(icmp_v6, v6);
        }
    }
    if pkt.link == LinkType::Ethernet && meta.vlan == 0 {
        assert!(pkt.data.len() >= 14 + min_ip as usize);
    }
}

/// Decodes `frames` with one decoder, checking invariants and that every drop is counted.
fn decode_all(frames: &[(LinkType, Vec<u8>, u32)], max_fragments: usize) {
    let mut decoder = Decoder::new(max_fragments);
    let mut expected = DropCounts::default();
    for (link, data, orig_len) in frames {
        let pkt = RawPacket { ts_ns: 5, orig_len: *orig_len, link: *link, data };
        match decoder.decode(&pkt) {
            Ok(meta) => assert_invariants(&pkt, &meta),
            Err(reason) => expected.count(reason),
        }
    }
    assert_eq!(decoder.drops(), &expected);
}

fn arb_link() -> impl Strategy<Value = LinkType> {
    prop_oneof![proptest::sample::select(LINKS.to_vec()), any::<u32>().prop_map(LinkType::from_linktype)]
}

fn arb_orig_len(len: usize) -> impl Strategy<Value = u32> {
    let len = u32::try_from(len).unwrap();
    prop_oneof![Just(len), len..=len.saturating_add(100_000), any::<u32>()]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(
        frames in proptest::collection::vec(
            (arb_link(), proptest::collection::vec(any::<u8>(), 0..160))
                .prop_flat_map(|(link, data)| { let n = data.len(); (Just(link), Just(data), arb_orig_len(n)) }),
            1..8,
        ),
        max_fragments in 0usize..4,
    ) {
        decode_all(&frames, max_fragments);
    }

    #[test]
    fn mutated_valid_frames_never_panic(
        picks in proptest::collection::vec(
            (
                0..templates().len(),
                proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
                any::<prop::sample::Index>(),
                any::<bool>(),
                any::<u32>(),
            ),
            1..12,
        ),
        max_fragments in 0usize..4,
    ) {
        let templates = templates();
        let frames: Vec<_> = picks
            .into_iter()
            .map(|(which, edits, cut, do_cut, orig_len)| {
                let (link, mut data) = templates[which].clone();
                for (at, byte) in edits {
                    let i = at.index(data.len());
                    data[i] = byte;
                }
                let full = u32::try_from(data.len()).unwrap();
                if do_cut {
                    data.truncate(cut.index(data.len() + 1));
                }
                let orig_len = if orig_len % 3 == 0 { orig_len } else { full };
                (link, data, orig_len)
            })
            .collect();
        decode_all(&frames, max_fragments);
    }

    /// Valid packets built by etherparse decode to what etherparse's own parser reads from them.
    #[test]
    fn agrees_with_etherparse_on_valid_packets(
        vlan in proptest::option::of(0u16..4096),
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        addrs in any::<([u8; 16], [u8; 16])>(),
        ports in any::<(u16, u16)>(),
        seq in any::<u32>(),
        window in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        snap in 34usize..200,
    ) {
        use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice, VlanId};
        let eth = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]);
        let mut frame = Vec::new();
        macro_rules! finish {
            ($ip:expr) => {
                if tcp {
                    $ip.tcp(ports.0, ports.1, seq, window).ack(7).psh().write(&mut frame, &payload).unwrap()
                } else {
                    $ip.udp(ports.0, ports.1).write(&mut frame, &payload).unwrap()
                }
            };
        }
        let src4 = [addrs.0[0], addrs.0[1], addrs.0[2], addrs.0[3]];
        let dst4 = [addrs.1[0], addrs.1[1], addrs.1[2], addrs.1[3]];
        match (vlan, v6) {
            (None, false) => finish!(eth.ipv4(src4, dst4, 64)),
            (None, true) => finish!(eth.ipv6(addrs.0, addrs.1, 64)),
            (Some(id), false) => finish!(eth.single_vlan(VlanId::try_new(id).unwrap()).ipv4(src4, dst4, 64)),
            (Some(id), true) => finish!(eth.single_vlan(VlanId::try_new(id).unwrap()).ipv6(addrs.0, addrs.1, 64)),
        }

        let reference = SlicedPacket::from_ethernet(&frame).unwrap();
        let net = reference.net.as_ref().unwrap();
        let (ref_src, ref_dst): (IpAddr, IpAddr) = match net {
            NetSlice::Ipv4(s) => (s.header().source_addr().into(), s.header().destination_addr().into()),
            NetSlice::Ipv6(s) => (s.header().source_addr().into(), s.header().destination_addr().into()),
            NetSlice::Arp(_) => panic!("built an IP packet"),
        };
        let ip_header_len = frame.len() - vlan.map_or(14, |_| 18) - net.ip_payload_ref().unwrap().payload.len();
        let (ref_transport, transport_len) = match reference.transport.as_ref().unwrap() {
            TransportSlice::Tcp(t) => (
                Transport::Tcp {
                    src_port: t.source_port(),
                    dst_port: t.destination_port(),
                    tcp: TcpInfo {
                        flags: t.slice()[13],
                        window: t.window_size(),
                        seq: t.sequence_number(),
                        ack: t.acknowledgment_number(),
                    },
                },
                t.header_len(),
            ),
            TransportSlice::Udp(u) => (Transport::Udp { src_port: u.source_port(), dst_port: u.destination_port() }, 8),
            other => panic!("{other:?}"),
        };

        let pkt = snapped(LinkType::Ethernet, &frame, snap.min(frame.len()));
        let result = Decoder::new(0).decode(&pkt);
        let headers_end = frame.len() - payload.len();
        if pkt.data.len() < headers_end {
            prop_assert!(result.is_err());
        } else {
            let meta = result.unwrap();
            prop_assert_eq!(meta.vlan, u32::from(vlan.unwrap_or(0)));
            prop_assert_eq!((meta.src, meta.dst), (ref_src, ref_dst));
            prop_assert_eq!(meta.transport, ref_transport);
            prop_assert_eq!(meta.header_len as usize, ip_header_len + transport_len);
            prop_assert_eq!(meta.payload_len as usize, payload.len());
            prop_assert_eq!(meta.payload, &payload[..pkt.data.len() - headers_end]);
        }
    }

    /// The fragment table behaves like a list of the last `capacity` new keys, minus forgotten ones.
    #[test]
    fn fragment_table_matches_model(
        capacity in 0usize..5,
        ops in proptest::collection::vec((0u8..3, 0u8..8, any::<u8>()), 0..64),
    ) {
        let key = |id: u8| FragmentKey { src: v4(1, 1, 1, 1), dst: v4(2, 2, 2, 2), id: u32::from(id), proto: 17 };
        let first = |tag: u8| FirstFragment { proto: tag, transport: Transport::Other };
        let mut table = FragmentTable::new(capacity);
        // (id, tag, insertion number) of live entries; `inserted` counts new keys.
        let mut model: Vec<(u8, u8, usize)> = Vec::new();
        let mut inserted = 0usize;
        for (op, id, tag) in ops {
            match op {
                0 => {
                    table.remember(key(id), first(tag));
                    if capacity > 0 {
                        if let Some(entry) = model.iter_mut().find(|e| e.0 == id) {
                            entry.1 = tag;
                        } else {
                            model.retain(|e| e.2 + capacity > inserted);
                            model.push((id, tag, inserted));
                            inserted += 1;
                        }
                    }
                }
                1 => {
                    table.forget(&key(id));
                    model.retain(|e| e.0 != id);
                }
                _ => {}
            }
            for probe in 0..8 {
                let expected = model.iter().find(|e| e.0 == probe).map(|e| first(e.1));
                prop_assert_eq!(table.recall(&key(probe)), expected);
            }
            prop_assert_eq!(table.len(), model.len());
            prop_assert!(table.len() <= capacity);
        }
    }
}
