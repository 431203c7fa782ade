//! Capture-file writers for tests, generators and the simulator: classic pcap and pcapng.
//!
//! Both write little-endian files through an internal 64 KiB buffer; call `flush` or `into_inner`
//! to see the bytes in the underlying writer (dropping a writer flushes too, ignoring errors).
//!
//! - [`PcapWriter`]: a pcap file header (version 2.4, magic for microsecond or nanosecond
//!   timestamps), then one 16-byte record header plus the captured bytes per packet.
//! - [`PcapngWriter`]: one section (Section Header Block, unknown section length), an Interface
//!   Description Block per [`PcapngWriter::add_interface`] with its `if_tsresol`, and an Enhanced
//!   Packet Block per packet, padded to 4 bytes.
//!
//! Timestamps are nanoseconds since the Unix epoch, truncated to the resolution chosen. The captured
//! bytes are `data` cut to the snap length (0: no limit); `orig_len` is written as given. Inputs the
//! format cannot hold (a timestamp past 2106 in pcap, a packet of 4 GiB, an unknown interface, a link
//! type above 65535 in pcapng) are `io::ErrorKind::InvalidInput` errors, and nothing is written.

use std::io::{self, BufWriter, Write};

use super::LinkType;

const BUFFER_LEN: usize = 64 << 10;

/// Resolution of the timestamps written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsResolution {
    Micro,
    Nano,
}

impl TsResolution {
    /// The timestamp in units of this resolution.
    fn units(self, ts_ns: u64) -> u64 {
        match self {
            TsResolution::Micro => ts_ns / 1_000,
            TsResolution::Nano => ts_ns,
        }
    }
}

/// Writer of a classic pcap file.
pub struct PcapWriter<W: Write> {
    out: BufWriter<W>,
    snaplen: u32,
    res: TsResolution,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(w: W, link: LinkType, snaplen: u32, res: TsResolution) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(BUFFER_LEN, w);
        let magic: u32 = match res {
            TsResolution::Micro => 0xA1B2_C3D4,
            TsResolution::Nano => 0xA1B2_3C4D,
        };
        let mut header = [0u8; 24];
        header[0..4].copy_from_slice(&magic.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes());
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        header[16..20].copy_from_slice(&snaplen.to_le_bytes());
        header[20..24].copy_from_slice(&link.to_linktype().to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter { out, snaplen, res })
    }

    /// Writes one packet record.
    pub fn write_packet(&mut self, ts_ns: u64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let caplen = captured_len(data.len(), self.snaplen)?;
        let secs = u32::try_from(ts_ns / 1_000_000_000)
            .map_err(|_| invalid_input(format!("timestamp {ts_ns} ns is past pcap's year 2106")))?;
        // Below 10^9, so it fits.
        let frac = self.res.units(ts_ns % 1_000_000_000) as u32;
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&secs.to_le_bytes());
        header[4..8].copy_from_slice(&frac.to_le_bytes());
        header[8..12].copy_from_slice(&caplen.to_le_bytes());
        header[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&data[..caplen as usize])
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(io::IntoInnerError::into_error)
    }
}

/// Writer of a pcapng file with one section.
pub struct PcapngWriter<W: Write> {
    out: BufWriter<W>,
    /// Snap length and resolution of each interface, by id.
    interfaces: Vec<(u32, TsResolution)>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes the Section Header Block.
    pub fn new(w: W) -> io::Result<Self> {
        let mut out = BufWriter::with_capacity(BUFFER_LEN, w);
        let mut shb = [0u8; 28];
        shb[0..4].copy_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
        shb[4..8].copy_from_slice(&28u32.to_le_bytes());
        shb[8..12].copy_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
        shb[12..14].copy_from_slice(&1u16.to_le_bytes());
        // Minor version 0; section length -1: not given.
        shb[16..24].copy_from_slice(&(-1i64).to_le_bytes());
        shb[24..28].copy_from_slice(&28u32.to_le_bytes());
        out.write_all(&shb)?;
        Ok(PcapngWriter { out, interfaces: Vec::new() })
    }

    /// Writes an Interface Description Block; returns the interface id for
    /// [`PcapngWriter::write_packet`].
    pub fn add_interface(&mut self, link: LinkType, snaplen: u32, res: TsResolution) -> io::Result<u32> {
        let linktype = link.to_linktype();
        let linktype =
            u16::try_from(linktype).map_err(|_| invalid_input(format!("link type {linktype} does not fit pcapng")))?;
        let id = u32::try_from(self.interfaces.len()).map_err(|_| invalid_input("too many interfaces".to_string()))?;
        let tsresol: u8 = match res {
            TsResolution::Micro => 6,
            TsResolution::Nano => 9,
        };
        let mut idb = [0u8; 32];
        idb[0..4].copy_from_slice(&1u32.to_le_bytes());
        idb[4..8].copy_from_slice(&32u32.to_le_bytes());
        idb[8..10].copy_from_slice(&linktype.to_le_bytes());
        idb[12..16].copy_from_slice(&snaplen.to_le_bytes());
        // Option if_tsresol (code 9, 1 byte, padded to 4), then opt_endofopt (4 zero bytes).
        idb[16..18].copy_from_slice(&9u16.to_le_bytes());
        idb[18..20].copy_from_slice(&1u16.to_le_bytes());
        idb[20] = tsresol;
        idb[28..32].copy_from_slice(&32u32.to_le_bytes());
        self.out.write_all(&idb)?;
        self.interfaces.push((snaplen, res));
        Ok(id)
    }

    /// Writes an Enhanced Packet Block on interface `iface`.
    pub fn write_packet(&mut self, iface: u32, ts_ns: u64, orig_len: u32, data: &[u8]) -> io::Result<()> {
        let &(snaplen, res) = self
            .interfaces
            .get(iface as usize)
            .ok_or_else(|| invalid_input(format!("interface {iface} was not added")))?;
        let caplen = captured_len(data.len(), snaplen)?;
        let padding = (4 - caplen % 4) % 4;
        let total = caplen
            .checked_add(padding + 32)
            .ok_or_else(|| invalid_input(format!("a packet of {caplen} bytes is too large")))?;
        let ts = res.units(ts_ns);
        let mut header = [0u8; 28];
        header[0..4].copy_from_slice(&6u32.to_le_bytes());
        header[4..8].copy_from_slice(&total.to_le_bytes());
        header[8..12].copy_from_slice(&iface.to_le_bytes());
        header[12..16].copy_from_slice(&((ts >> 32) as u32).to_le_bytes());
        header[16..20].copy_from_slice(&(ts as u32).to_le_bytes());
        header[20..24].copy_from_slice(&caplen.to_le_bytes());
        header[24..28].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(&data[..caplen as usize])?;
        self.out.write_all(&[0u8; 3][..padding as usize])?;
        self.out.write_all(&total.to_le_bytes())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(io::IntoInnerError::into_error)
    }
}

/// `data_len` cut to `snaplen` (0: no limit), as a record's 32-bit captured length.
fn captured_len(data_len: usize, snaplen: u32) -> io::Result<u32> {
    let len = match snaplen {
        0 => data_len,
        limit => data_len.min(limit as usize),
    };
    u32::try_from(len).map_err(|_| invalid_input(format!("a packet of {len} bytes is too large")))
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::capture::PcapFileReader;

    /// `(ts_ns, orig_len, link, data)` of every packet in `file`; the file must read cleanly.
    fn read_back(file: &[u8]) -> Vec<(u64, u32, LinkType, Vec<u8>)> {
        let mut reader = PcapFileReader::from_reader(file, "written".to_string()).unwrap();
        let mut packets = Vec::new();
        while let Some(p) = reader.next_packet().unwrap() {
            packets.push((p.ts_ns, p.orig_len, p.link, p.data.to_vec()));
        }
        assert_eq!(reader.position(), file.len() as u64);
        packets
    }

    #[test]
    fn pcap_micro_header_and_records_are_exact() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 65535, TsResolution::Micro).unwrap();
        w.write_packet(1_700_000_000_123_456_789, 60, &[0xde, 0xad]).unwrap();
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
            0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 2, 0, 0, 0, 60, 0, 0, 0, 0xde, 0xad,
        ];
        assert_eq!(w.into_inner().unwrap(), expected);
    }

    #[test]
    fn pcap_round_trip_in_both_resolutions_with_snaplen() {
        for (res, first_ts, second_ts) in
            [(TsResolution::Micro, 1_700_000_000_123_456_000, 0), (TsResolution::Nano, 1_700_000_000_123_456_789, 5)]
        {
            let mut w = PcapWriter::new(Vec::new(), LinkType::RawIp, 4, res).unwrap();
            w.write_packet(1_700_000_000_123_456_789, 6, &[1, 2, 3, 4, 5, 6]).unwrap();
            w.write_packet(5, 2, &[7, 8]).unwrap();
            let file = w.into_inner().unwrap();
            assert_eq!(
                read_back(&file),
                [(first_ts, 6, LinkType::RawIp, vec![1, 2, 3, 4]), (second_ts, 2, LinkType::RawIp, vec![7, 8]),]
            );
        }
    }

    #[test]
    fn pcap_rejects_timestamps_past_2106() {
        let mut w = PcapWriter::new(Vec::new(), LinkType::Ethernet, 0, TsResolution::Nano).unwrap();
        let err = w.write_packet(u64::MAX, 1, &[0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.into_inner().unwrap().len(), 24);
    }

    #[test]
    fn pcapng_round_trip_over_interfaces() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let eth = w.add_interface(LinkType::Ethernet, 0, TsResolution::Nano).unwrap();
        let sll = w.add_interface(LinkType::LinuxSll, 3, TsResolution::Micro).unwrap();
        assert_eq!((eth, sll), (0, 1));
        w.write_packet(eth, u64::MAX - 1, 5, &[1, 2, 3, 4, 5]).unwrap();
        w.write_packet(sll, 1_700_000_000_123_456_789, 9, &[9, 8, 7, 6]).unwrap();
        w.write_packet(eth, 0, 0, &[]).unwrap();
        let file = w.into_inner().unwrap();
        assert_eq!(file.len(), 28 + 2 * 32 + 40 + 36 + 32);
        assert_eq!(
            read_back(&file),
            [
                (u64::MAX - 1, 5, LinkType::Ethernet, vec![1, 2, 3, 4, 5]),
                (1_700_000_000_123_456_000, 9, LinkType::LinuxSll, vec![9, 8, 7]),
                (0, 0, LinkType::Ethernet, vec![]),
            ]
        );
    }

    #[test]
    fn pcapng_rejects_unknown_interfaces_and_wide_link_types() {
        let mut w = PcapngWriter::new(Vec::new()).unwrap();
        let err = w.write_packet(0, 0, 1, &[0]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let err = w.add_interface(LinkType::Other(70_000), 0, TsResolution::Nano).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(w.into_inner().unwrap().len(), 28);
    }

    fn packets() -> impl Strategy<Value = Vec<(u64, Vec<u8>)>> {
        proptest::collection::vec(
            (0u64..u64::from(u32::MAX) * 1_000_000_000, proptest::collection::vec(any::<u8>(), 0..100)),
            0..20,
        )
    }

    proptest! {
        #[test]
        fn writers_round_trip(packets in packets(), snaplen in 0u32..120) {
            let mut pcap = PcapWriter::new(Vec::new(), LinkType::Null, snaplen, TsResolution::Nano).unwrap();
            let mut pcapng = PcapngWriter::new(Vec::new()).unwrap();
            let micro = pcapng.add_interface(LinkType::Ethernet, snaplen, TsResolution::Micro).unwrap();
            let nano = pcapng.add_interface(LinkType::RawIp, snaplen, TsResolution::Nano).unwrap();
            let mut expected_pcap = Vec::new();
            let mut expected_pcapng = Vec::new();
            for (i, (ts, data)) in packets.iter().enumerate() {
                let orig_len = data.len() as u32 + 3;
                let cut = if snaplen == 0 { data.len() } else { data.len().min(snaplen as usize) };
                pcap.write_packet(*ts, orig_len, data).unwrap();
                expected_pcap.push((*ts, orig_len, LinkType::Null, data[..cut].to_vec()));
                let (iface, link, ts_read) = if i % 2 == 0 {
                    (micro, LinkType::Ethernet, ts / 1_000 * 1_000)
                } else {
                    (nano, LinkType::RawIp, *ts)
                };
                pcapng.write_packet(iface, *ts, orig_len, data).unwrap();
                expected_pcapng.push((ts_read, orig_len, link, data[..cut].to_vec()));
            }
            prop_assert_eq!(read_back(&pcap.into_inner().unwrap()), expected_pcap);
            prop_assert_eq!(read_back(&pcapng.into_inner().unwrap()), expected_pcapng);
        }
    }
}
