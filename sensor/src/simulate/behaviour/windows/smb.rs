//! SMB2 conversations on 445: a list of `SmbOp`s run by one [`Smb2Client`], each operation one
//! or a few request/response exchanges (a transfer one 64 KiB WRITE or READ at a time). Every
//! session opens as Windows does (negotiate, session setup, IPC$ and its interface query) and ends
//! with an idle period, the tree disconnects and the logoff.

use std::collections::VecDeque;

use crate::simulate::proto::dcerpc::{self, Context, Interface, Offer, RpcAuth, RpcClient, Syntax, Transport};
use crate::simulate::proto::msrpc::{self, Handle, Ndr, NewService};
use crate::simulate::proto::ntlmssp::{ClientNames, ServerNames};
use crate::simulate::proto::smb2::{Auth, DirEntry, FileId, InfoClass, Open, Payload, SetupState, Smb2Client, Tree};
use crate::simulate::rng::Rng;
use crate::simulate::session::{Script, Side, Step};

use super::{
    Account, AuthKind, GPO_GUIDS, MS, SCH_RPC_DELETE, SCH_RPC_RUN, SECOND, Server, Steps, TaskPlan, TaskStart, lazy,
    task_delete_stubs, task_run_stubs, task_stubs,
};

/// Bulk SMB data moves in WRITE and READ messages of this size.
const IO_CHUNK: u64 = 64 * 1024;
/// What Windows asks for in a pipe READ and an FSCTL_PIPE_TRANSCEIVE.
const PIPE_READ: u32 = 1024;
/// The pipes' max fragment, for READs of what a TRANSCEIVE could not return.
const PIPE_FRAGMENT: usize = dcerpc::MAX_FRAG_PIPE as usize;
const STATUS_LOGON_FAILURE: u32 = 0xc000_006d;

/// SVCCTL operations beyond those `msrpc` builds.
const R_CONTROL_SERVICE: u16 = 1;
const R_DELETE_SERVICE: u16 = 2;
const R_OPEN_SERVICE_W: u16 = 16;

/// One directory entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DirItem {
    name: String,
    is_dir: bool,
    size: u64,
}

/// One operation of an SMB conversation. Trees and files are numbered in the order the conversation
/// connected and opened them.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SmbOp {
    /// SMB1 multi-protocol negotiate, then SMB2 NEGOTIATE.
    Negotiate,
    /// SESSION_SETUP legs until the session is up.
    SessionSetup,
    /// NTLM SESSION_SETUP whose second leg is refused with STATUS_LOGON_FAILURE.
    FailedLogon,
    TreeConnect(String),
    /// FSCTL_QUERY_NETWORK_INTERFACE_INFO on IPC$ (tree index).
    NetworkInterfaces(usize),
    Open {
        tree: usize,
        name: String,
        open: Open,
    },
    QueryInfo {
        file: usize,
        class: InfoClass,
    },
    /// WRITE of `bytes` in 64 KiB messages.
    Write {
        file: usize,
        bytes: u64,
    },
    /// READ of `bytes` in 64 KiB messages.
    Read {
        file: usize,
        bytes: u64,
    },
    /// QUERY_DIRECTORY answered with the entries, then the one answered STATUS_NO_MORE_FILES.
    List {
        file: usize,
        entries: Vec<DirItem>,
    },
    Close {
        file: usize,
    },
    /// DCE/RPC BIND written to a pipe, its BIND_ACK read back.
    Bind {
        file: usize,
        iface: Interface,
        server_pipe: &'static str,
    },
    /// A DCE/RPC call through FSCTL_PIPE_TRANSCEIVE, answered after `work_ns`.
    Call {
        file: usize,
        opnum: u16,
        request: Vec<u8>,
        response: Vec<u8>,
        work_ns: u64,
    },
    /// Application data on a pipe: a WRITE by the client or a READ it answers (offset 0).
    PipeData {
        file: usize,
        from: Side,
        bytes: u64,
    },
    TreeDisconnect(usize),
    Logoff,
    Pause(u64),
}

struct OpenFile {
    tree: Tree,
    id: FileId,
    /// Size for the CLOSE post-query of a file; None for pipes and directories.
    size: Option<u64>,
    rpc: Option<(RpcClient, Context)>,
}

struct SmbConversation {
    smb: Smb2Client,
    server: Server,
    account: Account,
    auth: AuthKind,
    now_ns: u64,
    ops: VecDeque<SmbOp>,
    trees: Vec<Tree>,
    files: Vec<OpenFile>,
    /// Bytes of the current WRITE or READ operation already moved.
    moved: u64,
}

/// Runs `f` with the SMB authentication of `auth` for `account` against `server`.
fn with_smb_auth<R>(account: &Account, server: &Server, auth: AuthKind, f: impl FnOnce(&Auth) -> R) -> R {
    match auth {
        AuthKind::Kerberos => f(&Auth::Kerberos { realm: &account.realm, delegation: server.delegation }),
        AuthKind::Ntlm => f(&Auth::Ntlm {
            client: ClientNames { domain: &account.nb_domain, user: &account.user, workstation: &account.workstation },
            server: ServerNames {
                nb_domain: &account.nb_domain,
                nb_computer: &server.name,
                dns_domain: &account.dns_domain,
            },
        }),
    }
}

/// Turns a successful final SESSION_SETUP response into Windows' refusal: the same header with
/// STATUS_LOGON_FAILURE, unsigned, and the 9-byte error body (MS-SMB2 §2.2.2).
fn refuse_logon(resp: &mut Vec<u8>) {
    const SMB: usize = 4;
    resp.truncate(SMB + 64);
    resp[SMB + 8..SMB + 12].copy_from_slice(&STATUS_LOGON_FAILURE.to_le_bytes());
    resp[SMB + 16] &= !0x08;
    resp[SMB + 48..SMB + 64].fill(0);
    resp.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 0, 0]);
    let len = (resp.len() - SMB) as u32;
    resp[1..4].copy_from_slice(&len.to_be_bytes()[1..]);
}

impl SmbConversation {
    /// Queues the exchanges of the next operation (one 64 KiB piece of a transfer); false once the
    /// last is queued, with the client's close.
    fn step(&mut self, rng: &mut Rng, steps: &mut Steps) -> bool {
        let Some(op) = self.ops.pop_front() else {
            steps.0.push_back(Step::Close(Side::Client));
            return false;
        };
        let (mut q, mut r) = (Vec::with_capacity(256), Vec::with_capacity(256));
        let Self { smb, server, account, auth, now_ns, ops, trees, files, moved } = self;
        let now = *now_ns;
        match &op {
            SmbOp::Negotiate => {
                smb.multi_protocol_negotiate(rng, now, &mut q, &mut r);
                steps.exchange(std::mem::take(&mut q), std::mem::take(&mut r));
                smb.negotiate(rng, now, &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::SessionSetup => loop {
                let (mut q, mut r) = (Vec::new(), Vec::new());
                let state = with_smb_auth(account, server, *auth, |a| smb.session_setup(rng, now, a, &mut q, &mut r));
                steps.exchange(q, r);
                if state == SetupState::Done {
                    break;
                }
            },
            SmbOp::FailedLogon => {
                for leg in 0..2 {
                    let (mut q, mut r) = (Vec::new(), Vec::new());
                    with_smb_auth(account, server, AuthKind::Ntlm, |a| smb.session_setup(rng, now, a, &mut q, &mut r));
                    if leg == 1 {
                        refuse_logon(&mut r);
                    }
                    steps.exchange(q, r);
                }
            }
            SmbOp::TreeConnect(share) => {
                trees.push(smb.tree_connect(rng, share, &mut q, &mut r));
                steps.exchange(q, r);
            }
            SmbOp::NetworkInterfaces(tree) => {
                smb.query_network_interfaces(rng, trees[*tree], server.ip, &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::Open { tree, name, open } => {
                let tree = trees[*tree];
                let id = smb.create(rng, now, tree, name, *open, &mut q, &mut r);
                let size = match open {
                    Open::ReadFile { size } => Some(*size),
                    Open::CreateFile { .. } => Some(0),
                    Open::Pipe | Open::Directory => None,
                };
                files.push(OpenFile { tree, id, size, rpc: None });
                steps.exchange(q, r);
            }
            SmbOp::QueryInfo { file, class } => {
                let f = &files[*file];
                smb.query_info(rng, now, f.tree, f.id, *class, f.size.unwrap_or(0), &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::Write { file, bytes } | SmbOp::Read { file, bytes } => {
                let f = &mut files[*file];
                let n = IO_CHUNK.min(bytes.saturating_sub(*moved));
                let data = Payload::Opaque(n as usize);
                if matches!(op, SmbOp::Write { .. }) {
                    smb.write(rng, f.tree, f.id, *moved, data, &mut q, &mut r);
                    f.size = f.size.map(|s| s.max(*moved + n));
                } else {
                    smb.read(rng, f.tree, f.id, *moved, n as u32, data, &mut q, &mut r);
                }
                *moved += n;
                steps.exchange(q, r);
                if *moved < *bytes && n > 0 {
                    ops.push_front(op);
                    return true;
                }
                *moved = 0;
            }
            SmbOp::List { file, entries } => {
                let f = &files[*file];
                let list: Vec<DirEntry> =
                    entries.iter().map(|e| DirEntry { name: &e.name, is_dir: e.is_dir, size: e.size }).collect();
                smb.query_directory(rng, now, f.tree, f.id, "*", &list, &mut q, &mut r);
                steps.exchange(std::mem::take(&mut q), std::mem::take(&mut r));
                smb.query_directory(rng, now, f.tree, f.id, "*", &[], &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::Close { file } => {
                let f = &files[*file];
                smb.close(rng, now, f.tree, f.id, f.size, &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::Bind { file, iface, server_pipe } => {
                let f = &mut files[*file];
                let mut rpc = RpcClient::new(Transport::Pipe { server_pipe });
                let (mut bind, mut ack) = (Vec::new(), Vec::new());
                let ctx = rpc.bind(rng, *iface, Offer::Ndr32, &RpcAuth::None, &mut bind, &mut ack);
                smb.write(rng, f.tree, f.id, 0, Payload::Bytes(&bind), &mut q, &mut r);
                steps.exchange(std::mem::take(&mut q), std::mem::take(&mut r));
                smb.read(rng, f.tree, f.id, 0, PIPE_READ, Payload::Bytes(&ack), &mut q, &mut r);
                steps.exchange(q, r);
                f.rpc = Some((rpc, ctx));
            }
            SmbOp::Call { file, opnum, request, response, work_ns } => {
                let f = &mut files[*file];
                let (rpc, ctx) = f.rpc.as_mut().expect("conversation plans bind a pipe before calling on it");
                let (mut pq, mut pr) = (Vec::new(), Vec::new());
                let (req, resp) = (Payload::Bytes(request), Payload::Bytes(response));
                rpc.call(rng, *ctx, *opnum, None, req, resp, &mut pq, &mut pr);
                let left = smb.pipe_transceive(rng, f.tree, f.id, &pq, &pr, PIPE_READ, &mut q, &mut r);
                steps.send(Side::Client, q);
                steps.pause(*work_ns);
                steps.send(Side::Server, r);
                for rest in pr[pr.len() - left..].chunks(PIPE_FRAGMENT) {
                    let (mut q, mut r) = (Vec::new(), Vec::new());
                    smb.read(rng, f.tree, f.id, 0, PIPE_FRAGMENT as u32, Payload::Bytes(rest), &mut q, &mut r);
                    steps.exchange(q, r);
                }
            }
            SmbOp::PipeData { file, from, bytes } => {
                let f = &files[*file];
                let data = Payload::Opaque(*bytes as usize);
                match from {
                    Side::Client => smb.write(rng, f.tree, f.id, 0, data, &mut q, &mut r),
                    Side::Server => smb.read(rng, f.tree, f.id, 0, PIPE_READ.max(*bytes as u32), data, &mut q, &mut r),
                }
                steps.exchange(q, r);
            }
            SmbOp::TreeDisconnect(tree) => {
                smb.tree_disconnect(rng, trees[*tree], &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::Logoff => {
                smb.logoff(rng, &mut q, &mut r);
                steps.exchange(q, r);
            }
            SmbOp::Pause(ns) => steps.pause(*ns),
        }
        true
    }
}

/// An SMB conversation running `ops`, then the client's close.
fn smb_script(
    account: &Account,
    server: &Server,
    auth: AuthKind,
    now_ns: u64,
    ops: Vec<SmbOp>,
    rng: &mut Rng,
) -> Script {
    let mut conv = SmbConversation {
        smb: Smb2Client::new(rng, &server.name),
        server: server.clone(),
        account: account.clone(),
        auth,
        now_ns,
        ops: ops.into(),
        trees: Vec::new(),
        files: Vec::new(),
        moved: 0,
    };
    lazy(move |rng, steps| conv.step(rng, steps))
}

/// The start every Windows SMB session has: negotiate, session setup, IPC$ and its interface query
/// (IPC$ is tree 0).
fn smb_opening() -> Vec<SmbOp> {
    vec![SmbOp::Negotiate, SmbOp::SessionSetup, SmbOp::TreeConnect("IPC$".into()), SmbOp::NetworkInterfaces(0)]
}

/// The end: the connection idles `idle_ns`, then every tree is disconnected (last first) and the
/// session logged off.
fn smb_closing(ops: &mut Vec<SmbOp>, trees: usize, idle_ns: u64) {
    ops.push(SmbOp::Pause(idle_ns));
    ops.extend((0..trees).rev().map(SmbOp::TreeDisconnect));
    ops.push(SmbOp::Logoff);
}

/// What happens to a created service once it has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceCleanup {
    Keep,
    /// Reopened, stopped and deleted (as PsExec and Impacket do).
    Delete,
}

/// The named pipes a remote-execution tool talks to its service through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolPipes {
    /// None: the service just runs its command.
    None,
    /// Sysinternals PsExec: `\PSEXESVC`, then `PSEXESVC-<client>-<pid>-stdin|stdout|stderr`.
    Psexesvc,
    /// Impacket psexec (RemCom): `RemCom_communicaton`, then `RemCom_stdin<id>` and the others.
    RemCom,
}

/// A PsExec-style remote execution over SMB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsexecPlan {
    pub auth: AuthKind,
    /// Service name; the binary is `<service>.exe` in ADMIN$.
    pub service: String,
    pub binary_bytes: u64,
    /// The tool's named pipes, opened once the service runs.
    pub pipes: ToolPipes,
    /// Interactive exchanges (a command on stdin, its output on stdout) over those pipes.
    pub io_exchanges: u32,
    pub cleanup: ServiceCleanup,
}

fn svcctl_call(opnum: u16, request: Vec<u8>, response: Vec<u8>, work_ns: u64) -> SmbOp {
    SmbOp::Call { file: 1, opnum, request, response, work_ns }
}

/// ROpenServiceW request stub (MS-SCMR 3.1.4.16).
fn open_service_w_request(scm: Handle, name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ndr = Ndr::new(&mut out, Syntax::Ndr32);
    ndr.bytes(&scm.0);
    ndr.wstr(name);
    ndr.u32(msrpc::SERVICE_ALL_ACCESS);
    out
}

/// RControlService(SERVICE_CONTROL_STOP) request and its answer: the SERVICE_STATUS of a stopping
/// own-process service, return code 0.
fn control_stop(service: Handle) -> (Vec<u8>, Vec<u8>) {
    let mut req = service.0.to_vec();
    req.extend_from_slice(&1u32.to_le_bytes());
    let mut resp = Vec::with_capacity(32);
    for v in [0x10u32, 3, 0x1, 0, 0, 0, 3_000, 0] {
        resp.extend_from_slice(&v.to_le_bytes());
    }
    (req, resp)
}

/// PsExec: the service binary copied to ADMIN$ in 64 KiB WRITEs, `svcctl` bound on IPC$,
/// OpenSCManagerW, CreateServiceW, StartServiceW, optionally the tool's pipes and the service's
/// removal, CloseServiceHandle ×2, and after ~10 s idle the tree disconnects and logoff.
pub fn psexec(account: &Account, server: &Server, plan: &PsexecPlan, now_ns: u64, rng: &mut Rng) -> Script {
    let exe = format!("{}.exe", plan.service);
    let mut ops = smb_opening();
    ops.extend([
        SmbOp::TreeConnect("ADMIN$".into()),
        SmbOp::Open { tree: 1, name: exe.clone(), open: Open::CreateFile { alloc_size: plan.binary_bytes } },
        SmbOp::Write { file: 0, bytes: plan.binary_bytes },
        SmbOp::Close { file: 0 },
        SmbOp::Open { tree: 0, name: "svcctl".into(), open: Open::Pipe },
        SmbOp::QueryInfo { file: 1, class: InfoClass::Standard },
        SmbOp::Bind { file: 1, iface: dcerpc::SVCCTL, server_pipe: "\\pipe\\ntsvcs" },
    ]);
    let (scm, service) = (Handle::random(rng), Handle::random(rng));
    let (mut q, mut r) = (Vec::new(), Vec::new());
    msrpc::open_sc_manager_w_request(&mut q, &server.name);
    msrpc::handle_response(&mut r, scm);
    ops.push(svcctl_call(msrpc::R_OPEN_SC_MANAGER_W, q, r, rng.range(1, 3) * MS));
    let binary_path = format!("%SystemRoot%\\{exe}");
    let svc = NewService { name: &plan.service, display_name: &plan.service, binary_path: &binary_path, start_type: 3 };
    let (mut q, mut r) = (Vec::new(), Vec::new());
    msrpc::create_service_w_request(&mut q, scm, &svc);
    msrpc::create_service_w_response(&mut r, service);
    ops.push(svcctl_call(msrpc::R_CREATE_SERVICE_W, q, r, rng.range(2, 6) * MS));
    let (mut q, mut r) = (Vec::new(), Vec::new());
    msrpc::start_service_w_request(&mut q, service);
    msrpc::status_response(&mut r);
    ops.push(svcctl_call(msrpc::R_START_SERVICE_W, q, r, rng.range(30, 60) * MS));
    let mut pipes = Vec::new();
    if plan.pipes != ToolPipes::None {
        // The tool's control pipe and the service's stdin/stdout/stderr pipes (files 2–5).
        let pid = rng.range(1_000, 20_000);
        let id = format!("{:04x}{pid}", rng.range(0, 0x1_0000));
        let control = if plan.pipes == ToolPipes::Psexesvc { "PSEXESVC" } else { "RemCom_communicaton" };
        ops.push(SmbOp::Open { tree: 0, name: control.into(), open: Open::Pipe });
        for stream in ["stdin", "stdout", "stderr"] {
            let name = match plan.pipes {
                ToolPipes::Psexesvc => format!("PSEXESVC-{}-{pid}-{stream}", account.workstation),
                _ => format!("RemCom_{stream}{id}"),
            };
            ops.push(SmbOp::Open { tree: 0, name, open: Open::Pipe });
        }
        pipes.extend(2..6);
        ops.push(SmbOp::PipeData { file: 2, from: Side::Client, bytes: rng.range(1_000, 4_000) });
        ops.push(SmbOp::PipeData { file: 2, from: Side::Server, bytes: 4 });
        ops.push(SmbOp::PipeData { file: 4, from: Side::Server, bytes: rng.range(150, 400) });
        for _ in 0..plan.io_exchanges {
            ops.push(SmbOp::Pause(rng.range(1_000, 8_000) * MS));
            ops.push(SmbOp::PipeData { file: 3, from: Side::Client, bytes: rng.range(8, 120) });
            ops.push(SmbOp::PipeData {
                file: 4,
                from: Side::Server,
                bytes: rng.lognormal(900.0, 1.2).clamp(20.0, 60_000.0) as u64,
            });
        }
    }
    let mut closes = vec![service, scm];
    if plan.cleanup == ServiceCleanup::Delete {
        let reopened = Handle::random(rng);
        let mut r = Vec::new();
        msrpc::handle_response(&mut r, reopened);
        ops.push(svcctl_call(R_OPEN_SERVICE_W, open_service_w_request(scm, &plan.service), r, MS));
        let (q, r) = control_stop(reopened);
        ops.push(svcctl_call(R_CONTROL_SERVICE, q, r, rng.range(5, 30) * MS));
        let mut r = Vec::new();
        msrpc::status_response(&mut r);
        ops.push(svcctl_call(R_DELETE_SERVICE, reopened.0.to_vec(), r, rng.range(2, 8) * MS));
        closes.insert(0, reopened);
    }
    for h in closes {
        let (mut q, mut r) = (Vec::new(), Vec::new());
        msrpc::close_service_handle_request(&mut q, h);
        msrpc::close_service_handle_response(&mut r);
        ops.push(svcctl_call(msrpc::R_CLOSE_SERVICE_HANDLE, q, r, 0));
    }
    ops.extend(pipes.into_iter().chain([1]).map(|file| SmbOp::Close { file }));
    smb_closing(&mut ops, 2, rng.range(9_000, 12_000) * MS);
    smb_script(account, server, plan.auth, now_ns, ops, rng)
}

/// A remote scheduled task the Impacket atexec way: `\pipe\atsvc` on IPC$, ITaskSchedulerService
/// bound, SchRpcHighestVersion, SchRpcRegisterTask, then (for [`TaskStart::Now`]) SchRpcRun and SchRpcDelete a
/// few seconds later, and the command's output read back from ADMIN$\Temp.
pub fn schtask_create(
    account: &Account,
    server: &Server,
    auth: AuthKind,
    plan: &TaskPlan,
    now_ns: u64,
    rng: &mut Rng,
) -> Script {
    let mut ops = smb_opening();
    ops.extend([
        SmbOp::Open { tree: 0, name: "atsvc".into(), open: Open::Pipe },
        SmbOp::Bind { file: 0, iface: dcerpc::ITASK_SCHEDULER, server_pipe: "\\pipe\\atsvc" },
    ]);
    let mut version = Vec::new();
    msrpc::sch_highest_version_response(&mut version);
    let call = |opnum, (request, response): (Vec<u8>, Vec<u8>), work_ns| SmbOp::Call {
        file: 0,
        opnum,
        request,
        response,
        work_ns,
    };
    ops.push(call(msrpc::SCH_RPC_HIGHEST_VERSION, (Vec::new(), version), 0));
    ops.push(call(msrpc::SCH_RPC_REGISTER_TASK, task_stubs(plan, Syntax::Ndr32, rng), rng.range(12, 30) * MS));
    if plan.start == TaskStart::Now {
        ops.push(call(SCH_RPC_RUN, task_run_stubs(&plan.path, Syntax::Ndr32, rng), rng.range(5, 20) * MS));
        ops.push(SmbOp::Pause(rng.range(1_500, 4_000) * MS));
        ops.push(call(SCH_RPC_DELETE, task_delete_stubs(&plan.path, Syntax::Ndr32), rng.range(3, 10) * MS));
    }
    ops.push(SmbOp::Close { file: 0 });
    let mut trees = 1;
    if plan.output_bytes > 0 {
        let name = format!("Temp\\{:08x}.tmp", rng.next_u32());
        ops.extend([
            SmbOp::TreeConnect("ADMIN$".into()),
            SmbOp::Open { tree: 1, name, open: Open::ReadFile { size: plan.output_bytes } },
            SmbOp::Read { file: 1, bytes: plan.output_bytes },
            SmbOp::Close { file: 1 },
        ]);
        trees = 2;
    }
    smb_closing(&mut ops, trees, rng.range(50, 500) * MS);
    smb_script(account, server, auth, now_ns, ops, rng)
}

/// One failed logon of a password spray: negotiate, NTLM SESSION_SETUP refused with
/// STATUS_LOGON_FAILURE, close (one connection per attempt, as CrackMapExec and Impacket do).
pub fn smb_logon_spray(account: &Account, server: &Server, now_ns: u64, rng: &mut Rng) -> Script {
    smb_script(account, server, AuthKind::Ntlm, now_ns, vec![SmbOp::Negotiate, SmbOp::FailedLogon], rng)
}

/// A Group Policy refresh against a DC: SYSVOL connected, `gpt.ini` of each of the first `linked`
/// GPOs read; for `changed` of them the Machine folder is listed and Registry.pol and GptTmpl.inf
/// read.
pub fn gpo_refresh(
    account: &Account,
    dc: &Server,
    linked: usize,
    changed: usize,
    now_ns: u64,
    rng: &mut Rng,
) -> Script {
    let mut ops = smb_opening();
    ops.push(SmbOp::TreeConnect("SYSVOL".into()));
    let mut file = 0;
    for (i, guid) in GPO_GUIDS.iter().take(linked.clamp(1, GPO_GUIDS.len())).enumerate() {
        let base = format!("{}\\Policies\\{guid}", account.dns_domain);
        let size = rng.range(22, 70);
        ops.extend([
            SmbOp::Open { tree: 1, name: format!("{base}\\gpt.ini"), open: Open::ReadFile { size } },
            SmbOp::Read { file, bytes: size },
            SmbOp::Close { file },
        ]);
        file += 1;
        if i >= changed {
            continue;
        }
        let policy = [("Registry.pol", rng.range(500, 24_000)), ("GptTmpl.inf", rng.range(1_000, 9_000))];
        let entries = vec![
            DirItem { name: "Microsoft".into(), is_dir: true, size: 0 },
            DirItem { name: "Scripts".into(), is_dir: true, size: 0 },
            DirItem { name: policy[0].0.into(), is_dir: false, size: policy[0].1 },
        ];
        ops.extend([
            SmbOp::Open { tree: 1, name: format!("{base}\\Machine"), open: Open::Directory },
            SmbOp::List { file, entries },
            SmbOp::Close { file },
        ]);
        file += 1;
        for (name, size) in policy {
            let path = match name {
                "Registry.pol" => format!("{base}\\Machine\\{name}"),
                _ => format!("{base}\\Machine\\Microsoft\\Windows NT\\SecEdit\\{name}"),
            };
            ops.extend([
                SmbOp::Open { tree: 1, name: path, open: Open::ReadFile { size } },
                SmbOp::Read { file, bytes: size },
                SmbOp::Close { file },
            ]);
            file += 1;
        }
    }
    smb_closing(&mut ops, 2, rng.range(5, 60) * SECOND);
    // `\\<domain>\SYSVOL` is a DFS namespace: its referral names the DC by its DNS name, and the
    // session (ticket, tree paths) uses that name.
    let dc = Server { name: dc.fqdn(account), ..dc.clone() };
    smb_script(account, &dc, AuthKind::Kerberos, now_ns, ops, rng)
}

/// Whether a document is fetched from or stored to the share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transfer {
    Read,
    Write,
}

/// A document a file-server session touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub name: String,
    pub bytes: u64,
    pub transfer: Transfer,
}

/// A user's session on a file server: the share connected, its folder listed (Explorer), each
/// document opened and read or written in 64 KiB messages, user think time between them, then the
/// idle disconnect.
pub fn file_server_session(
    account: &Account,
    server: &Server,
    share: &str,
    documents: &[Document],
    now_ns: u64,
    rng: &mut Rng,
) -> Script {
    let mut ops = smb_opening();
    ops.push(SmbOp::TreeConnect(share.to_string()));
    let entries: Vec<DirItem> = documents
        .iter()
        .filter(|d| d.transfer == Transfer::Read)
        .map(|d| DirItem { name: d.name.clone(), is_dir: false, size: d.bytes })
        .chain((0..rng.range(2, 12)).map(|i| DirItem { name: format!("Folder{i:02}"), is_dir: true, size: 0 }))
        .collect();
    ops.extend([
        SmbOp::Open { tree: 1, name: String::new(), open: Open::Directory },
        SmbOp::List { file: 0, entries },
        SmbOp::Close { file: 0 },
    ]);
    for (i, d) in documents.iter().enumerate() {
        let file = i + 1;
        ops.push(SmbOp::Pause(rng.range(500, 20_000) * MS));
        match d.transfer {
            Transfer::Read => ops.extend([
                SmbOp::Open { tree: 1, name: d.name.clone(), open: Open::ReadFile { size: d.bytes } },
                SmbOp::QueryInfo { file, class: InfoClass::NetworkOpen },
                SmbOp::Read { file, bytes: d.bytes },
            ]),
            Transfer::Write => ops.extend([
                SmbOp::Open { tree: 1, name: d.name.clone(), open: Open::CreateFile { alloc_size: d.bytes } },
                SmbOp::Write { file, bytes: d.bytes },
            ]),
        }
        ops.push(SmbOp::Close { file });
    }
    smb_closing(&mut ops, 2, rng.range(10, 120) * SECOND);
    smb_script(account, server, AuthKind::Kerberos, now_ns, ops, rng)
}

/// A backup job writing `files` (sizes in bytes) to `share` on the backup server in one session.
pub fn backup_upload(
    account: &Account,
    server: &Server,
    share: &str,
    files: &[u64],
    now_ns: u64,
    rng: &mut Rng,
) -> Script {
    let mut ops = smb_opening();
    ops.push(SmbOp::TreeConnect(share.to_string()));
    let stamp = rng.range(1, 10_000);
    for (file, &bytes) in files.iter().enumerate() {
        let name = format!("{}\\{}-{stamp:04}-{file}.vbk", account.workstation, account.workstation);
        ops.extend([
            SmbOp::Open { tree: 1, name, open: Open::CreateFile { alloc_size: bytes } },
            SmbOp::Write { file, bytes },
            SmbOp::Close { file },
        ]);
    }
    smb_closing(&mut ops, 2, rng.range(100, 2_000) * MS);
    smb_script(account, server, AuthKind::Ntlm, now_ns, ops, rng)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::{Delegation, Message, drain};
    use super::*;

    fn account() -> Account {
        super::super::test_account()
    }

    fn target() -> Server {
        super::super::test_server()
    }

    /// Side, SMB2 command and status of each SMB2 message.
    fn commands(messages: &[Message]) -> Vec<(Side, u16, u32)> {
        messages
            .iter()
            .filter(|m| m.head[4..8] == *b"\xfeSMB")
            .map(|m| {
                let h = &m.head;
                (m.from, u16::from_le_bytes([h[16], h[17]]), u32::from_le_bytes([h[12], h[13], h[14], h[15]]))
            })
            .collect()
    }

    fn count(messages: &[Message], from: Side, command: u16) -> usize {
        commands(messages).iter().filter(|c| c.0 == from && c.1 == command).count()
    }

    fn plan(auth: AuthKind, binary_bytes: u64, io_exchanges: u32, cleanup: ServiceCleanup) -> PsexecPlan {
        let pipes = if io_exchanges > 0 { ToolPipes::Psexesvc } else { ToolPipes::None };
        PsexecPlan { auth, service: "PSEXESVC".into(), binary_bytes, pipes, io_exchanges, cleanup }
    }

    #[test]
    fn psexec_copies_the_binary_in_64_kib_writes_and_creates_the_service() {
        let binary = 300_000;
        let p = plan(AuthKind::Kerberos, binary, 0, ServiceCleanup::Keep);
        let d = drain(psexec(&account(), &target(), &p, 0, &mut Rng::new(1)), 1_000);
        assert!(d.ended);
        // Five binary pieces (4 × 64 KiB + the rest; their bytes are not kept) and the BIND.
        assert_eq!(count(&d.messages, Side::Client, 9), 6);
        assert!(d.client > binary && d.client < binary + 20_000, "client {}", d.client);
        assert!((4_000..12_000).contains(&d.server), "server {}", d.server);
        // After the work the connection idles ~10 s before TREE_DISCONNECT and LOGOFF.
        assert!(d.pauses_ns >= 9 * SECOND);
        let last: Vec<u16> = commands(&d.messages).iter().rev().take(6).map(|c| c.1).collect();
        assert_eq!(last, [2, 2, 4, 4, 4, 4]);
    }

    #[test]
    fn psexec_with_its_pipes_and_removal_over_ntlm() {
        let p = plan(AuthKind::Ntlm, 2_000_000, 5, ServiceCleanup::Delete);
        let d = drain(psexec(&account(), &target(), &p, 0, &mut Rng::new(2)), 10_000);
        assert!(d.ended);
        assert_eq!(count(&d.messages, Side::Client, 1), 2, "two NTLM legs");
        // svcctl: open, create, start, open, stop, delete, close ×3: nine transceives.
        assert_eq!(count(&d.messages, Side::Client, 11), 1 + 9);
        assert_eq!(count(&d.messages, Side::Client, 5), 6, "binary, svcctl and four tool pipes");
        assert!(d.client > 2_000_000 && d.client < 2_060_000 && d.server > 6_000, "{} {}", d.client, d.server);
    }

    #[test]
    fn a_sprayed_logon_is_refused() {
        let d = drain(smb_logon_spray(&account(), &target(), 0, &mut Rng::new(3)), 100);
        assert!(d.ended);
        let cmds = commands(&d.messages);
        let last = d.messages.last().unwrap();
        assert_eq!(cmds.last(), Some(&(Side::Server, 1, STATUS_LOGON_FAILURE)));
        assert_eq!(last.len, 4 + 64 + 9);
        assert_eq!(last.head[4 + 16] & 0x08, 0, "not signed");
        // The two negotiate answers, the CHALLENGE and the refusal.
        assert!((1_300..2_000).contains(&d.server), "{}", d.server);
    }

    #[test]
    fn atexec_registers_runs_deletes_and_reads_the_output() {
        let task = TaskPlan {
            path: "\\Microsoft\\Windows\\WDI\\Xy12Ab34".into(),
            command: "C:\\Windows\\System32\\cmd.exe".into(),
            arguments: "/C whoami /all > C:\\Windows\\Temp\\1a2b3c4d.tmp 2>&1".into(),
            author: "CORP\\anna.berg".into(),
            start: TaskStart::Now,
            output_bytes: 5_000,
        };
        let d = drain(schtask_create(&account(), &target(), AuthKind::Kerberos, &task, 0, &mut Rng::new(4)), 1_000);
        assert!(d.ended);
        let opnums: Vec<u16> = d
            .messages
            .iter()
            .filter(|m| m.from == Side::Client && m.head[16] == 11 && m.len >= 4 + 64 + 56 + 24)
            .map(|m| u16::from_le_bytes([m.head[4 + 64 + 56 + 22], m.head[4 + 64 + 56 + 23]]))
            .collect();
        assert_eq!(opnums, [0, 1, SCH_RPC_RUN, SCH_RPC_DELETE]);
        assert!((4_000..12_000).contains(&d.client) && d.server > 5_000, "{} {}", d.client, d.server);
    }

    #[test]
    fn policy_refresh_reads_more_when_policies_changed() {
        let dc = Server { name: "DC01".into(), ip: Ipv4Addr::new(10, 20, 0, 10), delegation: Delegation::ForwardedTgt };
        let quiet = drain(gpo_refresh(&account(), &dc, 4, 0, 0, &mut Rng::new(5)), 1_000);
        let changed = drain(gpo_refresh(&account(), &dc, 4, 2, 0, &mut Rng::new(5)), 1_000);
        assert!(quiet.ended && changed.ended);
        assert!((3_000..8_000).contains(&quiet.server), "{}", quiet.server);
        assert!(changed.server > quiet.server + 3_000, "{} {}", changed.server, quiet.server);
    }

    #[test]
    fn a_session_with_a_domain_controller_carries_the_forwarded_tgt() {
        let setup = |delegation| {
            let dc = Server { name: "MORDORDC".into(), ip: Ipv4Addr::new(10, 20, 0, 10), delegation };
            let account = Account::new("theshire.local", "pgustavo", "WORKSTATION5");
            let d = drain(gpo_refresh(&account, &dc, 2, 0, 0, &mut Rng::new(5)), 1_000);
            let setups: Vec<usize> =
                d.messages.iter().filter(|m| m.from == Side::Client && m.head[16] == 1).map(|m| m.len).collect();
            assert_eq!(setups.len(), 1);
            setups[0]
        };
        // As captured (`covenant_copy_smb_*`: `cifs/MORDORDC.theshire.local` with the forwarded TGT);
        // without it, the 1,901 bytes to `cifs/WORKSTATION6` with 11 more for the longer name.
        assert_eq!(setup(Delegation::ForwardedTgt), 3287);
        assert_eq!(setup(Delegation::None), 1901 + 11);
    }

    #[test]
    fn file_and_backup_transfers_move_their_bytes_in_bounded_messages() {
        let fs = Server { name: "FS01".into(), ip: Ipv4Addr::new(10, 20, 0, 20), delegation: Delegation::None };
        let docs = [
            Document { name: "a.docx".into(), bytes: 3_000_000, transfer: Transfer::Read },
            Document { name: "b.xlsx".into(), bytes: 40_000, transfer: Transfer::Write },
        ];
        let d = drain(file_server_session(&account(), &fs, "Shares", &docs, 0, &mut Rng::new(6)), 10_000);
        assert!(d.ended);
        assert!((3_000_000..3_030_000).contains(&d.server) && (40_000..60_000).contains(&d.client));
        let backup = drain(backup_upload(&account(), &fs, "Backups", &[10_000_000; 3], 0, &mut Rng::new(7)), 10_000);
        assert!(backup.ended);
        assert!((30_000_000..30_300_000).contains(&backup.client), "{}", backup.client);
        assert_eq!(count(&backup.messages, Side::Client, 9), 3 * 10_000_000usize.div_ceil(65_536));
        assert!(backup.messages.iter().all(|m| m.len <= 4 + 64 + 48 + 65_536));
    }
}
