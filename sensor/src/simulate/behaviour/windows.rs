//! Windows-domain conversations as session scripts: SMB2 on 445 (PsExec, scheduled tasks through
//! `\pipe\atsvc`, failed logons of a password spray, Group Policy refresh, file-server use, backups),
//! DCE/RPC on 135 and dynamic ports (DCOM/WMI, the task scheduler, LSA lookups, replication),
//! Kerberos on 88 and LDAP on 389. Benign behaviours and attacks use the same conversations, so a
//! model has to tell them apart by who talks to whom, when and how much, not by packet format.
//!
//! A conversation is a short list of operations (`SmbOp`, `RpcOp`) fixed when the actor starts
//! it (RPC stubs are built then, from the actor's generator); the script runs them lazily, one
//! exchange at a time, so a 2 GB backup holds one 64 KiB WRITE in memory. Every SMB message and every
//! DCE/RPC fragment is its own [`Step::Send`]: TCP pushes each, as Windows writes them.
//!
//! `smb` holds the SMB2 conversations, `rpc` those of DCE/RPC over TCP; Kerberos and LDAP, and what
//! both kinds share, are here.
//!
//! Calibrated on the OTRF captures (`/work/shared/data/otrf-lateral-movement`):
//! - `covenant_sharpsc_create_dcerpc_smb_svcctl_*`: the SMB message sequence of a remote service
//!   creation (negotiate, Kerberos session setup, IPC$ and its interface query, `svcctl` opened and
//!   bound by WRITE/READ, calls by FSCTL_PIPE_TRANSCEIVE, CLOSE, then TREE_DISCONNECT and LOGOFF
//!   about ten seconds later); the byte sizes are the builders' (see `proto::smb2`).
//! - `empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_*`: a TGS-REQ for `RPCSS/<host>`, the activation
//!   on 135 (ISystemActivator, RemoteCreateInstance 848 / 936 bytes), a second 135 connection for
//!   IOXIDResolver ServerAlive2 (24 / 148), a TGS-REQ for `host/<host>`, then the dynamic port:
//!   IRemUnknown2, the WMI login interfaces, two IWbemServices::GetObject answers of 21 776 stub bytes
//!   and ExecMethod (7 080 request stub bytes, 1 168 answer after ~130 ms). The 135 connections stay
//!   open ~10 s after their last call. Windows activates at connect level and adds per-interface
//!   security contexts; here one Kerberos context at packet privacy covers each association (the
//!   stubs are then sealed, so none of them has to be valid NDR), and later interfaces are added by
//!   plain ALTER_CONTEXT.
//! - `schtask_create_*` (schtasks.exe /S): EPM on 135 (ept_map of ITaskSchedulerService), then the
//!   dynamic port with Kerberos (`HOST/<host>`) at packet privacy: SchRpcHighestVersion (64 / 16 stub
//!   bytes), SchRpcEnumTasks (48 / 224), SchRpcRegisterTask (≈3 200 / 176, answered after ~20 ms).
//!   Impacket's atexec does the same through `\pipe\atsvc` on an SMB session, with clear NDR stubs.
//! - `empire_psexec_dcerpc_tcp_svcctl_*`: StartService answered after ~40 ms.
//!
//! Spraying (NTLM STATUS_LOGON_FAILURE, Kerberos PREAUTH_FAILED), GPO refresh, file-server and backup
//! sessions, LSA and replication traffic are not in those captures; they follow MS-SMB2, MS-KILE and
//! MS-DRSR message sequences with the measured per-message sizes.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use crate::simulate::proto::dcerpc::{Syntax, Uuid};
use crate::simulate::proto::kerberos::{self, AsReq, ErrorCode, KrbError, Principal};
use crate::simulate::proto::ldap::{Entry, Filter, LdapClient, Protection, Scope, Search};
use crate::simulate::proto::msrpc::{self, Ndr, Task};
use crate::simulate::rng::Rng;
use crate::simulate::session::{Script, Side, Step, script_of};

pub use crate::simulate::proto::smb2::Delegation;

mod rpc;
mod smb;

pub use rpc::{
    DRSUAPI, LSARPC, WmiExec, WmiPlan, drs_replication, epm_map, lsa_lookup, schtask_create_tcp, schtask_delete_tcp,
    wmi_exec,
};
pub use smb::{
    Document, PsexecPlan, ServiceCleanup, ToolPipes, Transfer, backup_upload, file_server_session, gpo_refresh, psexec,
    schtask_create, smb_logon_spray,
};

const MS: u64 = 1_000_000;
const SECOND: u64 = 1_000 * MS;
/// ITaskSchedulerService operations beyond those `msrpc` builds.
const SCH_RPC_ENUM_TASKS: u16 = 7;
const SCH_RPC_RUN: u16 = 12;
const SCH_RPC_DELETE: u16 = 13;

/// The domain, and the account and machine a conversation's client acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Kerberos realm, e.g. `CORP.EXAMPLE`.
    pub realm: String,
    /// NetBIOS domain name, e.g. `CORP`.
    pub nb_domain: String,
    pub dns_domain: String,
    pub user: String,
    /// NetBIOS name of the client machine.
    pub workstation: String,
}

impl Account {
    /// `user` on `workstation` in the domain `dns_domain` (e.g. "corp.example").
    pub fn new(dns_domain: &str, user: &str, workstation: &str) -> Account {
        let nb = dns_domain.split('.').next().unwrap_or(dns_domain).to_uppercase();
        Account {
            realm: dns_domain.to_uppercase(),
            nb_domain: nb,
            dns_domain: dns_domain.to_string(),
            user: user.to_string(),
            workstation: workstation.to_string(),
        }
    }
}

/// The server end of a conversation: its NetBIOS name and address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub name: String,
    pub ip: Ipv4Addr,
    /// Whether Kerberos clients forward their TGT to it (domain controllers).
    pub delegation: Delegation,
}

impl Server {
    fn fqdn(&self, account: &Account) -> String {
        format!("{}.{}", self.name, account.dns_domain)
    }
}

/// How an SMB session authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthKind {
    Kerberos,
    Ntlm,
}

/// Steps waiting to be handed to the transport.
#[derive(Default)]
struct Steps(VecDeque<Step>);

impl Steps {
    fn send(&mut self, from: Side, bytes: Vec<u8>) {
        if !bytes.is_empty() {
            self.0.push_back(Step::Send { from, bytes });
        }
    }

    fn exchange(&mut self, req: Vec<u8>, resp: Vec<u8>) {
        self.send(Side::Client, req);
        self.send(Side::Server, resp);
    }

    fn pause(&mut self, ns: u64) {
        if ns > 0 {
            self.0.push_back(Step::Pause(ns));
        }
    }

    /// A stream of DCE/RPC PDUs from one side, one message per fragment.
    fn fragments(&mut self, from: Side, stream: &[u8]) {
        let mut at = 0;
        while at < stream.len() {
            let frag = stream.get(at + 8..at + 10).map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])));
            let len = frag.clamp(1, stream.len() - at);
            self.send(from, stream[at..at + len].to_vec());
            at += len;
        }
    }
}

/// A script that asks `fill` for more steps whenever it has handed out the previous ones; `fill`
/// returns false once it has queued the last.
fn lazy(mut fill: impl FnMut(&mut Rng, &mut Steps) -> bool + Send + 'static) -> Script {
    let mut steps = Steps::default();
    let mut more = true;
    Box::new(move |rng: &mut Rng| {
        loop {
            if let Some(step) = steps.0.pop_front() {
                return Some(step);
            }
            if !more {
                return None;
            }
            more = fill(rng, &mut steps);
        }
    })
}

/// When a registered task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskStart {
    /// At its trigger (boot, a time): registration only.
    OnTrigger,
    /// At once, by SchRpcRun (atexec also deletes it a few seconds later).
    Now,
}

/// A task registered through ITaskSchedulerService.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPlan {
    /// Task path, e.g. `\Microsoft\Windows\UpdateCheck`.
    pub path: String,
    pub command: String,
    pub arguments: String,
    pub author: String,
    pub start: TaskStart,
    /// Output the command wrote to a file in ADMIN$\Temp and the client reads back (0: none).
    pub output_bytes: u64,
}

/// SchRpcRegisterTask of the plan's task (TASK_CREATE) and its answer.
fn task_stubs(plan: &TaskPlan, syntax: Syntax, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let task = Task { path: &plan.path, command: &plan.command, arguments: &plan.arguments, author: &plan.author };
    let (mut q, mut r) = (Vec::new(), Vec::new());
    msrpc::sch_register_task_request(&mut q, rng, syntax, &task);
    msrpc::sch_register_task_response(&mut r, syntax, &plan.path);
    (q, r)
}

/// SchRpcRun of `path` without arguments, and its answer: the instance GUID and S_OK.
fn task_run_stubs(path: &str, syntax: Syntax, rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let mut q = Vec::new();
    let mut ndr = Ndr::new(&mut q, syntax);
    ndr.wstr(path);
    ndr.u32(0);
    ndr.pointer(false);
    ndr.u32(0);
    ndr.u32(0);
    ndr.unique_wstr(None);
    let mut r = Uuid::random(rng).0.to_vec();
    r.extend_from_slice(&0u32.to_le_bytes());
    (q, r)
}

/// SchRpcDelete of `path` and its S_OK.
fn task_delete_stubs(path: &str, syntax: Syntax) -> (Vec<u8>, Vec<u8>) {
    let mut q = Vec::new();
    let mut ndr = Ndr::new(&mut q, syntax);
    ndr.wstr(path);
    ndr.u32(0);
    (q, 0u32.to_le_bytes().to_vec())
}

/// The Group Policy objects of the simulated domain: the two defaults Windows creates, then the
/// site's own.
const GPO_GUIDS: [&str; 8] = [
    "{31B2F340-016D-11D2-945F-00C04FB984F9}",
    "{6AC1786C-016F-11D2-945F-00C04FB984F9}",
    "{2F1B7C34-6A1E-4E47-9C2A-7D3A51E0B4C1}",
    "{8D4E1F60-3B2C-4A7E-B1D9-5C6F0A2E9D83}",
    "{A3C5E7F9-1B2D-4F6A-8C0E-2D4F6A8C0E1B}",
    "{C9E1A3B5-7D9F-4B1D-A3C5-E7F9B1D3F5A7}",
    "{5B7D9F1A-3C5E-4A7C-9E1B-3D5F7A9C1E3D}",
    "{E2F4A6C8-0B1D-4E3F-A5B7-C9D1E3F5A7B9}",
];

/// A TGS exchange on 88: the TGS-REQ for `service/host`, the TGS-REP, the client's close.
pub fn kerberos_tgs(account: &Account, service: &str, host: &str, rng: &mut Rng) -> Script {
    let parts = [service, host];
    let principal = Principal::service(&parts);
    let (mut q, mut r) = (Vec::new(), Vec::new());
    kerberos::tgs_req(&mut q, rng, &account.realm, &principal);
    kerberos::tgs_rep(&mut r, rng, &account.realm, &account.user, &principal);
    script_of(vec![
        Step::Send { from: Side::Client, bytes: q },
        Step::Send { from: Side::Server, bytes: r },
        Step::Close(Side::Client),
    ])
}

/// How an AS exchange ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOutcome {
    /// The right password: AS-REP with the TGT.
    Ticket,
    /// A wrong password: KRB-ERROR PREAUTH_FAILED.
    WrongPassword,
    /// No such account: KRB-ERROR C_PRINCIPAL_UNKNOWN to the first AS-REQ, no second.
    UnknownUser,
}

/// The AS exchanges of one logon attempt, one TCP connection each as Windows makes them: AS-REQ
/// without pre-authentication → PREAUTH_REQUIRED (or C_PRINCIPAL_UNKNOWN), then AS-REQ with
/// PA-ENC-TIMESTAMP → AS-REP or PREAUTH_FAILED. A spray is a series of these with wrong passwords.
pub fn kerberos_as(account: &Account, outcome: AsOutcome, now_ns: u64, rng: &mut Rng) -> Vec<Script> {
    let mut scripts = vec![as_exchange(account, false, outcome, now_ns, rng)];
    if outcome != AsOutcome::UnknownUser {
        scripts.push(as_exchange(account, true, outcome, now_ns, rng));
    }
    scripts
}

/// One AS-REQ that carries PA-ENC-TIMESTAMP from the start, as spraying tools (kerbrute) send it:
/// AS-REP, PREAUTH_FAILED or C_PRINCIPAL_UNKNOWN in one TCP connection.
pub fn kerberos_as_preauth(account: &Account, outcome: AsOutcome, now_ns: u64, rng: &mut Rng) -> Script {
    as_exchange(account, true, outcome, now_ns, rng)
}

/// One AS-REQ without pre-authentication, as a user enumeration (kerbrute `userenum`) sends it: the
/// KDC answers PREAUTH_REQUIRED for a name it knows and C_PRINCIPAL_UNKNOWN for one it does not, and
/// no password is tried.
pub fn kerberos_as_probe(account: &Account, known: bool, now_ns: u64, rng: &mut Rng) -> Script {
    let outcome = if known { AsOutcome::Ticket } else { AsOutcome::UnknownUser };
    as_exchange(account, false, outcome, now_ns, rng)
}

fn as_exchange(account: &Account, preauth: bool, outcome: AsOutcome, now_ns: u64, rng: &mut Rng) -> Script {
    let (realm, user) = (&account.realm, &account.user);
    let (mut q, mut r) = (Vec::new(), Vec::new());
    kerberos::as_req(&mut q, rng, &AsReq { realm, user, client_netbios: &account.workstation, preauth });
    let code = match (preauth, outcome) {
        (_, AsOutcome::UnknownUser) => Some(ErrorCode::ClientUnknown),
        (false, _) => Some(ErrorCode::PreauthRequired),
        (true, AsOutcome::WrongPassword) => Some(ErrorCode::PreauthFailed),
        (true, AsOutcome::Ticket) => None,
    };
    match code {
        Some(code) => kerberos::krb_error(&mut r, rng, now_ns, &KrbError { code, realm, user }),
        None => kerberos::as_rep(&mut r, rng, realm, user),
    }
    script_of(vec![
        Step::Send { from: Side::Client, bytes: q },
        Step::Send { from: Side::Server, bytes: r },
        Step::Close(Side::Client),
    ])
}

/// A directory entry as the server returns it: DN and (attribute, values).
type OwnedEntry = (String, Vec<(&'static str, Vec<Vec<u8>>)>);
/// An attribute as [`Entry`] borrows it.
type Attribute<'a> = (&'a str, &'a [&'a [u8]]);

/// `search` answered by `entries`.
fn search(ldap: &mut LdapClient, rng: &mut Rng, search: &Search, entries: &[OwnedEntry]) -> (Vec<u8>, Vec<u8>) {
    let values: Vec<Vec<Vec<&[u8]>>> = entries
        .iter()
        .map(|(_, attrs)| attrs.iter().map(|(_, vs)| vs.iter().map(Vec::as_slice).collect()).collect())
        .collect();
    let attrs: Vec<Vec<Attribute>> = entries
        .iter()
        .zip(&values)
        .map(|((_, attrs), vs)| attrs.iter().zip(vs).map(|((name, _), v)| (*name, v.as_slice())).collect())
        .collect();
    let list: Vec<Entry> = entries.iter().zip(&attrs).map(|((dn, _), a)| Entry { dn, attributes: a }).collect();
    let (mut q, mut r) = (Vec::new(), Vec::new());
    ldap.search(rng, search, &list, &mut q, &mut r);
    (q, r)
}

/// An LDAP session with a DC on 389 as Windows runs it at logon and policy refresh: a sealed
/// Kerberos GSS-SPNEGO bind, `searches` (1–3) searches (the rootDSE; the user's object; the Group
/// Policy containers), unbind.
pub fn ldap_query(account: &Account, dc: &Server, searches: u32, rng: &mut Rng) -> Script {
    let mut ldap = LdapClient::new(Protection::Sealed);
    let base = account.dns_domain.split('.').map(|p| format!("DC={p}")).collect::<Vec<_>>().join(",");
    let fqdn = dc.fqdn(account);
    let (mut q, mut r) = (Vec::new(), Vec::new());
    ldap.bind_kerberos(rng, &account.realm, &fqdn, &mut q, &mut r);
    let mut steps = vec![Step::Send { from: Side::Client, bytes: q }, Step::Send { from: Side::Server, bytes: r }];
    for i in 0..searches.clamp(1, 3) {
        let (q, r) = match i {
            0 => {
                let entry = vec![
                    ("defaultNamingContext", vec![base.clone().into_bytes()]),
                    ("dnsHostName", vec![fqdn.clone().into_bytes()]),
                    ("supportedLDAPVersion", vec![b"3".to_vec(), b"2".to_vec()]),
                ];
                let attributes = ["defaultNamingContext", "dnsHostName", "supportedLDAPVersion"];
                let filter = Filter::Present("objectClass");
                let s = Search { base: "", scope: Scope::BaseObject, filter, attributes: &attributes, page_size: None };
                search(&mut ldap, rng, &s, &[(String::new(), entry)])
            }
            1 => {
                let groups = (0..rng.range(3, 15)).map(|g| format!("CN=Group{g:03},OU=Groups,{base}").into_bytes());
                let entry = vec![
                    ("sAMAccountName", vec![account.user.clone().into_bytes()]),
                    ("objectSid", vec![opaque_sid(rng)]),
                    ("memberOf", groups.collect()),
                    ("userAccountControl", vec![b"512".to_vec()]),
                ];
                let attributes = ["sAMAccountName", "objectSid", "memberOf", "userAccountControl"];
                let filter = Filter::Equal("sAMAccountName", &account.user);
                let s = Search {
                    base: &base,
                    scope: Scope::WholeSubtree,
                    filter,
                    attributes: &attributes,
                    page_size: None,
                };
                search(&mut ldap, rng, &s, &[(format!("CN={},CN=Users,{base}", account.user), entry)])
            }
            _ => {
                let count = rng.range(2, GPO_GUIDS.len() as u64 + 1) as usize;
                let entries: Vec<OwnedEntry> = GPO_GUIDS[..count]
                    .iter()
                    .map(|g| {
                        let path = format!("\\\\{0}\\sysvol\\{0}\\Policies\\{g}", account.dns_domain);
                        let attrs =
                            vec![("gPCFileSysPath", vec![path.into_bytes()]), ("versionNumber", vec![b"7".to_vec()])];
                        (format!("CN={g},CN=Policies,CN=System,{base}"), attrs)
                    })
                    .collect();
                let attributes = ["gPCFileSysPath", "versionNumber"];
                let filter = Filter::Equal("objectClass", "groupPolicyContainer");
                let s = Search {
                    base: &base,
                    scope: Scope::WholeSubtree,
                    filter,
                    attributes: &attributes,
                    page_size: Some(1000),
                };
                search(&mut ldap, rng, &s, &entries)
            }
        };
        steps.push(Step::Send { from: Side::Client, bytes: q });
        steps.push(Step::Send { from: Side::Server, bytes: r });
    }
    let mut q = Vec::new();
    ldap.unbind(rng, &mut q);
    steps.push(Step::Send { from: Side::Client, bytes: q });
    steps.push(Step::Close(Side::Client));
    script_of(steps)
}

/// A domain account SID in binary form (S-1-5-21-x-y-z-rid).
fn opaque_sid(rng: &mut Rng) -> Vec<u8> {
    let mut sid = vec![1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0];
    for _ in 0..3 {
        sid.extend_from_slice(&rng.next_u32().to_le_bytes());
    }
    sid.extend_from_slice(&(rng.range(1_100, 20_000) as u32).to_le_bytes());
    sid
}

/// Test support: one message a script sent, its length and its first 256 bytes (the headers).
#[cfg(test)]
#[derive(Debug)]
struct Message {
    from: Side,
    len: usize,
    head: Vec<u8>,
}

/// Test support: what a script sent, run to its end.
#[cfg(test)]
#[derive(Debug, Default)]
struct Drained {
    client: u64,
    server: u64,
    messages: Vec<Message>,
    pauses_ns: u64,
    ended: bool,
}

/// Runs `script` for at most `limit` steps.
#[cfg(test)]
fn drain(mut script: Script, limit: usize) -> Drained {
    let mut rng = Rng::new(4);
    let mut d = Drained::default();
    for _ in 0..limit {
        match script(&mut rng) {
            None => {
                d.ended = true;
                break;
            }
            Some(Step::Send { from, mut bytes }) => {
                let len = bytes.len();
                *if from == Side::Client { &mut d.client } else { &mut d.server } += len as u64;
                bytes.truncate(256);
                d.messages.push(Message { from, len, head: bytes });
            }
            Some(Step::Pause(ns)) => d.pauses_ns += ns,
            Some(Step::Close(_) | Step::Reset(_)) => {}
        }
    }
    d
}

/// The account the conversation tests log on with.
#[cfg(test)]
fn test_account() -> Account {
    Account::new("corp.example", "anna.berg", "WS00012")
}

/// The server the conversation tests talk to.
#[cfg(test)]
fn test_server() -> Server {
    Server { name: "WS00031".into(), ip: std::net::Ipv4Addr::new(10, 10, 0, 40), delegation: Delegation::None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        test_account()
    }

    fn dc() -> Server {
        Server { name: "DC01".into(), ip: Ipv4Addr::new(10, 20, 0, 10), delegation: Delegation::ForwardedTgt }
    }

    #[test]
    fn account_names_follow_the_domain() {
        let a = account();
        assert_eq!((a.realm.as_str(), a.nb_domain.as_str()), ("CORP.EXAMPLE", "CORP"));
        assert_eq!(dc().fqdn(&a), "DC01.corp.example");
    }

    #[test]
    fn lazy_scripts_hand_out_steps_in_order_and_end() {
        let mut round = 0;
        let script = lazy(move |_, steps| {
            round += 1;
            steps.exchange(vec![round; 3], vec![round; 5]);
            round < 3
        });
        let d = drain(script, 100);
        assert!(d.ended);
        assert_eq!((d.client, d.server), (9, 15));
        let firsts: Vec<(Side, u8)> = d.messages.iter().map(|m| (m.from, m.head[0])).collect();
        assert_eq!(firsts[..3], [(Side::Client, 1), (Side::Server, 1), (Side::Client, 2)]);
    }

    #[test]
    fn fragments_are_separate_messages() {
        let mut steps = Steps::default();
        let pdu = |len: u16| {
            let mut p = vec![5, 0, 0, 3, 0x10, 0, 0, 0];
            p.extend_from_slice(&len.to_le_bytes());
            p.resize(len as usize, 0);
            p
        };
        steps.fragments(Side::Server, &[pdu(40), pdu(5_836), pdu(24)].concat());
        let lens: Vec<usize> =
            steps.0.iter().map(|s| if let Step::Send { bytes, .. } = s { bytes.len() } else { 0 }).collect();
        assert_eq!(lens, [40, 5_836, 24]);
    }

    #[test]
    fn tgs_exchange_has_the_measured_sizes() {
        let d = drain(kerberos_tgs(&account(), "cifs", "WS00031", &mut Rng::new(1)), 10);
        assert!(d.ended);
        // empire_wmi_*: TGS-REQ 1654–1655 bytes, TGS-REP 1671–1673 on the wire.
        assert!((1_600..1_700).contains(&d.client) && (1_600..1_720).contains(&d.server), "{d:?}");
    }

    /// The KRB-ERROR code field (`[6] INTEGER`, one byte) of a server message, if it is one.
    fn error_code(msg: &[u8]) -> Option<u8> {
        (msg[4] == 0x7e).then(|| msg.windows(5).find(|w| w[..4] == [0xa6, 0x03, 0x02, 0x01]).map(|w| w[4]))?
    }

    #[test]
    fn as_exchanges_end_as_asked() {
        let mut rng = Rng::new(2);
        let cases = [
            (AsOutcome::Ticket, vec![Some(25), None]),
            (AsOutcome::WrongPassword, vec![Some(25), Some(24)]),
            (AsOutcome::UnknownUser, vec![Some(6)]),
        ];
        for (outcome, codes) in cases {
            let scripts = kerberos_as(&account(), outcome, 1_700_000_000_000_000_000, &mut rng);
            let found: Vec<Option<u8>> = scripts
                .into_iter()
                .map(|s| {
                    let d = drain(s, 10);
                    assert!(d.ended && d.messages.len() == 2);
                    error_code(&d.messages[1].head)
                })
                .collect();
            assert_eq!(found, codes, "{outcome:?}");
        }
    }

    #[test]
    fn a_preauthenticated_as_request_ends_in_one_exchange() {
        let mut rng = Rng::new(3);
        let cases =
            [(AsOutcome::Ticket, None), (AsOutcome::WrongPassword, Some(24)), (AsOutcome::UnknownUser, Some(6))];
        for (outcome, code) in cases {
            let d = drain(kerberos_as_preauth(&account(), outcome, 1_700_000_000_000_000_000, &mut rng), 10);
            assert!(d.ended && d.messages.len() == 2);
            assert_eq!(error_code(&d.messages[1].head), code, "{outcome:?}");
        }
    }

    #[test]
    fn a_user_enumeration_probe_tells_known_names_without_a_failure() {
        let mut rng = Rng::new(4);
        for (known, code) in [(true, Some(25)), (false, Some(6))] {
            let d = drain(kerberos_as_probe(&account(), known, 1_700_000_000_000_000_000, &mut rng), 10);
            assert!(d.ended && d.messages.len() == 2);
            assert_eq!(error_code(&d.messages[1].head), code, "known {known}");
        }
    }

    #[test]
    fn ldap_session_is_sealed_after_the_bind() {
        let d = drain(ldap_query(&account(), &dc(), 3, &mut Rng::new(3)), 100);
        assert!(d.ended);
        // Bind, three searches, unbind.
        assert_eq!(d.messages.iter().filter(|m| m.from == Side::Client).count(), 5);
        assert_eq!(d.messages[0].head[0], 0x30, "the bind is a clear LDAPMessage");
        for m in &d.messages[2..] {
            assert_eq!(m.head[4..6], [0x05, 0x04], "SASL buffer of a wrap token");
        }
        assert!((1_900..3_000).contains(&d.client) && (1_000..6_000).contains(&d.server), "{} {}", d.client, d.server);
    }
}
