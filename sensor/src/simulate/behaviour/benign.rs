//! Benign behaviours of the site, including the look-alikes of attacks (a monitoring server that
//! touches every host, an authorised vulnerability scanner).

use super::conversations::{Exchange, SshPlan, rdp_session, ssh_session, tls_session, web_exchanges, winrm_session};
use super::{Actor, Ctx, Target, benign, echo_session, next_active, tcp_session, udp_session};
use crate::simulate::proto::{dns, icmp, ntp, opaque};
use crate::simulate::rng::Rng;
use crate::simulate::scheduler::Spawned;
use crate::simulate::session::{Script, Side, Step, script_of};
use crate::simulate::site::{Host, Os, Site};
use crate::simulate::tcp::TcpParams;

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;

/// Every benign actor of the site, with its first action time.
pub fn actors(site: &Site, start: u64, duration: u64, rng: &Rng) -> Vec<(u64, Box<dyn Actor>)> {
    let mut out: Vec<(u64, Box<dyn Actor>)> = Vec::new();
    for (i, ws) in site.workstations.iter().enumerate() {
        let mut r = rng.derive(i as u64);
        out.push((next_active(start, 40.0, &mut r), Box::new(Browsing { host: ws.clone(), rng: r.derive(1) })));
        out.push((start + r.range(0, 64 * MINUTE), Box::new(TimeSync { host: ws.clone(), rng: r.derive(2) })));
        out.push((next_active(start, 6.0, &mut r), Box::new(SaasSync { host: ws.clone(), rng: r.derive(3) })));
        out.push((next_active(start, 0.05, &mut r), Box::new(Update { host: ws.clone(), rng: r.derive(4) })));
        out.push((next_active(start, 0.1, &mut r), Box::new(VideoCall { host: ws.clone(), rng: r.derive(5) })));
    }
    for (i, jump) in site.jump_hosts.iter().enumerate() {
        let mut r = rng.derive((1 << 41) + i as u64);
        out.push((next_active(start, 3.0, &mut r), Box::new(AdminSsh { from: jump.clone(), rng: r.derive(1) })));
        out.push((next_active(start, 2.0, &mut r), Box::new(AdminRdp { from: jump.clone(), rng: r.derive(2) })));
    }
    let mut r = rng.derive(1 << 40);
    out.push((
        start + r.range(0, 15 * MINUTE),
        Box::new(RemoteManagement { from: site.monitoring.clone(), rng: r.derive(3) }),
    ));
    out.push((
        start + r.range(0, 5 * MINUTE),
        Box::new(PingMonitor { from: site.monitoring.clone(), rng: r.derive(1) }),
    ));
    out.push((
        start + r.range(0, duration / 2),
        Box::new(VulnScan { from: site.scanner.clone(), rng: r.derive(2), done: false }),
    ));
    out.extend(super::domain::benign_actors(site, start, &rng.derive(1 << 42)));
    out
}

/// A benign TCP session with default stack parameters.
fn benign_tcp(
    ctx: &mut Ctx<'_>,
    at: u64,
    host: &Host,
    target: Target,
    rng: &mut Rng,
    script: Script,
    behaviour: &'static str,
) -> Spawned {
    tcp_session(ctx, at, host, target, TcpParams::default(), rng, script, benign(behaviour, host))
}

/// A DNS lookup of `name` from `host` to a domain controller; returns the session and the time the
/// answer reaches the host.
pub fn lookup(
    ctx: &mut Ctx<'_>,
    now: u64,
    host: &Host,
    name: &str,
    answer: [u8; 4],
    rng: &mut Rng,
    behaviour: &'static str,
) -> (Spawned, u64) {
    let dc = rng.pick(&ctx.site.domain_controllers).clone();
    let target = Target::host(&dc, 53, rng);
    let id = rng.next_u32() as u16;
    let (mut q, mut r) = (Vec::new(), Vec::new());
    dns::query(&mut q, id, name, dns::RrType::A, dns::Recursion::Desired);
    let answers = [dns::Answer { ttl: 300, data: dns::Rdata::A(answer) }];
    dns::response(&mut r, id, name, dns::RrType::A, dns::Rcode::NoError, &answers);
    // A resolver that had to recurse answers later than the LAN round trip.
    let work = if rng.chance(0.3) { rng.range(5, 60) * 1_000_000 } else { rng.range(100, 600) * 1_000 };
    let script = script_of(vec![
        Step::Send { from: Side::Client, bytes: q },
        Step::Pause(work),
        Step::Send { from: Side::Server, bytes: r },
    ]);
    let done = now + target.rtt_ns + work;
    (udp_session(ctx, now, host, None, target, rng, script, benign(behaviour, host)), done)
}

/// Web browsing: a name lookup, then a TLS session to a CDN or SaaS host with a few requests.
struct Browsing {
    host: Host,
    rng: Rng,
}

impl Actor for Browsing {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let pool = if rng.chance(0.6) { &ctx.site.cdn } else { &ctx.site.saas };
        let dest = rng.pick(pool).clone();
        let (s, answered) = lookup(ctx, now, &self.host, &dest.name, dest.ip.octets(), rng, "web_browsing");
        out.push(s);
        let n = rng.range(1, 9) as u32;
        let script = tls_session(dest.name.clone(), rng.range(2_500, 5_500) as usize, web_exchanges(rng, n, 15_000.0));
        let target = Target::external(&dest, 443, rng);
        let at = answered + rng.range(200_000, 2_000_000);
        out.push(benign_tcp(ctx, at, &self.host, target, rng, script, "web_browsing"));
        Some(next_active(now, 40.0, rng))
    }
}

/// Windows time service: an NTP exchange with a domain controller about every 64 minutes.
struct TimeSync {
    host: Host,
    rng: Rng,
}

impl Actor for TimeSync {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let dc = rng.pick(&ctx.site.domain_controllers).clone();
        let target = Target::host(&dc, 123, rng);
        let (mut q, mut r) = (Vec::new(), Vec::new());
        let origin = ntp::client_request(&mut q, rng, now);
        ntp::server_response(&mut r, rng, origin, now + target.rtt_ns / 2, now + target.rtt_ns / 2 + 50_000);
        let script =
            script_of(vec![Step::Send { from: Side::Client, bytes: q }, Step::Send { from: Side::Server, bytes: r }]);
        // w32time uses port 123 on both ends.
        out.push(udp_session(ctx, now, &self.host, Some(123), target, rng, script, benign("ntp", &self.host)));
        Some(now + 64 * MINUTE + rng.range(0, 2 * MINUTE))
    }
}

/// The monitoring server pings every server every five minutes (4 echoes, Windows payload).
struct PingMonitor {
    from: Host,
    rng: Rng,
}

fn ping_script(count: u16, interval: u64) -> Script {
    let mut steps = Vec::new();
    for i in 0..count {
        if i > 0 {
            steps.push(Step::Pause(interval));
        }
        let mut p = Vec::new();
        icmp::windows_ping_payload(&mut p);
        steps.push(Step::Send { from: Side::Client, bytes: p.clone() });
        steps.push(Step::Send { from: Side::Server, bytes: p });
    }
    script_of(steps)
}

impl Actor for PingMonitor {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let servers: Vec<Host> = ctx.site.servers().cloned().collect();
        for (k, server) in servers.iter().enumerate() {
            let rng = &mut self.rng;
            let target = Target::host(server, 0, rng);
            let ident = rng.next_u32() as u16;
            let at = now + k as u64 * 20_000_000;
            out.push(echo_session(
                at,
                &self.from,
                ident,
                target,
                rng,
                ping_script(4, SECOND),
                benign("monitoring_ping", &self.from),
            ));
        }
        Some(now + 5 * MINUTE)
    }
}

/// An authorised vulnerability scanner: one sweep of every workstation over common ports, most of
/// them refused or unanswered — the benign twin of an attacker's internal scan.
struct VulnScan {
    from: Host,
    rng: Rng,
    done: bool,
}

impl Actor for VulnScan {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        if self.done {
            return None;
        }
        self.done = true;
        let targets: Vec<Host> = ctx.site.workstations.iter().take(256).cloned().collect();
        let ports = [21, 22, 23, 25, 80, 135, 139, 443, 445, 3389, 5985, 8080];
        super::scan::sweep(
            ctx,
            now,
            &self.from,
            &targets,
            &ports,
            2_000_000,
            &mut self.rng,
            &mut |_h| benign("vulnerability_scan", &self.from),
            out,
        );
        None
    }
}

/// Administrators on a jump host open interactive SSH sessions to Linux servers (and now and then copy
/// a file) during working hours: admin-port connections between internal hosts that are benign.
struct AdminSsh {
    from: Host,
    rng: Rng,
}

impl Actor for AdminSsh {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let linux: Vec<Host> =
            ctx.site.servers().chain([&ctx.site.backup]).filter(|h| h.os == Os::Linux).cloned().collect();
        let server = rng.pick(&linux).clone();
        let plan = SshPlan {
            keystrokes: rng.range(20, 300) as u32,
            upload: if rng.chance(0.2) { rng.range(10_000, 2_000_000) } else { 0 },
            download: rng.range(2_000, 60_000),
            windows_client: self.from.os == Os::Windows,
        };
        let target = Target::host(&server, 22, rng);
        out.push(tcp_session(
            ctx,
            now,
            &self.from,
            target,
            TcpParams::default(),
            rng,
            ssh_session(plan),
            benign("admin_ssh", &self.from),
        ));
        Some(next_active(now, 3.0, rng))
    }
}

/// SaaS sync clients (mail, chat, file sync): short TLS sessions every ten minutes or so, and now and
/// then a file upload — the look-alike of exfiltration to a web service.
struct SaasSync {
    host: Host,
    rng: Rng,
}

impl Actor for SaasSync {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let dest = rng.pick(&ctx.site.saas).clone();
        let n = rng.range(1, 4) as u32;
        let mut exchanges = web_exchanges(rng, n, 3_000.0);
        if rng.chance(0.05) {
            exchanges.push(Exchange {
                request: ctx.scaled(rng.range(50_000, 5_000_000)),
                response: rng.range(300, 2_000),
                think_ns: 0,
            });
        }
        let script = tls_session(dest.name.clone(), rng.range(3_000, 5_500) as usize, exchanges);
        let target = Target::external(&dest, 443, rng);
        out.push(benign_tcp(ctx, now, &self.host, target, rng, script, "saas_sync"));
        Some(next_active(now, 6.0, rng))
    }
}

/// Software updates: a large TLS download now and then.
struct Update {
    host: Host,
    rng: Rng,
}

impl Actor for Update {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let dest = rng.pick(&ctx.site.updates).clone();
        let exchanges = vec![Exchange {
            request: rng.range(400, 900),
            response: ctx.scaled(rng.range(5_000_000, 60_000_000)),
            think_ns: 0,
        }];
        let script = tls_session(dest.name.clone(), rng.range(3_000, 5_000) as usize, exchanges);
        let target = Target::external(&dest, 443, rng);
        let params = TcpParams { max_cwnd: 512, ..TcpParams::default() };
        out.push(tcp_session(ctx, now, &self.host, target, params, rng, script, benign("software_update", &self.host)));
        Some(next_active(now, 0.05, rng))
    }
}

/// Video calls: a steady two-way UDP media stream to a relay for minutes.
struct VideoCall {
    host: Host,
    rng: Rng,
}

impl Actor for VideoCall {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let dest = rng.pick(&ctx.site.media).clone();
        let packets = ctx.scaled(rng.range(2, 15) * 60 * 25);
        // SRTP over the relay: RTP header (version 2, dynamic payload type 96, sequence number,
        // 90 kHz timestamp, one SSRC per direction), encrypted payload, 10-byte authentication tag.
        let mut seq = [rng.next_u32() as u16, rng.next_u32() as u16];
        let mut stamp = [rng.next_u32(), rng.next_u32()];
        let ssrc = [rng.next_u32(), rng.next_u32()];
        let mut i = 0u64;
        let script: Script = Box::new(move |rng: &mut Rng| {
            i += 1;
            if i > 3 * packets {
                return None;
            }
            let d = match i % 3 {
                0 => return Some(Step::Pause(rng.range(30, 50) * 1_000_000)),
                1 => 0,
                _ => 1,
            };
            seq[d] = seq[d].wrapping_add(1);
            stamp[d] = stamp[d].wrapping_add(3_000);
            let marker = if rng.chance(0.1) { 0x80 } else { 0 };
            let mut bytes = vec![0x80, marker | 96];
            bytes.extend_from_slice(&seq[d].to_be_bytes());
            bytes.extend_from_slice(&stamp[d].to_be_bytes());
            bytes.extend_from_slice(&ssrc[d].to_be_bytes());
            let len = rng.range(600, 1_200) as usize;
            bytes.extend_from_slice(opaque::slice(rng, len + 10));
            let from = if d == 0 { Side::Client } else { Side::Server };
            Some(Step::Send { from, bytes })
        });
        let target = Target::external(&dest, 3478, rng);
        let port = 50_000 + rng.range(0, 10_000) as u16;
        out.push(udp_session(ctx, now, &self.host, Some(port), target, rng, script, benign("video_call", &self.host)));
        Some(next_active(now, 0.1, rng))
    }
}

/// Administrators on a jump host open RDP sessions to Windows servers.
struct AdminRdp {
    from: Host,
    rng: Rng,
}

impl Actor for AdminRdp {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let rng = &mut self.rng;
        let windows: Vec<Host> = ctx.site.servers().filter(|h| h.os == Os::Windows).cloned().collect();
        let server = rng.pick(&windows).clone();
        let target = Target::host(&server, 3389, rng);
        let script = rdp_session("admin".into(), ctx.scaled(rng.range(60, 900)));
        out.push(benign_tcp(ctx, now, &self.from, target, rng, script, "admin_rdp"));
        Some(next_active(now, 2.0, rng))
    }
}

/// Remote management: every quarter of an hour the management server runs WinRM commands on a few
/// workstations (inventory, patch status) — benign fan-out on an admin port.
struct RemoteManagement {
    from: Host,
    rng: Rng,
}

impl Actor for RemoteManagement {
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64> {
        let count = (self.rng.range(3, 12) as usize).min(ctx.site.workstations.len());
        for k in 0..count {
            let rng = &mut self.rng;
            let ws = rng.pick(&ctx.site.workstations).clone();
            let target = Target::host(&ws, 5985, rng);
            let script = winrm_session(
                ws.name.clone(),
                ctx.site.domain.to_uppercase(),
                rng.range(2, 6) as u32,
                now / 1_000_000_000,
            );
            let at = now + k as u64 * rng.range(200, 2_000) * 1_000_000;
            out.push(benign_tcp(ctx, at, &self.from, target, rng, script, "remote_management"));
        }
        Some(now + 15 * MINUTE)
    }
}
