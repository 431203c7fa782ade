//! DNS feature family: the shape of the queried name and of the first answer, from DNS, mDNS and LLMNR
//! messages in wire format (RFC 1035 §4).
//!
//! `update` takes one transport payload: a whole message over UDP, or over TCP a segment that starts
//! with the 2-byte length prefix (RFC 1035 §4.2.2; best effort: a segment that continues a message, or
//! holds a second one, is not reassembled). A payload is a *parseable* message when
//!
//! - the 12-byte header is present and its opcode is assigned (QUERY, IQUERY, STATUS, NOTIFY, UPDATE,
//!   DSO);
//! - with QDCOUNT ≥ 1: the first question decodes completely, with a known class (IN, CH, HS, NONE,
//!   ANY; the mDNS unicast-response bit is ignored);
//! - with QDCOUNT = 0 (mDNS announcements, some error replies): it is a response whose records, all
//!   sections, end exactly at the end of the message. Such a query is ignored: it has no name.
//!
//! Anything else leaves the state unchanged. Whether a message is a query or a response comes from its
//! QR bit, not from the packet's direction.
//!
//! Names are decoded with label compression (RFC 1035 §4.1.4). Every pointer must land strictly before
//! the start of the name segment that holds it (every compressor points back at names written
//! earlier), so pointer chains cannot loop; at most 127 jumps and 255 wire bytes per name bound the
//! work. Record names in the answer section are skipped without being followed (a backward pointer
//! ends them), so walking a message costs time linear in its length.
//!
//! Features of the first parseable query: the name's length in presentation form without the trailing
//! dot (escapes of unusual bytes not counted), its label count, its longest label, the Shannon entropy
//! of its characters (dots excluded, ASCII case folded; computed once, as the name is not kept) and the
//! QTYPE. Features of the first parseable response: the header RCODE (the 4 bits of the header;
//! an EDNS extended RCODE is not combined), ANCOUNT, and the answer section's size in bytes: from the
//! end of the question section to the end of the last answer record, or, when those records cannot be
//! walked (cut by the snap length or a TCP segment boundary, malformed), the message length minus the
//! header and questions. Each group, its count included, is NaN when the flow carried no such message.
//!
//! The state is 24 bytes and allocation-free.
//!
//! [`query_name`] gives other stages the first question's name of a parseable query, lower-cased, by
//! the same framing and name walk.

use crate::flow::Direction;

/// Ports whose traffic is DNS in wire format: DNS (53), mDNS (5353) and LLMNR (5355).
pub fn is_dns_port(port: u16) -> bool {
    matches!(port, 53 | 5353 | 5355)
}

const HEADER_LEN: usize = 12;
/// RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63.
const MAX_NAME_WIRE_BYTES: usize = 255;
/// A 255-octet name has at most 127 labels; a legitimate name never needs more pointers than labels.
const MAX_POINTER_JUMPS: usize = 127;
/// QTYPE/TYPE, QCLASS/CLASS.
const QUESTION_TAIL_LEN: usize = 4;
/// TYPE, CLASS, TTL, RDLENGTH.
const RECORD_FIXED_LEN: usize = 10;

/// Per-flow DNS state.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsFeatures {
    query_count: u32,
    response_count: u32,
    qname_entropy_bits: f32,
    answer_bytes: u32,
    qtype: u16,
    answer_count: u16,
    qname_len_bytes: u8,
    qname_label_count: u8,
    qname_longest_label_bytes: u8,
    rcode: u8,
}

impl DnsFeatures {
    pub const NAMES: &'static [&'static str] = &[
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

    /// Accounts one transport payload of the flow; a payload that is not a parseable DNS message
    /// (see the module doc) is ignored.
    pub fn update(&mut self, _dir: Direction, payload: &[u8], over_tcp: bool) {
        let Some(msg) = Message::frame(payload, over_tcp) else {
            return;
        };
        let Some(header) = Header::parse(msg.bytes) else {
            return;
        };
        if header.qdcount == 0 {
            if header.is_response
                && let Some(answer_bytes) = msg.answer_bytes_without_questions(&header)
            {
                self.count_response(&header, || answer_bytes);
            }
            return;
        }
        let Some(question) = Question::parse_first(msg.bytes) else {
            return;
        };
        if header.is_response {
            self.count_response(&header, || msg.answer_bytes(&header, question.end));
        } else {
            if self.query_count == 0 {
                let name = &question.name;
                self.qname_len_bytes = name.presentation_len();
                self.qname_label_count = name.labels;
                self.qname_longest_label_bytes = name.longest_label;
                self.qname_entropy_bits = name.entropy_bits() as f32;
                self.qtype = question.qtype;
            }
            self.query_count = self.query_count.saturating_add(1);
        }
    }

    /// Writes the features in [`Self::NAMES`] order; `out.len()` must equal `NAMES.len()`.
    pub fn write(&self, out: &mut [f64]) {
        debug_assert_eq!(out.len(), Self::NAMES.len());
        let query = |v: f64| if self.query_count > 0 { v } else { f64::NAN };
        let response = |v: f64| if self.response_count > 0 { v } else { f64::NAN };
        let values = [
            query(f64::from(self.query_count)),
            query(f64::from(self.qname_len_bytes)),
            query(f64::from(self.qname_label_count)),
            query(f64::from(self.qname_longest_label_bytes)),
            query(f64::from(self.qname_entropy_bits)),
            query(f64::from(self.qtype)),
            response(f64::from(self.response_count)),
            response(f64::from(self.rcode)),
            response(f64::from(self.answer_count)),
            response(f64::from(self.answer_bytes)),
        ];
        for (slot, value) in out.iter_mut().zip(values) {
            *slot = value;
        }
    }

    /// Counts a response; the first one also records its header fields and `answer_bytes()`, which is
    /// only evaluated then.
    fn count_response(&mut self, header: &Header, answer_bytes: impl FnOnce() -> usize) {
        if self.response_count == 0 {
            self.rcode = header.rcode;
            self.answer_count = header.ancount;
            self.answer_bytes = u32::try_from(answer_bytes()).unwrap_or(u32::MAX);
        }
        self.response_count = self.response_count.saturating_add(1);
    }
}

/// The captured part of one DNS message and its full length.
#[derive(Debug, Clone, Copy)]
struct Message<'a> {
    /// At least the header; never longer than `len`.
    bytes: &'a [u8],
    /// The message length: the TCP length prefix, or the UDP payload length.
    len: usize,
}

impl<'a> Message<'a> {
    fn frame(payload: &'a [u8], over_tcp: bool) -> Option<Message<'a>> {
        let msg = if over_tcp {
            let (prefix, rest) = payload.split_first_chunk::<2>()?;
            let len = usize::from(u16::from_be_bytes(*prefix));
            Message { bytes: rest.get(..len).unwrap_or(rest), len }
        } else {
            Message { bytes: payload, len: payload.len() }
        };
        (msg.bytes.len() >= HEADER_LEN).then_some(msg)
    }

    /// Answer section size of a message whose first question ends at `first_question_end`.
    fn answer_bytes(&self, header: &Header, first_question_end: usize) -> usize {
        let questions_end = (1..header.qdcount).try_fold(first_question_end, |pos, _| skip_question(self.bytes, pos));
        let answers = questions_end.and_then(|start| {
            let end = skip_records(self.bytes, start, header.ancount)?;
            Some(end - start)
        });
        answers.unwrap_or_else(|| self.len.saturating_sub(questions_end.unwrap_or(first_question_end)))
    }

    /// For a message without questions: its answer section size, if its records (all sections) end
    /// exactly where the message does; `None` means the message is not parseable.
    fn answer_bytes_without_questions(&self, header: &Header) -> Option<usize> {
        let answers_end = skip_records(self.bytes, HEADER_LEN, header.ancount)?;
        let authority_end = skip_records(self.bytes, answers_end, header.nscount)?;
        let end = skip_records(self.bytes, authority_end, header.arcount)?;
        (end == self.len).then_some(answers_end - HEADER_LEN)
    }
}

/// The header fields the features use.
#[derive(Debug, Clone, Copy)]
struct Header {
    is_response: bool,
    rcode: u8,
    qdcount: u16,
    ancount: u16,
    nscount: u16,
    arcount: u16,
}

impl Header {
    fn parse(bytes: &[u8]) -> Option<Header> {
        let h = bytes.first_chunk::<HEADER_LEN>()?;
        let field = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        let flags = field(2);
        let opcode = (flags >> 11) & 0xF;
        // 0 QUERY, 1 IQUERY, 2 STATUS, 4 NOTIFY, 5 UPDATE, 6 DSO; 3 and 7-15 are unassigned.
        if !matches!(opcode, 0 | 1 | 2 | 4 | 5 | 6) {
            return None;
        }
        Some(Header {
            is_response: flags & 0x8000 != 0,
            rcode: (flags & 0xF) as u8,
            qdcount: field(4),
            ancount: field(6),
            nscount: field(8),
            arcount: field(10),
        })
    }
}

/// The first question of a message.
struct Question {
    name: NameStats,
    qtype: u16,
    /// Offset just past the question.
    end: usize,
}

impl Question {
    fn parse_first(bytes: &[u8]) -> Option<Question> {
        let (name, name_end) = read_name(bytes, HEADER_LEN)?;
        let (qtype, end) = question_tail(bytes, name_end)?;
        Some(Question { name, qtype, end })
    }
}

/// QTYPE and the offset just past the question whose name ends at `name_end`, if its class is known.
fn question_tail(bytes: &[u8], name_end: usize) -> Option<(u16, usize)> {
    let end = name_end.checked_add(QUESTION_TAIL_LEN)?;
    let tail = bytes.get(name_end..end)?;
    let qtype = u16::from_be_bytes([tail[0], tail[1]]);
    // The top bit is mDNS's unicast-response flag (RFC 6762 §5.4).
    let qclass = u16::from_be_bytes([tail[2], tail[3]]) & 0x7FFF;
    // IN, CH, HS, NONE, ANY.
    matches!(qclass, 1 | 3 | 4 | 254 | 255).then_some((qtype, end))
}

/// The first question's name of a DNS query, lower-cased, in presentation form without the trailing
/// dot: labels joined by `.` (empty for the root). Label bytes are kept as they are, except that a
/// `.` byte inside a label, which would read as a label boundary, is written as `_`. At most 253
/// bytes (the 255-byte wire limit).
#[derive(Clone, Copy)]
pub struct QueryName {
    bytes: [u8; MAX_NAME_WIRE_BYTES],
    len: u8,
}

impl QueryName {
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// Called by [`walk_name`], which bounds a name to 253 presentation bytes.
    fn push_label(&mut self, label: &[u8]) {
        let mut at = usize::from(self.len);
        if at > 0 {
            self.bytes[at] = b'.';
            at += 1;
        }
        let dst = &mut self.bytes[at..at + label.len()];
        for (d, &b) in dst.iter_mut().zip(label) {
            *d = if b == b'.' { b'_' } else { b.to_ascii_lowercase() };
        }
        self.len = u8::try_from(at + label.len()).unwrap_or(u8::MAX);
    }
}

impl std::fmt::Debug for QueryName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueryName({:?})", self.as_bytes().escape_ascii().to_string())
    }
}

/// The first question's name of `payload` (framed as in [`DnsFeatures::update`]) when it is a
/// parseable query (QR = 0; see the module doc); `None` for responses and anything else.
pub fn query_name(payload: &[u8], over_tcp: bool) -> Option<QueryName> {
    let msg = Message::frame(payload, over_tcp)?;
    let header = Header::parse(msg.bytes)?;
    if header.is_response || header.qdcount == 0 {
        return None;
    }
    let mut name = QueryName { bytes: [0; MAX_NAME_WIRE_BYTES], len: 0 };
    let name_end = walk_name(msg.bytes, HEADER_LEN, |label| name.push_label(label))?;
    question_tail(msg.bytes, name_end)?;
    Some(name)
}

/// What the features need from a decoded name.
struct NameStats {
    labels: u8,
    longest_label: u8,
    /// Label bytes (dots excluded), at most 253.
    chars: u8,
    /// Occurrences of each ASCII-lowercased byte among the label bytes.
    char_counts: [u8; 256],
}

impl NameStats {
    fn new() -> NameStats {
        NameStats { labels: 0, longest_label: 0, chars: 0, char_counts: [0; 256] }
    }

    /// Called with at most 127 labels of at most 63 bytes, 253 bytes in all (the wire limit).
    fn push_label(&mut self, label: &[u8]) {
        let len = u8::try_from(label.len()).unwrap_or(u8::MAX);
        self.labels = self.labels.saturating_add(1);
        self.longest_label = self.longest_label.max(len);
        self.chars = self.chars.saturating_add(len);
        for &b in label {
            let count = &mut self.char_counts[usize::from(b.to_ascii_lowercase())];
            *count = count.saturating_add(1);
        }
    }

    /// Presentation length without the trailing dot: label bytes plus the dots between labels.
    fn presentation_len(&self) -> u8 {
        self.chars.saturating_add(self.labels.saturating_sub(1))
    }

    /// Shannon entropy of the label characters in bits per character; 0 for the root name.
    fn entropy_bits(&self) -> f64 {
        super::entropy::entropy_bits(&self.char_counts, usize::from(self.chars))
    }
}

/// Decodes the name at `start`, following compression pointers. Returns its statistics and the offset
/// just past the name where it starts (after its first pointer, or its terminating zero byte).
fn read_name(bytes: &[u8], start: usize) -> Option<(NameStats, usize)> {
    let mut name = NameStats::new();
    let end = walk_name(bytes, start, |label| name.push_label(label))?;
    Some((name, end))
}

/// Walks the name at `start`, following compression pointers, and hands each label to `on_label`
/// (at most 127 labels, 253 label and dot bytes in all). Returns the offset just past the name where
/// it starts (after its first pointer, or its terminating zero byte); `None` for an invalid name, in
/// which case some labels may already have been handed over.
fn walk_name(bytes: &[u8], start: usize, mut on_label: impl FnMut(&[u8])) -> Option<usize> {
    let mut pos = start;
    // Pointers must land strictly below this: the start of the segment being read.
    let mut segment_start = start;
    let mut end_in_stream = None;
    let mut jumps = 0;
    let mut wire_bytes = 1; // the terminating root label
    loop {
        let len_byte = *bytes.get(pos)?;
        match len_byte & 0xC0 {
            0x00 if len_byte == 0 => return Some(end_in_stream.unwrap_or(pos + 1)),
            0x00 => {
                let len = usize::from(len_byte);
                wire_bytes += 1 + len;
                if wire_bytes > MAX_NAME_WIRE_BYTES {
                    return None;
                }
                on_label(bytes.get(pos + 1..pos + 1 + len)?);
                pos += 1 + len;
            }
            0xC0 => {
                let target = pointer_target(len_byte, *bytes.get(pos + 1)?);
                jumps += 1;
                if target >= segment_start || jumps > MAX_POINTER_JUMPS {
                    return None;
                }
                end_in_stream.get_or_insert(pos + 2);
                segment_start = target;
                pos = target;
            }
            // 0x40 (extended label types, RFC 6891 §5) and 0x80 (reserved).
            _ => return None,
        }
    }
}

/// Offset just past the name at `pos`, without following pointers (a pointer must point backwards).
fn skip_name(bytes: &[u8], mut pos: usize) -> Option<usize> {
    let mut wire_bytes = 1;
    loop {
        let len_byte = *bytes.get(pos)?;
        match len_byte & 0xC0 {
            0x00 if len_byte == 0 => return Some(pos + 1),
            0x00 => {
                wire_bytes += 1 + usize::from(len_byte);
                if wire_bytes > MAX_NAME_WIRE_BYTES {
                    return None;
                }
                pos += 1 + usize::from(len_byte);
            }
            0xC0 => {
                let target = pointer_target(len_byte, *bytes.get(pos + 1)?);
                return (target < pos).then_some(pos + 2);
            }
            _ => return None,
        }
    }
}

fn pointer_target(high: u8, low: u8) -> usize {
    usize::from(high & 0x3F) << 8 | usize::from(low)
}

/// Offset just past the question at `pos`.
fn skip_question(bytes: &[u8], pos: usize) -> Option<usize> {
    let end = skip_name(bytes, pos)? + QUESTION_TAIL_LEN;
    (end <= bytes.len()).then_some(end)
}

/// Offset just past `count` resource records starting at `pos`.
fn skip_records(bytes: &[u8], mut pos: usize, count: u16) -> Option<usize> {
    for _ in 0..count {
        let fixed_start = skip_name(bytes, pos)?;
        let fixed = bytes.get(fixed_start..fixed_start + RECORD_FIXED_LEN)?;
        let rdlength = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        pos = fixed_start + RECORD_FIXED_LEN + rdlength;
        if pos > bytes.len() {
            return None;
        }
    }
    Some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A query for www.example.com A, id 0x1234, RD; 33 bytes.
    const QUERY_A: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\
        \x03www\x07example\x03com\x00\x00\x01\x00\x01";

    /// Its response, 67 bytes: question (offsets 12..33), then two answers that use compression:
    /// - 33..51: name -> 12 (www.example.com), CNAME, class IN, TTL 3600, RDLENGTH 6,
    ///   RDATA `\x03web` + pointer -> 16 (example.com);
    /// - 51..67: name -> 45 (web.example.com, inside the first RDATA), A, IN, TTL 3600, RDLENGTH 4,
    ///   93.184.216.34.
    const RESPONSE_A: &[u8] = b"\x12\x34\x81\x80\x00\x01\x00\x02\x00\x00\x00\x00\
        \x03www\x07example\x03com\x00\x00\x01\x00\x01\
        \xc0\x0c\x00\x05\x00\x01\x00\x00\x0e\x10\x00\x06\x03web\xc0\x10\
        \xc0\x2d\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x22";

    /// NXDOMAIN for nope.example.com A, 84 bytes: question 12..34, no answer, one SOA in the authority
    /// section (34..84: name -> 17, SOA, IN, TTL 900, RDLENGTH 38: `\x02ns`->17, `\x0ahostmaster`->17,
    /// five 32-bit values).
    const RESPONSE_NXDOMAIN: &[u8] = b"\xbe\xef\x81\x83\x00\x01\x00\x00\x00\x01\x00\x00\
        \x04nope\x07example\x03com\x00\x00\x01\x00\x01\
        \xc0\x11\x00\x06\x00\x01\x00\x00\x03\x84\x00\x26\
        \x02ns\xc0\x11\x0ahostmaster\xc0\x11\
        \x78\x49\x1c\x01\x00\x00\x1c\x20\x00\x00\x0e\x10\x00\x09\x3a\x80\x00\x00\x0e\x10";

    /// TXT response for t.example, 51 bytes: question 12..27, one answer 27..51 (name -> 12, TXT, IN,
    /// TTL 60, RDLENGTH 12, `\x0bhello world`).
    const RESPONSE_TXT: &[u8] = b"\xab\xcd\x85\x80\x00\x01\x00\x01\x00\x00\x00\x00\
        \x01t\x07example\x00\x00\x10\x00\x01\
        \xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x0c\x0bhello world";

    /// mDNS announcement, no question, 45 bytes: one PTR answer 12..45 (`_http._tcp.local`, PTR,
    /// IN, TTL 4500, RDLENGTH 5, `\x02mx` + pointer -> 12).
    const MDNS_ANNOUNCEMENT: &[u8] = b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00\
        \x05_http\x04_tcp\x05local\x00\x00\x0c\x00\x01\x00\x00\x11\x94\x00\x05\x02mx\xc0\x0c";

    fn features(f: &DnsFeatures) -> [f64; 10] {
        let mut out = [0.0; 10];
        f.write(&mut out);
        out
    }

    fn parse_udp(messages: &[&[u8]]) -> [f64; 10] {
        let mut f = DnsFeatures::default();
        for m in messages {
            f.update(Direction::Forward, m, false);
        }
        features(&f)
    }

    fn assert_query_nan(out: &[f64; 10]) {
        assert!(out[..6].iter().all(|v| v.is_nan()), "{out:?}");
    }

    fn assert_response_nan(out: &[f64; 10]) {
        assert!(out[6..].iter().all(|v| v.is_nan()), "{out:?}");
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-6, "{actual} != {expected}");
    }

    /// Header (id 0, RD, QDCOUNT 1) + the given name bytes + QTYPE + class IN.
    fn query_with_name(name: &[u8], qtype: u16) -> Vec<u8> {
        let mut m = b"\x00\x00\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00".to_vec();
        m.extend_from_slice(name);
        m.extend_from_slice(&qtype.to_be_bytes());
        m.extend_from_slice(&[0, 1]);
        m
    }

    fn wire_name(labels: &[&str]) -> Vec<u8> {
        let mut name = Vec::new();
        for label in labels {
            name.push(label.len() as u8);
            name.extend_from_slice(label.as_bytes());
        }
        name.push(0);
        name
    }

    #[test]
    fn state_is_small() {
        assert!(std::mem::size_of::<DnsFeatures>() <= 24);
    }

    #[test]
    fn dns_ports() {
        assert!(is_dns_port(53) && is_dns_port(5353) && is_dns_port(5355));
        assert!(!is_dns_port(853) && !is_dns_port(0) && !is_dns_port(5354));
    }

    #[test]
    fn empty_flow_is_all_nan() {
        let out = features(&DnsFeatures::default());
        assert_eq!(out.len(), DnsFeatures::NAMES.len());
        assert!(out.iter().all(|v| v.is_nan()));
    }

    #[test]
    fn a_query() {
        let out = parse_udp(&[QUERY_A]);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 15.0); // "www.example.com"
        assert_eq!(out[2], 3.0);
        assert_eq!(out[3], 7.0); // "example"
        // "wwwexamplecom": w×3, e×2, m×2, x a p l c o ×1, n = 13:
        // H = 3/13·log2(13/3) + 2·(2/13·log2(13/2)) + 6·(1/13·log2 13) = 3.026986833
        assert_close(out[4], 3.026_986_833);
        assert_eq!(out[5], 1.0); // A
        assert_response_nan(&out);
    }

    #[test]
    fn response_with_compressed_answers() {
        let out = parse_udp(&[RESPONSE_A]);
        assert_query_nan(&out);
        assert_eq!(out[6], 1.0);
        assert_eq!(out[7], 0.0); // NOERROR
        assert_eq!(out[8], 2.0);
        assert_eq!(out[9], 34.0); // 18 + 16
    }

    #[test]
    fn query_then_response() {
        let out = parse_udp(&[QUERY_A, RESPONSE_A]);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 15.0);
        assert_eq!(out[6], 1.0);
        assert_eq!(out[9], 34.0);
    }

    #[test]
    fn nxdomain_has_no_answer_bytes() {
        let out = parse_udp(&[RESPONSE_NXDOMAIN]);
        assert_eq!(out[6], 1.0);
        assert_eq!(out[7], 3.0);
        assert_eq!(out[8], 0.0);
        // The 50-byte SOA is in the authority section, not the answers.
        assert_eq!(out[9], 0.0);
    }

    #[test]
    fn txt_response() {
        let out = parse_udp(&[RESPONSE_TXT]);
        assert_eq!(out[7], 0.0);
        assert_eq!(out[8], 1.0);
        assert_eq!(out[9], 24.0); // 2 + 10 + 12
    }

    #[test]
    fn first_query_and_first_response_are_kept() {
        let txt_query = query_with_name(b"\x01t\x07example\x00", 16);
        let out = parse_udp(&[QUERY_A, &txt_query, RESPONSE_NXDOMAIN, RESPONSE_A, RESPONSE_TXT]);
        assert_eq!(out[0], 2.0);
        assert_eq!(out[1], 15.0);
        assert_eq!(out[5], 1.0);
        assert_eq!(out[6], 3.0);
        assert_eq!(out[7], 3.0);
        assert_eq!(out[9], 0.0);
    }

    #[test]
    fn iodine_style_name() {
        // Two 63-byte base32 data labels under the zone t.x, as a NULL query. Case folded, the 128
        // characters hold each of the 32 base32 symbols exactly 4 times: H = log2(32) = 5 bits.
        let data1 = "abcdefghijklmnopqrstuvwxyz234567ABCDEFGHIJKLMNOPQRSTUVWXYZ23456";
        let data2 = "7abcdefghijklmnopqrstuvwxyz234567ABCDEFGHIJKLMNOPQRSUVWYZ234567";
        let query = query_with_name(&wire_name(&[data1, data2, "t", "x"]), 10);
        let out = parse_udp(&[&query]);
        assert_eq!(out[1], 131.0); // 63 + 1 + 63 + 1 + 1 + 1 + 1
        assert_eq!(out[2], 4.0);
        assert_eq!(out[3], 63.0);
        assert_eq!(out[4], 5.0);
        assert_eq!(out[5], 10.0);
    }

    #[test]
    fn entropy_hand_computed() {
        let entropy = |labels: &[&str]| {
            let out = parse_udp(&[&query_with_name(&wire_name(labels), 1)]);
            out[4]
        };
        assert_eq!(entropy(&["aaaa"]), 0.0);
        assert_eq!(entropy(&["abcd"]), 2.0);
        // Dots excluded and case folded: "aB.ba" → a×2, b×2 → 1 bit.
        assert_eq!(entropy(&["aB", "ba"]), 1.0);
        // The root name has no characters.
        assert_eq!(entropy(&[]), 0.0);
    }

    #[test]
    fn root_name_query() {
        let out = parse_udp(&[&query_with_name(b"\x00", 2)]);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 0.0);
        assert_eq!(out[2], 0.0);
        assert_eq!(out[3], 0.0);
        assert_eq!(out[5], 2.0);
    }

    #[test]
    fn name_length_limit() {
        // 127 one-byte labels: 255 wire bytes, the maximum; 253 in presentation form.
        let max: Vec<&str> = vec!["a"; 127];
        let out = parse_udp(&[&query_with_name(&wire_name(&max), 1)]);
        assert_eq!(out[1], 253.0);
        assert_eq!(out[2], 127.0);
        // One byte more is not a valid name.
        let mut too_long = vec!["a"; 126];
        too_long.push("bb");
        assert_query_nan(&parse_udp(&[&query_with_name(&wire_name(&too_long), 1)]));
    }

    #[test]
    fn compression_loops_are_ignored() {
        // Name at 12 is a pointer to itself.
        let self_pointer = query_with_name(b"\xc0\x0c", 1);
        // "a" then a pointer back to the name's own start: a.a.a.a... without the rule.
        let label_loop = query_with_name(b"\x01a\xc0\x0c", 1);
        // A pointer forward to a pointer back to the first one.
        let mut two_step = query_with_name(b"\xc0\x12", 1);
        two_step.extend_from_slice(b"\xc0\x0c");
        for m in [&self_pointer, &label_loop, &two_step] {
            let out = parse_udp(&[m]);
            assert_query_nan(&out);
            assert_response_nan(&out);
        }
    }

    #[test]
    fn pointer_into_earlier_bytes_is_followed() {
        // Question name = "\x03abc" + pointer to offset 4, where the header's QDCOUNT/ANCOUNT bytes
        // read as "\x00": the root. Legal backward pointer, name "abc".
        let out = parse_udp(&[&query_with_name(b"\x03abc\xc0\x04", 1)]);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 3.0);
    }

    #[test]
    fn answer_that_cannot_be_walked_falls_back_to_message_length() {
        // RESPONSE_TXT with an EDNS OPT record (11 bytes) in the additional section: 62 bytes.
        let mut m = RESPONSE_TXT.to_vec();
        m[11] = 1;
        m.extend_from_slice(b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00\x00");
        assert_eq!(parse_udp(&[&m])[9], 24.0);
        // Its answer name made a pointer to itself (offset 27): 62 - 27.
        m[28] = 0x1b;
        let out = parse_udp(&[&m]);
        assert_eq!(out[6], 1.0);
        assert_eq!(out[9], 35.0);
        // Cut by the snap length inside the answers: the captured length is all there is.
        let out = parse_udp(&[&RESPONSE_A[..60]]);
        assert_eq!(out[8], 2.0);
        assert_eq!(out[9], 27.0); // 60 - 33
    }

    #[test]
    fn dns_over_tcp() {
        let mut f = DnsFeatures::default();
        let mut query = b"\x00\x21".to_vec();
        query.extend_from_slice(QUERY_A);
        f.update(Direction::Forward, &query, true);
        // The response's first segment holds only 40 of its 67 bytes.
        let mut first_segment = b"\x00\x43".to_vec();
        first_segment.extend_from_slice(&RESPONSE_A[..40]);
        f.update(Direction::Backward, &first_segment, true);
        // The next segment continues the message: not parseable.
        f.update(Direction::Backward, &RESPONSE_A[40..], true);
        let out = features(&f);
        assert_eq!(out[0], 1.0);
        assert_eq!(out[1], 15.0);
        assert_eq!(out[6], 1.0);
        assert_eq!(out[8], 2.0);
        assert_eq!(out[9], 34.0); // 67 (length prefix) - 33
    }

    #[test]
    fn tcp_segment_with_two_messages_parses_the_first() {
        let mut seg = b"\x00\x21".to_vec();
        seg.extend_from_slice(QUERY_A);
        seg.extend_from_slice(b"\x00\x21");
        seg.extend_from_slice(QUERY_A);
        let mut f = DnsFeatures::default();
        f.update(Direction::Forward, &seg, true);
        assert_eq!(features(&f)[0], 1.0);
    }

    #[test]
    fn tcp_length_prefix_shorter_than_header_is_ignored() {
        let mut seg = b"\x00\x0b".to_vec();
        seg.extend_from_slice(QUERY_A);
        let mut f = DnsFeatures::default();
        f.update(Direction::Forward, &seg, true);
        assert_query_nan(&features(&f));
    }

    #[test]
    fn mdns_announcement_without_question() {
        let out = parse_udp(&[MDNS_ANNOUNCEMENT]);
        assert_query_nan(&out);
        assert_eq!(out[6], 1.0);
        assert_eq!(out[8], 1.0);
        assert_eq!(out[9], 33.0); // 45 - 12
        // Without questions the records must fill the message exactly.
        let short = &MDNS_ANNOUNCEMENT[..44];
        let mut long = MDNS_ANNOUNCEMENT.to_vec();
        long.push(0);
        assert_response_nan(&parse_udp(&[short, &long]));
    }

    #[test]
    fn non_dns_payloads_are_ignored() {
        let http: &[u8] = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
        let ones = [0xFFu8; 64];
        // Unknown class (2).
        let mut bad_class = QUERY_A.to_vec();
        bad_class[32] = 2;
        // Opcode 3 (unassigned).
        let mut bad_opcode = QUERY_A.to_vec();
        bad_opcode[2] = 0x18;
        // Label running past the end.
        let cut = &QUERY_A[..20];
        let candidates: [&[u8]; 7] = [b"", &QUERY_A[..11], http, &ones, &bad_class, &bad_opcode, cut];
        for payload in candidates {
            for over_tcp in [false, true] {
                let mut f = DnsFeatures::default();
                f.update(Direction::Forward, payload, over_tcp);
                assert!(features(&f).iter().all(|v| v.is_nan()), "{payload:?}");
            }
        }
    }

    fn name_of(payload: &[u8], over_tcp: bool) -> Option<String> {
        query_name(payload, over_tcp).map(|n| String::from_utf8(n.as_bytes().to_vec()).unwrap())
    }

    #[test]
    fn query_name_of_a_query() {
        assert_eq!(name_of(QUERY_A, false).as_deref(), Some("www.example.com"));
        let mut tcp = b"\x00\x21".to_vec();
        tcp.extend_from_slice(QUERY_A);
        assert_eq!(name_of(&tcp, true).as_deref(), Some("www.example.com"));
        // Case folded; a '.' byte inside a label is not a boundary.
        let mixed = query_with_name(b"\x04A.bC\x07Example\x00", 1);
        assert_eq!(name_of(&mixed, false).as_deref(), Some("a_bc.example"));
        assert_eq!(name_of(&query_with_name(b"\x00", 2), false).as_deref(), Some(""));
        // A legal backward pointer into the header's zero bytes.
        assert_eq!(name_of(&query_with_name(b"\x03abc\xc0\x04", 1), false).as_deref(), Some("abc"));
        // The longest name: 127 one-byte labels, 253 bytes.
        let max = name_of(&query_with_name(&wire_name(&["a"; 127]), 1), false).unwrap();
        assert_eq!(max.len(), 253);
    }

    #[test]
    fn query_name_refuses_what_is_not_a_parseable_query() {
        let mut bad_class = QUERY_A.to_vec();
        bad_class[32] = 2;
        let self_pointer = query_with_name(b"\xc0\x0c", 1);
        let label_loop = query_with_name(b"\x01a\xc0\x0c", 1);
        let mut too_long = vec!["a"; 126];
        too_long.push("bb");
        let too_long = query_with_name(&wire_name(&too_long), 1);
        let candidates: [&[u8]; 9] = [
            RESPONSE_A,
            MDNS_ANNOUNCEMENT,
            &QUERY_A[..20],
            &QUERY_A[..31],
            &QUERY_A[..11],
            &bad_class,
            &self_pointer,
            &label_loop,
            &too_long,
        ];
        for payload in candidates {
            assert!(query_name(payload, false).is_none(), "{payload:?}");
        }
        // Over TCP without the length prefix, the header is misread as a prefix.
        assert!(query_name(QUERY_A, true).is_none());
    }

    fn check_invariants(out: &[f64; 10]) {
        if !out[0].is_nan() {
            assert!(out[0] >= 1.0);
            assert!((0.0..=253.0).contains(&out[1]));
            assert!((0.0..=127.0).contains(&out[2]));
            assert!((0.0..=63.0).contains(&out[3]));
            assert!((0.0..=8.0).contains(&out[4]));
        }
        if !out[6].is_nan() {
            assert!((0.0..=15.0).contains(&out[7]));
            assert!((0.0..=65535.0).contains(&out[9]));
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                       over_tcp in any::<bool>()) {
            let mut f = DnsFeatures::default();
            f.update(Direction::Forward, &bytes, over_tcp);
            f.update(Direction::Backward, &bytes, over_tcp);
            check_invariants(&features(&f));
        }

        #[test]
        fn plausible_header_with_arbitrary_body_never_panics(
            response in any::<bool>(),
            counts in proptest::array::uniform4(0u16..4),
            body in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let flags: u16 = if response { 0x8180 } else { 0x0100 };
            let mut m = vec![0, 1];
            m.extend_from_slice(&flags.to_be_bytes());
            for c in counts {
                m.extend_from_slice(&c.to_be_bytes());
            }
            m.extend_from_slice(&body);
            let mut f = DnsFeatures::default();
            f.update(Direction::Forward, &m, false);
            check_invariants(&features(&f));
        }

        #[test]
        fn query_name_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600),
                                   over_tcp in any::<bool>()) {
            if let Some(name) = query_name(&bytes, over_tcp) {
                prop_assert!(name.as_bytes().len() <= 253);
                prop_assert!(!name.as_bytes().iter().any(u8::is_ascii_uppercase));
            }
        }

        #[test]
        fn mutated_response_never_panics(index in 0usize..67, value in any::<u8>()) {
            let mut m = RESPONSE_A.to_vec();
            m[index] = value;
            let mut f = DnsFeatures::default();
            f.update(Direction::Forward, &m, false);
            check_invariants(&features(&f));
        }
    }
}
