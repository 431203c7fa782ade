//! SMB2/3 messages (MS-SMB2) of a Windows 10 client talking SMB 3.1.1 to a Windows server over TCP
//! 445, each behind its NetBIOS session header. Unsigned and unencrypted bodies; the headers carry
//! the signed flag and a signature field where Windows signs (session setup's final response, tree
//! connect), with random bytes in it.
//!
//! [`Smb2Client`] holds the state of one connection and builds each exchange as a request and its
//! response together, so that message ids follow the credit charge, the server grants what the
//! client asks, and session, tree and file ids are echoed: `client.tree_connect(rng, "IPC$", &mut req,
//! &mut resp)`. Bulk WRITE/READ data comes from [`opaque`] unless the caller passes bytes (DCE/RPC).
//!
//! Measured in `covenant_sharpsc_create_dcerpc_smb_svcctl_*.cap` and `covenant_copy_smb_*.cap`
//! (Windows 10 client → Windows 10 / Server 2019; TCP payload bytes, NetBIOS header included):
//! - SMB1 multi-protocol NEGOTIATE 73, its SMB2 answer (dialect 0x02ff) 530; SMB2 NEGOTIATE 236
//!   (five dialects 2.0.2–3.1.1, contexts preauth/encryption/compression/netname), response 614
//!   (3.1.1, 398-byte SPNEGO token, three contexts).
//! - SESSION_SETUP with a Kerberos AP-REQ: 1901 / 261 (blob 1809 / 185); flags 0x10, 33 credits
//!   asked and granted; to the DC with a forwarded TGT 3287.
//! - TREE_CONNECT `\\WORKSTATION6\IPC$` 114 / 84 (pipe, share flags 0x30), `\\WORKSTATION6\C$` 110.
//! - FSCTL_QUERY_NETWORK_INTERFACE_INFO after connecting IPC$: 124 / 420 (two interfaces).
//! - CREATE `svcctl` 136 / 156; CREATE of a new file with five create contexts 392 / 356; directory
//!   open with MxAc+QFid 196 / 244; QUERY_INFO standard 108 / 100; CLOSE 92 / 128.
//! - DCE/RPC over the pipe: WRITE (bind) 232 / 84, READ 1024 asked 117 / 176 (bind_ack), IOCTL
//!   FSCTL_PIPE_TRANSCEIVE 156–304 / 164–168 (max output 1024).
//! - File copy: WRITE of 11776 bytes in one message (11892), response 84; TREE_DISCONNECT and
//!   LOGOFF 72 / 72.
//!
//! With the same names the builders give every one of these sizes to the byte (`tests/
//! sim_protocols_b.rs` compares a PsExec conversation with the Covenant capture through tshark).
//! A WRITE above 128 KiB relies on direct hosting's 24-bit length (see [`netbios`]).
//!
//! NTLM session setup is not in those captures; its two round trips follow MS-SMB2/MS-NLMP (see
//! [`super::ntlmssp`]). Connection and session commands are here, file and pipe operations in
//! `files`.

use std::net::Ipv4Addr;

use super::kerberos::{self, Principal};
use super::netbios;
use super::ntlmssp::{self, ClientNames, ServerNames, filetime};
use super::opaque;
use super::spnego::{self, Mech, NegState};
use crate::simulate::rng::Rng;

mod files;
#[cfg(test)]
mod tests;

pub const NEGOTIATE: u16 = 0x00;
pub const SESSION_SETUP: u16 = 0x01;
pub const LOGOFF: u16 = 0x02;
pub const TREE_CONNECT: u16 = 0x03;
pub const TREE_DISCONNECT: u16 = 0x04;
pub const CREATE: u16 = 0x05;
pub const CLOSE: u16 = 0x06;
pub const READ: u16 = 0x08;
pub const WRITE: u16 = 0x09;
pub const IOCTL: u16 = 0x0b;
pub const QUERY_DIRECTORY: u16 = 0x0e;
pub const QUERY_INFO: u16 = 0x10;

pub const STATUS_SUCCESS: u32 = 0;
pub const STATUS_BUFFER_OVERFLOW: u32 = 0x8000_0005;
pub const STATUS_NO_MORE_FILES: u32 = 0x8000_0006;
pub const STATUS_MORE_PROCESSING_REQUIRED: u32 = 0xc000_0016;

pub const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_c017;
pub const FSCTL_QUERY_NETWORK_INTERFACE_INFO: u32 = 0x0014_01fc;

const HEADER_LEN: usize = 64;
const FLAG_RESPONSE: u32 = 0x01;
const FLAG_SIGNED: u32 = 0x08;
/// Priority 1 (bits 4–6), what Windows puts on session-level commands.
const PRIORITY_1: u32 = 0x10;
/// Priority 3, on commands inside a tree.
const PRIORITY_3: u32 = 0x30;
/// Credits a Windows client asks for in SESSION_SETUP.
const SESSION_SETUP_CREDITS: u16 = 33;
/// One credit pays for 64 KiB of READ/WRITE/IOCTL payload (MS-SMB2 §3.1.5.2).
const CREDIT_UNIT: usize = 65_536;
/// Windows' Max Read/Write/Transact size with large MTU.
const MAX_IO_SIZE: u32 = 8 << 20;

/// Dialects a Windows 10 client offers.
const CLIENT_DIALECTS: [u16; 5] = [0x0202, 0x0210, 0x0300, 0x0302, 0x0311];
const DIALECT_311: u16 = 0x0311;
const DIALECT_WILDCARD: u16 = 0x02ff;

/// A file handle as the server hands it out and the client echoes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    pub persistent: u64,
    pub volatile: u64,
}

impl FileId {
    /// The "no file" id of IOCTLs that address the server.
    pub const NONE: FileId = FileId { persistent: u64::MAX, volatile: u64::MAX };

    fn write(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.persistent.to_le_bytes());
        out.extend_from_slice(&self.volatile.to_le_bytes());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareType {
    Disk = 1,
    Pipe = 2,
}

/// A connected share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tree {
    pub id: u32,
    pub share_type: ShareType,
}

/// How the session authenticates.
#[derive(Debug, Clone, Copy)]
pub enum Auth<'a> {
    /// One round trip: a SPNEGO-wrapped AP-REQ for `cifs/<server>` in `realm`, answered by an AP-REP.
    Kerberos { realm: &'a str, delegation: Delegation },
    /// Two round trips: NTLMSSP NEGOTIATE → CHALLENGE, AUTHENTICATE → accept.
    Ntlm { client: ClientNames<'a>, server: ServerNames<'a> },
}

/// Whether a Kerberos client forwards its TGT to the server inside the AP-REQ's authenticator (GSS
/// delegation). Windows does so for a server trusted for unconstrained delegation, as every domain
/// controller is by default: its session setups are the larger ones in the captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delegation {
    None,
    ForwardedTgt,
}

/// Whether the session is established after a SESSION_SETUP exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupState {
    /// The server answered STATUS_MORE_PROCESSING_REQUIRED: call again.
    Continue,
    Done,
}

/// What a CREATE opens, and so its access, options and create contexts (as Windows 10 sends them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A named pipe on IPC$ (e.g. `svcctl`): no contexts.
    Pipe,
    /// An existing directory, to list it: MxAc and QFid contexts.
    Directory,
    /// An existing file of `size` bytes, to read it.
    ReadFile { size: u64 },
    /// A new file (fails if it exists), with durable handle, allocation size, lease contexts.
    CreateFile { alloc_size: u64 },
}

/// Data of a WRITE or READ: the caller's bytes, or `len` opaque bytes.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    Bytes(&'a [u8]),
    Opaque(usize),
}

impl Payload<'_> {
    pub fn len(&self) -> usize {
        match self {
            Payload::Bytes(b) => b.len(),
            Payload::Opaque(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn append(&self, out: &mut Vec<u8>, rng: &mut Rng) {
        match self {
            Payload::Bytes(b) => out.extend_from_slice(b),
            Payload::Opaque(n) => opaque::extend(out, rng, *n),
        }
    }
}

/// FILE_INFO classes QUERY_INFO can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InfoClass {
    /// FileStandardInformation (24 bytes), what Windows asks of a pipe it opened.
    Standard,
    /// FileNetworkOpenInformation (56 bytes), what Explorer asks of files it browses.
    NetworkOpen,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, Copy)]
pub struct DirEntry<'a> {
    pub name: &'a str,
    pub is_dir: bool,
    pub size: u64,
}

/// Client-side state of one SMB2 connection (see the module doc).
#[derive(Debug, Clone)]
pub struct Smb2Client {
    /// Server name as the client typed it, used in tree paths and the netname context.
    server: String,
    message_id: u64,
    /// Credits the client holds.
    credits: u32,
    session_id: u64,
    client_guid: [u8; 16],
    server_guid: [u8; 16],
    next_tree_id: u32,
    /// High half of file ids (the server's open table generation).
    file_epoch: u64,
    next_file: u64,
    /// Legs of the session setup done.
    setup_legs: u8,
}

/// A request sent and waiting for its response.
struct Pending {
    command: u16,
    message_id: u64,
    charge: u16,
    credits_asked: u16,
    tree_id: u32,
}

fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count() * 2
}

fn push_utf16(out: &mut Vec<u8>, s: &str) {
    for u in s.encode_utf16() {
        out.extend_from_slice(&u.to_le_bytes());
    }
}

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn u64le(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Pads with zeros until the message (starting at `hdr_at`) is a multiple of 8 long.
fn pad8(out: &mut Vec<u8>, hdr_at: usize) {
    while !(out.len() - hdr_at).is_multiple_of(8) {
        out.push(0);
    }
}

fn credit_charge(payload_len: usize) -> u16 {
    payload_len.div_ceil(CREDIT_UNIT).max(1) as u16
}

/// Appends a negotiate context (MS-SMB2 §2.2.3.1): type, data length, reserved, data.
fn negotiate_context(out: &mut Vec<u8>, kind: u16, data: impl FnOnce(&mut Vec<u8>)) {
    u16le(out, kind);
    let len_at = out.len();
    u16le(out, 0);
    u32le(out, 0);
    let start = out.len();
    data(out);
    let len = (out.len() - start) as u16;
    out[len_at..len_at + 2].copy_from_slice(&len.to_le_bytes());
}

/// Appends a NEGOTIATE response body up to its security buffer; returns the position of its
/// NegotiateContextOffset field (left 0 for the caller to patch, or to keep when there are none).
fn negotiate_response_body(
    out: &mut Vec<u8>,
    rng: &mut Rng,
    now_ns: u64,
    server_guid: &[u8; 16],
    dialect: u16,
    capabilities: u32,
    context_count: u16,
) -> usize {
    u16le(out, 65);
    u16le(out, 1);
    u16le(out, dialect);
    u16le(out, context_count);
    out.extend_from_slice(server_guid);
    u32le(out, capabilities);
    for _ in 0..3 {
        u32le(out, MAX_IO_SIZE);
    }
    u64le(out, filetime(now_ns));
    u64le(out, 0);
    u16le(out, (HEADER_LEN + 64) as u16);
    let blob_len_at = out.len();
    u16le(out, 0);
    let ctx_offset_at = out.len();
    u32le(out, 0);
    let start = out.len();
    spnego::server_init_token(out, rng);
    let blob_len = (out.len() - start) as u16;
    out[blob_len_at..blob_len_at + 2].copy_from_slice(&blob_len.to_le_bytes());
    ctx_offset_at
}

fn patch_u32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn ioctl_request_body(out: &mut Vec<u8>, ctl: u32, file: FileId, input: &[u8], max_output: u32) {
    u16le(out, 57);
    u16le(out, 0);
    u32le(out, ctl);
    file.write(out);
    let buffer_at = (HEADER_LEN + 56) as u32;
    u32le(out, buffer_at);
    u32le(out, input.len() as u32);
    u32le(out, 0);
    u32le(out, buffer_at);
    u32le(out, 0);
    u32le(out, max_output);
    u32le(out, 1);
    u32le(out, 0);
    out.extend_from_slice(input);
}

fn ioctl_response_body(out: &mut Vec<u8>, ctl: u32, file: FileId, output: &[u8]) {
    u16le(out, 49);
    u16le(out, 0);
    u32le(out, ctl);
    file.write(out);
    let buffer_at = (HEADER_LEN + 48) as u32;
    u32le(out, buffer_at);
    u32le(out, 0);
    u32le(out, buffer_at);
    u32le(out, output.len() as u32);
    u32le(out, 0);
    u32le(out, 0);
    out.extend_from_slice(output);
}

/// A NETWORK_INTERFACE_INFO entry (MS-SMB2 §2.2.32.5): 24 bytes, then a 128-byte socket address.
fn network_interface(out: &mut Vec<u8>, last: bool, if_index: u32, address: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    u32le(out, if last { 0 } else { 152 });
    u32le(out, if_index);
    u32le(out, 1);
    u32le(out, 0);
    u64le(out, 40_000_000_000);
    address(out);
    out.resize(at + 152, 0);
}

/// An error response body (MS-SMB2 §2.2.2) as Windows sends it: 8 bytes, no error data.
fn error_body(out: &mut Vec<u8>) {
    u16le(out, 9);
    u16le(out, 0);
    u32le(out, 0);
}

impl Smb2Client {
    /// A connection from a client to `server` (the name it uses in paths, e.g. "WORKSTATION6").
    pub fn new(rng: &mut Rng, server: &str) -> Self {
        let mut client_guid = [0; 16];
        let mut server_guid = [0; 16];
        client_guid.copy_from_slice(opaque::slice(rng, 16));
        server_guid.copy_from_slice(opaque::slice(rng, 16));
        Smb2Client {
            server: server.to_string(),
            message_id: 0,
            credits: 1,
            session_id: (rng.range(1, 0x40) << 40) | rng.range(0x10, 0x1000),
            client_guid,
            server_guid,
            next_tree_id: 1,
            file_epoch: rng.range(1, 16),
            next_file: rng.range(1, 0x40),
            setup_legs: 0,
        }
    }

    /// The message id of the next request.
    pub fn message_id(&self) -> u64 {
        self.message_id
    }

    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// Credits the client holds now.
    pub fn credits(&self) -> u32 {
        self.credits
    }

    #[allow(clippy::too_many_arguments)]
    fn header(
        out: &mut Vec<u8>,
        rng: &mut Rng,
        command: u16,
        status: u32,
        charge: u16,
        credits: u16,
        flags: u32,
        (message_id, tree_id, session_id): (u64, u32, u64),
    ) {
        out.extend_from_slice(b"\xfeSMB");
        u16le(out, HEADER_LEN as u16);
        u16le(out, charge);
        u32le(out, status);
        u16le(out, command);
        u16le(out, credits);
        u32le(out, flags);
        u32le(out, 0);
        u64le(out, message_id);
        u32le(out, 0xfeff);
        u32le(out, tree_id);
        u64le(out, session_id);
        if flags & FLAG_SIGNED != 0 {
            out.extend_from_slice(opaque::slice(rng, 16));
        } else {
            out.extend_from_slice(&[0; 16]);
        }
    }

    /// Appends a request; `body` gets `out`, the position of the SMB2 header (offsets count from it)
    /// and the generator. `charge` is the credit charge (0 only for NEGOTIATE).
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        out: &mut Vec<u8>,
        rng: &mut Rng,
        command: u16,
        charge: u16,
        credits_asked: u16,
        flags: u32,
        tree_id: u32,
        body: impl FnOnce(&mut Vec<u8>, usize, &mut Rng),
    ) -> Pending {
        let paid = u32::from(charge.max(1));
        assert!(
            self.credits >= paid,
            "an SMB2 request costing {paid} credits with {} available: the conversation ran out of credits",
            self.credits
        );
        self.credits -= paid;
        let message_id = self.message_id;
        self.message_id += u64::from(paid);
        let session_id = match command {
            NEGOTIATE => 0,
            SESSION_SETUP if self.setup_legs == 0 => 0,
            _ => self.session_id,
        };
        let nb = netbios::begin(out);
        let hdr_at = out.len();
        Self::header(out, rng, command, 0, charge, credits_asked, flags, (message_id, tree_id, session_id));
        body(out, hdr_at, rng);
        netbios::finish(out, nb);
        Pending { command, message_id, charge, credits_asked, tree_id }
    }

    /// Appends the response to `p`, granting the credits it asked for (at least one).
    fn response(
        &mut self,
        out: &mut Vec<u8>,
        rng: &mut Rng,
        p: &Pending,
        status: u32,
        flags: u32,
        body: impl FnOnce(&mut Vec<u8>, usize, &mut Rng),
    ) {
        let granted = p.credits_asked.max(1);
        self.credits += u32::from(granted);
        let session_id = if p.command == NEGOTIATE { 0 } else { self.session_id };
        let nb = netbios::begin(out);
        let hdr_at = out.len();
        Self::header(
            out,
            rng,
            p.command,
            status,
            p.charge,
            granted,
            flags | FLAG_RESPONSE,
            (p.message_id, p.tree_id, session_id),
        );
        body(out, hdr_at, rng);
        netbios::finish(out, nb);
    }

    /// The SMB1 NEGOTIATE a Windows client opens with (dialects "NT LM 0.12", "SMB 2.002",
    /// "SMB 2.???") and the server's SMB2 NEGOTIATE response choosing the wildcard dialect 0x02ff,
    /// to message id 0. Call before [`Smb2Client::negotiate`], or not at all.
    pub fn multi_protocol_negotiate(&mut self, rng: &mut Rng, now_ns: u64, req: &mut Vec<u8>, resp: &mut Vec<u8>) {
        const DIALECTS: [&[u8]; 3] = [b"NT LM 0.12", b"SMB 2.002", b"SMB 2.???"];
        let nb = netbios::begin(req);
        req.extend_from_slice(b"\xffSMB\x72");
        u32le(req, 0);
        req.push(0x18);
        u16le(req, 0xc853);
        // PID high, signature, reserved; then TID 0xffff, PID 0xfeff, UID 0, MID 0; no words.
        req.extend_from_slice(&[0; 12]);
        u16le(req, 0xffff);
        u16le(req, 0xfeff);
        req.extend_from_slice(&[0; 5]);
        u16le(req, DIALECTS.iter().map(|d| d.len() as u16 + 2).sum());
        for d in DIALECTS {
            req.push(0x02);
            req.extend_from_slice(d);
            req.push(0);
        }
        netbios::finish(req, nb);
        self.message_id = 1;
        self.credits = 0;
        let p = Pending { command: NEGOTIATE, message_id: 0, charge: 0, credits_asked: 0, tree_id: 0 };
        let server_guid = self.server_guid;
        self.response(resp, rng, &p, STATUS_SUCCESS, 0, |out, _, rng| {
            negotiate_response_body(out, rng, now_ns, &server_guid, DIALECT_WILDCARD, 0x07, 0);
        });
    }

    /// SMB2 NEGOTIATE offering 2.0.2–3.1.1 with Windows' four negotiate contexts, and the server's
    /// 3.1.1 answer with its SPNEGO token and three contexts.
    pub fn negotiate(&mut self, rng: &mut Rng, now_ns: u64, req: &mut Vec<u8>, resp: &mut Vec<u8>) {
        let client_guid = self.client_guid;
        let server = self.server.clone();
        let p = self.request(req, rng, NEGOTIATE, 0, 0, 0, 0, |out, hdr_at, rng| {
            u16le(out, 36);
            u16le(out, CLIENT_DIALECTS.len() as u16);
            u16le(out, 1);
            u16le(out, 0);
            u32le(out, 0x7f);
            out.extend_from_slice(&client_guid);
            let ctx_offset_at = out.len();
            u32le(out, 0);
            u16le(out, 4);
            u16le(out, 0);
            for d in CLIENT_DIALECTS {
                u16le(out, d);
            }
            pad8(out, hdr_at);
            let ctx_offset = (out.len() - hdr_at) as u32;
            patch_u32(out, ctx_offset_at, ctx_offset);
            // Preauth integrity: SHA-512 and a 32-byte salt.
            negotiate_context(out, 1, |out| {
                u16le(out, 1);
                u16le(out, 32);
                u16le(out, 1);
                out.extend_from_slice(opaque::slice(rng, 32));
            });
            pad8(out, hdr_at);
            // Encryption: AES-128-GCM, AES-128-CCM.
            negotiate_context(out, 2, |out| {
                for v in [2, 2, 1] {
                    u16le(out, v);
                }
            });
            pad8(out, hdr_at);
            // Compression: LZ77, LZ77+Huffman, LZNT1.
            negotiate_context(out, 3, |out| {
                u16le(out, 3);
                u16le(out, 0);
                u32le(out, 0);
                for alg in [2, 3, 1] {
                    u16le(out, alg);
                }
            });
            pad8(out, hdr_at);
            negotiate_context(out, 5, |out| push_utf16(out, &server));
        });
        let server_guid = self.server_guid;
        self.response(resp, rng, &p, STATUS_SUCCESS, 0, |out, hdr_at, rng| {
            let ctx_offset_at = negotiate_response_body(out, rng, now_ns, &server_guid, DIALECT_311, 0x2f, 3);
            pad8(out, hdr_at);
            let ctx_offset = (out.len() - hdr_at) as u32;
            patch_u32(out, ctx_offset_at, ctx_offset);
            negotiate_context(out, 1, |out| {
                u16le(out, 1);
                u16le(out, 32);
                u16le(out, 1);
                out.extend_from_slice(opaque::slice(rng, 32));
            });
            pad8(out, hdr_at);
            negotiate_context(out, 2, |out| {
                u16le(out, 1);
                u16le(out, 2);
            });
            pad8(out, hdr_at);
            negotiate_context(out, 3, |out| {
                u16le(out, 1);
                u16le(out, 0);
                u32le(out, 0);
                u16le(out, 2);
            });
        });
    }

    /// One SESSION_SETUP round trip. Kerberos is done in one; NTLM answers [`SetupState::Continue`]
    /// (STATUS_MORE_PROCESSING_REQUIRED, with the session id) to its first leg.
    pub fn session_setup(
        &mut self,
        rng: &mut Rng,
        now_ns: u64,
        auth: &Auth,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) -> SetupState {
        let mut blob = Vec::with_capacity(2048);
        let mut answer = Vec::with_capacity(512);
        let mut token = Vec::with_capacity(2048);
        let mut gss = Vec::with_capacity(2048);
        let spn_host = self.server.clone();
        let state = match *auth {
            Auth::Kerberos { realm, delegation } => {
                let parts = ["cifs", spn_host.as_str()];
                let service = Principal::service(&parts);
                let (ticket, authenticator) = match delegation {
                    Delegation::None => (kerberos::SERVICE_TICKET_CIPHER_LEN, kerberos::AP_AUTHENTICATOR_LEN),
                    Delegation::ForwardedTgt => {
                        (kerberos::DC_SERVICE_TICKET_CIPHER_LEN, kerberos::FORWARDED_TGT_AUTHENTICATOR_LEN)
                    }
                };
                kerberos::ap_req(&mut token, rng, realm, &service, ticket, authenticator);
                kerberos::gss_token(&mut gss, kerberos::TOK_AP_REQ, &token);
                spnego::neg_token_init(&mut blob, spnego::CLIENT_KERBEROS_MECHS, Some(&gss));
                token.clear();
                gss.clear();
                kerberos::ap_rep(&mut token, rng, kerberos::AP_REP_ENC_PART_LEN);
                kerberos::gss_token(&mut gss, kerberos::TOK_AP_REP, &token);
                spnego::neg_token_resp(
                    &mut answer,
                    Some(NegState::AcceptCompleted),
                    Some(Mech::MsKrb5),
                    Some(&gss),
                    None,
                );
                SetupState::Done
            }
            Auth::Ntlm { server, .. } if self.setup_legs == 0 => {
                ntlmssp::negotiate(&mut token);
                spnego::neg_token_init(&mut blob, spnego::CLIENT_NTLM_MECHS, Some(&token));
                token.clear();
                ntlmssp::challenge(&mut token, rng, now_ns, &server);
                spnego::neg_token_resp(
                    &mut answer,
                    Some(NegState::AcceptIncomplete),
                    Some(Mech::Ntlmssp),
                    Some(&token),
                    None,
                );
                SetupState::Continue
            }
            Auth::Ntlm { client, server } => {
                ntlmssp::authenticate(&mut token, rng, now_ns, &server, &client, &format!("cifs/{spn_host}"));
                ntlmssp::signature(&mut gss, rng, 0);
                spnego::neg_token_resp(&mut blob, None, None, Some(&token), Some(&gss));
                gss.clear();
                ntlmssp::signature(&mut gss, rng, 0);
                spnego::neg_token_resp(&mut answer, Some(NegState::AcceptCompleted), None, None, Some(&gss));
                SetupState::Done
            }
        };
        let p = self.request(req, rng, SESSION_SETUP, 1, SESSION_SETUP_CREDITS, PRIORITY_1, 0, |out, _, _| {
            u16le(out, 25);
            out.push(0);
            out.push(1);
            u32le(out, 1);
            u32le(out, 0);
            u16le(out, (HEADER_LEN + 24) as u16);
            u16le(out, blob.len() as u16);
            u64le(out, 0);
            out.extend_from_slice(&blob);
        });
        self.setup_legs += 1;
        let (status, flags) = match state {
            SetupState::Continue => (STATUS_MORE_PROCESSING_REQUIRED, PRIORITY_1),
            SetupState::Done => (STATUS_SUCCESS, PRIORITY_1 | FLAG_SIGNED),
        };
        self.response(resp, rng, &p, status, flags, |out, _, _| {
            u16le(out, 9);
            u16le(out, 0);
            u16le(out, (HEADER_LEN + 8) as u16);
            u16le(out, answer.len() as u16);
            out.extend_from_slice(&answer);
        });
        state
    }

    /// TREE_CONNECT to `\\<server>\<share>`; IPC$ is a pipe share, anything else a disk.
    pub fn tree_connect(&mut self, rng: &mut Rng, share: &str, req: &mut Vec<u8>, resp: &mut Vec<u8>) -> Tree {
        let path = format!("\\\\{}\\{share}", self.server);
        let share_type = if share.eq_ignore_ascii_case("IPC$") { ShareType::Pipe } else { ShareType::Disk };
        let tree = Tree { id: self.next_tree_id, share_type };
        self.next_tree_id += rng.range(1, 5) as u32;
        let mut p = self.request(req, rng, TREE_CONNECT, 1, 1, PRIORITY_1 | FLAG_SIGNED, 0, |out, _, _| {
            u16le(out, 9);
            u16le(out, 0);
            u16le(out, (HEADER_LEN + 8) as u16);
            u16le(out, utf16_len(&path) as u16);
            push_utf16(out, &path);
        });
        p.tree_id = tree.id;
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_1 | FLAG_SIGNED, |out, _, _| {
            u16le(out, 16);
            out.push(share_type as u8);
            out.push(0);
            // Pipes: no client caching (0x30); disks: manual caching.
            u32le(out, if share_type == ShareType::Pipe { 0x30 } else { 0 });
            u32le(out, 0);
            u32le(out, if share_type == ShareType::Pipe { 0x011f_01ff } else { 0x001f_01ff });
        });
        tree
    }

    /// FSCTL_QUERY_NETWORK_INTERFACE_INFO, which Windows sends right after connecting IPC$; the
    /// server lists a link-local IPv6 and its IPv4 `server_ip`.
    pub fn query_network_interfaces(
        &mut self,
        rng: &mut Rng,
        tree: Tree,
        server_ip: Ipv4Addr,
        req: &mut Vec<u8>,
        resp: &mut Vec<u8>,
    ) {
        let ctl = FSCTL_QUERY_NETWORK_INTERFACE_INFO;
        let p = self.request(req, rng, IOCTL, 1, 1, PRIORITY_1 | FLAG_SIGNED, tree.id, |out, _, _| {
            ioctl_request_body(out, ctl, FileId::NONE, &[], CREDIT_UNIT as u32)
        });
        let if_index = rng.range(2, 20) as u32;
        let mut list = Vec::with_capacity(304);
        network_interface(&mut list, false, if_index, |out| {
            u16le(out, 23);
            u16le(out, 0);
            u32le(out, 0);
            out.extend_from_slice(&[0xfe, 0x80, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(opaque::slice(rng, 8));
        });
        network_interface(&mut list, true, if_index, |out| {
            u16le(out, 2);
            u16le(out, 0);
            out.extend_from_slice(&server_ip.octets());
        });
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_1 | FLAG_SIGNED, |out, _, _| {
            ioctl_response_body(out, ctl, FileId::NONE, &list)
        });
    }

    /// TREE_DISCONNECT of `tree`.
    pub fn tree_disconnect(&mut self, rng: &mut Rng, tree: Tree, req: &mut Vec<u8>, resp: &mut Vec<u8>) {
        let p = self.request(req, rng, TREE_DISCONNECT, 1, 1, PRIORITY_1, tree.id, |out, _, _| u32le(out, 4));
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_1, |out, _, _| u32le(out, 4));
    }

    /// LOGOFF of the session.
    pub fn logoff(&mut self, rng: &mut Rng, req: &mut Vec<u8>, resp: &mut Vec<u8>) {
        let p = self.request(req, rng, LOGOFF, 1, 1, PRIORITY_1, 0, |out, _, _| u32le(out, 4));
        self.response(resp, rng, &p, STATUS_SUCCESS, PRIORITY_1, |out, _, _| u32le(out, 4));
    }
}
