//! Tests of the capture-file reader over literal file bytes.

use std::io::{self, Read};

use proptest::prelude::*;

use super::*;
use crate::capture::pcap_write::{PcapWriter, TsResolution};

#[derive(Debug, PartialEq)]
struct Packet {
    ts_ns: u64,
    orig_len: u32,
    link: LinkType,
    data: Vec<u8>,
    /// `position()` after the packet was returned.
    next_offset: u64,
}

fn packet(ts_ns: u64, orig_len: u32, link: LinkType, data: &[u8], next_offset: u64) -> Packet {
    Packet { ts_ns, orig_len, link, data: data.to_vec(), next_offset }
}

/// Reads every packet, then checks the reader stays finished.
fn read_all<R: Read>(mut reader: PcapFileReader<R>) -> (Vec<Packet>, Option<CaptureError>) {
    let mut packets = Vec::new();
    let error = loop {
        match reader.next_packet() {
            Ok(Some(p)) => {
                let (ts_ns, orig_len, link, data) = (p.ts_ns, p.orig_len, p.link, p.data.to_vec());
                packets.push(Packet { ts_ns, orig_len, link, data, next_offset: reader.position() });
            }
            Ok(None) => break None,
            Err(e) => break Some(e),
        }
    };
    assert!(matches!(reader.next_packet(), Ok(None)), "reader not finished");
    (packets, error)
}

fn read_bytes(bytes: &[u8]) -> (Vec<Packet>, Option<CaptureError>) {
    read_all(PcapFileReader::from_reader(bytes, "cap".to_string()).expect("header"))
}

fn read_ok(bytes: &[u8]) -> Vec<Packet> {
    let (packets, error) = read_bytes(bytes);
    assert!(error.is_none(), "unexpected error: {error:?}");
    packets
}

fn header_error(bytes: &[u8]) -> CaptureError {
    match PcapFileReader::from_reader(bytes, "cap".to_string()) {
        Ok(_) => panic!("header accepted"),
        Err(e) => e,
    }
}

/// Classic pcap, microseconds, little endian, Ethernet, two records.
#[rustfmt::skip]
const PCAP_MICRO_LE: &[u8] = &[
    0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    // 1_700_000_000 s + 123_456 µs, caplen 4, orig_len 60
    0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 4, 0, 0, 0, 60, 0, 0, 0,
    0xde, 0xad, 0xbe, 0xef,
    // 1_700_000_001 s + 0 µs, caplen 2, orig_len 2
    0x01, 0xf1, 0x53, 0x65, 0, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0,
    0xaa, 0xbb,
];

#[rustfmt::skip]
const SHB_LE: &[u8] = &[
    0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
];
#[rustfmt::skip]
const SHB_BE: &[u8] = &[
    0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28,
];
/// Ethernet, snaplen 0, if_tsresol 9 (nanoseconds).
#[rustfmt::skip]
const IDB_ETH_NANO_LE: &[u8] = &[
    1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
];
/// Raw IP, snaplen 0, if_tsresol 0x94 (2^-20 s).
#[rustfmt::skip]
const IDB_RAW_POW2_LE: &[u8] = &[
    1, 0, 0, 0, 32, 0, 0, 0, 101, 0, 0, 0, 0, 0, 0, 0,
    9, 0, 1, 0, 0x94, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
];
/// Linux SLL, snaplen 0, no options (microseconds).
#[rustfmt::skip]
const IDB_SLL_LE: &[u8] = &[1, 0, 0, 0, 20, 0, 0, 0, 113, 0, 0, 0, 0, 0, 0, 0, 20, 0, 0, 0];
/// Interface 0, ts (1 << 32) + 2, caplen 5, orig_len 64.
#[rustfmt::skip]
const EPB_IF0_LE: &[u8] = &[
    6, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 0, 64, 0, 0, 0,
    1, 2, 3, 4, 5, 0, 0, 0, 40, 0, 0, 0,
];
/// Interface 1, ts 0x380000 (3.5 s in 2^-20 s), caplen 4, orig_len 4.
#[rustfmt::skip]
const EPB_IF1_LE: &[u8] = &[
    6, 0, 0, 0, 36, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x38, 0, 4, 0, 0, 0, 4, 0, 0, 0,
    0x45, 0, 0, 0x14, 36, 0, 0, 0,
];
/// Interface 2, ts 7, caplen 1, orig_len 1, option epb_flags.
#[rustfmt::skip]
const EPB_IF2_FLAGS_LE: &[u8] = &[
    6, 0, 0, 0, 48, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
    0xff, 0, 0, 0, 2, 0, 4, 0, 1, 0, 0, 0, 0, 0, 0, 0, 48, 0, 0, 0,
];

#[test]
fn pcap_micro_little_endian() {
    assert_eq!(
        read_ok(PCAP_MICRO_LE),
        [
            packet(1_700_000_000_123_456_000, 60, LinkType::Ethernet, &[0xde, 0xad, 0xbe, 0xef], 44),
            packet(1_700_000_001_000_000_000, 2, LinkType::Ethernet, &[0xaa, 0xbb], 62),
        ]
    );
}

#[test]
fn pcap_nano_big_endian() {
    #[rustfmt::skip]
    let file: &[u8] = &[
        0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 101,
        0x65, 0x53, 0xf1, 0x00, 0x3b, 0x9a, 0xc9, 0xff, 0, 0, 0, 3, 0, 0, 0, 20,
        0x45, 0x00, 0x00,
    ];
    let reader = PcapFileReader::from_reader(file, "cap".to_string()).unwrap();
    assert_eq!(reader.position(), 24);
    assert_eq!(reader.bytes_read(), file.len() as u64);
    let (packets, error) = read_all(reader);
    assert!(error.is_none());
    assert_eq!(packets, [packet(1_700_000_000_999_999_999, 20, LinkType::RawIp, &[0x45, 0, 0], 43)]);
}

#[test]
fn pcap_link_type_fcs_bits_are_masked() {
    let mut file = PCAP_MICRO_LE.to_vec();
    // FCS length 4 with its "present" bit over LINKTYPE_ETHERNET.
    file[20..24].copy_from_slice(&0x4400_0001u32.to_le_bytes());
    assert!(read_ok(&file).iter().all(|p| p.link == LinkType::Ethernet));
}

#[test]
fn pcapng_interfaces_with_their_own_link_type_and_resolution() {
    let file =
        [SHB_LE, IDB_ETH_NANO_LE, IDB_RAW_POW2_LE, IDB_SLL_LE, EPB_IF0_LE, EPB_IF1_LE, EPB_IF2_FLAGS_LE].concat();
    assert_eq!(
        read_ok(&file),
        [
            packet((1 << 32) + 2, 64, LinkType::Ethernet, &[1, 2, 3, 4, 5], 152),
            packet(3_500_000_000, 4, LinkType::RawIp, &[0x45, 0, 0, 0x14], 188),
            packet(7_000, 1, LinkType::LinuxSll, &[0xff], 236),
        ]
    );
}

#[test]
fn pcapng_simple_packet_blocks_use_the_first_interface_and_its_snaplen() {
    // Ethernet, snaplen 4, microseconds.
    #[rustfmt::skip]
    let idb: &[u8] = &[1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 4, 0, 0, 0, 20, 0, 0, 0];
    #[rustfmt::skip]
    let epb: &[u8] = &[
        6, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0,
        0xee, 0, 0, 0, 36, 0, 0, 0,
    ];
    // orig_len 6, cut to the snaplen 4.
    let spb_cut: &[u8] = &[3, 0, 0, 0, 20, 0, 0, 0, 6, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 20, 0, 0, 0];
    let spb_short: &[u8] = &[3, 0, 0, 0, 20, 0, 0, 0, 2, 0, 0, 0, 0x11, 0x22, 0, 0, 20, 0, 0, 0];
    let file = [SHB_LE, idb, epb, spb_cut, spb_short].concat();
    assert_eq!(
        read_ok(&file),
        [
            packet(5_000, 1, LinkType::Ethernet, &[0xee], 84),
            packet(5_000, 6, LinkType::Ethernet, &[0xaa, 0xbb, 0xcc, 0xdd], 104),
            packet(5_000, 2, LinkType::Ethernet, &[0x11, 0x22], 124),
        ]
    );
}

#[test]
fn pcapng_obsolete_packet_block() {
    #[rustfmt::skip]
    let pb: &[u8] = &[
        2, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 9, 0, 0, 0,
        0xab, 0xcd, 0, 0, 36, 0, 0, 0,
    ];
    let file = [SHB_LE, IDB_ETH_NANO_LE, pb].concat();
    assert_eq!(read_ok(&file), [packet(3, 9, LinkType::Ethernet, &[0xab, 0xcd], 96)]);
}

#[test]
fn pcapng_unknown_blocks_are_skipped() {
    let nrb: &[u8] = &[4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0];
    #[rustfmt::skip]
    let isb: &[u8] = &[5, 0, 0, 0, 24, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 24, 0, 0, 0];
    #[rustfmt::skip]
    let custom: &[u8] = &[
        0xad, 0x0b, 0, 0x40, 20, 0, 0, 0, 0x7b, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 20, 0, 0, 0,
    ];
    let file = [SHB_LE, nrb, IDB_ETH_NANO_LE, isb, custom, EPB_IF0_LE, nrb].concat();
    let packets = read_ok(&file);
    assert_eq!(packets.len(), 1);
    assert_eq!(packets[0].data, [1, 2, 3, 4, 5]);
    assert_eq!(packets[0].next_offset, 28 + 16 + 32 + 24 + 20 + 40);
}

/// A big-endian section after a little-endian one: one Raw IP interface, a packet at 9 µs.
#[rustfmt::skip]
const SECTION_BE: &[u8] = &[
    0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 28, 0x1a, 0x2b, 0x3c, 0x4d, 0, 1, 0, 0,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 28,
    0, 0, 0, 1, 0, 0, 0, 20, 0, 101, 0, 0, 0, 0, 0, 0, 0, 0, 0, 20,
    0, 0, 0, 6, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 2, 0, 0, 0, 2,
    0x60, 0, 0, 0, 0, 0, 0, 36,
];

#[test]
fn pcapng_sections_with_different_byte_orders() {
    assert_eq!(&SECTION_BE[..28], SHB_BE);
    let file = [SHB_LE, IDB_ETH_NANO_LE, IDB_RAW_POW2_LE, EPB_IF0_LE, SECTION_BE].concat();
    assert_eq!(
        read_ok(&file),
        [
            packet((1 << 32) + 2, 64, LinkType::Ethernet, &[1, 2, 3, 4, 5], 132),
            packet(9_000, 2, LinkType::RawIp, &[0x60, 0], 216),
        ]
    );
}

#[test]
fn pcapng_interfaces_do_not_outlive_their_section() {
    // Interface 1 existed in the first section only.
    #[rustfmt::skip]
    let epb_if1_be: &[u8] = &[
        0, 0, 0, 6, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 32,
    ];
    let file = [SHB_LE, IDB_ETH_NANO_LE, IDB_RAW_POW2_LE, EPB_IF1_LE, SECTION_BE, epb_if1_be].concat();
    let (packets, error) = read_bytes(&file);
    assert_eq!(packets.len(), 2);
    assert_eq!(
        error.unwrap().to_string(),
        "cap: corrupt record at byte offset 212: enhanced packet block refers to interface 1, \
         but its section describes 1 interface(s)"
    );
}

#[test]
fn pcapng_if_tsoffset_is_added_and_clamped() {
    // Ethernet, microseconds, if_tsoffset 1000 s (last option, no opt_endofopt).
    #[rustfmt::skip]
    let idb_plus: &[u8] = &[
        1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        14, 0, 8, 0, 0xe8, 0x03, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
    ];
    // Same with -2000 s.
    #[rustfmt::skip]
    let idb_minus: &[u8] = &[
        1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        14, 0, 8, 0, 0x30, 0xf8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 32, 0, 0, 0,
    ];
    // Interface 1 at ts 1, interface 0 at ts 1.
    let mut epb_if1 = EPB_IF1_LE.to_vec();
    epb_if1[16..20].copy_from_slice(&1u32.to_le_bytes());
    let mut epb_if0 = EPB_IF0_LE.to_vec();
    epb_if0[12..20].copy_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    let file = [SHB_LE, idb_plus, idb_minus, &epb_if1, &epb_if0].concat();
    let ts: Vec<u64> = read_ok(&file).iter().map(|p| p.ts_ns).collect();
    assert_eq!(ts, [0, 1_000_000_001_000]);
}

#[test]
fn timestamp_units_convert_and_saturate() {
    let ns = |tsresol: u8, ts: u64| TsUnit::from_tsresol(tsresol).to_ns(ts);
    assert_eq!(TsUnit::from_tsresol(6), TsUnit::MICROS);
    assert_eq!(ns(6, 5), 5_000);
    assert_eq!(ns(9, 5), 5);
    assert_eq!(ns(0, 3), 3_000_000_000);
    assert_eq!(ns(0, u64::MAX), u64::MAX);
    assert_eq!(ns(12, 1_000_000), 1_000);
    assert_eq!(ns(127, u64::MAX), 0);
    assert_eq!(ns(0x80 | 20, 1 << 20), 1_000_000_000);
    assert_eq!(ns(0x80 | 20, (1 << 20) + (1 << 19)), 1_500_000_000);
    assert_eq!(ns(0x80, u64::MAX), u64::MAX);
    assert_eq!(ns(0xff, u64::MAX), 0);
}

#[test]
fn truncated_pcap_record_is_reported_after_the_complete_ones() {
    let mut file = PCAP_MICRO_LE.to_vec();
    file.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 100, 0, 0, 0]);
    file.extend_from_slice(&[0x55; 10]);
    let (packets, error) = read_bytes(&file);
    assert_eq!(packets.len(), 2);
    assert_eq!(
        error.unwrap().to_string(),
        "cap: truncated at byte offset 62: the file ends inside a packet record \
         (need 116 bytes, 26 remain)"
    );
}

#[test]
fn truncated_pcap_record_header() {
    let (packets, error) = read_bytes(&PCAP_MICRO_LE[..PCAP_MICRO_LE.len() - 2 - 10]);
    assert_eq!(packets.len(), 1);
    assert!(matches!(
        error,
        Some(CaptureError::Truncated { offset: 44, what: "a packet record header", needed: 16, remaining: 6, .. })
    ));
}

#[test]
fn truncated_pcapng_block_is_reported_after_the_complete_ones() {
    let file = [SHB_LE, IDB_ETH_NANO_LE, EPB_IF0_LE, &EPB_IF0_LE[..20]].concat();
    let (packets, error) = read_bytes(&file);
    assert_eq!(packets.len(), 1);
    assert_eq!(
        error.unwrap().to_string(),
        "cap: truncated at byte offset 100: the file ends inside an enhanced packet block \
         (need 40 bytes, 20 remain)"
    );
    let file = [SHB_LE, IDB_ETH_NANO_LE, &EPB_IF0_LE[..5]].concat();
    assert!(matches!(
        read_bytes(&file).1,
        Some(CaptureError::Truncated { offset: 60, what: "a block header", needed: 8, remaining: 5, .. })
    ));
}

/// Reads `SHB, IDB, block` and returns the error `block` raises.
fn corrupt_block_reason(block: &[u8]) -> String {
    let (packets, error) = read_bytes(&[SHB_LE, IDB_ETH_NANO_LE, block].concat());
    assert!(packets.is_empty());
    match error {
        Some(CaptureError::Corrupt { offset: 60, reason, .. }) => reason,
        other => panic!("expected a corrupt block at 60, got {other:?}"),
    }
}

#[test]
fn corrupt_pcapng_block_lengths() {
    let mut block = EPB_IF0_LE.to_vec();
    block[4] = 41;
    assert_eq!(corrupt_block_reason(&block), "block length 41 is not a multiple of 4");
    block[4] = 8;
    assert_eq!(corrupt_block_reason(&block), "block length 8 is below the minimum of 12 bytes");
    block[4..8].copy_from_slice(&(MAX_RECORD_LEN + 4).to_le_bytes());
    assert_eq!(corrupt_block_reason(&block), "block length 268435460 exceeds the limit of 268435456 bytes");
    let mut block = EPB_IF0_LE.to_vec();
    block[36] = 44;
    assert_eq!(corrupt_block_reason(&block), "trailing block length 44 differs from the leading block length 40");
    let mut block = EPB_IF0_LE.to_vec();
    block[20] = 9;
    assert_eq!(
        corrupt_block_reason(&block),
        "enhanced packet block captured length 9 overruns the block (8 bytes of packet data)"
    );
    let mut idb = IDB_ETH_NANO_LE.to_vec();
    idb[18] = 9;
    assert_eq!(corrupt_block_reason(&idb), "interface description block option 9 (9 bytes) overruns the block");
    let short_epb: &[u8] = &[6, 0, 0, 0, 12, 0, 0, 0, 12, 0, 0, 0];
    assert_eq!(corrupt_block_reason(short_epb), "enhanced packet block length 12 is below its minimum of 32 bytes");
}

#[test]
fn corrupt_pcapng_headers() {
    let spb: &[u8] = &[3, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0];
    let (_, error) = read_bytes(&[SHB_LE, spb].concat());
    assert!(matches!(error, Some(CaptureError::Corrupt { offset: 28, ref reason, .. })
            if reason == "simple packet block in a section with no interface description block"));
    let mut shb = SHB_LE.to_vec();
    shb[8] = 0;
    assert_eq!(
        header_error(&shb).to_string(),
        "cap: corrupt record at byte offset 0: \
         section header block has an unknown byte-order magic 0x003c2b1a"
    );
    let mut shb = SHB_LE.to_vec();
    shb[12] = 2;
    assert!(header_error(&shb).to_string().ends_with("unsupported pcapng version 2.0"));
}

#[test]
fn corrupt_pcap_headers() {
    let mut file = PCAP_MICRO_LE.to_vec();
    file[32..36].copy_from_slice(&(MAX_RECORD_LEN + 1).to_le_bytes());
    let (_, error) = read_bytes(&file);
    assert_eq!(
        error.unwrap().to_string(),
        "cap: corrupt record at byte offset 24: captured length 268435457 exceeds the limit of \
         268435456 bytes"
    );
    let mut file = PCAP_MICRO_LE.to_vec();
    file[4] = 3;
    assert!(header_error(&file).to_string().ends_with("unsupported pcap version 3.4"));
}

#[test]
fn not_a_capture_empty_and_short_inputs() {
    assert_eq!(
        header_error(b"GIF89a\x01\x00").to_string(),
        "cap: not a pcap or pcapng capture file (magic number 0x47494638)"
    );
    assert_eq!(
        header_error(b"").to_string(),
        "cap: truncated at byte offset 0: the file ends inside the file header \
         (need 4 bytes, 0 remain)"
    );
    assert!(matches!(
        header_error(&PCAP_MICRO_LE[..10]),
        CaptureError::Truncated { offset: 0, needed: 24, remaining: 10, .. }
    ));
    assert!(matches!(
        header_error(&SHB_LE[..20]),
        CaptureError::Truncated { offset: 0, needed: 28, remaining: 20, .. }
    ));
}

#[test]
fn open_reads_files_and_names_them_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("capture.pcap");
    std::fs::write(&path, PCAP_MICRO_LE).unwrap();
    let reader = PcapFileReader::open(&path).unwrap();
    assert_eq!(reader.name(), path.display().to_string());
    assert_eq!(read_all(reader).0.len(), 2);
    let missing = dir.path().join("missing.pcap");
    let error = PcapFileReader::open(&missing).err().unwrap();
    assert!(matches!(&error, CaptureError::Io { offset: 0, .. }));
    assert!(error.to_string().starts_with(&missing.display().to_string()));
}

/// Hands out one byte per `read`, then fails with `error` if given.
struct Trickle<'a> {
    bytes: &'a [u8],
    error: Option<io::ErrorKind>,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.bytes.split_first(), self.error) {
            (Some((&b, rest)), _) if !buf.is_empty() => {
                buf[0] = b;
                self.bytes = rest;
                Ok(1)
            }
            (None, Some(kind)) => Err(io::Error::new(kind, "device gone")),
            _ => Ok(0),
        }
    }
}

#[test]
fn one_byte_reads_give_the_same_packets() {
    let file = [SHB_LE, IDB_ETH_NANO_LE, IDB_RAW_POW2_LE, EPB_IF0_LE, EPB_IF1_LE, SECTION_BE].concat();
    let trickle = Trickle { bytes: &file, error: None };
    let reader = PcapFileReader::from_reader(trickle, "pipe".to_string()).unwrap();
    assert_eq!(reader.bytes_read(), 28);
    let (packets, error) = read_all(reader);
    assert!(error.is_none());
    assert_eq!(packets, read_ok(&file));
    assert_eq!(packets.len(), 3);
}

#[test]
fn read_errors_end_the_stream_after_the_packets_read() {
    let trickle = Trickle { bytes: &PCAP_MICRO_LE[..50], error: Some(io::ErrorKind::ConnectionReset) };
    let reader = PcapFileReader::from_reader(trickle, "pipe".to_string()).unwrap();
    let (packets, error) = read_all(reader);
    assert_eq!(packets.len(), 1);
    assert!(matches!(error, Some(CaptureError::Io { offset: 44, .. })));
}

#[test]
fn records_larger_than_the_buffer_grow_it() {
    let big: Vec<u8> = (0..3 * INITIAL_BUFFER_LEN + 5).map(|i| i as u8).collect();
    let mut writer = PcapWriter::new(Vec::new(), LinkType::Ethernet, 0, TsResolution::Nano).unwrap();
    writer.write_packet(1, 60, &[7; 60]).unwrap();
    writer.write_packet(2, big.len() as u32, &big).unwrap();
    writer.write_packet(3, 60, &[9; 60]).unwrap();
    let file = writer.into_inner().unwrap();
    let packets = read_ok(&file);
    assert_eq!(packets.len(), 3);
    assert_eq!(packets[1].data, big);
    assert_eq!(packets[2].data, [9; 60]);
    assert_eq!(packets[2].next_offset, file.len() as u64);
}

#[test]
fn a_bogus_record_length_costs_no_more_memory_than_the_input() {
    let mut file = PCAP_MICRO_LE[..44].to_vec();
    file.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0c, 0, 0, 0, 0x0c]);
    file.extend_from_slice(&[0; 100]);
    let mut reader = PcapFileReader::from_reader(&file[..], "cap".to_string()).unwrap();
    assert!(reader.next_packet().unwrap().is_some());
    assert!(matches!(
        reader.next_packet(),
        Err(CaptureError::Truncated { offset: 44, needed: 0x0c00_0010, remaining: 116, .. })
    ));
    assert_eq!(reader.buf.len(), INITIAL_BUFFER_LEN);
}

/// Feeds `bytes` to a reader: it must neither panic nor loop.
fn drain(bytes: &[u8]) {
    let Ok(mut reader) = PcapFileReader::from_reader(bytes, "fuzz".to_string()) else {
        return;
    };
    // Each record takes at least 12 bytes, so this bound is never reached by a correct reader.
    for _ in 0..=bytes.len() {
        match reader.next_packet() {
            Ok(Some(p)) => assert!(p.data.len() <= bytes.len()),
            Ok(None) => return,
            Err(_) => {
                assert!(matches!(reader.next_packet(), Ok(None)));
                return;
            }
        }
    }
    panic!("reader did not terminate");
}

fn valid_files() -> Vec<Vec<u8>> {
    let nrb: &[u8] = &[4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0];
    let spb: &[u8] = &[3, 0, 0, 0, 20, 0, 0, 0, 6, 0, 0, 0, 0xaa, 0xbb, 0xcc, 0xdd, 20, 0, 0, 0];
    vec![
        PCAP_MICRO_LE.to_vec(),
        [
            SHB_LE,
            IDB_ETH_NANO_LE,
            IDB_RAW_POW2_LE,
            IDB_SLL_LE,
            nrb,
            EPB_IF0_LE,
            EPB_IF1_LE,
            spb,
            EPB_IF2_FLAGS_LE,
            SECTION_BE,
        ]
        .concat(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(
        prefix in 0usize..4,
        tail in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let prefix: &[u8] = match prefix {
            0 => &[],
            1 => &PCAP_MICRO_LE[..24],
            2 => SHB_LE,
            _ => &SECTION_BE[..48],
        };
        drain(&[prefix, &tail].concat());
    }

    #[test]
    fn damaged_valid_files_never_panic(
        which in 0usize..2,
        cut in any::<proptest::sample::Index>(),
        flips in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..8), 0..6),
    ) {
        let mut file = valid_files().swap_remove(which);
        for (at, bit) in flips {
            let at = at.index(file.len());
            file[at] ^= 1 << bit;
        }
        let len = cut.index(file.len() + 1);
        drain(&file[..len]);
    }
}

/// Reads every packet in batches of `size`.
fn read_batches<R: Read>(mut reader: PcapFileReader<R>, size: usize) -> (Vec<Packet>, Option<CaptureError>) {
    let mut packets = Vec::new();
    let error = loop {
        let mut batch = [RawPacket { ts_ns: 0, orig_len: 0, link: LinkType::Ethernet, data: &[] }; MAX_BATCH];
        match reader.next_batch(&mut batch[..size]) {
            Ok(0) => break None,
            Ok(n) => {
                // `position()` is only meaningful per packet in sequential reads.
                packets.extend(batch[..n].iter().map(|p| packet(p.ts_ns, p.orig_len, p.link, p.data, 0)));
            }
            Err(e) => break Some(e),
        }
    };
    (packets, error)
}

fn without_offsets(packets: Vec<Packet>) -> Vec<Packet> {
    packets.into_iter().map(|p| Packet { next_offset: 0, ..p }).collect()
}

#[test]
fn batches_equal_sequential_reads_across_refills_and_errors() {
    let mut file = Vec::new();
    let mut w = PcapWriter::new(&mut file, LinkType::Ethernet, 65535, TsResolution::Nano).unwrap();
    for i in 0..200u32 {
        let data: Vec<u8> = (0..(i * 37 % 1500 + 14)).map(|b| (b ^ i) as u8).collect();
        w.write_packet(u64::from(i) * 1000, data.len() as u32 + 4, &data).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let expected = without_offsets(read_ok(&file));
    for size in [1, 7, MAX_BATCH] {
        let trickle = Trickle { bytes: &file, error: None };
        let (got, error) = read_batches(PcapFileReader::from_reader(trickle, "pipe".into()).unwrap(), size);
        assert!(error.is_none());
        assert_eq!(got, expected, "batch size {size}");
    }
    // Cut inside the last record: every complete packet, then the error, then nothing.
    let cut = &file[..file.len() - 3];
    let (got, error) = read_batches(PcapFileReader::from_reader(cut, "cut".into()).unwrap(), MAX_BATCH);
    assert_eq!(got, expected[..199]);
    assert!(matches!(error, Some(CaptureError::Truncated { .. })), "{error:?}");
}

#[test]
fn empty_regular_file_is_not_a_capture() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.pcap");
    std::fs::write(&path, b"").unwrap();
    let err = PcapFileReader::open(&path).map(|_| ()).unwrap_err();
    assert!(matches!(err, CaptureError::Truncated { offset: 0, .. }), "{err}");
}
