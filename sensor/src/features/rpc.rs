//! Remote-procedure feature family: which Windows RPC interfaces a client asks a host for, and whether
//! it connects to an administrative share. Running code on another Windows host goes through a few
//! interfaces (service control, the task scheduler, WMI, DCOM activation) or a file copy to `ADMIN$` /
//! `C$`, and the names of those interfaces travel in clear even when the calls are sealed: a DCE/RPC
//! bind names its interface by UUID before any security context exists. These features need no history,
//! so they work from the first minute of a capture.
//!
//! TCP flows whose responder port is the endpoint mapper (135), SMB (445, 139 over NetBIOS) or a dynamic
//! RPC endpoint (49152–65535) carry this family; for every other flow the features are NaN (missing),
//! for these they are counts from 0, counted from the client's packets (towards the responder port).
//!
//! - `rpc_binds`: DCE/RPC bind and alter-context PDUs (C706 §12.6.4.3, ptype 11 and 14).
//! - `rpc_exec_interfaces`: binds and alter-contexts whose first presentation context names a
//!   remote-execution interface ([`EXEC_INTERFACES`]), plus endpoint-mapper `ept_map` requests (opnum 3)
//!   that ask where one listens: the first step of the same techniques over TCP.
//! - `rpc_exec_calls`: requests (first fragments) of an operation that runs something, on a
//!   presentation context bound to its interface: creating, reconfiguring or starting a service
//!   (svcctl), registering or running a scheduled task (ITaskSchedulerService), adding an AT job
//!   (ATSVC), executing a WMI method (IWbemServices::ExecMethod). The opnum and context id of a request
//!   are in clear even when its stub is sealed, so this tells a management server's WMI inventory
//!   (ExecQuery) from remote execution over the very same binds. The flow remembers the contexts
//!   bound to these interfaces, at most [`MAX_CONTEXTS`] (newest kept).
//! - `smb_admin_share_connects`: SMB2 TREE_CONNECT requests (MS-SMB2 §2.2.9) to `ADMIN$` or a drive
//!   share (`C$`, one letter and `$`).
//!
//! Framing. Only the PDU at the start of a payload is read, without reassembly, like [`super::auth`]:
//! - Direct (135, dynamic): the payload starts with a connection-oriented PDU header: version 5.0,
//!   ptype, flags, a data representation whose integer format is little-endian (the only one Windows
//!   sends; a big-endian PDU is not read), a fragment length of at least the header.
//! - SMB2 (445, 139): the first message of the payload as [`super::smb2`] frames it; a TREE_CONNECT request is read for its path, a WRITE request (§2.2.21, to a
//!   named pipe) and an IOCTL request FSCTL_PIPE_TRANSCEIVE (§2.2.31) for a DCE/RPC PDU at their data
//!   offset. Encrypted SMB3 (`0xFD 'SMB'`) hides all three.
//!
//! Work per packet is bounded (a header check, at most a 200-byte scan of an `ept_map` stub, no
//! allocation), every access is checked, and the state is 12 bytes (it sits in every flow table slot beside the
//! authentication family's). Counts saturate at 255.

use super::smb2::{self, NETBIOS_SESSION_PORT, SMB_DIRECT_PORT, le16, le32};
use crate::decode::Transport;

/// DCE/RPC interface UUIDs in wire order (the first three fields little-endian, as NDR sends them).
type Uuid = [u8; 16];

/// `aabbccdd-eeff-gghh-iijj-kkllmmnnoopp` in wire order.
const fn uuid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> Uuid {
    let (a, b, c) = (d1.to_le_bytes(), d2.to_le_bytes(), d3.to_le_bytes());
    [a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5], d4[6], d4[7]]
}

/// Interfaces whose use runs code or changes what runs on the server: service control (MS-SCMR
/// svcctl, PsExec and its kin), the task scheduler (MS-TSCH ITaskSchedulerService and the older
/// ATSVC), WMI (IWbemLevel1Login, IWbemServices) and DCOM remote activation (IRemoteSCMActivator /
/// ISystemActivator, through which WMI and the MMC20 and ShellWindows techniques start).
pub const EXEC_INTERFACES: [Uuid; 6] = [
    // svcctl, ITaskSchedulerService, ATSVC, IWbemLevel1Login, IWbemServices, ISystemActivator
    uuid(0x367a_bb81, 0x9844, 0x35f1, [0xad, 0x32, 0x98, 0xf0, 0x38, 0x00, 0x10, 0x03]),
    uuid(0x86d3_5949, 0x83c9, 0x4044, [0xb4, 0x24, 0xdb, 0x36, 0x32, 0x31, 0xfd, 0x0c]),
    uuid(0x1ff7_0682, 0x0a51, 0x30e8, [0x07, 0x6d, 0x74, 0x0b, 0xe8, 0xce, 0xe9, 0x8b]),
    uuid(0xf309_ad18, 0xd86a, 0x11d0, [0xa0, 0x75, 0x00, 0xc0, 0x4f, 0xb6, 0x88, 0x20]),
    uuid(0x9556_dc99, 0x828c, 0x11cf, [0xa3, 0x7e, 0x00, 0xaa, 0x00, 0x32, 0x40, 0xc7]),
    uuid(0x0000_01a0, 0x0000, 0x0000, [0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x46]),
];

/// Per entry of [`EXEC_INTERFACES`], the operations that run something (opnums).
const EXEC_OPERATIONS: [&[u16]; 6] = [
    // RChangeServiceConfigW, RCreateServiceW, RStartServiceW, RChangeServiceConfigA, RCreateServiceA,
    // RStartServiceA, RCreateServiceWOW64A and W, RCreateWowService (MS-SCMR 3.1.4).
    &[11, 12, 19, 23, 24, 31, 44, 45, 60],
    // SchRpcRegisterTask, SchRpcRun (MS-TSCH 3.2.5.4).
    &[1, 12],
    // NetrJobAdd (MS-TSCH 3.2.5.2).
    &[0],
    // IWbemLevel1Login: logon only.
    &[],
    // IWbemServices::ExecMethod, ExecMethodAsync (MS-WMI 3.1.4.3).
    &[24, 25],
    // Activation only.
    &[],
];

/// Presentation contexts bound to an execution interface that a flow remembers (WMI binds two on
/// one association: IWbemLevel1Login, then IWbemServices).
pub const MAX_CONTEXTS: usize = 2;

const EPM_PORT: u16 = 135;
const DYNAMIC_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

const PDU_HEADER_LEN: usize = 16;
const PTYPE_REQUEST: u8 = 0;
const PTYPE_BIND: u8 = 11;
const PTYPE_ALTER_CONTEXT: u8 = 14;
const PFC_FIRST_FRAG: u8 = 0x01;
/// `ept_map` (C706 appendix O).
const EPT_MAP: u16 = 3;
/// Where a bind's context list starts (n_context_elem): header, max_xmit_frag, max_recv_frag,
/// assoc_group_id.
const BIND_CONTEXTS: usize = PDU_HEADER_LEN + 8;
/// A context element before its transfer syntaxes: p_cont_id, n_transfer_syn and padding, the abstract
/// syntax (UUID and version).
const CONTEXT_ELEMENT: usize = 4 + 20;
const TRANSFER_SYNTAX: usize = 20;
/// A request's context id and opnum: after the header and alloc_hint.
const REQUEST_CONTEXT: usize = PDU_HEADER_LEN + 4;
const REQUEST_OPNUM: usize = PDU_HEADER_LEN + 6;
/// A request stub starts after the header, alloc_hint, p_cont_id and opnum (no object UUID: flag 0x80).
const REQUEST_STUB: usize = PDU_HEADER_LEN + 8;
const PFC_OBJECT_UUID: u8 = 0x80;
/// A tower floor naming an interface: its left-hand side is 19 bytes, protocol 0x0d then the UUID.
const UUID_FLOOR: [u8; 3] = [19, 0, 0x0d];
/// How far into an `ept_map` stub the tower's first floor is looked for (NDR32 and NDR64 put it
/// within the first 60 bytes).
const EPT_MAP_SCAN: usize = 200;

const SMB2_TREE_CONNECT: u16 = 0x0003;
const SMB2_WRITE: u16 = 0x0009;
const SMB2_IOCTL: u16 = 0x000B;
const IOCTL_REQUEST_SIZE: u16 = 57;
const FSCTL_PIPE_TRANSCEIVE: u32 = 0x0011_C017;
const TREE_CONNECT_REQUEST_SIZE: u16 = 9;
const WRITE_REQUEST_SIZE: u16 = 49;

/// How a flow's client messages are framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// DCE/RPC over TCP.
    Direct,
    /// SMB2 over TCP (direct or NetBIOS session).
    Smb2,
}

/// Per-flow RPC state.
#[derive(Debug, Clone, Copy)]
pub struct RpcFeatures {
    binds: u8,
    exec_interfaces: u8,
    exec_calls: u8,
    admin_shares: u8,
    server_port: u16,
    framing: Framing,
    /// Contexts bound to an execution interface: their ids and their interfaces' places in
    /// [`EXEC_INTERFACES`] (`NO_CONTEXT` when the slot is empty); `next` is the slot the next one takes
    /// (round robin). Two arrays rather than pairs: the state is in every flow table slot.
    context_ids: [u8; MAX_CONTEXTS],
    context_kinds: [u8; MAX_CONTEXTS],
    next: u8,
}

const NO_CONTEXT: u8 = u8::MAX;

impl RpcFeatures {
    pub const NAMES: &'static [&'static str] =
        &["rpc_binds", "rpc_exec_interfaces", "rpc_exec_calls", "smb_admin_share_connects"];

    /// State for a TCP flow whose first packet has `transport`, if the flow carries this family: SMB or
    /// the endpoint mapper on either port (a capture may start with the server's packet), a dynamic
    /// port only as the first packet's destination (clients' own ports are dynamic too).
    #[inline(never)]
    pub fn for_flow(transport: &Transport) -> Option<RpcFeatures> {
        let Transport::Tcp { src_port, dst_port, .. } = *transport else { return None };
        let new = |framing, server_port| RpcFeatures {
            binds: 0,
            exec_interfaces: 0,
            exec_calls: 0,
            admin_shares: 0,
            server_port,
            framing,
            context_ids: [0; MAX_CONTEXTS],
            context_kinds: [NO_CONTEXT; MAX_CONTEXTS],
            next: 0,
        };
        if let Some(p) = [SMB_DIRECT_PORT, NETBIOS_SESSION_PORT].into_iter().find(|&p| p == dst_port || p == src_port) {
            return Some(new(Framing::Smb2, p));
        }
        if dst_port == EPM_PORT || src_port == EPM_PORT {
            return Some(new(Framing::Direct, EPM_PORT));
        }
        DYNAMIC_PORTS.contains(&dst_port).then(|| new(Framing::Direct, dst_port))
    }

    /// Accounts one TCP payload of the flow (its captured part); only the client's count.
    #[inline(never)]
    pub fn update(&mut self, dst_port: u16, payload: &[u8]) {
        if dst_port != self.server_port || payload.is_empty() {
            return;
        }
        match self.framing {
            Framing::Direct => self.pdu(payload, self.server_port == EPM_PORT),
            Framing::Smb2 => match smb2_request(payload) {
                Some(Smb2Request::TreeConnect { path }) => {
                    self.admin_shares = self.admin_shares.saturating_add(u8::from(is_admin_share(path)));
                }
                Some(Smb2Request::Write { data }) => self.pdu(data, false),
                Some(Smb2Request::Transceive { input }) => self.pdu(input, false),
                None => {}
            },
        }
    }

    /// Counts the DCE/RPC PDU at the start of `bytes`; `mapper` reads `ept_map` requests too.
    fn pdu(&mut self, bytes: &[u8], mapper: bool) {
        let Some(&[vers, minor, ptype, flags, drep, ..]) = bytes.first_chunk::<PDU_HEADER_LEN>() else { return };
        let frag_len = usize::from(le16(bytes, 8).unwrap_or(0));
        // Version 5.0, little-endian integers (drep's high nibble 1), a length that holds the header.
        if (vers, minor) != (5, 0) || drep & 0xF0 != 0x10 || frag_len < PDU_HEADER_LEN {
            return;
        }
        let interface = match ptype {
            PTYPE_BIND | PTYPE_ALTER_CONTEXT => {
                self.binds = self.binds.saturating_add(1);
                self.bind(bytes)
            }
            PTYPE_REQUEST if flags & PFC_FIRST_FRAG != 0 && self.is_exec_call(bytes) => {
                self.exec_calls = self.exec_calls.saturating_add(1);
                None
            }
            PTYPE_REQUEST if mapper && flags & PFC_OBJECT_UUID == 0 && le16(bytes, REQUEST_OPNUM) == Some(EPT_MAP) => {
                let stub = &bytes[REQUEST_STUB.min(bytes.len())..];
                let scan = &stub[..stub.len().min(EPT_MAP_SCAN)];
                scan.windows(UUID_FLOOR.len())
                    .position(|w| w == UUID_FLOOR)
                    .and_then(|at| scan.get(at + UUID_FLOOR.len()..at + UUID_FLOOR.len() + 16))
            }
            _ => None,
        };
        if interface.is_some_and(|i| EXEC_INTERFACES.iter().any(|e| e[..] == *i)) {
            self.exec_interfaces = self.exec_interfaces.saturating_add(1);
        }
    }

    /// Remembers the contexts a bind or alter-context offers for execution interfaces (every element
    /// captured, at most [`MAX_CONTEXTS`] read); returns the first element's interface.
    fn bind<'a>(&mut self, bytes: &'a [u8]) -> Option<&'a [u8]> {
        let count = usize::from(*bytes.get(BIND_CONTEXTS)?);
        let mut at = BIND_CONTEXTS + 4;
        let first = bytes.get(at + 4..at + 20);
        for _ in 0..count.min(MAX_CONTEXTS) {
            let (Some(id), Some(&transfers), Some(uuid)) =
                (le16(bytes, at), bytes.get(at + 2), bytes.get(at + 4..at + 20))
            else {
                break;
            };
            // Context ids count from 0 per association; one above 255 is not remembered.
            if let (Some(kind), Ok(id)) = (EXEC_INTERFACES.iter().position(|e| e[..] == *uuid), u8::try_from(id)) {
                let slot = usize::from(self.next);
                (self.context_ids[slot], self.context_kinds[slot]) = (id, kind as u8);
                self.next = (self.next + 1) % MAX_CONTEXTS as u8;
            }
            at += CONTEXT_ELEMENT + TRANSFER_SYNTAX * usize::from(transfers);
        }
        first
    }

    /// Whether a request calls an operation that runs something, on a context bound to its interface.
    fn is_exec_call(&self, bytes: &[u8]) -> bool {
        let (Some(id), Some(opnum)) = (le16(bytes, REQUEST_CONTEXT), le16(bytes, REQUEST_OPNUM)) else { return false };
        self.context_ids.iter().zip(self.context_kinds).any(|(&bound, kind)| {
            u16::from(bound) == id && EXEC_OPERATIONS.get(usize::from(kind)).is_some_and(|ops| ops.contains(&opnum))
        })
    }

    /// Writes the features in [`Self::NAMES`] order; `out.len()` must equal `NAMES.len()`.
    pub fn write(&self, out: &mut [f64]) {
        debug_assert_eq!(out.len(), Self::NAMES.len());
        for (slot, value) in out.iter_mut().zip([self.binds, self.exec_interfaces, self.exec_calls, self.admin_shares])
        {
            *slot = f64::from(value);
        }
    }
}

/// The SMB2 requests this family reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Smb2Request<'a> {
    /// The share path, UTF-16LE, as captured.
    TreeConnect { path: &'a [u8] },
    /// The written data, as captured.
    Write { data: &'a [u8] },
    /// The input of a named pipe's transceive, as captured.
    Transceive { input: &'a [u8] },
}

/// Reads the first SMB2 request of a TCP payload, if it is a TREE_CONNECT, a WRITE or a pipe
/// transceive.
fn smb2_request(payload: &[u8]) -> Option<Smb2Request<'_>> {
    let m = smb2::Message::read(payload)?;
    if m.from_server {
        return None;
    }
    let smb = m.bytes;
    let body = smb2::HEADER_LEN;
    // Offsets in the body count from the start of the SMB2 header (MS-SMB2 §2.2.9, §2.2.21).
    let slice = |offset: u16, len: usize| {
        let start = usize::from(offset);
        (start >= body).then(|| &smb[start.min(smb.len())..start.saturating_add(len).min(smb.len())])
    };
    match m.command {
        SMB2_TREE_CONNECT if m.body_size()? == TREE_CONNECT_REQUEST_SIZE => {
            let path = slice(le16(smb, body + 4)?, usize::from(le16(smb, body + 6)?))?;
            Some(Smb2Request::TreeConnect { path })
        }
        SMB2_WRITE if m.body_size()? == WRITE_REQUEST_SIZE => {
            let data = slice(le16(smb, body + 2)?, usize::try_from(le32(smb, body + 4)?).ok()?)?;
            Some(Smb2Request::Write { data })
        }
        SMB2_IOCTL if m.body_size()? == IOCTL_REQUEST_SIZE && le32(smb, body + 4)? == FSCTL_PIPE_TRANSCEIVE => {
            let offset = u16::try_from(le32(smb, body + 24)?).ok()?;
            let input = slice(offset, usize::try_from(le32(smb, body + 28)?).ok()?)?;
            Some(Smb2Request::Transceive { input })
        }
        _ => None,
    }
}

/// Whether a TREE_CONNECT path (`\\server\share`, UTF-16LE) names `ADMIN$` or a drive share `X$`.
fn is_admin_share(path: &[u8]) -> bool {
    // The share is after the last backslash; ASCII letters are enough to name these shares.
    let mut share = [0u8; 6];
    let mut len = 0usize;
    for unit in path.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])) {
        if unit == u16::from(b'\\') {
            len = 0;
        } else if len < share.len() {
            share[len] = u8::try_from(unit).unwrap_or(0).to_ascii_uppercase();
            len += 1;
        } else {
            len = share.len() + 1;
        }
    }
    match share.get(..len) {
        Some(b"ADMIN$") => true,
        Some(&[letter, b'$']) => letter.is_ascii_uppercase(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::TcpInfo;

    const SVCCTL: Uuid = EXEC_INTERFACES[0];
    const ITASK_SCHEDULER: Uuid = EXEC_INTERFACES[1];
    /// The endpoint mapper e1af8308-5d1f-11c9-91a4-08002b14a0fa: not an execution interface.
    const EPM: Uuid = uuid(0xe1af_8308, 0x5d1f, 0x11c9, [0x91, 0xa4, 0x08, 0x00, 0x2b, 0x14, 0xa0, 0xfa]);
    /// NDR transfer syntax 8a885d04-1ceb-11c9-9fe8-08002b104860.
    const NDR: Uuid = uuid(0x8a88_5d04, 0x1ceb, 0x11c9, [0x9f, 0xe8, 0x08, 0x00, 0x2b, 0x10, 0x48, 0x60]);

    fn tcp(src_port: u16, dst_port: u16) -> Transport {
        Transport::Tcp { src_port, dst_port, tcp: TcpInfo { flags: 0x18, window: 512, seq: 0, ack: 0 } }
    }

    /// A connection-oriented PDU header (little-endian) of `ptype` whose whole PDU is `body_len` more.
    fn header(ptype: u8, body_len: usize) -> Vec<u8> {
        let frag_len = (PDU_HEADER_LEN + body_len) as u16;
        let mut h = vec![5, 0, ptype, 0x03, 0x10, 0, 0, 0];
        h.extend_from_slice(&frag_len.to_le_bytes());
        h.extend_from_slice(&[0, 0, 1, 0, 0, 0]);
        h
    }

    /// A bind (or alter-context) offering `iface` over NDR in one presentation context.
    fn bind(ptype: u8, iface: Uuid) -> Vec<u8> {
        let mut body = vec![0xb8, 0x10, 0xb8, 0x10, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0];
        body.extend_from_slice(&iface);
        body.extend_from_slice(&[2, 0, 0, 0]);
        body.extend_from_slice(&NDR);
        body.extend_from_slice(&[2, 0, 0, 0]);
        let mut pdu = header(ptype, body.len());
        pdu.extend_from_slice(&body);
        pdu
    }

    /// An `ept_map` request (NDR32) whose tower names `iface`.
    fn ept_map(iface: Uuid) -> Vec<u8> {
        // alloc_hint, p_cont_id 0, opnum 3; object pointer + nil UUID; tower pointer, conformance,
        // length; floor count 5, floor 1: lhs 19 = 0x0d, UUID, major 1; rhs 2 = minor 0.
        let mut body = vec![0x60, 0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 0];
        body.extend_from_slice(&[0; 16]);
        body.extend_from_slice(&[2, 0, 0, 0, 75, 0, 0, 0, 75, 0, 0, 0, 5, 0, 19, 0, 0x0d]);
        body.extend_from_slice(&iface);
        body.extend_from_slice(&[1, 0, 2, 0, 0, 0]);
        let mut pdu = header(PTYPE_REQUEST, body.len());
        pdu.extend_from_slice(&body);
        pdu
    }

    /// An SMB2 request of `command` (sync header, message id 5) with `body`, behind a session header.
    fn smb2(command: u16, body: &[u8]) -> Vec<u8> {
        let mut smb = vec![0xFE, b'S', b'M', b'B'];
        smb.extend_from_slice(&64u16.to_le_bytes());
        smb.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        smb.extend_from_slice(&command.to_le_bytes());
        smb.extend_from_slice(&[1, 0, 0, 0, 0, 0]);
        smb.resize(smb2::HEADER_LEN, 0);
        smb.extend_from_slice(body);
        let mut out = vec![0, 0];
        out.extend_from_slice(&(smb.len() as u16).to_be_bytes());
        out.extend_from_slice(&smb);
        out
    }

    /// A request on context `context` for `opnum` with `flags` (0x03: a whole call in one fragment;
    /// 0x80: an object UUID follows, as in DCOM), 40 stub bytes.
    fn request(context: u16, opnum: u16, flags: u8) -> Vec<u8> {
        let mut body = vec![40, 0, 0, 0];
        body.extend_from_slice(&context.to_le_bytes());
        body.extend_from_slice(&opnum.to_le_bytes());
        if flags & PFC_OBJECT_UUID != 0 {
            body.extend_from_slice(&[0x11; 16]);
        }
        body.extend_from_slice(&[0; 40]);
        let mut pdu = header(PTYPE_REQUEST, body.len());
        pdu[3] = flags;
        pdu.extend_from_slice(&body);
        pdu
    }

    /// `bind` with the context id `context` instead of 0.
    fn bind_on(ptype: u8, iface: Uuid, context: u16) -> Vec<u8> {
        let mut pdu = bind(ptype, iface);
        pdu[BIND_CONTEXTS + 4..BIND_CONTEXTS + 6].copy_from_slice(&context.to_le_bytes());
        pdu
    }

    /// An IOCTL FSCTL_PIPE_TRANSCEIVE whose input, `data`, starts at offset 120 (64 + 56).
    fn transceive(data: &[u8]) -> Vec<u8> {
        let mut body = vec![57, 0, 0, 0];
        body.extend_from_slice(&FSCTL_PIPE_TRANSCEIVE.to_le_bytes());
        body.extend_from_slice(&[0x22; 16]);
        body.extend_from_slice(&120u32.to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.resize(56, 0);
        body.extend_from_slice(data);
        smb2(SMB2_IOCTL, &body)
    }

    fn tree_connect(path: &str) -> Vec<u8> {
        let utf16: Vec<u8> = path.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let mut body = vec![9, 0, 0, 0];
        body.extend_from_slice(&72u16.to_le_bytes());
        body.extend_from_slice(&(utf16.len() as u16).to_le_bytes());
        body.extend_from_slice(&utf16);
        smb2(SMB2_TREE_CONNECT, &body)
    }

    /// A WRITE to an open pipe of `data`, which starts at offset 112 (64 + 48) as Windows puts it.
    fn write(data: &[u8]) -> Vec<u8> {
        let mut body = vec![49, 0];
        body.extend_from_slice(&112u16.to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.resize(48, 0);
        body.extend_from_slice(data);
        smb2(SMB2_WRITE, &body)
    }

    fn counts(f: &RpcFeatures) -> [f64; 4] {
        let mut out = [f64::NAN; 4];
        f.write(&mut out);
        out
    }

    #[test]
    fn the_flows_that_carry_the_family() {
        let framing = |t| RpcFeatures::for_flow(&t).map(|f| (f.framing, f.server_port));
        assert_eq!(framing(tcp(50_000, 135)), Some((Framing::Direct, 135)));
        assert_eq!(framing(tcp(50_000, 49_726)), Some((Framing::Direct, 49_726)));
        assert_eq!(framing(tcp(50_000, 445)), Some((Framing::Smb2, 445)));
        assert_eq!(framing(tcp(445, 50_000)), Some((Framing::Smb2, 445)));
        assert_eq!(framing(tcp(50_000, 139)), Some((Framing::Smb2, 139)));
        // A dynamic port is the service only as the first packet's destination.
        assert_eq!(framing(tcp(50_000, 443)), None);
        assert_eq!(framing(tcp(135, 50_000)), Some((Framing::Direct, 135)));
        assert_eq!(framing(tcp(443, 50_000)), Some((Framing::Direct, 50_000)));
        assert_eq!(framing(Transport::Udp { src_port: 50_000, dst_port: 135 }), None);
        assert_eq!(counts(&RpcFeatures::for_flow(&tcp(50_000, 135)).unwrap()), [0.0; 4]);
    }

    #[test]
    fn direct_binds_and_mapper_lookups_name_their_interface() {
        let mut mapper = RpcFeatures::for_flow(&tcp(50_000, 135)).unwrap();
        mapper.update(135, &bind(PTYPE_BIND, EPM));
        mapper.update(135, &ept_map(SVCCTL));
        assert_eq!(counts(&mapper), [1.0, 1.0, 0.0, 0.0], "a bind to the mapper, a lookup of svcctl");
        mapper.update(135, &ept_map(EPM));
        assert_eq!(counts(&mapper), [1.0, 1.0, 0.0, 0.0], "a lookup of another interface");

        let mut service = RpcFeatures::for_flow(&tcp(50_000, 49_671)).unwrap();
        service.update(49_671, &bind(PTYPE_BIND, ITASK_SCHEDULER));
        service.update(49_671, &bind(PTYPE_ALTER_CONTEXT, ITASK_SCHEDULER));
        // An ept_map-shaped request off the mapper is another interface's opnum 3.
        service.update(49_671, &ept_map(SVCCTL));
        // The server's answers are not read.
        service.update(50_000, &bind(PTYPE_BIND, SVCCTL));
        assert_eq!(counts(&service), [2.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn execution_calls_on_their_bound_context() {
        const IWBEM_SERVICES: Uuid = EXEC_INTERFACES[4];
        // WMI: the IWbemServices context is added by an alter-context (id 5); ExecMethod (24) runs,
        // ExecQuery (20) reads. DCOM requests carry an object UUID.
        let mut wmi = RpcFeatures::for_flow(&tcp(50_000, 50_937)).unwrap();
        wmi.update(50_937, &bind_on(PTYPE_BIND, EPM, 0));
        wmi.update(50_937, &bind_on(PTYPE_ALTER_CONTEXT, IWBEM_SERVICES, 5));
        wmi.update(50_937, &request(5, 20, 0x83));
        assert_eq!(counts(&wmi), [2.0, 1.0, 0.0, 0.0], "inventory");
        wmi.update(50_937, &request(5, 24, 0x81));
        // The call's later fragment, the same opnum on an unbound context, and on the EPM context.
        wmi.update(50_937, &request(5, 24, 0x82));
        wmi.update(50_937, &request(6, 24, 0x83));
        wmi.update(50_937, &request(0, 24, 0x83));
        assert_eq!(counts(&wmi), [2.0, 1.0, 1.0, 0.0], "one ExecMethod");

        // The task scheduler on context 1: SchRpcRegisterTask (1) and SchRpcRun (12).
        let mut task = RpcFeatures::for_flow(&tcp(50_000, 49_671)).unwrap();
        task.update(49_671, &bind_on(PTYPE_BIND, ITASK_SCHEDULER, 1));
        for opnum in [0, 1, 12, 13] {
            task.update(49_671, &request(1, opnum, 0x03));
        }
        assert_eq!(counts(&task)[2], 2.0);

        // Only the newest MAX_CONTEXTS bound contexts are remembered.
        let mut many = RpcFeatures::for_flow(&tcp(50_000, 49_671)).unwrap();
        for id in 0..=MAX_CONTEXTS as u16 {
            many.update(49_671, &bind_on(PTYPE_ALTER_CONTEXT, SVCCTL, id));
        }
        many.update(49_671, &request(0, 12, 0x03));
        many.update(49_671, &request(MAX_CONTEXTS as u16, 12, 0x03));
        assert_eq!(counts(&many)[2], 1.0);
    }

    #[test]
    fn pdus_not_read() {
        let mut f = RpcFeatures::for_flow(&tcp(50_000, 135)).unwrap();
        let svcctl = bind(PTYPE_BIND, SVCCTL);
        let mut big_endian = svcctl.clone();
        big_endian[4] = 0x00;
        let mut version_4 = svcctl.clone();
        version_4[0] = 4;
        let mut short_fragment = svcctl.clone();
        short_fragment[8..10].copy_from_slice(&15u16.to_le_bytes());
        let mut object_uuid = ept_map(SVCCTL);
        object_uuid[3] |= PFC_OBJECT_UUID;
        for pdu in [big_endian, version_4, short_fragment, object_uuid, b"GET / HTTP/1.1\r\n".to_vec()] {
            f.update(135, &pdu);
        }
        assert_eq!(counts(&f), [0.0; 4]);
    }

    #[test]
    fn smb2_pipe_binds_and_admin_shares() {
        let mut f = RpcFeatures::for_flow(&tcp(50_000, 445)).unwrap();
        for path in ["\\\\WS6\\IPC$", "\\\\WS6\\ADMIN$", "\\\\ws6.corp.example\\c$", "\\\\WS6\\CC$", "\\\\WS6\\share"] {
            f.update(445, &tree_connect(path));
        }
        assert_eq!(counts(&f), [0.0, 0.0, 0.0, 2.0], "ADMIN$ and c$ only");
        f.update(445, &write(&bind(PTYPE_BIND, SVCCTL)));
        f.update(445, &write(b"plain file data, not a PDU"));
        assert_eq!(counts(&f), [1.0, 1.0, 0.0, 2.0]);
        // RCreateServiceW through the pipe's transceive, then ROpenSCManagerW (not an execution).
        f.update(445, &transceive(&request(0, 12, 0x03)));
        f.update(445, &transceive(&request(0, 15, 0x03)));
        assert_eq!(counts(&f), [1.0, 1.0, 1.0, 2.0]);
        // The server's response to a TREE_CONNECT has the SERVER_TO_REDIR flag.
        let mut response = tree_connect("\\\\WS6\\ADMIN$");
        response[4 + 16] |= 1;
        f.update(445, &response);
        // An encrypted SMB3 message hides its command.
        let mut sealed = write(&bind(PTYPE_BIND, SVCCTL));
        sealed[4] = 0xFD;
        f.update(445, &sealed);
        assert_eq!(counts(&f), [1.0, 1.0, 1.0, 2.0]);
    }

    #[test]
    fn any_cut_of_a_message_is_read_safely() {
        let messages = [
            bind(PTYPE_BIND, SVCCTL),
            ept_map(SVCCTL),
            request(0, 12, 0x83),
            write(&bind(PTYPE_BIND, SVCCTL)),
            transceive(&request(0, 12, 0x03)),
            tree_connect("\\\\WS6\\ADMIN$"),
        ];
        for m in &messages {
            for cut in 0..=m.len() {
                for port in [135, 445] {
                    let mut f = RpcFeatures::for_flow(&tcp(50_000, port)).unwrap();
                    f.update(port, &transceive(&bind(PTYPE_BIND, SVCCTL)));
                    f.update(port, &bind(PTYPE_BIND, SVCCTL));
                    f.update(port, &m[..cut]);
                    assert!(counts(&f).iter().all(|&c| c <= 2.0));
                }
            }
        }
        // A WRITE whose data offset points into the header or past the payload.
        let mut inside = write(&bind(PTYPE_BIND, SVCCTL));
        inside[4 + 66..4 + 68].copy_from_slice(&8u16.to_le_bytes());
        let mut past = write(&bind(PTYPE_BIND, SVCCTL));
        past[4 + 66..4 + 68].copy_from_slice(&u16::MAX.to_le_bytes());
        let mut f = RpcFeatures::for_flow(&tcp(50_000, 445)).unwrap();
        f.update(445, &inside);
        f.update(445, &past);
        assert_eq!(counts(&f), [0.0; 4]);
    }

    #[test]
    fn the_simulators_execution_interfaces_are_the_listed_ones() {
        use crate::simulate::proto::dcerpc;
        for i in [
            dcerpc::SVCCTL,
            dcerpc::ITASK_SCHEDULER,
            dcerpc::ATSVC,
            dcerpc::IWBEM_LEVEL1_LOGIN,
            dcerpc::IWBEM_SERVICES,
            dcerpc::ISYSTEM_ACTIVATOR,
        ] {
            assert!(EXEC_INTERFACES.contains(&i.uuid.0), "{:?}", i.uuid);
        }
        for i in [dcerpc::EPM, dcerpc::IOXID_RESOLVER, dcerpc::IREMUNKNOWN2, dcerpc::NDR32] {
            assert!(!EXEC_INTERFACES.contains(&i.uuid.0), "{:?}", i.uuid);
        }
    }
}
