//! Behavioural context: state across flows that turns a single flow into a fact about a host's
//! behaviour. The same SMB session is routine from a file server and alarming from a workstation that
//! just reached twenty others; this stage is what tells them apart.
//!
//! The stage sits between the flow table and the models ([`crate::pipeline`] wires it) and sees, in
//! packet order: every packet (DNS queries, [`dns_domains`]), every flow start (novelty, fan-out, hop
//! chains, beaconing: facts of the first packet) and every record (bytes, outcomes). In each record it
//! fills the context features of the schema ([`names`]; the ranges of [`schema::layout`], which the
//! flow table leaves NaN) and attaches the direction and hop chain for the alert. `extract`,
//! `replay`, `baseline` and live capture run the same code in the same order, so the training table
//! and the sensor agree.
//!
//! Families (one file each):
//! - where the flow runs, by the configured site networks ([`site`]);
//! - pair novelty against the learned baseline, new internal peers per source ([`baseline`],
//!   [`sources`]);
//! - fan-out to internal hosts on admin ports and the share of failed flows per source ([`sources`]);
//! - hop chains A→B→C on admin ports ([`chains`]);
//! - outbound volume against the host's own history, upload/download ratio, how many internal hosts
//!   reach the external peer ([`baseline`], [`sources`]);
//! - DNS information per registered domain ([`dns_domains`]);
//! - beaconing regularity ([`beacon`]);
//! - local hour and weekend ([`time`]);
//! - process novelty (agent mode only; missing elsewhere);
//! - authentication failures per source, from schema `flow-v3` on ([`auth_failures`]);
//! - how many internal hosts use an internal flow's service (its destination on that port class): a
//!   domain controller's RPC or a file server's SMB has many clients, a workstation's has none; from
//!   `flow-v4` on ([`baseline`]).
//!
//! Missing is not zero: a feature without enough history (learning period not over, too few starts,
//! too few bins) or without meaning for the flow (DNS features of a web flow) is NaN. So are the sums
//! over windows longer than five minutes (host bytes over 10 minutes and an hour, admin fan-out over an
//! hour) until the stage has watched the traffic without a break of over an hour for that long: right
//! after a start, "no bytes in the last hour" would only mean "not watched yet".
//!
//! Bounds: every map is capped ([`ContextLimits`], from the `[context]` config section) and drops its
//! stalest entries when full; [`Context::stats`] reports entries, memory and evictions. The learned
//! part ([`baseline::Baseline`]) persists across restarts ([`state_file`]); the short-term windows
//! (at most an hour) start empty after a restart.

pub mod auth_failures;
pub mod baseline;
pub mod beacon;
pub mod bounded;
pub mod chains;
pub mod dns_domains;
pub mod prefetch;
pub mod site;
pub mod sources;
pub mod state_file;
pub mod time;

use auth_failures::AuthFailures;
use baseline::{Baseline, BaselineLimits};
use beacon::Beacons;
use bounded::{BoundedMap, ip_bytes, secs, stable_hash};
use chains::Chains;
use dns_domains::{DnsDomains, DnsLimits};
use site::{Prefix, Site};
use sources::{PeerContact, PeerCounts, Sources};
use time::UtcOffset;

use std::sync::Arc;

use crate::decode::PacketMeta;
use crate::features::port_class::PortClass;
use crate::features::schema;
use crate::flow::{FlowRecord, FlowStart, HopChain, NetDirection, RecordKind};

const WHERE: &[&str] = &["ctx_dir_outbound", "ctx_dir_inbound", "ctx_dir_internal"];
const NOVELTY: &[&str] =
    &["ctx_pair_new", "ctx_pair_port_new", "ctx_src_new_internal_peers_5m", "ctx_src_new_internal_peers_1h"];
const FANOUT: &[&str] = &[
    "ctx_src_admin_fanout_5m",
    "ctx_src_admin_fanout_1h",
    "ctx_src_peers_5m",
    "ctx_src_flows_ended_5m",
    "ctx_src_failed_share_5m",
];
const VOLUME: &[&str] = &[
    "ctx_host_out_bytes_10m",
    "ctx_host_out_bytes_1h",
    "ctx_host_out_bytes_z",
    "ctx_host_out_bytes_hour_z",
    "ctx_host_updown_log2_1h",
    "ctx_peer_internal_hosts",
];
const PROCESS: &[&str] = &["ctx_proc_port_class_new", "ctx_proc_dst_new"];

const NS: u64 = 1_000_000_000;
/// A pause in the traffic longer than this restarts the watch of the long windows.
const WATCH_GAP_NS: u64 = 3600 * NS;

/// The context features of `flow-v2`, in schema order (appended to `flow-v1`).
pub fn names_v2() -> Vec<&'static str> {
    [WHERE, NOVELTY, FANOUT, chains::NAMES, VOLUME, dns_domains::NAMES, beacon::NAMES, time::NAMES, PROCESS].concat()
}

/// The context features added in `flow-v3`, in schema order (after its per-flow features).
pub fn names_v3() -> &'static [&'static str] {
    auth_failures::NAMES
}

/// The context features added in `flow-v4`, in schema order (after those of `flow-v3`).
pub fn names_v4() -> &'static [&'static str] {
    &["ctx_dst_port_class_clients"]
}

/// Every context feature, in schema order.
pub fn names() -> Vec<&'static str> {
    [&names_v2()[..], names_v3(), names_v4()].concat()
}

/// Caps on the context's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextLimits {
    /// Source→destination pairs remembered (each of: pairs, pairs per port class, process pairs).
    pub max_pairs: usize,
    /// External destinations, and internal services (destination, port class), whose internal
    /// clients are counted.
    pub max_destinations: usize,
    /// Internal hosts with a volume history, and hosts remembered as reached by a hop chain.
    pub max_hosts: usize,
    /// Sources with short-term windows (peers, outcomes, bytes).
    pub max_sources: usize,
    /// Peers tracked per source within the hour (counts saturate here).
    pub max_peers_per_source: usize,
    /// (host, external destination) pairs watched for beaconing.
    pub max_beacon_pairs: usize,
    /// Registered domains with DNS activity, and DNS flows waiting for their record.
    pub max_domains: usize,
    /// Distinct subdomains tracked per registered domain (the count saturates here).
    pub max_subdomains_per_domain: usize,
    /// Flows whose start-time facts wait for their records (set to the flow table's bound).
    pub max_open_flows: usize,
}

impl ContextLimits {
    /// The caps of the learned (persisted) part.
    pub fn baseline(&self) -> BaselineLimits {
        BaselineLimits { max_pairs: self.max_pairs, max_destinations: self.max_destinations, max_hosts: self.max_hosts }
    }
}

impl Default for ContextLimits {
    fn default() -> Self {
        ContextLimits {
            max_pairs: 1_000_000,
            max_destinations: 262_144,
            max_hosts: 65_536,
            max_sources: 16_384,
            max_peers_per_source: 256,
            max_beacon_pairs: 65_536,
            max_domains: 65_536,
            max_subdomains_per_domain: 1024,
            max_open_flows: 1_000_000,
        }
    }
}

/// Resolved context settings.
#[derive(Debug, Clone)]
pub struct ContextConfig {
    pub site: Site,
    pub utc_offset: UtcOffset,
    /// Novelty and reach features are missing until the baseline has seen this much packet time.
    pub learning_period_ns: u64,
    /// A hop B→C extends a chain that reached B at most this long before.
    pub chain_window_ns: u64,
    /// Hosts whose admin-port reach is their job: their connections start no hop chain.
    pub admin_sources: Vec<Prefix>,
    pub limits: ContextLimits,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig {
            site: Site::default_networks(),
            utc_offset: UtcOffset(0),
            learning_period_ns: 3_600_000_000_000,
            chain_window_ns: 3_600_000_000_000,
            admin_sources: Vec::new(),
            limits: ContextLimits::default(),
        }
    }
}

/// Facts of a flow's start (1.0 / 0.0, NaN while learning).
#[derive(Debug, Clone)]
struct StartFacts {
    pair_new: f64,
    pair_port_new: f64,
    proc_port_new: f64,
    proc_dst_new: f64,
    chain: Option<Arc<HopChain>>,
}

/// A flow between its start and its final record.
#[derive(Debug)]
struct OpenFlow {
    facts: StartFacts,
    /// Bytes of this flow already added to its host's volume (sent, received by the internal host).
    counted: (u64, u64),
    /// Authentication failures of this flow already added to its source's window.
    auth_failures: u32,
}

/// What the context holds and has dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ContextStats {
    pub entries: usize,
    pub memory_bytes: usize,
    /// Entries dropped to stay within the caps.
    pub evicted: u64,
    /// Records whose flow start was not seen (start-time features missing).
    pub unstarted_records: u64,
    /// Packet seconds the baseline has covered, and whether the learning period is over.
    pub covered_s: f64,
    pub learned: bool,
}

impl ContextStats {
    pub fn line(&self) -> String {
        format!(
            "context: {} entries, {:.1} MiB, {} evicted, {} records without a seen start, baseline covers {:.0} s ({})",
            self.entries,
            self.memory_bytes as f64 / (1 << 20) as f64,
            self.evicted,
            self.unstarted_records,
            self.covered_s,
            if self.learned { "learned" } else { "still learning: novelty features missing" },
        )
    }
}

/// The context stage. [`Context::disabled`] keeps no state and writes NaN for every feature.
pub struct Context {
    enabled: bool,
    cfg: ContextConfig,
    baseline: Baseline,
    sources: Sources,
    chains: Chains,
    beacons: Beacons,
    dns: DnsDomains,
    open: BoundedMap<OpenFlow>,
    auth: AuthFailures,
    clock_ns: u64,
    /// Packet time since which the stage has watched without a gap of over an hour.
    watched_from_ns: u64,
    unstarted_records: u64,
}

impl Context {
    pub fn new(cfg: ContextConfig) -> Context {
        let baseline = Baseline::new(cfg.limits.baseline());
        Context::with_baseline(cfg, baseline)
    }

    /// A context that continues from a loaded baseline.
    pub fn with_baseline(cfg: ContextConfig, baseline: Baseline) -> Context {
        let l = cfg.limits;
        Context {
            enabled: true,
            baseline,
            sources: Sources::new(l.max_sources, l.max_peers_per_source),
            chains: Chains::new(l.max_hosts, cfg.chain_window_ns, cfg.admin_sources.clone()),
            beacons: Beacons::new(l.max_beacon_pairs),
            dns: DnsDomains::new(DnsLimits {
                max_domains: l.max_domains,
                max_subdomains_per_domain: l.max_subdomains_per_domain,
                max_flows: l.max_domains,
            }),
            open: BoundedMap::new(l.max_open_flows),
            auth: AuthFailures::new(l.max_sources, l.max_peers_per_source),
            clock_ns: 0,
            watched_from_ns: 0,
            unstarted_records: 0,
            cfg,
        }
    }

    /// No context: every context feature is NaN, nothing is kept.
    pub fn disabled() -> Context {
        let tiny = ContextLimits {
            max_pairs: 1,
            max_destinations: 1,
            max_hosts: 1,
            max_sources: 1,
            max_peers_per_source: 1,
            max_beacon_pairs: 1,
            max_domains: 1,
            max_subdomains_per_domain: 1,
            max_open_flows: 1,
        };
        Context { enabled: false, ..Context::new(ContextConfig { limits: tiny, ..ContextConfig::default() }) }
    }

    pub fn config(&self) -> &ContextConfig {
        &self.cfg
    }

    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    fn learned(&self) -> bool {
        self.baseline.covered_ns >= self.cfg.learning_period_ns
    }

    fn advance(&mut self, ts_ns: u64) -> u64 {
        if self.clock_ns == 0 || ts_ns > self.clock_ns.saturating_add(WATCH_GAP_NS) {
            self.watched_from_ns = ts_ns;
        }
        self.clock_ns = self.clock_ns.max(ts_ns);
        self.baseline.observe_time(ts_ns);
        self.clock_ns
    }

    /// Whether the stage computes anything (false for [`Context::disabled`]).
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// Every packet, in capture order, before the flow table sees it.
    #[inline]
    pub fn packet(&mut self, meta: &PacketMeta<'_>) {
        if self.enabled {
            self.dns.observe(meta);
        }
    }

    /// Whether [`Context::packet`] can use this packet (a DNS query): the others need not reach it.
    /// Needs no state, so the capture side can filter while the stage runs on another thread.
    #[inline]
    pub fn wants_packet(meta: &PacketMeta<'_>) -> bool {
        dns_domains::is_query_candidate(meta)
    }

    /// A flow starts: novelty, fan-out, chains and beaconing are decided here, at its first packet.
    pub fn started(&mut self, start: &FlowStart) {
        if self.enabled {
            self.started_with(start, &self.start_keys(start));
        }
    }

    /// [`Context::started`] with the start's keys computed already ([`Context::start_keys`]).
    pub fn started_with(&mut self, start: &FlowStart, keys: &Keys) {
        if !self.enabled {
            return;
        }
        let now_s = secs(self.advance(start.ts_ns));
        let learned = self.learned();
        let Keys { dir, src_h, dst_h, pair, flow, service } = *keys;
        let class = start.responder_port().map(PortClass::of);
        let (pair_new, pair_port_new) =
            self.baseline.pair_seen(pair, Baseline::class_bit(class.map(|c| c as u8)), now_s);
        let dst_internal = matches!(dir, NetDirection::Internal | NetDirection::Inbound);
        let admin = class == Some(PortClass::Admin) && dst_internal;
        let contact = PeerContact { dst: dst_h, admin, new_internal: learned && pair_new && dst_internal };
        let max_peers = self.sources.max_peers;
        self.sources.windows.entry_fresh(src_h, now_s).0.contact(contact, now_s, max_peers);

        let chain = (admin && dir == NetDirection::Internal)
            .then(|| self.chains.connect(start.src_ip(), start.dst_ip(), start.ts_ns));
        match dir {
            NetDirection::Outbound => {
                self.beacons.start(pair, start.ts_ns);
                self.baseline.reach(dst_h, src_h, now_s);
            }
            NetDirection::Inbound => {
                self.baseline.reach(src_h, dst_h, now_s);
            }
            NetDirection::Internal => {
                self.baseline.reach(service, src_h, now_s);
            }
            NetDirection::External => {}
        }
        self.open.entry(flow, now_s, || OpenFlow {
            facts: StartFacts {
                pair_new: novelty(learned, pair_new),
                pair_port_new: novelty(learned, pair_port_new),
                proc_port_new: f64::NAN,
                proc_dst_new: f64::NAN,
                chain,
            },
            counted: (0, 0),
            auth_failures: 0,
        });
    }

    /// Agent mode: the process behind a flow that has just started is known. Sets the flow's process
    /// novelty (first time this executable uses this port class, this destination).
    pub fn process(&mut self, start: &FlowStart, executable: &str) {
        if !self.enabled {
            return;
        }
        let now_s = secs(start.ts_ns);
        let learned = self.learned();
        let exe = executable.as_bytes();
        let class_byte = start.responder_port().map_or(u8::MAX, |p| PortClass::of(p) as u8);
        let port_new = Baseline::first_time(&mut self.baseline.proc_ports, stable_hash(&[exe, &[class_byte]]), now_s);
        let dst_new =
            Baseline::first_time(&mut self.baseline.proc_dsts, stable_hash(&[exe, &ip_bytes(start.dst_ip())]), now_s);
        if let Some(open) = self.open.get_mut(start.flow_id(), now_s) {
            open.facts.proc_port_new = novelty(learned, port_new);
            open.facts.proc_dst_new = novelty(learned, dst_new);
        }
    }

    /// A record leaves the flow table: update volumes, outcomes and authentication failures, then fill
    /// the record's context features (the context ranges of [`schema::layout`]) and attach direction
    /// and chain.
    pub fn enrich(&mut self, record: &mut FlowRecord) {
        let keys = if self.enabled { Some(self.record_keys(record)) } else { None };
        self.enrich_with(record, keys.as_ref());
    }

    /// [`Context::enrich`] with the record's keys computed already ([`Context::record_keys`]; `None`
    /// only when the stage is disabled).
    pub fn enrich_with(&mut self, record: &mut FlowRecord, keys: Option<&Keys>) {
        let layout = schema::layout();
        // Records from the flow table already have this width, their context ranges NaN.
        record.features.resize(schema::current().len(), f64::NAN);
        let Some(&Keys { dir, src_h, dst_h, pair, flow, service }) = keys.filter(|_| self.enabled) else {
            return;
        };
        let now_ns = self.advance(record.end_ns);
        let now_s = secs(now_ns);
        let is_final = record.kind == RecordKind::Final;

        // The flow's internal host (source first), and the bytes it sent and received in this flow.
        let host = match internal_host(dir) {
            Some(HostEnd::Source) => Some((src_h, (record.fwd_wire_bytes, record.bwd_wire_bytes))),
            Some(HostEnd::Destination) => Some((dst_h, (record.bwd_wire_bytes, record.fwd_wire_bytes))),
            None => None,
        };
        let exchanged = host.map_or((0, 0), |(_, bytes)| bytes);

        // The flow's start facts; the open entry keeps the bytes already counted into volumes (one
        // lookup: read the old count, store the new one).
        let failures_so_far = auth_failures_of(record);
        let found = if is_final {
            self.open.remove(flow).map(|o| (o.facts, o.counted, o.auth_failures))
        } else {
            self.open.get_mut(flow, now_s).map(|o| {
                let counted = std::mem::replace(&mut o.counted, exchanged);
                (o.facts.clone(), counted, std::mem::replace(&mut o.auth_failures, failures_so_far))
            })
        };
        let (start, counted, counted_auth_failures) = match found {
            Some((facts, counted, auth)) => (Some(facts), counted, auth),
            None => {
                self.unstarted_records += 1;
                (None, (0, 0), 0)
            }
        };
        self.auth.add(src_h, dst_h, failures_so_far.saturating_sub(counted_auth_failures), now_s);

        if let (Some((host_h, (sent, received))), NetDirection::Outbound | NetDirection::Inbound) = (host, dir) {
            let (ds, dr) = (sent.saturating_sub(counted.0), received.saturating_sub(counted.1));
            self.sources.bytes.entry_fresh(host_h, now_s).0.add(ds, dr, now_s);
            let offset = self.cfg.utc_offset;
            self.baseline.hosts.entry(host_h, now_s, Default::default).0.add_sent(ds, now_s, offset);
        }
        // Only flows to port 53 can carry a counted DNS query (see dns_domains).
        let dns_flow = matches!(record.key.proto, 6 | 17) && record.dst_port() == 53;
        if is_final {
            self.sources.windows.entry_fresh(src_h, now_s).0.ended(failed(record), now_s);
        }

        let learned = self.learned();
        let watched = |window_ns: u64| now_ns.saturating_sub(self.watched_from_ns) >= window_ns;
        let (watched_10m, watched_1h) = (watched(600 * NS), watched(3600 * NS));
        let out = &mut record.features[layout.context_v2.clone()];
        let mut w = Writer { out, i: 0 };
        w.put(f(dir == NetDirection::Outbound));
        w.put(f(dir == NetDirection::Inbound));
        w.put(f(dir == NetDirection::Internal));

        let o = start.as_ref();
        w.put(o.map_or(f64::NAN, |o| o.pair_new));
        w.put(o.map_or(f64::NAN, |o| o.pair_port_new));
        let window = self.sources.windows.get(src_h);
        let counts = window.map(|s| s.counts(now_s));
        let count = |g: fn(&PeerCounts) -> u32| counts.as_ref().map_or(f64::NAN, |c| f64::from(g(c)));
        w.put(if learned { count(|c| c.new_5m) } else { f64::NAN });
        w.put(if learned { count(|c| c.new_1h) } else { f64::NAN });

        w.put(count(|c| c.admin_5m));
        w.put(if watched_1h { count(|c| c.admin_1h) } else { f64::NAN });
        w.put(count(|c| c.any_5m));
        let (ended, failures) = window.map_or((0, 0), |s| s.outcomes_5m(now_s));
        w.put(if window.is_some() { f64::from(ended) } else { f64::NAN });
        w.put(if ended > 0 { f64::from(failures) / f64::from(ended) } else { f64::NAN });

        w.put(o.and_then(|o| o.chain.as_ref()).map_or(0.0, |c| c.hops() as f64));

        match host {
            Some((host_h, _)) => {
                let (out_10m, out_1h, in_1h) =
                    self.sources.bytes.get(host_h).map_or((0, 0, 0), |b| b.windows_10m_1h(now_s));
                w.put(if watched_10m { out_10m as f64 } else { f64::NAN });
                w.put(if watched_1h { out_1h as f64 } else { f64::NAN });
                let (z, hour_z) = self
                    .baseline
                    .hosts
                    .get(host_h)
                    .map_or((f64::NAN, f64::NAN), |v| v.z_scores(now_s, self.cfg.utc_offset));
                w.put(z);
                w.put(hour_z);
                w.put(if watched_1h { ((out_1h as f64 + 1.0) / (in_1h as f64 + 1.0)).log2() } else { f64::NAN });
            }
            None => w.skip(5),
        }
        let peer = match dir {
            NetDirection::Outbound => Some(dst_h),
            NetDirection::Inbound => Some(src_h),
            NetDirection::Internal | NetDirection::External => None,
        };
        w.put(match peer {
            Some(p) if learned => self.baseline.reach.get(p).map_or(0.0, |v| v.len() as f64),
            _ => f64::NAN,
        });

        let n = dns_domains::NAMES.len();
        if dns_flow {
            self.dns.write(&record.key, now_ns, &mut w.out[w.i..w.i + n]);
            if is_final {
                self.dns.forget(&record.key);
            }
        }
        w.i += n;

        let n = beacon::NAMES.len();
        if dir == NetDirection::Outbound {
            self.beacons.write(pair, now_ns, &mut w.out[w.i..w.i + n]);
        }
        w.i += n;

        self.cfg.utc_offset.write(record.start_ns, &mut w.out[w.i..w.i + time::NAMES.len()]);
        w.i += time::NAMES.len();

        w.put(o.map_or(f64::NAN, |o| o.proc_port_new));
        w.put(o.map_or(f64::NAN, |o| o.proc_dst_new));
        debug_assert_eq!(w.i, layout.context_v2.len());
        self.auth.write(src_h, now_s, &mut record.features[layout.context_v3.clone()]);
        record.features[layout.context_v4.start] = match dir {
            NetDirection::Internal if learned => self.baseline.reach.get(service).map_or(0.0, |v| v.len() as f64),
            _ => f64::NAN,
        };

        record.context.direction = Some(dir);
        record.context.chain = start.and_then(|o| o.chain);
    }

    pub fn stats(&self) -> ContextStats {
        let entries = self.baseline.entries()
            + self.sources.windows.len()
            + self.sources.bytes.len()
            + self.chains.entries()
            + self.beacons.entries()
            + self.open.len()
            + self.auth.entries();
        let dns = self.dns.stats();
        ContextStats {
            entries: entries + dns.domains + dns.flows,
            memory_bytes: self.baseline.memory_bytes()
                + self.sources.memory_bytes()
                + self.chains.memory_bytes()
                + self.beacons.memory_bytes()
                + self.dns.memory_bytes()
                + self.open.table_bytes()
                + self.auth.memory_bytes(),
            evicted: self.baseline.evicted()
                + self.sources.windows.evicted()
                + self.sources.bytes.evicted()
                + self.chains.evicted()
                + self.beacons.evicted()
                + self.open.evicted()
                + self.auth.evicted()
                + dns.evicted_domains
                + dns.evicted_flows,
            unstarted_records: self.unstarted_records,
            covered_s: self.baseline.covered_ns as f64 / 1e9,
            learned: self.learned(),
        }
    }
}

/// What the state a flow start or record touches is keyed by: computed once per input, so that a
/// lookup made ahead of time ([`prefetch`]) and the input's own use the same keys without hashing
/// twice.
#[derive(Debug, Clone, Copy)]
pub struct Keys {
    dir: NetDirection,
    /// Stable hashes of the source and destination addresses, and of the pair.
    src_h: u64,
    dst_h: u64,
    pair: u64,
    /// The flow's id.
    flow: u64,
    /// An internal flow's service: its destination and the port class of its responder port (0 for
    /// other flows).
    service: u64,
}

impl Context {
    /// The keys of a flow start (see [`Keys`]).
    pub fn start_keys(&self, start: &FlowStart) -> Keys {
        self.keys(start.src_ip(), start.dst_ip(), start.responder_port(), start.flow_id())
    }

    /// The keys of a record (see [`Keys`]).
    pub fn record_keys(&self, record: &FlowRecord) -> Keys {
        let responder_port = matches!(record.key.proto, 6 | 17).then(|| record.dst_port());
        self.keys(record.src_ip(), record.dst_ip(), responder_port, record.flow_id)
    }

    fn keys(&self, src: std::net::IpAddr, dst: std::net::IpAddr, responder_port: Option<u16>, flow: u64) -> Keys {
        let (src_b, dst_b) = (ip_bytes(src), ip_bytes(dst));
        let dir = self.cfg.site.direction(src, dst);
        // Kept apart from the address hashes of external destinations (same map) by the class byte.
        let service = if dir == NetDirection::Internal {
            let class = responder_port.map_or(u8::MAX, |p| PortClass::of(p) as u8);
            stable_hash(&[&dst_b, &[class]])
        } else {
            0
        };
        Keys {
            dir,
            src_h: stable_hash(&[&src_b]),
            dst_h: stable_hash(&[&dst_b]),
            pair: stable_hash(&[&src_b, &dst_b]),
            flow,
            service,
        }
    }
}

/// Which end of a flow is its internal host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostEnd {
    Source,
    Destination,
}

/// The flow's internal host: the source if it is internal, else the destination if that is.
fn internal_host(dir: NetDirection) -> Option<HostEnd> {
    match dir {
        NetDirection::Outbound | NetDirection::Internal => Some(HostEnd::Source),
        NetDirection::Inbound => Some(HostEnd::Destination),
        NetDirection::External => None,
    }
}

fn f(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// A novelty flag as a feature: missing while the baseline is still learning.
fn novelty(learned: bool, new: bool) -> f64 {
    if learned { f(new) } else { f64::NAN }
}

/// The authentication failures a record's flow drew so far (its `auth_failures` feature; 0 for flows
/// that carry no authentication protocol).
fn auth_failures_of(r: &FlowRecord) -> u32 {
    static AT: std::sync::LazyLock<usize> =
        std::sync::LazyLock::new(|| schema::current().index_of("auth_failures").expect("flow-v3 has auth_failures"));
    // A count written as f64; NaN (not such a flow) converts to 0.
    r.features.get(*AT).map_or(0, |&v| v as u32)
}

/// A flow that got nowhere: nothing came back, or a TCP connection refused or reset before any
/// exchange (at most four packets, ended by RST).
fn failed(r: &FlowRecord) -> bool {
    r.bwd_packets == 0
        || (r.key.proto == 6 && r.reason == crate::flow::EndReason::TcpRst && r.fwd_packets + r.bwd_packets <= 4)
}

struct Writer<'a> {
    out: &'a mut [f64],
    i: usize,
}

impl Writer<'_> {
    fn put(&mut self, v: f64) {
        self.out[self.i] = v;
        self.i += 1;
    }

    fn skip(&mut self, n: usize) {
        self.i += n;
    }
}

#[cfg(test)]
#[path = "context_tests.rs"]
mod tests;
