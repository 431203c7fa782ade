//! NTLMSSP messages (MS-NLMP §2.2) as Windows 10 sends them when Kerberos is not used: NEGOTIATE,
//! CHALLENGE (with the server's AV pairs), AUTHENTICATE (NTLMv2 response with a MIC) and the 16-byte
//! message signature used as SPNEGO mechListMIC and DCE/RPC verifier. Hashes, challenges, keys and
//! MICs are random bytes: the simulator reproduces structure and sizes, not cryptography.
//!
//! The OTRF lateral-movement captures authenticate with Kerberos only (no NTLMSSP in any of them), so
//! these sizes follow MS-NLMP and the values Windows 10 / Server 2019 send: NEGOTIATE 40 bytes;
//! CHALLENGE 56 + target name + AV pairs (≈ 230 for a domain of 8 characters); AUTHENTICATE 88 +
//! names + 24-byte LMv2 placeholder + NTLMv2 response (≈ 300) + 16-byte session key.

use super::opaque;
use crate::simulate::rng::Rng;

const SIGNATURE: &[u8; 8] = b"NTLMSSP\0";

/// NegotiateFlags of a Windows 10 NEGOTIATE: 56, KEY_EXCH, 128, VERSION, EXTENDED_SESSIONSECURITY,
/// ALWAYS_SIGN, NTLM, LM_KEY, SIGN, REQUEST_TARGET, OEM, UNICODE.
pub const CLIENT_NEGOTIATE_FLAGS: u32 = 0xe208_8297;
/// NegotiateFlags of the server's CHALLENGE (adds TARGET_INFO and TARGET_TYPE_DOMAIN).
pub const SERVER_CHALLENGE_FLAGS: u32 = 0xe28a_8215;
/// NegotiateFlags of the client's AUTHENTICATE.
pub const CLIENT_AUTHENTICATE_FLAGS: u32 = 0xe288_8215;

/// Windows 10 2004 (10.0.19041), NTLM revision 15.
const CLIENT_VERSION: [u8; 8] = [10, 0, 0x61, 0x4a, 0, 0, 0, 15];
/// Windows Server 2019 (10.0.17763), NTLM revision 15.
const SERVER_VERSION: [u8; 8] = [10, 0, 0x63, 0x45, 0, 0, 0, 15];

/// 100-ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// A Windows FILETIME (100 ns units since 1601) for `now_ns` nanoseconds since 1970.
pub fn filetime(now_ns: u64) -> u64 {
    now_ns / 100 + FILETIME_UNIX_EPOCH
}

/// Names the server announces in its CHALLENGE's target info (MS-NLMP §2.2.2.1).
#[derive(Debug, Clone, Copy)]
pub struct ServerNames<'a> {
    /// NetBIOS domain name, e.g. "THESHIRE".
    pub nb_domain: &'a str,
    /// NetBIOS computer name, e.g. "WORKSTATION6".
    pub nb_computer: &'a str,
    /// DNS domain name, e.g. "theshire.local".
    pub dns_domain: &'a str,
}

/// Who authenticates in an AUTHENTICATE message.
#[derive(Debug, Clone, Copy)]
pub struct ClientNames<'a> {
    pub domain: &'a str,
    pub user: &'a str,
    pub workstation: &'a str,
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

fn push_utf16(out: &mut Vec<u8>, s: &str) {
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
}

/// Appends a (len, maxlen, offset) field triple.
fn fields(out: &mut Vec<u8>, len: usize, offset: usize) {
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&(offset as u32).to_le_bytes());
}

fn av_pair(out: &mut Vec<u8>, id: u16, value: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
}

fn av_utf16(out: &mut Vec<u8>, id: u16, s: &str) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(utf16_len(s) as u16).to_le_bytes());
    push_utf16(out, s);
}

const AV_EOL: u16 = 0;
const AV_NB_COMPUTER: u16 = 1;
const AV_NB_DOMAIN: u16 = 2;
const AV_DNS_COMPUTER: u16 = 3;
const AV_DNS_DOMAIN: u16 = 4;
const AV_DNS_TREE: u16 = 5;
const AV_FLAGS: u16 = 6;
const AV_TIMESTAMP: u16 = 7;
const AV_SINGLE_HOST: u16 = 8;
const AV_TARGET_NAME: u16 = 9;
const AV_CHANNEL_BINDINGS: u16 = 10;

/// The server's AV pairs without the terminating MsvAvEOL.
fn server_av_pairs(out: &mut Vec<u8>, names: &ServerNames, now_ns: u64) {
    let dns_computer = format!("{}.{}", names.nb_computer, names.dns_domain);
    av_utf16(out, AV_NB_DOMAIN, names.nb_domain);
    av_utf16(out, AV_NB_COMPUTER, names.nb_computer);
    av_utf16(out, AV_DNS_DOMAIN, names.dns_domain);
    av_utf16(out, AV_DNS_COMPUTER, &dns_computer);
    av_utf16(out, AV_DNS_TREE, names.dns_domain);
    av_pair(out, AV_TIMESTAMP, &filetime(now_ns).to_le_bytes());
}

/// Appends a NEGOTIATE_MESSAGE (40 bytes, no domain or workstation supplied).
pub fn negotiate(out: &mut Vec<u8>) {
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&CLIENT_NEGOTIATE_FLAGS.to_le_bytes());
    fields(out, 0, 0);
    fields(out, 0, 0);
    out.extend_from_slice(&CLIENT_VERSION);
}

/// Appends a CHALLENGE_MESSAGE from the server named by `names`.
pub fn challenge(out: &mut Vec<u8>, rng: &mut Rng, now_ns: u64, names: &ServerNames) {
    let mut info = Vec::with_capacity(192);
    server_av_pairs(&mut info, names, now_ns);
    av_pair(&mut info, AV_EOL, &[]);
    let target_len = utf16_len(names.nb_domain);
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&2u32.to_le_bytes());
    fields(out, target_len, 56);
    out.extend_from_slice(&SERVER_CHALLENGE_FLAGS.to_le_bytes());
    out.extend_from_slice(opaque::slice(rng, 8));
    out.extend_from_slice(&[0; 8]);
    fields(out, info.len(), 56 + target_len);
    out.extend_from_slice(&SERVER_VERSION);
    push_utf16(out, names.nb_domain);
    out.extend_from_slice(&info);
}

/// Appends an AUTHENTICATE_MESSAGE answering a CHALLENGE from `server` for service `target_spn`
/// (e.g. "cifs/WORKSTATION6"), with an NTLMv2 response, a MIC and an encrypted session key.
pub fn authenticate(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    now_ns: u64,
    server: &ServerNames,
    client: &ClientNames,
    target_spn: &str,
) {
    // NTLMv2 response: NTProofStr, then the client's blob (MS-NLMP §2.2.2.7).
    let mut nt = Vec::with_capacity(320);
    nt.extend_from_slice(opaque::slice(rng, 16));
    nt.extend_from_slice(&[1, 1, 0, 0, 0, 0, 0, 0]);
    nt.extend_from_slice(&filetime(now_ns).to_le_bytes());
    nt.extend_from_slice(opaque::slice(rng, 8));
    nt.extend_from_slice(&[0; 4]);
    server_av_pairs(&mut nt, server, now_ns);
    av_pair(&mut nt, AV_FLAGS, &2u32.to_le_bytes());
    let mut single_host = [0u8; 48];
    single_host[0] = 48;
    single_host[8..].copy_from_slice(opaque::slice(rng, 40));
    av_pair(&mut nt, AV_SINGLE_HOST, &single_host);
    av_pair(&mut nt, AV_CHANNEL_BINDINGS, &[0; 16]);
    av_utf16(&mut nt, AV_TARGET_NAME, target_spn);
    av_pair(&mut nt, AV_EOL, &[]);
    nt.extend_from_slice(&[0; 4]);

    let (domain_len, user_len, host_len) =
        (utf16_len(client.domain), utf16_len(client.user), utf16_len(client.workstation));
    let domain_at = 88;
    let user_at = domain_at + domain_len;
    let host_at = user_at + user_len;
    let lm_at = host_at + host_len;
    let nt_at = lm_at + 24;
    let key_at = nt_at + nt.len();
    out.extend_from_slice(SIGNATURE);
    out.extend_from_slice(&3u32.to_le_bytes());
    fields(out, 24, lm_at);
    fields(out, nt.len(), nt_at);
    fields(out, domain_len, domain_at);
    fields(out, user_len, user_at);
    fields(out, host_len, host_at);
    fields(out, 16, key_at);
    out.extend_from_slice(&CLIENT_AUTHENTICATE_FLAGS.to_le_bytes());
    out.extend_from_slice(&CLIENT_VERSION);
    out.extend_from_slice(opaque::slice(rng, 16));
    push_utf16(out, client.domain);
    push_utf16(out, client.user);
    push_utf16(out, client.workstation);
    out.extend_from_slice(&[0; 24]);
    out.extend_from_slice(&nt);
    out.extend_from_slice(opaque::slice(rng, 16));
}

/// Appends an NTLMSSP_MESSAGE_SIGNATURE with extended session security (version 1, 8-byte HMAC,
/// sequence number): 16 bytes.
pub fn signature(out: &mut Vec<u8>, rng: &mut Rng, seq: u32) {
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(opaque::slice(rng, 8));
    out.extend_from_slice(&seq.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER: ServerNames =
        ServerNames { nb_domain: "THESHIRE", nb_computer: "WORKSTATION6", dns_domain: "theshire.local" };
    const CLIENT: ClientNames = ClientNames { domain: "THESHIRE", user: "pgustavo", workstation: "WORKSTATION5" };

    fn field(msg: &[u8], at: usize) -> (usize, usize) {
        let len = u16::from_le_bytes([msg[at], msg[at + 1]]) as usize;
        let off = u32::from_le_bytes(msg[at + 4..at + 8].try_into().unwrap()) as usize;
        (len, off)
    }

    #[test]
    fn negotiate_is_exact() {
        let mut out = Vec::new();
        negotiate(&mut out);
        assert_eq!(out.len(), 40);
        assert_eq!(&out[..16], b"NTLMSSP\0\x01\0\0\0\x97\x82\x08\xe2");
    }

    #[test]
    fn challenge_fields_cover_the_payload() {
        let mut out = Vec::new();
        challenge(&mut out, &mut Rng::new(1), 1_600_000_000_000_000_000, &SERVER);
        let (name_len, name_at) = field(&out, 12);
        assert_eq!((name_len, name_at), (16, 56));
        let (info_len, info_at) = field(&out, 40);
        assert_eq!(info_at, 72);
        assert_eq!(info_at + info_len, out.len());
        assert!(out.ends_with(&[0, 0, 0, 0]));
        assert!((200..260).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn authenticate_fields_tile_the_payload() {
        let mut out = Vec::new();
        authenticate(&mut out, &mut Rng::new(2), 1_600_000_000_000_000_000, &SERVER, &CLIENT, "cifs/WORKSTATION6");
        let mut spans: Vec<(usize, usize)> = [12, 20, 28, 36, 44, 52].iter().map(|&at| field(&out, at)).collect();
        spans.sort_by_key(|s| s.1);
        let mut next = 88;
        for (len, at) in spans {
            assert_eq!(at, next);
            next = at + len;
        }
        assert_eq!(next, out.len());
        assert_eq!(field(&out, 20).0 % 2, 0);
        assert!((450..560).contains(&out.len()), "{}", out.len());
    }

    #[test]
    fn filetime_of_the_unix_epoch() {
        assert_eq!(filetime(0), FILETIME_UNIX_EPOCH);
        assert_eq!(filetime(1_000_000_000), FILETIME_UNIX_EPOCH + 10_000_000);
    }
}
