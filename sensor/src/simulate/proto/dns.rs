//! DNS messages (RFC 1035) as a stub resolver and a recursive server write them, for UDP port 53 or,
//! wrapped by [`tcp_framed`], DNS over TCP; plus the names and TXT data of DNS tunnels.
//!
//! What real traffic looks like and is modelled: a query carries one question and nothing else (the
//! Windows DNS client sends no EDNS OPT record), so a query for `www.example.com` is 33 bytes; the
//! response repeats the question (flags RD and RA set) and names each answer's owner by a 2-byte
//! pointer to the question, or to the previous CNAME's target, as servers compress; a CNAME target
//! that ends like the question is compressed against it. Tunnels (iodine, dnscat2, DNSExfiltrator)
//! pack data into labels of up to 63 characters under their domain, up to the 253-character limit of
//! a name, and answer with TXT text or NULL bytes.
//!
//! Names are given as dotted text (a trailing dot is allowed); a label longer than 63 bytes, an empty
//! label or a name longer than 253 characters is a caller's bug and panics, as do TXT strings longer
//! than 255 bytes.

use super::opaque;
use crate::simulate::rng::Rng;

/// A resource record type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RrType(pub u16);

impl RrType {
    pub const A: RrType = RrType(1);
    pub const NS: RrType = RrType(2);
    pub const CNAME: RrType = RrType(5);
    pub const SOA: RrType = RrType(6);
    pub const NULL: RrType = RrType(10);
    pub const PTR: RrType = RrType(12);
    pub const MX: RrType = RrType(15);
    pub const TXT: RrType = RrType(16);
    pub const AAAA: RrType = RrType(28);
    pub const SRV: RrType = RrType(33);
    pub const ANY: RrType = RrType(255);
}

/// Response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError = 0,
    FormErr = 1,
    ServFail = 2,
    NxDomain = 3,
    NotImp = 4,
    Refused = 5,
}

/// Whether a query asks the server to recurse (the RD flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recursion {
    Desired,
    NotDesired,
}

/// The data of an answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rdata {
    A([u8; 4]),
    Aaaa([u8; 16]),
    /// The canonical name; later answers are owned by it.
    Cname(String),
    /// Character strings of at most 255 bytes each.
    Txt(Vec<Vec<u8>>),
    Null(Vec<u8>),
}

impl Rdata {
    fn rr_type(&self) -> RrType {
        match self {
            Rdata::A(_) => RrType::A,
            Rdata::Aaaa(_) => RrType::AAAA,
            Rdata::Cname(_) => RrType::CNAME,
            Rdata::Txt(_) => RrType::TXT,
            Rdata::Null(_) => RrType::NULL,
        }
    }
}

/// An answer record (class IN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub ttl: u32,
    pub data: Rdata,
}

const CLASS_IN: u16 = 1;
const HEADER_LEN: usize = 12;
const FLAG_QR: u16 = 0x8000;
const FLAG_RD: u16 = 0x0100;
const FLAG_RA: u16 = 0x0080;
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;
/// RFC 4648 base32 alphabet, lowercase as tunnels put it in names.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Appends a query for `name` of type `qtype`.
pub fn query(out: &mut Vec<u8>, id: u16, name: &str, qtype: RrType, recursion: Recursion) {
    let flags = match recursion {
        Recursion::Desired => FLAG_RD,
        Recursion::NotDesired => 0,
    };
    header(out, id, flags, 1, 0);
    question(out, name, qtype);
}

/// Appends the response to a recursive query for `name` of type `qtype`.
pub fn response(out: &mut Vec<u8>, id: u16, name: &str, qtype: RrType, rcode: Rcode, answers: &[Answer]) {
    let start = out.len();
    let count = u16::try_from(answers.len()).expect("at most 65,535 answers");
    header(out, id, FLAG_QR | FLAG_RD | FLAG_RA | rcode as u16, 1, count);
    question(out, name, qtype);
    let question_name = name.strip_suffix('.').unwrap_or(name);
    let mut owner = HEADER_LEN as u16;
    for answer in answers {
        out.extend_from_slice(&(0xc000 | owner).to_be_bytes());
        out.extend_from_slice(&answer.data.rr_type().0.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&answer.ttl.to_be_bytes());
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        match &answer.data {
            Rdata::A(addr) => out.extend_from_slice(addr),
            Rdata::Aaaa(addr) => out.extend_from_slice(addr),
            Rdata::Cname(target) => {
                owner = u16::try_from(out.len() - start).expect("CNAME target within a pointer's reach");
                assert!(owner < 0x4000, "CNAME target at offset {owner} beyond a pointer's reach");
                compressed_name(out, target, question_name);
            }
            Rdata::Txt(strings) => {
                for s in strings {
                    assert!(s.len() <= 255, "TXT string of {} bytes (at most 255)", s.len());
                    out.push(s.len() as u8);
                    out.extend_from_slice(s);
                }
            }
            Rdata::Null(data) => out.extend_from_slice(data),
        }
        let rdlength = u16::try_from(out.len() - len_at - 2).expect("RDATA of at most 65,535 bytes");
        out[len_at..len_at + 2].copy_from_slice(&rdlength.to_be_bytes());
    }
}

/// Appends one DNS-over-TCP message: the 2-byte length, then whatever `build` appends (one of
/// [`query`] or [`response`], whose compression pointers count from the message's own start).
pub fn tcp_framed(out: &mut Vec<u8>, build: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    build(out);
    let len = u16::try_from(out.len() - at - 2).expect("a DNS message over TCP is at most 65,535 bytes");
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

/// A tunnel query name: `data_len` random bytes in lowercase base32 (no padding), cut into labels of
/// at most 63 characters, under `domain`. The data is cut so that the name stays within 253
/// characters (at most 148 bytes under an 11-character domain).
pub fn tunnel_name(rng: &mut Rng, data_len: usize, domain: &str) -> String {
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    assert!(domain.len() < MAX_NAME_LEN - 1, "tunnel domain {domain:?} leaves no room for data");
    let room = MAX_NAME_LEN - domain.len() - usize::from(!domain.is_empty());
    // `chars` base32 characters need a dot after every label of up to 63.
    let mut chars = room;
    while chars + chars.div_ceil(MAX_LABEL_LEN) > room {
        chars -= 1;
    }
    let data = opaque::slice(rng, data_len.min(chars * 5 / 8));
    let mut name = String::with_capacity(MAX_NAME_LEN);
    let mut label_len = 0;
    base32(data, |c| {
        if label_len == MAX_LABEL_LEN {
            name.push('.');
            label_len = 0;
        }
        name.push(c);
        label_len += 1;
    });
    if !name.is_empty() && !domain.is_empty() {
        name.push('.');
    }
    name.push_str(domain);
    name
}

/// Tunnel data for a TXT answer: `data_len` random bytes in lowercase base32, as strings of at most
/// 255 characters.
pub fn tunnel_txt(rng: &mut Rng, data_len: usize) -> Vec<Vec<u8>> {
    let mut encoded = String::with_capacity(data_len.div_ceil(5) * 8);
    for chunk in opaque_chunks(rng, data_len) {
        base32(chunk, |c| encoded.push(c));
    }
    encoded.as_bytes().chunks(255).map(<[u8]>::to_vec).collect()
}

/// `len` random bytes as slices of the opaque block whose lengths are multiples of 5 but the last,
/// so that their base32 encodings concatenate into the encoding of the whole.
fn opaque_chunks(rng: &mut Rng, len: usize) -> impl Iterator<Item = &'static [u8]> + '_ {
    const CHUNK: usize = opaque::BLOCK_LEN / 5 * 5;
    (0..len.div_ceil(CHUNK)).map(move |i| opaque::slice(rng, CHUNK.min(len - i * CHUNK)))
}

/// Feeds the unpadded RFC 4648 base32 encoding of `data` (lowercase) to `push`, one character at a time.
fn base32(data: &[u8], mut push: impl FnMut(char)) {
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in data {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            push(BASE32[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        push(BASE32[((acc << (5 - bits)) & 31) as usize] as char);
    }
}

fn header(out: &mut Vec<u8>, id: u16, flags: u16, questions: u16, answers: u16) {
    for field in [id, flags, questions, answers, 0, 0] {
        out.extend_from_slice(&field.to_be_bytes());
    }
}

fn question(out: &mut Vec<u8>, name: &str, qtype: RrType) {
    compressed_name(out, name, "");
    out.extend_from_slice(&qtype.0.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
}

/// Writes `name`, ending in a pointer to the question's name (at offset 12) when the two share a
/// suffix of whole labels.
fn compressed_name(out: &mut Vec<u8>, name: &str, question_name: &str) {
    let name = name.strip_suffix('.').unwrap_or(name);
    assert!(name.len() <= MAX_NAME_LEN, "DNS name of {} characters (at most 253): {name:?}", name.len());
    let mut rest = name;
    while !rest.is_empty() {
        if let Some(at) = label_suffix_at(question_name, rest) {
            // In wire form a suffix starts where its text starts: each length byte takes a dot's place.
            out.extend_from_slice(&(0xc000 | (HEADER_LEN + at) as u16).to_be_bytes());
            return;
        }
        let (label, tail) = rest.split_once('.').unwrap_or((rest, ""));
        assert!((1..=MAX_LABEL_LEN).contains(&label.len()), "DNS label of {} bytes (1 to 63) in {name:?}", label.len());
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
        rest = tail;
    }
    out.push(0);
}

/// Where `suffix` starts in `name` if `name` ends with it on a label boundary (ignoring ASCII case).
fn label_suffix_at(name: &str, suffix: &str) -> Option<usize> {
    let at = name.len().checked_sub(suffix.len())?;
    let on_boundary = at == 0 || name.as_bytes()[at - 1] == b'.';
    (on_boundary && name.is_char_boundary(at) && name[at..].eq_ignore_ascii_case(suffix)).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dotted text (with its final dot) of an uncompressed wire-format name.
    fn text_of(wire: &[u8]) -> String {
        let mut text = String::new();
        let mut i = 0;
        while wire[i] != 0 {
            let n = wire[i] as usize;
            text.push_str(std::str::from_utf8(&wire[i + 1..i + 1 + n]).unwrap());
            text.push('.');
            i += 1 + n;
        }
        text
    }

    #[test]
    fn query_for_www_example_com_is_byte_exact() {
        let mut out = Vec::new();
        query(&mut out, 0x1234, "www.example.com", RrType::A, Recursion::Desired);
        #[rustfmt::skip]
        let expected: &[u8] = &[
            0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
            3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
            0, 1, 0, 1,
        ];
        assert_eq!(out, expected);
        let mut trailing_dot = Vec::new();
        query(&mut trailing_dot, 0x1234, "www.example.com.", RrType::A, Recursion::Desired);
        assert_eq!(trailing_dot, expected);
        let mut no_rd = Vec::new();
        query(&mut no_rd, 1, ".", RrType::NS, Recursion::NotDesired);
        assert_eq!(no_rd, [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
    }

    #[test]
    fn response_compresses_owners_and_cname_targets() {
        let answers = [
            Answer { ttl: 300, data: Rdata::Cname("edge.example.com".into()) },
            Answer { ttl: 60, data: Rdata::A([192, 0, 2, 7]) },
        ];
        let mut out = Vec::new();
        response(&mut out, 7, "www.example.com", RrType::A, Rcode::NoError, &answers);
        let q_end = 12 + 17 + 4;
        assert_eq!(&out[..12], &[0, 7, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0]);
        #[rustfmt::skip]
        let expected_answers: &[u8] = &[
            0xc0, 0x0c, 0, 5, 0, 1, 0, 0, 1, 44, 0, 7, 4, b'e', b'd', b'g', b'e', 0xc0, 0x10,
            0xc0, 45, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 7,
        ];
        assert_eq!(q_end + 12, 45, "the CNAME target's offset, pointed to by the A record");
        assert_eq!(&out[q_end..], expected_answers);
    }

    #[test]
    fn response_writes_txt_null_and_aaaa_and_rcodes() {
        let answers = [
            Answer { ttl: 0, data: Rdata::Txt(vec![b"v=spf1 -all".to_vec(), vec![b'x'; 255]]) },
            Answer { ttl: 1, data: Rdata::Null(vec![0, 1, 2]) },
            Answer { ttl: 2, data: Rdata::Aaaa([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) },
        ];
        let mut out = Vec::new();
        response(&mut out, 9, "t.example.org", RrType::TXT, Rcode::NoError, &answers);
        let mut at = 12 + 15 + 4;
        for (rr_type, rdlength) in [(16u16, 1 + 11 + 1 + 255), (10, 3), (28, 16)] {
            assert_eq!(&out[at..at + 4], &[0xc0, 0x0c, (rr_type >> 8) as u8, rr_type as u8]);
            assert_eq!(u16::from_be_bytes([out[at + 10], out[at + 11]]) as usize, rdlength);
            at += 12 + rdlength;
        }
        assert_eq!(at, out.len());
        let mut nx = Vec::new();
        response(&mut nx, 9, "nope.example.org", RrType::A, Rcode::NxDomain, &[]);
        assert_eq!(&nx[2..8], &[0x81, 0x83, 0, 1, 0, 0]);
    }

    #[test]
    fn tcp_framing_prepends_the_length_and_keeps_pointers_message_relative() {
        let answers = [Answer { ttl: 5, data: Rdata::A([10, 0, 0, 1]) }];
        let mut udp = Vec::new();
        response(&mut udp, 3, "dc01.corp.example.com", RrType::A, Rcode::NoError, &answers);
        let mut tcp = vec![0xaa];
        tcp_framed(&mut tcp, |m| response(m, 3, "dc01.corp.example.com", RrType::A, Rcode::NoError, &answers));
        assert_eq!(&tcp[1..3], &(udp.len() as u16).to_be_bytes());
        assert_eq!(&tcp[3..], &udp[..]);
    }

    #[test]
    fn base32_matches_rfc_4648_vectors() {
        for (input, expected) in
            [("", ""), ("f", "my"), ("fo", "mzxq"), ("foo", "mzxw6"), ("foob", "mzxw6yq"), ("foobar", "mzxw6ytboi")]
        {
            let mut s = String::new();
            base32(input.as_bytes(), |c| s.push(c));
            assert_eq!(s, expected);
        }
    }

    #[test]
    fn tunnel_names_respect_label_and_name_limits() {
        let mut rng = Rng::new(11);
        // (data bytes asked, domain, base32 characters expected): 146 bytes fit under a 13-character
        // domain (239 characters of room: 235 for data in 4 labels), 152 under "x.io".
        for (data_len, domain, chars) in
            [(0, "t.example.com", 0), (10, "t.example.com", 16), (1000, "t.example.com", 234), (1000, "x.io", 244)]
        {
            let name = tunnel_name(&mut rng, data_len, domain);
            assert!(name.len() <= 253, "{name}");
            assert!(name.ends_with(domain));
            assert!(name.split('.').all(|l| (1..=63).contains(&l.len())), "{name}");
            let data: usize = name[..name.len() - domain.len()].split('.').map(str::len).sum();
            assert_eq!(data, chars, "{name}");
            let mut wire = Vec::new();
            query(&mut wire, 1, &name, RrType::TXT, Recursion::Desired);
            assert!(wire.len() - 12 - 4 <= 255, "wire name of {} bytes", wire.len() - 16);
            assert_eq!(text_of(&wire[12..]), format!("{name}."));
        }
        let name = |seed| tunnel_name(&mut Rng::new(seed), 40, "t.example.com");
        assert_eq!(name(1), name(1));
        assert_ne!(name(1), name(2));
    }

    #[test]
    fn tunnel_txt_strings_are_base32_of_the_length_asked() {
        let strings = tunnel_txt(&mut Rng::new(2), 400);
        assert_eq!(strings.iter().map(Vec::len).collect::<Vec<_>>(), [255, 255, 130]);
        assert!(strings.iter().flatten().all(|c| BASE32.contains(c)));
    }
}
