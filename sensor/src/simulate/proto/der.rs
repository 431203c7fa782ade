//! A minimal ASN.1 DER writer for the Kerberos, SPNEGO and LDAP builders.
//!
//! Values are appended to a `Vec<u8>`. Constructed values take a closure that writes their content;
//! the tag and the definite, minimal length (short form below 128, long form `0x81`–`0x84` above) are
//! inserted in front once the content is known, so nesting needs no size precomputation. Only what
//! the simulator's messages use is here: universal BOOLEAN, INTEGER, BIT STRING, OCTET STRING, NULL,
//! OBJECT IDENTIFIER, ENUMERATED, SEQUENCE, SET, GeneralString and GeneralizedTime, plus context and
//! APPLICATION tags.

pub const BOOLEAN: u8 = 0x01;
pub const INTEGER: u8 = 0x02;
pub const BIT_STRING: u8 = 0x03;
pub const OCTET_STRING: u8 = 0x04;
pub const NULL: u8 = 0x05;
pub const OID: u8 = 0x06;
pub const ENUMERATED: u8 = 0x0a;
pub const GENERALIZED_TIME: u8 = 0x18;
/// GeneralString, Kerberos' `KerberosString` (RFC 4120 §5.2.1).
pub const GENERAL_STRING: u8 = 0x1b;
pub const SEQUENCE: u8 = 0x30;
pub const SET: u8 = 0x31;

/// A constructed context-specific tag `[n]` (explicit tagging), `n` below 31.
pub const fn context(n: u8) -> u8 {
    0xa0 | n
}

/// A primitive context-specific tag `[n]` (implicit tagging of a primitive type), `n` below 31.
pub const fn context_primitive(n: u8) -> u8 {
    0x80 | n
}

/// A constructed APPLICATION tag `[APPLICATION n]`, `n` below 31.
pub const fn application(n: u8) -> u8 {
    0x60 | n
}

/// A primitive APPLICATION tag, `n` below 31 (LDAP's unbindRequest).
pub const fn application_primitive(n: u8) -> u8 {
    0x40 | n
}

/// Appends a definite length in its minimal form.
pub fn length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = (len as u64).to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
}

/// Appends a tag and a length.
pub fn header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    length(out, len);
}

/// Appends a value of tag `tag` whose content `content` writes.
pub fn tlv(out: &mut Vec<u8>, tag: u8, content: impl FnOnce(&mut Vec<u8>)) {
    let start = out.len();
    content(out);
    let mut head = Vec::with_capacity(6);
    header(&mut head, tag, out.len() - start);
    out.splice(start..start, head);
}

/// SEQUENCE { content }.
pub fn sequence(out: &mut Vec<u8>, content: impl FnOnce(&mut Vec<u8>)) {
    tlv(out, SEQUENCE, content);
}

/// `[n] EXPLICIT { content }`.
pub fn explicit(out: &mut Vec<u8>, n: u8, content: impl FnOnce(&mut Vec<u8>)) {
    tlv(out, context(n), content);
}

/// A primitive value with the given tag and content bytes.
pub fn primitive(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// The minimal two's-complement content octets of `v`.
fn integer_content(v: i64) -> ([u8; 8], usize) {
    let bytes = v.to_be_bytes();
    let mut skip = 0;
    // A leading 0x00 (0xff) is redundant when the next byte's top bit already says positive (negative).
    while skip < 7
        && ((bytes[skip] == 0x00 && bytes[skip + 1] & 0x80 == 0)
            || (bytes[skip] == 0xff && bytes[skip + 1] & 0x80 != 0))
    {
        skip += 1;
    }
    (bytes, skip)
}

/// An INTEGER (or any integer-encoded value under `tag`, e.g. ENUMERATED).
pub fn integer_with_tag(out: &mut Vec<u8>, tag: u8, v: i64) {
    let (bytes, skip) = integer_content(v);
    primitive(out, tag, &bytes[skip..]);
}

pub fn integer(out: &mut Vec<u8>, v: i64) {
    integer_with_tag(out, INTEGER, v);
}

pub fn enumerated(out: &mut Vec<u8>, v: i64) {
    integer_with_tag(out, ENUMERATED, v);
}

pub fn boolean(out: &mut Vec<u8>, v: bool) {
    primitive(out, BOOLEAN, &[if v { 0xff } else { 0x00 }]);
}

pub fn octet_string(out: &mut Vec<u8>, bytes: &[u8]) {
    primitive(out, OCTET_STRING, bytes);
}

/// A BIT STRING of whole octets (no unused bits), as Kerberos flags are sent.
pub fn bit_string(out: &mut Vec<u8>, bytes: &[u8]) {
    header(out, BIT_STRING, bytes.len() + 1);
    out.push(0);
    out.extend_from_slice(bytes);
}

pub fn general_string(out: &mut Vec<u8>, s: &str) {
    primitive(out, GENERAL_STRING, s.as_bytes());
}

pub fn null(out: &mut Vec<u8>) {
    out.extend_from_slice(&[NULL, 0]);
}

/// An OBJECT IDENTIFIER from its arcs (at least two; the first below 3).
pub fn oid(out: &mut Vec<u8>, arcs: &[u32]) {
    tlv(out, OID, |out| {
        push_base128(out, arcs[0] * 40 + arcs[1]);
        for arc in &arcs[2..] {
            push_base128(out, *arc);
        }
    });
}

fn push_base128(out: &mut Vec<u8>, v: u32) {
    let groups = (32 - v.leading_zeros()).div_ceil(7).max(1);
    for g in (0..groups).rev() {
        let septet = ((v >> (7 * g)) & 0x7f) as u8;
        out.push(if g == 0 { septet } else { septet | 0x80 });
    }
}

/// A GeneralizedTime `YYYYMMDDHHMMSSZ` (UTC, whole seconds, as RFC 4120 `KerberosTime` requires)
/// for `unix_secs` seconds since 1970.
pub fn generalized_time(out: &mut Vec<u8>, unix_secs: u64) {
    let days = (unix_secs / 86_400) as i64;
    let secs = unix_secs % 86_400;
    let (y, m, d) = crate::timefmt::civil_from_days(days);
    let text = format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}Z", secs / 3600, secs / 60 % 60, secs % 60);
    primitive(out, GENERALIZED_TIME, text.as_bytes());
}

/// Test support: walks DER bytes and checks that every length field, at every depth, matches the
/// content it covers exactly (constructed values are recursed into).
#[cfg(test)]
pub(crate) fn check_lengths(bytes: &[u8]) -> Result<usize, String> {
    let mut at = 0;
    let mut values = 0;
    while at < bytes.len() {
        let tag = bytes[at];
        let first = *bytes.get(at + 1).ok_or("truncated length")?;
        let (len, head) = if first < 0x80 {
            (first as usize, 2)
        } else {
            let n = (first & 0x7f) as usize;
            let raw = bytes.get(at + 2..at + 2 + n).ok_or("truncated long length")?;
            if raw[0] == 0 || (n == 1 && raw[0] < 0x80) {
                return Err(format!("non-minimal length at {at}"));
            }
            (raw.iter().fold(0usize, |acc, b| acc << 8 | *b as usize), 2 + n)
        };
        let content = bytes.get(at + head..at + head + len).ok_or_else(|| format!("length overrun at {at}"))?;
        if tag & 0x20 != 0 {
            values += check_lengths(content)?;
        }
        values += 1;
        at += head + len;
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut v = Vec::new();
        f(&mut v);
        v
    }

    #[test]
    fn lengths_at_the_form_boundaries() {
        assert_eq!(enc(|o| length(o, 0)), [0x00]);
        assert_eq!(enc(|o| length(o, 127)), [0x7f]);
        assert_eq!(enc(|o| length(o, 128)), [0x81, 0x80]);
        assert_eq!(enc(|o| length(o, 255)), [0x81, 0xff]);
        assert_eq!(enc(|o| length(o, 256)), [0x82, 0x01, 0x00]);
        assert_eq!(enc(|o| length(o, 65_536)), [0x83, 0x01, 0x00, 0x00]);
        let big = enc(|o| octet_string(o, &[7; 256]));
        assert_eq!(&big[..4], [0x04, 0x82, 0x01, 0x00]);
        assert_eq!(big.len(), 260);
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        assert_eq!(enc(|o| integer(o, 0)), [0x02, 0x01, 0x00]);
        assert_eq!(enc(|o| integer(o, 5)), [0x02, 0x01, 0x05]);
        assert_eq!(enc(|o| integer(o, 127)), [0x02, 0x01, 0x7f]);
        assert_eq!(enc(|o| integer(o, 128)), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(enc(|o| integer(o, 256)), [0x02, 0x02, 0x01, 0x00]);
        assert_eq!(enc(|o| integer(o, -1)), [0x02, 0x01, 0xff]);
        assert_eq!(enc(|o| integer(o, -128)), [0x02, 0x01, 0x80]);
        assert_eq!(enc(|o| integer(o, -129)), [0x02, 0x02, 0xff, 0x7f]);
        // Kerberos etype -135 (RC4-HMAC-OLD-EXP) as Windows sends it.
        assert_eq!(enc(|o| integer(o, -135)), [0x02, 0x02, 0xff, 0x79]);
        assert_eq!(enc(|o| integer(o, 721_121_052)), [0x02, 0x04, 0x2a, 0xfb, 0x6f, 0x1c]);
        assert_eq!(enc(|o| enumerated(o, 1)), [0x0a, 0x01, 0x01]);
    }

    #[test]
    fn nested_values_get_their_headers() {
        let v = enc(|o| {
            tlv(o, application(14), |o| {
                sequence(o, |o| {
                    explicit(o, 0, |o| integer(o, 5));
                    explicit(o, 1, |o| octet_string(o, &[0xaa; 200]));
                })
            })
        });
        assert_eq!(&v[..8], [0x6e, 0x81, 0xd6, 0x30, 0x81, 0xd3, 0xa0, 0x03]);
        assert_eq!(v.len(), 3 + 0xd6);
        assert_eq!(check_lengths(&v), Ok(6));
    }

    #[test]
    fn oids_times_strings_and_bits() {
        // SPNEGO 1.3.6.1.5.5.2 and MS KRB5 1.2.840.48018.1.2.2 as Windows sends them.
        assert_eq!(enc(|o| oid(o, &[1, 3, 6, 1, 5, 5, 2])), [0x06, 0x06, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x02]);
        assert_eq!(
            enc(|o| oid(o, &[1, 2, 840, 48018, 1, 2, 2])),
            [0x06, 0x09, 0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02]
        );
        // 2037-09-13T02:48:05Z, Windows' "no end" KerberosTime.
        assert_eq!(enc(|o| generalized_time(o, 2_136_422_885)), b"\x18\x0f20370913024805Z");
        assert_eq!(enc(|o| generalized_time(o, 951_782_400)), b"\x18\x0f20000229000000Z");
        assert_eq!(enc(|o| general_string(o, "krbtgt")), b"\x1b\x06krbtgt");
        assert_eq!(enc(|o| bit_string(o, &[0x40, 0x81, 0x00, 0x10])), [0x03, 0x05, 0x00, 0x40, 0x81, 0x00, 0x10]);
        assert_eq!(enc(|o| boolean(o, true)), [0x01, 0x01, 0xff]);
        assert_eq!(enc(null), [0x05, 0x00]);
    }

    #[test]
    fn length_checker_rejects_lies() {
        assert!(check_lengths(&[0x30, 0x03, 0x02, 0x01]).is_err());
        assert!(check_lengths(&[0x04, 0x81, 0x05, 1, 2, 3, 4, 5]).is_err());
        assert_eq!(check_lengths(&[0x30, 0x03, 0x02, 0x01, 0x00]), Ok(2));
    }
}
