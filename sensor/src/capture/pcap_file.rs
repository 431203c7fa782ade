//! Streaming reader for capture files: classic pcap and pcapng, parsed here without libpcap.
//!
//! # Formats
//! - **pcap**: magic `a1b2c3d4` (microsecond timestamps) or `a1b23c4d` (nanosecond), in either byte
//!   order, version 2.x. The link type comes from the file header; its upper 16 bits (the FCS-length
//!   flags) are masked off.
//! - **pcapng**: any number of sections, each opened by a Section Header Block in its own byte order.
//!   Interface Description Blocks give each interface its link type, snap length, `if_tsresol`
//!   (power of 10 or of 2; microseconds when absent) and `if_tsoffset` (signed seconds). Packets come
//!   from Enhanced Packet Blocks, Simple Packet Blocks (first interface of the section; captured length
//!   `min(original length, snap length)`; the block has no timestamp, so the previous packet's is
//!   reused, 0 before any) and the obsolete Packet Block. Every other block type (name resolution,
//!   statistics, decryption secrets, custom, ...) is skipped by its length.
//!
//! Timestamps become nanoseconds since the Unix epoch, saturating at `0` and `u64::MAX`.
//!
//! # Reading
//! The reader pulls from any [`Read`] (files, pipes) into one internal buffer of 256 KiB (small enough to stay in L2 cache), grown only for
//! a single record larger than that. Records are parsed in place: [`PcapFileReader::next_packet`]
//! borrows the packet bytes from the buffer and allocates nothing; a refill moves the unconsumed tail to
//! the front of the buffer. No record or block may exceed [`MAX_RECORD_LEN`] bytes.
//!
//! # Errors
//! The input is untrusted: no input makes the reader panic, and every length is checked before use.
//! Each [`CaptureError`] names the input and the byte offset of the record (or block) at fault.
//! [`PcapFileReader::next_packet`] returns `Ok(None)` at a clean end of input (the input ends exactly
//! at a record boundary). After it has returned an error it only returns `Ok(None)`: the caller
//! processes the packets that were readable, then reports the error.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use super::{LinkType, RawPacket};

/// Largest record (pcap: captured length) or block (pcapng: total length) accepted, in bytes.
pub const MAX_RECORD_LEN: u32 = 256 << 20;

const INITIAL_BUFFER_LEN: usize = 256 << 10;
/// A largest record with its header.
const MAX_BUFFER_LEN: usize = MAX_RECORD_LEN as usize + PCAP_RECORD_HEADER_LEN;

const PCAP_MICRO_MAGIC: u32 = 0xA1B2_C3D4;
const PCAP_NANO_MAGIC: u32 = 0xA1B2_3C4D;
const PCAP_FILE_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 1;
const BT_PB: u32 = 2;
const BT_SPB: u32 = 3;
const BT_EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// Block type, total length, ..., total length.
const BLOCK_OVERHEAD: usize = 12;
/// Overhead plus byte-order magic, version and section length.
const SHB_MIN_LEN: usize = BLOCK_OVERHEAD + 16;
const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Why a capture file could not be read (further).
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// Opening or reading the input failed.
    #[error("{name}: I/O error at byte offset {offset}")]
    Io {
        name: String,
        offset: u64,
        #[source]
        source: io::Error,
    },
    /// `magic` is the first four bytes read as a big-endian number.
    #[error("{name}: not a pcap or pcapng capture file (magic number {magic:#010x})")]
    NotACapture { name: String, magic: u32 },
    /// The input ends inside a record: `needed` bytes from `offset` on, only `remaining` there.
    #[error(
        "{name}: truncated at byte offset {offset}: the file ends inside {what} \
         (need {needed} bytes, {remaining} remain)"
    )]
    Truncated { name: String, offset: u64, what: &'static str, needed: u64, remaining: u64 },
    /// A record or block that cannot be right: impossible lengths, unknown interface, ...
    #[error("{name}: corrupt record at byte offset {offset}: {reason}")]
    Corrupt { name: String, offset: u64, reason: String },
}

/// Streaming reader of a pcap or pcapng capture.
pub struct PcapFileReader<R: Read = File> {
    reader: R,
    name: String,
    /// `buf[start..end]` holds read but unconsumed input; `buf[start]` is at file offset `offset`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    offset: u64,
    bytes_read: u64,
    eof: bool,
    order: ByteOrder,
    state: State,
    /// Interfaces of the current pcapng section, by id.
    interfaces: Vec<Interface>,
    /// Timestamp of the last packet returned, for Simple Packet Blocks.
    last_ts_ns: u64,
    /// While a batch is collected, refills append instead of compacting, so that the records already
    /// found stay where they are.
    pinned: bool,
    /// An error met while collecting a batch that already held packets: returned by the next call.
    pending: Option<CaptureError>,
}

/// Most packets [`PcapFileReader::next_batch`] returns at once.
pub const MAX_BATCH: usize = 256;

#[derive(Clone, Copy)]
enum State {
    Pcap { nano: bool, link: LinkType },
    Pcapng,
    Finished,
}

/// A packet found in the buffer: `buf[data_start..data_end]`.
#[derive(Clone, Copy)]
struct Record {
    ts_ns: u64,
    orig_len: u32,
    link: LinkType,
    data_start: usize,
    data_end: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let bytes = [b[at], b[at + 1]];
        match self {
            ByteOrder::Little => u16::from_le_bytes(bytes),
            ByteOrder::Big => u16::from_be_bytes(bytes),
        }
    }

    fn u32(self, b: &[u8], at: usize) -> u32 {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            ByteOrder::Little => u32::from_le_bytes(bytes),
            ByteOrder::Big => u32::from_be_bytes(bytes),
        }
    }

    fn u64(self, b: &[u8], at: usize) -> u64 {
        let (hi, lo) = match self {
            ByteOrder::Little => (self.u32(b, at + 4), self.u32(b, at)),
            ByteOrder::Big => (self.u32(b, at), self.u32(b, at + 4)),
        };
        (u64::from(hi) << 32) | u64::from(lo)
    }
}

/// Unit of a pcapng interface's timestamps, as a conversion to nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsUnit {
    /// `10^-k` seconds with `k <= 9`: multiply by `10^(9-k)`.
    Mul(u64),
    /// `10^-k` seconds with `k > 9`: divide by `10^(k-9)` (`u128::MAX` when that overflows).
    Div(u128),
    /// `2^-k` seconds: `ts * 10^9 >> k`.
    Shift(u8),
}

impl TsUnit {
    const MICROS: TsUnit = TsUnit::Mul(1_000);

    /// Decodes an `if_tsresol` byte: top bit clear is a power of 10, set a power of 2.
    fn from_tsresol(value: u8) -> TsUnit {
        let exp = u32::from(value & 0x7F);
        if value & 0x80 != 0 {
            TsUnit::Shift(value & 0x7F)
        } else if exp <= 9 {
            TsUnit::Mul(10u64.pow(9 - exp))
        } else {
            TsUnit::Div(10u128.checked_pow(exp - 9).unwrap_or(u128::MAX))
        }
    }

    fn to_ns(self, ts: u64) -> u64 {
        match self {
            TsUnit::Mul(m) => ts.saturating_mul(m),
            TsUnit::Div(d) => u64::try_from(u128::from(ts) / d).unwrap_or(u64::MAX),
            TsUnit::Shift(k) => u64::try_from((u128::from(ts) * 1_000_000_000) >> k).unwrap_or(u64::MAX),
        }
    }
}

/// What an Interface Description Block says about its interface.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link: LinkType,
    /// 0: no limit.
    snaplen: u32,
    unit: TsUnit,
    /// `if_tsoffset` in nanoseconds.
    offset_ns: i128,
}

impl Interface {
    fn ts_ns(&self, ts: u64) -> u64 {
        let ns = self.unit.to_ns(ts);
        if self.offset_ns == 0 {
            return ns;
        }
        let shifted = (i128::from(ns) + self.offset_ns).max(0);
        u64::try_from(shifted).unwrap_or(u64::MAX)
    }
}

impl PcapFileReader<File> {
    /// Opens a capture file and reads its header.
    pub fn open(path: &Path) -> Result<Self, CaptureError> {
        let name = path.display().to_string();
        match File::open(path) {
            Ok(file) => Self::from_reader(file, name),
            Err(source) => Err(CaptureError::Io { name, offset: 0, source }),
        }
    }
}

impl<R: Read> PcapFileReader<R> {
    /// Reads the capture header from `reader`; `name` stands for the input in errors.
    pub fn from_reader(reader: R, name: String) -> Result<Self, CaptureError> {
        let mut this = PcapFileReader {
            reader,
            name,
            buf: vec![0; INITIAL_BUFFER_LEN],
            start: 0,
            end: 0,
            offset: 0,
            bytes_read: 0,
            eof: false,
            order: ByteOrder::Little,
            state: State::Finished,
            interfaces: Vec::new(),
            last_ts_ns: 0,
            pinned: false,
            pending: None,
        };
        this.read_file_header()?;
        Ok(this)
    }

    /// The name given to the input (the path for [`PcapFileReader::open`]).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Byte offset in the input of the next unread record or block.
    pub fn position(&self) -> u64 {
        self.offset
    }

    /// Bytes pulled from the input so far (at most one buffer ahead of [`Self::position`]).
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }

    /// The next packet, borrowed from the reader's buffer; `Ok(None)` at the end of the input and
    /// after any error.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, CaptureError> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        Ok(self.next_record()?.map(|r| self.raw(&r)))
    }

    /// Up to `out.len()` (at most [`MAX_BATCH`]) packets at once, all borrowed from the buffer, so a
    /// caller can look ahead (prefetch) across them. Returns how many were stored; 0 at the end of the
    /// input and after any error. An error met after some packets is returned by the next call.
    pub fn next_batch<'a>(&'a mut self, out: &mut [RawPacket<'a>]) -> Result<usize, CaptureError> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let max = out.len().min(MAX_BATCH);
        let empty = Record { ts_ns: 0, orig_len: 0, link: LinkType::Ethernet, data_start: 0, data_end: 0 };
        let mut records = [empty; MAX_BATCH];
        let mut n = 0;
        while n < max {
            // The first record may refill the buffer freely; later ones are taken only while they are
            // already buffered, so the batch ends instead of moving or growing the buffer.
            if n > 0 {
                if !self.next_record_is_buffered() {
                    break;
                }
                self.pinned = true;
            }
            match self.next_record() {
                Ok(Some(r)) => {
                    records[n] = r;
                    n += 1;
                }
                Ok(None) => break,
                Err(e) if n == 0 => {
                    self.pinned = false;
                    return Err(e);
                }
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        self.pinned = false;
        for (slot, r) in out.iter_mut().zip(&records[..n]) {
            *slot = self.raw(r);
        }
        Ok(n)
    }

    /// Whether the next record (pcap) or block (pcapng, not a section header) is wholly in the buffer.
    fn next_record_is_buffered(&self) -> bool {
        let avail = &self.buf[self.start..self.end];
        match self.state {
            State::Pcap { .. } => {
                avail.len() >= PCAP_RECORD_HEADER_LEN
                    && avail.len() - PCAP_RECORD_HEADER_LEN >= self.order.u32(avail, 8) as usize
            }
            State::Pcapng => {
                avail.len() >= 8
                    && self.order.u32(avail, 0) != BT_SHB
                    && avail.len() >= self.order.u32(avail, 4) as usize
            }
            State::Finished => true,
        }
    }

    fn raw(&self, r: &Record) -> RawPacket<'_> {
        RawPacket { ts_ns: r.ts_ns, orig_len: r.orig_len, link: r.link, data: &self.buf[r.data_start..r.data_end] }
    }

    fn next_record(&mut self) -> Result<Option<Record>, CaptureError> {
        let record = match self.state {
            State::Pcap { nano, link } => self.next_pcap_record(nano, link),
            State::Pcapng => self.next_pcapng_record(),
            State::Finished => Ok(None),
        };
        match record {
            Ok(Some(r)) => {
                self.last_ts_ns = r.ts_ns;
                Ok(Some(r))
            }
            Ok(None) => {
                self.state = State::Finished;
                Ok(None)
            }
            Err(e) => {
                self.state = State::Finished;
                Err(e)
            }
        }
    }

    fn read_file_header(&mut self) -> Result<(), CaptureError> {
        if !self.fill(4)? {
            return Err(self.truncated("the file header", 4));
        }
        let magic = ByteOrder::Big.u32(&self.buf, self.start);
        if magic == BT_SHB {
            self.state = State::Pcapng;
            return self.read_section_header();
        }
        let (order, nano) = match magic {
            PCAP_MICRO_MAGIC => (ByteOrder::Big, false),
            PCAP_NANO_MAGIC => (ByteOrder::Big, true),
            m if m.swap_bytes() == PCAP_MICRO_MAGIC => (ByteOrder::Little, false),
            m if m.swap_bytes() == PCAP_NANO_MAGIC => (ByteOrder::Little, true),
            _ => {
                return Err(CaptureError::NotACapture { name: self.name.clone(), magic });
            }
        };
        if !self.fill(PCAP_FILE_HEADER_LEN)? {
            return Err(self.truncated("the file header", PCAP_FILE_HEADER_LEN as u64));
        }
        let header = &self.buf[self.start..self.start + PCAP_FILE_HEADER_LEN];
        let (major, minor) = (order.u16(header, 4), order.u16(header, 6));
        if major != 2 {
            return Err(self.corrupt(format!("unsupported pcap version {major}.{minor}")));
        }
        let link = LinkType::from_linktype(order.u32(header, 20) & 0xFFFF);
        self.order = order;
        self.state = State::Pcap { nano, link };
        self.consume(PCAP_FILE_HEADER_LEN);
        Ok(())
    }

    fn next_pcap_record(&mut self, nano: bool, link: LinkType) -> Result<Option<Record>, CaptureError> {
        if !self.fill(PCAP_RECORD_HEADER_LEN)? {
            if self.start == self.end {
                return Ok(None);
            }
            return Err(self.truncated("a packet record header", PCAP_RECORD_HEADER_LEN as u64));
        }
        let order = self.order;
        let header = &self.buf[self.start..self.start + PCAP_RECORD_HEADER_LEN];
        let ts_sec = order.u32(header, 0);
        let ts_frac = order.u32(header, 4);
        let caplen = order.u32(header, 8);
        let orig_len = order.u32(header, 12);
        if caplen > MAX_RECORD_LEN {
            return Err(self.corrupt(format!("captured length {caplen} exceeds the limit of {MAX_RECORD_LEN} bytes")));
        }
        let total = PCAP_RECORD_HEADER_LEN + caplen as usize;
        if !self.fill(total)? {
            return Err(self.truncated("a packet record", total as u64));
        }
        let frac_ns = if nano { u64::from(ts_frac) } else { u64::from(ts_frac) * 1_000 };
        // u32::MAX seconds in nanoseconds plus any u32 fraction fits comfortably in a u64.
        let ts_ns = u64::from(ts_sec) * 1_000_000_000 + frac_ns;
        let data_start = self.start + PCAP_RECORD_HEADER_LEN;
        self.consume(total);
        Ok(Some(Record { ts_ns, orig_len, link, data_start, data_end: data_start + caplen as usize }))
    }

    /// Reads blocks until one holds a packet.
    fn next_pcapng_record(&mut self) -> Result<Option<Record>, CaptureError> {
        loop {
            if !self.fill(8)? {
                if self.start == self.end {
                    return Ok(None);
                }
                return Err(self.truncated("a block header", 8));
            }
            let block_type = self.order.u32(&self.buf, self.start);
            if block_type == BT_SHB {
                self.read_section_header()?;
                continue;
            }
            let len = self.order.u32(&self.buf, self.start + 4);
            let len = self.load_block(block_type, len)?;
            let record = match block_type {
                BT_EPB | BT_PB => Some(self.packet_block(block_type, len)?),
                BT_SPB => Some(self.simple_packet_block(len)?),
                BT_IDB => {
                    self.interface_description_block(len)?;
                    None
                }
                _ => None,
            };
            self.consume(len);
            if record.is_some() {
                return Ok(record);
            }
        }
    }

    /// Validates a block's total length, buffers the whole block and checks its trailing length.
    fn load_block(&mut self, block_type: u32, len: u32) -> Result<usize, CaptureError> {
        if !len.is_multiple_of(4) {
            return Err(self.corrupt(format!("block length {len} is not a multiple of 4")));
        }
        if (len as usize) < BLOCK_OVERHEAD {
            return Err(self.corrupt(format!("block length {len} is below the minimum of {BLOCK_OVERHEAD} bytes")));
        }
        if len > MAX_RECORD_LEN {
            return Err(self.corrupt(format!("block length {len} exceeds the limit of {MAX_RECORD_LEN} bytes")));
        }
        let len = len as usize;
        if !self.fill(len)? {
            return Err(self.truncated(block_name(block_type), len as u64));
        }
        let trailer = self.order.u32(&self.buf, self.start + len - 4);
        if trailer as usize != len {
            return Err(
                self.corrupt(format!("trailing block length {trailer} differs from the leading block length {len}"))
            );
        }
        Ok(len)
    }

    /// Starts a section: byte order from the Section Header Block, no interfaces yet.
    fn read_section_header(&mut self) -> Result<(), CaptureError> {
        if !self.fill(12)? {
            return Err(self.truncated(block_name(BT_SHB), 12));
        }
        let order = match ByteOrder::Big.u32(&self.buf, self.start + 8) {
            BYTE_ORDER_MAGIC => ByteOrder::Big,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => ByteOrder::Little,
            m => {
                return Err(self.corrupt(format!("section header block has an unknown byte-order magic {m:#010x}")));
            }
        };
        self.order = order;
        let len = order.u32(&self.buf, self.start + 4);
        let len = self.load_block(BT_SHB, len)?;
        if len < SHB_MIN_LEN {
            return Err(
                self.corrupt(format!("section header block length {len} is below its minimum of {SHB_MIN_LEN} bytes"))
            );
        }
        let major = order.u16(&self.buf, self.start + 12);
        let minor = order.u16(&self.buf, self.start + 14);
        if major != 1 {
            return Err(self.corrupt(format!("unsupported pcapng version {major}.{minor}")));
        }
        self.interfaces.clear();
        self.consume(len);
        Ok(())
    }

    fn interface_description_block(&mut self, len: usize) -> Result<(), CaptureError> {
        let order = self.order;
        let body = &self.buf[self.start + 8..self.start + len - 4];
        if body.len() < 8 {
            return Err(
                self.corrupt(format!("interface description block length {len} is below its minimum of 20 bytes"))
            );
        }
        let mut interface = Interface {
            link: LinkType::from_linktype(u32::from(order.u16(body, 0))),
            snaplen: order.u32(body, 4),
            unit: TsUnit::MICROS,
            offset_ns: 0,
        };
        let mut options = &body[8..];
        while options.len() >= 4 {
            let code = order.u16(options, 0);
            let value_len = usize::from(order.u16(options, 2));
            if code == OPT_END {
                break;
            }
            let Some(value) = options.get(4..4 + value_len) else {
                return Err(self.corrupt(format!(
                    "interface description block option {code} ({value_len} bytes) overruns the block"
                )));
            };
            match code {
                OPT_IF_TSRESOL if value_len == 1 => interface.unit = TsUnit::from_tsresol(value[0]),
                OPT_IF_TSOFFSET if value_len == 8 => {
                    // Two's complement reinterpretation: the option is a signed 64-bit integer.
                    let seconds = order.u64(value, 0) as i64;
                    interface.offset_ns = i128::from(seconds) * 1_000_000_000;
                }
                _ => {}
            }
            let padded = (4 + value_len).next_multiple_of(4).min(options.len());
            options = &options[padded..];
        }
        self.interfaces.push(interface);
        Ok(())
    }

    /// Enhanced Packet Block, or the obsolete Packet Block: same layout, but the latter has a 16-bit
    /// interface id followed by a 16-bit drop count.
    fn packet_block(&self, block_type: u32, len: usize) -> Result<Record, CaptureError> {
        let order = self.order;
        let kind = if block_type == BT_EPB { "enhanced packet block" } else { "packet block" };
        let body_start = self.start + 8;
        let body = &self.buf[body_start..self.start + len - 4];
        if body.len() < 20 {
            return Err(self.corrupt(format!("{kind} length {len} is below its minimum of 32 bytes")));
        }
        let interface_id = if block_type == BT_EPB { order.u32(body, 0) } else { u32::from(order.u16(body, 0)) };
        let ts = (u64::from(order.u32(body, 4)) << 32) | u64::from(order.u32(body, 8));
        let caplen = order.u32(body, 12);
        let orig_len = order.u32(body, 16);
        let room = body.len() - 20;
        if caplen as usize > room {
            return Err(self
                .corrupt(format!("{kind} captured length {caplen} overruns the block ({room} bytes of packet data)")));
        }
        let Some(interface) = self.interfaces.get(interface_id as usize) else {
            return Err(self.corrupt(format!(
                "{kind} refers to interface {interface_id}, but its section describes {} interface(s)",
                self.interfaces.len()
            )));
        };
        let data_start = body_start + 20;
        Ok(Record {
            ts_ns: interface.ts_ns(ts),
            orig_len,
            link: interface.link,
            data_start,
            data_end: data_start + caplen as usize,
        })
    }

    fn simple_packet_block(&self, len: usize) -> Result<Record, CaptureError> {
        let body_start = self.start + 8;
        let body = &self.buf[body_start..self.start + len - 4];
        if body.len() < 4 {
            return Err(self.corrupt(format!("simple packet block length {len} is below its minimum of 16 bytes")));
        }
        let Some(interface) = self.interfaces.first() else {
            return Err(
                self.corrupt("simple packet block in a section with no interface description block".to_string())
            );
        };
        let orig_len = self.order.u32(body, 0);
        let caplen = match interface.snaplen {
            0 => orig_len,
            snaplen => orig_len.min(snaplen),
        };
        let room = body.len() - 4;
        if caplen as usize > room {
            return Err(self.corrupt(format!(
                "simple packet block captured length {caplen} overruns the block \
                 ({room} bytes of packet data)"
            )));
        }
        let data_start = body_start + 4;
        Ok(Record {
            ts_ns: self.last_ts_ns,
            orig_len,
            link: interface.link,
            data_start,
            data_end: data_start + caplen as usize,
        })
    }

    /// Makes `need` bytes available at `buf[start..]`; `Ok(false)` if the input ends first.
    #[inline]
    fn fill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.end - self.start >= need {
            return Ok(true);
        }
        self.refill(need)
    }

    #[cold]
    fn refill(&mut self, need: usize) -> Result<bool, CaptureError> {
        if self.start > 0 && !self.pinned {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        // Pinned (inside a batch), the bytes before `start` still hold the batch's packets.
        let need = self.start + need;
        while self.end < need && !self.eof {
            if self.end == self.buf.len() {
                // Full, yet one record needs more: double, so that a bogus length costs memory
                // only as far as the input really holds that many bytes. A batch adds at most
                // MAX_BATCH records on top.
                let cap = need.max(MAX_BUFFER_LEN + self.start);
                self.buf.resize(self.buf.len().saturating_mul(2).min(cap), 0);
            }
            let free = &mut self.buf[self.end..];
            match self.reader.read(free) {
                Ok(0) => self.eof = true,
                Ok(n) => {
                    let n = n.min(free.len());
                    self.end += n;
                    self.bytes_read += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(CaptureError::Io { name: self.name.clone(), offset: self.offset, source });
                }
            }
        }
        Ok(self.end >= need)
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    fn truncated(&self, what: &'static str, needed: u64) -> CaptureError {
        CaptureError::Truncated {
            name: self.name.clone(),
            offset: self.offset,
            what,
            needed,
            remaining: (self.end - self.start) as u64,
        }
    }

    fn corrupt(&self, reason: String) -> CaptureError {
        CaptureError::Corrupt { name: self.name.clone(), offset: self.offset, reason }
    }
}

fn block_name(block_type: u32) -> &'static str {
    match block_type {
        BT_SHB => "a section header block",
        BT_IDB => "an interface description block",
        BT_PB => "a packet block",
        BT_SPB => "a simple packet block",
        BT_EPB => "an enhanced packet block",
        _ => "a block",
    }
}

#[cfg(test)]
#[path = "pcap_file_tests.rs"]
mod tests;
