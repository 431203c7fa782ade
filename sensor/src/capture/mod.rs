//! Packet sources.
//!
//! Every source yields [`RawPacket`]s: the captured bytes of one frame with its link type, its capture
//! timestamp and its original length on the wire. Nothing here looks inside the frame; `decode` does.
//! Time comes from the capture (nanoseconds since the Unix epoch), never from the clock.

pub mod pcap_file;
pub mod pcap_write;

pub use pcap_file::{CaptureError, PcapFileReader};

/// Link-layer framing of a captured frame (the pcap `LINKTYPE_*` values we decode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_LINUX_SLL (113): Linux cooked capture v1, 16-byte header.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276): Linux cooked capture v2, 20-byte header.
    LinuxSll2,
    /// LINKTYPE_RAW (101), LINKTYPE_IPV4 (228), LINKTYPE_IPV6 (229), and DLT_RAW (12/14 on some
    /// systems): the frame starts with an IP header.
    RawIp,
    /// LINKTYPE_NULL (0) / LINKTYPE_LOOP (108): 4-byte address family, then IP (BSD loopback).
    Null,
    /// Any other link type: its frames are counted as undecodable, not dropped silently.
    Other(u32),
}

impl LinkType {
    /// Maps a pcap / pcapng `LINKTYPE_*` number.
    pub fn from_linktype(value: u32) -> LinkType {
        match value {
            1 => LinkType::Ethernet,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            12 | 14 | 101 | 228 | 229 => LinkType::RawIp,
            0 | 108 => LinkType::Null,
            other => LinkType::Other(other),
        }
    }

    /// The `LINKTYPE_*` number written to capture files.
    pub fn to_linktype(self) -> u32 {
        match self {
            LinkType::Ethernet => 1,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
            LinkType::RawIp => 101,
            LinkType::Null => 0,
            LinkType::Other(v) => v,
        }
    }
}

/// One captured frame, borrowed from the source's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// Capture time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Length of the frame on the wire; may exceed `data.len()` when the snap length cut it.
    pub orig_len: u32,
    pub link: LinkType,
    /// The captured bytes (at most the snap length).
    pub data: &'a [u8],
}
