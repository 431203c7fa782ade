//! A deterministic synthetic traffic mix: many interleaved flows (TLS-like web, SMB, SSH, bulk upload,
//! DNS over UDP, ICMP echo) with real TCP handshakes, sequence numbers and teardown. The same config
//! gives the same bytes. Used by the throughput benchmark, tests and the demo; it has no attack ground
//! truth (that is the scenario simulator's job).

use std::io::{self, Write};
use std::net::Ipv4Addr;

use super::frame::{L4, ipv4_frame};
use super::rng::Rng;
use crate::capture::LinkType;
use crate::capture::pcap_write::{PcapWriter, TsResolution};

#[derive(Debug, Clone)]
pub struct SyntheticConfig {
    pub seed: u64,
    pub packets: u64,
    /// Flows in progress at any time.
    pub concurrent_flows: usize,
    pub start_ns: u64,
    /// Mean gap between packets of the whole capture.
    pub mean_gap_ns: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            seed: 1,
            packets: 100_000,
            concurrent_flows: 1_000,
            // 2024-03-04T09:00:00Z, a Monday morning.
            start_ns: 1_709_542_800_000_000_000,
            mean_gap_ns: 10_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Web,
    Smb,
    Ssh,
    Upload,
    Dns,
    Ping,
}

#[derive(Debug, Clone)]
struct GenFlow {
    kind: Kind,
    client: Ipv4Addr,
    server: Ipv4Addr,
    cport: u16,
    sport: u16,
    step: u32,
    total: u32,
    cseq: u32,
    sseq: u32,
    ip_id: u16,
}

const DNS_NAMES: &[&str] = &["www", "mail", "login", "cdn", "updates", "api", "files", "intranet"];
const DNS_DOMAINS: &[&str] = &["example.com", "example.org", "corp.example.net", "cdn.example.com"];

fn dns_message(out: &mut Vec<u8>, id: u16, name: &str, response: bool) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(if response { &[0x81, 0x80] } else { &[0x01, 0x00] });
    out.extend_from_slice(&[0, 1, 0, u8::from(response), 0, 0, 0, 0]);
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.extend_from_slice(&[0, 0, 1, 0, 1]);
    if response {
        // Answer: pointer to the question name, A IN, TTL 300, 4-byte address.
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x01, 0x2c, 0, 4, 192, 0, 2, (id & 0xff) as u8]);
    }
}

/// Generates frames one at a time.
pub struct Synthetic {
    cfg: SyntheticConfig,
    rng: Rng,
    live: Vec<GenFlow>,
    emitted: u64,
    ts_ns: u64,
    payload: Vec<u8>,
}

impl Synthetic {
    pub fn new(cfg: SyntheticConfig) -> Synthetic {
        let mut rng = Rng::new(cfg.seed);
        let live = (0..cfg.concurrent_flows.max(1)).map(|_| new_flow(&mut rng)).collect();
        let ts_ns = cfg.start_ns;
        Synthetic { cfg, rng, live, emitted: 0, ts_ns, payload: Vec::with_capacity(2048) }
    }

    /// Writes the next frame into `frame` and returns its timestamp; None when done.
    pub fn next_frame(&mut self, frame: &mut Vec<u8>) -> Option<u64> {
        if self.emitted >= self.cfg.packets {
            return None;
        }
        self.emitted += 1;
        self.ts_ns += self.rng.range(1, 2 * self.cfg.mean_gap_ns.max(1));
        let idx = self.rng.range(0, self.live.len() as u64) as usize;
        let mut f = self.live[idx].clone();
        build_packet(&mut f, &mut self.rng, &mut self.payload, frame);
        f.step += 1;
        f.ip_id = f.ip_id.wrapping_add(1);
        self.live[idx] = if f.step >= f.total { new_flow(&mut self.rng) } else { f };
        Some(self.ts_ns)
    }
}

fn new_flow(rng: &mut Rng) -> GenFlow {
    let kind = match rng.range(0, 100) {
        0..40 => Kind::Web,
        40..55 => Kind::Smb,
        55..62 => Kind::Ssh,
        62..67 => Kind::Upload,
        67..95 => Kind::Dns,
        _ => Kind::Ping,
    };
    let host = rng.range(1, 65_000) as u32;
    let client = Ipv4Addr::from(0x0a01_0000 | host);
    let server = match kind {
        Kind::Web | Kind::Upload => Ipv4Addr::from(0xcb00_7100 | rng.range(1, 255) as u32),
        Kind::Smb | Kind::Ssh => Ipv4Addr::from(0x0a02_0000 | rng.range(1, 64) as u32),
        Kind::Dns => Ipv4Addr::new(10, 2, 0, 53),
        Kind::Ping => Ipv4Addr::from(0x0a02_0000 | rng.range(1, 255) as u32),
    };
    let (sport, total) = match kind {
        Kind::Web => (443, rng.range(8, 40)),
        Kind::Smb => (445, rng.range(10, 60)),
        Kind::Ssh => (22, rng.range(10, 80)),
        Kind::Upload => (443, rng.range(60, 200)),
        Kind::Dns => (53, 2),
        Kind::Ping => (0, 2 * rng.range(1, 5)),
    };
    GenFlow {
        kind,
        client,
        server,
        cport: rng.range(32_768, 61_000) as u16,
        sport,
        step: 0,
        total: total as u32,
        cseq: rng.next_u64() as u32,
        sseq: rng.next_u64() as u32,
        ip_id: rng.next_u64() as u16,
    }
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH: u8 = 0x08;
const FIN: u8 = 0x01;

fn build_packet(f: &mut GenFlow, rng: &mut Rng, payload: &mut Vec<u8>, frame: &mut Vec<u8>) {
    payload.clear();
    match f.kind {
        Kind::Dns => {
            let name = format!(
                "{}.{}",
                DNS_NAMES[(f.cport as usize) % DNS_NAMES.len()],
                DNS_DOMAINS[(f.cport as usize / 8) % DNS_DOMAINS.len()]
            );
            let response = f.step == 1;
            dns_message(payload, f.cport, &name, response);
            let (src, dst, sp, dp) =
                if response { (f.server, f.client, 53, f.cport) } else { (f.client, f.server, f.cport, 53) };
            ipv4_frame(frame, src, dst, f.ip_id, L4::Udp { src_port: sp, dst_port: dp }, payload);
        }
        Kind::Ping => {
            let reply = f.step % 2 == 1;
            payload.extend((0..56u8).map(|i| i.wrapping_add(0x10)));
            let l4 = L4::IcmpEcho { icmp_type: if reply { 0 } else { 8 }, ident: f.cport, seq: (f.step / 2) as u16 };
            let (src, dst) = if reply { (f.server, f.client) } else { (f.client, f.server) };
            ipv4_frame(frame, src, dst, f.ip_id, l4, payload);
        }
        _ => tcp_packet(f, rng, payload, frame),
    }
}

fn tcp_packet(f: &mut GenFlow, rng: &mut Rng, payload: &mut Vec<u8>, frame: &mut Vec<u8>) {
    let last = f.total - 1;
    // (from client?, flags, payload length)
    let (from_client, flags, len) = match f.step {
        0 => (true, SYN, 0),
        1 => (false, SYN | ACK, 0),
        2 => (true, ACK, 0),
        s if s == last - 2 => (true, FIN | ACK, 0),
        s if s == last - 1 => (false, FIN | ACK, 0),
        s if s == last => (true, ACK, 0),
        _ => {
            let roll = rng.range(0, 100);
            match f.kind {
                Kind::Upload if roll < 85 => (true, ACK | PSH, 1448),
                Kind::Upload => (false, ACK, 0),
                Kind::Web if roll < 30 => (true, ACK | PSH, rng.range(80, 700) as usize),
                Kind::Web => (false, ACK | PSH, rng.range(200, 1449) as usize),
                Kind::Ssh if roll < 50 => (true, ACK | PSH, rng.range(36, 200) as usize),
                Kind::Ssh => (false, ACK | PSH, rng.range(36, 400) as usize),
                _ if roll < 45 => (true, ACK | PSH, rng.range(70, 600) as usize),
                _ => (false, ACK | PSH, rng.range(100, 1449) as usize),
            }
        }
    };
    payload.resize(len, 0);
    for (i, b) in payload.iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31) ^ (f.cport as u8);
    }
    let consumed = len as u32 + u32::from(flags & (SYN | FIN) != 0);
    let (src, dst, sp, dp, seq, ack) = if from_client {
        let t = (f.client, f.server, f.cport, f.sport, f.cseq, f.sseq);
        f.cseq = f.cseq.wrapping_add(consumed);
        t
    } else {
        let t = (f.server, f.client, f.sport, f.cport, f.sseq, f.cseq);
        f.sseq = f.sseq.wrapping_add(consumed);
        t
    };
    let ack = if flags & ACK != 0 { ack } else { 0 };
    let l4 = L4::Tcp { src_port: sp, dst_port: dp, seq, ack, flags, window: 64_240, options: &[] };
    ipv4_frame(frame, src, dst, f.ip_id, l4, payload);
}

/// Writes a synthetic capture (classic pcap, Ethernet, nanosecond timestamps).
pub fn write_pcap<W: Write>(cfg: SyntheticConfig, out: W) -> io::Result<u64> {
    let mut w = PcapWriter::new(out, LinkType::Ethernet, 65_535, TsResolution::Nano)?;
    let mut gen_ = Synthetic::new(cfg);
    let mut frame = Vec::with_capacity(2048);
    let mut n = 0;
    while let Some(ts) = gen_.next_frame(&mut frame) {
        w.write_packet(ts, frame.len() as u32, &frame)?;
        n += 1;
    }
    w.flush()?;
    Ok(n)
}
