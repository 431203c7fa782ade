//! DNS activity per registered domain, across flows and sources: the context that makes a slow DNS
//! tunnel visible. Such a tunnel spreads data over many small queries for subdomains of one registered
//! domain, each query (and each flow) below any per-flow threshold; summed per domain they add up.
//!
//! **What is counted.** [`DnsDomains::observe`] sees every decoded packet. It only looks further at
//! UDP or TCP sent to port 53 that is not a later IP fragment; the payload must be a parseable DNS
//! query (QR = 0, as [`crate::features::dns::query_name`] defines it; over TCP only a message that
//! begins with its length prefix in this segment). Its first question's name, lower-cased, is split
//! into the *registered domain* (public-suffix aware via `psl`: `a.b.example.co.uk` → `example.co.uk`;
//! when `psl` finds none, as for `co.uk` or the single label `wpad`, the last two labels, or the whole
//! name if it has fewer; an unlisted top-level label counts as a suffix, so `host.corp.local` →
//! `corp.local`) and the *subdomain part* left of it (`a.b`; empty for a query of the registered
//! domain itself). The root name is ignored. The query is counted for its domain at the packet's time,
//! whatever its source, and the packet's flow is linked to that domain (a flow that queries several
//! domains is linked to the one it queried last).
//!
//! **Features** of a flow's record, for its linked domain, as of the record's packet time:
//! - `ctx_dns_domain_queries_5m`, `ctx_dns_domain_queries_1h`: queries counted;
//! - `ctx_dns_domain_subdomains_1h`: distinct subdomain parts (the empty one not counted);
//! - `ctx_dns_domain_info_bytes_1h`: Σ over queries of `n · H / 8`, where `n` is the number of
//!   characters of the subdomain part *without its dots* and `H` the Shannon entropy of those
//!   characters in bits per character: the bytes of information the names could carry (`www` → 0; 40
//!   random base32 characters → about 22).
//!
//! **Windows.** Time is kept in one-minute buckets of packet time (`ts / 60 s`). A window of N minutes
//! is the record's minute and the N − 1 before it, so it spans between N − 1 and N minutes. Per domain,
//! a ring of 60 buckets holds query count and information bytes; a slot is reset when a newer minute
//! reuses it, and a query older than the minute already in its slot (an hour or more behind) is
//! dropped. Out-of-order packets within the hour count normally.
//!
//! **Bounds.** Domains and flow links live in [`BoundedMap`]s capped by [`DnsLimits`] (the stalest
//! quarter goes when full; dropped entries counted in [`DnsDomainStats`]). Each domain tracks at most
//! `max_subdomains_per_domain` subdomain hashes with the minute each was last seen. When that map is
//! full, entries that left the hour are pruned first (only when one can have, so a full map costs no
//! scan per query); if it is still full the new subdomain is not tracked: the count **saturates** at
//! the cap while the tracked ones stay in the window. Memory is at worst about `max_domains × (850 +
//! 34 × max_subdomains_per_domain) + 50 × max_flows` bytes (hash tables grow by doubling), all of it
//! reported by [`DnsDomains::memory_bytes`].
//!
//! **Missing values.** All four are NaN when the flow sent no counted query, or when its domain's state
//! was evicted; a linked domain with nothing left in the windows gives zeros.

use std::hash::BuildHasher;

use hashbrown::HashMap;

use super::bounded::{BoundedMap, secs, stable_hash};
use crate::decode::{Fragment, PacketMeta, Transport};
use crate::features::dns::query_name;
use crate::features::entropy::entropy_bits;
use crate::flow::FlowKey;

pub const NAMES: &[&str] = &[
    "ctx_dns_domain_queries_5m",
    "ctx_dns_domain_queries_1h",
    "ctx_dns_domain_subdomains_1h",
    "ctx_dns_domain_info_bytes_1h",
];

const DNS_PORT: u16 = 53;
const BUCKET_SECS: u32 = 60;
/// One hour of one-minute buckets.
const RING_MINUTES: u32 = 60;
const SHORT_WINDOW_MINUTES: u32 = 5;
const LONG_WINDOW_MINUTES: u32 = RING_MINUTES;

/// Caps on the state held.
#[derive(Debug, Clone, Copy)]
pub struct DnsLimits {
    /// Registered domains tracked (at least 1).
    pub max_domains: usize,
    /// Distinct subdomain parts tracked per domain; the subdomain count saturates here.
    pub max_subdomains_per_domain: usize,
    /// Flow → domain links held for flows whose final record is not written yet (at least 1).
    pub max_flows: usize,
}

/// State sizes and entries dropped to the caps since creation.
#[derive(Debug, Clone, Copy, Default)]
pub struct DnsDomainStats {
    pub domains: usize,
    pub flows: usize,
    pub evicted_domains: u64,
    pub evicted_flows: u64,
}

/// Queries counted in one minute of packet time.
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Minutes since the epoch.
    minute: u32,
    queries: u32,
    info_bytes: f32,
}

#[derive(Debug)]
struct DomainState {
    /// Indexed by `minute % RING_MINUTES`.
    buckets: [Bucket; RING_MINUTES as usize],
    /// Subdomain-part hash → minute last seen.
    subdomains: HashMap<u64, u32>,
    /// At most the oldest last-seen minute in `subdomains` (`u32::MAX` when empty): nothing can have
    /// left the window before `oldest_subdomain + LONG_WINDOW_MINUTES`.
    oldest_subdomain: u32,
}

impl DomainState {
    fn new() -> DomainState {
        DomainState {
            buckets: [Bucket::default(); RING_MINUTES as usize],
            subdomains: HashMap::new(),
            oldest_subdomain: u32::MAX,
        }
    }

    fn count(&mut self, minute: u32, subdomain: &[u8], max_subdomains: usize) {
        let bucket = &mut self.buckets[(minute % RING_MINUTES) as usize];
        if bucket.minute > minute {
            return;
        }
        if bucket.minute < minute {
            *bucket = Bucket { minute, queries: 0, info_bytes: 0.0 };
        }
        bucket.queries = bucket.queries.saturating_add(1);
        bucket.info_bytes += info_bytes(subdomain) as f32;
        if !subdomain.is_empty() {
            self.track_subdomain(stable_hash(&[subdomain]), minute, max_subdomains);
        }
    }

    fn track_subdomain(&mut self, hash: u64, minute: u32, cap: usize) {
        if let Some(seen) = self.subdomains.get_mut(&hash) {
            *seen = (*seen).max(minute);
            return;
        }
        if self.subdomains.len() >= cap && minute >= self.oldest_subdomain.saturating_add(LONG_WINDOW_MINUTES) {
            self.subdomains.retain(|_, &mut seen| in_window(seen, minute, LONG_WINDOW_MINUTES));
            self.oldest_subdomain = self.subdomains.values().copied().min().unwrap_or(u32::MAX);
        }
        if self.subdomains.len() < cap {
            self.subdomains.insert(hash, minute);
            self.oldest_subdomain = self.oldest_subdomain.min(minute);
        }
    }

    /// (queries in the short window, queries in the long window, information bytes in the long window),
    /// in one pass over the buckets. Each sum adds its buckets in ring order from -0.0, as `Iterator::sum`
    /// does, so the values are those of three separate sums.
    fn window_sums(&self, now_minute: u32) -> (f64, f64, f64) {
        let (mut short, mut long, mut info) = (-0.0, -0.0, -0.0);
        for b in &self.buckets {
            if in_window(b.minute, now_minute, LONG_WINDOW_MINUTES) {
                long += f64::from(b.queries);
                info += f64::from(b.info_bytes);
                if in_window(b.minute, now_minute, SHORT_WINDOW_MINUTES) {
                    short += f64::from(b.queries);
                }
            }
        }
        (short, long, info)
    }

    fn subdomains(&self, now_minute: u32) -> f64 {
        self.subdomains.values().filter(|&&seen| in_window(seen, now_minute, LONG_WINDOW_MINUTES)).count() as f64
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<DomainState>() + self.subdomains.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
    }
}

/// Whether `minute` is one of the `window` minutes ending with `now_minute`.
fn in_window(minute: u32, now_minute: u32, window: u32) -> bool {
    minute <= now_minute && now_minute - minute < window
}

/// Characters of `subdomain` (dots excluded) × their Shannon entropy in bits per character / 8.
fn info_bytes(subdomain: &[u8]) -> f64 {
    // A name has at most 253 presentation bytes, so counts fit in u8.
    let mut counts = [0u8; 256];
    let mut chars = 0usize;
    for &b in subdomain.iter().filter(|&&b| b != b'.') {
        counts[usize::from(b)] = counts[usize::from(b)].saturating_add(1);
        chars += 1;
    }
    chars as f64 * entropy_bits(&counts, chars) / 8.0
}

/// The registered domain of a lower-case name without trailing dot: a suffix of `name`.
fn registered_domain(name: &[u8]) -> &[u8] {
    if let Some(domain) = psl::domain(name) {
        return domain.as_bytes();
    }
    let mut dots = name.iter().enumerate().rev().filter(|&(_, &b)| b == b'.');
    match dots.nth(1) {
        Some((i, _)) => &name[i + 1..],
        None => name,
    }
}

/// Whether [`DnsDomains::observe`] looks further at a packet: UDP or TCP sent to port 53, not a later IP
/// fragment. Needs no state, so a capture thread can filter with it before handing packets over.
pub fn is_query_candidate(meta: &PacketMeta<'_>) -> bool {
    matches!(meta.transport, Transport::Udp { dst_port: DNS_PORT, .. } | Transport::Tcp { dst_port: DNS_PORT, .. })
        && meta.fragment != Fragment::Later
}

/// Per-registered-domain DNS query counters and the flow → domain links.
#[derive(Debug)]
pub struct DnsDomains {
    limits: DnsLimits,
    /// Keyed by `stable_hash` of the registered domain.
    domains: BoundedMap<Box<DomainState>>,
    /// Flow hash → domain key of the flow's last counted query.
    flows: BoundedMap<u64>,
}

impl DnsDomains {
    pub fn new(limits: DnsLimits) -> DnsDomains {
        DnsDomains { limits, domains: BoundedMap::new(limits.max_domains), flows: BoundedMap::new(limits.max_flows) }
    }

    /// Counts the packet if it is a DNS query to port 53 (see the module doc); any packet is accepted.
    pub fn observe(&mut self, meta: &PacketMeta<'_>) {
        if !is_query_candidate(meta) {
            return;
        }
        let over_tcp = matches!(meta.transport, Transport::Tcp { .. });
        let Some(name) = query_name(meta.payload, over_tcp) else {
            return;
        };
        let name = name.as_bytes();
        if name.is_empty() {
            return;
        }
        let domain = registered_domain(name);
        let subdomain = &name[..name.len().saturating_sub(domain.len() + 1)];
        let now_s = secs(meta.ts_ns);
        let domain_key = stable_hash(&[domain]);
        let (state, _) = self.domains.entry(domain_key, now_s, || Box::new(DomainState::new()));
        state.count(now_s / BUCKET_SECS, subdomain, self.limits.max_subdomains_per_domain);
        let (flow, _) = FlowKey::from_packet(meta);
        let (linked, _) = self.flows.entry(flow_hash(&flow), now_s, || domain_key);
        *linked = domain_key;
    }

    /// Writes the [`NAMES`] values for flow `key` as of packet time `now_ns`; `out.len()` must equal
    /// `NAMES.len()`.
    pub fn write(&self, key: &FlowKey, now_ns: u64, out: &mut [f64]) {
        debug_assert_eq!(out.len(), NAMES.len());
        let state = self.flows.get(flow_hash(key)).and_then(|&domain| self.domains.get(domain));
        let Some(state) = state else {
            out.fill(f64::NAN);
            return;
        };
        let now_minute = secs(now_ns) / BUCKET_SECS;
        let (short, long, info) = state.window_sums(now_minute);
        let values = [short, long, state.subdomains(now_minute), info];
        for (slot, value) in out.iter_mut().zip(values) {
            *slot = value;
        }
    }

    /// Drops the link of a flow whose final record has been written.
    pub fn forget(&mut self, key: &FlowKey) {
        self.flows.remove(flow_hash(key));
    }

    /// Heap bytes held, approximately: both tables and every domain's buckets and subdomain map
    /// (a walk over the domains).
    pub fn memory_bytes(&self) -> usize {
        let domains: usize = self.domains.iter().map(|(_, _, state)| state.heap_bytes()).sum();
        self.domains.table_bytes() + domains + self.flows.table_bytes()
    }

    pub fn stats(&self) -> DnsDomainStats {
        DnsDomainStats {
            domains: self.domains.len(),
            flows: self.flows.len(),
            evicted_domains: self.domains.evicted(),
            evicted_flows: self.flows.evicted(),
        }
    }
}

/// A deterministic hash of a flow key (the link map is not persisted, so it need not be `stable_hash`).
fn flow_hash(key: &FlowKey) -> u64 {
    foldhash::fast::FixedState::default().hash_one(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::bounded::mix;
    use crate::decode::{Delivery, TcpInfo};
    use proptest::prelude::*;

    /// A minute-aligned start (2023-11-14 22:14 UTC), so minute buckets start at offset 0.
    const T0_S: u64 = 1_700_000_040;
    const LIMITS: DnsLimits = DnsLimits { max_domains: 64, max_subdomains_per_domain: 1024, max_flows: 64 };

    fn at(offset_s: u64) -> u64 {
        (T0_S + offset_s) * 1_000_000_000
    }

    /// A DNS message (id 1, RD, one question of class IN, type A) for `name`; `flags` 0x0100 is a
    /// query, 0x8180 a response.
    fn message(name: &str, flags: u16) -> Vec<u8> {
        let mut m = vec![0, 1];
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
        for label in name.split('.') {
            m.push(label.len() as u8);
            m.extend_from_slice(label.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        m
    }

    fn query(name: &str) -> Vec<u8> {
        message(name, 0x0100)
    }

    #[derive(Clone, Copy)]
    enum Proto {
        Udp,
        Tcp,
    }

    /// A packet from the client 10.0.0.5 to the resolver 10.0.0.53 (or back, with the ports swapped).
    fn packet(ts_ns: u64, proto: Proto, src_port: u16, dst_port: u16, payload: &[u8]) -> PacketMeta<'_> {
        let (client, resolver) = ("10.0.0.5".parse().unwrap(), "10.0.0.53".parse().unwrap());
        let (src, dst) = if dst_port == DNS_PORT { (client, resolver) } else { (resolver, client) };
        let (proto_number, header_len, transport) = match proto {
            Proto::Udp => (17, 28, Transport::Udp { src_port, dst_port }),
            Proto::Tcp => {
                let tcp = TcpInfo { flags: 0x18, window: 1000, seq: 1, ack: 1 };
                (6, 40, Transport::Tcp { src_port, dst_port, tcp })
            }
        };
        let payload_len = payload.len() as u32;
        PacketMeta {
            ts_ns,
            wire_len: 14 + header_len + payload_len,
            vlan: 0,
            src,
            dst,
            proto: proto_number,
            ip_len: header_len + payload_len,
            header_len,
            payload_len,
            payload,
            transport,
            fragment: Fragment::None,
            delivery: Delivery::Unicast,
        }
    }

    fn udp_query(offset_s: u64, src_port: u16, name: &str) -> (DnsDomains, FlowKey) {
        let mut d = DnsDomains::new(LIMITS);
        let key = observe_udp(&mut d, offset_s, src_port, name);
        (d, key)
    }

    fn observe_udp(d: &mut DnsDomains, offset_s: u64, src_port: u16, name: &str) -> FlowKey {
        let payload = query(name);
        let p = packet(at(offset_s), Proto::Udp, src_port, DNS_PORT, &payload);
        d.observe(&p);
        FlowKey::from_packet(&p).0
    }

    fn record(d: &DnsDomains, key: &FlowKey, offset_s: u64) -> [f64; 4] {
        let mut out = [0.0; 4];
        d.write(key, at(offset_s), &mut out);
        out
    }

    fn base32_label(seed: u64, len: usize) -> String {
        let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
        (0..len).map(|i| char::from(alphabet[(mix(seed.wrapping_mul(1000) + i as u64) % 32) as usize])).collect()
    }

    /// `info_bytes` by the textbook formula, for comparison.
    fn info_by_hand(subdomain: &str) -> f64 {
        let chars: Vec<char> = subdomain.chars().filter(|&c| c != '.').collect();
        let n = chars.len() as f64;
        let mut h = 0.0;
        for c in 0u8..=255 {
            let k = chars.iter().filter(|&&x| x == char::from(c)).count() as f64;
            if k > 0.0 {
                h -= k / n * (k / n).log2();
            }
        }
        n * h / 8.0
    }

    #[test]
    fn slow_tunnel_adds_up_per_domain() {
        let mut d = DnsDomains::new(LIMITS);
        let (mut tunnel, mut web) = (FlowKey::EMPTY, FlowKey::EMPTY);
        let mut expected_info = 0.0;
        // One query every 6 s for an hour (offsets 0..3594 s), each from a new source port (a new flow),
        // and www.example.com 3 s after each.
        for i in 0..600u16 {
            let data = base32_label(u64::from(i), 40);
            expected_info += info_by_hand(&format!("{data}.t"));
            for key in [tunnel, web] {
                d.forget(&key);
            }
            tunnel = observe_udp(&mut d, 6 * u64::from(i), 10_000 + i, &format!("{data}.t.evil-tunnel.com"));
            web = observe_udp(&mut d, 6 * u64::from(i) + 3, 20_000 + i, "www.example.com");
        }
        // At 3597 s (minute 59): the hour holds all 600; minutes 55..=59 hold 3300..3594 s: 50.
        let t = record(&d, &tunnel, 3597);
        assert_eq!(t[..3], [50.0, 600.0, 600.0]);
        assert!(t[3] > 600.0 * 20.0, "{t:?}");
        assert!((t[3] - expected_info).abs() < 1e-4 * expected_info, "{} vs {expected_info}", t[3]);
        assert_eq!(record(&d, &web, 3597), [50.0, 600.0, 1.0, 0.0]);
        assert_eq!(d.stats().domains, 2);
        assert_eq!(d.stats().flows, 2);
    }

    #[test]
    fn registered_domains_follow_the_public_suffix_list() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"a.b.example.co.uk", b"example.co.uk"),
            (b"x.foo.com", b"foo.com"),
            (b"host.corp.local", b"corp.local"),
            (b"4.3.2.1.in-addr.arpa", b"1.in-addr.arpa"),
            (b"a.foo.blogspot.com", b"foo.blogspot.com"),
            (b"co.uk", b"co.uk"),
            (b"a.co.uk", b"a.co.uk"),
            (b"wpad", b"wpad"),
        ];
        for (name, domain) in cases {
            assert_eq!(registered_domain(name).escape_ascii().to_string(), domain.escape_ascii().to_string());
        }

        let mut d = DnsDomains::new(LIMITS);
        let uk1 = observe_udp(&mut d, 0, 1001, "a.b.example.co.uk");
        let uk2 = observe_udp(&mut d, 1, 1002, "C.Example.CO.UK");
        let foo = observe_udp(&mut d, 2, 1003, "x.foo.com");
        let bar = observe_udp(&mut d, 3, 1004, "x.bar.com");
        assert_eq!(record(&d, &uk1, 10)[..3], [2.0, 2.0, 2.0]);
        assert_eq!(record(&d, &uk2, 10)[..3], [2.0, 2.0, 2.0]);
        assert_eq!(record(&d, &foo, 10)[..3], [1.0, 1.0, 1.0]);
        assert_eq!(record(&d, &bar, 10)[..3], [1.0, 1.0, 1.0]);
        assert_eq!(d.stats().domains, 3);
    }

    #[test]
    fn windows_slide_with_packet_time() {
        let mut d = DnsDomains::new(LIMITS);
        let mut old = FlowKey::EMPTY;
        for i in 0..10 {
            old = observe_udp(&mut d, i, 1000, &format!("q{i}.slide.test"));
        }
        let last_minute = record(&d, &old, 59 * 60 + 59);
        assert_eq!(last_minute[..3], [0.0, 10.0, 10.0]);
        assert!(last_minute[3] > 0.0);
        // An hour on, the linked flow still has a domain, with nothing in its windows.
        assert_eq!(record(&d, &old, 3600), [0.0; 4]);
        // Minute 60 reuses minute 0's slot; a late packet from minute 0 is then dropped.
        let new = observe_udp(&mut d, 3600, 2000, "q99.slide.test");
        observe_udp(&mut d, 5, 1000, "q98.slide.test");
        assert_eq!(record(&d, &new, 3601)[..3], [1.0, 1.0, 1.0]);
        // A late packet within the hour counts in its own minute.
        observe_udp(&mut d, 3000, 1000, "q97.slide.test");
        assert_eq!(record(&d, &new, 3601)[..3], [1.0, 2.0, 2.0]);
    }

    #[test]
    fn only_queries_to_port_53_count() {
        let mut d = DnsDomains::new(LIMITS);
        let www = query("www.example.com");
        let response = message("www.example.com", 0x8180);
        let http = b"GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n";
        let packets = [
            packet(at(0), Proto::Tcp, 40_000, 443, http),
            packet(at(0), Proto::Udp, DNS_PORT, 40_001, &response),
            packet(at(0), Proto::Udp, 40_002, DNS_PORT, &response),
            packet(at(0), Proto::Udp, 40_003, 5353, &www),
            packet(at(0), Proto::Udp, 40_004, DNS_PORT, http),
            packet(at(0), Proto::Udp, 40_005, DNS_PORT, &www[..20]),
            PacketMeta { fragment: Fragment::Later, ..packet(at(0), Proto::Udp, 40_006, DNS_PORT, &www) },
        ];
        for p in &packets {
            d.observe(p);
            let out = record(&d, &FlowKey::from_packet(p).0, 1);
            assert!(out.iter().all(|v| v.is_nan()), "{out:?}");
        }
        assert_eq!(d.stats().domains, 0);
        assert_eq!(d.memory_bytes(), 0);
        // The reply of a counted query shares its flow.
        let (d, key) = udp_query(0, 40_007, "www.example.com");
        let reply = packet(at(0), Proto::Udp, DNS_PORT, 40_007, &response);
        assert_eq!(FlowKey::from_packet(&reply).0, key);
        assert_eq!(record(&d, &key, 1)[..3], [1.0, 1.0, 1.0]);
    }

    #[test]
    fn forgotten_flows_are_missing() {
        let (mut d, key) = udp_query(0, 1000, "www.example.com");
        d.forget(&key);
        assert!(record(&d, &key, 1).iter().all(|v| v.is_nan()));
        assert_eq!(d.stats().flows, 0);
        assert_eq!(d.stats().evicted_flows, 0);
    }

    #[test]
    fn queries_over_tcp_count() {
        let mut d = DnsDomains::new(LIMITS);
        let msg = query("abc.tcp-tunnel.net");
        let mut segment = (msg.len() as u16).to_be_bytes().to_vec();
        segment.extend_from_slice(&msg);
        let p = packet(at(0), Proto::Tcp, 50_000, DNS_PORT, &segment);
        d.observe(&p);
        // A segment continuing a message (no length prefix) is not parsed.
        d.observe(&packet(at(1), Proto::Tcp, 50_000, DNS_PORT, &msg));
        let key = FlowKey::from_packet(&p).0;
        assert_eq!(record(&d, &key, 2)[..3], [1.0, 1.0, 1.0]);
        assert!((record(&d, &key, 2)[3] - 3.0 * 3f64.log2() / 8.0).abs() < 1e-6);
    }

    #[test]
    fn domains_and_flows_stay_within_their_caps() {
        let limits = DnsLimits { max_domains: 16, max_subdomains_per_domain: 4, max_flows: 8 };
        let mut d = DnsDomains::new(limits);
        for i in 0..10_000u16 {
            observe_udp(&mut d, u64::from(i), i, &format!("www.d{i}.com"));
            let s = d.stats();
            assert!(s.domains <= 16 && s.flows <= 8, "{s:?}");
        }
        let s = d.stats();
        assert_eq!(s.domains as u64 + s.evicted_domains, 10_000);
        assert_eq!(s.flows as u64 + s.evicted_flows, 10_000);
    }

    #[test]
    fn subdomain_count_saturates_then_recovers() {
        let limits = DnsLimits { max_subdomains_per_domain: 8, ..LIMITS };
        let mut d = DnsDomains::new(limits);
        let mut key = FlowKey::EMPTY;
        for i in 0..20 {
            key = observe_udp(&mut d, i, 1000, &format!("s{i}.example.com"));
        }
        assert_eq!(record(&d, &key, 30)[..3], [20.0, 20.0, 8.0]);
        // Once the tracked ones leave the hour, new subdomains are tracked again.
        for i in 0..5 {
            key = observe_udp(&mut d, 3600 + i, 1000, &format!("n{i}.example.com"));
        }
        assert_eq!(record(&d, &key, 3610)[..3], [5.0, 5.0, 5.0]);
    }

    #[test]
    fn memory_counts_the_subdomain_maps() {
        let mut d = DnsDomains::new(LIMITS);
        observe_udp(&mut d, 0, 1000, "s.example.com");
        let one = d.memory_bytes();
        assert!(one >= std::mem::size_of::<DomainState>(), "{one}");
        for i in 0..1000 {
            observe_udp(&mut d, 1, 1000, &format!("s{i}.example.com"));
        }
        assert!(d.memory_bytes() >= one + 1000 * 16, "{} vs {one}", d.memory_bytes());
    }

    proptest! {
        #[test]
        fn bounds_hold_and_tracked_subdomains_are_exact(
            max_domains in 1usize..6,
            max_subdomains in 1usize..12,
            max_flows in 1usize..6,
            ops in proptest::collection::vec((0u8..8, 0u8..30, 0u16..10, 0u64..200), 1..300),
        ) {
            let limits = DnsLimits { max_domains, max_subdomains_per_domain: max_subdomains, max_flows };
            let mut d = DnsDomains::new(limits);
            // Per domain: subdomain → last second seen.
            let mut model: std::collections::HashMap<u8, std::collections::HashMap<u8, u64>> = Default::default();
            let mut t = 0;
            for (domain, sub, port, step) in ops {
                t += step;
                let key = observe_udp(&mut d, t, port, &format!("s{sub}.d{domain}.com"));
                model.entry(domain).or_default().insert(sub, t);
                let s = d.stats();
                prop_assert!(s.domains <= max_domains && s.flows <= max_flows);
                prop_assert!(d.domains.iter().all(|(_, _, state)| state.subdomains.len() <= max_subdomains));
                let out = record(&d, &key, t);
                let in_hour = model[&domain].values().filter(|&&seen| (T0_S + seen) / 60 + 60 > (T0_S + t) / 60).count();
                prop_assert!(out[2] as usize <= max_subdomains.min(in_hour), "{out:?}");
                if model[&domain].len() <= max_subdomains && s.evicted_domains == 0 {
                    prop_assert_eq!(out[2] as usize, in_hour);
                }
            }
        }
    }
}
