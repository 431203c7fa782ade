//! HTTP/1.1 messages (RFC 9112) with opaque bodies, and WinRM (WS-Management over HTTP, port 5985)
//! as PowerShell remoting from Windows 10 speaks it to a Windows host.
//!
//! Generic messages: request line, `Host`, the caller's headers in order, `Content-Length`, a blank
//! line and `body_len` random-looking bytes (compressed or encrypted content).
//!
//! WinRM, measured in `empire_psremoting_stager_*.cap` (OTRF): each TCP connection opens with a
//! `POST /wsman?PSVersion=5.1.18362.752` of `Content-Length: 0` carrying `Authorization: Kerberos`
//! and a GSS-API Kerberos AP-REQ (1,776 bytes: service ticket enc-part 1,165, authenticator 437;
//! 2,611-byte request); the server answers `HTTP/1.1 200 ` (empty reason) with `WWW-Authenticate:
//! Kerberos` and the AP-REP (155 bytes; 341-byte response). Every later request and response
//! carries its SOAP envelope sealed in `multipart/encrypted` (MS-WSMV 2.2.9.1.1, protocol
//! `application/HTTP-Kerberos-session-encrypted`): the `OriginalContent` part giving the SOAP
//! length, then a 4-byte little-endian 60 and a 60-byte RFC 4121 wrap token header (16-byte header
//! with rotation count 28, then 44 bytes of rotated confounder, header copy and checksum), then the
//! ciphertext (as long as the SOAP), then the closing boundary: 301 bytes around the SOAP. SOAP
//! envelopes in the capture are 1.2–12 KB; request headers are 290 bytes, response headers 227 for a
//! 4-digit length. Windows sends the headers and the body of a request in separate TCP segments.

use std::io::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::kerberos::{self, Principal};
use super::opaque;
use crate::simulate::rng::Rng;

/// The path PowerShell 5.1 remoting posts to.
pub const WINRM_PATH: &str = "/wsman?PSVersion=5.1.18362.752";
const WINRM_PORT: u16 = 5985;
const WINRM_SOAP_TYPE: &str = "application/soap+xml;charset=UTF-8";
const WINRM_ENCRYPTED_TYPE: &str =
    "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"Encrypted Boundary\"";
const WINRM_USER_AGENT: &str = "Microsoft WinRM Client";
const WINRM_SERVER: &str = "Microsoft-HTTPAPI/2.0";
/// Service ticket and authenticator ciphertext of the AP-REQ, and the AP-REP's, in the capture.
const WINRM_TICKET_LEN: usize = 1165;
const WINRM_AUTHENTICATOR_LEN: usize = 437;
const WINRM_AP_REP_LEN: usize = 110;
/// RFC 4121 wrap token in a sealed WinRM message: the 16-byte header, then the right-rotated
/// confounder (16), encrypted header copy (16) and HMAC-SHA1-96 checksum (12).
const WRAP_HEADER_LEN: usize = 60;
const WRAP_ROTATION: u16 = 28;

/// Which end seals a WinRM message (it sets the wrap token's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    Client,
    Server,
}

/// Appends a request with `body_len` random-looking body bytes. `Content-Length` is sent when there
/// is a body, and for POST and PUT.
pub fn request(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body_len: usize,
) {
    let _ = write!(out, "{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    header_lines(out, headers);
    if body_len > 0 || matches!(method, "POST" | "PUT") {
        let _ = write!(out, "Content-Length: {body_len}\r\n");
    }
    out.extend_from_slice(b"\r\n");
    opaque::extend(out, rng, body_len);
}

/// Appends a response with `Content-Length` and `body_len` random-looking body bytes.
pub fn response(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body_len: usize,
) {
    let _ = write!(out, "HTTP/1.1 {status} {reason}\r\n");
    header_lines(out, headers);
    let _ = write!(out, "Content-Length: {body_len}\r\n\r\n");
    opaque::extend(out, rng, body_len);
}

/// Appends the first WinRM request of a connection to `host` (its DNS name; the port is added):
/// no body, a Kerberos AP-REQ for `HTTP/<host>` in realm `realm` in the `Authorization` header.
pub fn winrm_auth_request(out: &mut Vec<u8>, rng: &mut Rng, host: &str, realm: &str) {
    let mut ap_req = Vec::with_capacity(1800);
    kerberos::ap_req(
        &mut ap_req,
        rng,
        realm,
        &Principal::service(&["HTTP", host]),
        WINRM_TICKET_LEN,
        WINRM_AUTHENTICATOR_LEN,
    );
    let mut token = Vec::with_capacity(ap_req.len() + 20);
    kerberos::gss_token(&mut token, kerberos::TOK_AP_REQ, &ap_req);
    let _ = write!(
        out,
        "POST {WINRM_PATH} HTTP/1.1\r\nConnection: Keep-Alive\r\nContent-Type: {WINRM_SOAP_TYPE}\r\n\
         Authorization: Kerberos "
    );
    base64(out, &token);
    let _ = write!(out, "\r\nUser-Agent: {WINRM_USER_AGENT}\r\nContent-Length: 0\r\nHost: {host}:{WINRM_PORT}\r\n\r\n");
}

/// Appends the server's answer to [`winrm_auth_request`] at `now_unix_secs`: the Kerberos AP-REP
/// for mutual authentication, no body.
pub fn winrm_auth_response(out: &mut Vec<u8>, rng: &mut Rng, now_unix_secs: u64) {
    let mut ap_rep = Vec::with_capacity(160);
    kerberos::ap_rep(&mut ap_rep, rng, WINRM_AP_REP_LEN);
    let mut token = Vec::with_capacity(ap_rep.len() + 20);
    kerberos::gss_token(&mut token, kerberos::TOK_AP_REP, &ap_rep);
    out.extend_from_slice(b"HTTP/1.1 200 \r\nWWW-Authenticate: Kerberos ");
    base64(out, &token);
    let _ = write!(out, "\r\nServer: {WINRM_SERVER}\r\nDate: ");
    http_date(out, now_unix_secs);
    out.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
}

/// Appends a WinRM request to `host` carrying a sealed SOAP envelope of `soap_len` bytes; `seq` is
/// the client's wrap-token sequence number (one more per message).
pub fn winrm_request(out: &mut Vec<u8>, rng: &mut Rng, host: &str, soap_len: usize, seq: u64) {
    let _ = write!(
        out,
        "POST {WINRM_PATH} HTTP/1.1\r\nConnection: Keep-Alive\r\nContent-Type: {WINRM_ENCRYPTED_TYPE}\r\n\
         User-Agent: {WINRM_USER_AGENT}\r\nContent-Length: {}\r\nHost: {host}:{WINRM_PORT}\r\n\r\n",
        winrm_body_len(soap_len)
    );
    winrm_body(out, rng, Sender::Client, soap_len, seq);
}

/// Length of an HTTP message's head: its start line and headers up to and including the blank line
/// (the whole message when it has no blank line).
pub fn head_len(message: &[u8]) -> usize {
    message.windows(4).position(|w| w == b"\r\n\r\n").map_or(message.len(), |at| at + 4)
}

/// Appends a WinRM response sent at `now_unix_secs` carrying a sealed SOAP envelope of `soap_len`
/// bytes; `seq` is the server's wrap-token sequence number.
pub fn winrm_response(out: &mut Vec<u8>, rng: &mut Rng, now_unix_secs: u64, soap_len: usize, seq: u64) {
    let _ = write!(out, "HTTP/1.1 200 \r\nContent-Type: {WINRM_ENCRYPTED_TYPE}\r\nServer: {WINRM_SERVER}\r\nDate: ");
    http_date(out, now_unix_secs);
    let _ = write!(out, "\r\nContent-Length: {}\r\n\r\n", winrm_body_len(soap_len));
    winrm_body(out, rng, Sender::Server, soap_len, seq);
}

/// The multipart/encrypted body around a `soap_len`-byte envelope.
fn winrm_body(out: &mut Vec<u8>, rng: &mut Rng, sender: Sender, soap_len: usize, seq: u64) {
    let flags = match sender {
        Sender::Client => kerberos::CFX_SEALED | kerberos::CFX_ACCEPTOR_SUBKEY,
        Sender::Server => kerberos::CFX_SENT_BY_ACCEPTOR | kerberos::CFX_SEALED | kerberos::CFX_ACCEPTOR_SUBKEY,
    };
    let _ = write!(
        out,
        "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n\
         OriginalContent: type={WINRM_SOAP_TYPE};Length={soap_len}\r\n\
         --Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n"
    );
    out.extend_from_slice(&(WRAP_HEADER_LEN as u32).to_le_bytes());
    kerberos::cfx_wrap_header(out, flags, 0, WRAP_ROTATION, seq);
    opaque::extend(out, rng, WRAP_HEADER_LEN - 16 + soap_len);
    out.extend_from_slice(b"--Encrypted Boundary--\r\n");
}

/// Length of [`winrm_body`] for a `soap_len`-byte envelope.
fn winrm_body_len(soap_len: usize) -> usize {
    const PART_HEADERS: usize = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n\
        OriginalContent: type=application/soap+xml;charset=UTF-8;Length=\r\n\
        --Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n"
        .len();
    const CLOSING: usize = "--Encrypted Boundary--\r\n".len();
    PART_HEADERS + decimal_len(soap_len) + 4 + WRAP_HEADER_LEN + soap_len + CLOSING
}

fn decimal_len(mut n: usize) -> usize {
    let mut digits = 1;
    while n >= 10 {
        n /= 10;
        digits += 1;
    }
    digits
}

fn header_lines(out: &mut Vec<u8>, headers: &[(&str, &str)]) {
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
}

/// Appends the padded base64 of `bytes`.
fn base64(out: &mut Vec<u8>, bytes: &[u8]) {
    let at = out.len();
    let len = base64::encoded_len(bytes.len(), true).expect("base64 of a token fits memory");
    out.resize(at + len, 0);
    let written = STANDARD.encode_slice(bytes, &mut out[at..]).expect("buffer sized by encoded_len");
    debug_assert_eq!(written, len);
}

/// Appends an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 20 Sep 2020 21:09:10 GMT`.
fn http_date(out: &mut Vec<u8>, unix_secs: u64) {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    let (year, month, day) = crate::timefmt::civil_from_days(days as i64);
    let _ = write!(
        out,
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[month as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2020-09-20T21:09:10Z, the capture's `Date`.
    const CAPTURE_TIME: u64 = 1_600_636_150;

    /// (head, body) of one message filling `bytes`, checking `Content-Length`.
    fn split(bytes: &[u8]) -> (&str, &[u8]) {
        let end = head_len(bytes);
        let head = std::str::from_utf8(&bytes[..end]).unwrap();
        let body = &bytes[end..];
        if let Some(len) = head.lines().find_map(|l| l.strip_prefix("Content-Length: ")) {
            assert_eq!(len.parse::<usize>().unwrap(), body.len());
        }
        (head, body)
    }

    #[test]
    fn generic_request_and_response_are_exact() {
        let mut rng = Rng::new(1);
        let mut out = Vec::new();
        request(&mut out, &mut rng, "GET", "intranet.corp.example.com", "/index.html", &[("Accept", "*/*")], 0);
        assert_eq!(out, b"GET /index.html HTTP/1.1\r\nHost: intranet.corp.example.com\r\nAccept: */*\r\n\r\n");
        out.clear();
        request(&mut out, &mut rng, "POST", "h", "/upload", &[], 300);
        let (head, body) = split(&out);
        assert_eq!(head, "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 300\r\n\r\n");
        assert_eq!(body.len(), 300);
        out.clear();
        response(&mut out, &mut rng, 404, "Not Found", &[("Server", "Microsoft-IIS/10.0")], 0);
        assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nServer: Microsoft-IIS/10.0\r\nContent-Length: 0\r\n\r\n");
    }

    #[test]
    fn winrm_auth_exchange_has_the_captured_sizes() {
        let mut rng = Rng::new(2);
        let mut out = Vec::new();
        winrm_auth_request(&mut out, &mut rng, "WORKSTATION6.theshire.local", "THESHIRE.LOCAL");
        let (head, body) = split(&out);
        assert!(body.is_empty());
        let auth = head.lines().find_map(|l| l.strip_prefix("Authorization: Kerberos ")).unwrap();
        let token = STANDARD.decode(auth).unwrap();
        assert_eq!(token.len(), 1776, "as captured");
        assert_eq!(&token[..4], &[0x60, 0x82, 0x06, 0xec]);
        assert_eq!(out.len(), 2611, "as captured");
        assert!(head.starts_with("POST /wsman?PSVersion=5.1.18362.752 HTTP/1.1\r\nConnection: Keep-Alive\r\n"));
        assert!(head.ends_with(
            "User-Agent: Microsoft WinRM Client\r\nContent-Length: 0\r\nHost: WORKSTATION6.theshire.local:5985\r\n\r\n"
        ));
        out.clear();
        winrm_auth_response(&mut out, &mut rng, CAPTURE_TIME);
        let (head, _) = split(&out);
        let token = STANDARD.decode(head.lines().find_map(|l| l.strip_prefix("WWW-Authenticate: Kerberos ")).unwrap());
        assert_eq!(token.unwrap().len(), 155, "as captured");
        assert!(head.ends_with(
            "Server: Microsoft-HTTPAPI/2.0\r\nDate: Sun, 20 Sep 2020 21:09:10 GMT\r\nContent-Length: 0\r\n\r\n"
        ));
        assert_eq!(out.len(), 341, "as captured");
    }

    #[test]
    fn winrm_sealed_messages_have_the_captured_framing() {
        let mut rng = Rng::new(3);
        let mut out = Vec::new();
        winrm_request(&mut out, &mut rng, "workstation6.theshire.local", 1682, 0x4c08_c4bb);
        let (head, body) = split(&out);
        assert_eq!(head.len(), 290, "as captured");
        assert_eq!(body.len(), 1983, "as captured for a 1,682-byte envelope");
        assert!(body.starts_with(
            b"--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n\
              OriginalContent: type=application/soap+xml;charset=UTF-8;Length=1682\r\n\
              --Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n\
              <\0\0\0\x05\x04\x06\xff\0\0\0\x1c\0\0\0\0\x4c\x08\xc4\xbb"
        ));
        assert!(body.ends_with(b"--Encrypted Boundary--\r\n"));
        out.clear();
        winrm_response(&mut out, &mut rng, CAPTURE_TIME, 2268, 0x4a18_fb95);
        let (head, body) = split(&out);
        assert_eq!(body.len(), 2569, "as captured for a 2,268-byte envelope");
        assert_eq!(head.len(), 227, "as captured");
        let flags_at = body.windows(4).position(|w| w == b"<\0\0\0").unwrap() + 6;
        assert_eq!(body[flags_at], 0x07, "sent by acceptor, sealed, acceptor subkey");
        for soap_len in [0, 9, 10, 99_999, 100_000] {
            let mut b = Vec::new();
            winrm_body(&mut b, &mut rng, Sender::Client, soap_len, 1);
            assert_eq!(b.len(), winrm_body_len(soap_len));
        }
    }

    #[test]
    fn dates_are_imf_fixdates() {
        for (secs, text) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (CAPTURE_TIME, "Sun, 20 Sep 2020 21:09:10 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (1_709_542_800, "Mon, 04 Mar 2024 09:00:00 GMT"),
        ] {
            let mut out = Vec::new();
            http_date(&mut out, secs);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn same_seed_same_bytes() {
        let build = |seed| {
            let mut rng = Rng::new(seed);
            let mut out = Vec::new();
            winrm_auth_request(&mut out, &mut rng, "srv.corp.example.com", "CORP.EXAMPLE.COM");
            winrm_request(&mut out, &mut rng, "srv.corp.example.com", 500, 1);
            out
        };
        assert_eq!(build(4), build(4));
        assert_ne!(build(4), build(5));
    }
}
