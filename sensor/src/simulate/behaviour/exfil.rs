//! Exfiltration: data leaving the site through channels chosen to hide it.
//!
//! Variants (training | evaluation):
//! - `dns_tunnel`: iodine-style NULL answers on one socket, dns2tcp-style TXT on one socket, CNAME
//!   answers with a new source port per query | slow TXT tunnel (one query every few seconds),
//!   A-record tunnel with hex labels.
//! - `icmp_tunnel`: ~1 KB and ~1.4 KB high-entropy echo payloads at tens per second | small 200-byte
//!   payloads at a few per second, replies larger than requests.
//! - `ssh_exfil`: one `scp` of 5–80 MB to a rare host | the same data split over 5–20 sessions a few
//!   minutes apart.
//! - `bulk_upload`: one TLS upload of 10–120 MB to a rare host on 443; four parallel TLS uploads of
//!   5–30 MB | ten sequential 2–10 MB uploads 20–60 s apart to port 8443.
//! - `cloud_upload`: one 20–150 MB upload to a cloud-storage host | multipart: 8 MB parts, one TLS
//!   session each, a few seconds apart. Both wait for the night when the scenario reaches one.
//! - `slow_drip`: a 5–50 KB upload every 1–5 minutes, 20–60 times (beacon-like) | every 30 s–2 min
//!   with ±60 % jitter to port 8443.

use super::conversations::{Exchange, SshPlan, ssh_session, tls_session};
use super::{Actor, Ctx, Target, VariantSet, echo_session, meaning, tcp_session, udp_session};
use crate::simulate::proto::{dns, opaque};
use crate::simulate::rng::Rng;
use crate::simulate::scheduler::Spawned;
use crate::simulate::session::{Label, Script, Side, Step};
use crate::simulate::site::{External, Host, Site};
use crate::simulate::tcp::TcpParams;

const MS: u64 = 1_000_000;

fn victim(site: &Site, rng: &mut Rng) -> Host {
    rng.pick(&site.workstations).clone()
}

/// DNS tunnel through the site's resolver to an attacker's domain.
pub struct DnsTunnel {
    instance: String,
    host: Host,
    domain: String,
    variant: u8,
    rng: Rng,
}

impl DnsTunnel {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> DnsTunnel {
        let host = victim(site, rng);
        let domain = format!("t{}.{}", rng.range(1, 99), rng.pick(&site.rare).name);
        let variant = variants.pick(rng, 3, 2);
        DnsTunnel { instance: format!("dns_tunnel#{instance}"), host, domain, variant, rng: rng.derive(99) }
    }
}

/// `queries` query/response pairs as one script (pace it with [`paced`]).
fn tunnel_script(domain: String, variant: u8, queries: u32) -> Script {
    let mut i = 0u32;
    let mut pending: Option<Vec<u8>> = None;
    Box::new(move |rng: &mut Rng| {
        if let Some(r) = pending.take() {
            return Some(Step::Send { from: Side::Server, bytes: r });
        }
        if i == queries {
            return None;
        }
        i += 1;
        let (qtype, data_len) = match variant {
            0 => (dns::RrType::NULL, 110),
            1 | 3 => (dns::RrType::TXT, 90),
            2 => (dns::RrType::CNAME, 100),
            _ => (dns::RrType::A, 60),
        };
        let name = dns::tunnel_name(rng, data_len, &domain);
        let id = rng.next_u32() as u16;
        let mut q = Vec::new();
        dns::query(&mut q, id, &name, qtype, dns::Recursion::Desired);
        let data = match variant {
            0 => {
                let len = rng.range(100, 220) as usize;
                dns::Rdata::Null(opaque::slice(rng, len).to_vec())
            }
            1 | 3 => {
                let len = rng.range(60, 180) as usize;
                dns::Rdata::Txt(dns::tunnel_txt(rng, len))
            }
            2 => dns::Rdata::Cname(dns::tunnel_name(rng, 40, &domain)),
            _ => dns::Rdata::A(rng.next_u32().to_be_bytes()),
        };
        let mut r = Vec::new();
        dns::response(&mut r, id, &name, qtype, dns::Rcode::NoError, &[dns::Answer { ttl: 0, data }]);
        pending = Some(r);
        Some(Step::Send { from: Side::Client, bytes: q })
    })
}

impl Actor for DnsTunnel {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let dc = rng.pick(&ctx.site.domain_controllers).clone();
        let m = meaning(Label::Exfiltration, self.instance.clone(), "dns_tunnel", "T1048.003");
        let (queries, gap) = match self.variant {
            0 | 1 => (ctx.scaled(rng.range(400, 1500)) as u32, (20, 200)),
            2 => (ctx.scaled(rng.range(200, 600)) as u32, (50, 400)),
            3 => (ctx.scaled(rng.range(60, 200)) as u32, (2_000, 6_000)),
            _ => (ctx.scaled(rng.range(300, 900)) as u32, (30, 300)),
        };
        if self.variant == 2 {
            // A new socket (source port) per query: many short flows.
            let mut t = now;
            for _ in 0..queries {
                let target = Target::host(&dc, 53, rng);
                let script = tunnel_script(self.domain.clone(), self.variant, 1);
                out.push(udp_session(ctx, t, &self.host, None, target, rng, script, m.clone()));
                t += rng.range(gap.0, gap.1) * MS;
            }
        } else {
            let target = Target::host(&dc, 53, rng);
            let script = paced(tunnel_script(self.domain.clone(), self.variant, queries), gap);
            out.push(udp_session(ctx, now, &self.host, None, target, rng, script, m));
        }
        None
    }
}

/// Inserts a pause of `gap_ms` (uniform) before every client message but the first.
fn paced(mut inner: Script, gap_ms: (u64, u64)) -> Script {
    let mut started = false;
    let mut held: Option<Step> = None;
    Box::new(move |rng: &mut Rng| {
        if let Some(step) = held.take() {
            return Some(step);
        }
        let step = inner(rng)?;
        if matches!(step, Step::Send { from: Side::Client, .. }) {
            if started {
                held = Some(step);
                return Some(Step::Pause(rng.range(gap_ms.0, gap_ms.1) * MS));
            }
            started = true;
        }
        Some(step)
    })
}

/// ICMP tunnel (ptunnel / icmpsh style) to a rare external host.
pub struct IcmpTunnel {
    instance: String,
    host: Host,
    dest: External,
    variant: u8,
    rng: Rng,
}

impl IcmpTunnel {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> IcmpTunnel {
        let host = victim(site, rng);
        let dest = rng.pick(&site.rare).clone();
        let variant = variants.pick(rng, 2, 1);
        IcmpTunnel { instance: format!("icmp_tunnel#{instance}"), host, dest, variant, rng: rng.derive(98) }
    }
}

impl Actor for IcmpTunnel {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let (count, req, resp, gap) = match self.variant {
            0 => (ctx.scaled(rng.range(500, 3000)) as u32, (900, 1100), (32, 64), (20, 80)),
            1 => (ctx.scaled(rng.range(500, 3000)) as u32, (1300, 1472), (32, 64), (10, 50)),
            _ => (ctx.scaled(rng.range(200, 800)) as u32, (150, 250), (400, 900), (200, 900)),
        };
        let mut i = 0;
        let mut reply: Option<usize> = None;
        let script: Script = Box::new(move |rng: &mut Rng| {
            if let Some(len) = reply.take() {
                return Some(Step::Send { from: Side::Server, bytes: opaque::slice(rng, len).to_vec() });
            }
            if i == count {
                return None;
            }
            i += 1;
            reply = Some(rng.range(resp.0, resp.1) as usize);
            let len = rng.range(req.0, req.1) as usize;
            Some(Step::Send { from: Side::Client, bytes: opaque::slice(rng, len).to_vec() })
        });
        let target = Target::external(&self.dest, 0, rng);
        let ident = rng.next_u32() as u16;
        let m = meaning(Label::Exfiltration, self.instance.clone(), "icmp_tunnel", "T1048");
        out.push(echo_session(now, &self.host, ident, target, rng, paced(script, gap), m));
        None
    }
}

/// Exfiltration over SSH (`scp`) to a rare external host.
pub struct SshExfil {
    instance: String,
    host: Host,
    dest: External,
    variant: u8,
    rng: Rng,
    /// Sessions still to run (variant with split transfers) and bytes per session.
    left: u32,
    chunk: u64,
}

impl SshExfil {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> SshExfil {
        let host = victim(site, rng);
        let dest = rng.pick(&site.rare).clone();
        let variant = variants.pick(rng, 1, 1);
        let total = rng.range(5_000_000, 80_000_000);
        let left = if variant == 0 { 1 } else { rng.range(5, 21) as u32 };
        SshExfil {
            instance: format!("ssh_exfil#{instance}"),
            host,
            dest,
            variant,
            rng: rng.derive(96),
            left,
            chunk: total / u64::from(left),
        }
    }
}

impl Actor for SshExfil {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let target = Target::external(&self.dest, 22, rng);
        let plan = SshPlan { upload: ctx.scaled(self.chunk), keystrokes: 0, download: 200, windows_client: true };
        let params = TcpParams { max_cwnd: 512, ..TcpParams::default() };
        let m = meaning(Label::Exfiltration, self.instance.clone(), "ssh_exfil", "T1048.002");
        out.push(tcp_session(ctx, now, &self.host, target, params, rng, ssh_session(plan), m));
        self.left -= 1;
        (self.left > 0 && self.variant > 0).then(|| now + rng.range(60, 600) * 1_000_000_000)
    }
}

/// One TLS upload of `bytes` to `dest:port` from `host`.
#[allow(clippy::too_many_arguments)]
fn tls_upload(
    ctx: &mut Ctx<'_>,
    now: u64,
    host: &Host,
    dest: &External,
    port: u16,
    bytes: u64,
    rng: &mut Rng,
    meaning: crate::simulate::session::Meaning,
) -> Spawned {
    let exchanges = vec![
        Exchange { request: rng.range(300, 700), response: rng.range(200, 600), think_ns: rng.range(50, 300) * MS },
        Exchange { request: bytes, response: rng.range(150, 400), think_ns: 0 },
    ];
    let script = tls_session(dest.name.clone(), rng.range(2_500, 5_000) as usize, exchanges);
    let target = Target::external(dest, port, rng);
    let params = TcpParams { max_cwnd: 512, ..TcpParams::default() };
    tcp_session(ctx, now, host, target, params, rng, script, meaning)
}

/// Bulk upload over TLS to a rare external host.
pub struct BulkUpload {
    instance: String,
    host: Host,
    dest: External,
    variant: u8,
    left: u32,
    rng: Rng,
}

impl BulkUpload {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> BulkUpload {
        let host = victim(site, rng);
        let dest = rng.pick(&site.rare).clone();
        let variant = variants.pick(rng, 2, 1);
        BulkUpload { instance: format!("bulk_upload#{instance}"), host, dest, variant, left: 10, rng: rng.derive(94) }
    }
}

impl Actor for BulkUpload {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let m = meaning(Label::Exfiltration, self.instance.clone(), "bulk_upload", "T1041");
        match self.variant {
            0 => {
                let bytes = ctx.scaled(rng.range(10_000_000, 120_000_000));
                out.push(tls_upload(ctx, now, &self.host, &self.dest, 443, bytes, rng, m));
                None
            }
            1 => {
                for k in 0..4 {
                    let bytes = ctx.scaled(rng.range(5_000_000, 30_000_000));
                    out.push(tls_upload(ctx, now + k * 3 * MS, &self.host, &self.dest, 443, bytes, rng, m.clone()));
                }
                None
            }
            _ => {
                let bytes = ctx.scaled(rng.range(2_000_000, 10_000_000));
                out.push(tls_upload(ctx, now, &self.host, &self.dest, 8443, bytes, rng, m));
                self.left -= 1;
                (self.left > 0).then(|| now + rng.range(20, 60) * 1_000 * MS)
            }
        }
    }
}

/// Upload to cloud storage.
pub struct CloudUpload {
    instance: String,
    host: Host,
    dest: External,
    variant: u8,
    /// Parts left (multipart variant).
    parts: u32,
    /// Whether the actor already considered waiting for the night.
    waited: bool,
    rng: Rng,
}

impl CloudUpload {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> CloudUpload {
        let host = victim(site, rng);
        let dest = rng.pick(&site.cloud_storage).clone();
        let variant = variants.pick(rng, 1, 1);
        let parts = rng.range(3, 15) as u32;
        CloudUpload {
            instance: format!("cloud_upload#{instance}"),
            host,
            dest,
            variant,
            parts,
            waited: false,
            rng: rng.derive(93),
        }
    }
}

impl Actor for CloudUpload {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        if !self.waited {
            self.waited = true;
            let night = super::next_night(now, rng);
            if !super::is_night(now) && night < ctx.end_ns {
                return Some(night);
            }
        }
        let m = meaning(Label::Exfiltration, self.instance.clone(), "cloud_upload", "T1567.002");
        if self.variant == 0 {
            let bytes = ctx.scaled(rng.range(20_000_000, 150_000_000));
            out.push(tls_upload(ctx, now, &self.host, &self.dest, 443, bytes, rng, m));
            return None;
        }
        let part = ctx.scaled(8 << 20);
        out.push(tls_upload(ctx, now, &self.host, &self.dest, 443, part, rng, m));
        self.parts -= 1;
        (self.parts > 0).then(|| now + rng.range(2, 10) * 1_000 * MS)
    }
}

/// Slow-drip exfiltration: small periodic uploads to a rare host, beacon-like.
pub struct SlowDrip {
    instance: String,
    host: Host,
    dest: External,
    variant: u8,
    left: u32,
    rng: Rng,
}

impl SlowDrip {
    pub fn new(instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> SlowDrip {
        let host = victim(site, rng);
        let dest = rng.pick(&site.rare).clone();
        let variant = variants.pick(rng, 1, 1);
        let left = rng.range(20, 61) as u32;
        SlowDrip { instance: format!("slow_drip#{instance}"), host, dest, variant, left, rng: rng.derive(92) }
    }
}

impl Actor for SlowDrip {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let m = meaning(Label::Exfiltration, self.instance.clone(), "slow_drip", "T1030");
        let port = if self.variant == 0 { 443 } else { 8443 };
        let bytes = rng.range(5_000, 50_000);
        out.push(tls_upload(ctx, now, &self.host, &self.dest, port, bytes, rng, m));
        self.left -= 1;
        let period = if self.variant == 0 {
            rng.range(60, 300) * 1_000 * MS
        } else {
            let base = rng.range(30, 120) * 1_000 * MS;
            let jitter = base * 6 / 10;
            base - jitter + rng.range(0, 2 * jitter + 1)
        };
        (self.left > 0).then(|| now + period)
    }
}
