//! The RDP connection's first exchange (MS-RDPBCGR 2.2.1.1–2.2.1.2), as TCP payloads to and from port
//! 3389: the client's X.224 Connection Request and the server's Connection Confirm, each in a TPKT
//! (RFC 1006, version 3, big-endian length of the whole packet). Everything after runs inside TLS
//! ([`super::tls`]; with HYBRID the client then speaks CredSSP inside it).
//!
//! Modelled on `mstsc.exe` against Windows Server: the request carries the routing cookie
//! `Cookie: mstshash=<user>\r\n` and an RDP_NEG_REQ asking for TLS and CredSSP (PROTOCOL_SSL |
//! PROTOCOL_HYBRID), 47 bytes for a 9-character user (mstsc cuts the name to 9 characters;
//! scanners send their own); the confirm is the server's 19-byte RDP_NEG_RSP choosing HYBRID with
//! flags 0x1f (extended client data, graphics pipeline, restricted admin, redirected authentication).

/// X.224 TPDU codes.
const X224_CONNECTION_REQUEST: u8 = 0xe0;
const X224_CONNECTION_CONFIRM: u8 = 0xd0;
const TYPE_RDP_NEG_REQ: u8 = 0x01;
const TYPE_RDP_NEG_RSP: u8 = 0x02;
const PROTOCOL_SSL: u32 = 0x1;
const PROTOCOL_HYBRID: u32 = 0x2;
/// RDP_NEG_RSP flags a Windows Server sets.
const SERVER_NEG_FLAGS: u8 = 0x1f;
/// The source reference Windows servers put in the Connection Confirm.
const SERVER_SOURCE_REF: u16 = 0x1234;

/// Appends the client's Connection Request for `cookie_user` (written as given).
pub fn x224_connection_request(out: &mut Vec<u8>, cookie_user: &str) {
    tpkt(out, |out| {
        // Destination reference, source reference, class 0.
        x224(out, X224_CONNECTION_REQUEST, [0, 0, 0, 0, 0], |out| {
            out.extend_from_slice(b"Cookie: mstshash=");
            out.extend_from_slice(cookie_user.as_bytes());
            out.extend_from_slice(b"\r\n");
            neg(out, TYPE_RDP_NEG_REQ, 0, PROTOCOL_SSL | PROTOCOL_HYBRID);
        });
    });
}

/// Appends the server's Connection Confirm selecting CredSSP (PROTOCOL_HYBRID).
pub fn x224_connection_confirm(out: &mut Vec<u8>) {
    let [hi, lo] = SERVER_SOURCE_REF.to_be_bytes();
    tpkt(out, |out| {
        x224(out, X224_CONNECTION_CONFIRM, [0, 0, hi, lo, 0], |out| {
            neg(out, TYPE_RDP_NEG_RSP, SERVER_NEG_FLAGS, PROTOCOL_HYBRID);
        });
    });
}

/// A TPKT header (version 3, reserved, 16-bit length of the whole packet) around what `body` writes.
fn tpkt(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[3, 0, 0, 0]);
    body(out);
    let len = u16::try_from(out.len() - at).expect("a TPKT of at most 65,535 bytes");
    out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// An X.224 connection TPDU: length indicator (the bytes after it), code, references and class,
/// then the variable part `body` writes.
fn x224(out: &mut Vec<u8>, code: u8, refs_and_class: [u8; 5], body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.push(0);
    out.push(code);
    out.extend_from_slice(&refs_and_class);
    body(out);
    out[at] = u8::try_from(out.len() - at - 1).expect("an X.224 header of at most 255 bytes");
}

/// RDP_NEG_REQ or RDP_NEG_RSP: type, flags, length 8 and the protocols, little-endian.
fn neg(out: &mut Vec<u8>, neg_type: u8, flags: u8, protocols: u32) {
    out.extend_from_slice(&[neg_type, flags, 8, 0]);
    out.extend_from_slice(&protocols.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_request_is_byte_exact() {
        let mut out = Vec::new();
        x224_connection_request(&mut out, "Administr");
        let mut expected = vec![0x03, 0x00, 0x00, 0x2f, 0x2a, 0xe0, 0, 0, 0, 0, 0];
        expected.extend_from_slice(b"Cookie: mstshash=Administr\r\n");
        expected.extend_from_slice(&[0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00]);
        assert_eq!(out, expected);
        assert_eq!(out.len(), 47);
    }

    #[test]
    fn connection_confirm_is_byte_exact() {
        let mut out = vec![0xff];
        x224_connection_confirm(&mut out);
        assert_eq!(
            &out[1..],
            &[0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00, 0x12, 0x34, 0x00, 0x02, 0x1f, 0x08, 0x00, 0x02, 0, 0, 0]
        );
    }

    #[test]
    fn lengths_follow_the_cookie() {
        for user in ["", "a", "a-much-longer-user-name-than-mstsc-sends"] {
            let mut out = Vec::new();
            x224_connection_request(&mut out, user);
            assert_eq!(u16::from_be_bytes([out[2], out[3]]) as usize, out.len());
            assert_eq!(out[4] as usize, out.len() - 5);
        }
    }
}
