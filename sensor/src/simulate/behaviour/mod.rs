//! Behaviours: what hosts do, as *actors* that wake up at times of their choosing and start sessions.
//!
//! An actor is one behaviour of one host (web browsing of WS00042, the nightly backup of FS01) or one
//! attack instance (`psexec#3`). [`Actor::act`] creates the sessions of one activity (a DNS lookup and
//! the TLS connection it precedes; the dozen connections of a PsExec) and says when the actor acts
//! next. The helpers here build sessions with the right peers, TTLs, round trips and ports.
//!
//! `benign`, `exfil` and `lateral` hold the behaviours; each attack has *variants* (tools, sizes,
//! timings, ports): the `train` set and the `eval` set are disjoint, so a model is evaluated on attacks
//! that differ from those it learnt, as real attacks differ from a training set.

pub mod benign;
pub mod conversations;
pub mod domain;
pub mod exfil;
pub mod lateral;
pub mod scan;
pub mod windows;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::datagram::{Carrier, DatagramSession};
use super::rng::Rng;
use super::scheduler::Spawned;
use super::session::{Label, Meaning, Peer, Script};
use super::site::{External, Host, Site};
use super::tcp::{self, TcpParams, Vantage};

/// Which variants of each attack a run draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantSet {
    Train,
    Eval,
}

impl VariantSet {
    /// A variant number for an attack with `count_train` training and `count_eval` evaluation
    /// variants: training variants are `0..count_train`, evaluation ones follow them.
    pub fn pick(self, rng: &mut Rng, count_train: u8, count_eval: u8) -> u8 {
        match self {
            VariantSet::Train => rng.range(0, u64::from(count_train)) as u8,
            VariantSet::Eval => count_train + rng.range(0, u64::from(count_eval)) as u8,
        }
    }
}

/// The attacks the simulator knows, by name.
pub fn attack_names() -> &'static [&'static str] {
    &[
        "bulk_upload",
        "cloud_upload",
        "slow_drip",
        "dns_tunnel",
        "icmp_tunnel",
        "ssh_exfil",
        "internal_scan",
        "ssh_pivot",
        "rdp_lateral",
        "winrm_lateral",
        "psexec",
        "wmi_exec",
        "schtask_remote",
        "cred_spray",
    ]
}

/// A new instance (number `instance`) of the attack called `kind`; None for an unknown name.
pub fn attack(kind: &str, instance: u32, site: &Site, variants: VariantSet, rng: &mut Rng) -> Option<Box<dyn Actor>> {
    Some(match kind {
        "bulk_upload" => Box::new(exfil::BulkUpload::new(instance, site, variants, rng)),
        "cloud_upload" => Box::new(exfil::CloudUpload::new(instance, site, variants, rng)),
        "slow_drip" => Box::new(exfil::SlowDrip::new(instance, site, variants, rng)),
        "dns_tunnel" => Box::new(exfil::DnsTunnel::new(instance, site, variants, rng)),
        "icmp_tunnel" => Box::new(exfil::IcmpTunnel::new(instance, site, variants, rng)),
        "ssh_exfil" => Box::new(exfil::SshExfil::new(instance, site, variants, rng)),
        "internal_scan" => Box::new(lateral::InternalScan::new(instance, site, variants, rng)),
        "ssh_pivot" => Box::new(lateral::SshPivot::new(instance, site, variants, rng)),
        "rdp_lateral" => Box::new(lateral::RdpLateral::new(instance, site, variants, rng)),
        "winrm_lateral" => Box::new(lateral::WinrmLateral::new(instance, site, variants, rng)),
        "psexec" => Box::new(domain::Psexec::new(instance, site, variants, rng)),
        "wmi_exec" => Box::new(domain::WmiExec::new(instance, site, variants, rng)),
        "schtask_remote" => Box::new(domain::SchtaskRemote::new(instance, site, variants, rng)),
        "cred_spray" => Box::new(domain::CredSpray::new(instance, site, variants, rng)),
        _ => return None,
    })
}

/// What actors share while they run.
pub struct Ctx<'a> {
    pub site: &'a Site,
    pub variants: VariantSet,
    /// Scale of large transfers and long activities (1 = realistic; tests use less).
    pub volume: f64,
    /// When the scenario ends (actors that wait for a time of day check it is still ahead).
    pub end_ns: u64,
    /// Share of TCP sessions captured on one of their hosts (see [`ScenarioConfig::host_vantage`]).
    ///
    /// [`ScenarioConfig::host_vantage`]: crate::simulate::scenario::ScenarioConfig::host_vantage
    pub host_vantage: f64,
    ports: &'a mut HashMap<Ipv4Addr, u16>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        site: &'a Site,
        variants: VariantSet,
        volume: f64,
        end_ns: u64,
        ports: &'a mut HashMap<Ipv4Addr, u16>,
    ) -> Ctx<'a> {
        Ctx { site, variants, volume, end_ns, host_vantage: 0.0, ports }
    }

    /// `n` (bytes, packets, seconds of a long activity) scaled by [`Ctx::volume`], at least 1.
    pub fn scaled(&self, n: u64) -> u64 {
        ((n as f64 * self.volume) as u64).max(1)
    }

    /// The next ephemeral port of a host (Windows range 49152–65535, cycling), so concurrent sessions
    /// of one host never share a five-tuple.
    pub fn ephemeral_port(&mut self, host: Ipv4Addr) -> u16 {
        let seed = u32::from(host).wrapping_mul(2_654_435_761);
        let p = self.ports.entry(host).or_insert(49_152 + (seed % 16_000) as u16);
        *p = if *p == u16::MAX { 49_152 } else { *p + 1 };
        *p
    }
}

/// One behaviour of one host, or one attack instance.
pub trait Actor: Send {
    /// Starts the sessions of the activity due at `now` into `out`; returns when to act next.
    fn act(&mut self, now: u64, ctx: &mut Ctx<'_>, out: &mut Vec<Spawned>) -> Option<u64>;
}

/// Where a session goes: an internal host or an outside destination, with a port.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub ip: Ipv4Addr,
    pub port: u16,
    /// TTL of the target's packets as the observer sees them.
    pub ttl: u8,
    pub rtt_ns: u64,
}

impl Target {
    /// An internal host (one routed hop away, LAN round trip).
    pub fn host(h: &Host, port: u16, rng: &mut Rng) -> Target {
        Target { ip: h.ip, port, ttl: h.os.ttl() - 1, rtt_ns: rng.range(300_000, 1_500_000) }
    }

    pub fn external(e: &External, port: u16, rng: &mut Rng) -> Target {
        let jitter = rng.range(0, e.rtt_ns / 10 + 1);
        Target { ip: e.ip, port, ttl: 64u8.saturating_sub(e.hops), rtt_ns: e.rtt_ns + jitter }
    }
}

pub fn meaning(label: Label, scenario: String, behaviour: &'static str, technique: &'static str) -> Meaning {
    Meaning { label, scenario, behaviour, technique }
}

pub fn benign(behaviour: &'static str, host: &Host) -> Meaning {
    meaning(Label::Benign, format!("{behaviour}@{}", host.name), behaviour, "")
}

/// A TCP session from `client` to `target`.
#[allow(clippy::too_many_arguments)]
pub fn tcp_session(
    ctx: &mut Ctx<'_>,
    start: u64,
    client: &Host,
    target: Target,
    params: TcpParams,
    rng: &mut Rng,
    script: Script,
    meaning: Meaning,
) -> Spawned {
    let port = ctx.ephemeral_port(client.ip);
    let c = Peer { ip: client.ip, port, ttl: client.os.ttl() };
    let s = Peer { ip: target.ip, port: target.port, ttl: target.ttl };
    let session_rng = rng.derive(start ^ u64::from(port));
    // Drawn from a generator of its own, so that captures without host vantages stay as they were.
    let vantage = if ctx.host_vantage > 0.0 {
        let mut pick = session_rng.derive(0x7661_6e74);
        match pick.unit() {
            u if u >= ctx.host_vantage => Vantage::Tap,
            u if u < ctx.host_vantage / 2.0 => Vantage::ClientHost,
            _ => Vantage::ServerHost,
        }
    } else {
        Vantage::Tap
    };
    let params = TcpParams { rtt_ns: target.rtt_ns, vantage, ..params };
    let session = tcp::start(start, c, s, params, session_rng, script);
    Spawned { session: Box::new(session), meaning }
}

/// A UDP session from `client` to `target` (the client port is ephemeral unless `client_port` is set).
#[allow(clippy::too_many_arguments)]
pub fn udp_session(
    ctx: &mut Ctx<'_>,
    start: u64,
    client: &Host,
    client_port: Option<u16>,
    target: Target,
    rng: &mut Rng,
    script: Script,
    meaning: Meaning,
) -> Spawned {
    let port = client_port.unwrap_or_else(|| ctx.ephemeral_port(client.ip));
    let c = Peer { ip: client.ip, port, ttl: client.os.ttl() };
    let s = Peer { ip: target.ip, port: target.port, ttl: target.ttl };
    let session =
        DatagramSession::new(start, Carrier::Udp, c, s, target.rtt_ns, rng.derive(start ^ u64::from(port)), script);
    Spawned { session: Box::new(session), meaning }
}

/// An ICMP echo series from `client` to `target` with identifier `ident`.
pub fn echo_session(
    start: u64,
    client: &Host,
    ident: u16,
    target: Target,
    rng: &mut Rng,
    script: Script,
    meaning: Meaning,
) -> Spawned {
    let c = Peer { ip: client.ip, port: ident, ttl: client.os.ttl() };
    let s = Peer { ip: target.ip, port: 0, ttl: target.ttl };
    let session = DatagramSession::new(
        start,
        Carrier::IcmpEcho,
        c,
        s,
        target.rtt_ns,
        rng.derive(start ^ u64::from(ident)),
        script,
    );
    Spawned { session: Box::new(session), meaning }
}

const HOUR_NS: u64 = 3_600_000_000_000;
const DAY_NS: u64 = 24 * HOUR_NS;

/// How busy people are at `ts` (UTC): 1 in working hours on weekdays, less around them, little at
/// night and on weekends.
pub fn activity(ts: u64) -> f64 {
    let day = ts / DAY_NS;
    // 1970-01-01 was a Thursday: Monday = 0.
    let weekday = (day + 3) % 7;
    let hour = ts % DAY_NS / HOUR_NS;
    match (weekday >= 5, hour) {
        (true, _) => 0.05,
        (false, 8..=17) => 1.0,
        (false, 7 | 18 | 19) => 0.3,
        (false, _) => 0.03,
    }
}

/// Whether `ts` falls in the night (00:00–05:00 UTC).
pub fn is_night(ts: u64) -> bool {
    ts % DAY_NS < 5 * HOUR_NS
}

/// The start of the next night (00:00 UTC) after `ts`, with a random offset into it (up to 4 hours).
pub fn next_night(ts: u64, rng: &mut Rng) -> u64 {
    (ts / DAY_NS + 1) * DAY_NS + rng.range(0, 4 * HOUR_NS)
}

/// The next time after `now` of an activity happening `per_hour` times an hour at full activity,
/// thinned by [`activity`] (a Poisson process whose rate follows the working day).
pub fn next_active(now: u64, per_hour: f64, rng: &mut Rng) -> u64 {
    let mut t = now;
    for _ in 0..100_000 {
        t += (rng.exp(HOUR_NS as f64 / per_hour.max(1e-9))) as u64 + 1;
        if rng.chance(activity(t)) {
            return t;
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn working_hours_and_weekends() {
        // 2024-03-04 (Monday) 10:00 UTC and 03:00 UTC, 2024-03-09 (Saturday) 10:00 UTC.
        let monday = 1_709_510_400_000_000_000u64;
        assert_eq!(activity(monday + 10 * HOUR_NS), 1.0);
        assert_eq!(activity(monday + 3 * HOUR_NS), 0.03);
        assert_eq!(activity(monday + 5 * DAY_NS + 10 * HOUR_NS), 0.05);
        assert!(is_night(monday + 3 * HOUR_NS) && !is_night(monday + 10 * HOUR_NS));
    }

    #[test]
    fn ephemeral_ports_cycle_per_host() {
        let site = Site::new(2, &mut Rng::new(1));
        let mut ports = HashMap::new();
        let mut ctx = Ctx::new(&site, VariantSet::Train, 1.0, u64::MAX, &mut ports);
        let ip = site.workstations[0].ip;
        let a = ctx.ephemeral_port(ip);
        let b = ctx.ephemeral_port(ip);
        assert!(a >= 49_152 && b == if a == 65_535 { 49_152 } else { a + 1 });
    }

    #[test]
    fn variant_sets_are_disjoint() {
        let mut rng = Rng::new(3);
        for _ in 0..100 {
            assert!(VariantSet::Train.pick(&mut rng, 3, 2) < 3);
            assert!((3..5).contains(&VariantSet::Eval.pick(&mut rng, 3, 2)));
        }
    }
}
