//! SMB2 framing, shared by the families that read SMB messages ([`super::auth`] for logons,
//! [`super::rpc`] for shares and named pipes).
//!
//! Only the first message of a TCP payload is read, without reassembly: the 4-byte session header
//! of Direct TCP (MS-SMB2 §2.1: a zero byte and a 24-bit length; over NetBIOS on 139 the same bytes
//! are a session message, RFC 1002 §4.3.1), then the SMB2 header (§2.2.1.1 async or §2.2.1.2 sync:
//! `0xFE 'SMB'`, StructureSize 64; Status, Command and the SERVER_TO_REDIR flag sit at the same offsets
//! in both). Only the first header of a compound chain is read. SMB1 (`0xFF 'SMB'`) and encrypted
//! (`0xFD 'SMB'`) messages are not SMB2 messages here.

pub(super) const SMB_DIRECT_PORT: u16 = 445;
pub(super) const NETBIOS_SESSION_PORT: u16 = 139;

const SESSION_HEADER_LEN: usize = 4;
pub(super) const HEADER_LEN: usize = 64;
const PROTOCOL_ID: [u8; 4] = [0xFE, b'S', b'M', b'B'];
const FLAGS_SERVER_TO_REDIR: u32 = 0x0000_0001;

/// The first SMB2 message of a TCP payload, its header captured whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Message<'a> {
    /// The message length the session header declares.
    pub length: u32,
    pub command: u16,
    pub status: u32,
    /// SERVER_TO_REDIR: a response.
    pub from_server: bool,
    /// The captured bytes from the SMB2 header's first byte on; the body's offsets count from here.
    pub bytes: &'a [u8],
}

impl<'a> Message<'a> {
    /// Reads the message at the start of `payload`, if it is SMB2.
    pub fn read(payload: &'a [u8]) -> Option<Message<'a>> {
        let (session, bytes) = payload.split_first_chunk::<SESSION_HEADER_LEN>()?;
        // Type 0: a session message (NetBIOS) or the Direct TCP header's zero byte.
        if session[0] != 0 {
            return None;
        }
        let header = bytes.first_chunk::<HEADER_LEN>()?;
        if header[..4] != PROTOCOL_ID || le16(header, 4)? != HEADER_LEN as u16 {
            return None;
        }
        Some(Message {
            length: u32::from_be_bytes([0, session[1], session[2], session[3]]),
            command: le16(header, 12)?,
            status: le32(header, 8)?,
            from_server: le32(header, 16)? & FLAGS_SERVER_TO_REDIR != 0,
            bytes,
        })
    }

    /// The body's StructureSize, if captured.
    pub fn body_size(&self) -> Option<u16> {
        le16(self.bytes, HEADER_LEN)
    }
}

/// The little-endian `u16` at `at`, if captured.
pub(super) fn le16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(*bytes.get(at..at.checked_add(2)?)?.first_chunk::<2>()?))
}

/// The little-endian `u32` at `at`, if captured.
pub(super) fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(*bytes.get(at..at.checked_add(4)?)?.first_chunk::<4>()?))
}
