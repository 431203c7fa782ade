//! X.509 v3 certificate chains for the TLS Certificate message: real DER structure (Wireshark
//! dissects every field) around random keys, serials and signatures.
//!
//! A chain is a leaf, its issuing CA and, one time in four when the size allows, the root, under
//! one of three public hierarchies (Microsoft Azure TLS / DigiCert Global Root G2, DigiCert TLS RSA
//! SHA256 2020 CA1 / DigiCert Global Root CA, Let's Encrypt R3 / ISRG Root X1). Keys are RSA-2048
//! (ISRG's root RSA-4096), signatures sha256WithRSAEncryption. CA certificates carry the usual
//! extensions and come out at 0.85–1.35 KB; the leaf's subjectAltName list of DNS names is sized so
//! that the chain's DER bytes total the length asked, as large SAN lists make real leaves
//! 1.3–3 KB. The smallest chain (two certificates, one SAN name) is 2.2–2.5 KB.

use crate::simulate::proto::der;
use crate::simulate::proto::opaque;
use crate::simulate::rng::Rng;

/// A CA hierarchy: the issuing CA and its root.
struct Hierarchy {
    country: &'static str,
    issuing_org: &'static str,
    issuing_cn: &'static str,
    root_org: &'static str,
    root_cn: &'static str,
    /// Modulus bytes of the root's key (and so of the issuing CA's signature).
    root_key_len: usize,
    ocsp_url: &'static str,
    ca_issuers_url: &'static str,
    crl_url: &'static str,
    root_crl_url: &'static str,
    /// Certificate policy of the leaf (CA/Browser Forum OV or DV), as OID arcs.
    leaf_policy: &'static [u32],
}

const HIERARCHIES: [Hierarchy; 3] = [
    Hierarchy {
        country: "US",
        issuing_org: "Microsoft Corporation",
        issuing_cn: "Microsoft Azure TLS Issuing CA 01",
        root_org: "DigiCert Inc",
        root_cn: "DigiCert Global Root G2",
        root_key_len: 256,
        ocsp_url: "http://oneocsp.microsoft.com/ocsp",
        ca_issuers_url: "http://www.microsoft.com/pkiops/certs/Microsoft%20Azure%20TLS%20Issuing%20CA%2001.crt",
        crl_url: "http://www.microsoft.com/pkiops/crl/Microsoft%20Azure%20TLS%20Issuing%20CA%2001.crl",
        root_crl_url: "http://crl3.digicert.com/DigiCertGlobalRootG2.crl",
        leaf_policy: &[2, 23, 140, 1, 2, 2],
    },
    Hierarchy {
        country: "US",
        issuing_org: "DigiCert Inc",
        issuing_cn: "DigiCert TLS RSA SHA256 2020 CA1",
        root_org: "DigiCert Inc",
        root_cn: "DigiCert Global Root CA",
        root_key_len: 256,
        ocsp_url: "http://ocsp.digicert.com",
        ca_issuers_url: "http://cacerts.digicert.com/DigiCertTLSRSASHA2562020CA1-1.crt",
        crl_url: "http://crl3.digicert.com/DigiCertTLSRSASHA2562020CA1-4.crl",
        root_crl_url: "http://crl3.digicert.com/DigiCertGlobalRootCA.crl",
        leaf_policy: &[2, 23, 140, 1, 2, 2],
    },
    Hierarchy {
        country: "US",
        issuing_org: "Let's Encrypt",
        issuing_cn: "R3",
        root_org: "Internet Security Research Group",
        root_cn: "ISRG Root X1",
        root_key_len: 512,
        ocsp_url: "http://r3.o.lencr.org",
        ca_issuers_url: "http://r3.i.lencr.org/",
        crl_url: "http://x1.c.lencr.org/",
        root_crl_url: "http://x1.c.lencr.org/",
        leaf_policy: &[2, 23, 140, 1, 2, 1],
    },
];

/// Modulus bytes of the leaf's and the issuing CA's keys (RSA-2048).
const KEY_LEN: usize = 256;
const SERIAL_LEN: usize = 16;
const KEY_ID_LEN: usize = 20;
/// Largest content of the leaf's GeneralNames: the leaf stays below 65,536 bytes, so the lengths
/// that enclose the extensions keep their 3-byte form.
const MAX_SAN_LEN: usize = 60_000;
/// Extra serial-number bytes (real serials have 16 to 20) that absorb the 1–3 leaf sizes that SAN
/// lengths alone skip where a length field grows a byte.
const MAX_EXTRA_SERIAL_LEN: usize = 4;
/// Lengths of generated DNS names in the SAN list.
const SAN_NAME_LEN: (u64, u64) = (12, 41);

const SHA256_WITH_RSA: &[u32] = &[1, 2, 840, 113_549, 1, 1, 11];
const RSA_ENCRYPTION: &[u32] = &[1, 2, 840, 113_549, 1, 1, 1];
const AT_COUNTRY: &[u32] = &[2, 5, 4, 6];
const AT_ORGANIZATION: &[u32] = &[2, 5, 4, 10];
const AT_COMMON_NAME: &[u32] = &[2, 5, 4, 3];
const EXT_SUBJECT_KEY_ID: &[u32] = &[2, 5, 29, 14];
const EXT_KEY_USAGE: &[u32] = &[2, 5, 29, 15];
const EXT_SUBJECT_ALT_NAME: &[u32] = &[2, 5, 29, 17];
const EXT_BASIC_CONSTRAINTS: &[u32] = &[2, 5, 29, 19];
const EXT_CRL_DISTRIBUTION_POINTS: &[u32] = &[2, 5, 29, 31];
const EXT_CERTIFICATE_POLICIES: &[u32] = &[2, 5, 29, 32];
const EXT_AUTHORITY_KEY_ID: &[u32] = &[2, 5, 29, 35];
const EXT_EXT_KEY_USAGE: &[u32] = &[2, 5, 29, 37];
const EXT_AUTHORITY_INFO_ACCESS: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const KP_SERVER_AUTH: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 3, 1];
const KP_CLIENT_AUTH: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 3, 2];
const AD_OCSP: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
const AD_CA_ISSUERS: &[u32] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];
const ANY_POLICY: &[u32] = &[2, 5, 29, 32, 0];

const UTF8_STRING: u8 = 0x0c;
const PRINTABLE_STRING: u8 = 0x13;
const UTC_TIME: u8 = 0x17;
/// GeneralName choices (implicit tags).
const GN_DNS_NAME: u8 = 0x82;
const GN_URI: u8 = 0x86;

/// Which certificate of the chain.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Leaf,
    Issuing,
    Root,
}

/// What decides a leaf's size beyond its hierarchy.
#[derive(Clone, Copy)]
struct Leaf {
    /// Random bytes that spell the subject's common name, which is also the first SAN name.
    common_name: &'static [u8],
    serial_len: usize,
    /// Content length of the GeneralNames.
    san_len: usize,
}

/// Appends the certificate_list entries (3-byte length, DER) of a chain whose DER bytes total
/// `total_len` (up to about 60 KB), or the smallest chain possible if that is less.
pub(super) fn chain(out: &mut Vec<u8>, rng: &mut Rng, total_len: usize) {
    let hierarchy = rng.pick(&HIERARCHIES);
    let list_start = out.len();
    entry(out, |out| certificate(out, rng, hierarchy, Role::Issuing, None));
    let common_name_len = name_len(rng);
    let smallest =
        Leaf { common_name: opaque::slice(rng, common_name_len), serial_len: SERIAL_LEN, san_len: 2 + common_name_len };
    // Measure the smallest leaf: the rest of a leaf is that minus its SAN extension.
    let probe_start = out.len();
    certificate(out, rng, hierarchy, Role::Leaf, Some(smallest));
    let smallest_len = out.len() - probe_start;
    out.truncate(probe_start);
    let mut cas_der = out.len() - list_start - 3;
    if rng.chance(0.25) {
        let root_start = out.len();
        entry(out, |out| certificate(out, rng, hierarchy, Role::Root, None));
        let root_der = out.len() - root_start - 3;
        if cas_der + root_der + smallest_len <= total_len {
            cas_der += root_der;
        } else {
            out.truncate(root_start);
        }
    }
    let rest = smallest_len - san_extension_len(smallest.san_len);
    let leaf = fit_leaf(smallest, rest, total_len.saturating_sub(cas_der));
    let leaf_start = out.len();
    entry(out, |out| certificate(out, rng, hierarchy, Role::Leaf, Some(leaf)));
    // The leaf goes first.
    let leaf_entry_len = out.len() - leaf_start;
    out[list_start..].rotate_right(leaf_entry_len);
}

/// The leaf of DER length `target` (or the nearest possible) grown from `smallest`, whose bytes but
/// the SAN extension are `rest`: a longer SAN list, and a longer serial where no list length fits.
fn fit_leaf(smallest: Leaf, rest: usize, target: usize) -> Leaf {
    if target <= rest + san_extension_len(smallest.san_len) {
        return smallest;
    }
    for extra in 0..=MAX_EXTRA_SERIAL_LEN {
        let Some(want) = target.checked_sub(rest + extra) else { break };
        // The extension's OID and three headers take 11 to 17 bytes around the list.
        for san_len in want.saturating_sub(17)..=want.saturating_sub(11) {
            let added = san_len.saturating_sub(smallest.san_len);
            // Names after the first take at least 3 bytes (tag, length, one character).
            let fits = san_len >= smallest.san_len && (added == 0 || added >= 3) && san_len <= MAX_SAN_LEN;
            if fits && san_extension_len(san_len) == want {
                return Leaf { serial_len: SERIAL_LEN + extra, san_len, ..smallest };
            }
        }
    }
    Leaf { san_len: MAX_SAN_LEN, ..smallest }
}

/// DER length of a value with `content_len` content bytes.
fn tlv_len(content_len: usize) -> usize {
    let length_len = match content_len {
        0..0x80 => 1,
        0x80..0x100 => 2,
        _ => 3,
    };
    1 + length_len + content_len
}

/// DER length of the subjectAltName extension around a GeneralNames of `san_len` content bytes:
/// SEQUENCE { OID (5 bytes), OCTET STRING { SEQUENCE { names } } }.
fn san_extension_len(san_len: usize) -> usize {
    tlv_len(5 + tlv_len(tlv_len(san_len)))
}

fn name_len(rng: &mut Rng) -> usize {
    rng.range(SAN_NAME_LEN.0, SAN_NAME_LEN.1) as usize
}

/// A certificate_list entry: 3-byte length, then the certificate `body` writes.
fn entry(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0]);
    body(out);
    let len = out.len() - at - 3;
    out[at..at + 3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
}

/// One certificate; a leaf is given its size-deciding parts.
fn certificate(out: &mut Vec<u8>, rng: &mut Rng, h: &Hierarchy, role: Role, leaf: Option<Leaf>) {
    let (issuer_org, issuer_cn, signer_key_len) = match role {
        Role::Leaf => (h.issuing_org, h.issuing_cn, KEY_LEN),
        Role::Issuing | Role::Root => (h.root_org, h.root_cn, h.root_key_len),
    };
    der::sequence(out, |out| {
        der::sequence(out, |out| {
            der::explicit(out, 0, |out| der::integer(out, 2));
            serial(out, rng, leaf.map_or(SERIAL_LEN, |l| l.serial_len));
            algorithm(out, SHA256_WITH_RSA);
            name(out, h.country, issuer_org, issuer_cn.as_bytes());
            validity(out, rng, role);
            match (role, leaf) {
                (Role::Leaf, Some(leaf)) => dns_name_as(out, leaf.common_name, |out, cn| {
                    name(out, h.country, "", cn);
                }),
                (Role::Issuing, _) => name(out, h.country, h.issuing_org, h.issuing_cn.as_bytes()),
                _ => name(out, h.country, h.root_org, h.root_cn.as_bytes()),
            }
            let key_len = if role == Role::Root { h.root_key_len } else { KEY_LEN };
            public_key(out, rng, key_len);
            der::explicit(out, 3, |out| {
                der::sequence(out, |out| match (role, leaf) {
                    (Role::Leaf, Some(leaf)) => leaf_extensions(out, rng, h, leaf),
                    (Role::Issuing, _) => issuing_extensions(out, rng, h),
                    _ => root_extensions(out, rng),
                })
            });
        });
        algorithm(out, SHA256_WITH_RSA);
        der::bit_string(out, opaque::slice(rng, signer_key_len));
    });
}

fn serial(out: &mut Vec<u8>, rng: &mut Rng, len: usize) {
    der::tlv(out, der::INTEGER, |out| {
        let at = out.len();
        out.extend_from_slice(opaque::slice(rng, len));
        // Positive, and no redundant leading byte.
        out[at] = (out[at] & 0x7f) | 0x01;
    });
}

fn algorithm(out: &mut Vec<u8>, oid: &[u32]) {
    der::sequence(out, |out| {
        der::oid(out, oid);
        der::null(out);
    });
}

/// Name: C, O (when not empty), CN, one attribute per RDN.
fn name(out: &mut Vec<u8>, country: &str, org: &str, common_name: &[u8]) {
    der::sequence(out, |out| {
        attribute(out, AT_COUNTRY, PRINTABLE_STRING, country.as_bytes());
        if !org.is_empty() {
            attribute(out, AT_ORGANIZATION, UTF8_STRING, org.as_bytes());
        }
        attribute(out, AT_COMMON_NAME, UTF8_STRING, common_name);
    });
}

fn attribute(out: &mut Vec<u8>, oid: &[u32], tag: u8, value: &[u8]) {
    der::tlv(out, der::SET, |out| {
        der::sequence(out, |out| {
            der::oid(out, oid);
            der::primitive(out, tag, value);
        })
    });
}

/// Validity: a leaf lives a year from some day in 2023–2024, a CA ten or twenty-five.
fn validity(out: &mut Vec<u8>, rng: &mut Rng, role: Role) {
    let year = rng.range(23, 25) as u8;
    let month = rng.range(1, 13) as u8;
    let day = rng.range(1, 29) as u8;
    let years = match role {
        Role::Leaf => 1,
        Role::Issuing => 10,
        Role::Root => 25,
    };
    der::sequence(out, |out| {
        utc_time(out, year, month, day, [0, 0, 0]);
        utc_time(out, (year + years) % 100, month, day, [23, 59, 59]);
    });
}

fn utc_time(out: &mut Vec<u8>, year: u8, month: u8, day: u8, hms: [u8; 3]) {
    let mut text = *b"000000000000Z";
    for (i, v) in [year, month, day, hms[0], hms[1], hms[2]].into_iter().enumerate() {
        text[2 * i] = b'0' + v / 10;
        text[2 * i + 1] = b'0' + v % 10;
    }
    der::primitive(out, UTC_TIME, &text);
}

/// SubjectPublicKeyInfo of an RSA key with a `modulus_len`-byte modulus and exponent 65537.
fn public_key(out: &mut Vec<u8>, rng: &mut Rng, modulus_len: usize) {
    der::sequence(out, |out| {
        algorithm(out, RSA_ENCRYPTION);
        der::tlv(out, der::BIT_STRING, |out| {
            out.push(0);
            der::sequence(out, |out| {
                der::tlv(out, der::INTEGER, |out| {
                    out.push(0);
                    let at = out.len();
                    out.extend_from_slice(opaque::slice(rng, modulus_len));
                    out[at] |= 0x80;
                });
                der::primitive(out, der::INTEGER, &[0x01, 0x00, 0x01]);
            });
        });
    });
}

fn leaf_extensions(out: &mut Vec<u8>, rng: &mut Rng, h: &Hierarchy, leaf: Leaf) {
    authority_key_id(out, rng);
    subject_key_id(out, rng);
    extension(out, EXT_SUBJECT_ALT_NAME, false, |out| {
        der::sequence(out, |out| san_list(out, rng, leaf));
    });
    // digitalSignature, keyEncipherment.
    extension(out, EXT_KEY_USAGE, true, |out| der::primitive(out, der::BIT_STRING, &[5, 0xa0]));
    extension(out, EXT_EXT_KEY_USAGE, false, |out| {
        der::sequence(out, |out| {
            der::oid(out, KP_SERVER_AUTH);
            der::oid(out, KP_CLIENT_AUTH);
        })
    });
    crl_distribution_points(out, h.crl_url);
    extension(out, EXT_CERTIFICATE_POLICIES, false, |out| {
        der::sequence(out, |out| der::sequence(out, |out| der::oid(out, h.leaf_policy)))
    });
    authority_info_access(out, h);
    extension(out, EXT_BASIC_CONSTRAINTS, false, |out| der::sequence(out, |_| {}));
}

fn issuing_extensions(out: &mut Vec<u8>, rng: &mut Rng, h: &Hierarchy) {
    subject_key_id(out, rng);
    authority_key_id(out, rng);
    // digitalSignature, keyCertSign, cRLSign.
    extension(out, EXT_KEY_USAGE, true, |out| der::primitive(out, der::BIT_STRING, &[1, 0x86]));
    extension(out, EXT_EXT_KEY_USAGE, false, |out| {
        der::sequence(out, |out| {
            der::oid(out, KP_SERVER_AUTH);
            der::oid(out, KP_CLIENT_AUTH);
        })
    });
    // CA, path length 0.
    extension(out, EXT_BASIC_CONSTRAINTS, true, |out| {
        der::sequence(out, |out| {
            der::boolean(out, true);
            der::integer(out, 0);
        })
    });
    authority_info_access(out, h);
    crl_distribution_points(out, h.root_crl_url);
    extension(out, EXT_CERTIFICATE_POLICIES, false, |out| {
        der::sequence(out, |out| der::sequence(out, |out| der::oid(out, ANY_POLICY)))
    });
}

fn root_extensions(out: &mut Vec<u8>, rng: &mut Rng) {
    // keyCertSign, cRLSign.
    extension(out, EXT_KEY_USAGE, true, |out| der::primitive(out, der::BIT_STRING, &[1, 0x06]));
    extension(out, EXT_BASIC_CONSTRAINTS, true, |out| der::sequence(out, |out| der::boolean(out, true)));
    subject_key_id(out, rng);
}

/// Extension { extnID, critical (when true), extnValue OCTET STRING { what `value` writes } }.
fn extension(out: &mut Vec<u8>, oid: &[u32], critical: bool, value: impl FnOnce(&mut Vec<u8>)) {
    der::sequence(out, |out| {
        der::oid(out, oid);
        if critical {
            der::boolean(out, true);
        }
        der::tlv(out, der::OCTET_STRING, value);
    });
}

fn subject_key_id(out: &mut Vec<u8>, rng: &mut Rng) {
    extension(out, EXT_SUBJECT_KEY_ID, false, |out| der::octet_string(out, opaque::slice(rng, KEY_ID_LEN)));
}

/// AuthorityKeyIdentifier { [0] keyIdentifier }.
fn authority_key_id(out: &mut Vec<u8>, rng: &mut Rng) {
    extension(out, EXT_AUTHORITY_KEY_ID, false, |out| {
        der::sequence(out, |out| der::primitive(out, der::context_primitive(0), opaque::slice(rng, KEY_ID_LEN)))
    });
}

fn authority_info_access(out: &mut Vec<u8>, h: &Hierarchy) {
    extension(out, EXT_AUTHORITY_INFO_ACCESS, false, |out| {
        der::sequence(out, |out| {
            for (method, url) in [(AD_OCSP, h.ocsp_url), (AD_CA_ISSUERS, h.ca_issuers_url)] {
                der::sequence(out, |out| {
                    der::oid(out, method);
                    der::primitive(out, GN_URI, url.as_bytes());
                });
            }
        })
    });
}

/// CRLDistributionPoints: one point whose full name is `url`.
fn crl_distribution_points(out: &mut Vec<u8>, url: &str) {
    extension(out, EXT_CRL_DISTRIBUTION_POINTS, false, |out| {
        der::sequence(out, |out| {
            der::sequence(out, |out| {
                der::explicit(out, 0, |out| {
                    der::explicit(out, 0, |out| der::primitive(out, GN_URI, url.as_bytes()));
                })
            })
        })
    });
}

/// GeneralNames content of exactly `leaf.san_len` bytes: the common name, then generated names of
/// 12–40 characters, the last one taking up the rest (at most 127, so its length is one byte).
fn san_list(out: &mut Vec<u8>, rng: &mut Rng, leaf: Leaf) {
    dns_name_as(out, leaf.common_name, |out, text| der::primitive(out, GN_DNS_NAME, text));
    let mut left = leaf.san_len - 2 - leaf.common_name.len();
    while left > 0 {
        let len = if left <= 2 + 127 { left - 2 } else { name_len(rng) };
        dns_name_as(out, opaque::slice(rng, len), |out, text| der::primitive(out, GN_DNS_NAME, text));
        left -= 2 + len;
    }
}

/// Calls `write` with a DNS name spelled from the random bytes `source` (same length): lowercase
/// letters and digits, a dot before the last 4 characters (`.com`-like) and one near the middle.
fn dns_name_as(out: &mut Vec<u8>, source: &[u8], write: impl FnOnce(&mut Vec<u8>, &[u8])) {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut text = [0u8; 127];
    let n = source.len().min(text.len());
    for (t, s) in text[..n].iter_mut().zip(source) {
        *t = ALPHABET[*s as usize % ALPHABET.len()];
    }
    if n >= 8 {
        text[n - 4] = b'.';
    }
    if n >= 14 {
        text[n / 2 - 2] = b'.';
    }
    write(out, &text[..n]);
}
