//! Golden features: small captures built here from literal packets, run through
//! [`sensor::pipeline::run_file`], with every asserted feature value computed by hand in the comments.
//!
//! The TCP session is written byte for byte (IPv4 and TCP headers with their checksums); the other
//! flows carry literal DNS / ICMP payloads inside frames from [`ipv4_frame`]. Times are offsets in µs
//! from [`T0_NS`]; features are read by name through `flow_v1().index_of`.
//!
//! Conventions used in the comments: sizes are IP lengths; "std" is the sample standard deviation
//! (n − 1); a gap is the time since the previous packet (of the flow, or of the direction).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use sensor::capture::LinkType;
use sensor::capture::pcap_write::{PcapWriter, PcapngWriter, TsResolution};
use sensor::decode::DropReason;
use sensor::features::schema::flow_v1;
use sensor::flow::{EndReason, FlowRecord, FlowTableConfig, RecordKind};
use sensor::simulate::frame::{L4, ipv4_frame};

/// 2023-11-14T22:13:20Z.
const T0_NS: u64 = 1_700_000_000_000_000_000;

const CLIENT: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 20);
const SERVER: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 5);

// ---------------------------------------------------------------------------------------------------
// Feature access

fn feature(r: &FlowRecord, name: &str) -> f64 {
    let i = flow_v1().index_of(name).unwrap_or_else(|| panic!("no feature named {name} in flow-v1"));
    r.features[i]
}

/// Asserts each `(name, expected)`: NaN must be NaN; numbers must agree to 1e-9 relative (integers
/// are therefore exact: an error of 1 in 10^8 still fails).
fn assert_features(r: &FlowRecord, expected: &[(&str, f64)]) {
    for &(name, want) in expected {
        let got = feature(r, name);
        if want.is_nan() {
            assert!(got.is_nan(), "{name}: expected missing (NaN), got {got}");
        } else {
            let tolerance = 1e-9 * want.abs().max(1.0);
            assert!((got - want).abs() <= tolerance, "{name}: expected {want}, got {got}");
        }
    }
}

/// For values stored as `f32` in the flow state (entropies): agreement to 1e-6.
fn assert_f32_feature(r: &FlowRecord, name: &str, want: f64) {
    let got = feature(r, name);
    assert!((got - want).abs() < 1e-6, "{name}: expected {want}, got {got}");
}

fn assert_all_nan(r: &FlowRecord, names: &[&str]) {
    for name in names {
        let got = feature(r, name);
        assert!(got.is_nan(), "{name}: expected missing (NaN), got {got}");
    }
}

const TCP_FEATURES: &[&str] = &[
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

const DNS_FEATURES: &[&str] = &[
    "dns_query_count",
    "dns_qname_len_bytes",
    "dns_qname_label_count",
    "dns_qname_longest_label_bytes",
    "dns_qname_entropy_bits",
    "dns_qtype",
    "dns_response_count",
    "dns_rcode",
    "dns_answer_count",
    "dns_answer_bytes",
];

const ICMP_FEATURES: &[&str] = &[
    "icmp_payload_mean_bytes",
    "icmp_payload_max_bytes",
    "icmp_payload_entropy_mean_bits",
    "icmp_fwd_payload_bytes",
    "icmp_bwd_payload_bytes",
];

/// Equal feature vectors: the same bits everywhere, any NaN equal to any NaN.
fn assert_same_features(a: &FlowRecord, b: &FlowRecord, what: &str) {
    assert_eq!(a.features.len(), b.features.len());
    for (i, (x, y)) in a.features.iter().zip(&b.features).enumerate() {
        assert!(
            (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
            "{what}: feature {} differs: {x} vs {y}",
            flow_v1().names[i]
        );
    }
}

// ---------------------------------------------------------------------------------------------------
// Capture files

/// Packets as (time offset in µs from T0, original length, captured bytes).
type Frames = Vec<(u64, u32, Vec<u8>)>;

fn write_pcap(path: &Path, link: LinkType, snaplen: u32, frames: &[(u64, u32, Vec<u8>)]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapWriter::new(file, link, snaplen, TsResolution::Micro).unwrap();
    for (at_us, orig_len, data) in frames {
        w.write_packet(T0_NS + at_us * 1_000, *orig_len, data).unwrap();
    }
    w.into_inner().unwrap();
}

/// Runs a capture with default settings and returns its records; the capture must read cleanly.
fn run(path: &Path) -> (Vec<FlowRecord>, sensor::pipeline::RunSummary) {
    let (records, summary) = common::records_of(path);
    assert!(summary.capture_error.is_none(), "{}: {:?}", path.display(), summary.capture_error);
    (records, summary)
}

/// Ethernet frames from `ipv4_frame`, uncut, at µs offsets.
fn eth_frames(frames: Vec<(u64, Vec<u8>)>) -> Frames {
    frames.into_iter().map(|(at, f)| (at, f.len() as u32, f)).collect()
}

fn single_record(dir: &Path, name: &str, frames: Frames) -> FlowRecord {
    let path = dir.join(name);
    write_pcap(&path, LinkType::Ethernet, 65_535, &frames);
    let (mut records, summary) = run(&path);
    assert_eq!(records.len(), 1, "{name}: one flow, one final record: {records:?}");
    assert_eq!(summary.flow_stats.flows_created, 1);
    records.pop().unwrap()
}

// ---------------------------------------------------------------------------------------------------
// 1. The TCP session, literal bytes
//
// Client 192.168.10.20:49800 opens an SMB connection to server 192.168.10.5:445. The server's address
// is the lower one, so the flow key's `lo` endpoint is the responder: direction must come from who sent
// the first packet, not from key order. IPv4 without options (20 bytes), TCP without options (20
// bytes): every packet has 40 header bytes.
//
//  #  t (µs)  dir  flags     IP len  window
//  1      0   →   SYN           40   64240
//  2   1000   ←   SYN/ACK       40   65535
//  3   1500   →   ACK           40    1026
//  4   3500   →   PSH/ACK      140    1026   100 B payload
//  5   5500   ←   PSH/ACK      340    2053   300 B payload
//  6   6000   →   ACK           40    1025
//  7  10000   →   FIN/ACK       40    1025
//  8  11000   ←   FIN/ACK       40    2053
//  9  11500   →   ACK           40    1025

/// One packet of the session: µs offset, sender, the 40 header bytes, the payload.
struct SessionPacket {
    at_us: u64,
    from_client: bool,
    headers: [u8; 40],
    payload: &'static [u8],
}

const CLIENT_DATA: &[u8] = &[0x41; 100];
const SERVER_DATA: &[u8] = &[0x42; 300];

#[rustfmt::skip]
const SESSION: [SessionPacket; 9] = [
    SessionPacket { at_us: 0, from_client: true, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x10, 0x00, 0x40, 0x00, 0x80, 0x06, 0x55, 0x66, // IPv4, len 40, id 0x1000, DF, TTL 128, TCP, csum
        0xc0, 0xa8, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x05,                         // 192.168.10.20 → 192.168.10.5
        0xc2, 0x88, 0x01, 0xbd, 0x0a, 0x1b, 0x2c, 0x3d, 0x00, 0x00, 0x00, 0x00, // TCP 49800 → 445, seq 0x0a1b2c3d, ack 0
        0x50, 0x02, 0xfa, 0xf0, 0x24, 0xea, 0x00, 0x00,                         // offset 5, SYN, win 64240, csum, urg 0
    ]},
    SessionPacket { at_us: 1_000, from_client: false, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x20, 0x00, 0x40, 0x00, 0x80, 0x06, 0x45, 0x66, // IPv4, len 40, id 0x2000
        0xc0, 0xa8, 0x0a, 0x05, 0xc0, 0xa8, 0x0a, 0x14,                         // 192.168.10.5 → 192.168.10.20
        0x01, 0xbd, 0xc2, 0x88, 0x5e, 0x6f, 0x70, 0x81, 0x0a, 0x1b, 0x2c, 0x3e, // TCP 445 → 49800, seq 0x5e6f7081
        0x50, 0x12, 0xff, 0xff, 0x50, 0xd9, 0x00, 0x00,                         // SYN/ACK, win 65535
    ]},
    SessionPacket { at_us: 1_500, from_client: true, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x10, 0x01, 0x40, 0x00, 0x80, 0x06, 0x55, 0x65, // IPv4, len 40, id 0x1001
        0xc0, 0xa8, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x05,
        0xc2, 0x88, 0x01, 0xbd, 0x0a, 0x1b, 0x2c, 0x3e, 0x5e, 0x6f, 0x70, 0x82,
        0x50, 0x10, 0x04, 0x02, 0x4c, 0xd8, 0x00, 0x00,                         // ACK, win 1026
    ]},
    SessionPacket { at_us: 3_500, from_client: true, payload: CLIENT_DATA, headers: [
        0x45, 0x00, 0x00, 0x8c, 0x10, 0x02, 0x40, 0x00, 0x80, 0x06, 0x55, 0x00, // IPv4, len 140, id 0x1002
        0xc0, 0xa8, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x05,
        0xc2, 0x88, 0x01, 0xbd, 0x0a, 0x1b, 0x2c, 0x3e, 0x5e, 0x6f, 0x70, 0x82,
        0x50, 0x18, 0x04, 0x02, 0x8d, 0xad, 0x00, 0x00,                         // PSH/ACK, win 1026, then 100 × 'A'
    ]},
    SessionPacket { at_us: 5_500, from_client: false, payload: SERVER_DATA, headers: [
        0x45, 0x00, 0x01, 0x54, 0x20, 0x01, 0x40, 0x00, 0x80, 0x06, 0x44, 0x39, // IPv4, len 340, id 0x2001
        0xc0, 0xa8, 0x0a, 0x05, 0xc0, 0xa8, 0x0a, 0x14,
        0x01, 0xbd, 0xc2, 0x88, 0x5e, 0x6f, 0x70, 0x82, 0x0a, 0x1b, 0x2c, 0xa2,
        0x50, 0x18, 0x08, 0x05, 0x74, 0x6a, 0x00, 0x00,                         // PSH/ACK, win 2053, then 300 × 'B'
    ]},
    SessionPacket { at_us: 6_000, from_client: true, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x10, 0x03, 0x40, 0x00, 0x80, 0x06, 0x55, 0x63, // IPv4, len 40, id 0x1003
        0xc0, 0xa8, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x05,
        0xc2, 0x88, 0x01, 0xbd, 0x0a, 0x1b, 0x2c, 0xa2, 0x5e, 0x6f, 0x71, 0xae,
        0x50, 0x10, 0x04, 0x01, 0x4b, 0x49, 0x00, 0x00,                         // ACK, win 1025
    ]},
    SessionPacket { at_us: 10_000, from_client: true, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x10, 0x04, 0x40, 0x00, 0x80, 0x06, 0x55, 0x62, // IPv4, len 40, id 0x1004
        0xc0, 0xa8, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x05,
        0xc2, 0x88, 0x01, 0xbd, 0x0a, 0x1b, 0x2c, 0xa2, 0x5e, 0x6f, 0x71, 0xae,
        0x50, 0x11, 0x04, 0x01, 0x4b, 0x48, 0x00, 0x00,                         // FIN/ACK, win 1025
    ]},
    SessionPacket { at_us: 11_000, from_client: false, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x20, 0x02, 0x40, 0x00, 0x80, 0x06, 0x45, 0x64, // IPv4, len 40, id 0x2002
        0xc0, 0xa8, 0x0a, 0x05, 0xc0, 0xa8, 0x0a, 0x14,
        0x01, 0xbd, 0xc2, 0x88, 0x5e, 0x6f, 0x71, 0xae, 0x0a, 0x1b, 0x2c, 0xa3,
        0x50, 0x11, 0x08, 0x05, 0x47, 0x43, 0x00, 0x00,                         // FIN/ACK, win 2053
    ]},
    SessionPacket { at_us: 11_500, from_client: true, payload: &[], headers: [
        0x45, 0x00, 0x00, 0x28, 0x10, 0x05, 0x40, 0x00, 0x80, 0x06, 0x55, 0x61, // IPv4, len 40, id 0x1005
        0xc0, 0xa8, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x05,
        0xc2, 0x88, 0x01, 0xbd, 0x0a, 0x1b, 0x2c, 0xa3, 0x5e, 0x6f, 0x71, 0xaf,
        0x50, 0x10, 0x04, 0x01, 0x4b, 0x47, 0x00, 0x00,                         // ACK, win 1025
    ]},
];

/// What tshark 4.0 (`-e communityid --enable-protocol communityid`) prints for every packet of the
/// session.
const SESSION_COMMUNITY_ID: &str = "1:7bAhBI4lvBhzSs8LJ1X0TXelBi0=";

/// Link-layer framings of the session, as a capture on the client would record them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Ethernet,
    /// Ethernet with one 802.1Q tag, VLAN 100.
    EthernetVlan100,
    LinuxSll,
    LinuxSll2,
    RawIp,
}

// MACs: client 00:15:5d:0a:0a:14, server 00:15:5d:0a:0a:05.
#[rustfmt::skip]
const ETH_TO_SERVER: &[u8] = &[
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x05, 0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, // dst server, src client
    0x08, 0x00,                                                             // IPv4
];
#[rustfmt::skip]
const ETH_TO_CLIENT: &[u8] = &[
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, 0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x05, // dst client, src server
    0x08, 0x00,
];
#[rustfmt::skip]
const VLAN_TO_SERVER: &[u8] = &[
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x05, 0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14,
    0x81, 0x00, 0x00, 0x64, // 802.1Q, priority 0, VLAN 100
    0x08, 0x00,
];
#[rustfmt::skip]
const VLAN_TO_CLIENT: &[u8] = &[
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, 0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x05,
    0x81, 0x00, 0x00, 0x64,
    0x08, 0x00,
];
#[rustfmt::skip]
const SLL_OUTGOING: &[u8] = &[
    0x00, 0x04,                                     // packet type: sent by us
    0x00, 0x01,                                     // ARPHRD_ETHER
    0x00, 0x06,                                     // address length
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, 0x00, 0x00, // client MAC, padded to 8
    0x08, 0x00,                                     // protocol IPv4
];
#[rustfmt::skip]
const SLL_INCOMING: &[u8] = &[
    0x00, 0x00,                                     // packet type: to us
    0x00, 0x01,
    0x00, 0x06,
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x05, 0x00, 0x00, // server MAC
    0x08, 0x00,
];
#[rustfmt::skip]
const SLL2_OUTGOING: &[u8] = &[
    0x08, 0x00,                                     // protocol IPv4
    0x00, 0x00,                                     // reserved
    0x00, 0x00, 0x00, 0x02,                         // interface index 2
    0x00, 0x01,                                     // ARPHRD_ETHER
    0x04,                                           // packet type: sent by us
    0x06,                                           // address length
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, 0x00, 0x00, // client MAC
];
#[rustfmt::skip]
const SLL2_INCOMING: &[u8] = &[
    0x08, 0x00,
    0x00, 0x00,
    0x00, 0x00, 0x00, 0x02,
    0x00, 0x01,
    0x00,                                           // packet type: to us
    0x06,
    0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x05, 0x00, 0x00, // server MAC
];

impl Framing {
    fn link(self) -> LinkType {
        match self {
            Framing::Ethernet | Framing::EthernetVlan100 => LinkType::Ethernet,
            Framing::LinuxSll => LinkType::LinuxSll,
            Framing::LinuxSll2 => LinkType::LinuxSll2,
            Framing::RawIp => LinkType::RawIp,
        }
    }

    fn header(self, from_client: bool) -> &'static [u8] {
        match (self, from_client) {
            (Framing::Ethernet, true) => ETH_TO_SERVER,
            (Framing::Ethernet, false) => ETH_TO_CLIENT,
            (Framing::EthernetVlan100, true) => VLAN_TO_SERVER,
            (Framing::EthernetVlan100, false) => VLAN_TO_CLIENT,
            (Framing::LinuxSll, true) => SLL_OUTGOING,
            (Framing::LinuxSll, false) => SLL_INCOMING,
            (Framing::LinuxSll2, true) => SLL2_OUTGOING,
            (Framing::LinuxSll2, false) => SLL2_INCOMING,
            (Framing::RawIp, _) => &[],
        }
    }

    /// Frames received from the wire are padded to the Ethernet minimum (60 bytes without FCS, 64
    /// with a tag); frames the client sent are captured before the NIC pads them.
    fn received_min_len(self) -> usize {
        match self {
            Framing::Ethernet => 60,
            Framing::EthernetVlan100 => 64,
            _ => 0,
        }
    }
}

/// The session's frames in one framing.
fn session_frames(framing: Framing) -> Frames {
    SESSION
        .iter()
        .map(|p| {
            let mut frame = framing.header(p.from_client).to_vec();
            frame.extend_from_slice(&p.headers);
            frame.extend_from_slice(p.payload);
            if !p.from_client {
                frame.resize(frame.len().max(framing.received_min_len()), 0);
            }
            (p.at_us, frame.len() as u32, frame)
        })
        .collect()
}

fn write_session_pcap(path: &Path, framing: Framing, snaplen: u32) {
    write_pcap(path, framing.link(), snaplen, &session_frames(framing));
}

/// The Ethernet session in pcapng with nanosecond timestamps, each 999 ns after the µs of the pcap
/// version (features work in whole µs, so nothing may change).
fn write_session_pcapng_nano(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = PcapngWriter::new(file).unwrap();
    let iface = w.add_interface(LinkType::Ethernet, 0, TsResolution::Nano).unwrap();
    for (at_us, orig_len, data) in session_frames(Framing::Ethernet) {
        w.write_packet(iface, T0_NS + at_us * 1_000 + 999, orig_len, &data).unwrap();
    }
    w.into_inner().unwrap();
}

fn session_record(path: &Path) -> FlowRecord {
    let (mut records, summary) = run(path);
    assert_eq!(records.len(), 1, "{}: one flow, one final record: {records:?}", path.display());
    assert_eq!(summary.packets, 9);
    assert_eq!(summary.drops.total(), 0);
    records.pop().unwrap()
}

#[test]
fn tcp_session_every_feature_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session.pcap");
    write_session_pcap(&path, Framing::Ethernet, 65_535);
    let r = session_record(&path);

    assert_eq!((r.kind, r.reason, r.seq), (RecordKind::Final, EndReason::TcpFin, 0));
    assert_eq!((r.src_ip(), r.src_port()), (IpAddr::V4(CLIENT), 49800));
    assert_eq!((r.dst_ip(), r.dst_port()), (IpAddr::V4(SERVER), 445));
    assert!(!r.lo_is_initiator, "the server has the lower address");
    assert_eq!((r.start_ns, r.end_ns), (T0_NS, T0_NS + 11_500_000));
    assert_eq!((r.fwd_packets, r.bwd_packets), (6, 3));
    // Frames: → 5 × 54 + 154 = 424; ← SYN/ACK and FIN/ACK padded 54 → 60, data 354: 474.
    assert_eq!((r.fwd_wire_bytes, r.bwd_wire_bytes), (424, 474));
    assert_eq!(r.community_id(), SESSION_COMMUNITY_ID);

    // Forward sizes 40, 40, 140, 40, 40, 40; backward 40, 340, 40.
    // fwd: sum 340, mean 340/6; Σx² = 5·1600 + 19600 = 27600, Σx²−(Σx)²/n = 27600 − 115600/6 = 25000/3,
    //      std = √(25000/3 / 5) = √(5000/3) ≈ 40.82.
    // bwd: sum 420, mean 140, deviations −100, 200, −100 → std = √(60000/2) = √30000 ≈ 173.2.
    // all: sum 760, mean 760/9; Σx² = 27600 + 118800 = 146400, minus 577600/9 = 740000/9,
    //      std = √(740000/9 / 8) = √(92500/9) ≈ 101.38.
    // Flow gaps (µs): 1000, 500, 2000, 2000, 500, 4000, 1000, 500: sum 11500, mean 1437.5; squared
    //      deviations sum to 10218750, std = √(10218750/7) ≈ 1208.2.
    // Forward times 0, 1500, 3500, 6000, 10000, 11500: gaps 1500, 2000, 2500, 4000, 1500, total
    //      11500, mean 2300, deviations −800, −300, 200, 1700, −800 → std = √(4300000/4) ≈ 1036.8.
    // Backward times 1000, 5500, 11000: gaps 4500, 5500, total 10000, mean 5000, std = √500000.
    // No gap > 5 s: one active period of the whole 11500 µs, no idle period; no gap > 1 s: 1 subflow.
    // Rates over 0.0115 s: 760 B → 66086.96 B/s; 9, 6, 3 packets → 782.6, 521.7, 260.9 per s.
    // Flags (each counted once per packet): FIN on #7, #8 → 2; SYN on #1, #2 → 2; ACK on all but #1
    //      → 8; PSH on #4 (→) and #5 (←). Initial windows: SYN 64240 and SYN/ACK 65535 (the server's
    //      later window, 2053, must not replace it).
    // Bulk: one forward data packet, no run of 4 → no bulk (0, 0, 0, rate missing).
    // Early packets: sizes 40 40 40 140 340 40 40 40, directions + − + + − + + −, gaps of packets
    //      2..8: 1000 500 2000 2000 500 4000 1000.
    // Service: TCP to 445, an admin port. DNS and ICMP: missing.
    let sec = 11_500.0 / 1e6;
    #[rustfmt::skip]
    let expected: &[(&str, f64)] = &[
        ("fwd_packets", 6.0), ("bwd_packets", 3.0),
        ("fwd_bytes", 340.0), ("bwd_bytes", 420.0),
        ("fwd_payload_bytes", 100.0), ("bwd_payload_bytes", 300.0),
        ("fwd_header_bytes", 240.0), ("bwd_header_bytes", 120.0),
        ("fwd_pkt_len_min_bytes", 40.0), ("fwd_pkt_len_max_bytes", 140.0),
        ("fwd_pkt_len_mean_bytes", 340.0 / 6.0), ("fwd_pkt_len_std_bytes", (5000.0f64 / 3.0).sqrt()),
        ("bwd_pkt_len_min_bytes", 40.0), ("bwd_pkt_len_max_bytes", 340.0),
        ("bwd_pkt_len_mean_bytes", 140.0), ("bwd_pkt_len_std_bytes", 30_000f64.sqrt()),
        ("pkt_len_min_bytes", 40.0), ("pkt_len_max_bytes", 340.0),
        ("pkt_len_mean_bytes", 760.0 / 9.0), ("pkt_len_std_bytes", (92_500.0f64 / 9.0).sqrt()),
        ("fwd_payload_mean_bytes", 100.0 / 6.0), ("bwd_payload_mean_bytes", 100.0),
        ("down_up_packet_ratio", 0.5),
        ("duration_us", 11_500.0),
        ("flow_iat_min_us", 500.0), ("flow_iat_max_us", 4_000.0),
        ("flow_iat_mean_us", 1_437.5), ("flow_iat_std_us", (10_218_750.0f64 / 7.0).sqrt()),
        ("fwd_iat_total_us", 11_500.0), ("fwd_iat_min_us", 1_500.0), ("fwd_iat_max_us", 4_000.0),
        ("fwd_iat_mean_us", 2_300.0), ("fwd_iat_std_us", 1_075_000f64.sqrt()),
        ("bwd_iat_total_us", 10_000.0), ("bwd_iat_min_us", 4_500.0), ("bwd_iat_max_us", 5_500.0),
        ("bwd_iat_mean_us", 5_000.0), ("bwd_iat_std_us", 500_000f64.sqrt()),
        ("active_min_us", 11_500.0), ("active_max_us", 11_500.0),
        ("active_mean_us", 11_500.0), ("active_std_us", 0.0),
        ("idle_min_us", f64::NAN), ("idle_max_us", f64::NAN),
        ("idle_mean_us", f64::NAN), ("idle_std_us", f64::NAN),
        ("subflow_count", 1.0),
        ("bytes_per_s", 760.0 / sec), ("packets_per_s", 9.0 / sec),
        ("fwd_packets_per_s", 6.0 / sec), ("bwd_packets_per_s", 3.0 / sec),
        ("subflow_fwd_packets_mean", 6.0), ("subflow_fwd_bytes_mean", 340.0),
        ("subflow_bwd_packets_mean", 3.0), ("subflow_bwd_bytes_mean", 420.0),
        ("fin_count", 2.0), ("syn_count", 2.0), ("rst_count", 0.0), ("ack_count", 8.0),
        ("cwr_count", 0.0), ("ece_count", 0.0), ("psh_count", 2.0), ("urg_count", 0.0),
        ("fwd_psh_count", 1.0), ("bwd_psh_count", 1.0), ("fwd_urg_count", 0.0), ("bwd_urg_count", 0.0),
        ("fwd_init_win_bytes", 64_240.0), ("bwd_init_win_bytes", 65_535.0),
        ("fwd_data_packets", 1.0),
        ("fwd_bulk_count", 0.0), ("fwd_bulk_bytes_mean", 0.0),
        ("fwd_bulk_packets_mean", 0.0), ("fwd_bulk_rate_bytes_per_s", f64::NAN),
        ("bwd_bulk_count", 0.0), ("bwd_bulk_bytes_mean", 0.0),
        ("bwd_bulk_packets_mean", 0.0), ("bwd_bulk_rate_bytes_per_s", f64::NAN),
        ("early_1_size_bytes", 40.0), ("early_2_size_bytes", 40.0), ("early_3_size_bytes", 40.0),
        ("early_4_size_bytes", 140.0), ("early_5_size_bytes", 340.0), ("early_6_size_bytes", 40.0),
        ("early_7_size_bytes", 40.0), ("early_8_size_bytes", 40.0),
        ("early_1_direction", 1.0), ("early_2_direction", -1.0), ("early_3_direction", 1.0),
        ("early_4_direction", 1.0), ("early_5_direction", -1.0), ("early_6_direction", 1.0),
        ("early_7_direction", 1.0), ("early_8_direction", -1.0),
        ("early_2_iat_us", 1_000.0), ("early_3_iat_us", 500.0), ("early_4_iat_us", 2_000.0),
        ("early_5_iat_us", 2_000.0), ("early_6_iat_us", 500.0), ("early_7_iat_us", 4_000.0),
        ("early_8_iat_us", 1_000.0),
        ("proto_tcp", 1.0), ("proto_udp", 0.0), ("proto_icmp", 0.0),
        ("dst_port_admin", 1.0), ("dst_port_web", 0.0), ("dst_port_dns", 0.0),
        ("dst_port_directory", 0.0), ("dst_port_other_system", 0.0),
        ("dst_port_registered", 0.0), ("dst_port_dynamic", 0.0),
        ("dns_query_count", f64::NAN), ("dns_qname_len_bytes", f64::NAN),
        ("dns_qname_label_count", f64::NAN), ("dns_qname_longest_label_bytes", f64::NAN),
        ("dns_qname_entropy_bits", f64::NAN), ("dns_qtype", f64::NAN),
        ("dns_response_count", f64::NAN), ("dns_rcode", f64::NAN),
        ("dns_answer_count", f64::NAN), ("dns_answer_bytes", f64::NAN),
        ("icmp_payload_mean_bytes", f64::NAN), ("icmp_payload_max_bytes", f64::NAN),
        ("icmp_payload_entropy_mean_bits", f64::NAN), ("icmp_fwd_payload_bytes", f64::NAN),
        ("icmp_bwd_payload_bytes", f64::NAN),
    ];
    // A golden vector: every feature of the schema has its hand-computed value above.
    let mut listed: Vec<&str> = expected.iter().map(|(n, _)| *n).collect();
    listed.sort_unstable();
    let mut schema: Vec<&str> = flow_v1().names.iter().map(String::as_str).collect();
    schema.sort_unstable();
    assert_eq!(listed, schema, "the golden table must list every flow-v1 feature exactly once");
    assert_features(&r, expected);
}

// ---------------------------------------------------------------------------------------------------
// 7, 8, 9. The same session in other link types, formats and snap lengths, and with undecodable frames

#[test]
fn link_types_and_formats_give_identical_features() {
    let dir = tempfile::tempdir().unwrap();
    let reference_path = dir.path().join("ethernet.pcap");
    write_session_pcap(&reference_path, Framing::Ethernet, 65_535);
    let reference = session_record(&reference_path);

    // (name, capture, expected vlan, expected forward and backward wire bytes). IP bytes are 340 → and
    // 420 ←; each frame adds its link header (VLAN 18, cooked v1 16, cooked v2 20, raw 0), and the two
    // short frames from the server are padded to 64 bytes with a VLAN tag (58 + 6 each, so ← gets 12).
    let mut variants: Vec<(&str, PathBuf, u32, (u64, u64))> = Vec::new();
    for (name, framing, vlan, wire) in [
        ("vlan.pcap", Framing::EthernetVlan100, 100, (340 + 6 * 18, 420 + 3 * 18 + 12)),
        ("sll.pcap", Framing::LinuxSll, 0, (340 + 6 * 16, 420 + 3 * 16)),
        ("sll2.pcap", Framing::LinuxSll2, 0, (340 + 6 * 20, 420 + 3 * 20)),
        ("raw.pcap", Framing::RawIp, 0, (340, 420)),
    ] {
        let path = dir.path().join(name);
        write_session_pcap(&path, framing, 65_535);
        variants.push((name, path, vlan, wire));
    }
    let pcapng = dir.path().join("ethernet-nano.pcapng");
    write_session_pcapng_nano(&pcapng);
    variants.push(("ethernet-nano.pcapng", pcapng, 0, (424, 474)));

    for (name, path, vlan, wire) in variants {
        let r = session_record(&path);
        assert_same_features(&reference, &r, name);
        assert_eq!(r.key.vlan, vlan, "{name}: vlan");
        assert_eq!((r.fwd_wire_bytes, r.bwd_wire_bytes), wire, "{name}: wire bytes");
        // Everything else is the same; the flow id hashes the VLAN and the exact start time, so it
        // differs with the tag and with the pcapng copy's extra 999 ns.
        assert_eq!((r.kind, r.reason, r.seq), (reference.kind, reference.reason, reference.seq), "{name}");
        // Same µs (the pcapng times are 999 ns later).
        assert_eq!((r.start_ns / 1_000, r.end_ns / 1_000), (T0_NS / 1_000, (T0_NS + 11_500_000) / 1_000), "{name}");
        // Record times keep the capture's nanoseconds.
        let extra_ns = if name.ends_with(".pcapng") { 999 } else { 0 };
        assert_eq!((r.start_ns, r.end_ns), (T0_NS + extra_ns, T0_NS + 11_500_000 + extra_ns), "{name}: exact times");
        assert_eq!((r.fwd_packets, r.bwd_packets), (6, 3), "{name}");
        assert_eq!(
            (r.src_ip(), r.src_port(), r.dst_ip(), r.dst_port()),
            (IpAddr::V4(CLIENT), 49800, IpAddr::V4(SERVER), 445)
        );
        assert_eq!(r.community_id(), SESSION_COMMUNITY_ID, "{name}");
        assert_eq!(r.flow_id == reference.flow_id, vlan == 0 && r.start_ns == reference.start_ns, "{name}: flow id");
    }
}

#[test]
fn snap_length_keeps_ip_level_features_and_wire_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let full_path = dir.path().join("full.pcap");
    write_session_pcap(&full_path, Framing::Ethernet, 65_535);
    let cut_path = dir.path().join("snap64.pcap");
    write_session_pcap(&cut_path, Framing::Ethernet, 64);
    // The two data frames (154 and 354 bytes) are captured as 64 bytes: 14 + 40 headers + 10 payload.
    let cut_size = std::fs::metadata(&cut_path).unwrap().len();
    let full_size = std::fs::metadata(&full_path).unwrap().len();
    assert_eq!(full_size - cut_size, (154 - 64) + (354 - 64), "the writer did not cut the data frames");

    let full = session_record(&full_path);
    let cut = session_record(&cut_path);
    assert_same_features(&full, &cut, "snap length 64");
    assert_eq!(feature(&cut, "fwd_payload_bytes"), 100.0);
    assert_eq!(feature(&cut, "bwd_pkt_len_max_bytes"), 340.0);
    assert_eq!((cut.fwd_wire_bytes, cut.bwd_wire_bytes), (424, 474));
    assert_eq!(cut.flow_id, full.flow_id);
}

#[test]
fn undecodable_frames_are_counted_by_reason_and_make_no_flow() {
    #[rustfmt::skip]
    let arp_request: Vec<u8> = vec![
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, // broadcast, from client
        0x08, 0x06,                                                             // ARP
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01,                         // Ethernet/IPv4, request
        0x00, 0x15, 0x5d, 0x0a, 0x0a, 0x14, 0xc0, 0xa8, 0x0a, 0x14,             // sender client
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xa8, 0x0a, 0x05,             // target 192.168.10.5
    ];
    // A 54-byte frame of which 24 bytes were captured: the capture ends 10 bytes into the IPv4 header,
    // before the addresses.
    let mut cut_in_ip = ETH_TO_SERVER.to_vec();
    cut_in_ip.extend_from_slice(&SESSION[5].headers[..10]);

    let mut frames = session_frames(Framing::Ethernet);
    frames.insert(2, (1_200, arp_request.len() as u32, arp_request));
    frames.insert(5, (4_000, 54, cut_in_ip));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("with-drops.pcap");
    write_pcap(&path, LinkType::Ethernet, 65_535, &frames);
    let clean_path = dir.path().join("clean.pcap");
    write_session_pcap(&clean_path, Framing::Ethernet, 65_535);

    let (records, summary) = run(&path);
    assert_eq!(summary.packets, 11);
    assert_eq!(summary.drops.get(DropReason::NonIp), 1);
    assert_eq!(summary.drops.get(DropReason::TruncatedIp), 1);
    assert_eq!(summary.drops.total(), 2);
    assert_eq!(summary.flow_stats.flows_created, 1);
    assert_eq!(summary.flow_stats.packets, 9, "only decoded packets reach the flow table");
    assert_eq!(records.len(), 1);
    let clean = session_record(&clean_path);
    assert_same_features(&clean, &records[0], "with undecodable frames");
    assert_eq!((records[0].fwd_wire_bytes, records[0].bwd_wire_bytes), (424, 474));
    assert!(summary.line().contains("2 undecodable (non_ip=1 truncated_ip=1)"), "{}", summary.line());
}

// ---------------------------------------------------------------------------------------------------
// 2. DNS over UDP

/// Query for `DB01.corp.Example` AAAA, id 0xbeef, RD: 12 + 19 + 4 = 35 bytes.
#[rustfmt::skip]
const DNS_QUERY_AAAA: &[u8] = &[
    0xbe, 0xef, 0x01, 0x00,                         // id, flags: query, RD
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // QD 1, AN 0, NS 0, AR 0
    0x04, b'D', b'B', b'0', b'1',                   // offset 12
    0x04, b'c', b'o', b'r', b'p',                   // offset 17
    0x07, b'E', b'x', b'a', b'm', b'p', b'l', b'e',  // offset 22
    0x00,
    0x00, 0x1c, 0x00, 0x01,                         // QTYPE AAAA (28), class IN
];

/// Its answer: header, the question again, one AAAA record of 2 + 10 + 16 = 28 bytes; 63 bytes.
#[rustfmt::skip]
const DNS_RESPONSE_AAAA: &[u8] = &[
    0xbe, 0xef, 0x81, 0x80,                         // response, RD, RA, RCODE 0
    0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, // QD 1, AN 1
    0x04, b'D', b'B', b'0', b'1', 0x04, b'c', b'o', b'r', b'p',
    0x07, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 0x00,
    0x00, 0x1c, 0x00, 0x01,
    0xc0, 0x0c,                                     // name: pointer to offset 12
    0x00, 0x1c, 0x00, 0x01,                         // AAAA, IN
    0x00, 0x00, 0x00, 0x3c, 0x00, 0x10,             // TTL 60, RDLENGTH 16
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // 2001:db8::10
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
];

/// Query for `x.corp.Example` TXT, id 0x0bad: 12 + 16 + 4 = 32 bytes.
#[rustfmt::skip]
const DNS_QUERY_TXT: &[u8] = &[
    0x0b, 0xad, 0x01, 0x00,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x01, b'x',                                     // offset 12
    0x04, b'c', b'o', b'r', b'p',                   // offset 14
    0x07, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 0x00,
    0x00, 0x10, 0x00, 0x01,                         // TXT (16), IN
];

/// NXDOMAIN for it: no answer, one SOA in the authority section (2 + 10 + 38 = 50 bytes); 82 bytes.
#[rustfmt::skip]
const DNS_RESPONSE_NXDOMAIN: &[u8] = &[
    0x0b, 0xad, 0x81, 0x83,                         // response, RD, RA, RCODE 3 (NXDOMAIN)
    0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, // QD 1, AN 0, NS 1
    0x01, b'x', 0x04, b'c', b'o', b'r', b'p',
    0x07, b'E', b'x', b'a', b'm', b'p', b'l', b'e', 0x00,
    0x00, 0x10, 0x00, 0x01,
    0xc0, 0x0e,                                     // name: pointer to offset 14 (corp.Example)
    0x00, 0x06, 0x00, 0x01,                         // SOA, IN
    0x00, 0x00, 0x03, 0x84, 0x00, 0x26,             // TTL 900, RDLENGTH 38
    0x02, b'n', b's', 0xc0, 0x0e,                   // MNAME ns.corp.Example
    0x0a, b'h', b'o', b's', b't', b'm', b'a', b's', b't', b'e', b'r', 0xc0, 0x0e, // RNAME
    0x78, 0x49, 0x1c, 0x01, 0x00, 0x00, 0x1c, 0x20, // serial, refresh
    0x00, 0x00, 0x0e, 0x10, 0x00, 0x09, 0x3a, 0x80, // retry, expire
    0x00, 0x00, 0x0e, 0x10,                         // minimum
];

const RESOLVER: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 1);
/// tshark's Community ID of 192.168.10.20:53124 ↔ 192.168.10.1:53 over UDP.
const DNS_COMMUNITY_ID: &str = "1:wclMUiT/8f97dtI5u9c5CbOT54M=";

fn udp_frame(src: Ipv4Addr, dst: Ipv4Addr, sp: u16, dp: u16, ip_id: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    ipv4_frame(&mut f, src, dst, ip_id, L4::Udp { src_port: sp, dst_port: dp }, payload);
    f
}

#[test]
fn dns_query_and_response_over_udp() {
    assert_eq!((DNS_QUERY_AAAA.len(), DNS_RESPONSE_AAAA.len()), (35, 63));
    assert_eq!((DNS_QUERY_TXT.len(), DNS_RESPONSE_NXDOMAIN.len()), (32, 82));
    let frames = eth_frames(vec![
        (0, udp_frame(CLIENT, RESOLVER, 53124, 53, 1, DNS_QUERY_AAAA)),
        (20_000, udp_frame(RESOLVER, CLIENT, 53, 53124, 2, DNS_RESPONSE_AAAA)),
        (50_000, udp_frame(CLIENT, RESOLVER, 53125, 53, 3, DNS_QUERY_TXT)),
        (70_000, udp_frame(RESOLVER, CLIENT, 53, 53125, 4, DNS_RESPONSE_NXDOMAIN)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dns.pcap");
    write_pcap(&path, LinkType::Ethernet, 65_535, &frames);
    let (records, _) = run(&path);
    assert_eq!(records.len(), 2);
    let by_port = |port: u16| records.iter().find(|r| r.src_port() == port).expect("a flow per query");

    // DB01.corp.Example: 4 + 4 + 7 = 15 characters and 2 dots → 17; 3 labels, the longest 7.
    // Entropy over the 15 characters, case folded: "db01corpexample" has p ×2, e ×2 (E and e), 11
    // others once: H = 2·(2/15)·log2(15/2) + 11·(1/15)·log2 15
    //   = (4/15)·2.9068906 + (11/15)·3.9068906 = 0.7751708 + 2.8650531 = 3.6402239 bits.
    // (Without case folding it would be 3.7735573.)
    // Answer section: one AAAA record, 2 + 10 + 16 = 28 bytes.
    let aaaa = by_port(53124);
    assert_eq!(aaaa.community_id(), DNS_COMMUNITY_ID);
    assert_eq!((aaaa.dst_ip(), aaaa.dst_port()), (IpAddr::V4(RESOLVER), 53));
    assert_features(
        aaaa,
        &[
            ("dns_query_count", 1.0),
            ("dns_qname_len_bytes", 17.0),
            ("dns_qname_label_count", 3.0),
            ("dns_qname_longest_label_bytes", 7.0),
            ("dns_qtype", 28.0),
            ("dns_response_count", 1.0),
            ("dns_rcode", 0.0),
            ("dns_answer_count", 1.0),
            ("dns_answer_bytes", 28.0),
            // UDP: 20 + 8 header bytes each way; payloads 35 and 63.
            ("fwd_bytes", 63.0),
            ("bwd_bytes", 91.0),
            ("fwd_header_bytes", 28.0),
            ("bwd_header_bytes", 28.0),
            ("fwd_payload_bytes", 35.0),
            ("bwd_payload_bytes", 63.0),
            ("duration_us", 20_000.0),
            ("proto_udp", 1.0),
            ("proto_tcp", 0.0),
            ("dst_port_dns", 1.0),
            ("dst_port_dynamic", 0.0),
        ],
    );
    assert_f32_feature(aaaa, "dns_qname_entropy_bits", 3.640_223_93);
    assert_all_nan(aaaa, TCP_FEATURES);
    assert_all_nan(aaaa, ICMP_FEATURES);

    // x.corp.Example: 1 + 4 + 7 = 12 characters, 2 dots → 14; 3 labels, the longest 7.
    // "xcorpexample": x, p, e twice each, c o r a m l once: H = 3·(2/12)·log2 6 + 6·(1/12)·log2 12
    //   = 0.5·2.5849625 + 0.5·3.5849625 = 3.0849625 bits.
    // NXDOMAIN: RCODE 3, no answer; the SOA is in the authority section, so the answer section is 0 bytes.
    let nxdomain = by_port(53125);
    assert_features(
        nxdomain,
        &[
            ("dns_query_count", 1.0),
            ("dns_qname_len_bytes", 14.0),
            ("dns_qname_label_count", 3.0),
            ("dns_qname_longest_label_bytes", 7.0),
            ("dns_qtype", 16.0),
            ("dns_response_count", 1.0),
            ("dns_rcode", 3.0),
            ("dns_answer_count", 0.0),
            ("dns_answer_bytes", 0.0),
        ],
    );
    assert_f32_feature(nxdomain, "dns_qname_entropy_bits", 3.084_962_5);
    assert_all_nan(nxdomain, TCP_FEATURES);
}

// ---------------------------------------------------------------------------------------------------
// 3. ICMP echo

const PINGED: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 9);
/// tshark's Community ID of the echo exchange 192.168.10.20 ↔ 192.168.10.9 (type 8/0, code 0).
const ICMP_COMMUNITY_ID: &str = "1:otx4nv4l4wJt1EJCV3sl3+7OmDY=";

/// A Linux ping payload: a 16-byte `struct timeval` (tv_sec 0x6553f100 little-endian, tv_usec 0),
/// then the bytes 0x10..=0x37.
fn ping_payload() -> Vec<u8> {
    #[rustfmt::skip]
    let mut p = vec![
        0x00, 0xf1, 0x53, 0x65, 0x00, 0x00, 0x00, 0x00, // tv_sec
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // tv_usec
    ];
    p.extend(0x10..=0x37u8);
    p
}

#[test]
fn icmp_echo_request_and_reply_share_one_flow() {
    let payload = ping_payload();
    assert_eq!(payload.len(), 56);
    let echo = |src, dst, icmp_type, ip_id| {
        let mut f = Vec::new();
        ipv4_frame(&mut f, src, dst, ip_id, L4::IcmpEcho { icmp_type, ident: 0x1234, seq: 1 }, &payload);
        f
    };
    let frames = eth_frames(vec![(0, echo(CLIENT, PINGED, 8, 7)), (300, echo(PINGED, CLIENT, 0, 8))]);
    let dir = tempfile::tempdir().unwrap();
    let r = single_record(dir.path(), "ping.pcap", frames);

    assert_eq!((r.fwd_packets, r.bwd_packets), (1, 1), "the reply joins the request's flow");
    assert_eq!((r.src_ip(), r.dst_ip()), (IpAddr::V4(CLIENT), IpAddr::V4(PINGED)));
    // ICMP "ports": type 8 << 8 | code 0, and the identifier.
    assert_eq!((r.src_port(), r.dst_port()), (0x0800, 0x1234));
    assert_eq!(r.community_id(), ICMP_COMMUNITY_ID);
    // Each payload is 56 bytes: 13 zero bytes (5 in tv_sec, 8 in tv_usec) and 43 distinct others
    // (0xf1, 0x53, 0x65, 0x10..=0x37). H = (13/56)·log2(56/13) + 43·(1/56)·log2 56
    //   = 0.2321429·2.1069114 + 0.7678571·5.8073549 = 0.4891044 + 4.4592189 = 4.9483243 bits;
    // the same for the reply, so the mean is 4.9483243.
    assert_features(
        &r,
        &[
            ("icmp_payload_mean_bytes", 56.0),
            ("icmp_payload_max_bytes", 56.0),
            ("icmp_fwd_payload_bytes", 56.0),
            ("icmp_bwd_payload_bytes", 56.0),
            // IP 20 + ICMP 8 + 56 = 84 bytes each way.
            ("fwd_bytes", 84.0),
            ("bwd_bytes", 84.0),
            ("fwd_header_bytes", 28.0),
            ("fwd_payload_bytes", 56.0),
            ("duration_us", 300.0),
            ("proto_icmp", 1.0),
            ("proto_tcp", 0.0),
            ("proto_udp", 0.0),
            ("dst_port_admin", 0.0),
            ("dst_port_web", 0.0),
            ("dst_port_dns", 0.0),
            ("dst_port_directory", 0.0),
            ("dst_port_other_system", 0.0),
            ("dst_port_registered", 0.0),
            ("dst_port_dynamic", 0.0),
        ],
    );
    assert_f32_feature(&r, "icmp_payload_entropy_mean_bits", 4.948_324_27);
    assert_all_nan(&r, TCP_FEATURES);
    assert_all_nan(&r, DNS_FEATURES);
}

// ---------------------------------------------------------------------------------------------------
// 4. Bulk

#[test]
fn forward_bulk_of_six_segments() {
    const WEB: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 7);
    let (cport, sport) = (49_900u16, 8080u16);
    let mut id = 0u16;
    let mut tcp = |from_client: bool, flags: u8, payload_len: usize| {
        id += 1;
        let (src, dst, sp, dp) = if from_client { (CLIENT, WEB, cport, sport) } else { (WEB, CLIENT, sport, cport) };
        let mut f = Vec::new();
        let l4 = L4::Tcp { src_port: sp, dst_port: dp, seq: 0, ack: 0, flags, window: 8192, options: &[] };
        ipv4_frame(&mut f, src, dst, id, l4, &vec![0x5a; payload_len]);
        f
    };
    const SYN: u8 = 0x02;
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    // Handshake, then six 1000-byte segments 100 ms apart (100..600 ms) with two pure ACKs from the
    // server between them, then after a 1.4 s pause three more segments 100 ms apart.
    let mut frames = vec![(0, tcp(true, SYN, 0)), (1_000, tcp(false, SYN | ACK, 0)), (2_000, tcp(true, ACK, 0))];
    for k in 1..=6u64 {
        frames.push((k * 100_000, tcp(true, PSH_ACK, 1000)));
        if k == 3 || k == 6 {
            frames.push((k * 100_000 + 50_000, tcp(false, ACK, 0)));
        }
    }
    for k in 0..3u64 {
        frames.push((2_000_000 + k * 100_000, tcp(true, PSH_ACK, 1000)));
    }
    let dir = tempfile::tempdir().unwrap();
    let r = single_record(dir.path(), "bulk.pcap", eth_frames(frames));

    // Segments 1–4 (100–400 ms) make a bulk; the server's ACKs carry no data and do not break it;
    // segments 5 and 6 extend it: 6 packets, 6000 payload bytes, gaps 5 × 100 ms = 0.5 s inside it,
    // so 6000 / 0.5 = 12000 B/s. The 1.4 s pause (≥ 1 s) ends the run; the last three segments are a
    // run of 3 < 4, no second bulk. Forward data packets: 6 + 3 = 9. Nothing backward.
    assert_features(
        &r,
        &[
            ("fwd_data_packets", 9.0),
            ("fwd_bulk_count", 1.0),
            ("fwd_bulk_bytes_mean", 6000.0),
            ("fwd_bulk_packets_mean", 6.0),
            ("fwd_bulk_rate_bytes_per_s", 12_000.0),
            ("bwd_bulk_count", 0.0),
            ("bwd_bulk_bytes_mean", 0.0),
            ("bwd_bulk_packets_mean", 0.0),
            ("bwd_bulk_rate_bytes_per_s", f64::NAN),
            ("fwd_packets", 11.0),
            ("bwd_packets", 3.0),
            ("fwd_payload_bytes", 9000.0),
            ("bwd_payload_bytes", 0.0),
            ("dst_port_web", 1.0),
        ],
    );
    assert_eq!(r.reason, EndReason::EndOfCapture);
}

// ---------------------------------------------------------------------------------------------------
// 5. Active and idle periods, subflows

#[test]
fn active_idle_periods_and_subflows_of_a_udp_flow() {
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 3);
    let dgram = |from_client: bool, ip_id: u16| {
        let (src, dst, sp, dp) = if from_client { (CLIENT, PEER, 40_000, 9999) } else { (PEER, CLIENT, 9999, 40_000) };
        udp_frame(src, dst, sp, dp, ip_id, &[0x33; 100])
    };
    // → 0 ms, ← 200, → 500 | 6 s silence | → 6500, ← 6600 | 1.5 s | → 8100. Each datagram 128 bytes.
    let frames = eth_frames(vec![
        (0, dgram(true, 1)),
        (200_000, dgram(false, 2)),
        (500_000, dgram(true, 3)),
        (6_500_000, dgram(true, 4)),
        (6_600_000, dgram(false, 5)),
        (8_100_000, dgram(true, 6)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let r = single_record(dir.path(), "idle.pcap", frames);

    // Gaps 200, 300, 6000, 100, 1500 ms. Only 6000 ms exceeds the 5 s activity timeout: active periods
    // [0, 500 ms] = 500000 µs and [6500, 8100 ms] = 1600000 µs; mean 1050000, deviations ±550000,
    // std = 550000·√2 ≈ 777817.5. One idle period of 6000000 µs (std 0).
    // Gaps over 1 s (6000 and 1500 ms) start new subflows: 3 subflows. Per subflow: 4/3 forward
    // packets, 4·128/3 forward bytes, 2/3 backward packets, 2·128/3 backward bytes.
    assert_features(
        &r,
        &[
            ("duration_us", 8_100_000.0),
            ("active_min_us", 500_000.0),
            ("active_max_us", 1_600_000.0),
            ("active_mean_us", 1_050_000.0),
            ("active_std_us", 550_000.0 * 2f64.sqrt()),
            ("idle_min_us", 6_000_000.0),
            ("idle_max_us", 6_000_000.0),
            ("idle_mean_us", 6_000_000.0),
            ("idle_std_us", 0.0),
            ("subflow_count", 3.0),
            ("subflow_fwd_packets_mean", 4.0 / 3.0),
            ("subflow_fwd_bytes_mean", 512.0 / 3.0),
            ("subflow_bwd_packets_mean", 2.0 / 3.0),
            ("subflow_bwd_bytes_mean", 256.0 / 3.0),
            ("flow_iat_max_us", 6_000_000.0),
            ("flow_iat_min_us", 100_000.0),
            ("dst_port_registered", 1.0),
        ],
    );
    assert_all_nan(&r, TCP_FEATURES);
    assert_all_nan(&r, DNS_FEATURES);
    assert_eq!(r.reason, EndReason::EndOfCapture);
}

// ---------------------------------------------------------------------------------------------------
// 6. Checkpoints

#[test]
fn long_flow_emits_cumulative_checkpoints_then_a_final_record() {
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 168, 10, 3);
    // Ten 78-byte datagrams (20 + 8 + 50), every 500 ms from 0 to 4.5 s, alternating → and ←.
    let frames: Vec<(u64, Vec<u8>)> = (0..10u64)
        .map(|k| {
            let (src, dst, sp, dp) =
                if k % 2 == 0 { (CLIENT, PEER, 40_001, 9999) } else { (PEER, CLIENT, 9999, 40_001) };
            (k * 500_000, udp_frame(src, dst, sp, dp, k as u16, &[0x44; 50]))
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.pcap");
    write_pcap(&path, LinkType::Ethernet, 65_535, &eth_frames(frames));
    let cfg = FlowTableConfig { checkpoint_interval_ns: Some(2_000_000_000), ..FlowTableConfig::default() };
    let (records, summary) = common::records_with(&path, cfg);
    assert!(summary.capture_error.is_none());

    // A checkpoint is due at 2 s and 4 s after the start and is emitted when the first packet at or
    // after that time arrives, before that packet is counted:
    // - at 2.0 s: packets 0–1.5 s, 2 + 2, 156 B each way, duration 1.5 s, seq 0;
    // - at 4.0 s: packets 0–3.5 s, 4 + 4, 312 B each way, duration 3.5 s, seq 1;
    // - end of capture: all 10, 5 + 5, 390 B each way, duration 4.5 s, seq 2 (checkpoints before it).
    let expected = [
        (RecordKind::Checkpoint, EndReason::ActiveTimeout, 0, 2.0, 156.0, 1_500_000u64),
        (RecordKind::Checkpoint, EndReason::ActiveTimeout, 1, 4.0, 312.0, 3_500_000),
        (RecordKind::Final, EndReason::EndOfCapture, 2, 5.0, 390.0, 4_500_000),
    ];
    assert_eq!(records.len(), expected.len(), "{records:?}");
    for (r, (kind, reason, seq, packets, bytes, duration_us)) in records.iter().zip(expected) {
        assert_eq!((r.kind, r.reason, r.seq), (kind, reason, seq));
        assert_eq!(r.flow_id, records[0].flow_id, "one flow id across checkpoints and the final record");
        assert_eq!(r.start_ns, T0_NS);
        assert_eq!(r.end_ns, T0_NS + duration_us * 1_000);
        assert_features(
            r,
            &[
                ("fwd_packets", packets),
                ("bwd_packets", packets),
                ("fwd_bytes", bytes),
                ("bwd_bytes", bytes),
                ("duration_us", duration_us as f64),
            ],
        );
    }
    assert_eq!(summary.flow_stats.checkpoint_records, 2);
    assert_eq!(summary.flow_stats.final_records, 1);
    assert_eq!(summary.flow_stats.flows_created, 1);
}
