//! The simulator's wire-format builders (`simulate::proto`: TLS, HTTP and WinRM, SSH, RDP, DNS, NTP,
//! ICMP echo payloads) against Wireshark: each test writes a capture of whole conversations built
//! from them (TCP with handshake, segments of at most 1,460 bytes with exact sequence numbers, ACKs
//! every second segment, FIN teardown; UDP and ICMP exchanges), then asks `tshark` to find anything
//! malformed, any expert error, any TCP analysis flag or bad checksum (there must be none) and to
//! dissect the fields the builders are meant to produce.
//!
//! `tshark` must be installed (Debian: `apt-get install tshark`); the tests panic without it.

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use sensor::capture::LinkType;
use sensor::capture::pcap_write::{PcapWriter, TsResolution};
use sensor::simulate::frame::{L4, ipv4_frame};
use sensor::simulate::proto::{dns, http, icmp, ntp, rdp, ssh, tls};
use sensor::simulate::rng::Rng;

const CLIENT: Ipv4Addr = Ipv4Addr::new(172, 18, 39, 5);
const SERVER: Ipv4Addr = Ipv4Addr::new(172, 18, 39, 6);
/// 2024-03-04T09:00:00Z.
const START_NS: u64 = 1_709_542_800_000_000_000;
const GAP_NS: u64 = 200_000;
const MSS: usize = 1460;
const WINDOW: u16 = 64_240;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// A capture being written: Ethernet frames, one every [`GAP_NS`].
struct Capture {
    path: PathBuf,
    writer: PcapWriter<File>,
    frame: Vec<u8>,
    ts_ns: u64,
    ip_id: u16,
}

impl Capture {
    fn new(dir: &Path, name: &str) -> Capture {
        let path = dir.join(name);
        let file = File::create(&path).unwrap();
        let writer = PcapWriter::new(file, LinkType::Ethernet, 0, TsResolution::Nano).unwrap();
        Capture { path, writer, frame: Vec::new(), ts_ns: START_NS, ip_id: 1 }
    }

    fn packet(&mut self, src: Ipv4Addr, dst: Ipv4Addr, l4: L4<'_>, payload: &[u8]) {
        ipv4_frame(&mut self.frame, src, dst, self.ip_id, l4, payload);
        self.writer.write_packet(self.ts_ns, self.frame.len() as u32, &self.frame).unwrap();
        self.ts_ns += GAP_NS;
        self.ip_id = self.ip_id.wrapping_add(1);
    }

    fn udp(&mut self, from: Side, client_port: u16, server_port: u16, payload: &[u8]) {
        let (src, dst, src_port, dst_port) = match from {
            Side::Client => (CLIENT, SERVER, client_port, server_port),
            Side::Server => (SERVER, CLIENT, server_port, client_port),
        };
        self.packet(src, dst, L4::Udp { src_port, dst_port }, payload);
    }

    fn finish(self) -> PathBuf {
        self.writer.into_inner().unwrap();
        self.path
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// A TCP connection between [`CLIENT`] and [`SERVER`] on a capture.
struct Tcp<'c> {
    cap: &'c mut Capture,
    ports: [u16; 2],
    /// Next sequence number each side sends (client, server).
    next_seq: [u32; 2],
}

impl<'c> Tcp<'c> {
    /// Three-way handshake (MSS option on the SYNs).
    fn open(cap: &'c mut Capture, client_port: u16, server_port: u16) -> Tcp<'c> {
        let port = u32::from(client_port);
        let isn = [port.wrapping_mul(0x9e37_79b9), port.wrapping_mul(0x85eb_ca6b)];
        let mut tcp = Tcp { cap, ports: [client_port, server_port], next_seq: isn };
        let mss = [2, 4, (MSS >> 8) as u8, MSS as u8];
        tcp.segment_with(Side::Client, SYN, 0, &mss, &[]);
        tcp.next_seq[0] = tcp.next_seq[0].wrapping_add(1);
        tcp.segment_with(Side::Server, SYN | ACK, isn[0].wrapping_add(1), &mss, &[]);
        tcp.next_seq[1] = tcp.next_seq[1].wrapping_add(1);
        tcp.segment(Side::Client, ACK, &[]);
        tcp
    }

    fn segment(&mut self, from: Side, flags: u8, payload: &[u8]) {
        let ack = self.next_seq[1 - from as usize];
        self.segment_with(from, flags, ack, &[], payload);
    }

    fn segment_with(&mut self, from: Side, flags: u8, ack: u32, options: &[u8], payload: &[u8]) {
        let i = from as usize;
        let (src, dst) = if from == Side::Client { (CLIENT, SERVER) } else { (SERVER, CLIENT) };
        let l4 = L4::Tcp {
            src_port: self.ports[i],
            dst_port: self.ports[1 - i],
            seq: self.next_seq[i],
            ack,
            flags,
            window: WINDOW,
            options,
        };
        self.cap.packet(src, dst, l4, payload);
        self.next_seq[i] = self.next_seq[i].wrapping_add(payload.len() as u32);
    }

    /// Sends one application message in MSS-sized segments (PSH on the last); the receiver ACKs
    /// every second segment and the last.
    fn send(&mut self, from: Side, message: &[u8]) {
        let receiver = if from == Side::Client { Side::Server } else { Side::Client };
        let count = message.len().div_ceil(MSS);
        for (i, chunk) in message.chunks(MSS).enumerate() {
            let last = i + 1 == count;
            self.segment(from, if last { PSH | ACK } else { ACK }, chunk);
            if (i + 1) % 2 == 0 || last {
                self.segment(receiver, ACK, &[]);
            }
        }
    }

    /// Client FIN, server FIN, client ACK.
    fn close(mut self) {
        self.segment(Side::Client, FIN | ACK, &[]);
        self.next_seq[0] = self.next_seq[0].wrapping_add(1);
        self.segment(Side::Server, FIN | ACK, &[]);
        self.next_seq[1] = self.next_seq[1].wrapping_add(1);
        self.segment(Side::Client, ACK, &[]);
    }
}

/// `tshark` reading one capture, with options of its own (e.g. Decode As).
struct Tshark<'a> {
    pcap: &'a Path,
    options: &'a [&'a str],
}

impl Tshark<'_> {
    /// Runs `tshark -r pcap` with checksum validation, the options and `args`; its standard output.
    fn run(&self, args: &[&str]) -> String {
        let found = Command::new("which").arg("tshark").output().is_ok_and(|o| o.status.success());
        assert!(found, "tshark is not installed (apt-get install tshark): these tests check the builders against it");
        let output = Command::new("tshark")
            .env("TZ", "UTC")
            .arg("-r")
            .arg(self.pcap)
            .args(["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"])
            .args(self.options)
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "tshark failed: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    }

    /// The values of `fields` (tab-separated) in each frame matching `filter`, one line per frame.
    fn fields(&self, filter: &str, fields: &[&str]) -> Vec<String> {
        let mut args = vec!["-Y", filter, "-T", "fields"];
        for f in fields {
            args.extend(["-e", f]);
        }
        self.run(&args).lines().map(str::to_string).collect()
    }

    /// Every value of one field over the frames matching `filter` (multi-valued fields split at
    /// commas; not for times, whose text has a comma).
    fn values(&self, filter: &str, field: &str) -> Vec<String> {
        self.fields(filter, &[field]).iter().flat_map(|l| l.split(',')).map(str::to_string).collect()
    }

    /// Panics with tshark's view of every frame that is malformed, has an expert error or a TCP
    /// analysis flag (retransmission, lost segment, duplicate ACK, bad checksum, ...).
    fn assert_clean(&self) {
        let filter = "_ws.malformed || _ws.expert.severity >= error || tcp.analysis.flags";
        let bad = self.fields(filter, &["frame.number", "_ws.col.Protocol", "_ws.col.Info", "_ws.expert.message"]);
        assert!(
            bad.is_empty(),
            "{}: tshark {:?} finds problems:\n{}",
            self.pcap.display(),
            self.options,
            bad.join("\n")
        );
        assert!(!self.run(&["-T", "fields", "-e", "frame.number"]).is_empty(), "{}: no frames", self.pcap.display());
    }
}

fn tshark(pcap: &Path) -> Tshark<'_> {
    Tshark { pcap, options: &[] }
}

/// A full TLS session on `tcp`: handshake, the application data exchanges, close_notify.
fn tls_session(tcp: &mut Tcp, rng: &mut Rng, sni: &str, chain_len: usize, exchanges: &[(Side, usize)]) {
    let mut m = Vec::new();
    tls::client_hello(&mut m, rng, sni);
    tcp.send(Side::Client, &m);
    m.clear();
    tls::server_hello_flight(&mut m, rng, chain_len);
    tcp.send(Side::Server, &m);
    m.clear();
    tls::client_finish_flight(&mut m, rng);
    tcp.send(Side::Client, &m);
    m.clear();
    tls::server_finish_flight(&mut m, rng);
    tcp.send(Side::Server, &m);
    for &(side, len) in exchanges {
        m.clear();
        tls::application_data(&mut m, rng, len);
        tcp.send(side, &m);
    }
    m.clear();
    tls::alert_close_notify(&mut m, rng);
    tcp.send(Side::Client, &m);
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

#[test]
fn tls_handshakes_and_records_dissect_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(dir.path(), "tls.pcap");
    let mut rng = Rng::new(1);
    let mut tcp = Tcp::open(&mut cap, 50_001, 443);
    tls_session(&mut tcp, &mut rng, "www.example.com", 3500, &[(Side::Client, 517), (Side::Server, 40_000)]);
    tcp.close();
    // No SNI, and a chain too large for one handshake record.
    let mut tcp = Tcp::open(&mut cap, 50_002, 443);
    tls_session(&mut tcp, &mut rng, "", 20_000, &[(Side::Client, 100), (Side::Server, 16_384)]);
    tcp.close();
    let pcap = cap.finish();
    let ts = tshark(&pcap);
    ts.assert_clean();

    assert_eq!(
        ts.fields("tls.handshake.type == 1", &["tls.handshake.extensions_server_name"]),
        ["www.example.com", ""]
    );
    assert_eq!(ts.values("tls.handshake.type == 1", "tls.handshake.extensions_alpn_str"), ["h2", "http/1.1"].repeat(2));
    let types = sorted(ts.values("tls.handshake.type", "tls.handshake.type"));
    assert_eq!(types, ["1", "11", "12", "14", "16", "2"], "ClientHello to ClientKeyExchange");
    for (stream, chain_len) in [(0, 3500), (1, 20_000)] {
        let lens = ts
            .values(&format!("tcp.stream == {stream} && tls.handshake.type == 11"), "tls.handshake.certificate_length");
        let lens: Vec<usize> = lens.iter().map(|l| l.parse().unwrap()).collect();
        assert!((2..=3).contains(&lens.len()), "{lens:?}");
        assert_eq!(lens.iter().sum::<usize>(), chain_len, "stream {stream}: {lens:?}");
    }
    let issuers = ts.values("tls.handshake.type == 11", "x509sat.uTF8String");
    assert!(issuers.iter().any(|s| s.contains("CA") || s == "R3"), "{issuers:?}");
    assert_eq!(ts.values("tls.handshake.type == 2", "tls.handshake.ciphersuite"), ["0xc030"; 2]);
    let record_lens = ts.values("tls.record", "tls.record.length");
    assert!(record_lens.iter().all(|l| l.parse::<usize>().unwrap() <= 16_384 + 256), "{record_lens:?}");
    // 40,000 bytes: three records; 16,384: one; plus 517 and 100.
    let app = ts.values("tls.record.content_type == 23", "tls.record.length");
    assert_eq!(app.iter().filter(|l| *l == "16408").count(), 3, "{app:?}");
    assert_eq!(ts.values("tls.record.content_type == 21", "tls.record.length"), ["26"; 2]);
}

#[test]
fn winrm_and_plain_http_dissect_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(dir.path(), "http.pcap");
    let mut rng = Rng::new(2);
    let host = "WORKSTATION6.theshire.local";
    let now_secs = START_NS / 1_000_000_000;
    let mut tcp = Tcp::open(&mut cap, 59_770, 5985);
    let mut m = Vec::new();
    http::winrm_auth_request(&mut m, &mut rng, host, "THESHIRE.LOCAL");
    tcp.send(Side::Client, &m);
    m.clear();
    http::winrm_auth_response(&mut m, &mut rng, now_secs);
    tcp.send(Side::Server, &m);
    for (i, (request_soap, response_soap)) in [(7920, 2185), (1682, 2268), (11_935, 973)].into_iter().enumerate() {
        m.clear();
        http::winrm_request(&mut m, &mut rng, host, request_soap, 0x4c08_c4bb + i as u64);
        tcp.send(Side::Client, &m);
        m.clear();
        http::winrm_response(&mut m, &mut rng, now_secs + 1, response_soap, 0x4a18_fb95 + i as u64);
        tcp.send(Side::Server, &m);
    }
    tcp.close();
    let mut tcp = Tcp::open(&mut cap, 50_100, 80);
    m.clear();
    http::request(&mut m, &mut rng, "GET", "intranet.theshire.local", "/index.html", &[("Accept", "*/*")], 0);
    tcp.send(Side::Client, &m);
    m.clear();
    http::response(&mut m, &mut rng, 200, "OK", &[("Content-Type", "application/octet-stream")], 5000);
    tcp.send(Side::Server, &m);
    tcp.close();
    let pcap = cap.finish();
    let ts = tshark(&pcap);
    ts.assert_clean();

    let posts = ts.fields("http.request.method == \"POST\"", &["http.request.uri.path", "http.user_agent"]);
    assert_eq!(posts, ["/wsman\tMicrosoft WinRM Client"; 4]);
    assert_eq!(sorted(ts.values("kerberos", "kerberos.msg_type")), ["14", "15"], "AP-REQ and AP-REP");
    assert_eq!(ts.values("kerberos.msg_type == 14", "kerberos.SNameString"), ["HTTP", host]);
    assert_eq!(ts.values("kerberos.msg_type == 14", "kerberos.realm"), ["THESHIRE.LOCAL"]);
    let parts = ts.values("mime_multipart", "mime_multipart.header.content-type");
    assert_eq!(
        sorted(parts.clone()),
        ["application/HTTP-Kerberos-session-encrypted", "application/octet-stream"],
        "{parts:?}"
    );
    assert_eq!(parts.len(), 12, "two parts in each of six sealed messages");
    assert_eq!(ts.fields("http.request.method == \"GET\"", &["http.host"]), ["intranet.theshire.local"]);
    assert_eq!(
        ts.fields("tcp.port == 80 && http.response", &["http.response.code", "http.content_length"]),
        ["200\t5000"]
    );
}

#[test]
fn ssh_session_dissects_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(dir.path(), "ssh.pcap");
    let mut rng = Rng::new(3);
    let mut tcp = Tcp::open(&mut cap, 41_000, 22);
    let mut m = Vec::new();
    ssh::banner(&mut m, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3");
    tcp.send(Side::Client, &m);
    m.clear();
    ssh::banner(&mut m, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
    tcp.send(Side::Server, &m);
    m.clear();
    ssh::kexinit(&mut m, &mut rng, ssh::Endpoint::Client);
    tcp.send(Side::Client, &m);
    m.clear();
    ssh::kexinit(&mut m, &mut rng, ssh::Endpoint::Server);
    tcp.send(Side::Server, &m);
    m.clear();
    ssh::kex_ecdh_init(&mut m, &mut rng);
    tcp.send(Side::Client, &m);
    m.clear();
    ssh::kex_ecdh_reply(&mut m, &mut rng);
    ssh::newkeys(&mut m);
    tcp.send(Side::Server, &m);
    m.clear();
    ssh::newkeys(&mut m);
    tcp.send(Side::Client, &m);
    for (side, payload_len) in [(Side::Client, 28), (Side::Server, 28), (Side::Client, 10), (Side::Server, 3000)] {
        m.clear();
        ssh::encrypted_packet(&mut m, &mut rng, payload_len);
        tcp.send(side, &m);
    }
    tcp.close();
    let pcap = cap.finish();
    let ts = tshark(&pcap);
    ts.assert_clean();

    assert_eq!(
        ts.values("ssh.protocol", "ssh.protocol"),
        ["SSH-2.0-OpenSSH_8.9p1 Ubuntu-3", "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"]
    );
    assert_eq!(ts.values("ssh.message_code", "ssh.message_code"), ["20", "20", "30", "31", "21", "21"]);
    let kex = ts.values("ssh.message_code == 20", "ssh.kex_algorithms");
    assert_eq!(kex[0], "curve25519-sha256");
    assert_eq!(ts.values("ssh.message_code == 31", "ssh.host_key.type"), ["ssh-ed25519"]);
    // tshark cannot decrypt: it shows the negotiated cipher on each encrypted segment (six here).
    let encrypted = ts.run(&["-Y", "ssh && !ssh.message_code && !ssh.protocol", "-V"]);
    assert_eq!(
        encrypted.matches("SSH Version 2 (encryption:chacha20-poly1305@openssh.com compression:none)").count(),
        6
    );
}

#[test]
fn rdp_negotiation_then_tls_dissects_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(dir.path(), "rdp.pcap");
    let mut rng = Rng::new(4);
    let mut tcp = Tcp::open(&mut cap, 49_800, 3389);
    let mut m = Vec::new();
    rdp::x224_connection_request(&mut m, "Administr");
    tcp.send(Side::Client, &m);
    m.clear();
    rdp::x224_connection_confirm(&mut m);
    tcp.send(Side::Server, &m);
    // CredSSP inside TLS: NTLM/Kerberos tokens, then the credentials, then RDP itself.
    let exchanges = [(Side::Client, 1800), (Side::Server, 200), (Side::Client, 600), (Side::Client, 420)];
    tls_session(&mut tcp, &mut rng, "WORKSTATION6.theshire.local", 2600, &exchanges);
    tcp.close();
    let pcap = cap.finish();
    let ts = tshark(&pcap);
    ts.assert_clean();
    assert_eq!(ts.values("rdp.neg_type", "rdp.neg_type"), ["0x01", "0x02"]);
    let cookie = ts.values("rdp.rt_cookie", "rdp.rt_cookie");
    assert!(cookie.len() == 1 && cookie[0].contains("mstshash=Administr"), "{cookie:?}");
    assert_eq!(ts.values("rdp.neg_type == 1", "rdp.negReq.requestedProtocols"), ["0x00000003"]);
    assert_eq!(ts.values("rdp.neg_type == 2", "rdp.negReq.selectedProtocol"), ["0x00000002"]);

    // tshark 4.0 leaves TLS on 3389 to TPKT ("Continuation"); decoded as TLS, the X.224 frames are
    // mere continuation data and the TLS session must be clean.
    let as_tls = Tshark { pcap: &pcap, options: &["-d", "tcp.port==3389,tls"] };
    as_tls.assert_clean();
    let sni = as_tls.values("tls.handshake.type == 1", "tls.handshake.extensions_server_name");
    assert_eq!(sni, ["WORKSTATION6.theshire.local"]);
    assert_eq!(as_tls.values("tls.record.content_type == 23", "tls.record.length"), ["1824", "224", "624", "444"]);
}

#[test]
fn dns_over_udp_and_tcp_dissects_cleanly() {
    use dns::{Answer, Rcode, Rdata, Recursion, RrType};
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(dir.path(), "dns.pcap");
    let mut rng = Rng::new(5);
    let tunnel_txt_name = dns::tunnel_name(&mut rng, 100, "t.example.com");
    let tunnel_null_name = dns::tunnel_name(&mut rng, 1000, "t.example.com");
    let txt = dns::tunnel_txt(&mut rng, 300);
    let exchanges: Vec<(&str, RrType, Rcode, Vec<Answer>)> = vec![
        (
            "www.example.com",
            RrType::A,
            Rcode::NoError,
            vec![
                Answer { ttl: 300, data: Rdata::Cname("edge.example.com".into()) },
                Answer { ttl: 60, data: Rdata::A([192, 0, 2, 10]) },
            ],
        ),
        (
            "dc01.theshire.local",
            RrType::AAAA,
            Rcode::NoError,
            vec![Answer { ttl: 1200, data: Rdata::Aaaa([0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]) }],
        ),
        (
            "_spf.example.com",
            RrType::TXT,
            Rcode::NoError,
            vec![Answer { ttl: 3600, data: Rdata::Txt(vec![b"v=spf1 -all".to_vec()]) }],
        ),
        (&tunnel_txt_name, RrType::TXT, Rcode::NoError, vec![Answer { ttl: 0, data: Rdata::Txt(txt.clone()) }]),
        (&tunnel_null_name, RrType::NULL, Rcode::NoError, vec![Answer { ttl: 0, data: Rdata::Null(vec![0xab; 200]) }]),
        ("nope.theshire.local", RrType::A, Rcode::NxDomain, vec![]),
    ];
    let mut m = Vec::new();
    for (i, (name, qtype, rcode, answers)) in exchanges.iter().enumerate() {
        let id = 0x1000 + i as u16;
        m.clear();
        dns::query(&mut m, id, name, *qtype, Recursion::Desired);
        cap.udp(Side::Client, 60_000 + i as u16, 53, &m);
        m.clear();
        dns::response(&mut m, id, name, *qtype, *rcode, answers);
        cap.udp(Side::Server, 60_000 + i as u16, 53, &m);
    }
    let mut tcp = Tcp::open(&mut cap, 60_100, 53);
    m.clear();
    dns::tcp_framed(&mut m, |m| dns::query(m, 0x2000, "big.example.com", RrType::TXT, Recursion::Desired));
    tcp.send(Side::Client, &m);
    m.clear();
    let big = [Answer { ttl: 60, data: Rdata::Txt(dns::tunnel_txt(&mut rng, 1500)) }];
    dns::tcp_framed(&mut m, |m| dns::response(m, 0x2000, "big.example.com", RrType::TXT, Rcode::NoError, &big));
    tcp.send(Side::Server, &m);
    tcp.close();
    let pcap = cap.finish();
    let ts = tshark(&pcap);
    ts.assert_clean();

    let queries = ts.values("dns.flags.response == 0", "dns.qry.name");
    let mut expected: Vec<String> = exchanges.iter().map(|e| e.0.to_string()).collect();
    expected.push("big.example.com".into());
    assert_eq!(queries, expected);
    let answers = ts.fields("dns.flags.response == 1", &["dns.resp.name", "dns.resp.type", "dns.flags.rcode"]);
    assert_eq!(answers[0], "www.example.com,edge.example.com\t5,1\t0");
    assert_eq!(answers[1], "dc01.theshire.local\t28\t0");
    assert_eq!(answers[3], format!("{tunnel_txt_name}\t16\t0"));
    assert_eq!(answers[4], format!("{tunnel_null_name}\t10\t0"));
    assert_eq!(answers[5], "\t\t3");
    assert_eq!(answers[6], "big.example.com\t16\t0", "over TCP");
    assert_eq!(ts.values("dns.a", "dns.a"), ["192.0.2.10"]);
    assert_eq!(ts.values("dns.aaaa", "dns.aaaa"), ["2001:db8::10"]);
    let txts = ts.values("dns.txt && udp", "dns.txt");
    assert_eq!(txts[0], "v=spf1 -all");
    assert_eq!(txts[1..].join(""), txt.iter().map(|s| String::from_utf8(s.clone()).unwrap()).collect::<String>());
    assert!(tunnel_null_name.len() > 240 && tunnel_null_name.len() <= 253, "{tunnel_null_name}");
    assert_eq!(ts.values("dns.null", "dns.null").len(), 1);
}

#[test]
fn ntp_and_icmp_echo_dissect_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Capture::new(dir.path(), "ntp_icmp.pcap");
    let mut rng = Rng::new(6);
    let t = START_NS + 250_000_000;
    let mut m = Vec::new();
    let origin = ntp::client_request(&mut m, &mut rng, t);
    cap.udp(Side::Client, 123, 123, &m);
    m.clear();
    ntp::server_response(&mut m, &mut rng, origin, t + 300_000, t + 350_000);
    cap.udp(Side::Server, 123, 123, &m);
    for (seq, windows) in [(1u16, true), (2, false)] {
        m.clear();
        if windows {
            icmp::windows_ping_payload(&mut m);
        } else {
            icmp::linux_ping_payload(&mut m, START_NS / 1_000_000_000, 123_456);
        }
        cap.packet(CLIENT, SERVER, L4::IcmpEcho { icmp_type: 8, ident: 0x0001, seq }, &m);
        cap.packet(SERVER, CLIENT, L4::IcmpEcho { icmp_type: 0, ident: 0x0001, seq }, &m);
    }
    let pcap = cap.finish();
    let ts = tshark(&pcap);
    ts.assert_clean();

    let ntp = ts.fields("ntp", &["ntp.flags.vn", "ntp.flags.mode", "ntp.xmt", "ntp.org"]);
    assert_eq!(ntp.len(), 2);
    let request: Vec<&str> = ntp[0].split('\t').collect();
    let response: Vec<&str> = ntp[1].split('\t').collect();
    assert_eq!(&request[..2], &["4", "3"]);
    assert_eq!(&response[..2], &["4", "4"]);
    assert!(request[2].starts_with("Mar  4, 2024 09:00:00.2500"), "{}", request[2]);
    assert_eq!(response[3], request[2], "the server echoes the client's transmit time");
    assert!(response[2].starts_with("Mar  4, 2024 09:00:00.2503"), "{}", response[2]);
    assert_eq!(
        ts.fields("icmp.type == 8", &["data.data"])[0],
        "6162636465666768696a6b6c6d6e6f7071727374757677616263646566676869"
    );
    // Wireshark reads a 32-bit timeval, so of the 64-bit one it shows the seconds and, as the
    // microseconds, the seconds' zero high half; the data after its 8 bytes starts with tv_usec.
    let stamp = ts.fields("icmp.type == 8 && icmp.data_time", &["icmp.data_time", "data.data"]);
    assert_eq!(stamp.len(), 1);
    let counting: String = (0x10..=0x37).map(|b| format!("{b:02x}")).collect();
    assert_eq!(stamp[0], format!("Mar  4, 2024 09:00:00.000000000 UTC\t40e2010000000000{counting}"));
    assert_eq!(ts.values("icmp.type == 0", "icmp.resp_to"), ["3", "5"], "each reply matched to its request");
}
