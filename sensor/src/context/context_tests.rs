//! The context stage over constructed flow sequences: each family's feature on the flows that should
//! raise it, and on flows that should not.

use std::net::IpAddr;

use super::*;
use crate::features::schema;
use crate::flow::key::{Endpoint, Family};
use crate::flow::{EndReason, FlowKey};

const S: u64 = 1_000_000_000;
/// Monday 2024-03-04 09:00 UTC.
const T0: u64 = 1_709_542_800 * S;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[derive(Clone, Copy)]
struct Flow {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    proto: u8,
    start_ns: u64,
}

fn tcp(src: &str, dst: &str, dport: u16, start_ns: u64) -> Flow {
    Flow { src: ip(src), dst: ip(dst), sport: 40000 + (start_ns / S % 20000) as u16, dport, proto: 6, start_ns }
}

impl Flow {
    fn key(&self) -> (FlowKey, bool) {
        let ep = |ip: IpAddr, port: u16| Endpoint { addr: bounded::ip_bytes(ip), port };
        let mut s = ep(self.src, self.sport);
        let mut d = ep(self.dst, self.dport);
        let family = if self.src.is_ipv4() { Family::V4 } else { Family::V6 };
        if family == Family::V4 {
            // FlowKey holds IPv4 addresses in the first four bytes.
            for e in [&mut s, &mut d] {
                let v4 = e.addr;
                e.addr = [0; 16];
                e.addr[..4].copy_from_slice(&v4[12..]);
            }
        }
        let lo_is_initiator = (s.addr, s.port) <= (d.addr, d.port);
        let (lo, hi) = if lo_is_initiator { (s, d) } else { (d, s) };
        (FlowKey { lo, hi, vlan: 0, proto: self.proto, family }, lo_is_initiator)
    }

    fn start(&self) -> FlowStart {
        let (key, lo_is_initiator) = self.key();
        FlowStart { key, lo_is_initiator, ts_ns: self.start_ns }
    }

    fn record(
        &self,
        kind: RecordKind,
        end_ns: u64,
        packets: (u64, u64),
        bytes: (u64, u64),
        reason: EndReason,
    ) -> FlowRecord {
        let start = self.start();
        FlowRecord {
            flow_id: start.flow_id(),
            kind,
            reason,
            seq: 0,
            key: start.key,
            lo_is_initiator: start.lo_is_initiator,
            delivery: crate::decode::Delivery::Unicast,
            start_ns: self.start_ns,
            end_ns,
            fwd_packets: packets.0,
            bwd_packets: packets.1,
            fwd_wire_bytes: bytes.0,
            bwd_wire_bytes: bytes.1,
            features: vec![f64::NAN; schema::current().len()],
            context: Default::default(),
        }
    }
}

/// Runs a whole flow through the context (start, then one final record) and returns the record.
fn whole(ctx: &mut Context, f: Flow, dur_ns: u64, packets: (u64, u64), bytes: (u64, u64)) -> FlowRecord {
    ctx.started(&f.start());
    let mut r = f.record(RecordKind::Final, f.start_ns + dur_ns, packets, bytes, EndReason::TcpFin);
    ctx.enrich(&mut r);
    r
}

fn get(r: &FlowRecord, name: &str) -> f64 {
    let i = schema::current().index_of(name).unwrap_or_else(|| panic!("no feature {name}"));
    r.features[i]
}

fn learned_context() -> Context {
    Context::new(ContextConfig { learning_period_ns: 0, ..ContextConfig::default() })
}

/// A learned context that has also watched traffic for the hour before `T0`, so its 10-minute and
/// 1-hour sums are complete (an unrelated pair talked at `T0 - 1 h`).
fn watched_context() -> Context {
    let mut ctx = learned_context();
    whole(&mut ctx, tcp("10.9.9.1", "10.9.9.2", 80, T0 - 3600 * S), S, (2, 2), (200, 200));
    ctx
}

#[test]
fn every_record_gets_the_full_width() {
    let mut ctx = learned_context();
    let r = whole(&mut ctx, tcp("10.0.0.1", "10.0.0.2", 80, T0), S, (5, 5), (500, 500));
    assert_eq!(r.features.len(), schema::current().len());
    assert_eq!(get(&r, "ctx_hour_of_day"), 9.0);
    assert_eq!(get(&r, "ctx_weekend"), 0.0);
    assert_eq!(r.context.direction, Some(NetDirection::Internal));
    assert_eq!(get(&r, "ctx_dir_internal"), 1.0);
    assert_eq!(get(&r, "ctx_dir_outbound"), 0.0);
    assert!(get(&r, "ctx_dns_domain_queries_1h").is_nan(), "not a DNS flow");
    assert!(get(&r, "ctx_proc_port_class_new").is_nan(), "no process in pcap mode");
}

#[test]
fn a_chain_a_b_c_has_two_hops_and_names_its_path() {
    let mut ctx = learned_context();
    let ab = whole(&mut ctx, tcp("10.0.0.1", "10.0.0.2", 445, T0), 5 * S, (20, 20), (5000, 5000));
    let bc = whole(&mut ctx, tcp("10.0.0.2", "10.0.0.3", 5985, T0 + 60 * S), 5 * S, (20, 20), (5000, 5000));
    let web = whole(&mut ctx, tcp("10.0.0.3", "10.0.0.4", 443, T0 + 70 * S), S, (20, 20), (5000, 5000));
    assert_eq!(get(&ab, "ctx_chain_hops"), 1.0);
    assert_eq!(get(&bc, "ctx_chain_hops"), 2.0);
    assert_eq!(get(&web, "ctx_chain_hops"), 0.0, "not an admin port");
    let chain = bc.context.chain.as_ref().expect("B→C carries its chain");
    assert_eq!(chain.hosts, vec![ip("10.0.0.1"), ip("10.0.0.2"), ip("10.0.0.3")]);
    assert_eq!(Some(chain.id), ab.context.chain.as_ref().map(|c| c.id));
    assert!(web.context.chain.is_none());
}

#[test]
fn a_scan_of_fifty_hosts_shows_fan_out_and_failures() {
    let mut ctx = watched_context();
    let mut last = None;
    for i in 1..=50u8 {
        let f = tcp("10.0.0.66", &format!("10.0.1.{i}"), 445, T0 + u64::from(i) * S / 10);
        // SYN, no answer.
        last = Some(whole(&mut ctx, f, 0, (1, 0), (74, 0)));
    }
    let scan = last.unwrap();
    assert_eq!(get(&scan, "ctx_src_admin_fanout_5m"), 50.0);
    assert_eq!(get(&scan, "ctx_src_admin_fanout_1h"), 50.0);
    assert_eq!(get(&scan, "ctx_src_peers_5m"), 50.0);
    assert_eq!(get(&scan, "ctx_src_flows_ended_5m"), 50.0);
    assert_eq!(get(&scan, "ctx_src_failed_share_5m"), 1.0);
    assert_eq!(get(&scan, "ctx_src_new_internal_peers_5m"), 50.0);

    // A workstation using its file server all morning: fan-out 1, nothing failed.
    let mut usual = None;
    for i in 0..30 {
        usual =
            Some(whole(&mut ctx, tcp("10.0.0.7", "10.0.2.1", 445, T0 + i * 20 * S), 5 * S, (30, 30), (9000, 90000)));
    }
    let usual = usual.unwrap();
    assert_eq!(get(&usual, "ctx_src_admin_fanout_5m"), 1.0);
    assert_eq!(get(&usual, "ctx_src_failed_share_5m"), 0.0);
    assert_eq!(get(&usual, "ctx_pair_new"), 0.0);
}

#[test]
fn refused_connections_count_as_failed() {
    let mut ctx = learned_context();
    for i in 0..4 {
        let f = tcp("10.0.0.5", "10.0.0.9", 3389 + i, T0 + u64::from(i) * S);
        ctx.started(&f.start());
        let mut r = f.record(RecordKind::Final, f.start_ns + S / 100, (1, 1), (60, 54), EndReason::TcpRst);
        ctx.enrich(&mut r);
    }
    let f = tcp("10.0.0.5", "10.0.0.9", 80, T0 + 10 * S);
    let r = whole(&mut ctx, f, S, (10, 10), (900, 9000));
    assert_eq!(get(&r, "ctx_src_flows_ended_5m"), 5.0);
    assert_eq!(get(&r, "ctx_src_failed_share_5m"), 0.8);
}

#[test]
fn novelty_is_missing_while_learning_then_marks_new_pairs() {
    let mut ctx = Context::new(ContextConfig { learning_period_ns: 600 * S, ..ContextConfig::default() });
    let first = whole(&mut ctx, tcp("10.0.0.7", "10.0.2.1", 445, T0), S, (10, 10), (900, 900));
    assert!(get(&first, "ctx_pair_new").is_nan(), "still learning");
    assert!(get(&first, "ctx_src_new_internal_peers_5m").is_nan());
    assert!(!ctx.stats().learned);
    // Fifteen minutes of the usual traffic teach the baseline.
    for i in 1..=30 {
        whole(&mut ctx, tcp("10.0.0.7", "10.0.2.1", 445, T0 + i * 30 * S), S, (10, 10), (900, 900));
    }
    assert!(ctx.stats().learned);
    let t = T0 + 16 * 60 * S;
    let usual = whole(&mut ctx, tcp("10.0.0.7", "10.0.2.1", 445, t), S, (10, 10), (900, 900));
    assert_eq!(get(&usual, "ctx_pair_new"), 0.0);
    assert_eq!(get(&usual, "ctx_pair_port_new"), 0.0);
    let other_port = whole(&mut ctx, tcp("10.0.0.7", "10.0.2.1", 80, t + S), S, (10, 10), (900, 900));
    assert_eq!(get(&other_port, "ctx_pair_new"), 0.0);
    assert_eq!(get(&other_port, "ctx_pair_port_new"), 1.0);
    let mut fresh = None;
    for i in 1..=3 {
        fresh = Some(whole(
            &mut ctx,
            tcp("10.0.0.7", &format!("10.0.3.{i}"), 445, t + (2 + i) * S),
            S,
            (10, 10),
            (900, 900),
        ));
    }
    let fresh = fresh.unwrap();
    assert_eq!(get(&fresh, "ctx_pair_new"), 1.0);
    assert_eq!(get(&fresh, "ctx_src_new_internal_peers_5m"), 3.0);
    assert_eq!(get(&fresh, "ctx_src_new_internal_peers_1h"), 3.0);
}

#[test]
fn outbound_volume_is_judged_against_the_hosts_own_history() {
    let mut ctx = learned_context();
    // Two hours of ~20 kB to the web every 10 minutes.
    for i in 0..12 {
        whole(&mut ctx, tcp("10.0.0.8", "93.184.216.34", 443, T0 + i * 600 * S), 2 * S, (20, 20), (20_000, 200_000));
    }
    let t = T0 + 12 * 600 * S;
    let usual = whole(&mut ctx, tcp("10.0.0.8", "93.184.216.34", 443, t), 2 * S, (20, 20), (20_000, 200_000));
    let upload = whole(
        &mut ctx,
        tcp("10.0.0.8", "198.51.100.9", 443, t + 60 * S),
        60 * S,
        (40_000, 20_000),
        (60_000_000, 1_000_000),
    );
    let z_usual = get(&usual, "ctx_host_out_bytes_z");
    let z_upload = get(&upload, "ctx_host_out_bytes_z");
    assert!(z_usual.abs() < 2.0, "usual volume z = {z_usual}");
    assert!(z_upload > 10.0, "upload z = {z_upload}");
    assert_eq!(get(&upload, "ctx_host_out_bytes_10m"), 60_020_000.0);
    assert!(get(&upload, "ctx_host_updown_log2_1h") > 4.0);
    assert!(get(&usual, "ctx_host_updown_log2_1h") < 0.0, "a web client downloads more than it sends");
    assert!(get(&upload, "ctx_host_out_bytes_hour_z").is_nan(), "no earlier days");
    assert_eq!(upload.context.direction, Some(NetDirection::Outbound));
}

#[test]
fn checkpoints_add_only_their_new_bytes() {
    let mut ctx = watched_context();
    let f = tcp("10.0.0.8", "198.51.100.9", 443, T0);
    ctx.started(&f.start());
    let mut c1 =
        f.record(RecordKind::Checkpoint, T0 + 60 * S, (1000, 500), (1_000_000, 30_000), EndReason::ActiveTimeout);
    ctx.enrich(&mut c1);
    let mut end = f.record(RecordKind::Final, T0 + 90 * S, (1500, 700), (1_500_000, 40_000), EndReason::TcpFin);
    ctx.enrich(&mut end);
    assert_eq!(get(&c1, "ctx_host_out_bytes_10m"), 1_000_000.0);
    assert_eq!(get(&end, "ctx_host_out_bytes_10m"), 1_500_000.0);
}

#[test]
fn long_window_sums_are_missing_until_the_stage_has_watched_that_long() {
    let mut ctx = learned_context();
    let out =
        |ctx: &mut Context, t: u64| whole(ctx, tcp("10.0.0.8", "198.51.100.9", 443, t), S, (10, 10), (5_000, 1_000));
    let first = out(&mut ctx, T0);
    assert!(get(&first, "ctx_host_out_bytes_10m").is_nan(), "watched 1 s, not 10 min");
    assert!(get(&first, "ctx_host_out_bytes_1h").is_nan());
    assert_eq!(get(&first, "ctx_src_admin_fanout_5m"), 0.0, "5-minute windows are not held back");
    let later = out(&mut ctx, T0 + 900 * S);
    assert_eq!(get(&later, "ctx_host_out_bytes_10m"), 5_000.0);
    assert!(get(&later, "ctx_host_out_bytes_1h").is_nan(), "watched 15 min, not 1 h");
    let hour = out(&mut ctx, T0 + 3600 * S);
    assert_eq!(get(&hour, "ctx_host_out_bytes_1h"), 10_000.0);
    // A gap of more than an hour in packet time starts the watch again.
    let after_gap = out(&mut ctx, T0 + 3 * 3600 * S);
    assert!(get(&after_gap, "ctx_host_out_bytes_10m").is_nan());
}

#[test]
fn rare_external_destinations_are_counted_by_internal_reach() {
    let mut ctx = learned_context();
    for h in 1..=5 {
        whole(&mut ctx, tcp(&format!("10.0.0.{h}"), "93.184.216.34", 443, T0 + h * S), S, (10, 10), (900, 9000));
    }
    let popular = whole(&mut ctx, tcp("10.0.0.9", "93.184.216.34", 443, T0 + 20 * S), S, (10, 10), (900, 9000));
    let rare = whole(&mut ctx, tcp("10.0.0.9", "203.0.113.66", 443, T0 + 21 * S), S, (10, 10), (900, 9000));
    assert_eq!(get(&popular, "ctx_peer_internal_hosts"), 6.0);
    assert_eq!(get(&rare, "ctx_peer_internal_hosts"), 1.0);
    let internal = whole(&mut ctx, tcp("10.0.0.9", "10.0.0.1", 443, T0 + 22 * S), S, (10, 10), (900, 9000));
    assert!(get(&internal, "ctx_peer_internal_hosts").is_nan());
}

#[test]
fn internal_services_are_counted_by_their_clients_per_port_class() {
    let mut fresh = Context::new(ContextConfig::default());
    let early = whole(&mut fresh, tcp("10.0.0.2", "10.0.0.1", 135, T0), S, (10, 10), (900, 900));
    assert!(get(&early, "ctx_dst_port_class_clients").is_nan(), "still learning");

    let mut ctx = learned_context();
    // Twelve workstations use the domain controller's RPC endpoint mapper.
    for h in 10..22 {
        whole(&mut ctx, tcp(&format!("10.0.0.{h}"), "10.0.0.1", 135, T0 + h * S), S, (10, 10), (900, 900));
    }
    let logon = whole(&mut ctx, tcp("10.0.0.30", "10.0.0.1", 135, T0 + 40 * S), S, (10, 10), (900, 900));
    assert_eq!(get(&logon, "ctx_dst_port_class_clients"), 13.0, "the DC's RPC: every client counted");
    // The same destination on a web port is another service.
    let web = whole(&mut ctx, tcp("10.0.0.30", "10.0.0.1", 80, T0 + 41 * S), S, (10, 10), (900, 900));
    assert_eq!(get(&web, "ctx_dst_port_class_clients"), 1.0);
    // RPC to a workstation: the movement's only client is the attacker.
    let lateral = whole(&mut ctx, tcp("10.0.0.30", "10.0.0.12", 135, T0 + 42 * S), S, (10, 10), (900, 900));
    assert_eq!(get(&lateral, "ctx_dst_port_class_clients"), 1.0);
    let out = whole(&mut ctx, tcp("10.0.0.30", "93.184.216.34", 443, T0 + 43 * S), S, (10, 10), (900, 900));
    assert!(get(&out, "ctx_dst_port_class_clients").is_nan(), "outbound flows have no internal service");
    // Repeats do not count twice.
    let again = whole(&mut ctx, tcp("10.0.0.30", "10.0.0.12", 135, T0 + 44 * S), S, (10, 10), (900, 900));
    assert_eq!(get(&again, "ctx_dst_port_class_clients"), 1.0);
}

#[test]
fn a_timer_beacon_is_regular() {
    let mut ctx = learned_context();
    let mut last = None;
    for i in 0..12 {
        last = Some(whole(&mut ctx, tcp("10.0.0.4", "203.0.113.7", 443, T0 + i * 300 * S), S, (6, 6), (700, 900)));
    }
    let r = last.unwrap();
    assert_eq!(get(&r, "ctx_beacon_interval_s"), 300.0);
    assert_eq!(get(&r, "ctx_beacon_interval_cv"), 0.0);
    assert_eq!(get(&r, "ctx_beacon_starts_1h"), 12.0);
    let internal = whole(&mut ctx, tcp("10.0.0.4", "10.0.0.5", 443, T0), S, (6, 6), (700, 900));
    assert!(get(&internal, "ctx_beacon_interval_s").is_nan(), "beaconing is about external peers");
}

#[test]
fn process_novelty_in_agent_mode() {
    let mut ctx = learned_context();
    let f = tcp("10.0.0.4", "203.0.113.7", 443, T0);
    ctx.started(&f.start());
    ctx.process(&f.start(), "/usr/bin/curl");
    let mut r = f.record(RecordKind::Final, T0 + S, (5, 5), (500, 500), EndReason::TcpFin);
    ctx.enrich(&mut r);
    assert_eq!(get(&r, "ctx_proc_port_class_new"), 1.0);
    assert_eq!(get(&r, "ctx_proc_dst_new"), 1.0);
    let g = tcp("10.0.0.4", "203.0.113.7", 443, T0 + 10 * S);
    ctx.started(&g.start());
    ctx.process(&g.start(), "/usr/bin/curl");
    let mut r = g.record(RecordKind::Final, T0 + 11 * S, (5, 5), (500, 500), EndReason::TcpFin);
    ctx.enrich(&mut r);
    assert_eq!(get(&r, "ctx_proc_port_class_new"), 0.0);
    assert_eq!(get(&r, "ctx_proc_dst_new"), 0.0);
}

#[test]
fn a_record_without_a_seen_start_is_counted_and_missing() {
    let mut ctx = learned_context();
    let f = tcp("10.0.0.4", "10.0.0.5", 445, T0);
    let mut r = f.record(RecordKind::Final, T0 + S, (5, 5), (500, 500), EndReason::TcpFin);
    ctx.enrich(&mut r);
    assert!(get(&r, "ctx_pair_new").is_nan());
    assert_eq!(ctx.stats().unstarted_records, 1);
}

#[test]
fn disabled_context_writes_nan_and_keeps_nothing() {
    let mut ctx = Context::disabled();
    let f = tcp("10.0.0.1", "10.0.0.2", 445, T0);
    ctx.started(&f.start());
    let mut r = with_auth_failures(f.record(RecordKind::Final, T0 + S, (5, 5), (500, 500), EndReason::TcpFin), 1);
    ctx.enrich(&mut r);
    let layout = schema::layout();
    assert_eq!(r.features.len(), schema::current().len());
    assert!(r.features[layout.context_v2.clone()].iter().all(|v| v.is_nan()));
    assert!(r.features[layout.context_v3.clone()].iter().all(|v| v.is_nan()));
    assert_eq!(get(&r, "auth_failures"), 1.0, "per-flow features are the flow table's");
    assert_eq!(r.context.direction, None);
    assert_eq!(ctx.stats().entries, 0);
}

#[test]
fn a_flood_of_new_sources_stays_within_the_caps() {
    let limits = ContextLimits {
        max_pairs: 500,
        max_destinations: 100,
        max_hosts: 100,
        max_sources: 100,
        max_peers_per_source: 8,
        max_beacon_pairs: 100,
        max_domains: 50,
        max_subdomains_per_domain: 8,
        max_open_flows: 200,
    };
    let mut ctx = Context::new(ContextConfig { limits, learning_period_ns: 0, ..ContextConfig::default() });
    let mut peak = 0;
    for i in 0..20_000u32 {
        let [_, a, b, c] = i.to_be_bytes();
        let f = Flow {
            src: IpAddr::from([10, a, b, c]),
            dst: IpAddr::from([if i % 2 == 0 { 10 } else { 198 }, c, b, a]),
            sport: 1024 + (i % 5000) as u16,
            dport: [445, 443, 53, 22][i as usize % 4],
            proto: 6,
            start_ns: T0 + u64::from(i) * S / 100,
        };
        // Half the flows never end (their starts pile up in the open-flow map).
        ctx.started(&f.start());
        if i % 2 == 0 {
            let mut r = f.record(RecordKind::Final, f.start_ns + S, (3, 3), (300, 300), EndReason::TcpFin);
            ctx.enrich(&mut r);
        }
        peak = peak.max(ctx.stats().memory_bytes);
    }
    let s = ctx.stats();
    // 4 pair sets + destinations + hosts (volume) + hosts (chains) + sources (2 maps) + beacons + open flows.
    let cap = 4 * 500 + 100 + 100 + 100 + 2 * 100 + 100 + 200 + 2 * 50;
    assert!(s.entries <= cap, "{} entries > {cap}", s.entries);
    assert!(s.evicted > 10_000, "evictions counted: {}", s.evicted);
    assert!(peak < 4 << 20, "peak memory {peak} bytes");
}

#[test]
fn a_dns_flow_whose_only_record_is_final_gets_its_domain_features() {
    use crate::decode::{Delivery, Fragment, PacketMeta, Transport};
    let mut ctx = learned_context();
    let f = Flow { src: ip("10.0.0.5"), dst: ip("10.0.0.53"), sport: 53000, dport: 53, proto: 17, start_ns: T0 };
    // One query for www.example.com (id 1, RD, one question, type A, class IN).
    let mut query = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in ["www", "example", "com"] {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let meta = PacketMeta {
        ts_ns: T0,
        wire_len: 14 + 28 + query.len() as u32,
        vlan: 0,
        src: f.src,
        dst: f.dst,
        proto: 17,
        ip_len: 28 + query.len() as u32,
        header_len: 28,
        payload_len: query.len() as u32,
        payload: &query,
        transport: Transport::Udp { src_port: f.sport, dst_port: 53 },
        fragment: Fragment::None,
        delivery: Delivery::Unicast,
    };
    ctx.started(&f.start());
    ctx.packet(&meta);
    let mut r = f.record(RecordKind::Final, T0 + 120 * S, (1, 1), (80, 120), EndReason::IdleTimeout);
    ctx.enrich(&mut r);
    assert_eq!(get(&r, "ctx_dns_domain_queries_1h"), 1.0);
    assert_eq!(get(&r, "ctx_dns_domain_subdomains_1h"), 1.0);
    // The link is dropped with the final record: a later record of the same key finds nothing.
    let mut again = f.record(RecordKind::Final, T0 + 121 * S, (1, 1), (80, 120), EndReason::IdleTimeout);
    ctx.enrich(&mut again);
    assert!(get(&again, "ctx_dns_domain_queries_1h").is_nan());
}

/// `r` with its per-flow `auth_failures` (as the flow table writes it for a Kerberos or SMB flow).
fn with_auth_failures(mut r: FlowRecord, failures: u32) -> FlowRecord {
    let i = schema::current().index_of("auth_failures").unwrap();
    r.features[i] = f64::from(failures);
    r
}

/// A whole flow that drew `failures` refused logons.
fn logon(ctx: &mut Context, f: Flow, failures: u32) -> FlowRecord {
    ctx.started(&f.start());
    let r = f.record(RecordKind::Final, f.start_ns + S / 10, (5, 4), (700, 400), EndReason::TcpFin);
    let mut r = with_auth_failures(r, failures);
    ctx.enrich(&mut r);
    r
}

fn auth_context(r: &FlowRecord) -> [f64; 3] {
    ["ctx_src_auth_failures_5m", "ctx_src_auth_failures_1h", "ctx_src_auth_fail_dsts_1h"].map(|n| get(r, n))
}

#[test]
fn a_kerberos_spray_at_one_dc_adds_up_per_source() {
    let mut ctx = learned_context();
    // A user who logged on fine earlier: zero failures is a value, not missing.
    let usual = logon(&mut ctx, tcp("10.0.0.7", "10.0.0.10", 88, T0), 0);
    assert_eq!(auth_context(&usual), [0.0, 0.0, 0.0]);
    // 30 guesses in 10 minutes, one every 20 s, each two AS exchanges on their own connections:
    // PREAUTH_REQUIRED (no failure), then PREAUTH_FAILED.
    let mut failed_at = Vec::new();
    for i in 0..30u64 {
        let t = T0 + 60 * S + i * 20 * S;
        logon(&mut ctx, tcp("10.0.0.66", "10.0.0.10", 88, t), 0);
        let r = logon(&mut ctx, tcp("10.0.0.66", "10.0.0.10", 88, t + S), 1);
        failed_at.push(r.end_ns);
        let within = |span_s: u64| failed_at.iter().filter(|&&at| r.end_ns - at <= span_s * S).count() as f64;
        let [short, hour, dsts] = auth_context(&r);
        assert!(short >= within(300) && short <= within(360), "guess {i}: 5m = {short}, last 300 s = {}", within(300));
        assert_eq!(hour, (i + 1) as f64, "guess {i}");
        assert_eq!(dsts, 1.0, "one domain controller");
    }
    assert!(failed_at[29] - failed_at[0] > 360 * S, "the spray outlasts the five-minute window");
    // Another host's records do not see the sprayer's failures.
    let other = logon(&mut ctx, tcp("10.0.0.8", "10.0.0.10", 88, T0 + 700 * S), 0);
    assert_eq!(auth_context(&other), [0.0, 0.0, 0.0]);
    // An hour and a minute after the last guess the windows are empty again.
    let later = logon(&mut ctx, tcp("10.0.0.66", "10.0.0.10", 88, T0 + 60 * S + 29 * 20 * S + 3700 * S), 0);
    assert_eq!(auth_context(&later), [0.0, 0.0, 0.0]);
}

#[test]
fn an_ntlm_spray_over_forty_hosts_counts_forty_destinations() {
    let mut ctx = learned_context();
    let mut last = None;
    for i in 1..=40u64 {
        let f = tcp("10.0.0.66", &format!("10.0.1.{i}"), 445, T0 + i * 2 * S);
        last = Some(logon(&mut ctx, f, 1));
    }
    assert_eq!(auth_context(last.as_ref().unwrap()), [40.0, 40.0, 40.0]);
    // A second round on the same hosts adds failures, not destinations.
    for i in 1..=40u64 {
        let f = tcp("10.0.0.66", &format!("10.0.1.{i}"), 445, T0 + 100 * S + i * S);
        last = Some(logon(&mut ctx, f, 1));
    }
    assert_eq!(auth_context(&last.unwrap()), [80.0, 80.0, 40.0]);
}

#[test]
fn checkpoints_add_only_their_new_failures() {
    let mut ctx = learned_context();
    let f = tcp("10.0.0.66", "10.0.2.1", 445, T0);
    ctx.started(&f.start());
    let early = f.record(RecordKind::Early, T0 + S, (4, 4), (900, 700), EndReason::EarlyPackets);
    let mut early = with_auth_failures(early, 2);
    ctx.enrich(&mut early);
    let c1 = f.record(RecordKind::Checkpoint, T0 + 60 * S, (40, 40), (9000, 7000), EndReason::ActiveTimeout);
    let mut c1 = with_auth_failures(c1, 2);
    ctx.enrich(&mut c1);
    let end = f.record(RecordKind::Final, T0 + 90 * S, (60, 60), (9900, 7700), EndReason::TcpFin);
    let mut end = with_auth_failures(end, 5);
    ctx.enrich(&mut end);
    // Each record includes its own flow's failures so far, counted once.
    assert_eq!(auth_context(&early), [2.0, 2.0, 1.0]);
    assert_eq!(auth_context(&c1), [2.0, 2.0, 1.0]);
    assert_eq!(auth_context(&end), [5.0, 5.0, 1.0]);
}

#[test]
fn flows_without_authentication_read_zero_failures() {
    let mut ctx = learned_context();
    // A web flow: its auth features are missing (NaN), which adds nothing.
    let r = whole(&mut ctx, tcp("10.0.0.5", "10.0.0.9", 443, T0), S, (10, 10), (900, 9000));
    assert!(get(&r, "auth_failures").is_nan());
    assert_eq!(auth_context(&r), [0.0, 0.0, 0.0]);
}
