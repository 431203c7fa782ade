//! Authentication feature family: logon requests and refused credentials in Kerberos and SMB2
//! messages, so that a password spray shows whichever protocol carries it.
//!
//! Flows on TCP or UDP port 88 (Kerberos) and TCP ports 445 and 139 (SMB2) carry this family; for
//! every other flow both features are NaN (missing), for these they are counts from 0.
//!
//! - `auth_attempts`: logon requests, counted when the client sends them (towards the service port):
//!   - Kerberos AS-REQ (RFC 4120 §5.4.1, `[APPLICATION 10]`): a request for a ticket-granting ticket,
//!     made with the user's password-derived key;
//!   - SMB2 SESSION_SETUP requests (MS-SMB2 §2.2.5), one per leg.
//!
//!   A Windows password logon is two requests in either protocol: NTLM takes two SESSION_SETUP legs
//!   (NEGOTIATE, then AUTHENTICATE), and Kerberos sends a first AS-REQ without pre-authentication,
//!   answered by PREAUTH_REQUIRED, then one with it. A Kerberos logon to SMB is one leg.
//!   TGS-REQs (`[APPLICATION 12]`) are not logons: they authenticate with a ticket the KDC itself
//!   issued, cannot fail for a wrong password, and come with every new service a logged-on user
//!   reaches (they would drown the logons).
//! - `auth_failures`: refused credentials, counted when the server sends them (from the service port):
//!   - KRB-ERROR (RFC 4120 §5.9.1, `[APPLICATION 30]`) whose error-code (§7.5.9) is
//!     KDC_ERR_C_PRINCIPAL_UNKNOWN (6), KDC_ERR_CLIENT_REVOKED (18, disabled or locked out),
//!     KDC_ERR_KEY_EXPIRED (23) or KDC_ERR_PREAUTH_FAILED (24, wrong password). Not
//!     KDC_ERR_PREAUTH_REQUIRED (25): it is the normal first answer of every Windows logon;
//!   - SMB2 SESSION_SETUP responses (MS-SMB2 §2.2.6, or the error response §2.2.2) with status
//!     STATUS_LOGON_FAILURE, STATUS_ACCOUNT_RESTRICTION, STATUS_PASSWORD_EXPIRED,
//!     STATUS_ACCOUNT_DISABLED or STATUS_ACCOUNT_LOCKED_OUT (MS-ERREF §2.3.1).
//!
//! Framing. Only the message at the start of each transport payload is read (no reassembly: a
//! segment that continues a message, or the second message of a segment, is not counted).
//! - Kerberos over TCP: a 4-byte record mark, big-endian length with the top bit reserved and zero
//!   (RFC 4120 §7.2.2); over UDP the datagram is the message. The message's outer DER length must
//!   account for exactly the record length (TCP) or the UDP payload length from the IP header, so a
//!   continuation segment or a payload that is not Kerberos practically never passes (a datagram cut
//!   into IP fragments does not either; KDC messages of a logon fit one datagram). Then `pvno` must be
//!   5 and `msg-type` must agree with the application tag; a KRB-ERROR's fields are walked in tag
//!   order up to `error-code` (at most six DER headers).
//! - SMB2: the first message of the payload as [`super::smb2`] frames it (session header, SMB2
//!   header), a session length that holds the body's StructureSize, and that size (25 for the
//!   request, 9 for the response and the error response).
//!
//! A request counts only from the client's side and a response only from the server's: the side is
//! told by the service port the packet goes to or comes from, not by the flow's direction (a capture
//! may start with the server's packet).
//!
//! Work per packet is bounded (a few dozen bytes read at most, no allocation), every access is
//! checked, and the state is 12 bytes. Counts saturate at `u32::MAX`.

use super::smb2::{self, NETBIOS_SESSION_PORT, SMB_DIRECT_PORT};
use crate::decode::Transport;

/// KRB-ERROR codes that refuse a credential (RFC 4120 §7.5.9).
const KDC_ERR_C_PRINCIPAL_UNKNOWN: i64 = 6;
const KDC_ERR_CLIENT_REVOKED: i64 = 18;
const KDC_ERR_KEY_EXPIRED: i64 = 23;
const KDC_ERR_PREAUTH_FAILED: i64 = 24;

/// NTSTATUS values of a refused SMB2 logon (MS-ERREF §2.3.1).
const STATUS_LOGON_FAILURE: u32 = 0xC000_006D;
const STATUS_ACCOUNT_RESTRICTION: u32 = 0xC000_006E;
const STATUS_PASSWORD_EXPIRED: u32 = 0xC000_0071;
const STATUS_ACCOUNT_DISABLED: u32 = 0xC000_0072;
const STATUS_ACCOUNT_LOCKED_OUT: u32 = 0xC000_0234;

const KERBEROS_PORT: u16 = 88;

/// Kerberos application tags (RFC 4120 §5.10), DER-encoded (constructed, application class).
const TAG_AS_REQ: u8 = 0x6A;
const TAG_KRB_ERROR: u8 = 0x7E;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_INTEGER: u8 = 0x02;
/// A context-specific constructed tag `[n]`.
const fn context_tag(n: u8) -> u8 {
    0xA0 | n
}

const SMB2_SESSION_SETUP: u16 = 0x0001;
const SESSION_SETUP_REQUEST_SIZE: u16 = 25;
/// The SESSION_SETUP response and the error response (§2.2.2) both declare 9.
const SESSION_SETUP_RESPONSE_SIZE: u16 = 9;

/// The protocol and framing of a flow that carries this family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    KerberosTcp,
    KerberosUdp,
    Smb2,
}

/// Which end sent a packet, by the service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Per-flow authentication state.
#[derive(Debug, Clone, Copy)]
pub struct AuthFeatures {
    attempts: u32,
    failures: u32,
    service: Service,
    server_port: u16,
}

impl AuthFeatures {
    pub const NAMES: &'static [&'static str] = &["auth_attempts", "auth_failures"];

    /// State for a flow whose first packet has `transport`, if the flow runs on a port of Kerberos
    /// (TCP, UDP) or SMB2 (TCP).
    ///
    /// This and [`Self::update`] stay out of line: inlined into the flow table's per-packet loop they
    /// slowed the whole loop by about 15 % (code layout; `cargo bench --bench throughput`, pipeline
    /// without context), though they only run for Kerberos and SMB flows.
    #[inline(never)]
    pub fn for_flow(transport: &Transport) -> Option<AuthFeatures> {
        let new = |service, server_port| AuthFeatures { attempts: 0, failures: 0, service, server_port };
        match *transport {
            Transport::Tcp { src_port, dst_port, .. } => [KERBEROS_PORT, SMB_DIRECT_PORT, NETBIOS_SESSION_PORT]
                .into_iter()
                .find(|&p| p == dst_port || p == src_port)
                .map(|p| new(if p == KERBEROS_PORT { Service::KerberosTcp } else { Service::Smb2 }, p)),
            Transport::Udp { src_port, dst_port } if src_port == KERBEROS_PORT || dst_port == KERBEROS_PORT => {
                Some(new(Service::KerberosUdp, KERBEROS_PORT))
            }
            _ => None,
        }
    }

    /// Accounts one transport payload of the flow: `payload` is its captured part, `payload_len` its
    /// length from the IP header. Anything but a counted message (see the module doc) is ignored.
    #[inline(never)]
    pub fn update(&mut self, src_port: u16, dst_port: u16, payload: &[u8], payload_len: u32) {
        if payload.is_empty() {
            return;
        }
        let side = if dst_port == self.server_port {
            Side::Client
        } else if src_port == self.server_port {
            Side::Server
        } else {
            return;
        };
        let message = match self.service {
            Service::KerberosTcp => {
                kerberos_record(payload).and_then(|(msg, len)| Kerberos::parse(msg, len)).map(Message::Kerberos)
            }
            Service::KerberosUdp => {
                usize::try_from(payload_len).ok().and_then(|len| Kerberos::parse(payload, len)).map(Message::Kerberos)
            }
            Service::Smb2 => SessionSetup::parse(payload).map(Message::Smb2),
        };
        let Some(message) = message else { return };
        let (attempt, failure) = match (side, message) {
            (Side::Client, Message::Kerberos(Kerberos::AsReq)) => (true, false),
            (Side::Server, Message::Kerberos(Kerberos::Error(code))) => (false, is_credential_error(code)),
            (Side::Client, Message::Smb2(SessionSetup::Request)) => (true, false),
            (Side::Server, Message::Smb2(SessionSetup::Response { status })) => (false, is_logon_failure(status)),
            _ => (false, false),
        };
        self.attempts = self.attempts.saturating_add(u32::from(attempt));
        self.failures = self.failures.saturating_add(u32::from(failure));
    }

    /// Writes the features in [`Self::NAMES`] order; `out.len()` must equal `NAMES.len()`.
    pub fn write(&self, out: &mut [f64]) {
        debug_assert_eq!(out.len(), Self::NAMES.len());
        for (slot, value) in out.iter_mut().zip([self.attempts, self.failures]) {
            *slot = f64::from(value);
        }
    }
}

fn is_credential_error(code: i64) -> bool {
    matches!(code, KDC_ERR_C_PRINCIPAL_UNKNOWN | KDC_ERR_CLIENT_REVOKED | KDC_ERR_KEY_EXPIRED | KDC_ERR_PREAUTH_FAILED)
}

fn is_logon_failure(status: u32) -> bool {
    matches!(
        status,
        STATUS_LOGON_FAILURE
            | STATUS_ACCOUNT_RESTRICTION
            | STATUS_PASSWORD_EXPIRED
            | STATUS_ACCOUNT_DISABLED
            | STATUS_ACCOUNT_LOCKED_OUT
    )
}

/// A message this family reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Message {
    Kerberos(Kerberos),
    Smb2(SessionSetup),
}

/// The captured bytes after a Kerberos record mark, and the record length it declares.
fn kerberos_record(payload: &[u8]) -> Option<(&[u8], usize)> {
    let (mark, msg) = payload.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*mark);
    // The top bit is reserved for extensions (RFC 4120 §7.2.2).
    if len & 0x8000_0000 != 0 {
        return None;
    }
    Some((msg, usize::try_from(len).ok()?))
}

/// The Kerberos messages this family counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kerberos {
    AsReq,
    /// A KRB-ERROR and its error-code.
    Error(i64),
}

impl Kerberos {
    /// Reads the message at the start of `msg` (its captured bytes), whose framing says it is
    /// `len` bytes long.
    fn parse(msg: &[u8], len: usize) -> Option<Kerberos> {
        let app = Tlv::read(msg, 0)?;
        if app.end != len {
            return None;
        }
        // KDC-REQ numbers its fields from [1], KRB-ERROR from [0] (RFC 4120 §5.4.1, §5.9.1).
        let (msg_type, first_field) = match app.tag {
            TAG_AS_REQ => (10, 1),
            TAG_KRB_ERROR => (30, 0),
            _ => return None,
        };
        let seq = Tlv::read(msg, app.start)?;
        if seq.tag != TAG_SEQUENCE || seq.end != app.end {
            return None;
        }
        let pvno = seq.field(msg, seq.start, context_tag(first_field))?;
        let kind = seq.field(msg, pvno.end, context_tag(first_field + 1))?;
        if pvno.explicit_int(msg)? != 5 || kind.explicit_int(msg)? != msg_type {
            return None;
        }
        if app.tag == TAG_AS_REQ {
            return Some(Kerberos::AsReq);
        }
        // KRB-ERROR: ctime [2] and cusec [3] are optional, stime [4] and susec [5] come before
        // error-code [6]. Tags must increase, so this reads at most five headers.
        let mut at = kind.end;
        let mut last_tag = kind.tag;
        loop {
            let f = Tlv::read(msg, at)?;
            if f.tag <= last_tag || f.end > seq.end {
                return None;
            }
            match f.tag {
                t if t == context_tag(6) => return f.explicit_int(msg).map(Kerberos::Error),
                t if (context_tag(2)..context_tag(6)).contains(&t) => {
                    at = f.end;
                    last_tag = t;
                }
                _ => return None,
            }
        }
    }
}

/// One DER element: its tag and where its contents start and end. The end may lie beyond the
/// captured bytes (the contents are only read where they are captured).
#[derive(Debug, Clone, Copy)]
struct Tlv {
    tag: u8,
    start: usize,
    end: usize,
}

impl Tlv {
    /// The element whose header is at `at` (X.690 §8.1.2-8.1.3, DER: definite lengths only).
    fn read(bytes: &[u8], at: usize) -> Option<Tlv> {
        let tag = *bytes.get(at)?;
        // The high-tag-number form: no tag read here uses it.
        if tag & 0x1F == 0x1F {
            return None;
        }
        let first = *bytes.get(at.checked_add(1)?)?;
        let (len, start) = if first < 0x80 {
            (usize::from(first), at + 2)
        } else {
            // 0x80 is the indefinite form (not DER); four length bytes cover any KDC message.
            let n = usize::from(first & 0x7F);
            if n == 0 || n > 4 {
                return None;
            }
            let digits = bytes.get(at + 2..at + 2 + n)?;
            (digits.iter().fold(0usize, |len, &d| len << 8 | usize::from(d)), at + 2 + n)
        };
        Some(Tlv { tag, start, end: start.checked_add(len)? })
    }

    /// The element at `at` inside `self`, if it has `tag` and ends within `self`.
    fn field(&self, bytes: &[u8], at: usize, tag: u8) -> Option<Tlv> {
        let f = Tlv::read(bytes, at)?;
        (f.tag == tag && f.end <= self.end).then_some(f)
    }

    /// The INTEGER an explicitly tagged field `[n] INTEGER` holds, if it is captured and has at most
    /// five content bytes (enough for RFC 4120's Int32 and UInt32, §5.2.4).
    fn explicit_int(&self, bytes: &[u8]) -> Option<i64> {
        let int = self.field(bytes, self.start, TAG_INTEGER)?;
        let digits = bytes.get(int.start..int.end)?;
        let &first = digits.first()?;
        if digits.len() > 5 {
            return None;
        }
        // Two's complement, big-endian.
        let seed = if first & 0x80 != 0 { -1i64 } else { 0 };
        Some(digits.iter().fold(seed, |v, &d| v << 8 | i64::from(d)))
    }
}

/// An SMB2 SESSION_SETUP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionSetup {
    Request,
    Response { status: u32 },
}

impl SessionSetup {
    /// Reads the SMB2 message at the start of a TCP payload, if it is a SESSION_SETUP.
    fn parse(payload: &[u8]) -> Option<SessionSetup> {
        let m = smb2::Message::read(payload)?;
        if m.length < (smb2::HEADER_LEN + 2) as u32 || m.command != SMB2_SESSION_SETUP {
            return None;
        }
        let body_size = m.body_size()?;
        if m.from_server {
            (body_size == SESSION_SETUP_RESPONSE_SIZE).then_some(SessionSetup::Response { status: m.status })
        } else {
            (body_size == SESSION_SETUP_REQUEST_SIZE).then_some(SessionSetup::Request)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpInfo;
    use proptest::prelude::*;

    const CLIENT_PORT: u16 = 50_000;

    fn tcp(server_port: u16) -> AuthFeatures {
        let tcp = TcpInfo { flags: 0x02, window: 64_240, seq: 0, ack: 0 };
        AuthFeatures::for_flow(&Transport::Tcp { src_port: CLIENT_PORT, dst_port: server_port, tcp }).unwrap()
    }

    fn udp() -> AuthFeatures {
        AuthFeatures::for_flow(&Transport::Udp { src_port: CLIENT_PORT, dst_port: 88 }).unwrap()
    }

    fn from_client(f: &mut AuthFeatures, payload: &[u8]) {
        f.update(CLIENT_PORT, f.server_port, payload, payload.len() as u32);
    }

    fn from_server(f: &mut AuthFeatures, payload: &[u8]) {
        f.update(f.server_port, CLIENT_PORT, payload, payload.len() as u32);
    }

    fn counts(f: &AuthFeatures) -> (f64, f64) {
        let mut out = [f64::NAN; 2];
        f.write(&mut out);
        (out[0], out[1])
    }

    /// AS-REQ for alice@EXAMPLE.COM without pre-authentication (PA-PAC-REQUEST only), kdc-options
    /// 0x40810010, till 2037-09-13, etypes 18, 17, 23; behind its TCP record mark (161 bytes).
    const AS_REQ: &[u8] = &[
        0x00, 0x00, 0x00, 0xA1, // record mark
        0x6A, 0x81, 0x9E, 0x30, 0x81, 0x9B, // [APPLICATION 10] SEQUENCE
        0xA1, 0x03, 0x02, 0x01, 0x05, // pvno 5
        0xA2, 0x03, 0x02, 0x01, 0x0A, // msg-type 10
        0xA3, 0x15, 0x30, 0x13, 0x30, 0x11, // padata
        0xA1, 0x04, 0x02, 0x02, 0x00, 0x80, // PA-PAC-REQUEST (128)
        0xA2, 0x09, 0x04, 0x07, 0x30, 0x05, 0xA0, 0x03, 0x01, 0x01, 0xFF, // include-pac TRUE
        0xA4, 0x78, 0x30, 0x76, // req-body
        0xA0, 0x07, 0x03, 0x05, 0x00, 0x40, 0x81, 0x00, 0x10, // kdc-options
        0xA1, 0x12, 0x30, 0x10, 0xA0, 0x03, 0x02, 0x01, 0x01, // cname, NT-PRINCIPAL
        0xA1, 0x09, 0x30, 0x07, 0x1B, 0x05, b'a', b'l', b'i', b'c', b'e', //
        0xA2, 0x0D, 0x1B, 0x0B, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'.', b'C', b'O', b'M', // realm
        0xA3, 0x20, 0x30, 0x1E, 0xA0, 0x03, 0x02, 0x01, 0x02, // sname, NT-SRV-INST
        0xA1, 0x17, 0x30, 0x15, 0x1B, 0x06, b'k', b'r', b'b', b't', b'g', b't', //
        0x1B, 0x0B, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'.', b'C', b'O', b'M', //
        0xA5, 0x11, 0x18, 0x0F, b'2', b'0', b'3', b'7', b'0', b'9', b'1', b'3', b'0', b'2', b'4', b'8', b'0', b'5',
        b'Z', // till
        0xA7, 0x06, 0x02, 0x04, 0x12, 0x34, 0x56, 0x78, // nonce
        0xA8, 0x0B, 0x30, 0x09, 0x02, 0x01, 0x12, 0x02, 0x01, 0x11, 0x02, 0x01, 0x17, // etype
    ];

    /// KRB-ERROR KDC_ERR_PREAUTH_FAILED (24) from the KDC of EXAMPLE.COM: pvno, msg-type, stime
    /// 2024-03-04 09:00:00, susec, error-code, realm, sname krbtgt/EXAMPLE.COM; record-marked (94 bytes).
    const KRB_ERROR_PREAUTH_FAILED: &[u8] = &[
        0x00, 0x00, 0x00, 0x5E, // record mark
        0x7E, 0x5C, 0x30, 0x5A, // [APPLICATION 30] SEQUENCE
        0xA0, 0x03, 0x02, 0x01, 0x05, // pvno 5
        0xA1, 0x03, 0x02, 0x01, 0x1E, // msg-type 30
        0xA4, 0x11, 0x18, 0x0F, b'2', b'0', b'2', b'4', b'0', b'3', b'0', b'4', b'0', b'9', b'0', b'0', b'0', b'0',
        b'Z', // stime
        0xA5, 0x05, 0x02, 0x03, 0x0A, 0x1B, 0x2C, // susec
        0xA6, 0x03, 0x02, 0x01, 0x18, // error-code 24
        0xA9, 0x0D, 0x1B, 0x0B, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'.', b'C', b'O', b'M', // realm
        0xAA, 0x20, 0x30, 0x1E, 0xA0, 0x03, 0x02, 0x01, 0x02, // sname
        0xA1, 0x17, 0x30, 0x15, 0x1B, 0x06, b'k', b'r', b'b', b't', b'g', b't', //
        0x1B, 0x0B, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'.', b'C', b'O', b'M',
    ];
    /// Offset of the error-code's value byte in [`KRB_ERROR_PREAUTH_FAILED`].
    const ERROR_CODE_AT: usize = 48;

    /// The same KRB-ERROR with the optional ctime and cusec (the client's time echoed), code 6
    /// (KDC_ERR_C_PRINCIPAL_UNKNOWN); record-marked (124 bytes).
    const KRB_ERROR_WITH_CTIME: &[u8] = &[
        0x00, 0x00, 0x00, 0x78, // record mark
        0x7E, 0x76, 0x30, 0x74, // [APPLICATION 30] SEQUENCE
        0xA0, 0x03, 0x02, 0x01, 0x05, // pvno 5
        0xA1, 0x03, 0x02, 0x01, 0x1E, // msg-type 30
        0xA2, 0x11, 0x18, 0x0F, b'2', b'0', b'2', b'4', b'0', b'3', b'0', b'4', b'0', b'8', b'5', b'9', b'5', b'9',
        b'Z', // ctime
        0xA3, 0x05, 0x02, 0x03, 0x01, 0x02, 0x03, // cusec
        0xA4, 0x11, 0x18, 0x0F, b'2', b'0', b'2', b'4', b'0', b'3', b'0', b'4', b'0', b'9', b'0', b'0', b'0', b'0',
        b'Z', // stime
        0xA5, 0x05, 0x02, 0x03, 0x0A, 0x1B, 0x2C, // susec
        0xA6, 0x03, 0x02, 0x01, 0x06, // error-code 6
        0xA9, 0x0D, 0x1B, 0x0B, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'.', b'C', b'O', b'M', // realm
        0xAA, 0x20, 0x30, 0x1E, 0xA0, 0x03, 0x02, 0x01, 0x02, // sname
        0xA1, 0x17, 0x30, 0x15, 0x1B, 0x06, b'k', b'r', b'b', b't', b'g', b't', //
        0x1B, 0x0B, b'E', b'X', b'A', b'M', b'P', b'L', b'E', b'.', b'C', b'O', b'M',
    ];

    /// The fixed part of an SMB2 header (MS-SMB2 §2.2.1.2) up to Status.
    const SMB2_MAGIC: [u8; 8] = [0xFE, b'S', b'M', b'B', 0x40, 0x00, 0x01, 0x00];

    /// An SMB2 SESSION_SETUP request behind the Direct TCP header: message id 2, no session yet,
    /// 33 credits asked, signing enabled, and a raw NTLMSSP NEGOTIATE_MESSAGE as the security
    /// buffer (MS-NLMP §2.2.1.1); 124 bytes.
    const SESSION_SETUP_REQUEST: &[u8] = &[
        0x00, 0x00, 0x00, 0x78, // Direct TCP: 120 bytes
        0xFE, b'S', b'M', b'B', 0x40, 0x00, 0x01, 0x00, // ProtocolId, StructureSize, CreditCharge
        0x00, 0x00, 0x00, 0x00, // ChannelSequence, Reserved
        0x01, 0x00, 0x21, 0x00, // Command SESSION_SETUP, CreditRequest 33
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Flags, NextCommand
        0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // MessageId
        0xFF, 0xFE, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Reserved, TreeId
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // SessionId
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Signature
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //
        0x19, 0x00, 0x00, 0x01, // StructureSize 25, Flags, SecurityMode signing enabled
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // Capabilities DFS, Channel
        0x58, 0x00, 0x20, 0x00, // SecurityBufferOffset 88, SecurityBufferLength 32
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // PreviousSessionId
        b'N', b'T', b'L', b'M', b'S', b'S', b'P', 0x00, 0x01, 0x00, 0x00, 0x00, // NEGOTIATE_MESSAGE
        0x07, 0x82, 0x08, 0xA2, // NegotiateFlags
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // DomainNameFields
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // WorkstationFields
    ];

    /// An SMB2 error response (§2.2.2) to message 3 of session 0x0000100000000041 with `status`.
    fn session_setup_error(status: u32) -> Vec<u8> {
        let mut m = vec![0x00, 0x00, 0x00, 0x49]; // Direct TCP: 73 bytes
        m.extend_from_slice(&SMB2_MAGIC);
        m.extend_from_slice(&status.to_le_bytes());
        m.extend_from_slice(&[0x01, 0x00, 0x01, 0x00]); // Command SESSION_SETUP, CreditResponse 1
        m.extend_from_slice(&[0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]); // SERVER_TO_REDIR, NextCommand
        m.extend_from_slice(&[0x03, 0, 0, 0, 0, 0, 0, 0]); // MessageId
        m.extend_from_slice(&[0xFF, 0xFE, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]); // Reserved, TreeId
        m.extend_from_slice(&[0x41, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00]); // SessionId
        m.extend_from_slice(&[0; 16]); // Signature
        m.extend_from_slice(&[0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]); // ByteCount 0, ErrorData
        m
    }

    /// A successful SESSION_SETUP response (§2.2.6) without a security buffer: session flags 0,
    /// SecurityBufferOffset 72, SecurityBufferLength 0.
    fn session_setup_success() -> Vec<u8> {
        let mut m = session_setup_error(0);
        m.truncate(4 + 64);
        m.extend_from_slice(&[0x09, 0x00, 0x00, 0x00, 0x48, 0x00, 0x00, 0x00]);
        m[3] = 72;
        m
    }

    const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xC000_0016;

    #[test]
    fn state_is_small_and_names_match() {
        assert!(std::mem::size_of::<AuthFeatures>() <= 12);
        assert_eq!(AuthFeatures::NAMES.len(), 2);
    }

    #[test]
    fn only_kerberos_and_smb_ports_carry_the_family() {
        let syn = TcpInfo { flags: 0x02, window: 0, seq: 0, ack: 0 };
        let tcp_to = |port| AuthFeatures::for_flow(&Transport::Tcp { src_port: 50_000, dst_port: port, tcp: syn });
        assert_eq!(tcp_to(88).map(|f| f.service), Some(Service::KerberosTcp));
        assert_eq!(tcp_to(445).map(|f| f.service), Some(Service::Smb2));
        assert_eq!(tcp_to(139).map(|f| (f.service, f.server_port)), Some((Service::Smb2, 139)));
        assert!(tcp_to(443).is_none() && tcp_to(464).is_none());
        // The first packet seen may be the server's.
        let reply = AuthFeatures::for_flow(&Transport::Udp { src_port: 88, dst_port: 50_000 });
        assert_eq!(reply.map(|f| f.service), Some(Service::KerberosUdp));
        assert!(AuthFeatures::for_flow(&Transport::Udp { src_port: 50_000, dst_port: 445 }).is_none());
        assert!(AuthFeatures::for_flow(&Transport::Other).is_none());
    }

    #[test]
    fn a_sprayed_kerberos_guess_is_one_attempt_and_one_failure() {
        let mut f = tcp(88);
        assert_eq!(counts(&f), (0.0, 0.0), "a Kerberos flow counts from zero");
        from_client(&mut f, AS_REQ);
        from_server(&mut f, KRB_ERROR_PREAUTH_FAILED);
        assert_eq!(counts(&f), (1.0, 1.0));
    }

    #[test]
    fn preauth_required_is_the_normal_first_answer_not_a_failure() {
        let mut f = tcp(88);
        let mut required = KRB_ERROR_PREAUTH_FAILED.to_vec();
        required[ERROR_CODE_AT] = 25;
        from_client(&mut f, AS_REQ);
        from_server(&mut f, &required);
        assert_eq!(counts(&f), (1.0, 0.0));
    }

    #[test]
    fn credential_error_codes_count_and_others_do_not() {
        for (code, counted) in [(6, true), (18, true), (23, true), (24, true), (25, false), (7, false), (52, false)] {
            let mut err = KRB_ERROR_PREAUTH_FAILED.to_vec();
            err[ERROR_CODE_AT] = code;
            let mut f = tcp(88);
            from_server(&mut f, &err);
            assert_eq!(counts(&f).1, f64::from(u8::from(counted)), "error code {code}");
        }
    }

    #[test]
    fn optional_ctime_and_cusec_are_walked_over() {
        let mut f = tcp(88);
        from_server(&mut f, KRB_ERROR_WITH_CTIME);
        assert_eq!(counts(&f), (0.0, 1.0));
    }

    #[test]
    fn kerberos_over_udp_has_no_record_mark() {
        let mut f = udp();
        from_client(&mut f, &AS_REQ[4..]);
        from_server(&mut f, &KRB_ERROR_PREAUTH_FAILED[4..]);
        assert_eq!(counts(&f), (1.0, 1.0));
        // With the TCP record mark, a datagram is not a Kerberos message.
        from_server(&mut f, KRB_ERROR_PREAUTH_FAILED);
        assert_eq!(counts(&f), (1.0, 1.0));
        // The IP header's length must match the message: a first fragment of a longer datagram
        // is not parsed.
        f.update(88, CLIENT_PORT, &KRB_ERROR_PREAUTH_FAILED[4..], 1480);
        assert_eq!(counts(&f), (1.0, 1.0));
    }

    #[test]
    fn messages_count_only_from_their_own_side() {
        let mut f = tcp(88);
        from_server(&mut f, AS_REQ);
        from_client(&mut f, KRB_ERROR_PREAUTH_FAILED);
        let mut smb = tcp(445);
        from_server(&mut smb, SESSION_SETUP_REQUEST);
        from_client(&mut smb, &session_setup_error(STATUS_LOGON_FAILURE));
        // Neither end on the service port (cannot happen within one flow, but must not count).
        f.update(1, 2, AS_REQ, AS_REQ.len() as u32);
        assert_eq!(counts(&f), (0.0, 0.0));
        assert_eq!(counts(&smb), (0.0, 0.0));
    }

    #[test]
    fn tgs_req_is_not_an_attempt() {
        let mut tgs = AS_REQ.to_vec();
        tgs[4] = 0x6C; // [APPLICATION 12]
        tgs[19] = 12; // msg-type
        let mut f = tcp(88);
        from_client(&mut f, &tgs);
        assert_eq!(counts(&f), (0.0, 0.0));
    }

    #[test]
    fn inconsistent_kerberos_messages_are_ignored() {
        let mutate = |base: &[u8], at: usize, value: u8| {
            let mut m = base.to_vec();
            m[at] = value;
            m
        };
        let candidates: Vec<Vec<u8>> = vec![
            mutate(AS_REQ, 3, 0xA0),                            // record mark shorter than the message
            mutate(AS_REQ, 3, 0xA2),                            // … longer
            mutate(AS_REQ, 0, 0x80),                            // reserved top bit of the record mark
            mutate(AS_REQ, 14, 0x04),                           // pvno 4
            mutate(AS_REQ, 19, 0x0B),                           // msg-type of an AS-REP under the AS-REQ tag
            mutate(AS_REQ, 5, 0x80),                            // indefinite length
            mutate(AS_REQ, 7, 0x31),                            // SET instead of SEQUENCE
            mutate(KRB_ERROR_PREAUTH_FAILED, 44, 0xA7),         // error-code renumbered [7]
            mutate(KRB_ERROR_PREAUTH_FAILED, 18, 0xA6),         // stime tagged as error-code
            mutate(KRB_ERROR_PREAUTH_FAILED, 46, 0x04),         // error-code an OCTET STRING
            KRB_ERROR_PREAUTH_FAILED[..ERROR_CODE_AT].to_vec(), // cut before the code's value
            KRB_ERROR_PREAUTH_FAILED[4..].to_vec(),             // no record mark
            AS_REQ[..3].to_vec(),
            Vec::new(),
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            vec![0xFF; 64],
        ];
        for m in &candidates {
            let mut f = tcp(88);
            from_client(&mut f, m);
            from_server(&mut f, m);
            assert_eq!(counts(&f), (0.0, 0.0), "{m:02x?}");
        }
        // A segment cut by the snap length still counts: the code comes early in the message.
        let mut f = tcp(88);
        f.update(88, CLIENT_PORT, &KRB_ERROR_PREAUTH_FAILED[..ERROR_CODE_AT + 1], 94);
        assert_eq!(counts(&f), (0.0, 1.0));
    }

    #[test]
    fn a_refused_ntlm_logon_over_smb2() {
        let mut f = tcp(445);
        assert_eq!(counts(&f), (0.0, 0.0));
        // NEGOTIATE → MORE_PROCESSING_REQUIRED, AUTHENTICATE → LOGON_FAILURE.
        from_client(&mut f, SESSION_SETUP_REQUEST);
        from_server(&mut f, &session_setup_error(STATUS_MORE_PROCESSING_REQUIRED));
        from_client(&mut f, SESSION_SETUP_REQUEST);
        from_server(&mut f, &session_setup_error(STATUS_LOGON_FAILURE));
        assert_eq!(counts(&f), (2.0, 1.0));
        from_client(&mut f, SESSION_SETUP_REQUEST);
        from_server(&mut f, &session_setup_success());
        assert_eq!(counts(&f), (3.0, 1.0));
    }

    #[test]
    fn every_logon_refusal_status_counts() {
        let refusals =
            [STATUS_LOGON_FAILURE, 0xC000_006E, 0xC000_0071, 0xC000_0072, 0xC000_0234].map(session_setup_error);
        let others = [0, STATUS_MORE_PROCESSING_REQUIRED, 0xC000_0022, 0xC000_006A].map(session_setup_error);
        let mut f = tcp(139);
        for m in refusals.iter().chain(&others) {
            from_server(&mut f, m);
        }
        assert_eq!(counts(&f), (0.0, 5.0));
    }

    #[test]
    fn other_smb_messages_are_ignored() {
        let mutate = |base: &[u8], at: usize, value: u8| {
            let mut m = base.to_vec();
            m[at] = value;
            m
        };
        let failure = session_setup_error(STATUS_LOGON_FAILURE);
        let candidates: Vec<Vec<u8>> = vec![
            mutate(SESSION_SETUP_REQUEST, 16, 0x03), // TREE_CONNECT
            mutate(SESSION_SETUP_REQUEST, 4, 0xFF),  // SMB1
            mutate(SESSION_SETUP_REQUEST, 4, 0xFD),  // encryption transform header
            mutate(SESSION_SETUP_REQUEST, 8, 0x41),  // StructureSize 65
            mutate(SESSION_SETUP_REQUEST, 68, 0x18), // body StructureSize 24
            mutate(SESSION_SETUP_REQUEST, 0, 0x85),  // NetBIOS keep-alive type
            mutate(SESSION_SETUP_REQUEST, 3, 0x41),  // session length shorter than the header
            mutate(SESSION_SETUP_REQUEST, 20, 0x01), // a response flag on the request
            mutate(&failure, 20, 0x00),              // the failure without SERVER_TO_REDIR
            mutate(&failure, 68, 0x19),              // response body StructureSize 25
            SESSION_SETUP_REQUEST[..69].to_vec(),    // cut inside the body's StructureSize
            SESSION_SETUP_REQUEST[4..].to_vec(),     // no session header
            b"\x00\x00\x00\x04\xffSMB".to_vec(),
        ];
        for m in &candidates {
            let mut f = tcp(445);
            from_client(&mut f, m);
            from_server(&mut f, m);
            assert_eq!(counts(&f), (0.0, 0.0), "{m:02x?}");
        }
    }

    fn check_invariants(f: &AuthFeatures, updates: u32) {
        let (attempts, failures) = counts(f);
        assert!(attempts + failures <= f64::from(updates));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400),
                                       server_port in prop::sample::select(vec![88u16, 445, 139]),
                                       datagram in any::<bool>(), declared in any::<u32>()) {
            let mut f = if datagram && server_port == 88 { udp() } else { tcp(server_port) };
            f.update(CLIENT_PORT, server_port, &bytes, declared);
            f.update(server_port, CLIENT_PORT, &bytes, bytes.len() as u32);
            check_invariants(&f, 2);
        }

        #[test]
        fn mutated_messages_never_panic(which in 0usize..4, index in any::<prop::sample::Index>(), value in any::<u8>(),
                                        cut in any::<prop::sample::Index>()) {
            let failure = session_setup_error(STATUS_LOGON_FAILURE);
            let (base, port): (&[u8], u16) = match which {
                0 => (AS_REQ, 88),
                1 => (KRB_ERROR_WITH_CTIME, 88),
                2 => (SESSION_SETUP_REQUEST, 445),
                _ => (&failure, 445),
            };
            let mut m = base.to_vec();
            m[index.index(base.len())] = value;
            m.truncate(cut.index(base.len() + 1));
            let mut f = tcp(port);
            from_client(&mut f, &m);
            from_server(&mut f, &m);
            check_invariants(&f, 2);
        }
    }
}
