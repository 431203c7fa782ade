//! SSH-2 transport messages (RFC 4253) of an OpenSSH 8.9 session (Ubuntu 22.04's `ssh` and `sshd`),
//! as the TCP payloads to and from port 22.
//!
//! A session opens with both banners, both KEXINITs, the client's KEX_ECDH_INIT, the server's
//! KEX_ECDH_REPLY followed by NEWKEYS, the client's NEWKEYS, then encrypted packets. Sizes as real:
//! the client's KEXINIT carries OpenSSH's default name-lists (1,496 bytes on the wire), the server's
//! is shorter (1,080; four host-key algorithms, no `ext-info-c`); curve25519-sha256 key exchange
//! (48-byte ECDH_INIT), an ssh-ed25519 host key (192-byte ECDH_REPLY), 16-byte NEWKEYS. Before keys
//! are in use OpenSSH pads to 8-byte blocks with 4–11 zero bytes.
//!
//! After NEWKEYS, chacha20-poly1305@openssh.com: the 4-byte length is encrypted too, padding makes
//! `1 + payload + padding` a multiple of 8 (at least 4 bytes), and a 16-byte Poly1305 tag follows,
//! so one typed character (a 10-byte CHANNEL_DATA payload) is a 36-byte packet.

use super::opaque;
use crate::simulate::rng::Rng;

/// Which end of the connection writes a message whose content depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Client,
    Server,
}

const MSG_KEXINIT: u8 = 20;
const MSG_NEWKEYS: u8 = 21;
const MSG_KEX_ECDH_INIT: u8 = 30;
const MSG_KEX_ECDH_REPLY: u8 = 31;
const BLOCK: usize = 8;
const MIN_PADDING: usize = 4;
const POLY1305_TAG_LEN: usize = 16;
const CURVE25519_KEY_LEN: usize = 32;
const ED25519_KEY_LEN: usize = 32;
const ED25519_SIGNATURE_LEN: usize = 64;

const CLIENT_KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,\
ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,\
diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-c";
const SERVER_KEX: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,\
ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,\
diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
const CLIENT_HOST_KEY: &str = "ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,\
ecdsa-sha2-nistp384-cert-v01@openssh.com,ecdsa-sha2-nistp521-cert-v01@openssh.com,\
sk-ssh-ed25519-cert-v01@openssh.com,sk-ecdsa-sha2-nistp256-cert-v01@openssh.com,\
rsa-sha2-512-cert-v01@openssh.com,rsa-sha2-256-cert-v01@openssh.com,ssh-ed25519,ecdsa-sha2-nistp256,\
ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ssh-ed25519@openssh.com,sk-ecdsa-sha2-nistp256@openssh.com,\
rsa-sha2-512,rsa-sha2-256";
const SERVER_HOST_KEY: &str = "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519";
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,\
aes256-gcm@openssh.com";
const MACS: &str = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,\
hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,\
hmac-sha2-256,hmac-sha2-512,hmac-sha1";
const COMPRESSION: &str = "none,zlib@openssh.com";
const ED25519: &str = "ssh-ed25519";

/// Appends the identification line `identification\r\n`, e.g. with `SSH-2.0-OpenSSH_8.9p1 Ubuntu-3`
/// (the whole line but its end, so a caller can send another protocol version or software name).
pub fn banner(out: &mut Vec<u8>, identification: &str) {
    out.extend_from_slice(identification.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends the KEXINIT packet of `endpoint`, with OpenSSH 8.9's default algorithm lists.
pub fn kexinit(out: &mut Vec<u8>, rng: &mut Rng, endpoint: Endpoint) {
    let (kex, host_key) = match endpoint {
        Endpoint::Client => (CLIENT_KEX, CLIENT_HOST_KEY),
        Endpoint::Server => (SERVER_KEX, SERVER_HOST_KEY),
    };
    plain_packet(out, |out| {
        out.push(MSG_KEXINIT);
        opaque::extend(out, rng, 16);
        for list in [kex, host_key, CIPHERS, CIPHERS, MACS, MACS, COMPRESSION, COMPRESSION, "", ""] {
            string(out, list.as_bytes());
        }
        // first_kex_packet_follows = false, reserved = 0.
        out.extend_from_slice(&[0, 0, 0, 0, 0]);
    });
}

/// Appends the client's KEX_ECDH_INIT: its ephemeral curve25519 public key.
pub fn kex_ecdh_init(out: &mut Vec<u8>, rng: &mut Rng) {
    plain_packet(out, |out| {
        out.push(MSG_KEX_ECDH_INIT);
        string(out, opaque::slice(rng, CURVE25519_KEY_LEN));
    });
}

/// Appends the server's KEX_ECDH_REPLY: its ssh-ed25519 host key, its ephemeral curve25519 public
/// key and its signature of the exchange hash.
pub fn kex_ecdh_reply(out: &mut Vec<u8>, rng: &mut Rng) {
    plain_packet(out, |out| {
        out.push(MSG_KEX_ECDH_REPLY);
        length_prefixed(out, |out| {
            string(out, ED25519.as_bytes());
            string(out, opaque::slice(rng, ED25519_KEY_LEN));
        });
        string(out, opaque::slice(rng, CURVE25519_KEY_LEN));
        length_prefixed(out, |out| {
            string(out, ED25519.as_bytes());
            string(out, opaque::slice(rng, ED25519_SIGNATURE_LEN));
        });
    });
}

/// Appends NEWKEYS (the last unencrypted packet of each direction).
pub fn newkeys(out: &mut Vec<u8>) {
    plain_packet(out, |out| out.push(MSG_NEWKEYS));
}

/// Appends one chacha20-poly1305 packet carrying a `payload_len`-byte payload: encrypted length,
/// padding length, payload and padding, then the tag, all random-looking.
pub fn encrypted_packet(out: &mut Vec<u8>, rng: &mut Rng, payload_len: usize) {
    let padding = padding_for(1 + payload_len);
    opaque::extend(out, rng, 4 + 1 + payload_len + padding + POLY1305_TAG_LEN);
}

/// Wire length of [`encrypted_packet`] for a `payload_len`-byte payload.
pub fn encrypted_packet_len(payload_len: usize) -> usize {
    4 + 1 + payload_len + padding_for(1 + payload_len) + POLY1305_TAG_LEN
}

/// Padding that brings `len` bytes to a multiple of the block size, at least [`MIN_PADDING`].
fn padding_for(len: usize) -> usize {
    let padding = BLOCK - len % BLOCK;
    if padding < MIN_PADDING { padding + BLOCK } else { padding }
}

/// Writes a binary packet before encryption: length, padding length, the payload `body` writes, and
/// zero padding covering the length field too.
fn plain_packet(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 5]);
    body(out);
    let padding = padding_for(out.len() - at);
    out.resize(out.len() + padding, 0);
    let packet_len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&packet_len.to_be_bytes());
    out[at + 4] = padding as u8;
}

/// Writes an SSH `string`: a 4-byte length, then the bytes.
fn string(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Writes an SSH `string` whose content `body` writes.
fn length_prefixed(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (packet_length, padding_length, payload) of one unencrypted packet filling `bytes`.
    fn parse(bytes: &[u8]) -> (usize, usize, &[u8]) {
        let len = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), 4 + len, "one packet");
        assert_eq!(bytes.len() % 8, 0, "whole blocks");
        let padding = bytes[4] as usize;
        assert!((4..=11).contains(&padding));
        assert!(bytes[bytes.len() - padding..].iter().all(|&b| b == 0));
        (len, padding, &bytes[5..bytes.len() - padding])
    }

    #[test]
    fn banner_is_one_line() {
        let mut out = Vec::new();
        banner(&mut out, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3");
        assert_eq!(out, b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3\r\n");
    }

    #[test]
    fn newkeys_and_ecdh_init_are_exact() {
        let mut out = Vec::new();
        newkeys(&mut out);
        assert_eq!(out, [0, 0, 0, 12, 10, 21, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        out.clear();
        kex_ecdh_init(&mut out, &mut Rng::new(1));
        assert_eq!(out.len(), 48);
        let (len, padding, payload) = parse(&out);
        assert_eq!((len, padding), (44, 6));
        assert_eq!(&payload[..5], &[30, 0, 0, 0, 32]);
    }

    #[test]
    fn kexinit_lists_parse_back_and_sizes_are_openssh_like() {
        for (endpoint, wire_len, first_host_key) in
            [(Endpoint::Client, 1496, "ssh-ed25519-cert-v01@openssh.com"), (Endpoint::Server, 1080, "rsa-sha2-512")]
        {
            let mut out = Vec::new();
            kexinit(&mut out, &mut Rng::new(3), endpoint);
            assert_eq!(out.len(), wire_len, "{endpoint:?}");
            let (_, _, payload) = parse(&out);
            assert_eq!(payload[0], MSG_KEXINIT);
            let mut at = 17;
            let mut lists = Vec::new();
            for _ in 0..10 {
                let n = u32::from_be_bytes(payload[at..at + 4].try_into().unwrap()) as usize;
                lists.push(std::str::from_utf8(&payload[at + 4..at + 4 + n]).unwrap());
                at += 4 + n;
            }
            assert_eq!(&payload[at..], &[0, 0, 0, 0, 0]);
            assert!(lists[0].starts_with("curve25519-sha256,"));
            assert_eq!(lists[0].ends_with(",ext-info-c"), endpoint == Endpoint::Client);
            assert!(lists[1].starts_with(first_host_key));
            assert!(lists[2].starts_with("chacha20-poly1305@openssh.com"));
            assert_eq!(&lists[8..], &["", ""]);
        }
    }

    #[test]
    fn ecdh_reply_nests_key_and_signature_blobs() {
        let mut out = Vec::new();
        kex_ecdh_reply(&mut out, &mut Rng::new(4));
        assert_eq!(out.len(), 192);
        let (_, _, payload) = parse(&out);
        assert_eq!(payload[0], MSG_KEX_ECDH_REPLY);
        assert_eq!(&payload[1..5], &51u32.to_be_bytes());
        assert_eq!(&payload[5..20], b"\0\0\0\x0bssh-ed25519");
        assert_eq!(&payload[56..60], &32u32.to_be_bytes());
        assert_eq!(&payload[92..96], &83u32.to_be_bytes());
        assert_eq!(payload.len(), 96 + 83);
    }

    #[test]
    fn encrypted_packets_have_chacha20_poly1305_sizes() {
        for (payload_len, wire_len) in [(10, 36), (0, 28), (11, 36), (12, 44), (1000, 1028)] {
            let mut out = vec![1, 2];
            encrypted_packet(&mut out, &mut Rng::new(5), payload_len);
            assert_eq!(out.len() - 2, wire_len, "payload {payload_len}");
            assert_eq!(encrypted_packet_len(payload_len), wire_len);
            assert_eq!((wire_len - 4 - 16) % 8, 0);
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let build = |seed| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            kexinit(&mut out, &mut rng, Endpoint::Client);
            kex_ecdh_reply(&mut out, &mut rng);
            encrypted_packet(&mut out, &mut rng, 100);
            out
        };
        assert_eq!(build(9), build(9));
        assert_ne!(build(9), build(10));
    }
}
