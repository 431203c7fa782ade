//! The Windows-domain wire builders of `sensor::simulate::proto` (SMB2, DCE/RPC, Kerberos, LDAP)
//! against Wireshark: whole conversations go into pcaps through a small test-only TCP segmenter, and
//! tshark must read every frame without malformed packets, errors, bad checksums or TCP analysis
//! flags, and must see what the builders meant (commands, trees, file names, interfaces, opnums,
//! towers, message types). The PsExec conversation's SMB2 message sizes are compared with the real
//! `covenant_sharpsc_create_dcerpc_smb_svcctl_*.cap`.

mod common;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;

use sensor::capture::LinkType;
use sensor::capture::pcap_write::{PcapWriter, TsResolution};
use sensor::simulate::frame::{L4, ipv4_frame};
use sensor::simulate::proto::dcerpc::{self, AuthLevel, Context, Offer, RpcAuth, RpcClient, Syntax, Transport, Uuid};
use sensor::simulate::proto::kerberos::{self, AsReq, ErrorCode, KrbError, Principal};
use sensor::simulate::proto::ldap::{BindOutcome, Entry, Filter, LdapClient, Protection, Scope, Search};
use sensor::simulate::proto::msrpc::{self, Handle, NewService, Task};
use sensor::simulate::proto::ntlmssp::{ClientNames, ServerNames};
use sensor::simulate::proto::smb2::{self, Auth, Delegation, InfoClass, Open, Payload, SetupState, Smb2Client, Tree};
use sensor::simulate::rng::Rng;

const CLIENT: Ipv4Addr = Ipv4Addr::new(172, 18, 39, 5);
const SERVER: Ipv4Addr = Ipv4Addr::new(172, 18, 39, 6);
const DC: Ipv4Addr = Ipv4Addr::new(172, 18, 38, 5);
const REALM: &str = "THESHIRE.LOCAL";
/// 2020-08-06T06:27:08Z, the time of the Covenant capture.
const START_NS: u64 = 1_596_695_228_000_000_000;

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const MSS: usize = 1460;

/// An in-memory pcap with a clock that advances 50 µs per frame.
struct Pcap {
    writer: PcapWriter<Vec<u8>>,
    ts_ns: u64,
    frame: Vec<u8>,
}

impl Pcap {
    fn new() -> Self {
        Pcap {
            writer: PcapWriter::new(Vec::new(), LinkType::Ethernet, 0, TsResolution::Nano).unwrap(),
            ts_ns: START_NS,
            frame: Vec::with_capacity(1600),
        }
    }

    fn save(self, path: &Path) {
        std::fs::write(path, self.writer.into_inner().unwrap()).unwrap();
    }
}

/// One TCP connection: handshake, data in ≤ MSS segments with exact seq/ack, an ACK from the
/// receiver every second segment and after the last one, FIN teardown.
struct Tcp<'a> {
    pcap: &'a mut Pcap,
    /// (address, port, next sequence number, next IP id) of the client and of the server.
    ends: [(Ipv4Addr, u16, u32, u16); 2],
}

#[derive(Clone, Copy)]
enum Dir {
    ToServer = 0,
    ToClient = 1,
}

impl<'a> Tcp<'a> {
    fn open(pcap: &'a mut Pcap, client: (Ipv4Addr, u16), server: (Ipv4Addr, u16)) -> Self {
        let mut t = Tcp {
            pcap,
            ends: [
                (client.0, client.1, 0x1000_0000 ^ u32::from(client.1), 100),
                (server.0, server.1, 0x7000_0000, 9000),
            ],
        };
        t.segment(Dir::ToServer, SYN, &[]);
        t.ends[0].2 += 1;
        t.segment(Dir::ToClient, SYN | ACK, &[]);
        t.ends[1].2 += 1;
        t.segment(Dir::ToServer, ACK, &[]);
        t
    }

    fn segment(&mut self, dir: Dir, flags: u8, payload: &[u8]) {
        let (from, to) = (dir as usize, 1 - dir as usize);
        let (src, sport, seq, id) = self.ends[from];
        let (dst, dport, peer_seq, _) = self.ends[to];
        let ack = if flags & ACK != 0 { peer_seq } else { 0 };
        let l4 = L4::Tcp { src_port: sport, dst_port: dport, seq, ack, flags, window: 64_240, options: &[] };
        ipv4_frame(&mut self.pcap.frame, src, dst, id, l4, payload);
        self.ends[from].3 = id.wrapping_add(1);
        self.ends[from].2 = seq.wrapping_add(payload.len() as u32);
        let len = self.pcap.frame.len() as u32;
        self.pcap.writer.write_packet(self.pcap.ts_ns, len, &self.pcap.frame).unwrap();
        self.pcap.ts_ns += 50_000;
    }

    fn send(&mut self, dir: Dir, data: &[u8]) {
        let back = match dir {
            Dir::ToServer => Dir::ToClient,
            Dir::ToClient => Dir::ToServer,
        };
        let segments: Vec<&[u8]> = data.chunks(MSS).collect();
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            self.segment(dir, if last { PSH | ACK } else { ACK }, seg);
            if i % 2 == 1 || last {
                self.segment(back, ACK, &[]);
            }
        }
    }

    /// Client request then server response (either may be empty).
    fn exchange(&mut self, req: &[u8], resp: &[u8]) {
        if !req.is_empty() {
            self.send(Dir::ToServer, req);
        }
        if !resp.is_empty() {
            self.send(Dir::ToClient, resp);
        }
    }

    /// A DCE/RPC exchange: each fragment is pushed on its own, as Windows' RPC runtime writes them
    /// (segments then start at fragment boundaries, as in the OTRF captures).
    fn exchange_pdus(&mut self, req: &[u8], resp: &[u8]) {
        for (dir, stream) in [(Dir::ToServer, req), (Dir::ToClient, resp)] {
            let mut at = 0;
            while at < stream.len() {
                let frag_len = u16::from_le_bytes([stream[at + 8], stream[at + 9]]) as usize;
                self.send(dir, &stream[at..at + frag_len]);
                at += frag_len;
            }
        }
    }

    fn close(mut self) {
        self.segment(Dir::ToServer, FIN | ACK, &[]);
        self.ends[0].2 += 1;
        self.segment(Dir::ToClient, FIN | ACK, &[]);
        self.ends[1].2 += 1;
        self.segment(Dir::ToServer, ACK, &[]);
    }
}

/// Builds one exchange into fresh buffers and sends it.
fn round(tcp: &mut Tcp, build: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) {
    let (mut req, mut resp) = (Vec::new(), Vec::new());
    build(&mut req, &mut resp);
    tcp.exchange(&req, &resp);
}

/// Builds one DCE/RPC exchange and sends it fragment by fragment.
fn rpc_round(tcp: &mut Tcp, build: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>)) {
    let (mut req, mut resp) = (Vec::new(), Vec::new());
    build(&mut req, &mut resp);
    tcp.exchange_pdus(&req, &resp);
}

/// tshark with checksum validation on `path`, `-T fields` of `fields` for frames matching `filter`,
/// occurrences joined with '|'. A capture cut short in its last packet (one of the OTRF files) is
/// read up to there.
fn tshark_fields(path: &Path, filter: &str, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-r"]).arg(path).args([
        "-Y",
        filter,
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "aggregator=|",
        "-E",
        "occurrence=a",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("tshark runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || stderr.contains("cut short in the middle of a packet"),
        "tshark failed on {}: {stderr}",
        path.display()
    );
    String::from_utf8(out.stdout).unwrap().lines().map(|l| l.split('\t').map(str::to_string).collect()).collect()
}

/// Every value of `field` in frames matching `filter`, in frame order (multiple per frame split).
fn values(path: &Path, filter: &str, field: &str) -> Vec<String> {
    tshark_fields(path, filter, &[field])
        .into_iter()
        .flat_map(|row| row[0].split('|').filter(|v| !v.is_empty()).map(str::to_string).collect::<Vec<_>>())
        .collect()
}

/// Asserts that tshark finds nothing wrong in the capture: no malformed frame, no expert error, no
/// bad checksum, no TCP analysis flag.
fn assert_clean(path: &Path) {
    let bad = tshark_fields(
        path,
        "_ws.malformed || _ws.expert.severity >= error || tcp.analysis.flags",
        &["frame.number", "_ws.col.Protocol", "_ws.expert.message", "_ws.col.Info"],
    );
    assert!(
        bad.is_empty(),
        "tshark finds problems in {}:\n{}",
        path.display(),
        bad.iter().map(|r| r.join(" | ")).collect::<Vec<_>>().join("\n")
    );
    let frames = values(path, "frame", "frame.number").len();
    assert!(frames > 10, "{} has only {frames} frames", path.display());
}

fn smb_names<'a>() -> (ClientNames<'a>, ServerNames<'a>) {
    (
        ClientNames { domain: "THESHIRE", user: "pgustavo", workstation: "WORKSTATION5" },
        ServerNames { nb_domain: "THESHIRE", nb_computer: "WORKSTATION6", dns_domain: "theshire.local" },
    )
}

/// SMB connection setup as Windows 10 does it: multi-protocol negotiate, SMB2 negotiate, session
/// setup (one or two round trips), IPC$ and its network-interface query.
fn smb_session(tcp: &mut Tcp, rng: &mut Rng, smb: &mut Smb2Client, auth: &Auth) -> Tree {
    let now = tcp.pcap.ts_ns;
    round(tcp, |q, r| smb.multi_protocol_negotiate(rng, now, q, r));
    round(tcp, |q, r| smb.negotiate(rng, now, q, r));
    loop {
        let (mut q, mut r) = (Vec::new(), Vec::new());
        let state = smb.session_setup(rng, now, auth, &mut q, &mut r);
        tcp.exchange(&q, &r);
        if state == SetupState::Done {
            break;
        }
    }
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let ipc = smb.tree_connect(rng, "IPC$", &mut q, &mut r);
    tcp.exchange(&q, &r);
    round(tcp, |q, r| smb.query_network_interfaces(rng, ipc, SERVER, q, r));
    ipc
}

/// Runs one DCE/RPC call over an SMB pipe with FSCTL_PIPE_TRANSCEIVE.
#[allow(clippy::too_many_arguments)]
fn pipe_call(
    tcp: &mut Tcp,
    rng: &mut Rng,
    smb: &mut Smb2Client,
    rpc: &mut RpcClient,
    (tree, pipe): (Tree, smb2::FileId),
    ctx: Context,
    opnum: u16,
    stubs: (&[u8], &[u8]),
) {
    let (mut pdu_req, mut pdu_resp) = (Vec::new(), Vec::new());
    rpc.call(rng, ctx, opnum, None, Payload::Bytes(stubs.0), Payload::Bytes(stubs.1), &mut pdu_req, &mut pdu_resp);
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let left = smb.pipe_transceive(rng, tree, pipe, &pdu_req, &pdu_resp, 1024, &mut q, &mut r);
    assert_eq!(left, 0, "the answer fits the 1024-byte IOCTL output");
    tcp.exchange(&q, &r);
}

/// Binds `iface` over an SMB pipe the way Windows does: the BIND as a WRITE, the BIND_ACK by READ.
fn pipe_bind(
    tcp: &mut Tcp,
    rng: &mut Rng,
    smb: &mut Smb2Client,
    rpc: &mut RpcClient,
    (tree, pipe): (Tree, smb2::FileId),
    iface: dcerpc::Interface,
) -> Context {
    let (mut bind, mut ack) = (Vec::new(), Vec::new());
    let ctx = rpc.bind(rng, iface, Offer::Ndr32, &RpcAuth::None, &mut bind, &mut ack);
    round(tcp, |q, r| smb.write(rng, tree, pipe, 0, Payload::Bytes(&bind), q, r));
    round(tcp, |q, r| smb.read(rng, tree, pipe, 0, 1024, Payload::Bytes(&ack), q, r));
    ctx
}

/// (a) PsExec: copy a 200 KB service binary to ADMIN$, then create and start it through svcctl.
fn psexec(path: &Path) {
    let mut rng = Rng::new(0xa);
    let mut pcap = Pcap::new();
    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 54736), (SERVER, 445));
    let mut smb = Smb2Client::new(&mut rng, "WORKSTATION6");
    let ipc = smb_session(&mut tcp, &mut rng, &mut smb, &Auth::Kerberos { realm: REALM, delegation: Delegation::None });
    let now = tcp.pcap.ts_ns;

    let (mut q, mut r) = (Vec::new(), Vec::new());
    let admin = smb.tree_connect(&mut rng, "ADMIN$", &mut q, &mut r);
    tcp.exchange(&q, &r);
    let size = 200 * 1024;
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let exe = smb.create(&mut rng, now, admin, "PSEXESVC.exe", Open::CreateFile { alloc_size: size }, &mut q, &mut r);
    tcp.exchange(&q, &r);
    round(&mut tcp, |q, r| smb.write(&mut rng, admin, exe, 0, Payload::Opaque(size as usize), q, r));
    round(&mut tcp, |q, r| smb.close(&mut rng, now, admin, exe, Some(size), q, r));

    let (mut q, mut r) = (Vec::new(), Vec::new());
    let pipe = smb.create(&mut rng, now, ipc, "svcctl", Open::Pipe, &mut q, &mut r);
    tcp.exchange(&q, &r);
    round(&mut tcp, |q, r| smb.query_info(&mut rng, now, ipc, pipe, InfoClass::Standard, 0, q, r));
    let mut rpc = RpcClient::new(Transport::Pipe { server_pipe: "\\pipe\\ntsvcs" });
    let ctx = pipe_bind(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), dcerpc::SVCCTL);

    let (scm, service) = (Handle::random(&mut rng), Handle::random(&mut rng));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    msrpc::open_sc_manager_w_request(&mut a, "WORKSTATION6");
    msrpc::handle_response(&mut b, scm);
    pipe_call(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), ctx, msrpc::R_OPEN_SC_MANAGER_W, (&a, &b));
    let svc = NewService {
        name: "PSEXESVC",
        display_name: "PSEXESVC",
        binary_path: "%SystemRoot%\\PSEXESVC.exe",
        start_type: 3,
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    msrpc::create_service_w_request(&mut a, scm, &svc);
    msrpc::create_service_w_response(&mut b, service);
    pipe_call(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), ctx, msrpc::R_CREATE_SERVICE_W, (&a, &b));
    let (mut a, mut b) = (Vec::new(), Vec::new());
    msrpc::start_service_w_request(&mut a, service);
    msrpc::status_response(&mut b);
    pipe_call(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), ctx, msrpc::R_START_SERVICE_W, (&a, &b));
    for h in [service, scm] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        msrpc::close_service_handle_request(&mut a, h);
        msrpc::close_service_handle_response(&mut b);
        pipe_call(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), ctx, msrpc::R_CLOSE_SERVICE_HANDLE, (&a, &b));
    }
    round(&mut tcp, |q, r| smb.close(&mut rng, now, ipc, pipe, None, q, r));
    for t in [admin, ipc] {
        round(&mut tcp, |q, r| smb.tree_disconnect(&mut rng, t, q, r));
    }
    round(&mut tcp, |q, r| smb.logoff(&mut rng, q, r));
    tcp.close();
    pcap.save(path);
}

/// (b) WMI: EPM on 135 maps the activator to a dynamic port; there, a Kerberos packet-privacy
/// association logs in to WMI and runs methods (fragmented stubs both ways).
fn wmi(path: &Path) {
    let mut rng = Rng::new(0xb);
    let mut pcap = Pcap::new();
    let port = 49667;
    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 64139), (SERVER, 135));
    let mut epm = RpcClient::new(Transport::Tcp { port: 135 });
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let ctx =
        epm.bind(&mut rng, dcerpc::EPM, Offer::Both { server_picks: Syntax::Ndr64 }, &RpcAuth::None, &mut q, &mut r);
    tcp.exchange(&q, &r);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    msrpc::ept_map_request(&mut a, dcerpc::ISYSTEM_ACTIVATOR);
    msrpc::ept_map_response(&mut b, dcerpc::ISYSTEM_ACTIVATOR, port, SERVER);
    rpc_round(&mut tcp, |q, r| {
        epm.call(&mut rng, ctx, msrpc::EPT_MAP, None, Payload::Bytes(&a), Payload::Bytes(&b), q, r)
    });
    tcp.close();

    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 64143), (SERVER, port));
    let mut rpc = RpcClient::new(Transport::Tcp { port });
    let auth = RpcAuth::Kerberos {
        realm: REALM,
        service: Principal::service(&["RPCSS", "WORKSTATION6.theshire.local"]),
        level: AuthLevel::Privacy,
    };
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let login = rpc.bind(&mut rng, dcerpc::IWBEM_LEVEL1_LOGIN, Offer::Ndr32, &auth, &mut q, &mut r);
    tcp.exchange(&q, &r);
    rpc_round(&mut tcp, |q, r| rpc.complete_auth(&mut rng, login, &auth, q, r));
    let object = Uuid::random(&mut rng);
    // IWbemLevel1Login::NTLMLogin (opnum 6).
    rpc_round(&mut tcp, |q, r| {
        rpc.call(&mut rng, login, 6, Some(object), Payload::Opaque(152), Payload::Opaque(144), q, r)
    });
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let services = rpc.alter_context(dcerpc::IWBEM_SERVICES, &mut q, &mut r);
    tcp.exchange(&q, &r);
    // IWbemServices::GetObject (6) of Win32_Process, then ExecMethod (24) of Create.
    rpc_round(&mut tcp, |q, r| {
        rpc.call(&mut rng, services, 6, Some(object), Payload::Opaque(180), Payload::Opaque(21_776), q, r)
    });
    rpc_round(&mut tcp, |q, r| {
        rpc.call(&mut rng, services, 24, Some(object), Payload::Opaque(7080), Payload::Opaque(1168), q, r)
    });
    tcp.close();
    pcap.save(path);
}

/// (c) Kerberos: AS-REQ without pre-authentication, PREAUTH_REQUIRED, AS-REQ with it, AS-REP,
/// TGS-REQ/TGS-REP for cifs/WORKSTATION6, then a sprayed password: PREAUTH_FAILED. One TCP
/// connection per KDC exchange, as Windows does.
fn kerberos_exchanges(path: &Path) {
    let mut rng = Rng::new(0xc);
    let mut pcap = Pcap::new();
    let user = "pgustavo";
    let service = Principal::service(&["cifs", "WORKSTATION6"]);
    for (i, step) in ["no-preauth", "preauth", "tgs", "spray"].into_iter().enumerate() {
        let now = pcap.ts_ns;
        let mut tcp = Tcp::open(&mut pcap, (CLIENT, 62770 + i as u16), (DC, 88));
        round(&mut tcp, |q, r| {
            let req = AsReq { realm: REALM, user, client_netbios: "WORKSTATION5", preauth: step != "no-preauth" };
            match step {
                "tgs" => {
                    kerberos::tgs_req(q, &mut rng, REALM, &service);
                    kerberos::tgs_rep(r, &mut rng, REALM, user, &service);
                }
                "preauth" => {
                    kerberos::as_req(q, &mut rng, &req);
                    kerberos::as_rep(r, &mut rng, REALM, user);
                }
                _ => {
                    let code = if step == "spray" { ErrorCode::PreauthFailed } else { ErrorCode::PreauthRequired };
                    kerberos::as_req(q, &mut rng, &req);
                    kerberos::krb_error(r, &mut rng, now, &KrbError { code, realm: REALM, user });
                }
            }
        });
        tcp.close();
    }
    pcap.save(path);
}

/// (d) LDAP: a Kerberos GSS-SPNEGO bind, a rootDSE read and a subtree search for Domain Admins, an
/// unbind; a sprayed simple bind that fails; a sealed session (SASL buffers of wrap tokens).
fn ldap_session(path: &Path) {
    let mut rng = Rng::new(0xd);
    let mut pcap = Pcap::new();
    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 50001), (DC, 389));
    let mut ldap = LdapClient::new(Protection::Clear);
    round(&mut tcp, |q, r| ldap.bind_kerberos(&mut rng, REALM, "MORDORDC.theshire.local", q, r));
    let root_dse: &[(&str, &[&[u8]])] = &[
        ("defaultNamingContext", &[b"DC=theshire,DC=local"]),
        ("dnsHostName", &[b"MORDORDC.theshire.local"]),
        ("supportedLDAPVersion", &[b"3", b"2"]),
    ];
    let search = Search {
        base: "",
        scope: Scope::BaseObject,
        filter: Filter::Present("objectClass"),
        attributes: &["defaultNamingContext", "dnsHostName", "supportedLDAPVersion"],
        page_size: None,
    };
    round(&mut tcp, |q, r| ldap.search(&mut rng, &search, &[Entry { dn: "", attributes: root_dse }], q, r));
    let admins: &[(&str, &[&[u8]])] = &[
        ("cn", &[b"Domain Admins"]),
        ("member", &[b"CN=Administrator,CN=Users,DC=theshire,DC=local", b"CN=pgustavo,CN=Users,DC=theshire,DC=local"]),
    ];
    let search = Search {
        base: "DC=theshire,DC=local",
        scope: Scope::WholeSubtree,
        filter: Filter::And(&[Filter::Equal("objectCategory", "group"), Filter::Equal("cn", "Domain Admins")]),
        attributes: &["cn", "member"],
        page_size: Some(500),
    };
    let entry = Entry { dn: "CN=Domain Admins,CN=Users,DC=theshire,DC=local", attributes: admins };
    round(&mut tcp, |q, r| ldap.search(&mut rng, &search, &[entry], q, r));
    round(&mut tcp, |q, _| ldap.unbind(&mut rng, q));
    tcp.close();

    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 50002), (DC, 389));
    let mut spray = LdapClient::new(Protection::Clear);
    round(&mut tcp, |q, r| {
        spray.bind_simple(&mut rng, "sbeavers@theshire.local", 11, BindOutcome::InvalidCredentials, q, r)
    });
    round(&mut tcp, |q, _| spray.unbind(&mut rng, q));
    tcp.close();

    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 50003), (DC, 389));
    let mut sealed = LdapClient::new(Protection::Sealed);
    round(&mut tcp, |q, r| sealed.bind_kerberos(&mut rng, REALM, "MORDORDC.theshire.local", q, r));
    round(&mut tcp, |q, r| sealed.search(&mut rng, &search, &[entry], q, r));
    round(&mut tcp, |q, _| sealed.unbind(&mut rng, q));
    tcp.close();
    pcap.save(path);
}

/// (e) Scheduled task over SMB with NTLM: IPC$, the atsvc pipe, ITaskSchedulerService bound and
/// SchRpcHighestVersion, SchRpcRegisterTask called.
fn scheduled_task(path: &Path) {
    let mut rng = Rng::new(0xe);
    let mut pcap = Pcap::new();
    let mut tcp = Tcp::open(&mut pcap, (CLIENT, 56588), (SERVER, 445));
    let mut smb = Smb2Client::new(&mut rng, "WORKSTATION6");
    let (client, server) = smb_names();
    let ipc = smb_session(&mut tcp, &mut rng, &mut smb, &Auth::Ntlm { client, server });
    let now = tcp.pcap.ts_ns;
    let (mut q, mut r) = (Vec::new(), Vec::new());
    let pipe = smb.create(&mut rng, now, ipc, "atsvc", Open::Pipe, &mut q, &mut r);
    tcp.exchange(&q, &r);
    let mut rpc = RpcClient::new(Transport::Pipe { server_pipe: "\\pipe\\atsvc" });
    let ctx = pipe_bind(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), dcerpc::ITASK_SCHEDULER);
    let mut version = Vec::new();
    msrpc::sch_highest_version_response(&mut version);
    pipe_call(
        &mut tcp,
        &mut rng,
        &mut smb,
        &mut rpc,
        (ipc, pipe),
        ctx,
        msrpc::SCH_RPC_HIGHEST_VERSION,
        (&[], &version),
    );
    let task = Task {
        path: "\\UpdateCheck",
        command: "C:\\Windows\\System32\\cmd.exe",
        arguments: "/c C:\\Windows\\Temp\\stage.exe",
        author: "THESHIRE\\pgustavo",
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    msrpc::sch_register_task_request(&mut a, &mut rng, Syntax::Ndr32, &task);
    msrpc::sch_register_task_response(&mut b, Syntax::Ndr32, task.path);
    pipe_call(&mut tcp, &mut rng, &mut smb, &mut rpc, (ipc, pipe), ctx, msrpc::SCH_RPC_REGISTER_TASK, (&a, &b));
    round(&mut tcp, |q, r| smb.close(&mut rng, now, ipc, pipe, None, q, r));
    round(&mut tcp, |q, r| smb.tree_disconnect(&mut rng, ipc, q, r));
    round(&mut tcp, |q, r| smb.logoff(&mut rng, q, r));
    tcp.close();
    pcap.save(path);
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn psexec_over_smb_dissects_as_built() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("psexec.pcap");
    psexec(&path);
    assert_clean(&path);
    let requests = values(&path, "smb2.flags.response == 0", "smb2.cmd");
    #[rustfmt::skip]
    let expected = [
        "0", "1", "3", "11", "3", "5", "9", "6", "5", "16", "9", "8",
        "11", "11", "11", "11", "11", "6", "4", "4", "2",
    ];
    assert_eq!(requests, strings(&expected));
    let responses = values(&path, "smb2.flags.response == 1", "smb2.cmd");
    assert_eq!(responses, strings(&["0", "0"]).into_iter().chain(strings(&expected[1..])).collect::<Vec<_>>());
    let trees = values(&path, "smb2.cmd == 3 && smb2.flags.response == 0", "smb2.tree");
    assert_eq!(trees, strings(&["\\\\WORKSTATION6\\IPC$", "\\\\WORKSTATION6\\ADMIN$"]));
    let files = values(&path, "smb2.cmd == 5 && smb2.flags.response == 0", "smb2.filename");
    assert_eq!(files, strings(&["PSEXESVC.exe", "svcctl"]));
    assert_eq!(
        values(&path, "smb2.cmd == 9 && smb2.flags.response == 0", "smb2.write_length"),
        strings(&["204800", "116"])
    );
    assert_eq!(values(&path, "smb2.cmd == 9 && smb2.flags.response == 0", "smb2.credit.charge"), strings(&["4", "1"]));
    assert_eq!(
        values(&path, "dcerpc.pkt_type == 11", "dcerpc.cn_bind_to_uuid")[0],
        "367abb81-9844-35f1-ad32-98f038001003"
    );
    assert_eq!(values(&path, "svcctl && dcerpc.pkt_type == 0", "svcctl.opnum"), strings(&["15", "12", "19", "0", "0"]));
    assert_eq!(values(&path, "svcctl", "svcctl.servicename"), strings(&["PSEXESVC"]));
    assert_eq!(values(&path, "svcctl", "svcctl.binarypathname"), strings(&["%SystemRoot%\\PSEXESVC.exe"]));
    assert_eq!(values(&path, "svcctl", "svcctl.machinename"), strings(&["\\\\WORKSTATION6"]));
    // Message ids run 0 (SMB1 negotiate) to the logoff; the 200 KB write costs 4.
    let ids: Vec<u64> =
        values(&path, "smb2.flags.response == 0", "smb2.msg_id").iter().map(|v| v.parse().unwrap()).collect();
    let mut next = 1;
    for (i, (id, cmd)) in ids.iter().zip(&expected).enumerate() {
        assert_eq!(*id, next, "message id of request {i} (command {cmd})");
        next += if i == 6 { 4 } else { 1 };
    }
    let sessions = values(&path, "smb2.cmd == 3 || smb2.cmd == 5", "smb2.sesid");
    assert!(sessions.windows(2).all(|w| w[0] == w[1]), "one session id throughout: {sessions:?}");
}

#[test]
fn psexec_message_sizes_match_the_real_capture() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("psexec.pcap");
    psexec(&path);
    let real = common::shared_data()
        .join("otrf-lateral-movement")
        .join("covenant_sharpsc_create_dcerpc_smb_svcctl_2020-08-06022635.cap");
    // NetBIOS length of each SMB2 message (its size without the 4-byte header, however TCP split
    // it), keyed by (command, response?, n-th of that kind).
    let sizes = |p: &Path, filter: &str| -> BTreeMap<(String, String, usize), String> {
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        let mut found = BTreeMap::new();
        for row in tshark_fields(p, &format!("smb2 && ({filter})"), &["smb2.cmd", "smb2.flags.response", "nbss.length"])
        {
            let split = |i: usize| row[i].split('|').map(str::to_string).collect::<Vec<_>>();
            for ((cmd, resp), len) in split(0).into_iter().zip(split(1)).zip(split(2)) {
                let n = seen.entry((cmd.clone(), resp.clone())).or_default();
                *n += 1;
                found.insert((cmd, resp, *n), len);
            }
        }
        found
    };
    let ours = sizes(&path, "tcp.port == 445");
    let theirs = sizes(&real, "tcp.port == 54736");
    // (command, response?, n-th) → what both conversations share, in the real one's order.
    #[rustfmt::skip]
    let shared: &[(&str, &str, usize, &str)] = &[
        ("0", "1", 1, "SMB2 answer to the SMB1 negotiate"),
        ("0", "0", 1, "NEGOTIATE"), ("0", "1", 2, "NEGOTIATE response"),
        ("1", "0", 1, "SESSION_SETUP (Kerberos)"), ("1", "1", 1, "SESSION_SETUP response"),
        ("3", "0", 1, "TREE_CONNECT IPC$"), ("3", "1", 1, "TREE_CONNECT response"),
        ("11", "0", 1, "IOCTL network interfaces"), ("11", "1", 1, "IOCTL network interfaces response"),
        ("16", "0", 1, "QUERY_INFO standard"), ("16", "1", 1, "QUERY_INFO response"),
        ("9", "1", 1, "WRITE response"),
        ("8", "0", 1, "READ 1024"), ("8", "1", 1, "READ response (BIND_ACK)"),
        ("4", "0", 1, "TREE_DISCONNECT"), ("4", "1", 1, "TREE_DISCONNECT response"),
        ("2", "0", 1, "LOGOFF"), ("2", "1", 1, "LOGOFF response"),
    ];
    let mut report = String::new();
    let mut off = Vec::new();
    for (cmd, resp, n, what) in shared {
        let key = (cmd.to_string(), resp.to_string(), *n);
        let (a, b) = (&ours[&key], &theirs[&key]);
        report.push_str(&format!("{what:40} ours {a:>5}  real {b:>5}\n"));
        if a != b {
            off.push(*what);
        }
    }
    // Ours first copies the service binary, so its pipe CREATE/CLOSE and bind WRITE come second.
    #[rustfmt::skip]
    let shifted: &[(&str, &str, &str)] = &[
        ("5", "0", "CREATE svcctl"), ("5", "1", "CREATE svcctl response"),
        ("9", "0", "WRITE (BIND)"), ("6", "0", "CLOSE pipe"), ("6", "1", "CLOSE pipe response"),
    ];
    for (cmd, resp, what) in shifted {
        let a = &ours[&(cmd.to_string(), resp.to_string(), 2)];
        let b = &theirs[&(cmd.to_string(), resp.to_string(), 1)];
        report.push_str(&format!("{what:40} ours {a:>5}  real {b:>5}\n"));
        if a != b {
            off.push(*what);
        }
    }
    println!("{report}");
    assert!(off.is_empty(), "sizes differ from the real capture for {off:?}:\n{report}");
}

#[test]
fn wmi_over_epm_and_a_dynamic_port_dissects_as_built() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wmi.pcap");
    wmi(&path);
    assert_clean(&path);
    assert_eq!(values(&path, "epm && dcerpc.pkt_type == 2", "epm.proto.tcp_port"), strings(&["49667"]));
    let mapped = values(&path, "epm && dcerpc.pkt_type == 0", "epm.uuid");
    assert!(
        mapped.iter().any(|u| u == "000001a0-0000-0000-c000-000000000046"),
        "ept_map asks for the activator: {mapped:?}"
    );
    let binds = values(&path, "dcerpc.pkt_type == 11 || dcerpc.pkt_type == 14", "dcerpc.cn_bind_to_uuid");
    for uuid in [
        "e1af8308-5d1f-11c9-91a4-08002b14a0fa",
        "f309ad18-d86a-11d0-a075-00c04fb68820",
        "9556dc99-828c-11cf-a37e-00aa003240c7",
    ] {
        assert!(binds.iter().any(|b| b == uuid), "{uuid} bound: {binds:?}");
    }
    // Kerberos inside SPNEGO: AP-REQ in the BIND, AP-REP in BIND_ACK and in the third leg.
    assert_eq!(values(&path, "tcp.port == 49667", "kerberos.msg_type"), strings(&["14", "15", "15"]));
    let auth = values(&path, "tcp.port == 49667 && dcerpc.pkt_type == 0", "dcerpc.auth_level");
    assert!(auth.len() >= 3 && auth.iter().all(|l| l == "6"), "packet privacy on every request: {auth:?}");
    assert_eq!(values(&path, "dcerpc.pkt_type == 0", "dcerpc.opnum"), strings(&["3", "6", "6", "24", "24"]));
    // The 21776-byte GetObject answer: 3 × 5836 + 4700, as measured.
    let lens = values(&path, "dcerpc.pkt_type == 2 && tcp.port == 49667", "dcerpc.cn_frag_len");
    assert_eq!(lens, strings(&["252", "5836", "5836", "5836", "4700", "1276"]));
}

#[test]
fn kerberos_exchanges_dissect_as_built() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kerberos.pcap");
    kerberos_exchanges(&path);
    assert_clean(&path);
    assert_eq!(
        values(&path, "kerberos && tcp.srcport == 88 || kerberos && tcp.dstport == 88", "kerberos.msg_type"),
        strings(&["10", "30", "10", "11", "12", "14", "13", "10", "30"])
    );
    assert_eq!(values(&path, "kerberos.msg_type == 30", "kerberos.error_code"), strings(&["25", "24"]));
    assert_eq!(
        values(&path, "kerberos.msg_type == 12", "kerberos.SNameString"),
        strings(&["krbtgt", REALM, "cifs", "WORKSTATION6"])
    );
    assert!(values(&path, "kerberos.msg_type == 10", "kerberos.padata_type").contains(&"2".to_string()));
    assert_eq!(values(&path, "kerberos.msg_type == 11", "kerberos.CNameString"), strings(&["pgustavo"]));
}

#[test]
fn ldap_session_dissects_as_built() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ldap.pcap");
    ldap_session(&path);
    assert_clean(&path);
    assert_eq!(
        values(&path, "ldap && tcp.port != 50003", "ldap.protocolOp"),
        strings(&["0", "1", "3", "4", "5", "3", "4", "5", "2", "0", "1", "2"])
    );
    assert_eq!(values(&path, "ldap.protocolOp == 0 && tcp.port != 50003", "ldap.mechanism"), strings(&["GSS-SPNEGO"]));
    assert_eq!(values(&path, "ldap && tcp.port != 50003", "kerberos.msg_type"), strings(&["14", "15"]));
    assert_eq!(values(&path, "ldap.protocolOp == 1 && tcp.port != 50003", "ldap.resultCode"), strings(&["0", "49"]));
    // The rootDSE entry's DN is empty, so only the group's shows.
    assert_eq!(
        values(&path, "ldap.protocolOp == 4", "ldap.objectName"),
        strings(&["CN=Domain Admins,CN=Users,DC=theshire,DC=local"])
    );
    assert!(values(&path, "ldap.protocolOp == 3", "ldap.present").contains(&"objectClass".to_string()));
    // The sealed session: after its bind, four SASL buffers (search, entry + done, unbind) of
    // Kerberos wrap tokens, nothing readable.
    assert_eq!(values(&path, "tcp.port == 50003 && ldap", "ldap.protocolOp"), strings(&["0", "1"]));
    assert_eq!(values(&path, "tcp.port == 50003", "ldap.sasl_buffer_length").len(), 4);
    assert_eq!(values(&path, "ldap.protocolOp == 3", "ldap.baseObject"), strings(&["DC=theshire,DC=local"]));
}

#[test]
fn scheduled_task_over_an_smb_pipe_dissects_as_built() {
    common::require_tshark();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schtask.pcap");
    scheduled_task(&path);
    assert_clean(&path);
    assert_eq!(values(&path, "ntlmssp", "ntlmssp.messagetype"), strings(&["0x00000001", "0x00000002", "0x00000003"]));
    assert_eq!(values(&path, "ntlmssp.messagetype == 3", "ntlmssp.auth.username"), strings(&["pgustavo"]));
    assert_eq!(values(&path, "smb2.cmd == 1", "smb2.nt_status"), strings(&["0xc0000016", "0x00000000"]));
    assert_eq!(values(&path, "smb2.cmd == 5 && smb2.flags.response == 0", "smb2.filename"), strings(&["atsvc"]));
    assert_eq!(
        values(&path, "dcerpc.pkt_type == 11", "dcerpc.cn_bind_to_uuid")[0],
        "86d35949-83c9-4044-b424-db363231fd0c"
    );
    assert_eq!(values(&path, "dcerpc.pkt_type == 0", "taskschedulerservice.opnum"), strings(&["0", "1"]));
    let sizes = values(&path, "dcerpc.pkt_type == 0 && taskschedulerservice.opnum == 1", "dcerpc.cn_frag_len");
    let size: usize = sizes[0].parse().unwrap();
    assert!((2800..3400).contains(&size), "SchRpcRegisterTask request of {size} bytes (3292 measured)");
}

#[test]
fn conversations_are_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let build = |name: &str, f: fn(&Path)| {
        let p = dir.path().join(name);
        f(&p);
        std::fs::read(p).unwrap()
    };
    for (name, f) in
        [("a", psexec as fn(&Path)), ("b", wmi), ("c", kerberos_exchanges), ("d", ldap_session), ("e", scheduled_task)]
    {
        assert_eq!(build(&format!("{name}1.pcap"), f), build(&format!("{name}2.pcap"), f), "conversation {name}");
    }
}
