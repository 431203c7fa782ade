//! TLS 1.2 records (RFC 5246) of a full ECDHE handshake and the encrypted traffic after it, as the
//! TCP payloads of HTTPS (443), RDP after its X.224 exchange (3389) and other TLS services. TLS 1.3
//! looks the same on the wire apart from fewer plaintext handshake messages, so sizes carry over.
//!
//! Modelled on a Chromium browser (Edge, Chrome) against Windows Server's Schannel, the pair that
//! dominates a Windows domain's HTTPS:
//! - ClientHello: Chromium's 15 cipher suites and extensions (SNI, EMS, renegotiation info, groups
//!   x25519/P-256/P-384, point formats, session ticket, ALPN h2 and http/1.1, OCSP stapling,
//!   signature algorithms, SCT, an x25519 key share, PSK modes, versions 1.3/1.2, certificate
//!   compression), padded (RFC 7685) to a 512-byte handshake: a 517-byte record for SNIs up to
//!   about 230 characters. No GREASE values and a fixed extension order.
//! - Server flight in one record, as Schannel sends it: ServerHello (ECDHE-RSA-AES256-GCM-SHA384,
//!   32-byte session id; 91 bytes), Certificate with 2–3 X.509 certificates of the requested total
//!   DER size (real chains: 2.5–5 KB; see [`x509`]), ServerKeyExchange (x25519 key, RSA-PSS
//!   signature of the 2048-bit leaf key; 300 bytes), ServerHelloDone. More than 16,384 bytes of
//!   handshake continue in further records.
//! - Client finish: ClientKeyExchange (42-byte record), ChangeCipherSpec (6), encrypted Finished
//!   (45): 93 bytes; server finish: ChangeCipherSpec and Finished, 51 bytes.
//! - Application data: AES-GCM records of at most 16,384 plaintext bytes plus 24 bytes (8-byte
//!   explicit nonce, 16-byte tag); a close_notify alert is a 31-byte record.

mod x509;

use super::opaque;
use crate::simulate::rng::Rng;

const CHANGE_CIPHER_SPEC: u8 = 20;
const ALERT: u8 = 21;
const HANDSHAKE: u8 = 22;
const APPLICATION_DATA: u8 = 23;

const CLIENT_HELLO: u8 = 1;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_KEY_EXCHANGE: u8 = 12;
const SERVER_HELLO_DONE: u8 = 14;
const CLIENT_KEY_EXCHANGE: u8 = 16;

/// Record-layer version: TLS 1.0 in a ClientHello (as browsers send it), TLS 1.2 after.
const RECORD_VERSION_HELLO: [u8; 2] = [3, 1];
const VERSION_TLS12: [u8; 2] = [3, 3];
/// Largest plaintext fragment of a record (RFC 5246 §6.2.1).
pub const MAX_FRAGMENT_LEN: usize = 16_384;
/// AES-GCM's per-record expansion in TLS 1.2: 8-byte explicit nonce and 16-byte tag.
pub const AEAD_OVERHEAD: usize = 24;
const RANDOM_LEN: usize = 32;
const SESSION_ID_LEN: usize = 32;
const X25519_KEY_LEN: usize = 32;
/// RSA-2048 signature of the leaf key.
const LEAF_SIGNATURE_LEN: usize = 256;
/// Length of the handshake a padded ClientHello is brought to.
const CLIENT_HELLO_PADDED_LEN: usize = 512;
/// verify_data of Finished: 12 bytes after the 4-byte handshake header.
const FINISHED_LEN: usize = 16;

const TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: u16 = 0xc030;
/// Chromium's cipher suites, in its order.
const CLIENT_CIPHER_SUITES: [u16; 15] = [
    0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f,
    0x0035,
];

/// ClientHello extensions after server_name and before the key share, whole (type, length, data).
#[rustfmt::skip]
const CLIENT_EXTENSIONS_HEAD: &[u8] = &[
    0x00, 0x17, 0x00, 0x00,                                     // extended_master_secret
    0xff, 0x01, 0x00, 0x01, 0x00,                               // renegotiation_info
    0x00, 0x0a, 0x00, 0x08, 0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, // supported_groups
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                         // ec_point_formats: uncompressed
    0x00, 0x23, 0x00, 0x00,                                     // session_ticket
    0x00, 0x10, 0x00, 0x0e, 0x00, 0x0c, 0x02, b'h', b'2',       // ALPN: h2, http/1.1
    0x08, b'h', b't', b't', b'p', b'/', b'1', b'.', b'1',
    0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00,       // status_request: OCSP
    0x00, 0x0d, 0x00, 0x12, 0x00, 0x10, 0x04, 0x03, 0x08, 0x04, // signature_algorithms
    0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01,
    0x00, 0x12, 0x00, 0x00,                                     // signed_certificate_timestamp
];

/// The key_share extension's header: one x25519 share of 32 bytes follows.
const KEY_SHARE_HEAD: [u8; 10] = [0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20];

#[rustfmt::skip]
const CLIENT_EXTENSIONS_TAIL: &[u8] = &[
    0x00, 0x2d, 0x00, 0x02, 0x01, 0x01,                         // psk_key_exchange_modes: psk_dhe_ke
    0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03,       // supported_versions: 1.3, 1.2
    0x00, 0x1b, 0x00, 0x03, 0x02, 0x00, 0x02,                   // compress_certificate: brotli
];

const EXT_SERVER_NAME: u16 = 0;
const EXT_PADDING: u16 = 21;

#[rustfmt::skip]
const SERVER_EXTENSIONS: &[u8] = &[
    0xff, 0x01, 0x00, 0x01, 0x00,                               // renegotiation_info
    0x00, 0x17, 0x00, 0x00,                                     // extended_master_secret
    0x00, 0x0b, 0x00, 0x02, 0x01, 0x00,                         // ec_point_formats
];

/// ServerKeyExchange parameters' head: named curve x25519, 32-byte public key.
const ECDH_PARAMS_HEAD: [u8; 4] = [3, 0x00, 0x1d, X25519_KEY_LEN as u8];
/// rsa_pss_rsae_sha256 and the signature's length.
const SKE_SIGNATURE_HEAD: [u8; 4] = [0x08, 0x04, (LEAF_SIGNATURE_LEN >> 8) as u8, LEAF_SIGNATURE_LEN as u8];

/// Appends the client's ClientHello record for server name `sni` (no server_name extension when
/// empty, as for a connection to an IP address).
pub fn client_hello(out: &mut Vec<u8>, rng: &mut Rng, sni: &str) {
    record(out, HANDSHAKE, RECORD_VERSION_HELLO, |out| {
        handshake(out, CLIENT_HELLO, |out| {
            let start = out.len() - 4;
            out.extend_from_slice(&VERSION_TLS12);
            opaque::extend(out, rng, RANDOM_LEN);
            out.push(SESSION_ID_LEN as u8);
            opaque::extend(out, rng, SESSION_ID_LEN);
            out.extend_from_slice(&((CLIENT_CIPHER_SUITES.len() * 2) as u16).to_be_bytes());
            for suite in CLIENT_CIPHER_SUITES {
                out.extend_from_slice(&suite.to_be_bytes());
            }
            // One compression method: null.
            out.extend_from_slice(&[1, 0]);
            u16_prefixed(out, |out| {
                if !sni.is_empty() {
                    extension(out, EXT_SERVER_NAME, |out| {
                        u16_prefixed(out, |out| {
                            // host_name
                            out.push(0);
                            out.extend_from_slice(&(sni.len() as u16).to_be_bytes());
                            out.extend_from_slice(sni.as_bytes());
                        })
                    });
                }
                out.extend_from_slice(CLIENT_EXTENSIONS_HEAD);
                out.extend_from_slice(&KEY_SHARE_HEAD);
                opaque::extend(out, rng, X25519_KEY_LEN);
                out.extend_from_slice(CLIENT_EXTENSIONS_TAIL);
                let unpadded = out.len() - start;
                if unpadded + 4 <= CLIENT_HELLO_PADDED_LEN {
                    let padding = CLIENT_HELLO_PADDED_LEN - unpadded - 4;
                    extension(out, EXT_PADDING, |out| out.resize(out.len() + padding, 0));
                }
            });
        });
    });
}

/// Appends the server's flight: ServerHello, Certificate (2–3 certificates whose DER encodings
/// total `cert_chain_len` bytes, or the smallest chain [`x509`] builds if that is less),
/// ServerKeyExchange and ServerHelloDone, in one handshake record (more past 16,384 bytes).
pub fn server_hello_flight(out: &mut Vec<u8>, rng: &mut Rng, cert_chain_len: usize) {
    let start = out.len();
    handshake(out, SERVER_HELLO, |out| {
        out.extend_from_slice(&VERSION_TLS12);
        opaque::extend(out, rng, RANDOM_LEN);
        out.push(SESSION_ID_LEN as u8);
        opaque::extend(out, rng, SESSION_ID_LEN);
        out.extend_from_slice(&TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384.to_be_bytes());
        out.push(0);
        out.extend_from_slice(&(SERVER_EXTENSIONS.len() as u16).to_be_bytes());
        out.extend_from_slice(SERVER_EXTENSIONS);
    });
    handshake(out, CERTIFICATE, |out| u24_prefixed(out, |out| x509::chain(out, rng, cert_chain_len)));
    handshake(out, SERVER_KEY_EXCHANGE, |out| {
        out.extend_from_slice(&ECDH_PARAMS_HEAD);
        opaque::extend(out, rng, X25519_KEY_LEN);
        out.extend_from_slice(&SKE_SIGNATURE_HEAD);
        opaque::extend(out, rng, LEAF_SIGNATURE_LEN);
    });
    handshake(out, SERVER_HELLO_DONE, |_| {});
    into_records(out, start, HANDSHAKE);
}

/// Appends the client's ClientKeyExchange (its x25519 key), ChangeCipherSpec and encrypted Finished.
pub fn client_finish_flight(out: &mut Vec<u8>, rng: &mut Rng) {
    record(out, HANDSHAKE, VERSION_TLS12, |out| {
        handshake(out, CLIENT_KEY_EXCHANGE, |out| {
            out.push(X25519_KEY_LEN as u8);
            opaque::extend(out, rng, X25519_KEY_LEN);
        });
    });
    finish(out, rng);
}

/// Appends the server's ChangeCipherSpec and encrypted Finished.
pub fn server_finish_flight(out: &mut Vec<u8>, rng: &mut Rng) {
    finish(out, rng);
}

/// Appends `len` bytes of application data, encrypted: records of at most 16,384 plaintext bytes,
/// each 24 bytes longer on the wire. Nothing for `len` 0.
pub fn application_data(out: &mut Vec<u8>, rng: &mut Rng, len: usize) {
    let mut left = len;
    while left > 0 {
        let n = left.min(MAX_FRAGMENT_LEN);
        encrypted_record(out, rng, APPLICATION_DATA, n);
        left -= n;
    }
}

/// Wire length of [`application_data`] for `len` plaintext bytes.
pub fn application_data_len(len: usize) -> usize {
    len + len.div_ceil(MAX_FRAGMENT_LEN) * (5 + AEAD_OVERHEAD)
}

/// Appends an encrypted close_notify alert.
pub fn alert_close_notify(out: &mut Vec<u8>, rng: &mut Rng) {
    // Level and description: 2 bytes of plaintext.
    encrypted_record(out, rng, ALERT, 2);
}

fn finish(out: &mut Vec<u8>, rng: &mut Rng) {
    out.extend_from_slice(&[CHANGE_CIPHER_SPEC, VERSION_TLS12[0], VERSION_TLS12[1], 0, 1, 1]);
    encrypted_record(out, rng, HANDSHAKE, FINISHED_LEN);
}

/// A record of `plaintext_len` bytes encrypted with AES-GCM: random-looking nonce, ciphertext, tag.
fn encrypted_record(out: &mut Vec<u8>, rng: &mut Rng, content_type: u8, plaintext_len: usize) {
    let len = plaintext_len + AEAD_OVERHEAD;
    out.extend_from_slice(&[content_type, VERSION_TLS12[0], VERSION_TLS12[1]]);
    out.extend_from_slice(&(len as u16).to_be_bytes());
    opaque::extend(out, rng, len);
}

/// A plaintext record whose fragment (at most 16,384 bytes) `body` writes.
fn record(out: &mut Vec<u8>, content_type: u8, version: [u8; 2], body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[content_type, version[0], version[1], 0, 0]);
    body(out);
    let len = out.len() - at - 5;
    assert!(len <= MAX_FRAGMENT_LEN, "a record fragment of {len} bytes");
    out[at + 3..at + 5].copy_from_slice(&(len as u16).to_be_bytes());
}

/// Cuts the bytes from `start` to the end of `out` into records of at most 16,384 bytes, in place.
fn into_records(out: &mut Vec<u8>, start: usize, content_type: u8) {
    let len = out.len() - start;
    let records = len.div_ceil(MAX_FRAGMENT_LEN);
    out.resize(out.len() + 5 * records, 0);
    // Last fragment first: each moves right by 5 bytes per record before it, onto bytes already moved.
    for i in (0..records).rev() {
        let from = start + i * MAX_FRAGMENT_LEN;
        let n = MAX_FRAGMENT_LEN.min(len - i * MAX_FRAGMENT_LEN);
        let to = from + 5 * (i + 1);
        out.copy_within(from..from + n, to);
        out[to - 5..to].copy_from_slice(&[content_type, VERSION_TLS12[0], VERSION_TLS12[1], 0, 0]);
        out[to - 2..to].copy_from_slice(&(n as u16).to_be_bytes());
    }
}

/// A handshake message: type, 24-bit length, and the body `body` writes.
fn handshake(out: &mut Vec<u8>, msg_type: u8, body: impl FnOnce(&mut Vec<u8>)) {
    out.push(msg_type);
    u24_prefixed(out, body);
}

/// An extension: type, 16-bit length, and the data `data` writes.
fn extension(out: &mut Vec<u8>, ext_type: u16, data: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&ext_type.to_be_bytes());
    u16_prefixed(out, data);
}

fn u16_prefixed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0]);
    body(out);
    let len = u16::try_from(out.len() - at - 2).expect("a 16-bit TLS length");
    out[at..at + 2].copy_from_slice(&len.to_be_bytes());
}

fn u24_prefixed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0, 0, 0]);
    body(out);
    let len = out.len() - at - 3;
    assert!(len < 1 << 24, "a 24-bit TLS length");
    out[at..at + 3].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
}

#[cfg(test)]
mod tests;
