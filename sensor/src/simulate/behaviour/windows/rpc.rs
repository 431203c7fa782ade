//! DCE/RPC associations over TCP (the endpoint mapper on 135, DCOM/WMI, the task scheduler, LSA and
//! DRSUAPI on dynamic ports): a list of `RpcOp`s run by one [`RpcClient`], each fragment its own
//! message.

use std::collections::VecDeque;

use crate::simulate::proto::dcerpc::{
    self, AuthLevel, Context, Interface, Offer, RpcAuth, RpcClient, Syntax, Transport, Uuid,
};
use crate::simulate::proto::kerberos::Principal;
use crate::simulate::proto::msrpc::{self, Ndr};
use crate::simulate::proto::smb2::Payload;
use crate::simulate::rng::Rng;
use crate::simulate::session::{Script, Side, Step};

use super::{
    Account, MS, SCH_RPC_DELETE, SCH_RPC_ENUM_TASKS, SCH_RPC_RUN, Server, Steps, TaskPlan, TaskStart, lazy,
    task_delete_stubs, task_run_stubs, task_stubs,
};

/// IRemUnknown2 and IOXIDResolver operations.
const REM_QUERY_INTERFACE: u16 = 3;
const REM_RELEASE: u16 = 5;
const SERVER_ALIVE2: u16 = 5;
const REMOTE_CREATE_INSTANCE: u16 = 4;

const fn interface(d1: u32, d2: u16, d3: u16, d4: [u8; 8], major: u16) -> Interface {
    Interface { uuid: Uuid::new(d1, d2, d3, d4), major, minor: 0 }
}

/// IWbemLoginClientID d4781cd6-e5d3-44df-ad94-930efe48a887.
const IWBEM_LOGIN_CLIENT_ID: Interface =
    interface(0xd478_1cd6, 0xe5d3, 0x44df, [0xad, 0x94, 0x93, 0x0e, 0xfe, 0x48, 0xa8, 0x87], 0);
/// IWbemLoginHelper 9f6c78ef-fce5-42fa-abea-3e7df91921dc.
const IWBEM_LOGIN_HELPER: Interface =
    interface(0x9f6c_78ef, 0xfce5, 0x42fa, [0xab, 0xea, 0x3e, 0x7d, 0xf9, 0x19, 0x21, 0xdc], 0);
/// LSARPC 12345778-1234-abcd-ef00-0123456789ab v0.0.
pub const LSARPC: Interface =
    interface(0x1234_5778, 0x1234, 0xabcd, [0xef, 0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab], 0);
/// DRSUAPI e3514235-4b06-11d1-ab04-00c04fc2dcd2 v4.0.
pub const DRSUAPI: Interface =
    interface(0xe351_4235, 0x4b06, 0x11d1, [0xab, 0x04, 0x00, 0xc0, 0x4f, 0xc2, 0xdc, 0xd2], 4);

/// Stub data of an RPC call: built NDR, or opaque bytes of a length (sealed stubs).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stub {
    Bytes(Vec<u8>),
    Opaque(usize),
}

impl Stub {
    fn payload(&self) -> Payload<'_> {
        match self {
            Stub::Bytes(b) => Payload::Bytes(b),
            Stub::Opaque(n) => Payload::Opaque(*n),
        }
    }
}

/// The security of a DCE/RPC association over TCP.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RpcSecurity {
    None,
    /// Kerberos in SPNEGO for `<service>/<host>` (e.g. `RPCSS/WS00012.corp.example`).
    Kerberos {
        service: String,
        host: String,
        level: AuthLevel,
    },
}

/// One operation of a DCE/RPC association; contexts are numbered in the order they were bound.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RpcOp {
    /// BIND of `iface` (with the third leg when authenticated); a DCOM interface gets an object id
    /// (its IPID) that its calls carry.
    Bind {
        iface: Interface,
        offer: Offer,
        dcom: bool,
    },
    /// ALTER_CONTEXT adding `iface` in the established security context.
    Alter {
        iface: Interface,
        dcom: bool,
    },
    /// A call on context `context`, answered after `work_ns`.
    Call {
        context: usize,
        opnum: u16,
        request: Stub,
        response: Stub,
        work_ns: u64,
    },
    Pause(u64),
}

struct RpcConversation {
    rpc: RpcClient,
    account: Account,
    security: RpcSecurity,
    ops: VecDeque<RpcOp>,
    contexts: Vec<(Context, Option<Uuid>)>,
}

impl RpcConversation {
    fn step(&mut self, rng: &mut Rng, steps: &mut Steps) -> bool {
        let Some(op) = self.ops.pop_front() else {
            steps.0.push_back(Step::Close(Side::Client));
            return false;
        };
        let (mut q, mut r) = (Vec::with_capacity(256), Vec::with_capacity(256));
        match op {
            RpcOp::Bind { iface, offer, dcom } => {
                let parts: Vec<&str>;
                let auth = match &self.security {
                    RpcSecurity::None => RpcAuth::None,
                    RpcSecurity::Kerberos { service, host, level } => {
                        parts = vec![service, host];
                        RpcAuth::Kerberos {
                            realm: &self.account.realm,
                            service: Principal::service(&parts),
                            level: *level,
                        }
                    }
                };
                let ctx = self.rpc.bind(rng, iface, offer, &auth, &mut q, &mut r);
                steps.fragments(Side::Client, &q);
                steps.fragments(Side::Server, &r);
                if self.rpc.needs_third_leg() {
                    q.clear();
                    r.clear();
                    self.rpc.complete_auth(rng, ctx, &auth, &mut q, &mut r);
                    steps.fragments(Side::Client, &q);
                    steps.fragments(Side::Server, &r);
                }
                self.contexts.push((ctx, dcom.then(|| Uuid::random(rng))));
            }
            RpcOp::Alter { iface, dcom } => {
                let ctx = self.rpc.alter_context(iface, &mut q, &mut r);
                steps.fragments(Side::Client, &q);
                steps.fragments(Side::Server, &r);
                self.contexts.push((ctx, dcom.then(|| Uuid::random(rng))));
            }
            RpcOp::Call { context, opnum, request, response, work_ns } => {
                let (ctx, object) = self.contexts[context];
                self.rpc.call(rng, ctx, opnum, object, request.payload(), response.payload(), &mut q, &mut r);
                steps.fragments(Side::Client, &q);
                steps.pause(work_ns);
                steps.fragments(Side::Server, &r);
            }
            RpcOp::Pause(ns) => steps.pause(ns),
        }
        true
    }
}

/// A DCE/RPC association over TCP to `port` running `ops`, then the client's close.
fn rpc_script(account: &Account, port: u16, security: RpcSecurity, ops: Vec<RpcOp>) -> Script {
    let mut conv = RpcConversation {
        rpc: RpcClient::new(Transport::Tcp { port }),
        account: account.clone(),
        security,
        ops: ops.into(),
        contexts: Vec::new(),
    };
    lazy(move |rng, steps| conv.step(rng, steps))
}

fn call(context: usize, opnum: u16, request: Stub, response: Stub, work_ns: u64) -> RpcOp {
    RpcOp::Call { context, opnum, request, response, work_ns }
}

fn opaque_call(context: usize, opnum: u16, request: usize, response: usize, work_ns: u64) -> RpcOp {
    call(context, opnum, Stub::Opaque(request), Stub::Opaque(response), work_ns)
}

/// The endpoint mapper on 135: BIND (NDR32 and NDR64 offered, NDR64 taken), `ept_map` of `iface`
/// answered with `port` on `server`, close.
pub fn epm_map(account: &Account, server: &Server, iface: Interface, port: u16) -> Script {
    let (mut q, mut r) = (Vec::new(), Vec::new());
    msrpc::ept_map_request(&mut q, iface);
    msrpc::ept_map_response(&mut r, iface, port, server.ip);
    let ops = vec![
        RpcOp::Bind { iface: dcerpc::EPM, offer: Offer::Both { server_picks: Syntax::Ndr64 }, dcom: false },
        call(0, msrpc::EPT_MAP, Stub::Bytes(q), Stub::Bytes(r), 0),
    ];
    rpc_script(account, 135, RpcSecurity::None, ops)
}

/// A WMI remote execution's three TCP sessions: the DCOM activation on 135, the OXID resolver's
/// ServerAlive2 on 135, and the WMI association on the dynamic port the activation named.
pub struct WmiExec {
    pub activation: Script,
    pub resolver: Script,
    pub dcom: Script,
}

/// What a WMI execution runs on the dynamic port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WmiPlan {
    /// The dynamic port of the WMI provider host (49152–65535), named by the activation.
    pub port: u16,
    /// IWbemServices::ExecMethod calls (Win32_Process.Create), seconds apart.
    pub exec_methods: u32,
    /// Request stub of each ExecMethod (7 080 measured: an encoded PowerShell command line).
    pub exec_stub_bytes: usize,
}

/// The DUALSTRINGARRAY answer of IOXIDResolver::ServerAlive2 (MS-DCOM 3.1.2.5.1.6): COM version
/// 5.7, string bindings (ncacn_ip_tcp with the server's name and address), security bindings
/// (Negotiate, NTLM, Kerberos), reserved, status.
fn server_alive2_response(server: &Server) -> Vec<u8> {
    let mut array: Vec<u16> = Vec::new();
    for address in [server.name.clone(), server.ip.to_string()] {
        array.push(0x07);
        array.extend(address.encode_utf16());
        array.push(0);
    }
    array.push(0);
    let security_offset = array.len() as u16;
    for authn in [0x09, 0x0a, 0x10] {
        array.extend([authn, 0xffff, 0]);
    }
    array.push(0);
    let mut out = Vec::new();
    let mut ndr = Ndr::new(&mut out, Syntax::Ndr32);
    ndr.bytes(&[5, 0, 7, 0]);
    ndr.pointer(true);
    ndr.u32(array.len() as u32);
    ndr.bytes(&(array.len() as u16).to_le_bytes());
    ndr.bytes(&security_offset.to_le_bytes());
    for unit in &array {
        ndr.bytes(&unit.to_le_bytes());
    }
    ndr.u32(0);
    ndr.u32(0);
    out
}

/// WMI remote execution as `Invoke-WmiMethod -ComputerName` runs it (see the module doc).
pub fn wmi_exec(account: &Account, server: &Server, plan: &WmiPlan, rng: &mut Rng) -> WmiExec {
    let fqdn = server.fqdn(account);
    let privacy = |service: &str| RpcSecurity::Kerberos {
        service: service.to_string(),
        host: fqdn.clone(),
        level: AuthLevel::Privacy,
    };
    let linger = rng.range(10_000, 11_000) * MS;
    let activation = rpc_script(
        account,
        135,
        privacy("RPCSS"),
        vec![
            RpcOp::Bind { iface: dcerpc::ISYSTEM_ACTIVATOR, offer: Offer::Ndr32, dcom: false },
            opaque_call(0, REMOTE_CREATE_INSTANCE, 824, 912, rng.range(1, 3) * MS),
            RpcOp::Pause(linger),
        ],
    );
    let resolver = rpc_script(
        account,
        135,
        RpcSecurity::None,
        vec![
            RpcOp::Bind { iface: dcerpc::IOXID_RESOLVER, offer: Offer::Ndr32, dcom: false },
            call(0, SERVER_ALIVE2, Stub::Bytes(Vec::new()), Stub::Bytes(server_alive2_response(server)), 0),
            RpcOp::Pause(linger),
        ],
    );
    let mut ops = vec![
        RpcOp::Bind { iface: dcerpc::IREMUNKNOWN2, offer: Offer::Both { server_picks: Syntax::Ndr32 }, dcom: true },
        opaque_call(0, REM_QUERY_INTERFACE, 80, 80, 0),
        opaque_call(0, REM_QUERY_INTERFACE, 80, 80, 0),
        RpcOp::Alter { iface: IWBEM_LOGIN_CLIENT_ID, dcom: true },
        opaque_call(1, 3, 96, 16, 0),
        RpcOp::Alter { iface: IWBEM_LOGIN_HELPER, dcom: true },
        opaque_call(2, 3, 176, 16, 0),
        RpcOp::Alter { iface: dcerpc::IWBEM_LEVEL1_LOGIN, dcom: true },
        opaque_call(3, 3, 48, 16, 0),
        // IWbemLevel1Login::NTLMLogin, then the login objects released.
        opaque_call(3, 6, 176, 192, rng.range(1, 3) * MS),
        opaque_call(0, REM_RELEASE, 112, 16, 0),
        RpcOp::Alter { iface: dcerpc::IWBEM_SERVICES, dcom: true },
        // GetObject of Win32_Process (class and its method's parameter class).
        opaque_call(4, 6, 160, 21_776, rng.range(3, 6) * MS),
        opaque_call(4, 6, 128, 21_776, rng.range(1, 3) * MS),
    ];
    for i in 0..plan.exec_methods {
        if i > 0 {
            ops.push(RpcOp::Pause(rng.range(1_000, 10_000) * MS));
        }
        ops.push(opaque_call(4, 24, plan.exec_stub_bytes, 1_168, rng.range(100, 160) * MS));
    }
    ops.push(RpcOp::Pause(rng.range(4_000, 6_000) * MS));
    ops.push(opaque_call(0, REM_RELEASE, 64, 16, 0));
    WmiExec { activation, resolver, dcom: rpc_script(account, plan.port, privacy("host"), ops) }
}

/// A remote scheduled task the schtasks.exe /S way, on the dynamic port [`epm_map`] named: Kerberos
/// (`HOST/<host>`) at packet privacy, NDR64, SchRpcHighestVersion, SchRpcEnumTasks,
/// SchRpcRegisterTask, and SchRpcRun for [`TaskStart::Now`].
pub fn schtask_create_tcp(account: &Account, server: &Server, port: u16, plan: &TaskPlan, rng: &mut Rng) -> Script {
    let security =
        RpcSecurity::Kerberos { service: "HOST".into(), host: server.name.to_lowercase(), level: AuthLevel::Privacy };
    let (register, registered) = task_stubs(plan, Syntax::Ndr64, rng);
    let mut ops = vec![
        RpcOp::Bind { iface: dcerpc::ITASK_SCHEDULER, offer: Offer::Both { server_picks: Syntax::Ndr64 }, dcom: false },
        opaque_call(0, msrpc::SCH_RPC_HIGHEST_VERSION, 64, 16, MS),
        opaque_call(0, SCH_RPC_ENUM_TASKS, 48, 224, MS),
        call(0, msrpc::SCH_RPC_REGISTER_TASK, Stub::Bytes(register), Stub::Bytes(registered), rng.range(15, 30) * MS),
    ];
    if plan.start == TaskStart::Now {
        let (q, r) = task_run_stubs(&plan.path, Syntax::Ndr64, rng);
        ops.push(call(0, SCH_RPC_RUN, Stub::Bytes(q), Stub::Bytes(r), rng.range(5, 20) * MS));
    }
    rpc_script(account, port, security, ops)
}

/// The clean-up of a task registered earlier: SchRpcDelete on a new association.
pub fn schtask_delete_tcp(account: &Account, server: &Server, port: u16, path: &str) -> Script {
    let security =
        RpcSecurity::Kerberos { service: "HOST".into(), host: server.name.to_lowercase(), level: AuthLevel::Privacy };
    let (q, r) = task_delete_stubs(path, Syntax::Ndr64);
    let ops = vec![
        RpcOp::Bind { iface: dcerpc::ITASK_SCHEDULER, offer: Offer::Both { server_picks: Syntax::Ndr64 }, dcom: false },
        opaque_call(0, msrpc::SCH_RPC_HIGHEST_VERSION, 64, 16, MS),
        call(0, SCH_RPC_DELETE, Stub::Bytes(q), Stub::Bytes(r), 5 * MS),
    ];
    rpc_script(account, port, security, ops)
}

/// LSA name and SID lookups with a DC on its LSA port (what Explorer's security tab, `net user
/// /domain` and group-membership checks do): Kerberos at packet privacy, LsarOpenPolicy2,
/// `lookups` LsarLookupSids2/LsarLookupNames3, LsarClose.
pub fn lsa_lookup(account: &Account, dc: &Server, port: u16, lookups: u32, rng: &mut Rng) -> Script {
    let security = RpcSecurity::Kerberos { service: "host".into(), host: dc.fqdn(account), level: AuthLevel::Privacy };
    let mut ops = vec![
        RpcOp::Bind { iface: LSARPC, offer: Offer::Both { server_picks: Syntax::Ndr64 }, dcom: false },
        opaque_call(0, 44, 96, 24, MS),
    ];
    for _ in 0..lookups {
        let names = rng.range(1, 12) as usize;
        let (opnum, request, response) = if rng.chance(0.5) {
            (57, 64 + 40 * names, 120 + 90 * names)
        } else {
            (76, 64 + 48 * names, 140 + 40 * names)
        };
        ops.push(opaque_call(0, opnum, request, response, rng.range(1, 4) * MS));
    }
    ops.push(opaque_call(0, 0, 24, 24, 0));
    rpc_script(account, port, security, ops)
}

/// Directory replication pulled by one DC from another on its DRSUAPI port: IDL_DRSBind,
/// IDL_DRSGetNCChanges for each naming context (answers of `changes` bytes in total), IDL_DRSUnbind.
pub fn drs_replication(account: &Account, source: &Server, port: u16, changes: u64, rng: &mut Rng) -> Script {
    let security = RpcSecurity::Kerberos {
        service: "E3514235-4B06-11D1-AB04-00C04FC2DCD2".into(),
        host: source.fqdn(account),
        level: AuthLevel::Privacy,
    };
    let mut ops = vec![
        RpcOp::Bind { iface: DRSUAPI, offer: Offer::Both { server_picks: Syntax::Ndr64 }, dcom: false },
        opaque_call(0, 0, 120, 112, 2 * MS),
    ];
    let contexts = rng.range(3, 6);
    for _ in 0..contexts {
        let bytes = (changes / contexts).max(400) as usize;
        ops.push(opaque_call(0, 3, rng.range(280, 420) as usize, bytes, rng.range(2, 20) * MS));
    }
    ops.push(opaque_call(0, 1, 24, 32, 0));
    rpc_script(account, port, security, ops)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::{Message, SECOND, drain};
    use super::*;

    fn account() -> Account {
        super::super::test_account()
    }

    fn target() -> Server {
        super::super::test_server()
    }

    /// (side, PDU type, fragment length) of each message, checking that each is one whole PDU.
    fn pdus(messages: &[Message]) -> Vec<(Side, u8, usize)> {
        messages
            .iter()
            .map(|m| {
                assert_eq!(m.head[..2], [5, 0]);
                let frag = u16::from_le_bytes([m.head[8], m.head[9]]) as usize;
                assert_eq!(frag, m.len, "a message is one fragment");
                (m.from, m.head[2], frag)
            })
            .collect()
    }

    #[test]
    fn endpoint_mapper_lookup_has_windows_sizes() {
        let d = drain(epm_map(&account(), &target(), dcerpc::ITASK_SCHEDULER, 49_671), 20);
        assert!(d.ended);
        let sizes: Vec<usize> = pdus(&d.messages).iter().map(|p| p.2).collect();
        // schtask_create_*: bind 160, bind_ack 108, map request 168, response 172.
        assert_eq!(sizes, [160, 108, 168, 172]);
    }

    #[test]
    fn wmi_execution_runs_three_associations() {
        let plan = WmiPlan { port: 50_937, exec_methods: 1, exec_stub_bytes: 7_080 };
        let wmi = wmi_exec(&account(), &target(), &plan, &mut Rng::new(1));
        let activation = drain(wmi.activation, 100);
        let resolver = drain(wmi.resolver, 100);
        let dcom = drain(wmi.dcom, 1_000);
        assert!(activation.ended && resolver.ended && dcom.ended);
        // The 135 connections idle ~10 s before closing.
        assert!(activation.pauses_ns >= 10 * SECOND && resolver.pauses_ns >= 10 * SECOND);
        let resolver_pdus = pdus(&resolver.messages);
        assert_eq!(resolver_pdus.iter().map(|p| p.2).collect::<Vec<_>>()[2], 24, "ServerAlive2 request");
        let dcom_pdus = pdus(&dcom.messages);
        assert!(dcom_pdus.iter().all(|p| p.2 <= dcerpc::MAX_FRAG_TCP as usize));
        // ExecMethod: 5836 + 1500 as measured, then RemRelease (140 at integrity level, 188 sealed);
        // each GetObject answer 3 × 5836 + 4700.
        let requests: Vec<usize> = dcom_pdus.iter().filter(|p| p.0 == Side::Client && p.1 == 0).map(|p| p.2).collect();
        assert!(requests.ends_with(&[5_836, 1_500, 188]), "{requests:?}");
        let big = dcom_pdus.iter().filter(|p| p.0 == Side::Server && p.2 == 5_836).count();
        assert_eq!(big, 6);
        // The capture's association: 47 782 bytes from the server, 15 923 from the client (two of
        // them the 1 917-byte authenticated ALTER_CONTEXTs replaced here by plain ones).
        assert!(dcom.server.abs_diff(47_782) < 1_500, "{}", dcom.server);
        assert!(dcom.client.abs_diff(15_923 - 2 * (1_917 - 72)) < 1_000, "{}", dcom.client);
    }

    #[test]
    fn more_and_bigger_exec_methods() {
        let plan = WmiPlan { port: 50_000, exec_methods: 5, exec_stub_bytes: 30_000 };
        let d = drain(wmi_exec(&account(), &target(), &plan, &mut Rng::new(2)).dcom, 1_000);
        assert!(d.ended && d.client > 5 * 30_000);
        let answers = pdus(&d.messages).iter().filter(|p| p.0 == Side::Server && p.2 == 1_276).count();
        assert_eq!(answers, 5);
    }

    #[test]
    fn schtasks_over_tcp_matches_the_capture() {
        let task = TaskPlan {
            path: "\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager".into(),
            command: "C:\\Windows\\system32\\cmd.exe".into(),
            arguments: "/C C:\\Windows\\System32\\notepad.exe".into(),
            author: "CORP\\anna.berg".into(),
            start: TaskStart::OnTrigger,
            output_bytes: 0,
        };
        let d = drain(schtask_create_tcp(&account(), &target(), 49_671, &task, &mut Rng::new(3)), 100);
        assert!(d.ended);
        let sizes: Vec<usize> = pdus(&d.messages).iter().map(|p| p.2).collect();
        // schtask_create_*: alter_context 220 / 105, HighestVersion 172 / 124, EnumTasks 156 / 332,
        // RegisterTask ≈3292 / 284.
        assert_eq!(sizes[2..8], [220, 105, 172, 124, 156, 332]);
        assert!((2_900..3_600).contains(&sizes[8]) && sizes[9] < 400, "{sizes:?}");
        let delete = drain(schtask_delete_tcp(&account(), &target(), 49_671, &task.path), 100);
        assert!(delete.ended);
    }

    #[test]
    fn lsa_and_replication_sessions_end() {
        let dc = Server {
            name: "DC02".into(),
            ip: Ipv4Addr::new(10, 20, 0, 11),
            delegation: super::super::Delegation::ForwardedTgt,
        };
        let lsa = drain(lsa_lookup(&account(), &dc, 49_668, 3, &mut Rng::new(4)), 100);
        assert!(lsa.ended && pdus(&lsa.messages).len() == 2 + 2 + 2 * 5);
        let drs = drain(drs_replication(&account(), &dc, 49_668, 100_000, &mut Rng::new(5)), 200);
        assert!(drs.ended && (100_000..130_000).contains(&drs.server), "{}", drs.server);
    }
}
